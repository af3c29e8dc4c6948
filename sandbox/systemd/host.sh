#!/usr/bin/env bash
# The systemd host `sandbox-systemd`: the root filesystem of build.sh booted by systemd-nspawn
# (systemd as PID 1, --private-network) through an overlay whose upper layer is emptied at each
# start, so every start is a fresh host without copying the rootfs (nspawn's --ephemeral copies
# all of it: 2 s on an idle machine, 30 s on a busy one);
# SSH from the machine on 127.0.2.1:2222 through two socat relays joined by a Unix socket (one in
# the container's network namespace, one on the machine's loopback).
# Run as root:  sandbox/systemd/host.sh up|down|reset
#   up     boot it unless it runs (seconds; build.sh first builds the rootfs when needed)
#   down   stop it (the relays and systemd-nspawn, by the pids this script recorded)
#   reset  down + up: a fresh copy of the built host (the app's v1, seeded data)
set -euo pipefail
STATE=/var/lib/deploy-sandbox/systemd
ROOTFS=$STATE/rootfs
RUN=/run/deploy-sandbox-systemd
ADDR=127.0.2.1 PORT=2222
LOG=$STATE/console.log
MERGED=$STATE/merged
[ "$(id -u)" = 0 ] || { echo "host.sh: must run as root" >&2; exit 2; }
say() { printf '  sandbox-systemd: %s\n' "$*"; }
alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
leader() { ps -o pid= --ppid "$(cat "$RUN/nspawn.pid")" | tr -d ' ' | head -n 1; }
in_net() { nsenter -t "$(leader)" -n "$@"; }
ssh_up() { timeout 2 bash -c "exec 3<>/dev/tcp/$ADDR/$PORT && head -c 4 <&3" 2>/dev/null | grep -q SSH; }

down() {
  for p in relay-out relay-in nspawn; do
    if alive "$p"; then kill "$(cat "$RUN/$p.pid")"; fi
  done
  if alive nspawn; then   # nspawn powers the container off cleanly on SIGTERM
    for _ in $(seq 100); do alive nspawn || break; sleep 0.1; done
    if alive nspawn; then kill -KILL "$(cat "$RUN/nspawn.pid")"; fi
  fi
  if mountpoint -q "$MERGED"; then umount "$MERGED"; fi
  rm -rf "$STATE/upper" "$STATE/work"
  rm -f "$RUN"/*.pid "$RUN/ssh.sock" "$RUN/stamp"
}

up() {
  # running, reachable and booted from the rootfs as built last: nothing to do
  if alive nspawn && alive relay-in && alive relay-out && ssh_up &&
     cmp -s "$STATE/stamp" "$RUN/stamp"; then return 0; fi
  down
  [ -x "$ROOTFS/usr/lib/postgresql/14/bin/postgres" ] ||
    { echo "host.sh: no root filesystem at $ROOTFS; run: invoke sandbox.up --systemd" >&2; exit 2; }
  mkdir -p "$RUN"
  say "booting (systemd-nspawn on a fresh overlay of the rootfs)"
  mkdir -p "$STATE/upper" "$STATE/work" "$MERGED"
  mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$STATE/upper,workdir=$STATE/work" "$MERGED"
  setsid systemd-nspawn --quiet --boot --register=no --keep-unit --private-network \
    --machine=sandbox-systemd -D "$MERGED" --bind-ro=/srv/git/recorder.git \
    </dev/null >"$LOG" 2>&1 &
  echo $! > "$RUN/nspawn.pid"
  cp "$STATE/stamp" "$RUN/stamp"
  for _ in $(seq 600); do [ -n "$(leader)" ] && break; alive nspawn || break; sleep 0.1; done
  [ -n "$(leader)" ] || { tail -n 20 "$LOG" >&2; echo "host.sh: the container did not start; see $LOG" >&2; exit 1; }
  setsid nsenter -t "$(leader)" -n socat "UNIX-LISTEN:$RUN/ssh.sock,fork" TCP:127.0.0.1:22 </dev/null >/dev/null 2>&1 &
  echo $! > "$RUN/relay-in.pid"
  setsid socat "TCP-LISTEN:$PORT,bind=$ADDR,reuseaddr,fork" "UNIX-CONNECT:$RUN/ssh.sock" </dev/null >/dev/null 2>&1 &
  echo $! > "$RUN/relay-out.pid"
  # up = sshd answers and the app serves through nginx (systemd started every unit)
  for i in $(seq 601); do
    if ssh_up && in_net curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1/healthz | grep -qx 200; then break; fi
    [ "$i" -le 600 ] || { tail -n 20 "$LOG" >&2; echo "host.sh: sshd or the app did not come up in 60 s; see $LOG" >&2; exit 1; }
    sleep 0.1
  done
  say "up: ssh deploy@$ADDR -p $PORT (inventory .sandbox/systemd.toml)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  reset) down; up ;;
  *) echo "host.sh: usage: host.sh up|down|reset" >&2; exit 2 ;;
esac
