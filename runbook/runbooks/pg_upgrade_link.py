"""pg_upgrade.run --method link with pg_upgradecluster's fixed costs before the window.

`pg_upgradecluster -m link` stops the old cluster, then creates and configures the new one
(pg_createcluster: an initdb), runs pg_upgrade --link and starts the new cluster: all of it
while the app waits. Here the new cluster is made before maintenance goes on, as
pg_upgradecluster makes it (its locale and checksums, the old cluster's configuration files
with their own paths rewritten, on a spare port, not started) and `pg_upgrade --check` runs
against it with the old cluster up; the window holds the old cluster's stop, `pg_upgrade
--link`, the ports swapped (the new cluster takes the app's, the old one is kept, stopped, on
the spare one, start.conf manual) and the new cluster's start
(docs/BEHAVIOUR.md#pg-upgradecluster, scripts/pg_upgrade_link.sh).
"""
import re
import time

from runbook.engine.fabcmd import fab
from runbook.engine.runner import Failed, commands
from runbook.engine.scripts import script
from runbook.engine.shell import sh
from runbook.host.remote import run_script, sudo
from runbook.postgres import clusters

# settings naming the cluster's own version in postgresql.conf, rewritten for the new one
# (pg_upgradecluster's adapt_conffiles); stats_temp_directory is gone from 15 on
OWN_PATHS = ("hba_file", "ident_file", "external_pid_file", "cluster_name")


def _names(run):
    rep = run.data.report
    return rep.source, rep.target_version


def _shown(run):
    """(version, name, target version) for a plan: the report's, or what the plan read."""
    rep = run.data.report
    version, name = (rep.source.version, rep.source.name) if rep else (
        run.data.source or ("OLD", "CLUSTER"))
    return version, name, run.args["to"]


def target_settings(src, to, settings, datadir, port):
    """{name: value or None (removed)} that make the old postgresql.conf the new cluster's."""
    def moved(value):
        return re.sub(rf"(?<![\w.]){re.escape(src.version)}(?![\w.])", to, value)
    out = {k: moved(settings[k]) for k in OWN_PATHS if k in settings}
    out.update(data_directory=datadir, port=str(int(port)))
    if int(to) >= 15:
        out["stats_temp_directory"] = None
    return out


def link_script(c, src, new, *mode):
    """scripts/pg_upgrade_link.sh from `src` into the prepared cluster `new` (on its spare port)."""
    return run_script(c, script("runbook.postgres", "pg_upgrade_link.sh"), clusters.BINROOT,
                      clusters.CONFROOT, src.version, new.version, src.name, str(src.port),
                      str(new.port), new.datadir, *mode, user="postgres", warn=True)


def _said(r):
    tail = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()]
    return " / ".join(tail[-4:]) or f"exit {r.exited}"


@commands(lambda c, run: [
    f"sudo -n pg_createcluster {_shown(run)[2]} {_shown(run)[1]} -p <spare port> "
    "--start-conf manual -e <its encoding> --lc-collate=... --lc-ctype=... (the old cluster's)",
    "the old cluster's configuration files written to it; pg_conftool set data_directory, "
    "port, its own paths",
    "sudo -n -u postgres pg_upgrade --check --link ...  (the old cluster running)"])
def step_target(c, run):
    """Before the window: the new cluster created and configured as pg_upgradecluster would,
    not started, on a spare port; pg_upgrade --check against it passes (else it is dropped)."""
    src, to = _names(run)
    start = time.monotonic()
    port = clusters.free_port(c, clusters.listing(c))
    sudo(c, *clusters.create_argv(to, src.name, port, run.data.report.locale, "-u", src.owner,
                                  "--start-conf", "manual"), hide=True)
    try:
        new = clusters.find(clusters.listing(c), to, src.name)
        old = clusters.config_snapshot(c, src)
        clusters.write_config(c, new, old["files"])
        clusters.set_conf(c, new, target_settings(src, to, old["settings"], new.datadir, port))
        made = time.monotonic() - start
        r = link_script(c, src, new, "--check")
        if not r.ok:
            raise Failed(f"pg_upgrade --check against the prepared {new.id} failed: {_said(r)}")
    except BaseException:
        sudo(c, "pg_dropcluster", to, src.name, "--stop", hide=True, warn=True)
        raise
    run.data.target_port = port
    run.state["target"] = (f"the prepared {to}/{src.name} (empty, stopped, port {port}) stays; "
                           "pg_upgrade.run --drop-empty-target drops it first")
    return (f"{new.id} created and configured on port {port} in {made:.1f}s; pg_upgrade --check "
            f"passed in {time.monotonic() - start - made:.1f}s")


@commands(lambda c, run: [
    f"sudo -n {sh('pg_ctlcluster', *_shown(run)[:2], 'stop')}",
    f"sudo -n -u postgres pg_upgrade --link -j $(nproc) -d {clusters.CONFROOT}/{_shown(run)[0]}/"
    f"{_shown(run)[1]} -D {clusters.CONFROOT}/{_shown(run)[2]}/{_shown(run)[1]} ...; ports "
    "swapped; start.conf of the old cluster: manual",
    f"pg_ctl start -w -D <its data directory> -o '-c config_file=...'  (as postgres; with "
    f"systemd or pg_ctl.conf options: sudo -n {sh('pg_ctlcluster', *_shown(run)[2:0:-1], 'start')})"])
def step_upgrade_link(c, run):
    """The old cluster stopped, pg_upgrade --link into the prepared cluster, the ports swapped,
    the new cluster started on the app's port."""
    src, to = _names(run)
    new = clusters.find(clusters.listing(c), to, src.name)
    if new is None or new.port != run.data.target_port:
        raise Failed(f"the prepared {to}/{src.name} is not on port {run.data.target_port} "
                     f"({new.id + ' on ' + str(new.port) if new else 'missing'}); nothing was "
                     "stopped")
    run.state.pop("target", None)
    run.state["cluster"] = (f"pg_upgrade --link {src.id} -> {to} was started; to go back: "
                            f"{fab(c, 'pg_upgrade.rollback')}")
    took, start = [], time.monotonic()
    r = clusters.ctl(c, src, "stop", warn=True)
    if not r.ok:
        raise Failed(f"{src.id} did not stop: {_said(r)}")
    took.append(time.monotonic() - start)
    r = link_script(c, src, new)
    if not r.ok:
        raise Failed(f"pg_upgrade --link or {new.id}'s start failed: {_said(r)}")
    took.append(time.monotonic() - start - sum(took))
    how = "pg_ctl"
    if "@@ctl" in r.stdout.split():   # systemd, or options only pg_ctlcluster applies
        how = "pg_ctlcluster"
        r = clusters.ctl(c, new, "start", warn=True)
        if not r.ok:
            raise Failed(f"{new.id} did not start on port {src.port}: {_said(r)}")
    took.append(time.monotonic() - start - sum(took))
    return (f"{src.id} stopped in {took[0]:.1f}s; pg_upgrade --link, {new.id} moved to port "
            f"{src.port} and started ({how}) in {took[1] + took[2]:.1f}s")
