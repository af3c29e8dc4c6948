# run_processes.sh RUN_ID [stop]: the processes of the SSH user that a run started (their
# environment holds RB_RUN=RUN_ID, runbook/engine/lost.py), one "pid seconds command" line each.
# With "stop": each is sent TERM, then KILL after 10 s, and the lines say which ended how.
set -u
run=$1 action=${2:-}
# -z: NUL-separated entries; -x: the whole entry; other users' environ files are unreadable
mapfile -t files < <(grep -lzxF "RB_RUN=$run" /proc/[0-9]*/environ 2>/dev/null || true)
pids=()
for f in "${files[@]}"; do
  p=${f#/proc/}; p=${p%/environ}
  [ "$p" = "$$" ] || pids+=("$p")
done
[ ${#pids[@]} -gt 0 ] || exit 0
if [ "$action" != stop ]; then
  ps -o pid=,etimes=,args= -p "$(IFS=,; echo "${pids[*]}")" || true
  exit 0
fi
# running: it exists and is not a zombie (ended, not yet reaped by its parent)
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
kill -TERM "${pids[@]}" 2>/dev/null || true
for _ in $(seq 100); do
  alive=0
  for p in "${pids[@]}"; do running "$p" && alive=1; done
  [ "$alive" = 1 ] || break
  sleep 0.1
done
for p in "${pids[@]}"; do
  if running "$p"; then kill -KILL "$p" 2>/dev/null; echo "$p killed"; else echo "$p ended"; fi
done
