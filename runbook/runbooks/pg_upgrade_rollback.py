"""pg_upgrade.rollback: back to the old major version on the app's port, the data proved equal
to its fingerprints before the upgrade. dump and copy start the cluster the upgrade kept; link
recreates it from the run's verified backup (docs/BEHAVIOUR.md#pg-upgrade-link-no-way-back). The
new cluster is never dropped here: it is stopped and moved to a free port, with any writes made
since, until pg_upgrade.cleanup backs it up and drops it.
"""
from runbook.engine.runner import Failed, Step, commands
from runbook.engine.shell import sh
from runbook.host.remote import q, sudo
from runbook.ops import backup, maintenance
from runbook.postgres import clusters, db
from runbook.postgres.upgrade_check import state_path
from runbook.runbooks.pg_upgrade import ctl_shown, fp_diff, psql_shown, step_smoke, write_state
from runbook.runbooks.rollback import step_start_app, step_stop_app


def rollback_steps(c, state):
    """The steps of pg_upgrade.rollback for the upgrade `state` (pg_upgrade.json) recorded."""
    from_v, to_v, port = state["from"], state["to"], state["port"]
    # recorded as rolled back once proven: a stop after it is finished by a rerun (finish_steps),
    # which cannot prove the data again (the smoke checks write: a login token)
    return [Step("maintenance.on", maintenance.step_on),
            Step("stop app", step_stop_app),
            Step("writes since the upgrade", _step_changes(state)),
            Step(f"stop and keep the {to_v} cluster", _step_park_new(state)),
            Step(f"PostgreSQL {from_v} back on port {port}", _step_old_back(state)),
            Step("fingerprints == before the upgrade", _step_prove(state)),
            Step("record", _step_record(state)),
            *finish_steps(state)]


def finish_steps(state):
    """What follows the recorded rollback: the app back, its smoke contract, maintenance off,
    then the rollback recorded as finished (a rerun before that finishes it: tasks/pg_upgrade.py)."""
    @commands(lambda c, run: [f"write {state_path(c)}"])
    def step_finished(c, run):
        """The rollback recorded as finished in the state file."""
        state["rollback_finished"] = run.run_id
        write_state(c, state)
        return "state: rollback finished"

    return [Step("start app", step_start_app),
            Step("smoke contract", step_smoke),
            Step("maintenance.off", maintenance.step_off),
            Step("record finished", step_finished)]


def unfinished(state):
    """True when a recorded rollback stopped before its end (the app, smoke, maintenance);
    state files from before this mark count as finished."""
    return state.get("phase") == "rolled back" and "rollback_finished" in state \
        and state["rollback_finished"] is None


def _before(state):
    """The fingerprints recorded before the upgrade, and their version (as the upgrade wrote
    them): {db: {table: (rows, md5)}}, version."""
    before = {d: {t: tuple(v) for t, v in tables.items()} for d, tables in state["before"].items()}
    return before, int(state.get("fingerprint_version", 1))


def _step_changes(state):
    """The step that reports the tables written on the new cluster since the upgrade."""
    to_v, name = state["to"], state["cluster"]
    before, fp_version = _before(state)

    @commands(lambda c, run: ["pg_lsclusters -h", psql_shown(c, f"on the {to_v} cluster's port: every "
                              "table's row count and md5, compared with before the upgrade")])
    def step_changes(c, run):
        """The tables written on the new cluster since the upgrade (they stay there: reported)."""
        have = clusters.listing(c)
        new = clusters.find(have, to_v, name)
        if new is None or not new.online:
            return "the new cluster is not running: nothing written since the upgrade"
        diffs = fp_diff(before, db.all_fingerprints(c, port=new.port, version=fp_version))
        if diffs:
            run.state["writes"] = ("writes made on " + to_v + " since the upgrade stay in the kept "
                                   f"{new.id} cluster: " + "; ".join(diffs[:5]))
        return ("changed since the upgrade (kept in the new cluster): " + "; ".join(diffs[:5])
                if diffs else "no table changed since the upgrade")
    return step_changes


def _step_park_new(state):
    """The step that stops the new cluster and moves it off the app's port, kept."""
    to_v, name, port = state["to"], state["cluster"], state["port"]

    @commands(lambda c, run: [ctl_shown(to_v, name, "stop"), f"start.conf of {to_v}/{name}: manual",
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
    return step_park_new


def _step_old_back(state):
    """The step that puts the old version back on the app's port."""
    from_v, name, port = state["from"], state["cluster"], state["port"]

    @commands(lambda c, run: [
        f"sudo -n -u postgres pg_conftool {sh(from_v, name)} set port {int(port)}; start.conf auto; "
        + ctl_shown(from_v, name, "start"), f"(link: pg_createcluster {sh(from_v, name)} and the backup "
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
    return step_old_back


def _step_prove(state):
    """The step that proves the data and the configuration equal to before the upgrade."""
    from_v, name, port = state["from"], state["cluster"], state["port"]
    before, fp_version = _before(state)

    @commands(lambda c, run: [psql_shown(c, "every table's row count and md5; SHOW server_version"),
                              "pg_conftool show all  (the configuration compared with before)"])
    def step_prove(c, run):
        """Every table equal to its fingerprint before the upgrade; the old version answers,
        configured as before."""
        now = db.all_fingerprints(c, version=fp_version)
        diffs = fp_diff(before, now)
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
    return step_prove


def _step_record(state):
    """The step that records the rollback in the state file."""
    @commands(lambda c, run: [f"write {state_path(c)}"])
    def step_record(c, run):
        """The rollback recorded in the state file (pg_upgrade.cleanup reads it)."""
        state["phase"] = "rolled back"
        state["rolled_back_by"] = run.run_id
        state["rollback_finished"] = None   # until the app serves again (finish_steps)
        write_state(c, state)
        return f"state: rolled back ({state_path(c)})"
    return step_record


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
    sudo(c, *clusters.create_argv(from_v, name, port, state.get("locale")), hide=True)
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
