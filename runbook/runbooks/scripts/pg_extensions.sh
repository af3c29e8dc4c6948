# shellcheck shell=bash
# pg_upgrade's step_extensions, in the window (the app may need the updated extensions): the
# update_extensions.sql that the newest pg_upgradecluster log directory for source version $2,
# target $3, cluster $4 holds, if any, run with the target's psql ($1, its bin directory);
# "@@ran PATH" when it ran (docs/BEHAVIOUR.md#pg-upgrade-no-statistics). Needs pg.sh.
set -e
# shellcheck disable=SC2012  # the newest by time: ls -t (the names are pg_upgradecluster's)
sql="$(ls -dt "/var/log/postgresql/pg_upgradecluster-$2-$3-$4".* 2>/dev/null | head -n 1)/update_extensions.sql"
if sudo -n -u postgres test -f "$sql"; then
  pg "$1/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -f "$sql" </dev/null
  echo "@@ran $sql"
fi
