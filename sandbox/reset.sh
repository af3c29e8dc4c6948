#!/usr/bin/env bash
# Return the sandbox hosts to the apps' v1 with the seeded data, in seconds (run as root).
# The database comes back from the template `recorder_seed_v1` made at provisioning.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd /   # commands run as postgres/deploy must not inherit a cwd they cannot enter
[ "$(id -u)" = 0 ] || { echo "reset.sh: must run as root" >&2; exit 2; }
ROOT=/srv/recorder
psql_pg() { sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -p 5432 "$@"; }
# Every sandbox host (sandbox.up --hosts N): host 1 is /srv/recorder, host K is /srv/recorder-K.
HOSTS=$(cat /etc/deploy-sandbox/hosts 2>/dev/null || echo 1)
roots="$ROOT" addrs="127.0.0.1"
for k in $(seq 2 "$HOSTS"); do roots="$roots /srv/recorder-$k" addrs="$addrs 127.0.0.$k"; done

# Hosts 2..N restart only when their gunicorn does not serve v1 (its /healthz, asked on its own
# address, not through nginx, which a test may have switched to the twin, names the commit it
# started from): idle, they hold no database connection, and each restart costs seconds.
v1=$(git --git-dir=/srv/git/recorder.git rev-parse v1)
programs=(recorder recorder-worker)
for k in $(seq 2 "$HOSTS"); do
  # a host still starting (e.g. just after sandbox.up) may time out: then it is restarted too
  rev=$(curl -s --max-time 2 "http://127.0.0.$k:8001/healthz" | sed -n 's/.*"revision": *"\([0-9a-f]*\)".*/\1/p' || true)
  [ "$rev" = "$v1" ] || programs+=("recorder-$k")
done
# The second app (sandbox-ledger, /srv/ledger) once sandbox.up has set it up: always restarted.
LEDGER=/srv/ledger
ledger_up() { [ -f /etc/supervisor/conf.d/ledger.conf ] && [ -d "$LEDGER/app/.git" ]; }
# supervisorctl waits for each program it names in turn (its exit, or startsecs): one call per
# program, all at once, so a reset waits for the slowest program, not for the sum of them.
each_program() {  # ACTION PROGRAM...: the action on every program in parallel; 1 if one failed
  local action=$1 pids=() pid rc=0 p; shift
  for p in "$@"; do supervisorctl "$action" "$p" >/dev/null 2>&1 & pids+=("$!"); done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  return "$rc"
}
# the apps' twins (the tool's switch boots them) are stopped at rest
stopping=("${programs[@]}" recorder-twin)
for k in $(seq 2 "$HOSTS"); do stopping+=("recorder-$k-twin"); done
if ledger_up; then stopping+=(ledger ledger-worker ledger-twin); fi
each_program stop "${stopping[@]}" || true
# PostgreSQL: 14/main alone on 5432 (a pg_upgrade test may have left 15/main, moved 14/main to
# another port, or - link method - made 14/main's files unusable).
cluster() { pg_lsclusters -h | awk -v v="$1" '$1==v && $2=="main"'; }
if [ -n "$(cluster 15)" ]; then pg_dropcluster 15 main --stop; fi
if [ -n "$(cluster 14)" ] && [ -e /var/lib/postgresql/14/main/global/pg_control.old ]; then
  pg_dropcluster 14 main --stop
fi
if [ -n "$(cluster 14)" ] && [ "$(cluster 14 | awk '{print $3}')" != 5432 ]; then
  pg_ctlcluster 14 main stop 2>/dev/null || true
  pg_conftool 14 main set port 5432
fi
[ -z "$(cluster 14)" ] || echo auto > /etc/postgresql/14/main/start.conf
if [ -n "$(cluster 14)" ]; then
  cluster 14 | grep -q online || pg_ctlcluster 14 main start
fi
if [ -z "$(cluster 14)" ] || [ -z "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = 'recorder_seed_v1'")" ]; then
  # provisioning recreates 14/main, its role and the seed (with the secrets and key it has)
  key=$(mktemp); head -n 1 /home/deploy/.ssh/authorized_keys > "$key"
  "$HERE/provision.sh" --env /etc/deploy-sandbox/client.env --pubkey "$key"; rm -f "$key"
fi
# Whatever a test left: the app back to v1 on main, clean, on every host.
for r in $roots; do
  rm -rf "$r/app.next" "$r/app.next-venv"   # a release's stage (runbook/ops/staging.py)
  sudo -u deploy git -C "$r/app" worktree prune
  sudo -u deploy git -C "$r/app" checkout -q -f -B main v1
  sudo -u deploy git -C "$r/app" clean -q -fdx
  sudo -u deploy git -C "$r/app" branch -q --set-upstream-to=origin/main main
