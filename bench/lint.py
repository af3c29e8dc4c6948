#!/usr/bin/env python3
"""Benchmark: migrate.lint's estimated lock times against the locks measured, on >= 1 GB.

    .venv/bin/python bench/lint.py [--runs 3] [--out FILE]

The database is bench/dataset.py's `bench_large` (cluster 14/benchsrc, port 5439). Its biggest
table gets four statements squawk flags, each run for real inside a transaction that is rolled
back (timed by the server: the time the statement holds its lock): a plain CREATE INDEX on a
text column and on an integer column, a CHECK constraint added without NOT VALID (a full scan),
and the integer column changed to bigint (a rewrite). The estimate is the tool's own: squawk's finding joined with
the table's facts and the rates probed on that server (runbook/django/lint.py,
runbook/postgres/table_facts.py), as `migrate.lint` computes it. The issue sets no goal for the
estimate; the figure says how far to trust it.
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import dataset  # noqa: E402
from common import write_section  # noqa: E402

from runbook.django import lint, squawk  # noqa: E402
from runbook.postgres import table_facts  # noqa: E402

TIMED = """BEGIN;
SELECT set_config('rb.t0', clock_timestamp()::text, true) \\g /dev/null
{statement};
SELECT 'took|' || extract(epoch FROM clock_timestamp() - current_setting('rb.t0')::timestamptz);
ROLLBACK;
"""


def psql(text, **variables):
    argv = ["sudo", "-u", "postgres", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-p", str(dataset.PORT), "-d", dataset.DB]
    for k, v in variables.items():
        argv += ["-v", f"{k}={v}"]
    return subprocess.run(argv, input=text, capture_output=True, text=True, check=True,
                          cwd="/").stdout


def biggest_table():
    """(table, a text column, an integer column or None) of bench_large's biggest table."""
    table = psql("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = 'public' AND relkind = 'r' "
                 "ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 1;").strip()
    cols = [x.split("|") for x in psql(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = "
        f"'{table}' ORDER BY ordinal_position;").splitlines()]
    text = next(c for c, t in cols if t in ("text", "character"))
    integer = next((c for c, t in cols if t == "integer"), None)
    return table, text, integer


def statements(table, text, integer):
    out = [f'CREATE INDEX "bench_lint_idx" ON "{table}" ("{text}");',
           *([f'CREATE INDEX "bench_lint_int_idx" ON "{table}" ("{integer}");'] if integer else []),
           f'ALTER TABLE "{table}" ADD CONSTRAINT "bench_lint_chk" CHECK (length("{text}") >= 0);']
    if integer:
        out.append(f'ALTER TABLE "{table}" ALTER COLUMN "{integer}" TYPE bigint;')
    return out


def estimate(sql):
    """The tool's estimate for `sql` on bench_large: (rule, seconds), or (None, 0)."""
    entries = [{"migration": "bench.0001", "backwards": False, "sql": [sql]}]
    files = lint.files(entries)
    version, facts = table_facts.parse_facts(psql(table_facts.FACTS_SQL, tables=json.dumps(
        [lint.table_of(sql)])))
    rates = table_facts.parse_rates(psql(table_facts.PROBE_SQL))
    found = lint.findings(squawk.lint(files, version, lint.IGNORED),
                          {n: (m, s) for n, m, s in files}, facts, rates)
    locks = [f for f in found if f.kind == lint.LOCK]
    return (locks[0].rule, locks[0].seconds, locks[0].size) if locks else (None, 0.0, 0)


def measured(sql):
    out = psql(TIMED.format(statement=sql.rstrip(";")))
    return float(next(x for x in out.splitlines() if x.startswith("took|")).split("|")[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", help="also write the Markdown section to this file")
    args = ap.parse_args()
    was = dataset.status()
    info = dataset.build()
    dataset.start()
    try:
        section = measure(args.runs, info)
    finally:
        if was != "online":   # the cluster is left as it was found
            dataset.stop()
    write_section(section, args.out)


def measure(runs, info):
    """The Markdown section: each statement's estimate and measured lock, `runs` times."""
    table, text, integer = biggest_table()
    rows, errors = [], []
    for sql in statements(table, text, integer):
        est, took, rule, size = [], [], None, 0
        for _ in range(runs):
            rule, seconds, size = estimate(sql)
            est.append(seconds)
            took.append(measured(sql))
        e, m = statistics.median(est), statistics.median(took)
        errors.append((e - m) / m)
        rows.append(f"| `{sql}` | {rule} | {size / 1e6:.0f} MB | {e:.1f} | {m:.1f} | "
                    f"{(e - m) / m:+.0%} |")
        print(rows[-1], flush=True)
    lines = [
        "## Migration lint: estimated lock times against measured, on the >= 1 GB dataset",
        "",
        "No goal in the issue: how far `migrate.lint`'s estimate (the table's heap, rows and "
        "indexes over the scan, write and index rates probed on the server) is from the lock "
        "each statement really "
        "holds.",
        "",
        f"Command: `.venv/bin/python bench/lint.py --runs {runs}`. The dataset: {info['text']}. "
        f"Each statement on its biggest table, `{table}`, run in a transaction that is rolled "
        "back and timed by the server; the estimate computed as `migrate.lint` does, each run "
        "with a fresh probe; medians.",
        "",
        "| statement | squawk rule | the table's heap | estimate s | measured s | error |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"No goal: the estimate is {min(errors):+.0%} to {max(errors):+.0%} of the measured lock "
        f"over {len(rows)} statements ({runs} runs each).",
        "",
        "A budget is met or missed by the estimate, so keep the low side as a margin: the "
        "estimate runs high for narrow keys and cheap rewrites, low for wide text keys.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
