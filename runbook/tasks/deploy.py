"""deploy.*: the tasks (the work is in the layers below)."""
from invoke import Collection

from runbook.engine import history as history_mod
from runbook.engine import last_recovery, lock
from runbook.engine import resume as resume_mod
from runbook.engine.errors import CheckpointFailed, ConfigError, Failed
from runbook.engine.fabcmd import fab, task_params
from runbook.engine.journal import Journal
from runbook.engine.output import planning
from runbook.engine.runner import ROLLING, Step
from runbook.host.connection import hosttask
from runbook.host.remote import q
from runbook.ops import leftover, switch
from runbook.runbooks import rollback
from runbook.runbooks.deploy import (
    batch_size,
    consolidate_steps,
    step_restart,
)
from runbook.runbooks.plan import ConsolidateRun, Run
from runbook.runbooks.release import ReleaseRun, check_tag_name, release_steps, tag_commit
from runbook.tasks.defaults import ACCEPT_LOCKS, ALLOW_UNGUARDED, DEFAULTS, flags


@hosttask(fleet=True, plan=True, help={
    "ref": "git ref to deploy (default: the inventory's remote/branch head)",
    "no_json": "skip the Django JSON dumps in the backup (big databases)",
    "expect": "comma list of app.migration that must be exactly the pending ones "
              "(default: [migrations] expect in deploy.toml)",
    "auto_rollback": "on a failed checkpoint after the backup, restore it and the previous code",
    "batch": "on a group: web hosts restarted at a time, each batch healthy before the next "
             "(default all: the restart is inside the maintenance window, where rolling would "
             "only make the downtime longer)",
    "plan": "print what would run (read-only checks, pending and destructive migrations, the "
            "steps and their commands) and change nothing; fab's --dry does the same",
    "allow_unguarded": ALLOW_UNGUARDED,
    "accept_locks": ACCEPT_LOCKS,
    "resume": "continue the last failed deploy.consolidate on this host from its journal, "
              "after fixing the cause: same ref and target commit, its backup kept (verified "
              "again), every other step re-checked on the host and run again where needed",
})
def consolidate(c, ref="", no_json=False, expect="", auto_rollback=False, batch="all",
                resume=False, allow_unguarded=False, accept_locks=False):
    """The profile-consolidation deploy as checkpoints; stops at the first that fails.

    In order: preflight (read-only checks), backup, audit, code update, migrate.check,
    maintenance on, staged migrations with invariants, verify.post, restart, maintenance off,
    smoke checks, log scan. On a failure it prints the host's state and the recovery command.
    --plan (or fab --dry) prints all that with the read-only checks and changes nothing.
    --resume continues a failed run after the cause is fixed, keeping its backup.
    On a group: backup, audit, migrations and checks of the data once on the primary; code,
    maintenance, smoke and log checks on all hosts at once; the restart rolling (--batch)."""
    fleet = c
    size = batch_size(batch, fleet)
    dry = planning(fleet.primary)   # --plan or fab --dry (hosttask turned Invoke's dry off)
    prior = None
    if resume:
        if dry:
            raise ConfigError("--resume and --plan (or --dry) do not go together; plan a new "
                              "deploy without --resume, or resume without --plan")
        prior = resume_mod.find(fleet.primary, "deploy.consolidate")
        given = resume_mod.merge_args(prior, {"ref": ref, "no_json": no_json, "expect": expect},
                                      {"ref": "", "no_json": False, "expect": ""})
        ref, no_json, expect = given["ref"], given["no_json"], given["expect"]
        if prior.changed_nothing:
            print(f"run {prior.run_id} stopped at {prior.failed_step} before changing anything; "
                  "running it again from the start")
            prior = None
    # --plan: the same steps, each shown with its commands after the read-only checks
    run = ConsolidateRun(fleet, "deploy.consolidate", {"ref": ref, "no_json": no_json, "expect": expect,
                                            "auto_rollback": auto_rollback, "batch": size,
                                            **flags(allow_unguarded=allow_unguarded,
                                                    accept_locks=accept_locks),
                                            **({"resume": prior.run_id} if prior else {})},
              batch=size, resume=prior)
    try:
        run.execute(consolidate_steps(fleet, ref or None, not no_json, expect))
    except CheckpointFailed:
        name, before = run.data.backup, run.data.before
        state = run.overview().state
        if auto_rollback and name and "migrated" in state:
            print(f"\nauto-rollback: restoring {name} and the code it was taken at")
            rollback.restore(fleet, name, with_code=True)
            print(f"auto-rollback: done; {fleet.name} is back on {before[:12]} "
                  f"with the pre-deploy database")
            raise CheckpointFailed(f"deploy.consolidate failed and was rolled back to {name}") from None
        if auto_rollback and before and "code" in state:
            print(f"\nauto-rollback: nothing was migrated; moving the code back to {before[:12]}")
            rollback.code_to(fleet, before, maintenance_off=True)
            raise CheckpointFailed(f"deploy.consolidate failed; the code was moved back to "
                                   f"{before[:12]} (the database was not changed)") from None
        raise
    print(f"  backup: {run.data.backup}; rollback: "
          f"{run.cmd('rollback.restore --backup=' + run.data.backup + ' --code')}")


