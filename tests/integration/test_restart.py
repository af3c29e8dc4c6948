"""The app's restart against the sandbox: reload (gunicorn HUP) or restart, proven by the commit.

The sandbox sets service.restart = "reload" and health.revision_key = "revision" (its /healthz
names the commit the running gunicorn loaded). Each test proves what happened from supervisor's
process ids and HTTP, not from the tool's words alone.
"""
import json
import subprocess
import time

import pytest

from tests.support.sandbox import Fab, http_get, make_inventory

SITE = "http://127.0.0.1:8080"


def master_pid():
    return subprocess.run(["supervisorctl", "pid", "recorder"], capture_output=True, text=True,
                          check=True).stdout.strip()


def worker_pids():
    out = subprocess.run(["pgrep", "-P", master_pid()], capture_output=True, text=True).stdout
    return set(out.split())


def new_workers(old, timeout=10):
    """The master's workers once none of `old` is left (old ones drain after a HUP)."""
    deadline = time.monotonic() + timeout
    while True:
        now = worker_pids()
        if (now and not now & old) or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


def served():
    status, body = http_get(SITE + "/healthz", timeout=10)
    return status, json.loads(body).get("revision") if status == 200 else None


def v1():
    return subprocess.run(["git", "--git-dir", "/srv/git/recorder.git", "rev-parse", "v1"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def fab_with(home, sandbox, tmp_path, reset_sandbox):
    """`fab` with the sandbox inventory, edited `old=new`."""
    return lambda **edits: Fab(home, make_inventory(tmp_path / "inv", **edits))


def test_reload_swaps_the_workers_under_the_same_master_and_proves_the_commit(fab_with):
    master, workers = master_pid(), worker_pids()
    r = fab_with()("-H", "sandbox", "deploy.restart")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"recorder reloaded, serving {v1()[:12]}, health 200 in" in r.stdout
    assert master_pid() == master                  # no stop: the same gunicorn master
    now = new_workers(workers)
    assert now and not now & workers               # every worker is new
    assert served() == (200, v1())


def test_restart_mode_replaces_the_master(fab_with):
    master = master_pid()
    r = fab_with(**{'restart = "reload"': 'restart = "restart"'})("-H", "sandbox", "deploy.restart")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"recorder restarted, serving {v1()[:12]}, health 200 in" in r.stdout
    assert master_pid() != master
    assert served() == (200, v1())


def test_an_app_not_naming_the_commit_is_restarted_then_refused(fab_with):
    """The proof can fail: a health key that never names the commit (here "status": "ok") makes
    the reload untrusted, the restart is tried, and the step fails naming what answered."""
    fab = fab_with(**{'revision_key = "revision"': 'revision_key = "status"',
                      "timeout = 30": "timeout = 3"})
    master = master_pid()
    r = fab("-H", "sandbox", "deploy.restart")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"the reload did not bring up {v1()[:12]} (health 200 but it names ok)" in r.stdout
    assert "restarting recorder instead" in r.stdout
    assert f"names revision ok, not {v1()[:12]}" in r.stdout + r.stderr
    assert master_pid() != master                  # the fallback restart did happen
    assert served() == (200, v1())                 # and the app still serves


def test_reload_without_revision_key_is_refused_before_connecting(fab_with):
    r = fab_with(**{'revision_key = "revision"\n': ""})("-H", "sandbox", "deploy.restart")
    assert r.returncode != 0
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and '"reload" needs health.revision_key' in lines[0], r.stderr
