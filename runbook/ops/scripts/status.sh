# shellcheck shell=bash
# verify.status_script: the host's facts as @@ sections, in one round trip. Arguments: the
# service manager's status command (sudo -n runs it). RB_HEALTH_CFG: curl config lines (the
# app's headers; a run_script secret). Needs pg.sh, manage.sh.
{
echo @@os
# shellcheck source=/dev/null
(. /etc/os-release && echo "$PRETTY_NAME"); uname -r
echo @@disk; d=$RB_BACKUP_DIR; while [ ! -e "$d" ]; do d=$(dirname "$d"); done
df -Pk "$d" | awk 'NR==2 {print $4, $6}'
echo @@pg; pg psql -X -q -A -t -d "$RB_DB" -c "SELECT current_setting('server_version') || '|' || pg_database_size(current_database())"
echo @@service; sudo -n "$@"
echo @@commit; git -C "$RB_APP_DIR" log -1 --format='%h %s' && git -C "$RB_APP_DIR" describe --tags --always
echo @@pending; manage showmigrations --plan | grep '^\[ \]' | sed 's/^\[ \] *//'
echo @@maintenance; test -e "$RB_MAINTENANCE_FLAG" && echo on || echo off
echo @@health; printf '%s\n' "${RB_HEALTH_CFG:-}" | curl -K - -s -o /dev/null -w '%{http_code}' --max-time 5 "$RB_HEALTH_URL"; echo
echo @@lock; cat "$RB_LOCK" 2>/dev/null || echo none
echo @@end
} </dev/null 2>&1
