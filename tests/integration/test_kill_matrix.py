"""kill -9 of `fab` (a closed laptop, an OOM kill) at every step of deploy.consolidate and of
pg_upgrade.run (each method), on both sandbox apps (issue 21).

The steps come from the composite's own `--plan`, as in test_ctrl_c_matrix.py (tests/support/
matrix.py). For each step k: reset, SIGKILL to fab once "[k/N] name ..." shows (it prints
nothing more); then what an operator does, word for word: the same command again, which must be
refused naming the lock STALE and the `deploy.unlock` that removes it; that unlock, which must find
no command of the dead run still running; then what it printed: the `--resume` of a resumable
composite, or the recovery the dead run's journal last recorded (engine/last_recovery.py), each
command run as printed. Then: no lock, no process of the dead run, the site answers 200, and every
table equals a known-good state. Long: `make faults` runs them; `make test` deselects `matrix`.
"""
import re
import shlex
import signal

import pytest

from tests.support.matrix import (
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

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.matrix,
              pytest.mark.timeout(3600)]

# (id, app, the composite's argv)
CASES = [
    ("consolidate-recorder", RECORDER, ["deploy.consolidate", "--no-json"]),
    ("consolidate-ledger", LEDGER, ["deploy.consolidate", "--ref", "v2", "--no-json"]),
    ("pg-link-recorder", RECORDER, pg_run("link")),
    ("pg-copy-recorder", RECORDER, pg_run("copy")),
    ("pg-dump-recorder", RECORDER, pg_run("dump")),
    ("pg-link-ledger", LEDGER, pg_run("link")),
]


def killed(fab, app, argv, step, k, n):
    """Problems of one run killed at step k (1-based) of n, recovered as the tool then says."""
    w = Watch(fab, "-H", app.host, *argv)
    w.when(f"[{k}/{n}] {step} ...", lambda: w.proc.send_signal(signal.SIGKILL)).start()
    r = w.finish(timeout=900)
    out, problems = r.stdout, []
    if not w.fired or r.returncode != -signal.SIGKILL:
        return [f"not killed at '[{k}/{n}] {step} ...' (exit {r.returncode})"], out, "-"
    dead = RUN_ID.search(out).group(1)
    leftovers(dead, [], wait=60)   # its commands end with its SSH session (the kernel closed it)

    again = fab("-H", app.host, *argv)
    said = again.stdout + again.stderr
    if again.returncode != 4 or "STALE" not in said or dead not in said:
        return problems + [f"the next run was not refused naming run {dead} STALE: "
                           f"exit {again.returncode}"], out + said, "-"
    unlock = said.split("if it is dead run: ", 1)[1].strip().splitlines()[0]
    u = fab(*shlex.split(unlock)[1:], hosts_file=False)
    out += "\n--- " + unlock + "\n" + u.stdout + u.stderr
    if u.returncode != 0 or f"no command of run {dead} still runs on the host" not in u.stdout:
        return problems + [f"`{unlock}` exit {u.returncode}"], out, "-"
    resume = re.search(r"to go on from where run \S+ stopped: (fab -H .*?); to see", u.stdout)
    if not resume and "Recover with:" not in u.stdout:
        problems.append(f"`{unlock}` printed neither a --resume nor the dead run's recovery")
    then = [resume.group(1)] if resume else printed_commands(u.stdout)
    for cmd in then:
        rr = fab(*shlex.split(cmd)[1:], hosts_file=False)
        out += "\n--- " + cmd + "\n" + rr.stdout[-2000:] + rr.stderr
        if rr.returncode != 0:
            problems.append(f"`{cmd}` exit {rr.returncode}: {(rr.stdout + rr.stderr)[-300:]}")
    leftovers(dead, problems)
    return problems, out, f"killed, unlocked, then {len(then)} command(s): " + \
        ", ".join(c.split()[3] for c in then)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kill_at_every_step(home, sandbox, db, ldb, tmp_path, case):
    _id, app, argv = case
    fab = app_fab(home, tmp_path, app)
    failures = every_step(fab, app, argv, None, db, ldb,
                          lambda run_argv, step, k, n: killed(fab, app, run_argv, step, k, n))
    assert not failures, "\n".join(f"{s}: {p}" for s, p in failures.items())
