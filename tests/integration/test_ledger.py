"""The second sandbox app "ledger" (issue 16: apps we did not write), deployed with the same tasks
as recorder: src/manage.py, settings from the env file, poetry, strict hosts + HTTPS redirect,
preload_app, a worker, a health URL without the commit.

Outcomes are read independently: gunicorn's pid file, git in the work tree and the origin,
psycopg as the app's role (conftest's ldb), HTTP from the test process, supervisor's own status.
"""
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.ledger import APP, git, ledger_fab, rows, tag
from tests.support.sandbox import INVOKE, ROOT, fingerprints

SITE = "http://127.0.1.1:8080"
HEADERS = {"Host": "ledger.sandbox.test", "X-Forwarded-Proto": "https"}
@pytest.fixture
def lfab(home, sandbox, tmp_path, reset_sandbox):
    return ledger_fab(home, tmp_path)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def request(path, method="GET", body=None, headers=HEADERS):
    """(status, body) of a request from the test process; redirects are not followed."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(SITE + path, data=data, method=method,
                                 headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def gunicorn_pid():
    return int(open("/srv/ledger/run/gunicorn.pid").read().strip())


def supervisor(name):
    out = subprocess.run(["supervisorctl", "status", name], capture_output=True, text=True).stdout
    return out.split()[1] if len(out.split()) > 1 else out


def supervisor_pid(name):
    return subprocess.run(["supervisorctl", "pid", name], capture_output=True,
                          text=True).stdout.strip()


def table_exists(conn, name):
    return rows(conn, f"SELECT count(*) FROM information_schema.tables WHERE table_name = '{name}'"
                )[0][0] == 1


def test_the_app_has_the_shapes_of_real_apps(sandbox, secrets):
    """No tool involved: the sandbox app itself refuses what real apps refuse."""
    assert request("/health/") == (200, '{"status": "ok"}')       # no revision in it
    assert request("/health/", headers={"Host": "ledger.sandbox.test"})[0] == 301
    assert request("/health/", headers={"X-Forwarded-Proto": "https"})[0] == 400
    assert "preload_app = True" in open(f"{APP}/gunicorn.conf.py").read()
    r = subprocess.run(["sudo", "-u", "deploy", "/srv/ledger/venv/bin/python", "src/manage.py",
                        "check"], cwd=APP, capture_output=True, text=True)
    assert r.returncode != 0 and "DJANGO_SETTINGS_MODULE is not set" in r.stderr
    status, body = request("/api/token/", "POST", {"email": "api@example.test",
                                                   "password": secrets["SANDBOX_LEDGER_API_PASSWORD"]})
    assert status == 200, body
    assert request("/api/token/", "POST", {"email": "api@example.test", "password": "x"})[0] == 401


def test_consolidate_v2_restarts_with_v2_then_restore_brings_v1_back(lfab, ldb):
    with ldb() as conn:
        legacy = dict((u, (p, t)) for u, p, t in rows(
            conn, "SELECT user_id, phone, timezone FROM people_legacyprofile"))
        users = rows(conn, "SELECT count(*) FROM auth_user")[0][0]
    pid = gunicorn_pid()
    r = lfab("-H", "sandbox-ledger", "deploy.consolidate", "--ref", "v2", "--allow-unguarded")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sync: 3001 profiles have their phone and time zone" in r.stdout
    assert gunicorn_pid() != pid                      # restarted, not HUP'd (preload_app)
    assert git("rev-parse", "HEAD") == tag("v2")
    with ldb() as conn:
        assert not table_exists(conn, "people_legacyprofile")
        assert rows(conn, "SELECT count(*) FROM auth_user")[0][0] == users
        profiles = dict((u, (p, t)) for u, p, t in rows(
            conn, "SELECT user_id, phone, timezone FROM people_profile"))
    assert profiles == legacy                          # every phone and time zone came across
    assert request("/health/")[0] == 200
    assert supervisor("ledger-worker") == "RUNNING"

    backup = next(line.split("--backup=")[1].split()[0] for line in r.stdout.splitlines()
                  if "rollback.restore --backup=" in line)
    pid = gunicorn_pid()
    r = lfab("-H", "sandbox-ledger", "rollback.restore", f"--backup={backup}", "--code", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert git("rev-parse", "HEAD") == tag("v1")
    assert gunicorn_pid() != pid
    with ldb() as conn:
        assert dict((u, (p, t)) for u, p, t in rows(
            conn, "SELECT user_id, phone, timezone FROM people_legacyprofile")) == legacy
    assert request("/health/")[0] == 200


def installed_by(dist):
    """Who installed `dist` into the app's venv (its dist-info INSTALLER file), "" if absent."""
    site = Path("/srv/ledger/venv/lib")
    found = list(site.glob(f"python3*/site-packages/{dist}-*.dist-info/INSTALLER"))
    return found[0].read_text().strip() if found else ""


