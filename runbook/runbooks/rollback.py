"""rollback.*: roll back for real.

- `restore`: the database from a verified backup, restored into a FRESH database, proved equal to
  the backup's manifest, then swapped in by rename; the replaced database is kept, never dropped.
  (The runbook's `psql db < dump` over the live database doubles rows and keeps new ones:
  docs/BEHAVIOUR.md#pg-restore-over-existing-db.)
- `migrations`: refuses a backward plan that crosses a destructive operation (Django recreates
  the table EMPTY: docs/BEHAVIOUR.md#django-unapply-loses-data) unless --force, and points to `restore`.
- `code`: back to a ref, requirements reinstalled when they differ, restarted, health checked.
- `kept`: the databases `restore` kept (`<db>_before_<run id>`), with size and age; `--drop NAME`
  drops one of them (never the live database, nor any other).

`restore` and `code` also take a group (`-H prod`): the database is restored once, on the
primary; maintenance, the app and the code move on every host.
"""
import re

from runbook.django.app import head
from runbook.engine.fabcmd import fab
from runbook.engine.runner import ALL, ROLLING, Failed, Step, commands
from runbook.engine.scripts import script
from runbook.engine.shell import q, sh
from runbook.host import services
from runbook.ops import backup as backups
from runbook.ops import code_update, maintenance, switch
from runbook.ops.restart import wait_serving
from runbook.postgres import db
from runbook.runbooks.deploy import step_restart
from runbook.runbooks.plan import Run  # its --plan: the host checks, then the steps


def step_check_backup(name):
    @commands(lambda c, run: [f"sha256sum {q(backups.bdir(c, name))}/*  (against its manifest)",
                              f"pg_restore -f /dev/null {q(backups.bdir(c, name))}/db.dump  "
                              "(read in full)"])
    def run_step(c, run):
        """The backup usable: its files match the manifest, the dump reads in full."""
        manifest = backups.read_manifest(c, name)
        problems = backups.verify_files(c, name, manifest)
        if problems:
            raise Failed(f"backup {name} is NOT usable: {'; '.join(problems)}",
                         recovery=f"nothing was changed; pick another backup ({fab(c, 'backup.list')})")
        run.data.manifest = manifest
        return f"{name}: files match the manifest, dump read in full"
    return run_step


def _programs(c, action):
    """The app, its workers and, to stop, its twin ([switch]: it may serve after a failed run)."""
    twin = [c.site.switch.twin] if action == "stop" and switch.enabled(c) else []
    return [c.site.service.app, *c.site.service.workers, *twin]


def service_commands(action):
    """`sudo -n` commands doing `action` on the app and its workers, as services.control runs them."""
    return lambda c, run: [f"sudo -n {sh(*services.argv(c, action, name))}"
                           for name in _programs(c, action)]


@commands(service_commands("stop"))
def step_stop_app(c, run):
    """The app and its workers (and its twin) stopped."""
    for name in _programs(c, "stop"):
        services.control(c, "stop", name, warn=True)
    run.state["app"] = f"the app ({c.site.service.app}) is STOPPED"
    return f"stopped {c.site.service.app}"


def step_restore_database(name):
    @commands(lambda c, run: [
        f"createdb <fresh>; pg_restore --exit-on-error -j <cores, up to 8: deploy.restore_jobs> "
        f"-d <fresh> <a postgres-owned 0700 copy of {q(backups.bdir(c, name))}/db.dump>",
        "psql <- every table's rows and md5 compared with the manifest",
        f"psql <- ALTER DATABASE {c.site.database.name} RENAME TO <kept>; ALTER DATABASE "
        f"<fresh> RENAME TO {c.site.database.name}"])
    def run_step(c, run):
        """Restore into a fresh database, prove it, swap names; the old one is kept."""
        return restore_database(c, run, name)
    return run_step


