"""pg_upgrade.*: the tasks (the work is in the layers below)."""
from invoke import Collection

from runbook.engine.confirm import confirm
from runbook.engine.errors import ConfigError, DeployError
from runbook.engine.fabcmd import fab
from runbook.engine.journal import new_run_id
from runbook.engine.runner import Step
from runbook.host.connection import hosttask
from runbook.host.remote import read_text
from runbook.ops import soak
from runbook.postgres import clusters, upgrade_check
from runbook.postgres import compose_upgrade as plan_mod
from runbook.postgres.upgrade_check import read_state, state_path
from runbook.runbooks.compose_run import _step, config, new_image_for, recovery
from runbook.runbooks.pg_upgrade import check_method, check_version, run_steps, step_tag
from runbook.runbooks.pg_upgrade_cleanup import cleanup_steps
from runbook.runbooks.pg_upgrade_rollback import finish_steps, rollback_steps, unfinished
from runbook.runbooks.plan import Run, UpgradeRun
from runbook.tasks.defaults import DEFAULTS


@hosttask(help={"to": "the PostgreSQL major version to upgrade to (e.g. 15)",
                "method": "show only this method's space and downtime (dump, copy or link)"})
def check(c, to="", method=""):
    """Read-only: can the app's cluster be upgraded to --to N, and how long would it take?

    Can the app's cluster be upgraded to --to N? Binaries, pg_upgrade --check, target cluster,
    extensions, disk space and downtime per method. Changes nothing."""
    to = check_version(to)
    if method:
        check_method(method)
    rep = upgrade_check.run(c, to, method or None)
    print(f"{c.site.name}: pg_upgrade.check --to {to}")
    print(upgrade_check.render(rep))
    if rep.problems:
        raise DeployError(f"{c.site.name} cannot be upgraded to {to} yet: "
                          + "; ".join(rep.problems))
    print(f"{c.site.name}: ready; run "
          f"{fab(c, 'pg_upgrade.run', to=to, method=method or 'dump')}")


@hosttask(plan=True, name="run", help={
    "to": "the PostgreSQL major version to upgrade to (e.g. 15)",
    "method": "dump (default, safest: the old cluster is untouched), copy (pg_upgrade copies the "
              "files) or link (fastest; the old cluster becomes unusable: needs this run's "
              "verified backup and restore drill)",
    "drop_empty_target": "drop an EMPTY pre-created target cluster first (never one with data)",
    "yes": "do not ask for confirmation"})
def run_task(c, to="", method="dump", drop_empty_target=False, yes=False):
    """Upgrade the app's PostgreSQL cluster to --to N, proved by table fingerprints.

    Upgrade the app's PostgreSQL cluster to --to N with backup, maintenance, fingerprints
    before/after, smoke contract; the old cluster is kept for pg_upgrade.rollback."""
    to, method = check_version(to), check_method(method)
    confirm(f"upgrade PostgreSQL on {c.site.name} to {to} by {method} (the app is down meanwhile)?",
            yes)
    run = UpgradeRun(c, "pg_upgrade.run", {"to": to, "method": method,
                                    "drop_empty_target": drop_empty_target})
    run.execute(run_steps(c, to, method, drop_empty_target))
    print(f"  PostgreSQL {run.data.upgrade['version']} serves {c.site.database.name}; backup "
          f"{run.data.backup}; to go back: {fab(c, 'pg_upgrade.rollback')}")


