# shellcheck shell=bash
# verify_steps.scan_since: for each pair of arguments FILE OFFSET, "@@FILE" then the lines the
# file gained after OFFSET that hold one of the fixed strings of RB_PATTERNS (one a line).
pats=()
while IFS= read -r p; do pats+=(-e "$p"); done <<< "$RB_PATTERNS"
while [ $# -ge 2 ]; do
  f=$1 off=$2
  shift 2
  echo "@@$f"
  if [ -r "$f" ]; then tail -c +$(( off + 1 )) "$f" | grep -F "${pats[@]}" || true; fi
done
