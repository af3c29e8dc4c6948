# shellcheck shell=bash
# pg TOOL ARG...: a PostgreSQL client (psql, pg_dump, ...) reaching the app's database as
# db.client_prefix does: access "local" runs it as the postgres OS user on the Unix socket, "dsn"
# with the DSN's host, port and user (its password is PGPASSWORD, a run_script secret).
# Set by db.script_env: RB_PG_ACCESS, RB_PG_HOST, RB_PG_PORT, RB_PG_OS_USER, RB_PG_USER.
pg() {
  local tool=$1
  shift
  if [ "$RB_PG_ACCESS" = local ]; then
    sudo -n -u "$RB_PG_OS_USER" "$tool" -h "$RB_PG_HOST" -p "$RB_PG_PORT" "$@"
  else
    "$tool" -h "$RB_PG_HOST" -p "$RB_PG_PORT" ${RB_PG_USER:+-U "$RB_PG_USER"} "$@"
  fi
}
