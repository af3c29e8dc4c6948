"""Facts of the tables a migration touches, and how fast this host rewrites a table: what
migrate.lint (django/lint.py) turns squawk's findings into estimated lock times with.

Each fact pairs its SQL with its parser. Both are read-only for the host: the rate probe builds
its table and index inside a transaction that is rolled back (docs/BEHAVIOUR.md#probe-rolled-back).
"""
import json

from runbook.postgres import db

# Rows: the planner's estimate, or an exact count where the table was never analyzed (-1).
FACTS_SQL = """
SELECT 'v|' || split_part(current_setting('server_version'), ' ', 1);
SELECT 't|' || c.relname || '|'
       || CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
               ELSE (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
                     n.nspname, c.relname), false, true, '')))[1]::text::bigint END
       || '|' || pg_relation_size(c.oid) || '|' || pg_total_relation_size(c.oid)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))
   AND c.relname IN (SELECT json_array_elements_text(:'tables'::json));
"""

PROBE_ROWS = 200_000   # about 15 MB of heap: long enough to time, short enough for a preflight
PROBE_SQL = f"""
BEGIN;
CREATE TABLE rb_lint_probe AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, {PROBE_ROWS}) g;
SELECT set_config('rb.t0', clock_timestamp()::text, true);
CREATE INDEX ON rb_lint_probe (t);
SELECT 'r|' || pg_relation_size('rb_lint_probe') || '|'
       || extract(epoch FROM clock_timestamp() - current_setting('rb.t0')::timestamptz);
ROLLBACK;
"""


def parse_facts(text):
    """(server version "14.11", {table: (rows, heap bytes, total bytes)}) from FACTS_SQL."""
    version, tables = "", {}
    for line in text.splitlines():
        kind, _, rest = line.partition("|")
        if kind == "v":
            version = rest.strip()
        elif kind == "t":
            name, rows, heap, total = rest.rsplit("|", 3)
            tables[name] = (int(rows), int(heap), int(total))
    return version, tables


def facts(c, tables):
    """(server version, {table: (rows, heap, total)}) of `tables` in the app's database."""
    return parse_facts(db.psql(c, FACTS_SQL, variables={"tables": json.dumps(sorted(tables))}))


def parse_rate(text):
    """Bytes per second from PROBE_SQL's "r|bytes|seconds" line (0.0 when absent)."""
    for line in text.splitlines():
        if line.startswith("r|"):
            _r, size, seconds = line.split("|")
            return int(size) / max(float(seconds), 1e-3)
    return 0.0


def rewrite_rate(c):
    """How fast this host builds an index over a table (bytes of heap per second), timed by
    the server on a probe table that is rolled back."""
    return parse_rate(db.psql(c, PROBE_SQL))
