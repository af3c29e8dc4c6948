#!/usr/bin/env python3
"""Benchmark: backup.create (dump + full verification) against raw `pg_dump -Fc`, on >= 1 GB.

    .venv/bin/python bench/backups.py [--runs 5] [--runbook-runs 1] [--out FILE]

The database is bench/dataset.py's `bench_large` (cluster 14/benchsrc, port 5439). Every way runs
on the sandbox host as the deploy user over one SSH connection, writing to /var/tmp/bench-backups,
and is timed from here, interleaved within each round:
- tool: `fab -H sandbox backup.create --no-json` with an inventory whose database is bench_large
  (the dump in an exported snapshot, globals, per-table fingerprints in the same snapshot, the
  manifest, then the verification: sizes and sha256 against the manifest, the dump read in full);
- raw: `pg_dump -Fc` alone;
- directory: `pg_dump -Fd -j 2` (parallel, one worker per core);
- runbook: the runbook's own BACKUP 1-4: plain SQL `pg_dump` plus the four `manage.py dumpdata`
  JSON files (all, accounts.UserProfile, workshops.UserProfile, workshops), run one after another;
- json: `fab -H sandbox backup.create` WITH the runbook's 4 JSON dumps (one Django process in the
  dump's snapshot, scripts/json_dumps.py), same inventory;
- and, to explain the tool's figure, its fingerprint query alone on the same database.
Then, on the sandbox's default seeded database (`invoke sandbox.reset` first), `fab -H sandbox
backup.create` with the JSON dumps and with --no-json, interleaved.
Issue goals: tool <= 1.3 x raw; with JSON on >= 1 GB <= 2.0 x raw; with JSON on the default
data <= 5 s.
"""
import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402
from common import (  # noqa: E402
    BIN,
    ROOT,
    fab_env,
    fmt_row,
    inventory,
    profile_lines,
    profiled,
    reset,
    sh,
    ssh_script,
    verdict,
    write_section,
)

OUT = Path("/var/tmp/bench-backups")      # deploy's, 0700 (the tool chmods backup.dir so)
PGOUT = Path("/var/tmp/bench-pgdir")      # postgres's: pg_dump -Fd writes its files itself
PG = f"sudo -n -u postgres {{tool}} -h /var/run/postgresql -p {dataset.PORT}"
APP = "/srv/recorder/app"
LABELS = ["", "accounts.UserProfile", "workshops.UserProfile", "workshops"]


def setup():
    """The output dirs: one for deploy (0700, like backup.dir), one postgres may write (-Fd)."""
    sh("rm", "-rf", OUT, PGOUT)
    sh("install", "-d", "-o", "deploy", "-g", "deploy", "-m", "0700", OUT)
    sh("install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0700", PGOUT)
    env = OUT / "large.env"   # the app's manage.py (tool's JSON, runbook) reads bench_large
    env.write_text(f"DB_NAME={dataset.DB}\nDB_PORT={dataset.PORT}\n")
    sh("chown", "deploy:deploy", env)


def clean():
    sh("find", OUT, "-mindepth", "1", "-maxdepth", "1", "!", "-name", "large.env",
       "-exec", "rm", "-rf", "{}", "+")
    sh("find", PGOUT, "-mindepth", "1", "-delete")


def large_inventory(tmp):
    def edit(text):
        text = text.replace('name = "recorder"', f'name = "{dataset.DB}"')
        text = text.replace("port = 5432", f"port = {dataset.PORT}")
        text = text.replace('dir = "/srv/recorder/backups"', f'dir = "{OUT}"')
        return text.replace('venv = "/srv/recorder/venv"\n',
                            f'venv = "/srv/recorder/venv"\nenv_file = "{OUT}/large.env"\n', 1)
    return inventory(tmp, edit=edit)


def default_data(runs, env):
    """{way: [seconds]} of backup.create with and without the JSON dumps on the sandbox's default
    seeded database, into a backup dir of the bench's own (emptied between runs)."""
    reset()
    out = Path("/var/tmp/bench-backups-default")
    inv = inventory(Path(sh("mktemp", "-d").stdout.strip()), edit=lambda text: text.replace(
        'dir = "/srv/recorder/backups"', f'dir = "{out}"'))
    times = {"json": [], "no-json": []}
    for i in range(runs):
        for way in times:
            sh("rm", "-rf", out)
            start = time.monotonic()
            sh(BIN / "fab", "-H", "sandbox", "backup.create", *(["--no-json"] if way == "no-json"
                                                               else []), "--hosts-file", inv, env=env)
            times[way].append(time.monotonic() - start)
            print(f"default data, run {i + 1}/{runs}: {way} {times[way][-1]:.1f}s", flush=True)
    sh("rm", "-rf", out)
    return times


