# shellcheck shell=bash
# staging.prepare: (re)create the release's stage of app $1 at commit $5: a git worktree $2 with
# the small untracked/ignored files of the app's top directories copied in, and a copy $4 of the
# venv $3 (none when $4 is empty: staging.peek reads with the live venv). "@@unwritable" (exit 3)
# when the worktree's parent is not writable.
set -eu
app=$1; tree=$2; venv=$3; copy=$4; commit=$5
[ -w "$(dirname "$tree")" ] || { echo @@unwritable; exit 3; }
git -C "$app" worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"
git -C "$app" worktree prune
[ -z "$copy" ] || rm -rf "$copy"
git -C "$app" worktree add --quiet --detach "$tree" "$commit"
(cd "$app" && git ls-files -z --others --ignored --exclude-standard --directory) |
while IFS= read -r -d '' f; do
  case "$f" in */|*/*/*|*.pyc) continue ;; esac
  if ! { [ -f "$app/$f" ] && [ ! -L "$app/$f" ] && [ "$(stat -c %s "$app/$f")" -le 1048576 ]; }; then
    continue
  fi
  mkdir -p "$tree/$(dirname "$f")" && cp -p "$app/$f" "$tree/$f"
done
[ -z "$copy" ] || cp -a "$venv" "$copy"
