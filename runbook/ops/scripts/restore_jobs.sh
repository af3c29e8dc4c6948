# shellcheck shell=bash
# backup.restore_into: `pg_restore -j JOBS` of the dump $1 into the database $2 ($3 jobs; 0: the
# host's cores, at most 8), printing @@jobs: N. -j needs a seekable file, not stdin
# (docs/BEHAVIOUR.md#pg-restore-jobs-need-a-file), and the dump is 0600 for deploy while
# pg_restore runs as the postgres OS user: so it is copied into a 0700 directory of that user's
# (in its home, beside the clusters, rather than /tmp that may be in RAM), removed afterwards
# whatever happens. Needs pg.sh (local access).
set -e
dump=$1 dbname=$2 jobs=$3
as() { sudo -n -u "$RB_PG_OS_USER" "$@"; }
if [ "$jobs" -le 0 ]; then jobs=$(nproc); [ "$jobs" -le 8 ] || jobs=8; fi
home=$(getent passwd "$RB_PG_OS_USER" | cut -d: -f6)
tmp=$(as mktemp -d "${home:-/tmp}/rb-restore.XXXXXX")
trap 'as rm -rf -- "$tmp"' EXIT
# this shell opens the dump (deploy may read it); the copy is written by postgres, 0600
# shellcheck disable=SC2016  # "$1" is the inner shell's
as sh -c 'umask 077 && cat > "$1"' rb-restore "$tmp/db.dump" < "$dump"
printf '@@jobs\n%s\n' "$jobs"
pg pg_restore --exit-on-error -j "$jobs" -d "$dbname" "$tmp/db.dump" </dev/null
