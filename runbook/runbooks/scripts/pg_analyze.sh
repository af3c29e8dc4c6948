# shellcheck shell=bash
# pg_upgrade's step_analyze: vacuumdb --analyze-in-stages of every database with the target
# version's binaries ($1, its bin directory), then the update_extensions.sql the newest
# pg_upgradecluster log directory for source version $2, target $3, cluster $4 holds, if any
# ("@@ran PATH"). Planner statistics do not survive an upgrade (docs/BEHAVIOUR.md#pg-upgrade-no-statistics).
# Needs pg.sh.
set -e
pg "$1/vacuumdb" --all --analyze-in-stages >/dev/null </dev/null
# shellcheck disable=SC2012  # the newest by time: ls -t (the names are pg_upgradecluster's)
sql="$(ls -dt "/var/log/postgresql/pg_upgradecluster-$2-$3-$4".* 2>/dev/null | head -n 1)/update_extensions.sql"
if sudo -n -u postgres test -f "$sql"; then
  pg "$1/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -f "$sql" </dev/null
  echo "@@ran $sql"
fi
