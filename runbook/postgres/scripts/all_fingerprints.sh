# shellcheck shell=bash
# db.all_fingerprints: per database RB_DATABASES_SQL lists, "@@NAME" then the "table|rows|hash"
# lines RB_FP_SQL prints in it (one psql per database, one round trip). Needs pg.sh.
set -eo pipefail
pg psql -X -q -A -t -d postgres -c "$RB_DATABASES_SQL" </dev/null | while IFS= read -r d; do
  printf '@@%s\n' "$d"
  printf '%s\n' "$RB_FP_SQL" | pg psql -X -q -A -t -d "$d" -v ON_ERROR_STOP=1
done
