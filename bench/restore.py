#!/usr/bin/env python3
"""Benchmark: rollback.restore against raw `pg_restore -j2` into a fresh database, on >= 1 GB.

    .venv/bin/python bench/restore.py [--runs 3] [--out FILE]

The database is bench/dataset.py's `bench_large` (cluster 14/benchsrc, port 5439). One backup is
taken first with `fab -H sandbox backup.create --no-json` (an inventory whose database is
bench_large, as bench/backups.py uses), then, interleaved within each round:
- tool: `fab -H sandbox rollback.restore --backup=NAME --yes`: the backup checked (sizes, sha256,
  the dump read in full), the app stopped, the dump restored into a fresh database with
  `pg_restore -j N` (N = the host's cores), every table's fingerprint compared with the
  manifest, the names swapped, the app started;
- raw: `createdb` + `pg_restore -j 2` of the same dump into a fresh database, nothing checked.
The databases each way leaves are dropped between runs. Issue goal: tool <= 1.2 x raw.
"""
import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402
from backups import OUT, PGOUT, large_inventory, setup  # noqa: E402
from common import BIN, fab_env, fmt_row, sh, verdict, write_section  # noqa: E402

PG = ["sudo", "-n", "-u", "postgres"]
BINDIR = "/usr/lib/postgresql/14/bin"


def drop_leftovers():
    """The restores' fresh and kept databases (never bench_large itself)."""
    names = dataset.sql(f"SELECT datname FROM pg_database WHERE datname LIKE '{dataset.DB}_%' "
                        "OR datname = 'bench_raw_restore'").split()
    for name in names:
        dataset.sql(f'DROP DATABASE "{name}" WITH (FORCE)')


def raw_restore(dump):
    start = time.monotonic()
    conn = ["-h", "/var/run/postgresql", "-p", dataset.PORT]
    sh(*PG, f"{BINDIR}/createdb", *conn, "bench_raw_restore", cwd="/")
    sh(*PG, f"{BINDIR}/pg_restore", "-j", "2", *conn, "-d", "bench_raw_restore", dump, cwd="/")
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", help="also write the Markdown section to this file")
    args = ap.parse_args()
    info = dataset.build()
    dataset.start()
    setup()
    env = fab_env()
    inv = large_inventory(Path(sh("mktemp", "-d").stdout.strip()))
    r = sh(BIN / "fab", "-H", "sandbox", "backup.create", "--no-json", "--hosts-file", inv, env=env)
    name = re.search(r" ok \([\d.]+s\) - (\d{8}-\d{6}-[0-9a-f]{4})\b", r.stdout)[1]
    dump = f"{PGOUT}/db.dump"   # the raw way reads a copy postgres may open
    sh("install", "-o", "postgres", "-g", "postgres", "-m", "0600", f"{OUT}/{name}/db.dump", dump)
    times = {"tool": [], "raw": []}
    for i in range(args.runs):
        drop_leftovers()
        start = time.monotonic()
        r = sh(BIN / "fab", "-H", "sandbox", "rollback.restore", f"--backup={name}", "--yes",
               "--hosts-file", inv, env=env)
        times["tool"].append(time.monotonic() - start)
        jobs = re.search(r"pg_restore -j (\d+)", r.stdout)
        drop_leftovers()
        times["raw"].append(raw_restore(dump))
        print(f"run {i + 1}/{args.runs}: tool {times['tool'][-1]:.1f}s (pg_restore -j "
              f"{jobs[1] if jobs else '?'}), raw {times['raw'][-1]:.1f}s", flush=True)
    drop_leftovers()
    sh("rm", "-f", dump)
    ratio = statistics.median(times["tool"]) / statistics.median(times["raw"])
    lines = [
        "## Restore: rollback.restore against raw `pg_restore -j2` on the >= 1 GB dataset",
        "",
        "Goal: the tool at most 1.2 x raw.",
        "",
        f"Command: `.venv/bin/python bench/restore.py --runs {args.runs}`. The dataset: {info['text']}. "
        "One `backup.create --no-json`, then each round, interleaved: the tool's "
        "`rollback.restore --backup=NAME --yes` (backup checked, app stopped, `pg_restore -j` "
        "into a fresh database, every table's fingerprint compared with the manifest, names "
        "swapped, app started) and raw `createdb` + `pg_restore -j 2` of the same dump.",
        "",
        "| way | runs | median s | min-max s | ratio to raw |",
        "|---|---|---|---|---|",
        fmt_row("tool (`fab rollback.restore`)", times["tool"], statistics.median(times["raw"])),
        fmt_row("raw (`pg_restore -j 2`)", times["raw"], statistics.median(times["raw"])),
        "",
        verdict(ratio <= 1.2, f"rollback.restore takes {ratio:.2f} x raw `pg_restore -j2` on "
                              ">= 1 GB (goal 1.2 x)"),
    ]
    write_section("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
