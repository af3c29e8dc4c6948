# run_processes.sh RUN_ID [stop]: the processes a run started on this host, one
# "pid seconds user command" line each. A run's commands carry RB_RUN=RUN_ID (runbook/engine/lost.py)
# and their shell stays their parent (host/connection.py): those shells name the sessions; every
# process of those sessions is the run's, sudo's included (whose environment the SSH user cannot
# read, and which gets no RB_RUN from sudo anyway).
# With "stop": each is sent TERM, then KILL after 10 s (a postgres one through `sudo -u postgres`),
# and the lines say "pid ended|killed"; a root one cannot be ended from here: "pid left (root)",
# and nothing else of its session is touched (its shells are how a later call finds it); the
# root `sudo -u postgres` that started a postgres one ends with it.
set -u
run=$1 action=${2:-}
me=$(id -un)
# the run's shells: `bash -c "export RB_RUN=... && ..."` (its command line: anyone may read it;
# export sets no environment of its own), and what they started (RB_RUN in its environment,
# readable for the SSH user's own). -z: NUL-separated entries; -x: the whole entry.
mapfile -t files < <({ grep -lzE "RB_RUN=$run([^0-9A-Za-z-]|\$)" /proc/[0-9]*/cmdline
                       grep -lzxF "RB_RUN=$run" /proc/[0-9]*/environ; } 2>/dev/null || true)
sids=" "
for f in "${files[@]}"; do
  p=${f#/proc/}; p=${p%/*}
  [ "$p" = "$$" ] && continue
  s=$(ps -o sid= -p "$p" 2>/dev/null | tr -d ' ') || continue
  [ -n "$s" ] && sids+="$s "
done
[ "$sids" != " " ] || exit 0
# pid sid user etimes args, of every process in those sessions
mapfile -t procs < <(ps -e -o pid=,sid=,user=,etimes=,args= |
  awk -v s="$sids" -v self="$$" 'index(s, " " $2 " ") && $1 != self')
[ ${#procs[@]} -gt 0 ] || exit 0
if [ "$action" != stop ]; then
  for line in "${procs[@]}"; do
    read -r pid _sid user secs args <<<"$line"
    echo "$pid $secs $user $args"
  done
  exit 0
fi
# running: it exists and is not a zombie (ended, not yet reaped by its parent)
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
signal() {   # signal SIG PID USER
  if [ "$3" = "$me" ]; then kill "-$1" "$2" 2>/dev/null
  elif [ "$3" = postgres ]; then sudo -n -u postgres kill "-$1" "$2" 2>/dev/null
  fi
}
held=" " targets=()
for line in "${procs[@]}"; do   # sessions with a root process keep their shells (the handle)
  read -r pid sid user _secs args <<<"$line"
  [ "$user" = root ] || continue
  case "$args" in "sudo -n -u postgres "*) continue ;; esac   # ends with its postgres command
  held+="$sid "; echo "$pid left (root)"
done
for line in "${procs[@]}"; do
  read -r pid sid user _ <<<"$line"
  [ "$user" = root ] && continue
  case "$held" in *" $sid "*) continue ;; esac
  targets+=("$pid:$user")
done
for t in "${targets[@]}"; do signal TERM "${t%%:*}" "${t#*:}"; done
for _ in $(seq 100); do
  alive=0
  for t in "${targets[@]}"; do running "${t%%:*}" && alive=1; done
  [ "$alive" = 1 ] || break
  sleep 0.1
done
for t in "${targets[@]}"; do
  p=${t%%:*}
  if running "$p"; then signal KILL "$p" "${t#*:}"; echo "$p killed"; else echo "$p ended"; fi
done
