# shellcheck shell=bash
# The venv's record of the dependency files it was installed from (code_update.STAMP): functions
# for the scripts that need them. RB_APP_DIR: the work tree; RB_DEP_FILES: its dependency files,
# one a line; RB_STAMP: the record's path.

# deps_digest: the digest of the work tree's dependency files (an absent file counts too).
deps_digest() {
  (cd "$RB_APP_DIR" && while IFS= read -r f; do
     if [ -e "$f" ]; then sha256sum -- "$f"; else echo "absent $f"; fi
   done <<< "$RB_DEP_FILES") | sha256sum | cut -c1-64
}

# stamp_missing: a venv with no record yet is taken to match the tree it serves now (the app
# runs from it), recorded before the tree moves.
stamp_missing() {
  [ -e "$RB_STAMP" ] || deps_digest > "$RB_STAMP"
}

# deps_stale: succeeds when the venv was not installed from the tree's dependency files.
deps_stale() {
  [ "$(deps_digest)" != "$(cat "$RB_STAMP" 2>/dev/null)" ]
}

# deps_record: the venv was just installed from the tree's dependency files.
deps_record() {
  deps_digest > "$RB_STAMP"
}