@pytest.mark.parametrize("installer, mark", [("poetry", "Poetry"), ("uv", "uv")])
def test_release_v2_installs_with_the_apps_tool_and_stops_the_worker_around_migrate(
        home, sandbox, tmp_path, reset_sandbox, installer, mark):
    # v2's locks add `packaging`; v1 does not need it, so it is taken out to see who puts it back
    subprocess.run(["sudo", "-u", "deploy", "/srv/ledger/venv/bin/python", "-m", "pip", "uninstall",
                    "-q", "-y", "packaging"], check=True, capture_output=True)
    assert installed_by("packaging") == ""
    fab = ledger_fab(home, tmp_path, release=True, installer=installer)
    pid = gunicorn_pid()
    r = fab("-H", "sandbox-ledger", "deploy.release", "--ref", "v2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"installed with {installer}" in r.stdout
    assert installed_by("packaging").startswith(mark)
    assert "stop ledger-worker" in r.stdout and "start ledger-worker" in r.stdout
    assert git("rev-parse", "HEAD") == tag("v2") and gunicorn_pid() != pid
    assert supervisor("ledger-worker") == "RUNNING"


def test_release_of_a_lock_that_cannot_install_stops_at_dependencies(home, sandbox, tmp_path,
                                                                     reset_sandbox, ldb):
    fab = ledger_fab(home, tmp_path, release=True)
    pid = gunicorn_pid()
    r = fab("-H", "sandbox-ledger", "deploy.release", "--ref", "v2-badlock")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "stopped at dependencies: installing the dependencies with poetry failed" in r.stderr
    assert "poetry install" in r.stderr, r.stderr
    # poetry's own words for the cause, though its advice comes after them
    assert "Unable to find installation candidates for gunicorn (99.0.0)" in r.stderr, r.stderr
    with ldb() as conn:
        assert table_exists(conn, "people_legacyprofile")  # nothing migrated
    assert gunicorn_pid() == pid and request("/health/")[0] == 200


def test_api_post_during_maintenance_gets_503(lfab, secrets):
    login = {"email": "api@example.test", "password": secrets["SANDBOX_LEDGER_API_PASSWORD"]}
    r = lfab("-H", "sandbox-ledger", "maintenance.on")
    assert r.returncode == 0, r.stdout + r.stderr
    assert request("/api/token/", "POST", login)[0] == 503
    assert request("/api/profile/1/", "PATCH", {"display_name": "x"})[0] == 503
    r = lfab("-H", "sandbox-ledger", "maintenance.off")
    assert r.returncode == 0, r.stdout + r.stderr
    status, body = request("/api/token/", "POST", login)
    assert status == 200, body
    token, profile = json.loads(body)["token"], json.loads(body)["profile_id"]
    status, body = request(f"/api/profile/{profile}/", "PATCH", {"display_name": "after"},
                           headers={**HEADERS, "Authorization": f"Bearer {token}"})
    assert (status, json.loads(body)["display_name"]) == (200, "after")


# the tables the smoke contract writes to (a token per login, the profile it PATCHes)
SMOKE_WRITES = {"people_apitoken", "people_profile"}


def test_pg_upgrade_link_then_rollback(lfab, ldb):
    """A PostgreSQL 14 -> 15 link upgrade and its rollback with ledger's shapes (health headers,
    a preloaded gunicorn reloaded, not restarted, by the upgrade; its worker stopped around it):
    the data comes back equal."""
    def state():
        with ldb() as conn:
            version = rows(conn, "SHOW server_version")[0][0]
            fps = fingerprints(conn)
        return version, {t: v for t, v in fps.items() if t not in SMOKE_WRITES}, \
            {t: fps[t][0] for t in SMOKE_WRITES}

    version, data, smoke_rows = state()
    assert version.startswith("14.")
    master = supervisor_pid("ledger")
    r = lfab("-H", "sandbox-ledger", "pg_upgrade.run", "--to", "15", "--method", "link", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert master.isdigit() and supervisor_pid("ledger") == master   # reloaded in place
    now, upgraded, _ = state()
    assert now.startswith("15.") and upgraded == data
    assert request("/health/")[0] == 200 and supervisor("ledger-worker") == "RUNNING"

    try:
        r = lfab("-H", "sandbox-ledger", "pg_upgrade.rollback", "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        now, back, smoke_after = state()
        assert now.startswith("14.") and back == data
        assert smoke_after["people_profile"] == smoke_rows["people_profile"]   # no row lost
        assert request("/health/")[0] == 200 and supervisor("ledger-worker") == "RUNNING"
    finally:   # the rollback keeps the 15 cluster, which provisioning would refuse later
        subprocess.run([str(INVOKE), "sandbox.reset"], cwd=ROOT, capture_output=True)
