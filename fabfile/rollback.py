"""rollback.*: roll back for real.

- `restore`: the database from a verified backup, restored into a FRESH database, proved equal to
  the backup's manifest, then swapped in by rename; the replaced database is kept, never dropped.
  (The runbook's `psql db < dump` over the live database doubles rows and keeps new ones.)
- `migrations`: refuses a backward plan that crosses a destructive operation (Django recreates
  the table EMPTY) unless --force, and points to `restore`.
- `code`: back to a ref, requirements reinstalled when they differ, restarted, health checked.
- `kept`: the databases `restore` kept (`<db>_before_<run id>`), with size and age; `--drop NAME`
  drops one of them (never the live database, nor any other).

`restore` and `code` also take a group (`-H prod`): the database is restored once, on the
primary; maintenance, the app and the code move on every host.
"""
import re

from invoke import Collection

from . import backup as backups
from . import code_update, db, maintenance, migrate, services
from .app import head
from .confirm import confirm
from .connection import hosttask
from .errors import ConfigError, DeployError
from .fabcmd import fab
from .restart import restart_and_wait, wait_serving
from .steps import ALL, ROLLING, Failed, Run, Step


def step_check_backup(name):
    def run_step(c, run):
        manifest = backups.read_manifest(c, name)
        problems = backups.verify_files(c, name, manifest)
        if problems:
            raise Failed(f"backup {name} is NOT usable: {'; '.join(problems)}",
                         recovery=f"nothing was changed; pick another backup ({fab(c, 'backup.list')})")
        run.data["manifest"] = manifest
        return f"{name}: files match the manifest, dump read in full"
    return run_step


def step_stop_app(c, run):
    for name in [c.site.service.app, *c.site.service.workers]:
        services.control(c, "stop", name, warn=True)
    run.state["app"] = f"the app ({c.site.service.app}) is STOPPED"
    return f"stopped {c.site.service.app}"


def restore_database(c, run, name):
    """Restore into a fresh database, prove it, swap names; the old one is kept."""
    live = c.site.database.name
    suffix = run.run_id.replace("-", "_")
    fresh, kept = f"{live}_restore_{suffix}", f"{live}_before_{suffix}"
    backups.restore_into(c, name, fresh)
    version = backups.fingerprint_version(run.data["manifest"])
    diffs = backups.compare(run.data["manifest"]["tables"],
                            db.fingerprints(c, db=fresh, version=version))
    if diffs:
        db.psql(c, f"DROP DATABASE IF EXISTS {db.ident(fresh)};", db="postgres")
        raise Failed("the restored copy differs from the backup's manifest (" + "; ".join(
            f"{t}: {d}" for t, d in sorted(diffs.items())) + "); the live database was NOT touched")
    db.psql(c, f"""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                   WHERE datname = {db.literal(live)} AND pid <> pg_backend_pid();
BEGIN;
ALTER DATABASE {db.ident(live)} RENAME TO {db.ident(kept)};
ALTER DATABASE {db.ident(fresh)} RENAME TO {db.ident(live)};
COMMIT;""", db="postgres")
    drop = fab(c, "rollback.kept", drop=kept, yes=True)
    run.state["database"] = (f"database {live} is restored from {name}; the replaced one is kept as "
                             f"{kept} (drop it when satisfied: {drop})")
    run.host_data[c.site.name].setdefault("summary_lines", []).append(
        f"the replaced database is kept as {kept}; drop it when satisfied: {drop}")
    diffs = backups.compare(run.data["manifest"]["tables"], db.fingerprints(c, version=version))
    if diffs:
        raise Failed(f"after the swap {live} differs from the manifest: {diffs}")
    return f"restored into a fresh database and swapped; old kept as {kept}; fingerprints equal"


def kept_databases(c):
    """{name: (bytes, epoch seconds it was kept)} of the databases restores kept on c's cluster:
    exactly `<live db>_before_<run id>`, the name restore_database gives them."""
    pattern = re.compile(re.escape(c.site.database.name) + r"_before_(\d{8})_(\d{6})_[0-9a-f]{4}")
    out = {}
    for line in db.psql(c, "SELECT datname || '|' || pg_database_size(oid) FROM pg_database;",
                        db="postgres").splitlines():
        name, _, size = line.rpartition("|")
        m = pattern.fullmatch(name)
        if m:
            out[name] = (int(size), backups.created(f"{m[1]}-{m[2]}"))
    return out


