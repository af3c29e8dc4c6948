#!/usr/bin/env python3
"""Benchmark: the window of 503s and failures an HTTP client sees during deploy.consolidate.

    .venv/bin/python bench/downtime.py [--runs 5] [--rate 40] [--path /healthz] [--out FILE]

Each run: `invoke sandbox.reset` (v1, the default seeded database), then a probe sends GET
requests to http://127.0.0.1:8080<path> (the public nginx, no bypass header) at `--rate` per
second from a thread pool, starting 1 s before `fab -H sandbox deploy.consolidate --no-json` and
ending 1 s after it. The window: from the first request that did not get 200 (sent) to the last
one (answered). Also read: the tool's own figure (its summary's "downtime (maintenance ON->OFF)").
Issue goal: <= 2 s on the default dataset.
"""
import argparse
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, fab_env, fmt_row, inventory, profile_lines, profiled, reset, sh, verdict, write_section  # noqa: E402

FAB = ["deploy.consolidate", "--no-json"]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0   # refused, reset, timed out


class Probe:
    """GET `url` every 1/rate s until stopped; results: [(sent, answered, status)]."""

    def __init__(self, url, rate):
        self.url, self.rate = url, rate
        self.results, self.stopped = [], threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=32)
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _one(self):
        sent = time.monotonic()
        status = get(self.url)
        self.results.append((sent, time.monotonic(), status))

    def _loop(self):
        tick = time.monotonic()
        while not self.stopped.is_set():
            self.pool.submit(self._one)
            tick += 1 / self.rate
            time.sleep(max(0.0, tick - time.monotonic()))

    def __enter__(self):
        self.start = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()
        self.pool.shutdown(wait=True)
        self.end = time.monotonic()

    def window(self):
        """(seconds of the bad window, 503s, other failures, requests per second achieved)."""
        bad = [r for r in self.results if r[2] != 200]
        rate = len(self.results) / (self.end - self.start)
        if not bad:
            return 0.0, 0, 0, rate
        return (max(r[1] for r in bad) - min(r[0] for r in bad),
                sum(1 for r in bad if r[2] == 503), sum(1 for r in bad if r[2] != 503), rate)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=float, default=40)
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--out", help="also write the Markdown section to this file")
    args = ap.parse_args()
    if args.rate < 20:
        sys.exit("bench/downtime: --rate must be at least 20 requests/s (the issue's floor)")
    env = fab_env()
    inv = inventory(Path(sh("mktemp", "-d").stdout.strip()))
    url = f"http://127.0.0.1:8080{args.path}"
    windows, tool_says, counts, rates = [], [], [], []
    for i in range(args.runs):
        reset()
        with Probe(url, args.rate) as probe:
            time.sleep(1)
            r = sh(BIN / "fab", "-H", "sandbox", *FAB, "--hosts-file", inv, env=env)
            time.sleep(1)
        seconds, n503, nfail, rate = probe.window()
        said = re.search(r"downtime \(maintenance ON->OFF\): ([\d.]+)s", r.stdout)
        windows.append(seconds)
        tool_says.append(float(said[1]) if said else float("nan"))
        counts.append((n503, nfail))
        rates.append(rate)
        print(f"run {i + 1}/{args.runs}: window {seconds:.2f}s ({n503} x 503, {nfail} failures, "
              f"{rate:.0f} req/s); the tool says {tool_says[-1]:.1f}s", flush=True)
    reset()
    med = statistics.median(windows)
    profile = ""
    if med > 2:
        profile = profiled("-H", "sandbox", *FAB, "--hosts-file", inv, env=env)
        reset()
    lines = [
        "## Downtime: what an HTTP client sees during deploy.consolidate",
        "",
        "Goal: a window of 503s or failures of at most 2 s on the default dataset (the runbook "
        "plans 5-10 minutes).",
        "",
        f"Command: `.venv/bin/python bench/downtime.py --runs {args.runs} --rate {args.rate:g} "
        f"--path {args.path}`. Each run: `invoke sandbox.reset`, then GET `{url}` (public, no "
        f"bypass) at {args.rate:g} requests/s from a thread pool, from 1 s before "
        f"`fab -H sandbox {' '.join(FAB)}` (v1 -> v2, about 10,000 users) to 1 s after it. The "
        "window runs from the first request that did not get 200 (sent) to the last (answered).",
        "",
        "| figure | runs | median s | min-max s |",
        "|---|---|---|---|",
        fmt_row("window of 503s/failures seen by the probe", windows, digits=2),
        fmt_row("the tool's own figure (maintenance ON->OFF)", tool_says, digits=1),
        "",
        f"Per run: {', '.join(f'{a} x 503 + {b} failures' for a, b in counts)}; probe rate achieved "
        f"{min(rates):.0f}-{max(rates):.0f} requests/s.",
        "",
        verdict(med <= 2, f"median window {med:.2f} s (goal 2 s)"),
    ]
    lines += profile_lines("one deploy (the window is the steps from maintenance.on to "
                           "maintenance.off)", profile)
    write_section("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
