# shellcheck shell=bash
# verify_steps.scan_since: for each pair of arguments LOG POSITION, "@@LOG" then the lines the
# log gained after POSITION (log_position.sh; a unit's journal: since that second) that hold one of the fixed strings of RB_PATTERNS (one a line).
pats=()
while IFS= read -r p; do pats+=(-e "$p"); done <<< "$RB_PATTERNS"
while [ $# -ge 2 ]; do
  f=$1 off=$2
  shift 2
  echo "@@$f"
  case $f in
    journal:*) journalctl -q --no-pager -o cat -u "${f#journal:}" --since "@$off" 2>/dev/null \
                 | grep -F "${pats[@]}" || true ;;
    *) if [ -r "$f" ]; then tail -c +$(( off + 1 )) "$f" | grep -F "${pats[@]}" || true; fi ;;
  esac
done