@hosttask(plan=True, help={"yes": "do not ask for confirmation"})
def rollback(c, yes=False):
    """Undo the last pg_upgrade.run: back to the old major version, the data proved equal.

    Undo the last pg_upgrade.run: the kept old cluster back on the app's port (dump/copy), or the
    run's verified backup restored into a fresh old-version cluster (link); fingerprints proved."""
    state = read_state(c)
    if not state:
        raise ConfigError(f"no pg_upgrade.run recorded on {c.site.name} ({state_path(c)} is "
                          "missing); nothing to roll back")
    if unfinished(state):   # a rollback stopped after its proof: its rerun finishes it
        print(f"{c.site.name}: the upgrade {state['run']} was rolled back by run "
              f"{state.get('rolled_back_by')}, which stopped before the app served again: start "
              "the app, its smoke contract, maintenance off")
        confirm(f"finish the rollback on {c.site.name}?", yes)
        Run(c, "pg_upgrade.rollback", {"upgrade": state["run"]}).execute(finish_steps(state))
        return
    if state.get("phase") == "rolled back":
        print(f"{c.site.name}: nothing to do: the upgrade {state['run']} was already rolled back")
        return
    how = ("restore backup " + state["backup"] + " into a fresh " + state["from"] + " cluster"
           if state["method"] == "link" else "restart the kept " + state["from"] + " cluster")
    print(f"{c.site.name}: roll back the {state['from']} -> {state['to']} upgrade {state['run']} "
          f"({state['method']}): {how}; the {state['to']} cluster is kept, stopped")
    confirm(f"roll PostgreSQL on {c.site.name} back to {state['from']}?", yes)
    Run(c, "pg_upgrade.rollback", {"upgrade": state["run"]}).execute(rollback_steps(c, state))
    print(f"  the {state['to']} cluster is kept, stopped; once its writes are not needed, back it "
          f"up and drop it (a new upgrade needs that): {fab(c, 'pg_upgrade.cleanup')}")


@hosttask(plan=True, name="pg_upgrade", help={
    "to": "the PostgreSQL major version to upgrade to (e.g. 15)",
    "method": "dump (default), copy or link (see pg_upgrade.run)",
    "tag": "first tag the deployed commit with this name and push it (e.g. v0.1.9-pre-upgrade)",
    "soak_minutes": "after the upgrade, watch the app this long against the red flags (0 = skip)",
    "drop_empty_target": "drop an EMPTY pre-created target cluster first",
    "yes": "do not ask for confirmation"})
def deploy_pg_upgrade(c, to="", method="dump", tag="", soak_minutes="0", drop_empty_target=False,
                      yes=False):
    """The plan's Phase 8 in one run: tag, pg_upgrade.run, then a soak.

    The plan's Phase 8 as one run: tag the release, then pg_upgrade.run's checkpoints, then a
    soak against the red flags; any failure prints the command that goes back."""
    from runbook.host.connection import positive
    from runbook.runbooks.release import check_tag_name
    to, method = check_version(to), check_method(method)
    minutes = 0.0 if str(soak_minutes) == "0" else positive("soak_minutes", soak_minutes)
    if tag:
        check_tag_name(tag)
    confirm(f"upgrade PostgreSQL on {c.site.name} to {to} by {method} (the app is down meanwhile)?",
            yes)
    steps = ([Step("tag release", step_tag(tag), changes_host=False)] if tag else []) + \
        run_steps(c, to, method, drop_empty_target) + \
        ([Step(f"soak {minutes:g} min", soak.step(minutes, min(30.0, minutes * 60), lambda c: (
            f"{fab(c, 'pg_upgrade.rollback', yes=True)}  (back to the old cluster; writes "
            "since the upgrade stay in the new one)")), changes_host=False)] if minutes else [])
    run = UpgradeRun(c, "deploy.pg_upgrade", {"to": to, "method": method, "tag": tag,
                                       "soak_minutes": minutes})
    run.execute(steps)
    print(f"  to go back: {fab(c, 'pg_upgrade.rollback')}")