def restore_database(c, run, name):
    """Restore into a fresh database, prove it, swap names; the old one is kept."""
    live = c.site.database.name
    suffix = run.run_id.replace("-", "_")
    fresh, kept = f"{live}_restore_{suffix}", f"{live}_before_{suffix}"
    try:   # -j restores outside one transaction: a failure leaves `fresh` half-filled
        jobs = backups.restore_into(c, name, fresh)
    except Failed as e:
        db.psql(c, f"DROP DATABASE IF EXISTS {db.ident(fresh)};", db="postgres")
        raise Failed(f"{e}; the live database was NOT touched") from None
    version = backups.fingerprint_version(run.data.manifest)
    diffs = backups.compare(run.data.manifest["tables"],
                            db.fingerprints(c, db=fresh, version=version))
    if diffs:
        db.psql(c, f"DROP DATABASE IF EXISTS {db.ident(fresh)};", db="postgres")
        raise Failed("the restored copy differs from the backup's manifest (" + "; ".join(
            f"{t}: {d}" for t, d in sorted(diffs.items())) + "); the live database was NOT touched")
    db.psql(c, script("runbook.runbooks", "swap_databases.sql"), db="postgres",
            variables={"live": live, "fresh": fresh, "kept": kept})
    drop = fab(c, "rollback.kept", drop=kept, yes=True)
    run.state["database"] = (f"database {live} is restored from {name}; the replaced one is kept as "
                             f"{kept} (drop it when satisfied: {drop})")
    run.host_data[c.site.name].summary_lines.append(
        f"the replaced database is kept as {kept}; drop it when satisfied: {drop}")
    diffs = backups.compare(run.data.manifest["tables"], db.fingerprints(c, version=version))
    if diffs:
        raise Failed(f"after the swap {live} differs from the manifest: {diffs}")
    return (f"restored into a fresh database (pg_restore -j {jobs}) and swapped; old kept as "
            f"{kept}; fingerprints equal")


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


@commands(lambda c, run: [*service_commands("start")(c, run), f"GET {c.site.health.url} until 200"])
def step_start_app(c, run):
    """The app and its workers started, then healthy (serving the tree's commit with
    health.revision_key)."""
    for name in _programs(c, "start"):
        services.control(c, "start", name, warn=True)
    commit = head(c) if c.site.health.revision_key else None
    if switch.enabled(c) and switch.serving(c) != switch.slots(c)[0]:
        run.say("    " + switch.to(c, switch.slots(c)[0], commit))   # nginx back to the app
    ok, status, named, took = wait_serving(c, commit)
    if not ok:
        raise Failed(f"the app did not {'serve ' + commit[:12] if commit else 'answer 200'} on "
                     f"{c.site.health.url} within {c.site.health.timeout}s (last status "
                     f"{status or 'none'}{', naming ' + named[:12] if named else ''})")
    run.state.pop("app", None)
    return f"{c.site.service.app} healthy in {took:.1f}s"


def step_code_to(ref_or_commit):
    @commands(lambda c, run: [
        f"git -C {q(c.site.app.dir)} fetch --quiet --tags --force {q(c.site.app.git_remote)}",
        f"git -C {q(c.site.app.dir)} reset --quiet --keep {ref_or_commit or '<commit>'}",
        f"{code_update.install_command(c)}  (only if the dependencies changed)"])
    def run_step(c, run):
        """The code moved to the ref; the dependencies reinstalled when they changed."""
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


@commands(lambda c, run: step_code_to(
    (run.data.manifest or {}).get("git_commit", "<the backup's commit>")).commands(c, run))
def step_code_to_backup(c, run):
    """The code moved to the commit the backup was taken at (its manifest's git_commit)."""
    return step_code_to(run.data.manifest["git_commit"])(c, run)


def restore_steps(name, with_code):
    """Database once on the primary; maintenance, app and code on every (web) host."""
    steps = [Step("check backup", step_check_backup(name), changes_host=False),
             Step("maintenance on", maintenance.step_on, where=ALL, role="web"),
             Step("stop app", step_stop_app, where=ALL),
             Step("restore database", step_restore_database(name),
                  recovery=lambda run: "the live database is unchanged unless the swap was "
                                       "reported; retry: " + run.cmd(f"rollback.restore "
                                       f"--backup={name} --yes") + ", or " + run.cmd("maintenance.off"))]
    if with_code:
        steps.append(Step("code to the backup's commit", step_code_to_backup, where=ALL))
    steps += [Step("start app", step_start_app, where=ALL),
              Step("maintenance off", maintenance.step_off, where=ALL, role="web")]
    return steps


def restore(c, name, with_code=False):
    """Run the restore on a host or a Fleet (the backup is on the primary)."""
    run = Run(c, "rollback.restore", {"backup": name, "code": with_code})
    run.facts.backup = name   # restored from: deploy.history's backup column
    return run.execute(restore_steps(name, with_code))


def code_to(c, ref, maintenance_off=False):
    """Code on every host to `ref`, then a rolling restart (and maintenance off if asked)."""
    steps = [Step("code to ref", step_code_to(ref), where=ALL),
             Step("restart", step_restart, where=ROLLING, role="web")]
    if maintenance_off:
        steps.append(Step("maintenance off", maintenance.step_off, where=ALL, role="web"))
    return Run(c, "rollback.code", {"ref": ref}).execute(steps)