@hosttask(fleet=True, plan=True, help={
    "batch": "web hosts restarted at a time; each batch answers 200 before the next (default 1)",
})
def restart(c, batch="1"):
    """Rolling restart of the web hosts, --batch at a time, each healthy before the next.

    Restart the app on every web host of the group, a batch at a time, each back to a healthy
    200 before the next batch (on one host: restart and wait for health). With
    service.restart = "reload" each host reloads (gunicorn HUP) instead, and with
    health.revision_key it must serve the commit on disk."""
    fleet = c
    size = batch_size(batch, fleet)
    Run(fleet, "deploy.restart", {"batch": size}, batch=size).execute([
        Step("restart", step_restart, where=ROLLING, role="web")])


@hosttask(help={"reason": "why the lock may go (recorded in the journal); required",
                "stop": "end the dead run's commands still running on the host first (TERM, "
                        "then KILL after 10s), by pid"})
def unlock(c, reason="", stop=False):
    """Remove a deploy lock left by a dead run (journaled with the reason and the old holder).

    Refused while commands of that run still run on the host (a run that lost its connection):
    wait for them, or end them with --stop. Prints the --resume that finishes the run, or for
    a task with no --resume the recovery its journal last recorded (the host state, the commands)."""
    if not reason.strip():
        raise ConfigError("deploy.unlock needs --reason \"...\" saying why the lock may go; "
                          "it is recorded in the journal")
    info = lock.holder(c)
    if info is None:
        print(f"{c.site.name}: no deploy lock held; nothing to do")
        return
    print(lock.describe_holder(c, info))
    run_id = str(info.get("run", ""))
    still = leftover.running(c, run_id) if run_id else []
    if still and not stop:
        raise Failed(f"run {run_id}'s commands still run on {c.site.name}: "
                     + "; ".join(still) + "; wait for them to end and run this again, or end "
                     f"them: {fab(c, f'deploy.unlock --reason {q(reason)} --stop')}")
    ended = leftover.stop(c, run_id) if still else []
    for line in ended:
        print(f"{c.site.name}: run {run_id}'s process {line}")
    if left := [line.split()[0] for line in ended if " left " in line]:
        raise Failed(f"run {run_id}'s process(es) {', '.join(left)} still run on {c.site.name}: "
                     "root's (a sudo command: pg_upgradecluster, pg_ctlcluster, ...) or another "
                     "user's, which the tool cannot end; wait for them to end (ps -o "
                     f"pid,user,etimes,args -p {','.join(left)}), then run this again")
    print(f"{c.site.name}: no command of run {run_id} still runs on the host")
    journal = Journal(c, "deploy.unlock", {"reason": reason, "stop": stop})
    journal.write({"kind": "unlock", "reason": reason, "holder": info, "ended": ended})
    c.run(f"rm -f -- {q(lock.path(c))}", hide=True)
    journal.write({"kind": "run", "event": "end", "outcome": "ok"})
    journal.flush_remote()
    print(f"{c.site.name}: deploy lock removed (reason: {reason})")
    task = str(info.get("task", ""))
    if "resume" in (task_params(task) or {}):   # a dead run of a resumable composite
        print(f"{c.site.name}: to go on from where run {run_id} stopped: "
              f"{fab(c, f'{task} --resume')}; to see what it did: "
              f"{fab(c, f'deploy.show --run {run_id}')}")
    elif run_id:
        print_last_recovery(c, run_id, info)


