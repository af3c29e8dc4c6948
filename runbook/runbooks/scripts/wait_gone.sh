# shellcheck shell=bash
# pg_upgrade's reload app: wait up to $2 seconds until none of the processes $1 (pids, comma
# separated) runs any more (ps -p fails when it finds none): exit 0; else print those still
# running and exit 1.
pids=$1
n=$(( $2 * 10 ))
while [ "$n" -gt 0 ]; do
  ps -o pid= -p "$pids" >/dev/null 2>&1 || exit 0
  sleep 0.1
  n=$((n - 1))
done
ps -o pid= -p "$pids"
exit 1
