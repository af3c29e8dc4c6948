# shellcheck shell=bash
# backup.verify_files: in RB_BACKUP, @@files (size and sha256 of each file) and @@read (the full
# read of each dump: "BAD <file>" and its last error for one that cannot be read, then READ-DONE).
# Arguments: the pg_restore dumps, --, the gzipped JSON dumps (parsed to their end by RB_PYTHON
# running RB_PARSE_JSON, scripts/parse_json.py). Needs pg.sh.
dumps=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do dumps+=("$1"); shift; done
if [ $# -gt 0 ]; then shift; fi
cd "$RB_BACKUP" || exit 2
R=$(mktemp) || exit 2
trap 'rm -f "$R"' EXIT
# The full read and the checksums run side by side (two cores; both only read the files).
( for f in "${dumps[@]}"; do pg pg_restore -f /dev/null < "$f" 2>&1 || echo "BAD $f"; done
  for f in "$@"; do "$RB_PYTHON" -c "$RB_PARSE_JSON" "$f" 2>&1 || echo "BAD $f"; done
  echo READ-DONE ) > "$R" &
echo @@files; for f in *; do [ "$f" = manifest.json ] || [ "$f" = verified.json ] || printf '%s %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f")"; done
wait
echo @@read; cat "$R"
