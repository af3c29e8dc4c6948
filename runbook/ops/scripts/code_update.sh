# shellcheck shell=bash
# code_update.update, one round trip: move the work tree RB_APP_DIR to commit RB_TO only by
# fast-forward (@@dirty / @@not-ff instead), say whether the venv's dependencies are stale for it
# (@@requirements) and which of the files given as arguments (relative to the tree) are missing
# (@@missing). Needs deps.sh.
set -u
fail() { echo @@failed; echo "$1"; exit 1; }
g() { git -C "$RB_APP_DIR" "$@"; }
to=$RB_TO
before=$(g rev-parse HEAD) || fail "git rev-parse HEAD"
echo @@before; echo "$before"
stamp_missing
if [ "$before" != "$to" ]; then
  changes=$(g status --porcelain --untracked-files=normal) || fail "git status"
  if [ -n "$changes" ]; then echo @@dirty; printf '%s\n' "$changes"; exit 0; fi
  g merge-base --is-ancestor "$before" "$to" || { echo @@not-ff; exit 0; }
  g merge --quiet --ff-only "$to" </dev/null || fail "git merge --ff-only"
fi
deps_stale && echo @@requirements
echo @@missing
for p in "$@"; do test -e "$RB_APP_DIR/$p" || echo "$p"; done
echo @@done
