# shellcheck shell=bash
# upgrade_check.pg_upgrade_check_script, run as postgres: pg_upgrade --check of the live cluster
# against a scratch initdb of the target in a temporary directory (removed after).
# Arguments: new bin dir, old bin dir, OS user, encoding, lc_collate, lc_ctype, data checksums
# (on|off), source config dir, source port, scratch port.
set -e
new=$1 old=$2 user=$3 enc=$4 collate=$5 ctype=$6 checksums=$7 configdir=$8 oldport=$9 port=${10}
k=()
[ "$checksums" = on ] && k=(-k)
T=$(mktemp -d /var/tmp/pg_upgrade_check.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
"$new/initdb" -D "$T/data" -U "$user" -E "$enc" --lc-collate="$collate" --lc-ctype="$ctype" "${k[@]}" >"$T/initdb.log" 2>&1 || { echo "initdb failed: $(tail -n 1 "$T/initdb.log")"; exit 1; }
"$new/pg_upgrade" --check -b "$old" -B "$new" -d "$configdir" -D "$T/data" -p "$oldport" -P "$port" -U "$user" 2>&1 || {
  find "$T" \( -name '*.txt' -o -name 'loadable_libraries*' \) 2>/dev/null | while IFS= read -r f; do echo "--- $f"; head -n 20 "$f"; done
  exit 1; }
