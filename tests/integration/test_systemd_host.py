"""The runbooks on a real systemd host: `sandbox-systemd` (sandbox/systemd/), a systemd-nspawn
container with systemd as PID 1 where gunicorn.service, recorder-worker.service, nginx.service and
postgresql@14-main are units, in the seed VPS's layout (/var/www/recorder_ed).

Each test starts from a fresh copy of the host (`invoke sandbox.reset --systemd`) and reads its
state independently of the tool, as root inside the container (nsenter into PID 1's namespaces):
units' MainPIDs and journals, git, psql fingerprints, pg_lsclusters.
"""
import json
import re
import subprocess
from pathlib import Path

import pytest

from runbook.postgres.db import FINGERPRINT_SQL
from tests.support.sandbox import INVOKE, ROOT, STATE, Fab, make_inventory

RUN = Path("/run/deploy-sandbox-systemd")
APP = "/var/www/recorder_ed"
TOKENS = "accounts_apitoken"   # the smoke checks' logins append to it


def inside(*argv, user=None):
    """stdout of argv run inside the container (as root, or as `user`)."""
    leader = subprocess.run(["ps", "-o", "pid=", "--ppid", (RUN / "nspawn.pid").read_text().strip()],
                            capture_output=True, text=True, check=True).stdout.split()[0]
    as_user = ["runuser", "-u", user, "--"] if user else []
    r = subprocess.run(["nsenter", "-t", leader, "-a", *as_user, *argv],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def main_pid(unit):
    return int(inside("systemctl", "show", "-p", "MainPID", "--value", unit))


def worker_pids(unit):
    """The pids of the unit's main process's children (gunicorn's workers)."""
    return set(inside("ps", "-o", "pid=", "--ppid", str(main_pid(unit))).split())


def hups():
    """How many HUPs gunicorn's master logged to the journal (a `systemctl reload gunicorn`)."""
    return inside("journalctl", "-u", "gunicorn", "-o", "cat", "--no-pager").count("Handling signal: hup")


def psql(sql, port=5432):
    return inside("psql", "-XAt", "-p", str(port), "-d", "recorder", "-c", sql, user="postgres")


def fingerprints():
    """{table: (rows, md5)} of the app database, the tool's fingerprint computed here."""
    queries = psql(FINGERPRINT_SQL).splitlines()
    rows = psql(" UNION ALL ".join(queries)).splitlines()
    return {t: (int(n), h) for t, n, h in (r.split("|") for r in rows)}


def assert_same_but_tokens(before, now):
    """Every table as before, but the tokens table may have gained the smoke checks' logins."""
    assert set(now) == set(before)
    assert {t: v for t, v in now.items() if t != TOKENS} == {t: v for t, v in before.items() if t != TOKENS}
    assert now[TOKENS][0] >= before[TOKENS][0]


def head():
    return inside("git", "-C", APP, "rev-parse", "HEAD", user="deploy")


def rev(ref):
    return inside("git", "-C", APP, "rev-parse", f"{ref}^{{commit}}", user="deploy")


def served_revision():
    return json.loads(inside("curl", "-s", "http://127.0.0.1/healthz"))["revision"]


def has_table(name):
    return psql(f"SELECT count(*) FROM information_schema.tables WHERE table_name = '{name}'") == "1"


@pytest.fixture
def sysfab(home, tmp_path):
    """`fab` against a fresh copy of the systemd host, with an inventory (and local journal) of
    this test's own."""
    if not (STATE / "systemd.toml").exists():
        pytest.fail("the systemd host is not up: run `invoke sandbox.up --systemd` (make test does it)")
    r = subprocess.run([str(INVOKE), "sandbox.reset", "--systemd"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    inv = make_inventory(tmp_path / "inv", text=(STATE / "systemd.toml").read_text(), **{
        'known_hosts = "systemd_known_hosts"': f'known_hosts = "{STATE}/systemd_known_hosts"'})
    return Fab(home, inv)


def run(fab, *args):
    r = fab("-H", "sandbox-systemd", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_consolidate_then_restore_on_systemd(sysfab):
    before, app_pid, hup0 = fingerprints(), main_pid("gunicorn"), hups()
    assert head() == rev("v1") and has_table("workshops_userprofile")

    out = run(sysfab, "deploy.consolidate")
    assert head() == served_revision() == rev("origin/main")
    assert not has_table("workshops_userprofile")
    # restart = "reload": `systemctl reload gunicorn` sent HUP; the master stayed, its workers are new
    assert hups() == hup0 + 1 and main_pid("gunicorn") == app_pid
    assert "gunicorn reloaded" in out
    # verify.logs read the units' journals (app.journal_units) besides nginx's two files
    assert re.search(r"\[14/14\] verify\.logs ok \(\S+\) - no red flags in 4 logs", out), out

    backup = re.search(r"backup: (\S+); rollback:", out).group(1)
    workers = worker_pids("gunicorn")
    out = run(sysfab, "rollback.restore", f"--backup={backup}", "--code", "--yes")
    assert "stopped gunicorn" in out
    assert main_pid("gunicorn") not in (0, app_pid) and worker_pids("gunicorn").isdisjoint(workers)
    assert head() == served_revision() == rev("v1")
    assert fingerprints() == before   # the backup was taken before the migrations
    assert inside("systemctl", "is-active", "gunicorn", "recorder-worker", "nginx").split() == ["active"] * 3


def test_release_then_rolling_restart_on_systemd(sysfab):
    worker_pid, hup0 = main_pid("recorder-worker"), hups()
    run(sysfab, "deploy.release", "--ref", "v2")
    assert head() == served_revision() == rev("v2")
    assert not has_table("workshops_userprofile")
    assert main_pid("recorder-worker") not in (0, worker_pid)   # stopped for the migrations, started
    assert hups() == hup0 + 1

    app_pid, workers = main_pid("gunicorn"), worker_pids("gunicorn")
    out = run(sysfab, "deploy.restart")
    assert "gunicorn reloaded" in out and hups() == hup0 + 2
    assert main_pid("gunicorn") == app_pid and worker_pids("gunicorn").isdisjoint(workers)
    assert served_revision() == rev("v2")

    # a traceback in gunicorn's journal (logged as about the unit, as root may) is a red flag
    assert "no red flags" in run(sysfab, "verify.logs")
    inside("sh", "-c", "printf 'MESSAGE=Traceback (most recent call last): injected\\n"
                       "OBJECT_SYSTEMD_UNIT=gunicorn.service\\n' | logger --journald")
    r = sysfab("-H", "sandbox-systemd", "verify.logs")
    assert r.returncode == 1 and "1 red-flag log line(s)" in r.stderr, r.stdout + r.stderr
    assert "journal:gunicorn: Traceback (most recent call last): injected" in r.stdout


def test_pg_upgrade_link_and_rollback_on_systemd(sysfab):
    run(sysfab, "verify.smoke")   # its one-time profile write, so the data stays put from here
    before = fingerprints()
    assert psql("SHOW server_version_num").startswith("14")

    out = run(sysfab, "pg_upgrade.run", "--to", "15", "--method", "link", "--yes")
    assert "fingerprint after == before ok" in out
    assert psql("SHOW server_version_num").startswith("15")
    assert inside("systemctl", "is-active", "postgresql@15-main") == "active"
    assert_same_but_tokens(before, fingerprints())
    assert served_revision() == rev("v1")

    run(sysfab, "pg_upgrade.rollback", "--yes")
    assert psql("SHOW server_version_num").startswith("14")
    assert inside("systemctl", "is-active", "postgresql@14-main") == "active"
    clusters = inside("pg_lsclusters", "-h").splitlines()
    assert [c.split()[:4] for c in clusters] == [["14", "main", "5432", "online"], ["15", "main", "5434", "down"]]
    assert_same_but_tokens(before, fingerprints())
    assert inside("systemctl", "is-active", "gunicorn") == "active"
