"""The generated fault matrices' shared parts (tests/integration/test_ctrl_c_matrix.py, Ctrl-C at
every step; test_kill_matrix.py, kill -9 at every step): the sandbox apps, the host's state read
without the tool (site, data, locks, processes of a run), the composite's steps read from its own
`--plan`, and the commands a run printed, to run word for word."""
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ledger import ledger_fab
from tests.support.sandbox import INVOKE, ROOT, Fab, deploy_data, make_inventory, run_processes

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


def app_fab(home, tmp_path, app):
    """`fab` with an inventory for the app: the ledger's with its release consents."""
    return (ledger_fab(home, tmp_path, release=True) if app is LEDGER
            else Fab(home, make_inventory(tmp_path / "inv")))


def pg_run(method):
    return ["pg_upgrade.run", "--to", "15", "--method", method, "--yes"]


# --- the host's state, read without the tool ----------------------------------------------
def site_ok(app):
    req = urllib.request.Request(app.site, headers=app.headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


# each smoke-contract login adds a token, and a recovery may run the smoke checks once more (a
# --resume, the upgrade's preflight): not data a fault may lose, so not compared
LOGIN_TOKENS = {"accounts_apitoken", "people_apitoken"}


def data(app, db, ldb):
    """{db: deploy_data but the login tokens}: the fixtures connect (a closure: no password in a
    failure's report)."""
    out = {}
    for name in app.dbs:
        with (ldb() if name == "ledger" else db(name)) as conn:
            out[name] = {t: v for t, v in deploy_data(conn).items() if t not in LOGIN_TOKENS}
    return out


def differing(now, good):
    """The tables that equal no known-good state: "db.table (rows now; rows in each state)"."""
    out = []
    for name, tables in now.items():
        for t in sorted(set(tables) | {t for g in good for t in g.get(name, {})}):
            states = [g.get(name, {}).get(t) for g in good]
            if tables.get(t) not in states:
                rows = [s if not isinstance(s, tuple) else s[0] for s in [tables.get(t), *states]]
                out.append(f"{name}.{t} ({rows[0]} rows; {', '.join(map(str, rows[1:]))} known)")
    return out


def wanted(n):
    """The steps to run: all, or those MATRIX_STEPS names ("1,20") to replay a failure."""
    picked = os.environ.get("MATRIX_STEPS", "")
    return [int(k) for k in picked.split(",") if k.strip()] or list(range(1, n + 1))


def locks():
    return [d for d in LOCKS if Path(d, "deploy.lock").exists()]


def reset():
    r = subprocess.run([str(INVOKE), "sandbox.reset"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def printed_commands(out):
    text = out.split("Recover with:", 1)[1] if "Recover with:" in out else ""
    return [m.group(1) for m in map(COMMAND.search, text.splitlines()) if m]


# --- one composite, a fault at each of its steps ---------------------------------------------
def plan_steps(fab, app, argv):
    """[name] of the composite's steps, read from its `--plan` (exit code aside: a plan whose
    check fails still lists the steps)."""
    r = fab("-H", app.host, *argv, "--plan")
    steps = re.findall(r"^\s+\d+\. (.+?) \[", r.stdout, re.M)
    assert steps, r.stdout + r.stderr
    return steps


def prepare(fab, app, argv, pre):
    """Reset, the smoke contract once (it writes: a login token, a profile field; so each state
    already holds what a run's or a recovery's smoke checks write again), then the precondition;
    the composite's argv with its backup filled in."""
    reset()
    smoke = fab("-H", app.host.replace("-group", ""), "verify.smoke")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    backup = ""
    if pre:
        r = fab("-H", app.host, *pre)
        assert r.returncode == 0, r.stdout + r.stderr
        found = BACKUP.search(r.stdout)
        backup = found.group(1) or found.group(2) if found else ""
        assert backup or "{backup}" not in " ".join(argv), r.stdout
    return [a.replace("{backup}", backup) for a in argv]




def leftovers(run_id, problems, wait=30):
    """Add to `problems` what the run `run_id` left: its processes (after up to `wait` s), a lock."""
    deadline = time.monotonic() + wait
    while run_id and run_processes(run_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    if run_id and run_processes(run_id):
        problems.append(f"processes of run {run_id} left: {run_processes(run_id)}")
    if locks():
        problems.append(f"deploy lock left in {locks()}")


def every_step(fab, app, argv, pre, db, ldb, fault):
    """The matrix of one (composite, app): the known-good states from a clean run, then for each
    step (or those MATRIX_STEPS names) `fault(run_argv, step, k, n)` -> (problems, out, summary),
    then the site and the data checked. {"[k/n] step": problems} of the steps that failed."""
    run_argv = prepare(fab, app, argv, pre)
    steps = plan_steps(fab, app, run_argv)        # read-only: then the clean run, for the
    good = [data(app, db, ldb)]                   # known-good states (before it, after it)
    clean = fab("-H", app.host, *run_argv)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    good.append(data(app, db, ldb))
    failures = {}
    for k, step in enumerate(steps, 1):
        if k not in wanted(len(steps)):
            continue
        run_argv = prepare(fab, app, argv, pre)
        # the data before this run: a reset after a link upgrade provisions 14/main and seeds it
        # again (new password salts), so each step's own "before" is a known-good state too
        before = data(app, db, ldb)
        problems, out, summary = fault(run_argv, step, k, len(steps))
        if not site_ok(app):
            problems.append(f"{app.site} does not answer 200")
        now = data(app, db, ldb)
        if now not in [before, *good]:
            problems.append("the data equals neither the state before nor after a clean run: "
                            + "; ".join(differing(now, [before, *good])))
        print(f"[{k}/{len(steps)}] {step}: {summary}", flush=True)
        if problems:
            failures[f"[{k}/{len(steps)}] {step}"] = problems + [out[-1500:]]
    reset()
    return failures
