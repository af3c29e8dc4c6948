"""pg_upgrade.*: a PostgreSQL major upgrade of the app's cluster, proved and reversible.

    fab -H staging pg_upgrade.check --to 15
    fab -H staging pg_upgrade.run --to 15 [--method dump|copy|link]
    fab -H staging pg_upgrade.rollback
    fab -H staging pg_upgrade.cleanup     (after a rollback: back up and drop the kept new cluster)

`run` takes the lock, backs up every database (verified; `link` also drills the restore), turns
maintenance on, stops the workers (the app keeps running: pg_upgrade_app.py), fingerprints every
table, upgrades with Debian's `pg_upgradecluster` (link: its steps, the new cluster made before
the window: pg_upgrade_link.py; the new cluster takes the app's port, the old one is kept,
stopped: docs/BEHAVIOUR.md#pg-upgradecluster), runs pg_upgrade's extension updates,
proves every table's fingerprint unchanged, reloads the app (fresh connections), runs the smoke
contract and turns maintenance off; the workers start and the planner statistics
(`vacuumdb --analyze-in-stages`) are rebuilt after that, the app serving. What it did is kept in
`<backup.dir>/pg_upgrade.json` for `rollback`: back to the kept old cluster (dump/copy), or the
verified backup restored into a fresh old-version cluster (link: the old data files are no longer
usable once the new cluster started: docs/BEHAVIOUR.md#pg-upgrade-link-no-way-back). The new
cluster is never dropped by a rollback: it is stopped and moved to a free port, with any writes
made since, until `cleanup` backs it up and drops it. The old cluster's configuration (files and
settings) is recorded, carried to the new cluster and proved equal after an upgrade or rollback.
The rollback's steps are pg_upgrade_rollback.py, the cleanup's pg_upgrade_cleanup.py.
"""
import json
import time
from datetime import datetime, timezone

from runbook.engine.errors import ConfigError
from runbook.engine.fabcmd import fab
from runbook.engine.output import Prefixed
from runbook.engine.runner import Failed, Step, commands
from runbook.engine.scripts import script as load
from runbook.engine.shell import sh
from runbook.host import services
from runbook.host.remote import atomic_write, run_script, sudo
from runbook.ops import backup, maintenance, verify_steps
from runbook.postgres import clusters, db, upgrade_check
from runbook.postgres.upgrade_check import state_path
from runbook.runbooks.pg_upgrade_app import start_workers_shown, step_reload_app, step_start_workers, step_stop_workers
from runbook.runbooks.pg_upgrade_link import step_target, step_upgrade_link


