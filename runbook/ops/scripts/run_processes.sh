# run_processes.sh RUN_ID [stop [DB_OS_USER]]: the processes a run started on this host, one
# "pid seconds user command" line each. A run's commands carry RB_RUN=RUN_ID (runbook/engine/lost.py)
# and their shell stays their parent (host/connection.py): those shells, and every process they
# started, are the run's, sudo's included (whose environment the SSH user cannot read, and which
# gets no RB_RUN from sudo anyway).
# A process that left the session of its parent (a daemon: the postmaster pg_ctl starts) is not
# the run's, unless its parent is sudo (which, on a terminal, with use_pty, starts a new one);
# one tagged by its own environment is taken as the run's whatever its session.
# With "stop": each is sent TERM, then KILL after 10 s (one of postgres or DB_OS_USER through
# `sudo -u` that user), and the lines say "pid ended|killed"; one that still runs, or of
# another user, is "pid left (USER)"; a root one cannot be ended from here, and nothing else of
# the run's tree it is in is touched (its shell is how a later call finds it); the root
# `sudo -u DB_OS_USER` that started one ends with it.
set -u
run=$1 action=${2:-} dbuser=${3:-postgres}
dbusers=" postgres $dbuser "   # the tool's cluster commands run as postgres, the app's as DB_OS_USER
me=$(id -un)
# the run's shells: `bash -c "export RB_RUN=... && ..."` (its command line: anyone may read it;
# export sets no environment of its own), and what they started (RB_RUN in its environment,
# readable for the SSH user's own). -z: NUL-separated entries; -x: the whole entry.
mapfile -t files < <({ grep -lzE "RB_RUN=$run([^0-9A-Za-z-]|\$)" /proc/[0-9]*/cmdline
                       grep -lzxF "RB_RUN=$run" /proc/[0-9]*/environ; } 2>/dev/null || true)
tagged=" "
for f in "${files[@]}"; do
  p=${f#/proc/}; p=${p%/*}
  [ "$p" = "$$" ] || tagged+="$p "
done
[ "$tagged" != " " ] || exit 0
# "tree pid ppid user etimes args" of those and of every process they started (sudo's too);
# tree: the tagged process it descends from. user:32: ps cuts longer names to 8 characters.
mapfile -t procs < <(ps -e -o pid=,ppid=,sid=,user:32=,etimes=,args= | awk -v t="$tagged" -v self="$$" '
  { pid[NR] = $1; ppid[NR] = $2; sid[$1] = $3; cmd[$1] = $6
    line[NR] = $1 " " $2 " " $4; for (f = 5; f <= NF; f++) line[NR] = line[NR] " " $f
    if (index(t, " " $1 " ")) tree[$1] = $1 }
  END {
    do { more = 0
         for (i = 1; i <= NR; i++) {
           p = pid[i]; q = ppid[i]
           if ((p in tree) || !(q in tree)) continue
           if (sid[p] != sid[q] && cmd[q] !~ /(^|\/)sudo$/) continue   # a daemon, not the run
           tree[p] = tree[q]; more = 1 }
    } while (more)
    for (i = 1; i <= NR; i++) if ((pid[i] in tree) && pid[i] != self) print tree[pid[i]], line[i]
  }')
[ ${#procs[@]} -gt 0 ] || exit 0
if [ "$action" != stop ]; then
  for line in "${procs[@]}"; do
    read -r _tree pid _ppid user secs args <<<"$line"
    echo "$pid $secs $user $args"
  done
  exit 0
fi
# running: it exists and is not a zombie (ended, not yet reaped by its parent)
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
signal() {   # signal SIG PID USER
  if [ "$3" = "$me" ]; then kill "-$1" "$2" 2>/dev/null
  else sudo -n -u "$3" kill "-$1" "$2" 2>/dev/null
  fi
}
held=" " targets=()
for line in "${procs[@]}"; do   # a tree with a root process is not touched: its shell is how a
  read -r tree pid _ppid user _secs args <<<"$line"   # later call finds it
  [ "$user" = root ] || continue
  case "$args" in "sudo -n -u postgres "* | "sudo -n -u $dbuser "*) continue ;; esac   # ends with its command
  echo "$pid left (root)"; held+="$tree "
done
for line in "${procs[@]}"; do
  read -r tree pid _ppid user _secs _args <<<"$line"
  case "$held" in *" $tree "*) continue ;; esac
  [ "$user" = root ] && continue
  if [ "$user" = "$me" ] || [[ "$dbusers" == *" $user "* ]]; then targets+=("$pid:$user")
  else echo "$pid left ($user)"; fi
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
  running "$p" || { echo "$p ended"; continue; }
  signal KILL "$p" "${t#*:}"
  sleep 0.2
  if running "$p"; then echo "$p left (${t#*:})"; else echo "$p killed"; fi
done
