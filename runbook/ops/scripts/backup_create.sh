# shellcheck shell=bash
# backup.create_script: the backup RB_BACKUP_DIR/RB_BACKUP of database RB_DB, printing @@ sections.
# Arguments: the JSON dump labels ("all": every app), then --, then the cluster's other databases
# (one custom dump each: a cluster upgrade's backup). RB_FP_SQL: the psql lines printing the
# fingerprints and applied migrations in the dump's snapshot, then @@END. Needs pg.sh, manage.sh.
set -eo pipefail
umask 077
labels=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do labels+=("$1"); shift; done
if [ $# -gt 0 ]; then shift; fi
others=("$@")
D=$RB_BACKUP
mkdir -p "$RB_BACKUP_DIR" && chmod 0700 "$RB_BACKUP_DIR"
mkdir -m 0700 "$D"
# progress: the bytes written so far, every few seconds, until the files are all written
# shellcheck disable=SC2217  # sleep's stdin closed: it must not read the script
( while sleep "$RB_PROGRESS_EVERY" </dev/null >/dev/null 2>&1; do echo "@@progress $(du -sb "$D" | cut -f1)"; done ) &
PROGRESS=$!
trap 'kill $PROGRESS 2>/dev/null || true' EXIT
# The dump runs in the snapshot this session exports, where the fingerprints are read too; a
# lock wait fails the backup instead of queueing (docs/BEHAVIOUR.md#pg-exported-snapshot, docs/BEHAVIOUR.md#pg-lock-timeout).
{
coproc PSQL { pg psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$RB_DB" 2>&1; }
printf "SET lock_timeout = '%ss'; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_export_snapshot();\n" "$RB_LOCK_WAIT" >&"${PSQL[1]}"
read -r SNAP <&"${PSQL[0]}"
# The JSON dumps: one Django process beside pg_dump, in its snapshot (RB_JSON_PY,
# scripts/json_dumps.py: a status file per label, "ok" or "failed: <why>"; a failed dump leaves
# no file and fails the backup: backup.create). It touches .json-imported once it has imported
# the snapshot; this transaction stays open until then (docs/BEHAVIOUR.md#pg-set-transaction-snapshot).
if [ ${#labels[@]} -gt 0 ]; then
  printf '%s\n' "$RB_JSON_PY" > "$D/.json-dumps.py"
  RB_JSON_LABELS=$(printf '%s\n' "${labels[@]}") RB_JSON_DIR=$D RB_SNAPSHOT=$SNAP \
    RB_JSON_MARK=$D/.json-imported RB_JSON_SCRIPT=$D/.json-dumps.py \
    manage shell >"$D/.json-err" 2>&1 \
    <<<"import os, runpy; runpy.run_path(os.environ['RB_JSON_SCRIPT'], run_name='__main__')" &
  JSONS=$!
fi
pg pg_dump -Fc --lock-wait-timeout="${RB_LOCK_WAIT}s" --snapshot="$SNAP" -d "$RB_DB" > "$D/db.dump" 2>"$D/.dump.err" &
DUMP=$!
printf '%s\n' "$RB_FP_SQL" >&"${PSQL[1]}"
end=0
while read -r line <&"${PSQL[0]}"; do [ "$line" = @@END ] && { end=1; break; }; echo "$line"; done
[ $end = 1 ] || { kill $DUMP 2>/dev/null; printf '@@error\nfingerprints: %s\n' "$line"; exit 1; }
wait $DUMP || { printf '@@error\npg_dump: %s\n' "$(tail -n 1 "$D/.dump.err")"; exit 1; }
while [ -n "${JSONS:-}" ] && [ ! -e "$D/.json-imported" ] && kill -0 "$JSONS" 2>/dev/null; do sleep 0.05; done
echo "COMMIT;" >&"${PSQL[1]}"
# shellcheck disable=SC1083  # {PSQL[1]}>&- closes the coprocess's input (bash's {var} redirection)
exec {PSQL[1]}>&-
} </dev/null
pg pg_dumpall --globals-only > "$D/globals.sql"
echo @@others
i=1
for other in "${others[@]}"; do
  pg pg_dump -Fc -d "$other" > "$D/db-$i.dump" </dev/null || { printf '@@error\npg_dump of %s failed\n' "$other"; exit 1; }
  printf '%s|%s\n' "db-$i.dump" "$other"
  i=$((i + 1))
done
[ -z "${JSONS:-}" ] || wait "$JSONS" || true
kill $PROGRESS 2>/dev/null || true
echo @@json
i=0
for label in "${labels[@]}"; do
  st=$(cat "$D/.json-$i.status" 2>/dev/null) || st="failed: $(grep . "$D/.json-err" | tail -n 1)"
  printf '%s %s\n' "$label" "$st"; i=$((i + 1))
done
rm -f "$D"/.json-* "$D/.dump.err"
echo @@version; pg psql -X -A -t -d "$RB_DB" -c "SHOW server_version" </dev/null
echo @@commit; git -C "$RB_APP_DIR" rev-parse HEAD
echo @@files; cd "$D" && for f in *; do printf '%s %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f")"; done
echo @@end