def default_lines(times, runs):
    json_s = statistics.median(times["json"])
    return [
        "### With the runbook's JSON dumps",
        "",
        "The 4 JSON dumps (`[backup] json`: all, accounts.UserProfile, workshops.UserProfile, "
        "workshops) come from one Django process beside pg_dump, in its snapshot, each model "
        "serialized once with its many-to-many values prefetched (scripts/json_dumps.py). On "
        "the >= 1 GB dataset that is the `json` row of the table above; on the sandbox's "
        f"default seeded database (`invoke sandbox.reset` first; {runs} run(s) each, interleaved):",
        "",
        "| way | runs | median s | min-max s |",
        "|---|---|---|---|",
        fmt_row("`fab -H sandbox backup.create` (with the 4 JSON dumps)", times["json"]),
        fmt_row("`fab -H sandbox backup.create --no-json`", times["no-json"]),
        "",
        verdict(json_s <= 5.0, f"backup.create with the 4 JSON dumps takes {json_s:.1f} s on the "
                               "default data (goal 5 s)"),
    ]


def size_of(path):
    return int(sh("du", "-sb", path).stdout.split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--runbook-runs", type=int, default=1,
                    help="runs of the runbook's method (minutes each: dumpdata of 5 M objects)")
    ap.add_argument("--runbook-cap", type=int, default=300,
                    help="stop the runbook's method after this many seconds (default 300)")
    ap.add_argument("--json-runs", type=int, default=1,
                    help="runs of backup.create with the JSON dumps on >= 1 GB (minutes each)")
    ap.add_argument("--default-only", action="store_true",
                    help="only backup.create with and without JSON on the default data (seconds)")
    ap.add_argument("--out", help="also write the Markdown section to this file")
    args = ap.parse_args()
    if args.default_only:
        lines = default_lines(default_data(args.runs, fab_env()), args.runs)
        write_section("\n".join([f"Command: `.venv/bin/python bench/backups.py --runs {args.runs} "
                                 "--default-only`.", "", *lines]) + "\n", args.out)
        return
    reset()   # the app's code at v1, the schema of bench_large (its manage.py dumps it)
    info = dataset.build()
    dataset.start()
    setup()
    env = fab_env()
    inv = large_inventory(Path(sh("mktemp", "-d").stdout.strip()))
    pg_dump = PG.format(tool="pg_dump")
    manage = f"cd {APP} && set -a && . {OUT}/large.env && set +a && /srv/recorder/venv/bin/python manage.py"
    sys.path.insert(0, str(ROOT))
    from runbook.postgres.db import FINGERPRINT_GEXEC  # the tool's own query, read-only use
    runbook = (f"set -e\n{pg_dump} -d {dataset.DB} > {OUT}/postgres_full_backup.sql\n" +
               "".join(f"( {manage} dumpdata {label} ) > {OUT}/dumpdata-{i}.json </dev/null\n"
                       for i, label in enumerate(LABELS)))
    stopped = ""
    ways = {
        "tool": lambda: sh(BIN / "fab", "-H", "sandbox", "backup.create", "--no-json",
                           "--hosts-file", inv, env=env),
        "json": lambda: sh(BIN / "fab", "-H", "sandbox", "backup.create", "--hosts-file", inv,
                           env=env),
        "raw": lambda: ssh_script(f"{pg_dump} -Fc -d {dataset.DB} > {OUT}/raw.dump\n"),
        "directory": lambda: ssh_script(f"{pg_dump} -Fd -j 2 -d {dataset.DB} -f {PGOUT}/dir\n"),
        # the runbook's way, stopped by `timeout` (its whole process group) after --runbook-cap s
        "runbook": lambda: ssh_script(
            f"timeout {args.runbook_cap} bash -c {shlex.quote(runbook)}; echo \"@@exit $?\"\n"),
        "fingerprints": lambda: ssh_script(
            f"printf '%s\\n' {shlex.quote(FINGERPRINT_GEXEC)} | {PG.format(tool='psql')} -X -q -A -t "
            f"-d {dataset.DB} >/dev/null\n"),
    }
    times = {k: [] for k in ways}
    sizes = {}
    for i in range(args.runs):
        for kind, fn in ways.items():
            if kind == "runbook" and i >= args.runbook_runs or \
                    kind == "json" and i >= args.json_runs:
                continue
            clean()
            start = time.monotonic()
            r = fn()
            times[kind].append(time.monotonic() - start)
            if kind == "runbook" and "@@exit 124" in r.stdout:
                stopped = ", ".join(f"{f.name} {size_of(f) / 1e6:,.0f} MB" for f in sorted(
                    OUT.iterdir()) if f.name != "large.env")
            if kind != "fingerprints":
                sizes[kind] = size_of(OUT) + size_of(PGOUT) - size_of(OUT / "large.env")
            print(f"run {i + 1}/{args.runs}: {kind} {times[kind][-1]:.1f}s", flush=True)
    clean()
    defaults = default_data(args.runs, env)
    raw = statistics.median(times["raw"])
    json_ratio = statistics.median(times["json"]) / raw
    ratio = statistics.median(times["tool"]) / raw
    profile = ""
    if ratio > 1.3:
        profile = profiled("-H", "sandbox", "backup.create", "--no-json", "--hosts-file", inv, env=env)
        clean()
    sh("rm", "-rf", OUT, PGOUT)
    labels = {
        "tool": "tool: `backup.create --no-json` (dump + fingerprints + full verification)",
        "json": "json: `backup.create` with the 4 JSON dumps (and their full parse)",
        "raw": "raw `pg_dump -Fc`",
        "directory": "directory format, `pg_dump -Fd -j 2`",
        "runbook": "runbook: plain SQL `pg_dump` + 4 x `dumpdata` JSON",
        "fingerprints": "(the tool's fingerprint query alone)",
    }
    lines = [
        "## Backups: backup.create against raw pg_dump on the >= 1 GB dataset",
        "",
        "Goal: backup.create (dump plus full verification) at most 1.3 x raw `pg_dump -Fc`.",
        "",
        f"Command: `.venv/bin/python bench/backups.py --runs {args.runs} --runbook-runs "
        f"{args.runbook_runs} --runbook-cap {args.runbook_cap} --json-runs {args.json_runs}`. "
        f"Dataset: {info['text']}. "
        "Every way runs on the sandbox host as "
        "`deploy` over one SSH connection (the tool through `fab`, the others as "
        "`ssh ... bash -s`), writes to /var/tmp/bench-backups (emptied between runs), and the "
        "ways are interleaved within each round.",
        "",
        "| way | runs | median s | min-max s | ratio to raw | output |",
        "|---|---|---|---|---|---|",
    ]
    for kind, label in labels.items():
        if not times[kind]:
            continue
        row = fmt_row(label, times[kind], base=raw)
        size = f"{sizes[kind] / 1e6:,.0f} MB" if kind in sizes else "-"
        if kind == "runbook" and stopped:
            cap = args.runbook_cap
            row = f"| {label} | {len(times[kind])} | > {cap} (stopped) | - | > {cap / raw:.0f} |"
            size = "unfinished"
        lines.append(row + f" {size} |")
    lines += [""]
    if stopped:
        lines += [f"The runbook's method did not finish: `timeout` stopped it after "
                  f"{args.runbook_cap} s (the runbook plans 3-5 minutes for its backups), when it had "
                  f"written {stopped}: its first `dumpdata`, all apps, was still running.", ""]
    if args.runbook_runs == 0:
        lines += ["The runbook's method did not run this time (`--runbook-runs 0`); it took more "
                  "than 300 s a run when it last did.", ""]
    elif args.runbook_runs < args.runs:
        lines += [f"The runbook's method ran {args.runbook_runs} time(s), not {args.runs}: "
                  f"it needs more than {args.runbook_cap} s a run (above), and `make bench` must "
                  "stay under about 45 minutes.", ""]
    if args.json_runs < args.runs:
        lines += [f"backup.create with the JSON dumps ran {args.json_runs} time(s), not "
                  f"{args.runs}: it takes minutes a run on this dataset.", ""]
    lines += [verdict(ratio <= 1.3, f"backup.create takes {ratio:.2f} x raw `pg_dump -Fc` "
                                    "(goal 1.3 x)"),
              "", verdict(json_ratio <= 2.0, f"backup.create with the 4 JSON dumps takes "
                                             f"{json_ratio:.2f} x raw `pg_dump -Fc` on >= 1 GB "
                                             "(goal 2.0 x)"), ""]
    lines += default_lines(defaults, args.runs)
    lines += profile_lines("one `backup.create` (the time inside `run_script` is the remote "
                           "script's)", profile)
    write_section("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
