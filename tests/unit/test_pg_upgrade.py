"""pg_upgrade's configuration carry-over and cleanup pointer, without a cluster.

The configuration scripts really run with bash here (as this user instead of postgres), on a
config and a data directory in a temp dir: what they write is what they read back.
"""
import json
import os

import pytest

from runbook.postgres import clusters, upgrade_check, upgrade_estimate
from runbook.postgres.clusters import Cluster
from runbook.runbooks import pg_upgrade_link
from runbook.runbooks.pg_upgrade import run_steps
from tests.support.host import FakeHost
from tests.support.sites import make_site


class AsThisUser(FakeHost):
    """Runs the commands locally, dropping the `sudo -n -u postgres` the host needs."""

    def answer(self, command, stdin):
        return super().answer(command.replace("sudo -n -u postgres ", ""), stdin)


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    monkeypatch.setattr(clusters, "CONFROOT", str(tmp_path / "etc"))
    (tmp_path / "etc/14/main").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    return Cluster("14", "main", 5433, "down", "postgres", str(tmp_path / "data"))


FILES = {"pg_hba.conf": "local all all peer\nhost app app 10.1.2.3/32 scram-sha-256\n",
         "pg_ident.conf": "",
         "postgresql.conf": "port = 5432\ninclude_dir = 'conf.d'\n",
         "postgresql.auto.conf": "work_mem = '8MB'\n",
         "conf.d/my settings.conf": "work_mem = '7MB'\n# 'quoted' \"and\" $(not run)\n"}


def test_config_written_is_read_back_verbatim(tmp_path, cluster):
    c = AsThisUser(execute=True)
    clusters.write_config(c, cluster, FILES)
    assert not any(v in cmd for cmd in c.commands for v in FILES.values() if v)  # stdin only
    snap = clusters.config_snapshot(c, cluster)
    assert snap == {"files": FILES, "settings": {}}
    assert (tmp_path / "data/postgresql.auto.conf").read_text() == FILES["postgresql.auto.conf"]
    assert oct(os.stat(tmp_path / "etc/14/main/pg_hba.conf").st_mode & 0o777) == "0o640"


def test_snapshot_of_a_missing_config_dir_is_empty(cluster):
    gone = Cluster("13", "main", 5433, "down", "postgres", "/nonexistent")
    assert clusters.config_snapshot(AsThisUser(execute=True), gone) == {"files": {},
                                                                        "settings": {}}


def snap(files=None, **settings):
    return {"files": {**FILES, **(files or {})}, "settings": {
        "port": "5432", "cluster_name": "14/main", "work_mem": "7168", **settings}}


def test_config_diff_names_every_difference():
    old = snap()
    assert clusters.config_diff(old, snap()) == []
    new = snap({"conf.d/my settings.conf": None, "pg_hba.conf": "local all all peer\n",
                "postgresql.conf": "port = 5432\n# rewritten by pg_upgradecluster\n"},
               cluster_name="15/main", work_mem="4096", primary_conninfo="password=s3cret")
    del new["files"]["conf.d/my settings.conf"]
    diffs = clusters.config_diff(old, new, rewritten=True)
    assert diffs == ["conf.d/my settings.conf: missing", "pg_hba.conf: differs",
                     "primary_conninfo = (hidden) (was default)",
                     "work_mem = '4096' (was '7168')"]
    # the same version (a rollback): postgresql.conf and cluster_name must be equal too
    same = clusters.config_diff(old, new)
    assert "postgresql.conf: differs" in same and "cluster_name = '15/main' (was '14/main')" in same


def report(names):
    rep = upgrade_check.Report(source=Cluster("14", "main", 5432, "online", "postgres", "/d"),
                               target_version="16")
    upgrade_check.settings_line(rep, names, ["work_mem", "DateStyle", "port"])
    return rep


def test_settings_the_target_version_lacks_are_refused_by_the_check():
    assert not report(["work_mem", "datestyle", "stats_temp_directory",
                       "pg_stat_statements.track"]).problems
    rep = report(["work_mem", "vacuum_defer_cleanup_age"])
    assert rep.problems == ["setting(s) vacuum_defer_cleanup_age of 14/main's configuration do "
                            "not exist in 16: remove them (postgresql.conf, conf.d) first"]


@pytest.mark.parametrize("state, says", [
    ({"phase": "rolled back", "to": "15", "cluster": "main", "run": "r1"},
     "pg_upgrade.rollback of r1 kept it; back it up and drop it with: "
     "fab -H web pg_upgrade.cleanup"),
    ({"phase": "done", "to": "15", "cluster": "main", "run": "r1"}, "it is not ours to drop"),
    (None, "it is not ours to drop"),
])
def test_a_target_cluster_kept_by_a_rollback_points_to_cleanup(tmp_path, state, says):
    c = FakeHost(make_site(tmp_path, backup={"dir": str(tmp_path)}), execute=True)
    if state:
        (tmp_path / upgrade_check.STATE_FILE).write_text(json.dumps(state))
    tgt = Cluster("15", "main", 5434, "down", "postgres", "/d15")
    src = Cluster("14", "main", 5432, "online", "postgres", "/d14")
    assert upgrade_check.kept_by_rollback(c, tgt, src).startswith(says)


