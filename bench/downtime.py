#!/usr/bin/env python3
"""Benchmark: the window of 503s and the failed requests an HTTP client sees during deploys.

    .venv/bin/python bench/downtime.py [--runs 5] [--rate 40] [--only NAME,...] [--out FILE]

Each run: `invoke sandbox.reset` (v1, the default seeded databases), then a probe sends GET
requests to the app's health URL through the public nginx (no bypass header; ledger's Host and
X-Forwarded-Proto) at `--rate` per second from a thread pool, from 1 s before the task to 1 s
after it. The window: from the first request that did not get 200 (sent) to the last one
(answered); a failure is any answer other than 200 and 503 (or none). The scenarios (SCENARIOS):
the recorder app (its health names the commit) with a graceful reload and with the switch
([switch]: a twin booted before the window, nginx switched in it: runbook/ops/switch.py); the
ledger app (preload_app, health without the commit) restarted in the window and with the switch;
and a ledger release whose only migration adds a nullable column (no window at all).
Issue goals: ledger deploy <= 2 s, ledger release 0 failed requests, recorder deploy <= 1.0 s.
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
from common import (  # noqa: E402
    BIN,
    ROOT,
    STATE,
    fab_env,
    fmt_row,
    inventory,
    profile_lines,
    profiled,
    reset,
    sh,
    verdict,
    write_section,
)

sys.path.insert(0, str(ROOT))
from tests.support.ledger import RELEASE  # noqa: E402 - the check ids ledger's release silences

LEDGER_HEADERS = {"Host": "ledger.sandbox.test", "X-Forwarded-Proto": "https"}
RECORDER_SWITCH = """
[hosts.sandbox.switch]
twin = "recorder-twin"
app_address = "127.0.0.1:8001"
twin_address = "127.0.0.1:8002"
upstream = "/etc/nginx/deploy.d/recorder-upstream.conf"
"""


def recorder_inventory(tmp, switch):
    """The sandbox's recorder inventory; `switch`: with [switch] (recorder-twin)."""
    return inventory(tmp / ("switch" if switch else "reload"),
                     edit=(lambda t: t + RECORDER_SWITCH) if switch else None)


def ledger_inventory(tmp, switch):
    """.sandbox/ledger.toml beside itself (its paths are relative), with ledger's release
    consents in its deploy.toml; without `switch`, its [switch] table removed."""
    project = tmp / "ledger-deploy.toml"
    project.write_text((ROOT / "sandbox/ledger/deploy.toml").read_text()
                       .replace("[migrations]", RELEASE[0]) + RELEASE[1])
    text = (STATE / "ledger.toml").read_text()
    text = text.replace('project = "../sandbox/ledger/deploy.toml"', f'project = "{project}"')
    if not switch:
        text = re.sub(r"^\[hosts\.sandbox-ledger\.switch\]\n(?:[a-z_]+ = .*\n)+", "", text,
                      flags=re.M)
    path = STATE / f"bench-ledger-{'switch' if switch else 'restart'}.toml"
    path.write_text(text)
    return path


RECORDER = ("http://127.0.0.1:8080/healthz", {}, "sandbox")
LEDGER = ("http://127.0.1.1:8080/health/", LEDGER_HEADERS, "sandbox-ledger")
CONSOLIDATE = ["deploy.consolidate", "--no-json"]
# name: (what, (url, headers, host), inventory(tmp), task arguments)
SCENARIOS = {
    "recorder-reload": ("recorder, deploy.consolidate v1 -> v2, graceful reload (the sandbox's "
                        "inventory: restart = \"reload\")", RECORDER,
                        lambda t: recorder_inventory(t, False), CONSOLIDATE),
    "recorder-switch": ("recorder, deploy.consolidate v1 -> v2, with [switch]", RECORDER,
                        lambda t: recorder_inventory(t, True), CONSOLIDATE),
    "ledger-restart": ("ledger, deploy.consolidate v1 -> v2, restarted in the window (no "
                       "[switch], as before)", LEDGER, lambda t: ledger_inventory(t, False),
                       [*CONSOLIDATE, "--ref", "v2", "--allow-unguarded"]),
    "ledger-switch": ("ledger, deploy.consolidate v1 -> v2, with [switch] (the sandbox's "
                      "inventory)", LEDGER, lambda t: ledger_inventory(t, True),
                      [*CONSOLIDATE, "--ref", "v2", "--allow-unguarded"]),
    "ledger-release": ("ledger, deploy.release v1 -> v1.1 (a nullable AddField), with [switch]",
                       LEDGER, lambda t: ledger_inventory(t, True),
                       ["deploy.release", "--ref", "v1.1"]),
}


def get(url, headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0   # refused, reset, timed out


class Probe:
    """GET `url` every 1/rate s until stopped; results: [(sent, answered, status)]."""

    def __init__(self, url, rate, headers=None):
        self.url, self.rate, self.headers = url, rate, headers or {}
        self.results, self.stopped = [], threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=32)
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _one(self):
        sent = time.monotonic()
        status = get(self.url, self.headers)
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


