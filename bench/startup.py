#!/usr/bin/env python3
"""Benchmark: start-up, `fab --list` (Python, Fabric, the task tree), as a user types it.

    .venv/bin/python bench/startup.py [--runs 10] [--out FILE]

One untimed run first (writes the .pyc files), then `--runs` timed runs of `.venv/bin/fab --list`
from the repository root. Issue goal: <= 0.5 s. No host is contacted.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, fmt_row, profiled, sh, verdict, write_section  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", help="also write the Markdown section to this file")
    args = ap.parse_args()
    sh(BIN / "fab", "--list")
    times = []
    for _ in range(args.runs):
        start = time.monotonic()
        sh(BIN / "fab", "--list")
        times.append(time.monotonic() - start)
    med = statistics.median(times)
    profile = profiled("--list", top=6)
    lines = [
        "## Start-up: fab --list",
        "",
        "Goal: at most 0.5 s.",
        "",
        f"Command: `.venv/bin/python bench/startup.py --runs {args.runs}`: `.venv/bin/fab --list` "
        "from the repository root (Python start-up, Fabric and Invoke, the whole task tree), "
        "after one untimed run that writes the .pyc files.",
        "",
        "| command | runs | median s | min-max s |",
        "|---|---|---|---|",
        fmt_row("`fab --list`", times, digits=2),
        "",
        verdict(med <= 0.5, f"median {med:.2f} s (goal 0.5 s)"),
        "",
        "Where it goes (`bench/profile.py -- --list`, pyinstrument):",
        "",
        "```",
        profile,
        "```",
    ]
    write_section("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
