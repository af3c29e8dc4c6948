# shellcheck shell=bash
# preflight_facts.read, one round trip: fetch RB_GIT_REMOTE into RB_APP_DIR, then as @@ sections
# the commit RB_REF resolves to ("" when none), HEAD, free KB of RB_BACKUP_DIR, the position of
# each log given as an argument (log_position.sh), the work tree's changes, and with RB_TREE=1
# the target commit's file list. Read-only apart from the fetch.
set -u
app=$RB_APP_DIR
git -C "$app" fetch --quiet --tags --force "$RB_GIT_REMOTE" </dev/null || exit 1
commit=$(git -C "$app" rev-parse --verify --quiet "$RB_REF") || commit=""
echo @@commit; echo "$commit"
echo @@head; git -C "$app" rev-parse HEAD || exit 1
echo @@free; df -Pk "$RB_BACKUP_DIR" | awk 'NR==2 {print $4}'
echo @@logs
for f in "$@"; do printf '%s %s\n' "$f" "$(log_position "$f")"; done
echo @@changes
git -C "$app" status --porcelain --untracked-files=normal || exit 1
if [ "$RB_TREE" = 1 ] && [ -n "$commit" ]; then
  echo @@tree; git -C "$app" ls-tree -r --name-only "$commit" || exit 1
fi
echo @@end
