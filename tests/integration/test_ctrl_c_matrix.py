"""Ctrl-C at every step of every composite that changes production (issue 21), on each sandbox app
where the composite applies. deploy.consolidate's own per-step cases are in test_faults.py.

The steps come from the composite's own `--plan` ("  k. name [host] - ..."), so a new step is
covered without a new test. Per (composite, app): one clean run gives the known-good states (before
it, after it); then for each step k: reset, the precondition, the run with SIGINT once
"[k/N] name ..." shows, the printed "Recover with:" commands word for word; then the run exited
non-zero, no deploy lock is left, no process of the run (RB_RUN=<run id>) is left, the site
answers 200, and every table equals a known-good state. Every step's problems are collected and
asserted at the end. Long: `make faults` runs them, `make test` deselects the `matrix` marker.
"""
import re
import shlex
import signal

import pytest

from tests.support.matrix import (
    GROUP,
    LEDGER,
    RECORDER,
    RUN_ID,
    app_fab,
    every_step,
    leftovers,
    pg_run,
    printed_commands,
)
from tests.support.sandbox import Watch

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.matrix, pytest.mark.timeout(1200)]

# (id, app, the composite's argv ({backup}: the precondition's backup), the precondition's argv)
CASES = [
    ("release-recorder", RECORDER, ["deploy.release", "--ref", "v2"], None),
    ("release-ledger", LEDGER, ["deploy.release", "--ref", "v2"], None),
    ("restore-recorder", RECORDER, ["rollback.restore", "--backup={backup}", "--yes"],
     ["backup.create", "--no-json"]),
    ("restore-ledger", LEDGER, ["rollback.restore", "--backup={backup}", "--yes"],
     ["backup.create", "--no-json"]),
    ("code-recorder", RECORDER, ["rollback.code", "--ref", "v1", "--yes"], None),
    ("code-ledger", LEDGER, ["rollback.code", "--ref", "v1", "--yes"], None),
    ("pg-link-recorder", RECORDER, pg_run("link"), None),
    ("pg-copy-recorder", RECORDER, pg_run("copy"), None),
    ("pg-dump-recorder", RECORDER, pg_run("dump"), None),
    ("pg-link-ledger", LEDGER, pg_run("link"), None),
    ("pg-rollback-recorder", RECORDER, ["pg_upgrade.rollback", "--yes"], pg_run("copy")),
    ("pg-rollback-ledger", LEDGER, ["pg_upgrade.rollback", "--yes"], pg_run("link")),
    ("restart-group", GROUP, ["deploy.restart", "--batch", "1"], None),
]


# --- one composite under Ctrl-C -----------------------------------------------------------
def interrupted(fab, app, argv, step, k, n):
    """Problems of one run with Ctrl-C at step k (1-based) of n, recovered as printed."""
    w = Watch(fab, "-H", app.host, *argv)
    w.when(f"[{k}/{n}] {step} ...", lambda: w.proc.send_signal(signal.SIGINT)).start()
    r = w.finish(timeout=600)
    out, problems = r.stdout, []
    if not w.fired:
        return [f"'[{k}/{n}] {step} ...' never showed"], out, r.returncode
    if r.returncode == 0:
        problems.append("exit 0 after Ctrl-C")
    for cmd in printed_commands(out):
        rr = fab(*shlex.split(cmd)[1:], hosts_file=False)
        if rr.returncode != 0:
            problems.append(f"recovery `{cmd}` exit {rr.returncode}: {(rr.stdout + rr.stderr)[-300:]}")
    run = RUN_ID.search(out)
    if not run:
        problems.append("no run id printed")
    leftovers(run and run.group(1), problems)
    stopped = re.search(r"Stopped at checkpoint '([^']+)'", out)
    return problems, out, (f"exit {r.returncode}, stopped at {stopped.group(1) if stopped else '-'}, "
                           f"{len(printed_commands(out))} recovery commands")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_ctrl_c_at_every_step(home, sandbox, db, ldb, tmp_path, case):
    _id, app, argv, pre = case
    fab = app_fab(home, tmp_path, app)
    failures = every_step(fab, app, argv, pre, db, ldb,
                          lambda run_argv, step, k, n: interrupted(fab, app, run_argv, step, k, n))
    assert not failures, "\n".join(f"{s}: {p}" for s, p in failures.items())
