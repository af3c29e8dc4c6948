"""bench/pg_upgrade.py's second part: the maintenance window of `pg_upgrade.run --method link` on
the sandbox itself (its 14/main, both apps' databases), step by step, and `pg_upgrade.check`'s
estimate of it. Each run: sandbox reset, `pg_upgrade.check --to 15 --method link` (its estimate
and where its rates came from), `pg_upgrade.run --to 15 --method link --yes` (the summary's step
times and "downtime (maintenance ON->OFF)"), then sandbox/reset.sh puts 14/main back. One
inventory for every run, so its local journal keeps the runs: the first run's estimate comes
from the check's probe, the later ones from the previous run.
"""
import re
import statistics
from pathlib import Path

from common import BIN, fab_env, inventory, reset, sh, verdict

ESTIMATE = re.compile(r"method link: .*estimated downtime ~([\d.]+)s \((.+)\)$", re.M)
STEP = re.compile(r"^  (\S.*?)\s+ok\s+([\d.]+)s(?:\s|$)", re.M)
WINDOW = re.compile(r"downtime \(maintenance ON->OFF\): ([\d.]+)s")
GOAL_WINDOW, GOAL_ERROR = 3.0, 0.30


def one_run(inv, env):
    """(estimate s, its source, measured window s, [(step, s)] of the summary)."""
    reset()
    r = sh(BIN / "fab", "-H", "sandbox", "pg_upgrade.check", "--to", "15", "--method", "link",
           "--hosts-file", inv, env=env)
    est = ESTIMATE.search(r.stdout)
    try:
        r = sh(BIN / "fab", "-H", "sandbox", "pg_upgrade.run", "--to", "15", "--method", "link",
               "--yes", "--hosts-file", inv, env=env)
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
    inv = inventory(Path(sh("mktemp", "-d").stdout.strip()))
    env = fab_env()
    out = []
    for i in range(runs):
        out.append(one_run(inv, env))
        est, source, window, _ = out[-1]
        print(f"window run {i + 1}/{runs}: {window:.1f}s, estimate {est:.1f}s ({source})",
              flush=True)
    return out


def section(results, runs):
    windows = [w for _, _, w, _ in results]
    steps = {}
    for _, _, _, run_steps in results:
        for name, s, inside in in_window(run_steps):
            steps.setdefault(name, (inside, []))[1].append(s)
    lines = [
        "### Link upgrade on the sandbox: the maintenance window, and its estimate",
        "",
        f"Goals: the window at most {GOAL_WINDOW:.0f} s; `pg_upgrade.check`'s estimate within "
        f"+-{GOAL_ERROR:.0%} of the measured window.",
        "",
        f"Command: `.venv/bin/python bench/pg_upgrade.py --part window --window-runs {runs}`. "
        "Each run resets the sandbox, runs `fab -H sandbox pg_upgrade.check --to 15 --method "
        "link` and `pg_upgrade.run --to 15 --method link --yes` on the sandbox's own 14/main "
        "(both apps' databases), reads the run's summary, then `sandbox/reset.sh` puts 14/main "
        "back. The window is the run's `downtime (maintenance ON->OFF)`.",
        "",
        "| step | in the window | runs | median s | min-max s |",
        "|---|---|---|---|---|",
    ]
    for name, (inside, values) in steps.items():
        lines.append(f"| {name} | {'yes' if inside else 'no'} | {len(values)} | "
                     f"{statistics.median(values):.1f} | {min(values):.1f}-{max(values):.1f} |")
    lines += ["", "| run | estimate s | measured window s | error | the estimate's rates |",
              "|---|---|---|---|---|"]
    errors = []
    for i, (est, source, window, _) in enumerate(results, 1):
        errors.append(est / window - 1)
        lines.append(f"| {i} | {est:.1f} | {window:.1f} | {errors[-1]:+.0%} | {source} |")
    window = statistics.median(windows)
    worst = max(errors, key=abs)
    lines += ["", verdict(window <= GOAL_WINDOW, f"link upgrade window, sandbox {window:.1f} s "
                                                 f"median of {len(windows)} (goal {GOAL_WINDOW:.0f} s)"),
              "", verdict(abs(worst) <= GOAL_ERROR,
                          f"pg_upgrade.check estimate vs measured: worst {worst:+.0%} over "
                          f"{len(errors)} runs (goal +-{GOAL_ERROR:.0%})")]
    return lines
