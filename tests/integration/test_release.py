"""deploy.release / deploy.tag against the sandbox (issue 4: the plan's staging/production flow).

Outcomes are read independently: fingerprints over psycopg, HTTP from the test (polled during
the release to see the app-level maintenance page), supervisor's own status, git in the origin.
"""
import subprocess
import threading
import time
import uuid

import pytest

from tests.support.sandbox import Fab, fingerprints, http_get, make_inventory

SITE = "http://127.0.0.1:8080"
ORIGIN = "/srv/git/recorder.git"
APP_FLAG = 'backend = "app-flag"\nflag = "/srv/recorder/maintenance/app.flag"'


@pytest.fixture
def flagfab(home, sandbox, tmp_path, reset_sandbox):
    """The sandbox with the app-level maintenance backend (the app checks the flag file)."""
    return Fab(home, make_inventory(
        tmp_path / "inv", **{'flag = "/srv/recorder/maintenance/maintenance.on"': APP_FLAG}))


def status(path="/healthz"):
    return http_get(SITE + path, timeout=5)


def git_rev(repo, ref):
    return subprocess.run(["sudo", "-u", "deploy", "git", "-C", repo, "rev-parse", ref],
                          capture_output=True, text=True, check=True).stdout.strip()


def table_exists(conn, name):
    return conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = %s",
                        (name,)).fetchone()[0] == 1


def supervisor(name):
    out = subprocess.run(["supervisorctl", "status", name], capture_output=True, text=True).stdout
    return out.split()[1] if len(out.split()) > 1 else out


def test_release_stops_at_deploy_check_warnings(sfab, db):
    with db() as conn:
        before = fingerprints(conn)
    r = sfab("-H", "sandbox", "deploy.release", "--ref", "v2-deploy-warnings")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "stopped at check --deploy" in r.stderr
    assert "accounts.W001" in r.stdout and "API tokens never expire" in r.stdout
    # the check ran on the target in the stage beside the live tree, which never moved
    assert "] stage ok" in r.stdout and "/srv/recorder/app.next" in r.stdout
    assert git_rev("/srv/recorder/app", "HEAD") == git_rev(ORIGIN, "v1")
    assert git_rev("/srv/recorder/app.next", "HEAD") == git_rev(ORIGIN, "v2-deploy-warnings")
    assert "rollback.code" not in r.stdout and "nothing was changed" in r.stdout
    with db() as conn:
        assert fingerprints(conn) == before     # nothing migrated
        assert table_exists(conn, "workshops_userprofile")
    assert status()[0] == 200 and supervisor("recorder-worker") == "RUNNING"
    assert "] makemigrations --check" not in r.stdout


def test_release_v2_with_app_flag_maintenance_and_workers(flagfab, db):
    seen = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            seen.append(status())
            time.sleep(0.05)

    worker_log = "/srv/recorder/logs/worker.log"
    poller = threading.Thread(target=poll)
    poller.start()
    try:
        r = flagfab("-H", "sandbox", "deploy.release", "--ref", "v2")
    finally:
        stop.set()
        poller.join()
    assert r.returncode == 0, r.stdout + r.stderr
    # the app itself answered 503 with the page while the flag existed (no nginx snippet here)
    assert any(code == 503 and "Scheduled Maintenance" in body for code, body in seen)
    assert not subprocess.run(["test", "-e", "/etc/nginx/deploy.d/recorder-maintenance.conf"]).returncode == 0
    assert status()[0] == 200
    with db() as conn:
        assert not table_exists(conn, "workshops_userprofile")  # v2's migrations ran
    log = open(worker_log).read()
    assert "worker stopped" in log and log.rindex("worker started") > log.index("worker stopped")
    assert supervisor("recorder-worker") == "RUNNING"
    for step in ("check --deploy", "makemigrations --check", "migrate --plan", "workers stop",
                 "workers start", "verify.smoke"):
        assert f"] {step} ok" in r.stdout, step


def test_tag_creates_and_pushes_once(sfab):
    name = f"v0.1.9-pre-upgrade-{uuid.uuid4().hex[:6]}"
    head = subprocess.run(["sudo", "-u", "deploy", "git", "-C", "/srv/recorder/app", "rev-parse",
                           "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    try:
        r = sfab("-H", "sandbox", "deploy.tag", "--name", name)
        assert r.returncode == 0 and "created; pushed" in r.stdout, r.stdout + r.stderr
        in_origin = subprocess.run(["git", "--git-dir", ORIGIN, "rev-parse", f"{name}^{{commit}}"],
                                   capture_output=True, text=True).stdout.strip()
        assert in_origin == head
        again = sfab("-H", "sandbox", "deploy.tag", "--name", name)
        assert again.returncode == 0 and "already existed" in again.stdout
        moved = sfab("-H", "sandbox", "deploy.tag", "--name", name, "--ref", "v2")
        assert moved.returncode == 1 and "never moved" in moved.stderr
    finally:
        subprocess.run(["git", "--git-dir", ORIGIN, "tag", "-d", name], capture_output=True)
        subprocess.run(["sudo", "-u", "deploy", "git", "-C", "/srv/recorder/app", "tag", "-d", name],
                       capture_output=True)


@pytest.mark.parametrize("name", ["-f", "a b", "v1..v2", ""])
def test_tag_refuses_bad_names(sfab, name):
    r = sfab("-H", "sandbox", "deploy.tag", "--name", name)
    assert r.returncode == 2 and "is not a usable tag name" in r.stderr


def traffic(path, n, every=0.02):
    """`n` requests from a background thread (the app's real traffic during a soak)."""
    def go():
        for _ in range(n):
            status(path)
            time.sleep(every)
    t = threading.Thread(target=go)
    t.start()
    return t


def test_soak_passes_on_healthy_traffic(sfab):
    t = traffic("/healthz", 60)
    r = sfab("-H", "sandbox", "verify.soak", "--minutes", "0.08", "--interval", "2")
    t.join()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0.00% 5xx" in r.stdout and "db connections" in r.stdout


def test_soak_fails_on_the_error_rate_red_flag(sfab):
    flag = "/srv/recorder/maintenance/maintenance.on"
    assert sfab("-H", "sandbox", "maintenance.on").returncode == 0
    try:
        t = traffic("/healthz", 60)   # the public gets 503s: a 100 % error rate
        r = sfab("-H", "sandbox", "verify.soak", "--minutes", "0.08", "--interval", "2")
        t.join()
    finally:
        subprocess.run(["rm", "-f", flag])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "red flag: error rate 100.0% > 1.0%" in r.stderr


@pytest.mark.parametrize("minutes", ["0", "-1", "ten"])
def test_soak_refuses_bad_minutes(sfab, minutes):
    r = sfab("-H", "sandbox", "verify.soak", "--minutes", minutes)
    assert r.returncode == 2 and "--minutes" in r.stderr


def test_smoke_base_is_per_host(home, sandbox, tmp_path):
    """hosts.NAME.smoke.base overrides deploy.toml's base: pointing it at a closed port fails."""
    inv = make_inventory(tmp_path / "inv", **{"[hosts.sandbox.backup]": (
        '[hosts.sandbox.smoke]\nbase = "http://127.0.0.1:9"\n\n[hosts.sandbox.backup]')})
    r = Fab(home, inv)("-H", "sandbox", "verify.smoke")
    assert r.returncode != 0 and "status 0, expected 200" in r.stdout + r.stderr, r.stdout + r.stderr
