#!/usr/bin/env python3
"""Benchmark: PostgreSQL 14 -> 15 downtime by method (link, copy, dump) on the >= 1 GB dataset.

    .venv/bin/python bench/pg_upgrade.py [--runs 5] [--dump-runs 3] [--part all|methods|window]
                                         [--window-runs N] [--out FILE]

Never upgrades the sandbox's 14/main: every run works on a throwaway cluster `14/bupg` (port
5441), a copy of the dataset cluster's stopped data directory (bench/dataset.py: 14/benchsrc,
`bench_large`), and times the command the tool's `pg_upgrade.run` runs for the method
(runbook/postgres/upgrade_check.py UPGRADECLUSTER_METHOD): `pg_upgradecluster -v 15 -m link|upgrade|dump
14 bupg`. That command is the database's downtime: it stops the old cluster (dump: closes it to
new connections) and ends with the new 15/bupg online on the old port. Each run then checks that
15/bupg answers with every user and workshop, and drops both clusters. Methods are interleaved
within a round. Issue goal: link <= 10 s and <= 0.2 x dump.

Its second part (bench/pg_upgrade_window.py) runs `pg_upgrade.run --method link` on the sandbox
itself: the maintenance window step by step (goal <= 3 s) and `pg_upgrade.check`'s estimate of
it (goal within +-30 %).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402
import pg_upgrade_window  # noqa: E402
from common import as_postgres_sql, fmt_row, sh, verdict, write_section  # noqa: E402

NAME, PORT = "bupg", 5441
METHOD = {"link": "link", "copy": "upgrade", "dump": "dump"}   # ours -> pg_upgradecluster's


def clusters():
    return {tuple(line.split()[:2]): line.split()[3]
            for line in sh("pg_lsclusters", "-h").stdout.splitlines()}


def drop_all():
    have = clusters()
    for version in ("15", "14"):
        if (version, NAME) in have:
            sh("pg_dropcluster", version, NAME, "--stop")


def prepare():
    """A fresh 14/bupg holding a copy of the dataset cluster's files, online."""
    drop_all()
    dataset.stop()   # a consistent copy: the source is shut down cleanly
    sh("pg_createcluster", "14", NAME, "-p", PORT, "--start-conf", "manual")
    data = Path(f"/var/lib/postgresql/14/{NAME}")
    sh("rm", "-rf", data)
    sh("cp", "-a", dataset.DATADIR, data)
    sh("pg_ctlcluster", "14", NAME, "start")
    as_postgres_sql("CHECKPOINT", port=PORT)


def check(expect):
    """The new cluster answers on the old port, version 15, with the dataset's rows."""
    version = as_postgres_sql("SHOW server_version", port=PORT)
    rows = int(as_postgres_sql("SELECT (SELECT count(*) FROM auth_user) + "
                               "(SELECT count(*) FROM workshops_workshop)", port=PORT, db=dataset.DB))
    if not version.startswith("15.") or rows != expect:
        sys.exit(f"bench/pg_upgrade: after the upgrade port {PORT} answers {version} with "
                 f"{rows} rows (expected 15.x and {expect})")


def methods_lines(args):
    """The first part: the three methods on the >= 1 GB dataset's throwaway copy."""
    dump_runs = args.runs if args.dump_runs is None else args.dump_runs
    info = dataset.build()
    expect = info["users"] + info["workshops"]
    times = {m: [] for m in METHOD}
    try:
        for i in range(args.runs):
            for method in METHOD:
                if method == "dump" and i >= dump_runs:
                    continue
                prepare()
                start = time.monotonic()
                sh("pg_upgradecluster", "-v", "15", "-m", METHOD[method], "14", NAME)
                times[method].append(time.monotonic() - start)
                check(expect)
                print(f"run {i + 1}/{args.runs}: {method} {times[method][-1]:.1f}s", flush=True)
    finally:
        drop_all()
    dump = statistics.median(times["dump"])
    link = statistics.median(times["link"])
    lines = [
        "## PostgreSQL 14 -> 15: downtime by method",
        "",
        "Goal: link at most 10 s and at most 0.2 x dump.",
        "",
        f"Command: `.venv/bin/python bench/pg_upgrade.py --runs {args.runs} --dump-runs {dump_runs}`. "
        f"Dataset: {info['text']}. Each run copies that cluster's stopped data directory into a "
        f"throwaway cluster 14/{NAME} (port {PORT}; the sandbox's 14/main is never touched) and "
        f"times `pg_upgradecluster -v 15 -m METHOD 14 {NAME}`, the command `pg_upgrade.run` runs "
        "(link = `-m link`, copy = `-m upgrade`, dump = `-m dump`): the database is down for "
        "exactly that command. Then it checks 15 answers with every row, and drops both clusters.",
        "",
        "| method | runs | median s | min-max s | ratio to dump |",
        "|---|---|---|---|---|",
    ]
    for method in METHOD:
        lines.append(fmt_row(method, times[method], base=dump))
    lines += [""]
    if dump_runs < args.runs:
        lines += [f"dump ran {dump_runs} times, not {args.runs}: each takes minutes on this 2-core "
                  "machine and `make bench` must stay under about 45 minutes.", ""]
    lines += [
        verdict(link <= 10 and link <= 0.2 * dump,
                f"link {link:.1f} s (goal 10 s), {link / dump:.2f} x dump (goal 0.2 x)"),
        "",
        "What the tool adds around this command (`pg_upgrade.run`): the backup and, for link, its "
        "restore drill run before the maintenance window; inside it, the app is stopped and every "
        "table is fingerprinted before and after, and `vacuumdb --analyze-in-stages` runs; these "
        "scale with the data, not with the method.",
    ]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dump-runs", type=int, default=None,
                    help="runs of the slow dump method (default: --runs)")
    ap.add_argument("--part", choices=("all", "methods", "window"), default="all",
                    help="methods: the dataset's throwaway cluster; window: pg_upgrade.run "
                         "--method link on the sandbox (bench/pg_upgrade_window.py)")
    ap.add_argument("--window-runs", type=int, default=None,
                    help="runs of the sandbox window part (default: --runs)")
    ap.add_argument("--out", help="also write the Markdown section to this file")
    args = ap.parse_args()
    lines = methods_lines(args) if args.part != "window" else []
    if args.part != "methods":
        runs = args.runs if args.window_runs is None else args.window_runs
        lines += ([""] if lines else []) + pg_upgrade_window.section(
            pg_upgrade_window.measure(runs), runs)
    write_section("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
