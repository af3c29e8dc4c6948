# shellcheck shell=bash
# pg_upgrade.cleanup's backup of the kept cluster (RB_PG_PORT): pg_dump -Fc of every database
# (the app's, $3, as db.dump: what backup.verify reads; the others db-N.dump, listed under
# @@others) and the globals into the new directory $2 of the backups directory $1, each dump read
# in full; then the file list (@@files). RB_DATABASES_SQL lists the databases. Needs pg.sh.
set -eo pipefail
umask 077
D=$2
mkdir -p "$1" && mkdir -m 0700 "$D"
pg pg_dumpall --globals-only > "$D/globals.sql" </dev/null
echo @@others
i=0
pg psql -X -A -t -d postgres -c "$RB_DATABASES_SQL" </dev/null > "$D/.databases"
while IFS= read -r d; do
  if [ "$d" = "$3" ]; then f=db.dump; else i=$((i+1)); f=db-$i.dump
    printf '%s|%s\n' "$f" "$d"; fi
  pg pg_dump -Fc -d "$d" > "$D/$f" </dev/null
  pg pg_restore -f /dev/null < "$D/$f" 2>&1 >/dev/null || { echo "@@error"; echo "$f cannot be read in full"; exit 1; }
done < "$D/.databases"
rm -f "$D/.databases"
echo @@files; cd "$D" && for f in *; do printf '%s %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f")"; done
