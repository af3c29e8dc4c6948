"""verify.*: the tasks (the work is in the layers below)."""
from invoke import Collection

from runbook.engine.errors import DeployError
from runbook.engine.fabcmd import fab
from runbook.engine.runner import Step
from runbook.host.connection import hosttask, positive
from runbook.ops import soak as soak_mod
from runbook.ops import verify_steps
from runbook.ops.verify import facts, pg_problem, render_status
from runbook.runbooks.plan import Run
from runbook.tasks.defaults import DEFAULTS


@hosttask
def status(c):
    """One screen of host facts: OS, disk, PostgreSQL, service, commit, migrations, maintenance, lock.
    Exits 1 when PostgreSQL does not answer (the screen is printed first)."""
    f = facts(c)
    print(render_status(c, f))
    down = pg_problem(f)
    if down:
        raise DeployError(c.mask(
            f"PostgreSQL does not answer on {c.site.name} ({down}); start it on the host (sudo "
            f"systemctl start postgresql) or fix [hosts.{c.site.name}.database] in "
            f"{c.site.inventory.path}, then rerun: {fab(c, 'verify.status')}"))


@hosttask
def audit(c):
    """The project's audit queries (deploy.toml [[audit]]): shown, and saved as JSON in backup.dir."""
    Run(c, "verify.audit", take_lock=False).execute([Step("verify.audit", verify_steps.step_audit)])


@hosttask
def post(c):
    """The project's post-deploy checks (deploy.toml [[post_checks]])."""
    Run(c, "verify.post", take_lock=False).execute([Step("verify.post", verify_steps.step_post)])


@hosttask(help={"bypass": "send the maintenance bypass header (check the app while maintenance is ON)"})
def smoke(c, bypass=False):
    """HTTP smoke checks (deploy.toml [smoke]): status codes, JSON keys, login -> token -> request."""
    results = verify_steps.smoke(c, bypass=bypass)
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    bad = [n for n, ok, _ in results if not ok]
    if bad:
        raise DeployError(f"{len(bad)} smoke check(s) failed: {', '.join(bad)}")


@hosttask(help={"kb": "how much of the end of each log file to scan, in KiB (a unit's journal, "
                      "app.journal_units: its last hour)"})
def logs(c, kb=256):
    """Scan the app and nginx logs' recent lines for red flags (deploy.toml [logs])."""
    kb = int(positive("kb", kb))
    found = verify_steps.scan_since(c, verify_steps.log_offsets(c, tail_bytes=kb * 1024))
    if not found:
        print(f"{c.site.name}: no red flags in the last {kb} KiB of each log")
        return
    for pattern, lines in found.items():
        print(f"{len(lines)} x {pattern!r}")
        for line in lines[:5]:
            print(f"    {line}")
    total = sum(len(v) for v in found.values())
    if total > c.site.inventory.project.log_max:
        raise DeployError(f"{total} red-flag log line(s); read them above and the full logs")


@hosttask(help={"minutes": "how long to watch (fractions allowed)",
                "interval": "seconds between two progress lines"})
def soak(c, minutes="10", interval="30"):
    """Watch the live app for --minutes; fail at the red flags (5xx rate, p95, connections).

    Watch the live app: 5xx rate and p95 from the nginx access log, PostgreSQL connections,
    against deploy.toml [soak] (plan red flags: >1 % errors, p95 >500 ms); fails when crossed."""
    minutes, interval = positive("minutes", minutes), positive("interval", interval)
    Run(c, "verify.soak", {"minutes": minutes}, take_lock=False).execute(
        [Step(f"soak {minutes:g} min", soak_mod.step(minutes, interval, lambda c: (
            "investigate (verify.logs); if the release is the cause, roll back: "
            + fab(c, "rollback.restore --backup=NAME --code"))), changes_host=False)])


ns = Collection("verify")
for t in (status, audit, post, smoke, logs, soak):
    ns.add_task(t)
ns.configure(DEFAULTS)
