"""deploy.*: the composite deploys, and the deploy lock's manual release.

`deploy.consolidate` is the profile-consolidation runbook (steps 1-10) as checkpoints; it stops
at the first one that fails and says what state the host is in and the command that recovers.
"""

from invoke import Collection

from . import backup, verify_steps, code_update, db, lock, maintenance, migrate, rollback, services
from .app import head
from .connection import hosttask
from .errors import CheckpointFailed, ConfigError
from .journal import Journal
from .remote import q
from .steps import Failed, Run, Step


def step_preflight(ref, json_dumps):
    def run_step(c, run):
        state = services.state(c)
        status = services.health(c)
        if status != 200 or state not in services.RUNNING:
            raise Failed(f"the app is not healthy before the deploy (service {state}, health "
                         f"{status}); fix it first", recovery="nothing was changed")
        size = int(db.psql(c, "SELECT pg_database_size(current_database());").strip())
        need = 2 * size + (size if json_dumps else 0)
        free = int(c.run(f"df -Pk {q(c.site.backup.dir)} | awk 'NR==2 {{print $4}}'",
                         hide=True).stdout.strip()) * 1024
        if free < need:
            raise Failed(f"only {free / 1e9:.2f} GB free in {c.site.backup.dir}, need "
                         f"{need / 1e9:.2f} GB (2 x database{' + JSON estimate' if json_dumps else ''})",
                         recovery="free space or move backup.dir; nothing was changed")
        code_update.fetch(c)
        name, commit = code_update.resolve(c, ref)
        run.data["target"] = (name, commit)
        run.data["before"] = head(c)
        run.data["log_offsets"] = verify_steps.log_offsets(c)
        return (f"healthy; {free / 1e9:.1f} GB free (need {need / 1e9:.2f}); {name} = {commit[:12]}"
                f" (deployed {run.data['before'][:12]})")
    return run_step


def step_code_update(c, run):
    _name, commit = run.data["target"]
    before, after = code_update.fast_forward(c, commit)
    note = code_update.record_move(c, run, before, after)
    if before != after and code_update.requirements_changed(c, before, after):
        code_update.install_requirements(c)
        note += ", requirements reinstalled"
    missing = code_update.missing_files(c, c.site.inventory.project.migration_files)
    if missing:
        raise Failed(f"expected migration files are missing after the update: {', '.join(missing)}")
    return note


def step_restart(c, run):
    took = code_update.restart_and_wait(c)
    return f"{c.site.service.app} restarted, health 200 in {took:.1f}s"


def recovery(c):
    """The exact commands that recover, from what the run has done so far."""
    def hint(run):
        name = run.data.get("backup")
        before = run.data.get("before", "")[:12]
        lines = []
        if "migrated" in run.state or "code" in run.state:
            if name:
                lines.append(f"fab -H {c.site.name} rollback.restore --backup={name} --code --yes")
                lines.append("  (restores the database AND the code to the pre-deploy state, "
                             "then turns maintenance off)")
            elif before:
                lines.append(f"fab -H {c.site.name} rollback.code --ref {before} --yes")
        if not lines and "maintenance" in run.state:
            lines.append(f"fab -H {c.site.name} maintenance.off")
        return "\n".join(lines) or f"nothing was changed; fix the cause and rerun: {run.cmd(run.task)}"
    return hint


def consolidate_steps(c, ref, json_dumps, expect):
    rec = recovery(c)
    return [
        Step("preflight", step_preflight(ref, json_dumps), recovery="nothing was changed; fix the cause and rerun"),
        Step("backup.create", backup.step_backup(json_dumps), recovery=rec),
        Step("verify.audit", verify_steps.step_audit, recovery=rec),
        Step("code update", step_code_update, recovery=rec),
        Step("migrate.check", migrate.step_check(expect), recovery=rec),
        Step("maintenance.on", maintenance.step_on, recovery=rec),
        Step("migrate.run", migrate.step_run_staged, recovery=rec),
        Step("verify.post", verify_steps.step_post, recovery=rec),
        Step("restart", step_restart, recovery=rec),
        Step("maintenance.off", maintenance.step_off, recovery=rec),
        Step("verify.smoke", verify_steps.step_smoke, recovery=rec),
        Step("verify.logs", verify_steps.step_logs, recovery=rec),
    ]


@hosttask(help={
    "ref": "git ref to deploy (default: the inventory's remote/branch head)",
    "no_json": "skip the Django JSON dumps in the backup (big databases)",
    "expect": "comma list of app.migration that must be exactly the pending ones "
              "(default: [migrations] expect in deploy.toml)",
    "auto_rollback": "on a failed checkpoint after the backup, restore it and the previous code",
})
def consolidate(c, ref="", no_json=False, expect="", auto_rollback=False):
    """The profile-consolidation deploy, in order: preflight, backup, audit, code update,
    migrate.check, maintenance on, staged migrations with invariants, verify.post, restart,
    maintenance off, smoke checks, log scan; stops at the first failed checkpoint."""
    run = Run(c, "deploy.consolidate", {"ref": ref, "no_json": no_json, "expect": expect,
                                        "auto_rollback": auto_rollback})
    try:
        run.execute(consolidate_steps(c, ref or None, not no_json, expect))
    except CheckpointFailed:
        name = run.data.get("backup")
        if not (auto_rollback and name and ("migrated" in run.state or "code" in run.state)):
            raise
        print(f"\nauto-rollback: restoring {name} and the code it was taken at")
        rollback.restore(c, name, with_code=True)
        print(f"auto-rollback: done; {c.site.name} is back on {run.data.get('before', '')[:12]} "
              f"with the pre-deploy database")
        raise CheckpointFailed(f"deploy.consolidate failed and was rolled back to {name}") from None
    print(f"  backup: {run.data.get('backup')}; rollback: fab -H {c.site.name} rollback.restore "
          f"--backup={run.data.get('backup')} --code")


@hosttask(help={"reason": "why the lock may go (recorded in the journal); required"})
def unlock(c, reason=""):
    """Remove a deploy lock left by a dead run (journaled with the reason and the old holder)."""
    if not reason.strip():
        raise ConfigError("deploy.unlock needs --reason \"...\" saying why the lock may go; "
                          "it is recorded in the journal")
    info = lock.holder(c)
    if info is None:
        print(f"{c.site.name}: no deploy lock held; nothing to do")
        return
    print(lock.describe_holder(c, info))
    journal = Journal(c, "deploy.unlock", {"reason": reason})
    journal.write({"kind": "unlock", "reason": reason, "holder": info})
    c.run(f"rm -f -- {q(lock.path(c))}", hide=True)
    journal.write({"kind": "run", "event": "end", "outcome": "ok"})
    journal.flush_remote()
    print(f"{c.site.name}: deploy lock removed (reason: {reason})")


ns = Collection("deploy", auto_dash_names=False)  # deploy.pg_upgrade, like pg_upgrade.*
ns.add_task(consolidate)
ns.add_task(unlock)
