"""bench/pg_upgrade.py's second part: the maintenance window of `pg_upgrade.run --method link` on
the sandbox itself (its 14/main, both apps' databases), step by step, for each sandbox app
(`sandbox`: recorder; `sandbox-ledger`: ledger, .sandbox/ledger.toml), and `pg_upgrade.check`'s
estimate of it. Each run: sandbox reset, `pg_upgrade.check --to 15 --method link` (its estimate
and where its rates came from), `pg_upgrade.run --to 15 --method link --yes` (the summary's step
times and "downtime (maintenance ON->OFF)"), then sandbox/reset.sh puts 14/main back. One
inventory per app for every run, so its local journal keeps the runs: the first run's estimate comes
from the check's probe, the later ones from the previous run.
"""
import re
import statistics
from pathlib import Path

from common import BIN, STATE, fab_env, inventory, reset, sh, verdict

ESTIMATE = re.compile(r"method link: .*estimated downtime ~([\d.]+)s \((.+)\)$", re.M)
STEP = re.compile(r"^  (\S.*?)\s+ok\s+([\d.]+)s(?:\s|$)", re.M)
WINDOW = re.compile(r"downtime \(maintenance ON->OFF\): ([\d.]+)s")
GOAL_WINDOW, GOAL_ERROR = 3.0, 0.30


def one_run(host, inv, env):
    """(estimate s, its source, measured window s, [(step, s)] of the summary) on `host`."""
    reset()
    fab, where = [BIN / "fab", "-H", host], ["--hosts-file", inv]   # a task option
    r = sh(*fab, "pg_upgrade.check", "--to", "15", "--method", "link", *where, env=env)
    est = ESTIMATE.search(r.stdout)
    try:
        r = sh(*fab, "pg_upgrade.run", "--to", "15", "--method", "link", "--yes", *where, env=env)
    finally:
        sh("bash", "sandbox/reset.sh", check=False)
        reset()
    summary = r.stdout.split("Summary of", 1)[-1]
    steps = [(m[1].strip(), float(m[2])) for m in STEP.finditer(summary)]
    return float(est[1]), est[2], float(WINDOW.search(r.stdout)[1]), steps


def in_window(steps):
    names = [n for n, _ in steps]
    first, last = names.index("maintenance.on"), names.index("maintenance.off")
    return [(n, s, first <= i <= last) for i, (n, s) in enumerate(steps)]


def measure(runs):
    """{host: [one_run(...)]}, the apps taking turns within a round."""
    invs = {"sandbox": inventory(Path(sh("mktemp", "-d").stdout.strip())),
            "sandbox-ledger": STATE / "ledger.toml"}
    env = fab_env()
    out = {host: [] for host in invs}
    for i in range(runs):
        for host, inv in invs.items():
            out[host].append(one_run(host, inv, env))
            est, source, window, _ = out[host][-1]
            print(f"{host} window run {i + 1}/{runs}: {window:.1f}s, estimate {est:.1f}s "
                  f"({source})", flush=True)
    return out


def steps_table(results):
    steps = {}
    for _, _, _, run_steps in results:
        for name, s, inside in in_window(run_steps):
            steps.setdefault(name, (inside, []))[1].append(s)
    lines = ["| step | in the window | runs | median s | min-max s |", "|---|---|---|---|---|"]
    for name, (inside, values) in steps.items():
        lines.append(f"| {name} | {'yes' if inside else 'no'} | {len(values)} | "
                     f"{statistics.median(values):.1f} | {min(values):.1f}-{max(values):.1f} |")
    return lines


def section(by_host, runs):
    lines = [
        "### Link upgrade on the sandbox: the maintenance window, and its estimate",
        "",
        f"Goals: the window at most {GOAL_WINDOW:.0f} s; `pg_upgrade.check`'s estimate within "
        f"+-{GOAL_ERROR:.0%} of the measured window.",
        "",
        f"Command: `.venv/bin/python bench/pg_upgrade.py --part window --window-runs {runs}`. "
        "Each run resets the sandbox, runs `fab -H HOST pg_upgrade.check --to 15 --method "
        "link` and `pg_upgrade.run --to 15 --method link --yes` on the sandbox's own 14/main "
        "(both apps' databases) for one app (`sandbox`: recorder; `sandbox-ledger`: ledger, "
        "preload_app, a worker), reads the run's summary, then `sandbox/reset.sh` puts 14/main "
        "back. The window is the run's `downtime (maintenance ON->OFF)`.",
    ]
    errors, windows = [], {}
    rows = ["| app | run | estimate s | measured window s | error | the estimate's rates |",
            "|---|---|---|---|---|---|"]
    for host, results in by_host.items():
        lines += ["", f"Steps, `{host}`:", "", *steps_table(results)]
        windows[host] = statistics.median(w for _, _, w, _ in results)
        for i, (est, source, window, _) in enumerate(results, 1):
            errors.append(est / window - 1)
            rows.append(f"| {host} | {i} | {est:.1f} | {window:.1f} | {errors[-1]:+.0%} | {source} |")
    worst = max(errors, key=abs)
    lines += ["", *rows, "",
              verdict(windows["sandbox"] <= GOAL_WINDOW,
                      f"link upgrade window, sandbox {windows['sandbox']:.1f} s median of {runs} "
                      f"(goal {GOAL_WINDOW:.0f} s; ledger {windows['sandbox-ledger']:.1f} s)"),
              "", verdict(abs(worst) <= GOAL_ERROR,
                          f"pg_upgrade.check estimate vs measured: worst {worst:+.0%} over "
                          f"{len(errors)} runs (goal +-{GOAL_ERROR:.0%})")]
    return lines
