# shellcheck shell=bash
# upgrade_check.facts_script: in one round trip, as @@ sections: the cluster tools, clusters,
# installed server versions (in RB_BINROOT), open ports, databases and sizes, extensions per
# database, locale, the extensions available for version RB_TARGET, the settings from the
# configuration files (RB_SETTINGS_SQL), the names the target's server knows, free disk of the
# PostgreSQL directory and RB_BACKUP_DIR. Needs pg.sh.
{
echo @@tools; command -v pg_lsclusters pg_upgradecluster
echo @@clusters; pg_lsclusters -h 2>/dev/null
echo @@versions; for b in "$RB_BINROOT"/*/bin; do [ -x "$b/postgres" ] && [ -x "$b/initdb" ] && basename "$(dirname "$b")"; done; true
echo @@listening; ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://'; true
echo @@databases
pg psql -X -A -t -F'|' -d postgres -c "SELECT datname, pg_database_size(datname) FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1" 2>&1
echo @@extensions
for d in $(pg psql -X -A -t -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn" 2>/dev/null); do
  pg psql -X -A -t -F'|' -d "$d" -c "SELECT current_database(), extname FROM pg_extension" 2>/dev/null
done
echo @@locale
pg psql -X -A -t -F'|' -d postgres -c "SELECT pg_encoding_to_char(encoding), datcollate, datctype, current_setting('data_checksums') FROM pg_database WHERE datname = 'template1'" 2>&1
echo @@available
for f in "$RB_BINROOT/$RB_TARGET/share/extension"/*.control "/usr/share/postgresql/$RB_TARGET/extension"/*.control; do
  [ -e "$f" ] && basename "$f" .control; done | sort -u
echo @@settings
pg psql -X -A -t -d postgres -c "$RB_SETTINGS_SQL" 2>/dev/null | cut -d'|' -f1
echo @@known
"$RB_BINROOT/$RB_TARGET/bin/postgres" --describe-config 2>/dev/null | cut -f1
echo @@df
for p in /var/lib/postgresql "$RB_BACKUP_DIR"; do d=$p; while [ ! -e "$d" ]; do d=$(dirname "$d"); done
  printf '%s %s\n' "$p" "$(df -Pk "$d" | awk 'NR==2 {print $4}')"; done
} </dev/null