def measure(name, runs, rate, tmp, env):
    """Run scenario `name` `runs` times; returns {windows, tool, counts, rates, cmd}."""
    _what, (url, headers, host), make_inventory, task = SCENARIOS[name]
    inv = make_inventory(tmp)
    cmd = ["-H", host, *task, "--hosts-file", str(inv)]
    out = {"windows": [], "tool": [], "counts": [], "rates": [], "cmd": cmd}
    for i in range(runs):
        reset()
        with Probe(url, rate, headers) as probe:
            time.sleep(1)
            r = sh(BIN / "fab", *cmd, env=env, check=False)
            time.sleep(1)
        if r.returncode:
            sys.exit(f"bench/downtime: {name}: fab failed (exit {r.returncode}):\n"
                     + (r.stdout + r.stderr)[-2000:])
        seconds, n503, nfail, achieved = probe.window()
        said = re.search(r"downtime \(maintenance ON->OFF\): ([\d.]+)s", r.stdout)
        out["windows"].append(seconds)
        out["tool"].append(float(said[1]) if said else 0.0)
        out["counts"].append((n503, nfail))
        out["rates"].append(achieved)
        print(f"{name} run {i + 1}/{runs}: window {seconds:.2f}s ({n503} x 503, {nfail} failures, "
              f"{achieved:.0f} req/s); the tool says {out['tool'][-1]:.1f}s", flush=True)
    return out


GOALS = [  # (scenario, what the goal is about, figure(result) -> (value, text), met(value))
    ("ledger-switch", "503 window, ledger app deploy (no revision in health, preload_app)",
     lambda m: statistics.median(m["windows"]), lambda v: v <= 2.0, "{:.2f} s (goal 2 s)"),
    ("ledger-release", "failed requests, ledger release without destructive migration",
     lambda m: sum(a + b for a, b in m["counts"]), lambda v: v == 0,
     "{} non-200 answers in all runs (goal 0)"),
    ("recorder-switch", "503 window, recorder deploy",
     lambda m: statistics.median(m["windows"]), lambda v: v <= 1.0, "{:.2f} s (goal 1.0 s)"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=float, default=40)
    ap.add_argument("--only", default=",".join(SCENARIOS),
                    help=f"comma-separated scenarios of: {', '.join(SCENARIOS)}")
    ap.add_argument("--out", help="also write the Markdown section to this file")
    args = ap.parse_args()
    if args.rate < 20:
        sys.exit("bench/downtime: --rate must be at least 20 requests/s (the issue's floor)")
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        sys.exit(f"bench/downtime: no scenario {unknown[0]!r}; use --only with: {', '.join(SCENARIOS)}")
    env = fab_env()
    tmp = Path(sh("mktemp", "-d").stdout.strip())
    got = {n: measure(n, args.runs, args.rate, tmp, env) for n in names}
    reset()
    lines = [
        "## Downtime: what an HTTP client sees during a deploy",
        "",
        "Goals: a 503 window of at most 2 s for a ledger deploy (an app whose health names no "
        "commit, with preload_app), no failed request during a ledger release without a "
        "destructive migration, at most 1.0 s for a recorder deploy (the runbook plans 5-10 "
        "minutes).",
        "",
        f"Command: `.venv/bin/python bench/downtime.py --runs {args.runs} --rate {args.rate:g}`. "
        "Each run: `invoke sandbox.reset`, then GET the app's health URL through the public nginx "
        f"(no bypass) at {args.rate:g} requests/s from a thread pool, from 1 s before the task to "
        "1 s after it. The window runs from the first request that did not get 200 (sent) to "
        "the last (answered); failures are answers other than 200 and 503, or none.",
        "",
        "| scenario | task | runs | median window s | min-max s | the tool's own figure "
        "(maintenance ON->OFF), median s | 503s + failures per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, m in got.items():
        st = fmt_row(n, m["windows"], digits=2).split("|")
        lines.append(f"| {SCENARIOS[n][0]} | `fab {' '.join(m['cmd'][:-2])}` | {st[2].strip()} | "
                     f"{st[3].strip()} | {st[4].strip()} | "
                     f"{statistics.median(m['tool']):.1f} | "
                     f"{', '.join(f'{a} + {b}' for a, b in m['counts'])} |")
    lines.append("")
    rates = [r for m in got.values() for r in m["rates"]]
    lines.append(f"Probe rate achieved {min(rates):.0f}-{max(rates):.0f} requests/s.")
    lines.append("")
    for name, about, figure, met, text in GOALS:
        if name in got:
            value = figure(got[name])
            lines.append(verdict(met(value), f"{about}: " + text.format(value)))
    worst = max(got, key=lambda n: statistics.median(got[n]["windows"]))
    if statistics.median(got[worst]["windows"]) > 2:
        prof = profiled(*got[worst]["cmd"], env=env)
        reset()
        lines += profile_lines(f"one {worst} run (the window is the steps from maintenance.on "
                               "to maintenance.off)", prof)
    write_section("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
