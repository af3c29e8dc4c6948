#!/usr/bin/env bash
# Return the sandbox host to the app's v1 with the seeded data, in seconds (run as root).
# The database comes back from the template `recorder_seed_v1` made at provisioning.
set -euo pipefail
cd /   # commands run as postgres/deploy must not inherit a cwd they cannot enter
[ "$(id -u)" = 0 ] || { echo "reset.sh: must run as root" >&2; exit 2; }
ROOT=/srv/recorder
psql_pg() { sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -p 5432 "$@"; }

supervisorctl stop recorder >/dev/null 2>&1 || true
# Whatever a test left: the app back to v1 on main, clean.
sudo -u deploy git -C "$ROOT/app" checkout -q -f -B main v1
sudo -u deploy git -C "$ROOT/app" clean -q -fdx
sudo -u deploy git -C "$ROOT/app" branch -q --set-upstream-to=origin/main main
# Databases: the app's from the seeded template; scratch databases of drills dropped.
for d in $(psql_pg -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'recorder%' AND datname <> 'recorder_seed_v1'"); do
  psql_pg -c "DROP DATABASE \"$d\" WITH (FORCE)"
done
psql_pg -c "CREATE DATABASE recorder TEMPLATE recorder_seed_v1 OWNER recorder"
# Maintenance off, snippets gone, backups, journal and lock cleared.
rm -f "$ROOT/maintenance/"* /etc/nginx/deploy.d/recorder-*.conf
find "$ROOT/backups" -mindepth 1 -delete
nginx -t -q && nginx -s reload
: > "$ROOT/logs/gunicorn.log"
supervisorctl start recorder >/dev/null
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:8080/healthz)" = 200 ] && exit 0
  sleep 0.1
done
echo "reset.sh: the app did not answer 200 on /healthz after reset" >&2
exit 1
