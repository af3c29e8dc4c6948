"""pg_upgrade.*: a PostgreSQL major upgrade of the app's cluster, proved and reversible.

    fab -H staging pg_upgrade.check --to 15
    fab -H staging pg_upgrade.run --to 15 [--method dump|copy|link]
    fab -H staging pg_upgrade.rollback
    fab -H staging pg_upgrade.cleanup     (after a rollback: back up and drop the kept new cluster)

`run` takes the lock, backs up every database (verified; `link` also drills the restore), turns
maintenance on, stops the app, fingerprints every table, upgrades with Debian's `pg_upgradecluster`
(the new cluster takes the app's port, the old one is kept, stopped:
docs/BEHAVIOUR.md#pg-upgradecluster), analyzes, proves every table's fingerprint unchanged, starts
the app, runs the smoke contract and turns maintenance off. What it did is kept in
`<backup.dir>/pg_upgrade.json` for `rollback`: back to the kept old cluster (dump/copy), or the
verified backup restored into a fresh old-version cluster (link: the old data files are no longer
usable once the new cluster started: docs/BEHAVIOUR.md#pg-upgrade-link-no-way-back). The new
cluster is never dropped by a rollback: it is stopped and moved to a free port, with any writes
made since, until `cleanup` backs it up and drops it. The old cluster's configuration (files and
settings) is recorded, carried to the new cluster and proved equal after an upgrade or rollback.
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
from runbook.host.remote import atomic_write, q, run_script, sections, sudo
from runbook.ops import backup, maintenance, verify_steps
from runbook.postgres import clusters, db, upgrade_check
from runbook.postgres.upgrade_check import state_path
from runbook.runbooks.rollback import step_start_app, step_stop_app


# --- the state file --------------------------------------------------------------------------
def write_state(c, state):
    state["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write(c, state_path(c), json.dumps(state, indent=2) + "\n")


def _fp_json(fps):
    return {d: {t: list(v) for t, v in tables.items()} for d, tables in fps.items()}


def _fp_diff(before, after):
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
    return f"{db.script_psql(c, db='postgres')[1]}  <- {what}"


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


@commands(lambda c, run: [
    f"{db.local_tool(c, clusters.BINROOT + '/' + run.args['to'] + '/bin/vacuumdb')} --all "
    "--analyze-in-stages", "psql -f update_extensions.sql  (when pg_upgrade wrote one)"])
def step_analyze(c, run):
    """vacuumdb --analyze-in-stages (planner statistics are not carried over), and the extension
    updates pg_upgrade wrote, if any: one script (docs/BEHAVIOUR.md#pg-upgrade-no-statistics)."""
    rep = run.data.report
    pg_env, _ = db.script_env(c, local=True)
    r = run_script(c, load("runbook.postgres", "pg.sh") + load("runbook.runbooks", "pg_analyze.sh"),
                   f"{clusters.BINROOT}/{rep.target_version}/bin", rep.source.version,
                   rep.target_version, rep.source.name, env=pg_env)
    ran = [x[len("@@ran "):] for x in r.stdout.splitlines() if x.startswith("@@ran ")]
    return "vacuumdb --all --analyze-in-stages done" + (f"; ran {ran[0]}" if ran else "")


@commands(lambda c, run: [psql_shown(c, "every table's row count and md5, in every database")])
def step_fingerprint_after(c, run):
    """Every table's fingerprint equal to before the upgrade (rows and content md5)."""
    after = db.all_fingerprints(c, version=run.data.upgrade["fingerprint_version"])
    diffs = _fp_diff(run.data.fingerprints, after)
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
        if "maintenance" in run.state or "app" in run.state:
            return (f"the database was not touched; start the app and turn maintenance off: "
                    f"{fab(c, 'pg_upgrade.rollback', yes=True)}")
        return "nothing was changed; fix the cause and rerun"

    steps = [Step("preflight", step_preflight(to, method, drop_empty_target), recovery=rec,
                  changes_host=False),
             Step("backup.create", backup.step_backup(json_dumps=False, whole_cluster=True),
                  recovery=rec)]
    if method == "link":
        steps.append(Step("backup drill (link has no way back but the backup)", step_drill,
                          recovery=rec))
    steps += [Step("maintenance.on", maintenance.step_on, recovery=rec),
              Step("stop app", step_stop_app, recovery=rec),
              Step("fingerprint before", step_fingerprint_before, recovery=rec)]
    if drop_empty_target:
        steps.append(Step("drop empty target cluster", step_drop_empty_target, recovery=rec))
    steps += [Step(f"pg_upgradecluster ({method})", step_upgrade, recovery=rec),
              Step("new cluster on the app's port", step_new_cluster, recovery=rec),
              Step("configuration carried over", step_config, recovery=rec),
              Step("analyze", step_analyze, recovery=rec),
              Step("fingerprint after == before", step_fingerprint_after, recovery=rec),
              Step("start app", step_start_app, recovery=rec),
              Step("smoke contract", step_smoke, recovery=rec),
              Step("maintenance.off", maintenance.step_off, recovery=rec),
              Step("record", step_done, recovery=rec)]
    return steps


# --- rollback --------------------------------------------------------------------------------
def rollback_steps(c, state):
    from_v, to_v, name, port = state["from"], state["to"], state["cluster"], state["port"]
    before = {d: {t: tuple(v) for t, v in tables.items()} for d, tables in state["before"].items()}
    fp_version = int(state.get("fingerprint_version", 1))   # as the upgrade recorded them

    def ctl(version, action):
        return ctl_shown(version, name, action)

    @commands(lambda c, run: ["pg_lsclusters -h", psql_shown(c, f"on the {to_v} cluster's port: every "
                              "table's row count and md5, compared with before the upgrade")])
    def step_changes(c, run):
        """The tables written on the new cluster since the upgrade (they stay there: reported)."""
        have = clusters.listing(c)
        new = clusters.find(have, to_v, name)
        if new is None or not new.online:
            return "the new cluster is not running: nothing written since the upgrade"
        diffs = _fp_diff(before, db.all_fingerprints(c, port=new.port, version=fp_version))
        if diffs:
            run.state["writes"] = ("writes made on " + to_v + " since the upgrade stay in the kept "
                                   f"{new.id} cluster: " + "; ".join(diffs[:5]))
        return ("changed since the upgrade (kept in the new cluster): " + "; ".join(diffs[:5])
                if diffs else "no table changed since the upgrade")

    @commands(lambda c, run: [ctl(to_v, "stop"), f"start.conf of {to_v}/{name}: manual",
                              f"sudo -n -u postgres pg_conftool {sh(to_v, name)} set port <free port>"])
    def step_park_new(c, run):
        """The new cluster stopped, kept (start.conf manual) and moved off the app's port."""
        have = clusters.listing(c)
        new = clusters.find(have, to_v, name)
        if new is None:
            return "nothing to do: no new cluster"
        if new.online:
            clusters.ctl(c, new, "stop")
        clusters.set_start(c, new, "manual")
        spare = new.port
        if new.port == port:
            spare = clusters.free_port(c, have)
            clusters.set_port(c, new, spare)
        run.state["new"] = f"the {to_v} cluster {new.id} is kept, stopped, on port {spare}"
        return f"{new.id} stopped, kept on port {spare} (start.conf manual)"

    @commands(lambda c, run: [
        f"sudo -n -u postgres pg_conftool {sh(from_v, name)} set port {int(port)}; start.conf auto; "
        + ctl(from_v, "start"), f"(link: pg_createcluster {sh(from_v, name)} and the backup "
        f"{state['backup']} restored into it)"])
    def step_old_back(c, run):
        """The old version back on the app's port: the kept cluster started (dump, copy), or the
        backup restored into a fresh cluster (link)."""
        have = clusters.listing(c)
        old = clusters.find(have, from_v, name)
        usable = old is not None and not _linked(c, old)
        if usable:
            if old.online and old.port == port:
                return f"nothing to do: {old.id} already serves port {port}"
            if old.online:
                clusters.ctl(c, old, "stop")
            clusters.set_port(c, old, port)
            clusters.set_start(c, old, "auto")
            clusters.ctl(c, old, "start")
            run.state["cluster"] = f"{old.id} serves port {port} again"
            return f"{old.id} (kept by the upgrade) started on port {port}"
        return restore_old(c, run, state, old)

    @commands(lambda c, run: [psql_shown(c, "every table's row count and md5; SHOW server_version"),
                              "pg_conftool show all  (the configuration compared with before)"])
    def step_prove(c, run):
        """Every table equal to its fingerprint before the upgrade; the old version answers,
        configured as before."""
        now = db.all_fingerprints(c, version=fp_version)
        diffs = _fp_diff(before, now)
        if diffs:
            raise Failed("after the rollback the data differs from before the upgrade: "
                         + "; ".join(diffs[:10]))
        version = db.psql(c, "SHOW server_version;", db="postgres").strip()
        if not version.startswith(from_v + "."):
            raise Failed(f"port {port} answers PostgreSQL {version}, not {from_v}.x")
        run.data.version = version
        config = ""
        if state.get("config"):   # recorded by the upgrade (runs before it did not)
            back = clusters.find(clusters.listing(c), from_v, name)
            diffs = clusters.config_diff(state["config"], clusters.config_snapshot(c, back))
            if diffs:
                raise Failed(f"after the rollback {back.id}'s configuration differs from before "
                             "the upgrade: " + "; ".join(diffs))
            config = "; configuration as before the upgrade"
        return f"PostgreSQL {version}; all {sum(len(t) for t in now.values())} tables equal the " \
               f"pre-upgrade fingerprints{config}"

    @commands(lambda c, run: [f"write {state_path(c)}"])
    def step_record(c, run):
        """The rollback recorded in the state file (pg_upgrade.cleanup reads it)."""
        state["phase"] = "rolled back"
        state["rolled_back_by"] = run.run_id
        write_state(c, state)
        return f"state: rolled back ({state_path(c)})"

    return [Step("maintenance.on", maintenance.step_on),
            Step("stop app", step_stop_app),
            Step("writes since the upgrade", step_changes),
            Step(f"stop and keep the {to_v} cluster", step_park_new),
            Step(f"PostgreSQL {from_v} back on port {port}", step_old_back),
            Step("fingerprints == before the upgrade", step_prove),
            Step("start app", step_start_app),
            Step("smoke contract", step_smoke),
            Step("maintenance.off", maintenance.step_off),
            Step("record", step_record)]


def _linked(c, old):
    """True when `old`'s data files were linked into a new cluster that has started."""
    return c.run(f"sudo -n -u postgres test -e {q(old.datadir + '/global/pg_control.old')}",
                 hide=True, warn=True).ok


def restore_old(c, run, state, old):
    """Recreate the old-version cluster and restore the run's verified backup into it."""
    from_v, name, port = state["from"], state["cluster"], state["port"]
    bname = state["backup"]
    manifest = backup.read_manifest(c, bname)
    problems = backup.verify_files(c, bname, manifest)
    if problems:
        raise Failed(f"backup {bname} is not usable: {'; '.join(problems)}; the {state['to']} "
                     "cluster is kept stopped: start it again with pg_ctlcluster")
    if old is not None:  # its files are hard links now owned by the new cluster's data
        sudo(c, "pg_dropcluster", old.version, old.name, "--stop", hide=True)
    enc, collate, ctype, checksums = (state.get("locale") or "UTF8|C.UTF-8|C.UTF-8|off").split("|")
    args = ["pg_createcluster", from_v, name, "-p", str(port), "-e", enc,
            f"--lc-collate={collate}", f"--lc-ctype={ctype}"]
    if checksums == "on":
        args += ["--", "--data-checksums"]
    sudo(c, *args, hide=True)
    fresh = clusters.find(clusters.listing(c), from_v, name)
    if state.get("config"):   # the old cluster's own configuration, not pg_createcluster's
        clusters.write_config(c, fresh, state["config"]["files"])
        clusters.set_port(c, fresh, port)
    clusters.ctl(c, fresh, "start")
    run.state["cluster"] = f"a fresh {from_v}/{name} serves port {port} (restore in progress)"
    prefix, _ = db.client_prefix(c, "psql")
    c.run(f"{prefix} -X -q -d postgres < {q(backup.bdir(c, bname) + '/globals.sql')} >/dev/null "
          "2>&1 || true", hide=True)  # `role "postgres" already exists` is expected
    owners = state.get("owners", {})
    live = c.site.database.name
    backup.restore_into(c, bname, live, owner=owners.get(live))
    for dbname, dump in manifest.get("other_databases", {}).items():
        backup.restore_into(c, bname, dbname, dump=dump, owner=owners.get(dbname))
    run.state["cluster"] = f"a fresh {from_v}/{name} serves port {port}, restored from {bname}"
    return (f"{from_v}/{name} recreated on port {port}; {1 + len(manifest.get('other_databases', {}))}"
            f" database(s) restored from {bname} (link: the old files were not usable)")


# --- cleanup: the newer cluster a rollback kept ----------------------------------------------
def kept_backup_script(c, cluster, name):
    """(script, args, env): pg_dump -Fc of every database of `cluster` (the app's as db.dump, as
    backup.verify reads) plus its globals into <backup.dir>/<name>, each dump read in full; then
    the file list (scripts/kept_backup.sh)."""
    pg_env, _ = db.script_env(c, port=cluster.port, local=True)
    return (load("runbook.postgres", "pg.sh") + load("runbook.runbooks", "kept_backup.sh"),
            (c.site.backup.dir, backup.bdir(c, name), c.site.database.name),
            {**pg_env, "RB_DATABASES_SQL": db.DATABASES_SQL})


def cleanup_steps(c, state, kept):
    fp_version = int(state.get("fingerprint_version", 1))

    @commands(lambda c, run: [
        f"{ctl_shown(kept.version, kept.name, 'start')}  (if stopped; stopped again after)",
        f"pg_dump -Fc per database, pg_dumpall --globals-only > {backup.bdir(c, '<run id>')}/",
        f"pg_restore -f /dev/null each dump (read in full); write {backup.bdir(c, '<run id>')}/manifest.json"])
    def step_backup_kept(c, run):
        """Every database of the kept cluster dumped into a backup, each dump read in full."""
        started = not kept.online
        if started:
            clusters.ctl(c, kept, "start")
        try:
            name = run.run_id
            text, args, env = kept_backup_script(c, kept, name)
            r = run_script(c, text, *args, env=env, warn=True)
            out = sections(r.stdout)
            if not r.ok:
                said = (out.get("error") or (r.stderr or "?").strip().splitlines()[-1:])[0]
                raise Failed(f"the backup of {kept.id} failed: {said}", recovery=(
                    f"nothing was dropped; fix the cause and rerun {fab(c, 'pg_upgrade.cleanup')} "
                    f"(the partial backup is {backup.bdir(c, name)})"))
            files = {f.strip(): {"size": int(size), "sha256": digest} for size, digest, f in
                     (line.split(None, 2) for line in out.get("files", []))}
            tables = db.fingerprints(c, port=kept.port, version=fp_version) \
                if "db.dump" in files else {}
            manifest = {
                "name": name, "host": c.site.name, "database": c.site.database.name,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "postgresql": kept.version, "cluster": kept.id,
                "note": f"the {kept.id} cluster kept by pg_upgrade.rollback, before cleanup",
                "json_dumps": {}, "applied_migrations": [],
                "other_databases": dict(x.split("|", 1)[::-1] for x in out.get("others", [])),
                "tables": {t: {"rows": n, "md5": h} for t, (n, h) in tables.items()},
                "files": files, "fingerprint_version": fp_version}
            atomic_write(c, f"{backup.bdir(c, name)}/manifest.json",
                         json.dumps(manifest, indent=2) + "\n")
            backup.mark_verified(c, name, "full read")
        finally:
            if started:
                clusters.ctl(c, kept, "stop", warn=True)
        run.data.backup = name
        run.state["backup"] = f"{kept.id}'s databases are in backup {name}"
        return f"{len(files) - 1} dump(s) and globals in {backup.bdir(c, name)}, each read in full"

    @commands(lambda c, run: [f"sudo -n {sh('pg_dropcluster', kept.version, kept.name, '--stop')}",
                              f"sudo -n -u postgres rm -rf -- {kept.configdir}"])
    def step_drop(c, run):
        """The kept cluster dropped, its configuration saved beside its backup first."""
        # pg_dropcluster leaves the files it did not create (conf.d/*), and a later cluster of
        # that name would start with them: they go into the backup, then away with the cluster
        atomic_write(c, f"{backup.bdir(c, run.data.backup)}/config.json",
                     json.dumps(clusters.config_snapshot(c, kept), indent=2) + "\n")
        sudo(c, "pg_dropcluster", kept.version, kept.name, "--stop", hide=True)
        c.run(f"sudo -n -u postgres rm -rf -- {q(kept.configdir)}", hide=True)
        state["cleanup"] = {"run": run.run_id, "dropped": kept.id, "backup": run.data.backup}
        write_state(c, state)
        return f"dropped {kept.id}; pg_upgrade.run --to {kept.version} may run again"

    return [Step(f"back up {kept.id}", step_backup_kept),
            Step(f"drop {kept.id}", step_drop)]


# --- tasks -----------------------------------------------------------------------------------


def step_tag(name):
    @commands(lambda c, run: [f"git tag -a {name} -m 'release tag {name}' HEAD",
                              f"git push --quiet {c.site.app.git_remote} refs/tags/{name}"])
    def run_step(c, run):
        """The deployed commit tagged and the tag pushed (a tag is never moved)."""
        from runbook.runbooks.release import tag_commit
        return tag_commit(c, name, "HEAD")
    return run_step
