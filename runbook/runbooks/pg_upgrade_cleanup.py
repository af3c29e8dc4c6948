"""pg_upgrade.cleanup: after a rollback, the newer cluster it kept (with any writes made on it)
backed up like a deploy's backup, each dump read in full, then dropped with its configuration.
"""
import json
from datetime import datetime, timezone

from runbook.engine.fabcmd import fab
from runbook.engine.runner import Failed, Step, commands
from runbook.engine.scripts import script as load
from runbook.engine.shell import sh
from runbook.host.remote import atomic_write, q, run_script, sections, sudo
from runbook.ops import backup
from runbook.postgres import clusters, db
from runbook.runbooks.pg_upgrade import ctl_shown, write_state


def cleanup_steps(c, state, kept):
    """The steps of pg_upgrade.cleanup for the cluster `kept` by the rollback `state` records."""
    return [Step(f"back up {kept.id}", _step_backup_kept(state, kept)),
            Step(f"drop {kept.id}", _step_drop(state, kept))]


def kept_backup_script(c, cluster, name):
    """(script, args, env): pg_dump -Fc of every database of `cluster` (the app's as db.dump, as
    backup.verify reads) plus its globals into <backup.dir>/<name>, each dump read in full; then
    the file list (scripts/kept_backup.sh)."""
    pg_env, _ = db.script_env(c, port=cluster.port, local=True)
    return (load("runbook.postgres", "pg.sh") + load("runbook.runbooks", "kept_backup.sh"),
            (c.site.backup.dir, backup.bdir(c, name), c.site.database.name),
            {**pg_env, "RB_DATABASES_SQL": db.DATABASES_SQL})


def _step_backup_kept(state, kept):
    """The step that dumps every database of the kept cluster into a verified backup."""
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
            manifest = _manifest(c, kept, name, out, files, fp_version)
            atomic_write(c, f"{backup.bdir(c, name)}/manifest.json",
                         json.dumps(manifest, indent=2) + "\n")
            backup.mark_verified(c, name, "full read")
        finally:
            if started:
                clusters.ctl(c, kept, "stop", warn=True)
        run.data.backup = name
        run.state["backup"] = f"{kept.id}'s databases are in backup {name}"
        return f"{len(files) - 1} dump(s) and globals in {backup.bdir(c, name)}, each read in full"
    return step_backup_kept


def _manifest(c, kept, name, out, files, fp_version):
    """The backup's manifest.json, as backup.verify and rollback.restore read a deploy's."""
    tables = db.fingerprints(c, port=kept.port, version=fp_version) if "db.dump" in files else {}
    return {
        "name": name, "host": c.site.name, "database": c.site.database.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "postgresql": kept.version, "cluster": kept.id,
        "note": f"the {kept.id} cluster kept by pg_upgrade.rollback, before cleanup",
        "json_dumps": {}, "applied_migrations": [],
        "other_databases": dict(x.split("|", 1)[::-1] for x in out.get("others", [])),
        "tables": {t: {"rows": n, "md5": h} for t, (n, h) in tables.items()},
        "files": files, "fingerprint_version": fp_version}


def _step_drop(state, kept):
    """The step that drops the kept cluster once it is backed up."""
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
    return step_drop
