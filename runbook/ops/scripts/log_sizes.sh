# shellcheck shell=bash
# verify_steps.log_offsets: "LOG POSITION" of each log given as an argument (log_position.sh).
for f in "$@"; do printf '%s %s\n' "$f" "$(log_position "$f")"; done