@hosttask(help={"yes": "do not ask for confirmation"})
def cleanup(c, yes=False):
    """Back up, then drop, the newer cluster that pg_upgrade.rollback kept (so an upgrade can rerun).

    After pg_upgrade.rollback the newer cluster is kept, stopped, with any writes made on it: a
    new pg_upgrade.run refuses while it exists. This dumps its databases into a backup, drops it."""
    state = read_state(c) or {}
    if state.get("phase") != "rolled back":
        raise ConfigError(f"no rolled-back pg_upgrade.run on {c.site.name} ({state_path(c)}: "
                          f"{state.get('phase', 'missing')}); cleanup only drops the cluster a "
                          "pg_upgrade.rollback kept")
    if unfinished(state):
        raise ConfigError(f"the rollback on {c.site.name} stopped before the app served again; "
                          f"finish it first: {fab(c, 'pg_upgrade.rollback', yes=True)}")
    kept = clusters.find(clusters.listing(c), state["to"], state["cluster"])
    if kept is None:
        print(f"{c.site.name}: nothing to do: no {state['to']}/{state['cluster']} cluster")
        return
    if kept.port == int(state["port"]):
        raise ConfigError(f"{kept.id} is on the app's port {kept.port}; it is not the cluster a "
                          f"rollback kept: check pg_lsclusters on {c.site.name}")
    print(f"{c.site.name}: back up every database of {kept.id} ({kept.status}, port {kept.port}; "
          f"kept by the rollback of {state['run']}) into {c.site.backup.dir}, then drop it")
    confirm(f"drop the PostgreSQL {kept.id} cluster on {c.site.name} after its backup?", yes)
    Run(c, "pg_upgrade.cleanup", {"cluster": kept.id}).execute(cleanup_steps(c, state, kept))


@hosttask(name="compose", help={
    "to": "PostgreSQL major version of the new image (e.g. 15)",
    "old_image": "the db service's current image, e.g. postgres:14 (checked against the file)",
    "execute": "run the plan (default: print it)",
    "rollback": "the rollback plan instead: the kept compose file and old volume back",
    "yes": "do not ask for confirmation"})
def compose(c, to="", old_image="", execute=False, rollback=False, yes=False):
    """The docker compose database upgrade as a plan (printed unless --execute).

    The docker compose database upgrade: dump, NEW volume, new image, restore, fingerprints,
    switch the compose file; the old volume and file are kept. Prints the plan unless --execute."""
    if not str(to).isdigit():
        raise ConfigError(f"--to {to!r} is not a PostgreSQL major version; give e.g. --to 15")
    cfg = config(c)
    new = new_image_for(old_image, to)
    build = plan_mod.rollback_plan if rollback else plan_mod.upgrade_plan
    if not execute:  # printing the plan runs nothing and journals nothing
        plan = build(cfg, old_image, new, new_run_id())
        print(f"{c.site.name}: {'rollback' if rollback else 'upgrade'} plan {old_image} -> {new} "
              "(not run; add --execute to run it):")
        print(plan_mod.render(plan))
        return
    if not rollback:  # a compose file the plan cannot edit stops us before anything runs
        plan_mod.switch_for(cfg, read_text(c, f"{cfg.project_dir}/{cfg.compose_file}") or "",
                            old_image, new)
    confirm(f"run the compose {'rollback' if rollback else 'upgrade'} on {c.site.name}?", yes)
    run = Run(c, "pg_upgrade.compose", {"to": to, "old_image": old_image, "rollback": rollback})
    plan = build(cfg, old_image, new, run.run_id)
    outputs = []
    run.execute([Step(cmd.title, _step(c, cfg, cmd, old_image, new, outputs),
                      changes_host=cmd.changes_host, commands=[cmd.command],
                      about=f"{cmd.title} (checked: {cmd.check or 'its exit code'})",
                      recovery=None if rollback else recovery(c, cfg, plan, i, to, old_image,
                                                              run.run_id))
                 for i, cmd in enumerate(plan)])


ns = Collection("pg_upgrade")
ns.add_task(check)
ns.add_task(run_task, name="run")
ns.add_task(rollback)
ns.add_task(cleanup)
ns.add_task(compose)   # the docker compose variant
ns.configure(DEFAULTS)