# --- the state file --------------------------------------------------------------------------
def write_state(c, state):
    state["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write(c, state_path(c), json.dumps(state, indent=2) + "\n")


def _fp_json(fps):
    return {d: {t: list(v) for t, v in tables.items()} for d, tables in fps.items()}


def fp_diff(before, after):
    """['db.table: what changed'] between two {db: {table: (rows, md5)}}."""
    out = []
    for dbname in sorted(set(before) | set(after)):
        b, a = before.get(dbname), after.get(dbname)
        if a is None or b is None:
            out.append(f"{dbname}: {'missing after' if a is None else 'new database'}")
            continue
        for t in sorted(set(b) | set(a)):
            if t not in a or t not in b:
                out.append(f"{dbname}.{t}: {'missing' if t not in a else 'new table'}")
            elif tuple(a[t]) != tuple(b[t]):
                out.append(f"{dbname}.{t}: {a[t][0]} rows (was {b[t][0]})"
                           + ("" if a[t][0] != b[t][0] else ", content differs"))
    return out


def check_method(method):
    if method not in upgrade_check.METHODS:
        raise ConfigError(f"--method {method!r} is not one of {', '.join(upgrade_check.METHODS)}; "
                          "dump is the safe default, link the fastest")
    return method


def check_version(to):
    if not str(to).isdigit():
        raise ConfigError(f"--to {to!r} is not a PostgreSQL major version; give e.g. --to 15")
    return str(to)


# --- the run's steps -------------------------------------------------------------------------
def source(c, run):
    """(version, name) of the cluster being upgraded as far as the run knows: its report, or
    what its plan read (`data.source`)."""
    rep = run.data.report
    return (rep.source.version, rep.source.name) if rep else (run.data.source or ("OLD", "CLUSTER"))


def ctl_shown(version, name, action):
    """The pg_ctlcluster command clusters.ctl runs."""
    return f"sudo -n {sh('pg_ctlcluster', version, name, action)}"


def psql_shown(c, what):
    """A psql command line for a step's plan: the app's client, `what` on its stdin."""
    return f"{db.shown_psql(c, db='postgres')}  <- {what}"


def step_preflight(to, method, drop_empty_target):
    @commands(lambda c, run: [
        f"pg_lsclusters -h; sudo -n -u postgres pg_upgrade --check ... (pg_upgrade.check --to {to} "
        f"--method {method})", f"GET {c.site.health.url}; the smoke checks"])
    def run_step(c, run):
        """Read-only: pg_upgrade.check passes (binaries, pg_upgrade --check, target cluster,
        space), the app is healthy and its smoke contract passes before the upgrade."""
        rep = upgrade_check.run(c, to, method)
        for ok, text in rep.lines:
            run.say(f"    {'    ' if ok is None else 'ok  ' if ok else 'FAIL'} {text}")
        problems = [p for p in rep.problems
                    if not (drop_empty_target and rep.target_empty and "empty target" in p)]
        if problems:
            raise Failed("; ".join(problems), recovery="nothing was changed; fix the cause and "
                                                       "rerun pg_upgrade.check")
        state, status = services.state(c), services.health(c)
        if status != 200 or state not in services.RUNNING:
            raise Failed(f"the app is not healthy before the upgrade (service {state}, health "
                         f"{status}); fix it first", recovery="nothing was changed")
        bad = [f"{n}: {d}" for n, ok, d in verify_steps.smoke(c) if not ok]
        if bad:
            raise Failed("the smoke contract fails BEFORE the upgrade (" + "; ".join(bad) +
                         "); fix that first, or the check after the upgrade proves nothing",
                         recovery="nothing was changed")
        run.data.report = rep
        return (f"{rep.source.id} -> {to} by {method}: checks passed; {len(rep.databases)} "
                f"databases, {rep.size / 1e6:.1f} MB; smoke contract passes before")
    return run_step


@commands(lambda c, run: [
    f"pg_restore -d <scratch> {backup.bdir(c, run.data.backup or '<run id>')}/db.dump; every "
    "table's rows and md5 compared with the manifest; DROP DATABASE <scratch>"])
def step_drill(c, run):
    """link: the backup is the only way back; prove it restores before touching anything."""
    diffs = backup.restore_drill(c, run.data.backup, run.data.manifest)
    if diffs:
        raise Failed("the backup's restore drill differs from its manifest: " + "; ".join(
            f"{t}: {d}" for t, d in sorted(diffs.items())), recovery="nothing was changed")
    backup.mark_verified(c, run.data.backup, "restore drill")
    return f"{run.data.backup} restored into a scratch database: every table equal"


@commands(lambda c, run: [psql_shown(c, "every table's row count and md5, in every database"),
                          f"write {state_path(c)}"])
def step_fingerprint_before(c, run):
    """Every table of every database fingerprinted (rows, md5); what pg_upgrade.rollback needs
    written to the state file."""
    rep = run.data.report
    version = db.fingerprint_version_for(rep.source.version)   # both sides hash as the old can
    fps = db.all_fingerprints(c, version=version)
    run.data.fingerprints = fps
    owners = db.psql(c, "SELECT datname || '|' || pg_get_userbyid(datdba) FROM pg_database "
                        "WHERE datallowconn AND NOT datistemplate;", db="postgres").split()
    run.data.upgrade = {  # what pg_upgrade.rollback needs, kept on the host as the run goes
        "run": run.run_id, "phase": "upgrading", "from": rep.source.version,
        "to": rep.target_version, "cluster": rep.source.name, "port": rep.source.port,
        "method": run.args["method"], "backup": run.data.backup,
        "owners": dict(x.split("|", 1) for x in owners),
        "locale": rep.locale, "before": _fp_json(fps),
        "fingerprint_version": version, "config": clusters.config_snapshot(c, rep.source)}
    write_state(c, run.data.upgrade)
    tables = sum(len(t) for t in fps.values())
    return f"{tables} tables in {len(fps)} databases fingerprinted; state in {state_path(c)}"


@commands(lambda c, run: [f"sudo -n {sh('pg_dropcluster', run.args['to'], source(c, run)[1], '--stop')}"
                          "  (only when it holds no data)"])
def step_drop_empty_target(c, run):
    """An EMPTY pre-created target cluster dropped (never one with data)."""
    rep = run.data.report
    tgt = clusters.find(clusters.listing(c), rep.target_version, rep.source.name)
    if tgt is None:
        return "nothing to do: no target cluster"
    full, what = upgrade_check.target_state(c, tgt)
    if full:
        raise Failed(f"target cluster {tgt.id} is not empty ({what}); it was not dropped")
    sudo(c, "pg_dropcluster", tgt.version, tgt.name, "--stop", hide=True)
    return f"dropped the empty target cluster {tgt.id}"


def upgrade_argv(to, method, version, name):
    """The pg_upgradecluster command (run through sudo)."""
    return ("pg_upgradecluster", "-v", to, "-m", upgrade_check.UPGRADECLUSTER_METHOD[method],
            version, name)


@commands(lambda c, run: [f"sudo -n {sh(*upgrade_argv(run.args['to'], run.args['method'], *source(c, run)))}"])
def step_upgrade(c, run):
    """pg_upgradecluster: the new cluster made from the old one, which is kept, stopped."""
    rep = run.data.report
    src, to, method = rep.source, rep.target_version, run.args["method"]
    run.state["cluster"] = (f"pg_upgradecluster {src.id} -> {to} ({method}) was started; "
                            f"to go back: {fab(c, 'pg_upgrade.rollback')}")
    start = time.monotonic()
    r = sudo(c, *upgrade_argv(to, method, src.version, src.name), hide=False, warn=True,
             out_stream=Prefixed(c), err_stream=Prefixed(c))
    took = time.monotonic() - start
    if not r.ok:
        raise Failed(f"pg_upgradecluster exited {r.exited} after {took:.0f}s (its output is above)")
    run.data.upgrade_seconds = took
    return f"pg_upgradecluster -m {upgrade_check.UPGRADECLUSTER_METHOD[method]} in {took:.1f}s"


@commands(lambda c, run: ["pg_lsclusters -h", psql_shown(c, "SHOW server_version"),
                          f"write {state_path(c)}"])
def step_new_cluster(c, run):
    """The new cluster answers on the app's port with the target version; the old one is down."""
    rep = run.data.report
    have = clusters.listing(c)
    new = clusters.find(have, rep.target_version, rep.source.name)
    old = clusters.find(have, rep.source.version, rep.source.name)
    if new is None or not new.online or new.port != rep.source.port:
        if new is not None and new.port == rep.source.port and not new.online:
            clusters.ctl(c, new, "start")
        else:
            raise Failed(f"the new cluster is not online on port {rep.source.port} "
                         f"({new.id + ' ' + new.status + ' on ' + str(new.port) if new else 'missing'})")
    version = db.psql(c, "SHOW server_version;", db="postgres").strip()
    if not version.startswith(rep.target_version + "."):
        raise Failed(f"port {rep.source.port} answers PostgreSQL {version}, not {rep.target_version}.x")
    run.state["cluster"] = (f"PostgreSQL {version} ({new.id}) serves port {new.port}; the old "
                            f"cluster {old.id if old else '?'} is kept, stopped, on port "
                            f"{old.port if old else '?'}; to go back: "
                            f"{fab(c, 'pg_upgrade.rollback')}")
    run.data.upgrade.update(phase="upgraded", old_port=old.port if old else None,
                               version=version)
    write_state(c, run.data.upgrade)
    return f"PostgreSQL {version} on port {new.port}; old {old.id} {old.status} on port {old.port}" \
        if old else f"PostgreSQL {version} on port {new.port}"


@commands(lambda c, run: [
    f"the old cluster's conf.d/* and changed files written to the new one; "
    f"{ctl_shown(run.args['to'], source(c, run)[1], 'restart')}  (only if one was)",
    "pg_conftool show all  (both clusters' settings compared)"])
def step_config(c, run):
    """What pg_upgradecluster does not carry (conf.d/*, files changed since) copied to the new
    cluster, restarted if so; then its configuration must equal the old one's."""
    rep, old = run.data.report, run.data.upgrade["config"]
    new = clusters.find(clusters.listing(c), rep.target_version, rep.source.name)
    have = clusters.config_snapshot(c, new)
    copy = {rel: text for rel, text in old["files"].items()
            if rel not in clusters.REWRITTEN and have["files"].get(rel) != text}
    if copy:
        clusters.write_config(c, new, copy)
        r = clusters.ctl(c, new, "restart", warn=True)
        if not r.ok:
            said = ((r.stderr or r.stdout).strip().splitlines() or ["no output"])[-1]
            raise Failed(f"{new.id} does not start with the old cluster's "
                         f"{', '.join(sorted(copy))}: {said}")
        have = clusters.config_snapshot(c, clusters.find(clusters.listing(c), new.version,
                                                         new.name))
    diffs = clusters.config_diff(old, have, rewritten=True)
    if diffs:
        raise Failed(f"{new.id}'s configuration differs from {rep.source.id}'s: "
                     + "; ".join(diffs))
    return (f"copied {', '.join(sorted(copy))} and restarted; " if copy else "") + \
        f"{len(old['files'])} files and {len(old['settings'])} settings as in {rep.source.id}"


def _target_script(c, run, name):
    """Run scripts/`name` (with pg.sh) as pg_analyze.sh/pg_extensions.sh take their arguments:
    the target's bin directory, source version, target version, cluster name."""
    rep = run.data.report
    pg_env, _ = db.script_env(c, local=True)
    return run_script(c, load("runbook.postgres", "pg.sh") + load("runbook.runbooks", name),
                      f"{clusters.BINROOT}/{rep.target_version}/bin", rep.source.version,
                      rep.target_version, rep.source.name, env=pg_env)


@commands(lambda c, run: ["psql -f update_extensions.sql  (when pg_upgrade wrote one)"])
def step_extensions(c, run):
    """The extension updates pg_upgrade wrote, if any, before the app runs on the new cluster
    (docs/BEHAVIOUR.md#pg-upgrade-no-statistics)."""
    ran = [x[len("@@ran "):] for x in _target_script(c, run, "pg_extensions.sh").stdout.splitlines()
           if x.startswith("@@ran ")]
    return f"ran {ran[0]}" if ran else "nothing to do: pg_upgrade wrote no extension updates"


def analyze_shown(c, run):
    return (f"{db.local_tool(c, clusters.BINROOT + '/' + run.args['to'] + '/bin/vacuumdb')} --all "
            "--analyze-in-stages")


@commands(lambda c, run: [analyze_shown(c, run)])
def step_analyze(c, run):
    """vacuumdb --analyze-in-stages, after the window: statistics are not carried over, and
    its first stage gives usable ones in seconds while the app serves
    (docs/BEHAVIOUR.md#pg-upgrade-no-statistics)."""
    _target_script(c, run, "pg_analyze.sh")
    return "vacuumdb --all --analyze-in-stages done (the app serving)"


@commands(lambda c, run: [psql_shown(c, "every table's row count and md5, in every database")])
def step_fingerprint_after(c, run):
    """Every table's fingerprint equal to before the upgrade (rows and content md5)."""
    after = db.all_fingerprints(c, version=run.data.upgrade["fingerprint_version"])
    diffs = fp_diff(run.data.fingerprints, after)
    if diffs:
        raise Failed("the data differs after the upgrade: " + "; ".join(diffs[:10]))
    tables = sum(len(t) for t in after.values())
    return f"all {tables} tables equal before and after (rows and content md5)"


@commands(lambda c, run: verify_steps.step_smoke.commands(c, run))
def step_smoke(c, run):
    """The smoke contract through the maintenance bypass (the public still sees the page)."""
    return verify_steps.step_smoke(c, run, bypass=True)


@commands(lambda c, run: [f"write {state_path(c)}"])
def step_done(c, run):
    """The upgrade recorded as done in the state file (what pg_upgrade.rollback reads)."""
    run.data.upgrade["phase"] = "done"
    write_state(c, run.data.upgrade)
    run.state.pop("cluster", None)
    return "state recorded"


def run_steps(c, to, method, drop_empty_target):
    def rec(run):
        if "cluster" in run.state:
            return fab(c, "pg_upgrade.rollback", yes=True)
        # one command a line, last on it: each runnable as printed
        todo = [f"start the workers: {start_workers_shown(c)}"] if "workers" in run.state else []
        if "maintenance" in run.state:
            todo.append(f"turn maintenance off: {fab(c, 'maintenance.off')}")
        if "target" in run.state:
            todo.append(f"a new run needs --drop-empty-target (it drops the prepared empty {to} "
                        "cluster first)")
        return ("\n".join(["the database was not touched and the app runs;", *todo]) if todo
                else "nothing was changed; fix the cause and rerun")

    steps = [Step("preflight", step_preflight(to, method, drop_empty_target), recovery=rec,
                  changes_host=False),
             Step("backup.create", backup.step_backup(json_dumps=False, whole_cluster=True),
                  recovery=rec)]
    if method == "link":
        steps.append(Step("backup drill (link has no way back but the backup)", step_drill,
                          recovery=rec))
    if drop_empty_target:
        steps.append(Step("drop empty target cluster", step_drop_empty_target, recovery=rec))
    if method == "link":   # pg_upgradecluster's initdb and checks before the window
        steps.append(Step("target cluster (before the window)", step_target, recovery=rec))
    steps += [Step("maintenance.on", maintenance.step_on, recovery=rec),
              Step("stop workers", step_stop_workers, recovery=rec),
              Step("fingerprint before", step_fingerprint_before, recovery=rec),
              Step("pg_upgrade --link", step_upgrade_link, recovery=rec) if method == "link"
              else Step(f"pg_upgradecluster ({method})", step_upgrade, recovery=rec),
              Step("new cluster on the app's port", step_new_cluster, recovery=rec),
              Step("configuration carried over", step_config, recovery=rec),
              Step("extension updates", step_extensions, recovery=rec),
              Step("fingerprint after == before", step_fingerprint_after, recovery=rec),
              Step("reload app", step_reload_app, recovery=rec),
              Step("smoke contract", step_smoke, recovery=rec),
              Step("maintenance.off", maintenance.step_off, recovery=rec),
              Step("record", step_done, recovery=rec),
              Step("start workers", step_start_workers,
                   recovery=lambda run: "the upgrade is done and the app serves; start the "
                                        f"workers on {c.site.name}: {start_workers_shown(c)}"),
              Step("analyze (the app serving)", step_analyze,
                   recovery=lambda run: "the upgrade is done and the app serves; the planner "
                                        f"statistics may be partial: run {analyze_shown(c, run)}")]
    return steps


# --- tasks -----------------------------------------------------------------------------------


def step_tag(name):
    @commands(lambda c, run: [f"git tag -a {name} -m 'release tag {name}' HEAD",
                              f"git push --quiet {c.site.app.git_remote} refs/tags/{name}"])
    def run_step(c, run):
        """The deployed commit tagged and the tag pushed (a tag is never moved)."""
        from runbook.runbooks.release import tag_commit
        return tag_commit(c, name, "HEAD")
    return run_step
