"""rollback.*: the tasks (the work is in the layers below)."""
from invoke import Collection

from runbook.django import migrate
from runbook.django.app import head, manage, prefix
from runbook.engine.confirm import confirm
from runbook.engine.errors import ConfigError, DeployError
from runbook.engine.fabcmd import fab
from runbook.engine.runner import Step, commands
from runbook.engine.shell import sh
from runbook.host.connection import hosttask
from runbook.ops import backup as backups
from runbook.postgres import db
from runbook.runbooks.deploy import step_restart
from runbook.runbooks.plan import Run
from runbook.runbooks.rollback import code_to, kept_databases, restore
from runbook.tasks.defaults import DEFAULTS


@hosttask(plan=True, name="restore", fleet=True, help={
    "backup": "backup name from backup.list (required)",
    "code": "also return the code to the commit the backup was taken at",
    "yes": "do not ask for confirmation"})
def restore_task(c, backup="", code=False, yes=False):
    """Restore the database from a backup into a fresh database, prove it, swap it in (locked).
    On a group: the database once (the backup is on the primary), code and app on every host."""
    fleet, p = c, c.primary
    name = backups.check_name(p, backup)
    manifest = backups.read_manifest(p, name)   # Failed: its one error line, exit 1
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

    @commands(lambda c, run: [f"{prefix(c)} {sh('migrate', '--noinput', app_label, name)}"])
    def step_migrate_back(c, run):
        """The app migrated backwards to the target (Django runs each operation's reverse)."""
        manage(c, "migrate", "--noinput", app_label, name, hide=False)
        return f"{app_label} at {name}"

    Run(c, "rollback.migrations", {"to": to, "force": force}).execute([
        Step("backup", backups.step_backup(json_dumps=False)),
        Step("migrate backwards", step_migrate_back), Step("restart", step_restart)])


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
ns.configure(DEFAULTS)
