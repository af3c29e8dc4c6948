"""Facts of the tables a migration touches, and how fast this host rewrites a table: what
migrate.lint (django/lint.py) turns squawk's findings into estimated lock times with.

Each fact pairs its SQL with its parser. Both are read-only for the host: the rate probe builds
its table and index inside a transaction that is rolled back (docs/BEHAVIOUR.md#probe-rolled-back).
"""
import json
from dataclasses import dataclass

from runbook.postgres import db

# Rows: the planner's estimate, or an exact count where the table was never analyzed (-1).
# Each read waits at most 5 s for a lock (pg_relation_size takes ACCESS SHARE): a table held by
# a long ALTER fails the lint rather than hanging it (docs/BEHAVIOUR.md#pg-lock-timeout-cancels).
FACTS_SQL = """
SET lock_timeout = '5s';
SELECT 'v|' || split_part(current_setting('server_version'), ' ', 1);
SELECT 't|' || c.relname || '|'
       || CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
               ELSE (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
                     n.nspname, c.relname), false, true, '')))[1]::text::bigint END
       || '|' || pg_relation_size(c.oid) || '|' || pg_total_relation_size(c.oid)
       || '|' || (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))
   AND c.relname IN (SELECT json_array_elements_text(:'tables'::json));
"""

PROBE_ROWS = 200_000   # about 15 MB of heap: long enough to time, short enough for a preflight
# Three timings of one probe table, each by the server: scanned, rewritten (a type change, as a
# migration's would), indexed; reported as write, scan and index seconds.
PROBE_SQL = f"""
SET lock_timeout = '5s';
BEGIN;
CREATE TABLE rb_lint_probe AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, {PROBE_ROWS}) g;
SELECT set_config('rb.t1', clock_timestamp()::text, true);
SELECT count(*) FROM rb_lint_probe WHERE length(t) >= 0;
SELECT set_config('rb.t2', clock_timestamp()::text, true);
ALTER TABLE rb_lint_probe ALTER COLUMN id TYPE bigint;
SELECT set_config('rb.t3', clock_timestamp()::text, true);
CREATE INDEX ON rb_lint_probe (t);
SELECT 'r|' || pg_relation_size('rb_lint_probe') || '|{PROBE_ROWS}|'
       || extract(epoch FROM current_setting('rb.t3')::timestamptz - current_setting('rb.t2')::timestamptz) || '|'
       || extract(epoch FROM current_setting('rb.t2')::timestamptz - current_setting('rb.t1')::timestamptz) || '|'
       || extract(epoch FROM clock_timestamp() - current_setting('rb.t3')::timestamptz);
ROLLBACK;
"""


@dataclass(frozen=True)
class Rates:
    """How fast this host writes and scans a table (bytes/s) and sorts an index (rows/s)."""
    write: float
    scan: float
    index_rows: float

    WORK = ("scan", "index", "rewrite")

    def seconds(self, work, rows, heap, indexes):
        """A lock's estimated time on a table of `rows`/`heap` bytes/`indexes`: a scan reads the
        heap; an index build reads it and sorts its rows; a rewrite writes the heap again and
        rebuilds every index."""
        build = heap / self.scan + rows / self.index_rows
        return {"scan": heap / self.scan, "index": build,
                "rewrite": heap / self.write + indexes * build}.get(work, 0.0)


def parse_facts(text):
    """(server version "14.11", {table: (rows, heap bytes, total bytes, indexes)})."""
    version, tables = "", {}
    for line in text.splitlines():
        kind, _, rest = line.partition("|")
        if kind == "v":
            version = rest.strip()
        elif kind == "t":
            name, rows, heap, total, indexes = rest.rsplit("|", 4)
            tables[name] = (int(rows), int(heap), int(total), int(indexes))
    return version, tables


def facts(c, tables):
    """(server version, {table: (rows, heap, total, indexes)}) of `tables` in the app's database."""
    return parse_facts(db.psql(c, FACTS_SQL, variables={"tables": json.dumps(sorted(tables))}))


def parse_rates(text):
    """Rates from PROBE_SQL's "r|bytes|rows|write s|scan s|index s" line; None without one."""
    for line in text.splitlines():
        if line.startswith("r|"):
            size, rows, *took = (float(x) for x in line.split("|")[1:])
            write, scan, index = (max(t, 1e-3) for t in took)   # a clock that did not move
            return Rates(write=size / write, scan=size / scan, index_rows=rows / index)
    return None


def rates(c):
    """This host's Rates, timed by the server on a probe table that is rolled back."""
    return parse_rates(db.psql(c, PROBE_SQL))