def step_start_app(c, run):
    for name in [c.site.service.app, *c.site.service.workers]:
        services.control(c, "start", name, warn=True)
    commit = head(c) if c.site.health.revision_key else None
    ok, status, named, took = wait_serving(c, commit)
    if not ok:
        raise Failed(f"the app did not {'serve ' + commit[:12] if commit else 'answer 200'} on "
                     f"{c.site.health.url} within {c.site.health.timeout}s (last status "
                     f"{status or 'none'}{', naming ' + named[:12] if named else ''})")
    run.state.pop("app", None)
    return f"{c.site.service.app} healthy in {took:.1f}s"


def step_code_to(ref_or_commit):
    def run_step(c, run):
        code_update.fetch(c)
        _name, commit = code_update.resolve(c, ref_or_commit)
        code_update.record_stamp_before_move(c)
        before, after = code_update.move_to(c, commit)
        run.state["code"] = f"code is at {after[:12]} (was {before[:12]})"
        if c is run.fleet.primary:   # deploy.history's code column
            run.facts.before, run.facts.after = before, after
        if code_update.dependencies_stale(c):   # a rerun after a failed install installs
            code_update.install_requirements(c)
            return f"{before[:12]} -> {after[:12]}, requirements reinstalled"
        return f"{before[:12]} -> {after[:12]}" if before != after else "nothing to do: already there"
    return run_step


def restore_steps(name, with_code):
    """Database once on the primary; maintenance, app and code on every (web) host."""
    steps = [Step("check backup", step_check_backup(name), changes_host=False),
             Step("maintenance on", maintenance.step_on, where=ALL, role="web"),
             Step("stop app", step_stop_app, where=ALL),
             Step("restore database", lambda c, run: restore_database(c, run, name),
                  recovery=lambda run: "the live database is unchanged unless the swap was "
                                       "reported; retry: " + run.cmd(f"rollback.restore "
                                       f"--backup={name} --yes") + ", or " + run.cmd("maintenance.off"))]
    if with_code:
        steps.append(Step("code to the backup's commit", where=ALL,
                          fn=lambda c, run: step_code_to(run.data["manifest"]["git_commit"])(c, run)))
    steps += [Step("start app", step_start_app, where=ALL),
              Step("maintenance off", maintenance.step_off, where=ALL, role="web")]
    return steps


def restore(c, name, with_code=False):
    """Run the restore on a host or a Fleet (the backup is on the primary)."""
    run = Run(c, "rollback.restore", {"backup": name, "code": with_code})
    run.facts.backup = name   # restored from: deploy.history's backup column
    return run.execute(restore_steps(name, with_code))


@hosttask(plan=True, name="restore", fleet=True, help={
    "backup": "backup name from backup.list (required)",
    "code": "also return the code to the commit the backup was taken at",
    "yes": "do not ask for confirmation"})
def restore_task(c, backup="", code=False, yes=False):
    """Restore the database from a backup into a fresh database, prove it, swap it in (locked).
    On a group: the database once (the backup is on the primary), code and app on every host."""
    fleet, p = c, c.primary
    name = backups.check_name(p, backup)
    try:
        manifest = backups.read_manifest(p, name)
    except Failed as e:
        raise DeployError(e.reason) from None
    if manifest.get("host", p.site.name) != p.site.name or \
            manifest.get("database", p.site.database.name) != p.site.database.name:
        raise ConfigError(f"backup {name} was taken on {manifest.get('host')} of database "
                          f"{manifest.get('database')}, not {p.site.name}'s "
                          f"{p.site.database.name}; restore it on its own host, or pick one "
                          f"from {fab(p, 'backup.list')}")
    now = head(p)
    print(f"{fleet.name}: restore {p.site.database.name} from {name} (taken {manifest['created']} "
          f"at commit {manifest['git_commit'][:12]}); the current database is kept, renamed")
    if not code and manifest["git_commit"] != now:
        print(f"note: the code is at {now[:12]}, the backup was taken at "
              f"{manifest['git_commit'][:12]}; add --code to move the code back too")
    confirm(f"restore {p.site.database.name} on {fleet.name} from {name}?", yes)
    restore(fleet, name, with_code=code)


@hosttask(plan=True, name="migrations", help={"to": "target as app.NNNN (e.g. workshops.0024)",
                                   "force": "roll back even across destructive operations",
                                   "yes": "do not ask for confirmation"})
