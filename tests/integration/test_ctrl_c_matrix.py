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
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.ledger import ledger_fab
from tests.support.sandbox import (
    INVOKE,
    ROOT,
    Fab,
    Watch,
    deploy_data,
    make_inventory,
    run_processes,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.matrix, pytest.mark.timeout(1200)]

# a recovery line is a command, or prose ending in one ("..., then rerun: fab -H ..."), or two
# alternatives ("retry: fab -H ..., or fab -H ..."): the first command of each line is run
COMMAND = re.compile(r"(fab -H .*?)(?:, or fab -H |$)")
RUN_ID = re.compile(r"\(run (\d{8}-\d{6}-[0-9a-f]{4})\)")
BACKUP = re.compile(r"backup:? (\d{8}-\d{6}-[0-9a-f]{4})|backup\s+ok\s+\S+\s+(\d{8}-\d{6}-[0-9a-f]{4})")
LOCKS = ["/srv/recorder/backups", "/srv/recorder-2/backups", "/srv/recorder-3/backups",
         "/srv/recorder-4/backups", "/srv/ledger/backups"]


@dataclass
class App:
    host: str
    site: str                      # a page that answers 200 when the app serves
    dbs: tuple                     # its databases: "ledger", or those of the recorder role
    headers: dict = field(default_factory=dict)


RECORDER = App("sandbox", "http://127.0.0.1:8080/workshops/",
               ("recorder", "recorder_seed_v1"))
GROUP = App("sandbox-group", RECORDER.site, RECORDER.dbs)
LEDGER = App("sandbox-ledger", "http://127.0.1.1:8080/health/",
             ("ledger",),
             {"Host": "ledger.sandbox.test", "X-Forwarded-Proto": "https"})


def pg_run(method):
    return ["pg_upgrade.run", "--to", "15", "--method", method, "--yes"]


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


# --- the host's state, read without the tool ----------------------------------------------
def site_ok(app):
    req = urllib.request.Request(app.site, headers=app.headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def data(app, db, ldb):
    """{db: deploy_data}: the fixtures connect (a closure: no password in a failure's report)."""
    out = {}
    for name in app.dbs:
        with (ldb() if name == "ledger" else db(name)) as conn:
            out[name] = deploy_data(conn)
    return out


def locks():
    return [d for d in LOCKS if Path(d, "deploy.lock").exists()]


def reset():
    r = subprocess.run([str(INVOKE), "sandbox.reset"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def printed_commands(out):
    text = out.split("Recover with:", 1)[1] if "Recover with:" in out else ""
    return [m.group(1) for m in map(COMMAND.search, text.splitlines()) if m]


# --- one composite under Ctrl-C -----------------------------------------------------------
def plan_steps(fab, app, argv):
    """[name] of the composite's steps, read from its `--plan` (exit code aside: a plan whose
    check fails still lists the steps)."""
    r = fab("-H", app.host, *argv, "--plan")
    steps = re.findall(r"^\s+\d+\. (.+?) \[", r.stdout, re.M)
    assert steps, r.stdout + r.stderr
    return steps


def prepare(fab, app, argv, pre):
    """Reset, then the precondition; the composite's argv with its backup filled in."""
    reset()
    backup = ""
    if pre:
        r = fab("-H", app.host, *pre)
        assert r.returncode == 0, r.stdout + r.stderr
        found = BACKUP.search(r.stdout)
        backup = found.group(1) or found.group(2) if found else ""
        assert backup or "{backup}" not in " ".join(argv), r.stdout
    return [a.replace("{backup}", backup) for a in argv]


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
    deadline = time.monotonic() + 30
    while run and run_processes(run.group(1)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if run and run_processes(run.group(1)):
        problems.append(f"processes of run {run.group(1)} left: {run_processes(run.group(1))}")
    if locks():
        problems.append(f"deploy lock left in {locks()}")
    return problems, out, r.returncode


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_ctrl_c_at_every_step(home, sandbox, db, ldb, tmp_path, case):
    _id, app, argv, pre = case
    fab = (ledger_fab(home, tmp_path, release=True) if app is LEDGER
           else Fab(home, make_inventory(tmp_path / "inv")))
    run_argv = prepare(fab, app, argv, pre)
    steps = plan_steps(fab, app, run_argv)        # read-only: then the clean run, for the
    good = [data(app, db, ldb)]                   # known-good states (before it, after it)
    clean = fab("-H", app.host, *run_argv)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    good.append(data(app, db, ldb))
    failures = {}
    for k, step in enumerate(steps, 1):
        run_argv = prepare(fab, app, argv, pre)
        problems, out, code = interrupted(fab, app, run_argv, step, k, len(steps))
        if not site_ok(app):
            problems.append(f"{app.site} does not answer 200")
        if data(app, db, ldb) not in good:
            problems.append("the data equals neither the state before nor after a clean run")
        stopped = re.search(r"Stopped at checkpoint '([^']+)'", out)
        print(f"[{k}/{len(steps)}] {step}: exit {code}, stopped at "
              f"{stopped.group(1) if stopped else '-'}, {len(printed_commands(out))} recovery commands")
        if problems:
            failures[f"[{k}/{len(steps)}] {step}"] = problems + [out[-1500:]]
    reset()
    assert not failures, "\n".join(f"{s}: {p}" for s, p in failures.items())