# --- the downtime estimate (runbook/postgres/upgrade_estimate.py) ------------------------------
def journal(run, method, size_mb, steps, outcome="ok"):
    """The records a pg_upgrade.run writes: start, steps (name, seconds), end."""
    recs = [{"kind": "run", "event": "start", "run": run, "task": "pg_upgrade.run",
             "args": {"to": "15", "method": method}},
            {"kind": "step", "run": run, "step": "preflight", "outcome": "ok", "duration": 3,
             "detail": f"14/main -> 15 by {method}: checks passed; 5 databases, {size_mb} MB; ..."}]
    recs += [{"kind": "step", "run": run, "step": n, "outcome": "ok", "duration": d}
             for n, d in steps]
    return recs + [{"kind": "run", "event": "end", "run": run, "outcome": outcome}]


WINDOW = [("backup.create", 9), ("maintenance.on", 0.2), ("stop workers", 1), ("fingerprint before", 2),
          ("pg_upgrade --link", 8), ("analyze", 5), ("fingerprint after == before", 2),
          ("reload app", 4), ("maintenance.off", 0.1), ("record", 0), ("analyze (the app serving)", 6)]
# a run of the tool before the app stayed up: it stopped and started the app in the window
OLD_WINDOW = [(n.replace("stop workers", "stop app").replace("reload app", "start app"), d)
              for n, d in WINDOW]


@pytest.mark.parametrize("recs, method, size, seconds, says", [
    # the window's steps, without analyze (before or after maintenance.off) nor the backup
    (journal("r1", "link", 100, WINDOW), "link", 100e6, 17.3, "from the last link run r1"),
    # the fingerprints scale with the data; link's upgrade does not
    (journal("r1", "link", 100, WINDOW), "link", 300e6, 25.3, "100.0 MB"),
    # copy's upgrade scales too
    (journal("r1", "copy", 100, [(n.replace("pg_upgrade --link", "pg_upgradecluster (copy)"), d)
                                 for n, d in WINDOW]), "copy",
     200e6, 17.3 + 12, "fingerprints and upgrade scaled"),
    # the last ok run of that method wins
    (journal("r1", "link", 100, WINDOW) + journal("r2", "link", 100, WINDOW[:3] + WINDOW[4:5]
                                                   + WINDOW[-4:]), "link", 100e6, 13.3, "run r2"),
    # ... unless an older tool made it (its window had other steps)
    (journal("r1", "link", 100, WINDOW) + journal("r2", "link", 100, OLD_WINDOW), "link", 100e6,
     17.3, "run r1"),
    (journal("r1", "link", 100, WINDOW) + journal("r2", "link", 100, WINDOW[:3], "failed"),
     "link", 100e6, 17.3, "run r1"),
])
def test_the_estimate_comes_from_the_last_run_of_the_method(recs, method, size, seconds, says):
    probe = upgrade_estimate.Probe(None)
    probe._recs = recs
    got, source = upgrade_estimate.estimate(probe, size, method)
    assert got == pytest.approx(seconds) and says in source, (got, source)


@pytest.mark.parametrize("recs, app, says", [
    ([], upgrade_estimate.APP_DEFAULT, "assumed"),
    # a deploy's restart is no measure of a stop and a start (with [switch] nothing stops)
    ([{"kind": "step", "step": "restart", "outcome": "ok", "duration": 0.2}],
     upgrade_estimate.APP_DEFAULT, "assumed"),
    ([{"kind": "step", "step": "stop workers", "outcome": "ok", "duration": 1},
      {"kind": "step", "step": "reload app", "outcome": "ok", "duration": 2}], 3,
     "stop workers + reload app"),
    # a rollback's (or an older upgrade's) stop and start of the app is no measure of a reload
    ([{"kind": "step", "step": "stop app", "outcome": "ok", "duration": 1},
      {"kind": "step", "step": "start app", "outcome": "ok", "duration": 2}],
     upgrade_estimate.APP_DEFAULT, "assumed"),
    # another method's run is no measure of this one: the probe
    (journal("r1", "dump", 100, WINDOW), 5.0, "stop workers + reload app"),
    # nor an older tool's run of this method
    (journal("r1", "link", 100, OLD_WINDOW), upgrade_estimate.APP_DEFAULT, "assumed"),
])
def test_without_a_run_of_the_method_the_estimate_comes_from_the_probe(recs, app, says):
    probe = upgrade_estimate.Probe(None)
    probe._recs, probe._fingerprint, probe.check = recs, 0.5, 2.0
    got, source = upgrade_estimate.estimate(probe, 50e6, "link")
    assert got == pytest.approx(upgrade_estimate.OWN_STEPS + app + 1.0 + upgrade_estimate.LINK_FIXED
                                + 2.0 * upgrade_estimate.LINK_PER_CHECK)
    assert source.startswith("from a probe") and says in source, source