done
# Databases: the app's from the seeded template; scratch databases of drills dropped.
for d in $(psql_pg -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'recorder%' AND datname <> 'recorder_seed_v1'"); do
  psql_pg -c "DROP DATABASE \"$d\" WITH (FORCE)"
done
psql_pg -c "CREATE DATABASE recorder TEMPLATE recorder_seed_v1 OWNER recorder"
if ledger_up && [ -n "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = 'ledger_seed_v1'")" ]; then
  rm -rf "$LEDGER/app.next" "$LEDGER/app.next-venv"
  sudo -u deploy git -C "$LEDGER/app" worktree prune
  sudo -u deploy git -C "$LEDGER/app" checkout -q -f -B main v1
  sudo -u deploy git -C "$LEDGER/app" clean -q -fdx
  sudo -u deploy git -C "$LEDGER/app" branch -q --set-upstream-to=origin/main main
  # a failed install (v2-badlock) may have left the venv without gunicorn: v1's lock again
  [ -x "$LEDGER/venv/bin/gunicorn" ] || ( cd "$LEDGER/app" && sudo -u deploy -H env VIRTUAL_ENV="$LEDGER/venv" \
      PATH="$LEDGER/venv/bin:$PATH" poetry install --no-interaction --no-root --only main >/dev/null )
  # the tool's record of the lock the venv was installed from: back to "unknown", which the next
  # deploy takes as the tree's (v1), so a release of v2 installs v2's lock again
  rm -f "$LEDGER/venv/.deploy-dependencies"
  for d in $(psql_pg -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'ledger%' AND datname <> 'ledger_seed_v1'"); do
    psql_pg -c "DROP DATABASE \"$d\" WITH (FORCE)"
  done
  psql_pg -c "CREATE DATABASE ledger TEMPLATE ledger_seed_v1 OWNER ledger"
  rm -f /etc/nginx/deploy.d/ledger-*.conf "$LEDGER/maintenance/"*
  find "$LEDGER/backups" -mindepth 1 -delete
  : > "$LEDGER/logs/gunicorn.log"; : > "$LEDGER/logs/worker.log"; : > "$LEDGER/logs/gunicorn-twin.log"
  ledger_reset=1
fi
# Maintenance off, snippets gone, backups, journal and lock cleared.
rm -f /etc/nginx/deploy.d/recorder-*.conf
for r in $roots; do
  rm -f "$r/maintenance/"*
  find "$r/backups" -mindepth 1 -delete
  : > "$r/logs/gunicorn.log"; : > "$r/logs/gunicorn-twin.log"
done
: > "$ROOT/logs/worker.log"
# nginx sends each app's requests to the app itself, not its twin (what provisioning wrote)
upstream() {  # NAME ADDRESS
  printf '# where nginx sends %s requests (the tool switch rewrites this)\nserver %s;\n' "$1" "$2" \
    > "/etc/nginx/deploy.d/$1-upstream.conf"
  chown deploy:deploy "/etc/nginx/deploy.d/$1-upstream.conf"
}
upstream recorder 127.0.0.1:8001
for k in $(seq 2 "$HOSTS"); do upstream "recorder-$k" "127.0.0.$k:8001"; done
if ledger_up; then upstream ledger 127.0.1.1:8001; fi
nginx -t -q && nginx -s reload
starting=("${programs[@]}")
if [ -n "${ledger_reset:-}" ]; then starting+=(ledger ledger-worker); fi
each_program start "${starting[@]}" || { echo "reset.sh: supervisorctl start failed for one of: ${starting[*]}" >&2; exit 1; }
for a in $addrs; do
  for i in $(seq 101); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$a:8080/healthz")" = 200 ] && break
    [ "$i" -le 100 ] || { echo "reset.sh: the app on $a did not answer 200 on /healthz after reset" >&2; exit 1; }
    sleep 0.1
  done
done
if [ -n "${ledger_reset:-}" ]; then
  for i in $(seq 101); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Host: ledger.sandbox.test' \
          -H 'X-Forwarded-Proto: https' http://127.0.1.1:8080/health/)" = 200 ] && break
    [ "$i" -le 100 ] || { echo "reset.sh: the ledger app did not answer 200 on /health/ after reset" >&2; exit 1; }
    sleep 0.1
  done
fi
