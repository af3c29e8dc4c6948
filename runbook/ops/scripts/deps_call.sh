# shellcheck shell=bash
# After deps.sh: run the function named by the arguments (stamp_missing, deps_stale, deps_record).
"$@"