UPGRADE = {"dump": "pg_upgradecluster (dump)", "copy": "pg_upgradecluster (copy)",
           "link": "pg_upgrade --link"}


@pytest.mark.parametrize("method", upgrade_check.METHODS)
def test_statistics_are_rebuilt_after_the_window_the_extensions_inside_it(method):
    names = [s.name for s in run_steps(None, "15", method, False)]
    assert names.index("maintenance.off") < names.index("analyze (the app serving)") == len(names) - 1
    assert names.index(UPGRADE[method]) < names.index("extension updates") \
        < names.index("reload app")


@pytest.mark.parametrize("method", upgrade_check.METHODS)
def test_the_app_keeps_running_only_the_workers_stop_outside_the_window(method):
    names = [s.name for s in run_steps(None, "15", method, False)]
    assert "stop app" not in names and "start app" not in names
    assert names.index("maintenance.on") < names.index("stop workers") \
        < names.index("fingerprint before")
    assert names.index("fingerprint after == before") < names.index("reload app") \
        < names.index("smoke contract") < names.index("maintenance.off") < names.index("start workers")
    # the estimate trusts only runs whose window holds what the window holds now
    window = names[names.index("maintenance.on"):names.index("maintenance.off") + 1]
    assert set(upgrade_estimate.WINDOW_NOW.get(method, upgrade_estimate.APP_STEPS)) <= set(window)
    assert UPGRADE[method] in window


def test_link_makes_the_target_cluster_before_the_window():
    names = [s.name for s in run_steps(None, "15", "link", True)]
    assert names.index("backup drill (link has no way back but the backup)") \
        < names.index("drop empty target cluster") < names.index("target cluster (before the window)") \
        < names.index("maintenance.on")
    assert "target cluster (before the window)" not in [s.name for s in run_steps(None, "15", "copy", True)]


@pytest.mark.parametrize("settings, to, want", [
    # Debian's own paths and name move to the new version; the data directory and port are set
    ({"hba_file": "/etc/postgresql/14/main/pg_hba.conf", "cluster_name": "14/main",
      "external_pid_file": "/var/run/postgresql/14-main.pid", "work_mem": "7168"}, "15",
     {"hba_file": "/etc/postgresql/15/main/pg_hba.conf", "cluster_name": "15/main",
      "external_pid_file": "/var/run/postgresql/15-main.pid", "stats_temp_directory": None}),
    # a 14 inside another number or a version-like word is not the version
    ({"ident_file": "/srv/pg140/14.2/ident.conf"}, "16",
     {"ident_file": "/srv/pg140/14.2/ident.conf", "stats_temp_directory": None}),
])
def test_the_target_gets_the_old_configuration_with_its_own_paths(settings, to, want):
    src = Cluster("14", "main", 5432, "online", "postgres", "/var/lib/postgresql/14/main")
    got = pg_upgrade_link.target_settings(src, to, settings, "/d/" + to, 5433)
    assert got == {**want, "data_directory": "/d/" + to, "port": "5433"}


class StateOnly:
    """What a recovery hint reads of a run: its host state."""

    def __init__(self, state):
        self.state = state


@pytest.mark.parametrize("state, says", [
    ({}, "nothing was changed; fix the cause and rerun"),
    # the app was never stopped: the hint starts the workers, not the app
    ({"maintenance": "on", "workers": "stopped"},
     "the database was not touched and the app runs;\nstart the workers: sudo -n supervisorctl "
     "start app-worker\nturn maintenance off: fab -H web maintenance.off"),
    ({"target": "prepared", "maintenance": "on"},
     "the database was not touched and the app runs;\nturn maintenance off: fab -H web "
     "maintenance.off\na new run needs --drop-empty-target (it drops the prepared empty 15 cluster "
     "first)"),
    ({"cluster": "upgrading", "maintenance": "on", "workers": "stopped"},
     "fab -H web pg_upgrade.rollback --yes"),
])
def test_the_recovery_names_what_the_run_left(tmp_path, state, says):
    c = FakeHost(make_site(tmp_path, service={"manager": "supervisor", "app": "app",
                                              "workers": ["app-worker"]}))
    steps = {s.name: s for s in run_steps(c, "15", "link", False)}
    got = steps["fingerprint before"].recovery(StateOnly(state))
    assert got.replace(f" --hosts-file {tmp_path / 'hosts.toml'}", "") == says


@pytest.mark.parametrize("state, stopped", [
    ({"phase": "upgraded"}, False),
    ({"phase": "rolled back", "rollback_finished": None}, True),     # stopped after its proof
    ({"phase": "rolled back", "rollback_finished": "20261203-000000-abcd"}, False),
    ({"phase": "rolled back"}, False),   # a state file from before the mark: finished
])
def test_a_rollback_stopped_after_its_proof_is_told_apart(state, stopped):
    from runbook.runbooks.pg_upgrade_rollback import unfinished
    assert unfinished(state) is stopped