def migrations_task(c, to="", force=False, yes=False):
    """Migrate an app backwards; refuses when that cannot bring data back (use rollback.restore)."""
    if "." not in to:
        raise ConfigError(f"--to {to!r} must be app.NNNN (e.g. workshops.0024_userprofile_website)")
    app_label, name = to.split(".", 1)
    entries = migrate.plan(c, target=(app_label, name)) if name != "zero" else migrate.plan(
        c, target=(app_label, None))
    back = [e for e in entries if e["backwards"]]
    if not back:
        print(f"{c.site.name}: nothing to do: {to} is not behind the applied state")
        return
    lossy = [f"{e['migration']}: undoing '{op['describe']}' {migrate.LOSSY_BACKWARDS[op['op']]}"
             for e in back for op in e["ops"] if op["op"] in migrate.LOSSY_BACKWARDS] + [
             f"{e['migration']}: '{op['describe']}' is irreversible"
             for e in back for op in e["ops"] if not op["reversible"]]
    print(migrate.render(back))
    if lossy and not force:
        raise DeployError("refusing: this backward plan loses data (" + "; ".join(lossy) + "); "
                          "restore the pre-deploy backup instead: "
                          f"{fab(c, 'rollback.restore --backup=NAME --yes')} (or --force if you "
                          "accept the loss)")
    confirm(f"migrate {app_label} back to {name} on {c.site.name}?", yes)

    def step_backup_first(c, run):
        return backups.step_backup(json_dumps=False)(c, run)

    def step_migrate_back(c, run):
        from .app import manage
        manage(c, "migrate", "--noinput", app_label, name, hide=False)
        return f"{app_label} at {name}"

    Run(c, "rollback.migrations", {"to": to, "force": force}).execute([
        Step("backup", step_backup_first), Step("migrate backwards", step_migrate_back),
        Step("restart", lambda c, run: restart_and_wait(c, run.say))])


@hosttask(plan=True, name="code", fleet=True, help={"ref": "branch, tag or commit to go back to (required)",
                                         "yes": "do not ask for confirmation"})
def code_task(c, ref="", yes=False):
    """Move the code back to a ref, then restart and check health.

    Move the app's code back to a ref, reinstall requirements if needed, restart, check health
    (on a group: code on every host at once, then a rolling restart, one host at a time)."""
    if not ref:
        raise ConfigError("--ref REF is required (a tag, branch or commit); see deploy.history "
                          "or git log on the host")
    confirm(f"move the code on {c.name} to {ref}?", yes)
    code_to(c, ref)


def code_to(c, ref, maintenance_off=False):
    """Code on every host to `ref`, then a rolling restart (and maintenance off if asked)."""
    steps = [Step("code to ref", step_code_to(ref), where=ALL),
             Step("restart", lambda c, run: restart_and_wait(c, run.say),
                  where=ROLLING, role="web")]
    if maintenance_off:
        steps.append(Step("maintenance off", maintenance.step_off, where=ALL, role="web"))
    return Run(c, "rollback.code", {"ref": ref}).execute(steps)


@hosttask(name="kept", help={"drop": "drop this kept database (a name rollback.kept lists)",
                             "yes": "do not ask for confirmation"})
def kept_task(c, drop="", yes=False):
    """List the databases rollback.restore kept (size, age); --drop NAME drops one of them."""
    live = c.site.database.name
    kept = kept_databases(c)
    if drop:
        if drop == live:
            raise ConfigError(f"--drop {drop!r} is the live database of {c.site.name}; only a "
                              f"kept one can be dropped ({fab(c, 'rollback.kept')} lists them)")
        if drop not in kept:
            raise ConfigError(f"--drop {drop!r} is not a database rollback.restore kept on "
                              f"{c.site.name}; pick one from {fab(c, 'rollback.kept')}")
        confirm(f"drop the kept database {drop} ({kept[drop][0] / 1e6:.1f} MB) on {c.site.name}?",
                yes)
        db.psql(c, f"DROP DATABASE {db.ident(drop)};", db="postgres")
        print(f"{c.site.name}: dropped {drop}")
        return
    if not kept:
        print(f"{c.site.name}: no kept databases of {live} (rollback.restore keeps the one it "
              "replaces)")
        return
    width = max(len(n) for n in kept)
    print(f"{'name':<{width}} {'age':>6} {'size':>10}")
    for name, (size, when) in sorted(kept.items(), reverse=True):
        print(f"{name:<{width}} {backups.age(when):>6} {size / 1e6:>8.1f}MB")


ns = Collection("rollback")
ns.add_task(restore_task, name="restore")
ns.add_task(migrations_task, name="migrations")
ns.add_task(code_task, name="code")
ns.add_task(kept_task, name="kept")
