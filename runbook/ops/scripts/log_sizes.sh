# shellcheck shell=bash
# verify_steps.log_offsets: "PATH SIZE" of each log file given as an argument (0 when missing).
for f in "$@"; do printf '%s %s\n' "$f" "$(stat -c %s "$f" 2>/dev/null || echo 0)"; done