def print_last_recovery(c, run_id, holder):
    """What a run without --resume that left its lock printed, or would have printed where it
    died: its end record (a lost connection ends a run with its lock kept), else its last
    recovery record (engine/last_recovery.py), in the local journal of the machine it ran from."""
    run = history_mod.runs(history_mod.records(c)).get(run_id, {})
    end = run.get("end") or {}
    if end.get("outcome") == "ok":
        print(f"{c.site.name}: run {run_id} had ended ok; nothing to recover")
        return
    said = ({"step": end.get("failed_step", "?"), "state": end.get("state") or [],
             "text": "\n".join(line for line in str(end.get("recovery", "")).splitlines()
                                if "deploy.unlock" not in line)} if end   # done now
            else last_recovery.last(run.get("other", []), run_id))
    if said is None:
        print(f"{c.site.name}: run {run_id}'s last host state and recovery are in the journal "
              f"beside its inventory on {holder.get('machine', 'the machine it ran from')} "
              "(.deploy-journal/); not here: check the host's state before another run")
        return
    print(f"{c.site.name}: run {run_id} stopped in {said['step']} (its journal's "
          f"{'end' if end else 'last word'}). Host state:")
    for line in said["state"] or ["no change was made to the host by this run"]:
        print(f"  - {line}")
    print("Recover with:")
    for line in said["text"].splitlines():
        print(f"  {line}")


@hosttask(help={"limit": "how many runs to list, the newest last (default 20)"})
def history(c, limit="20"):
    """List the runs on this host from its journal (who, task, code, result, downtime).

    The runs on this host, from its journal: when, run id, who, task, code before -> after,
    result, downtime, backup."""
    if not str(limit).isdigit() or int(limit) < 1:
        raise ConfigError(f"--limit {limit!r} must be a whole number, 1 or more")
    print(history_mod.history_text(c, int(limit)))


@hosttask(help={"run": "the run id, from deploy.history (required): --run 20261121-074618-5ec9"})
def show(c, run=""):
    """Show one run from the host's journal: its steps, its commands, where it stopped.

    One run from the host's journal: its steps with outcome and detail, every command with
    its exit code and duration, and where it stopped with the recovery it printed."""
    print(history_mod.show_text(c, run))


@hosttask(plan=True, name="release", help={
    "ref": "branch, tag or commit to deploy (default: the inventory's remote/branch head)",
    "allow_unguarded": ALLOW_UNGUARDED,
    "accept_locks": ACCEPT_LOCKS,
    "no_window": "never turn maintenance on: the new code boots beside the app ([switch]) and "
                 "the old code serves through the migrations; refused when a migration would "
                 "break the old code or lock over [migrations] lock_budget_live"})
def release(c, ref="", allow_unguarded=False, accept_locks=False, no_window=False):
    """Deploy a ref the upgrade plan's way: backup, checks, migrate, restart, smoke.

    Deploy a ref (the upgrade plan's staging/production flow): backup, checkout, dependencies,
    check --deploy, makemigrations --check, migrate --plan, maintenance, workers, migrate,
    restart, smoke, logs; stops at the first failed checkpoint."""
    if no_window and not switch.enabled(c):
        raise ConfigError(f"--no-window needs a [switch] table for {c.site.name} in the hosts "
                          "file (a second copy of the app to boot the new code in); without "
                          "one the app restarts in place, inside a maintenance window")
    run = ReleaseRun(c, "deploy.release", {"ref": ref, **flags(
        allow_unguarded=allow_unguarded, accept_locks=accept_locks, no_window=no_window)})
    run.execute(release_steps(c, ref or None))
    print(f"  backup: {run.data.backup}; rollback: "
          + run.cmd(f"rollback.restore --backup={run.data.backup} --code"))


@hosttask(name="tag", help={"name": "tag to create, e.g. v0.1.9-pre-upgrade (required)",
                            "ref": "what to tag (default: the deployed commit, HEAD)"})
def tag(c, name="", ref="HEAD"):
    """Tag the deployed commit (the plan's pre-upgrade release tag) and push the tag to the remote."""
    print(f"{c.site.name}: {tag_commit(c, check_tag_name(name), ref)}")


ns = Collection("deploy", auto_dash_names=False)  # deploy.pg_upgrade, like pg_upgrade.*
ns.add_task(consolidate)
ns.add_task(restart)
ns.add_task(unlock)
ns.add_task(history)
ns.add_task(show)
ns.add_task(release)
ns.add_task(tag)
from runbook.tasks.pg_upgrade import deploy_pg_upgrade  # noqa: E402 - a deploy.* task

ns.add_task(deploy_pg_upgrade)   # the upgrade plan's Phase 8 in one run
ns.configure(DEFAULTS)
