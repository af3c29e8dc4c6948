"""Integration fixtures: the real sandbox host (sshd, PostgreSQL, nginx, gunicorn, the app).

`make test` provisions and resets the sandbox before pytest runs; a test that finds it missing
fails (it never skips itself into green).
"""
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from dotenv import dotenv_values

from runbook.postgres.db import FINGERPRINT_SQL

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".sandbox"
FAB = Path(sys.executable).parent / "fab"
INVOKE = Path(sys.executable).parent / "invoke"

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def sandbox():
    """The sandbox's client-side files; fails loudly when `make sandbox` has not run."""
    if not (STATE / "hosts.toml").exists():
        pytest.fail("the sandbox is not provisioned: run `make sandbox` (make test does it)")
    return STATE


@pytest.fixture(scope="session")
def secrets(sandbox):
    return dotenv_values(sandbox / ".env")


@pytest.fixture
def home(tmp_path):
    """An empty HOME: the user's ~/.ssh (config, known_hosts, keys) stays out of tests."""
    h = tmp_path / "home"
    h.mkdir()
    return h


def make_inventory(dest_dir, text=None, **replace):
    """A copy of the sandbox inventory in dest_dir (with its .env), with `old=new` edits."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    text = text or (STATE / "hosts.toml").read_text()
    text = text.replace('known_hosts = "known_hosts"', f'known_hosts = "{STATE}/known_hosts"')
    text = text.replace('identity_file = "id_ed25519"', f'identity_file = "{STATE}/id_ed25519"')
    text = text.replace('project = "../sandbox/deploy.toml"', f'project = "{ROOT}/sandbox/deploy.toml"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    (dest_dir / "hosts.toml").write_text(text)
    env = dest_dir / ".env"
    env.write_text((STATE / ".env").read_text())
    env.chmod(0o600)
    return dest_dir / "hosts.toml"


@pytest.fixture
def inventory(sandbox, tmp_path):
    """An inventory for this test only: same host, its own backup/lock dir on the host."""
    unique = f"/srv/recorder/it-{uuid.uuid4().hex[:8]}"
    path = make_inventory(tmp_path / "inv", **{'dir = "/srv/recorder/backups"': f'dir = "{unique}"'})
    yield path
    subprocess.run(["rm", "-rf", unique], check=False)


def http_get(url, timeout=10):
    """(status, body) of a GET from the test process; (0, "") when nothing answers."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def default_sigint():
    """Popen's preexec_fn: the child gets SIGINT's default disposition. A test started from a
    background shell inherits SIGINT ignored, and Python then never raises KeyboardInterrupt:
    the Ctrl-C tests would send a signal the tool cannot see."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Fab:
    """Runs `fab` as a user would, in a subprocess, and keeps the result."""

    def __init__(self, home, hosts_file):
        self.home, self.hosts_file = home, hosts_file

    def __call__(self, *args, hosts_file=True, timeout=600, env=None, **kwargs):
        argv = [str(FAB), *args]
        if hosts_file:
            argv += ["--hosts-file", str(self.hosts_file)]
        e = {**os.environ, "HOME": str(self.home), "PYTHONUNBUFFERED": "1", **(env or {})}
        return subprocess.run(argv, cwd=ROOT, env=e, capture_output=True, text=True,
                              timeout=timeout, **kwargs)

    def popen(self, *args, **kwargs):
        argv = [str(FAB), *args, "--hosts-file", str(self.hosts_file)]
        e = {**os.environ, "HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(argv, cwd=ROOT, env=e, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint,
                                **kwargs)


@pytest.fixture
def fab(home, inventory):
    return Fab(home, inventory)


@pytest.fixture
def reset_sandbox(sandbox):
    """Back to v1 with seeded data before the test (and the deploy lock/backups cleared)."""
    r = subprocess.run([str(INVOKE), "sandbox.reset"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def db(secrets):
    """A psycopg connection to the app database as the app's role (over TCP, with its password)."""
    def connect(dbname="recorder"):
        return psycopg.connect(host="127.0.0.1", port=5432, dbname=dbname, user="recorder",
                               password=secrets["SANDBOX_DB_PASSWORD"], autocommit=True)
    return connect


@pytest.fixture
def ldb(secrets):
    """A psycopg connection to the ledger app's database as its own role."""
    def connect():
        return psycopg.connect(host="127.0.0.1", port=5432, dbname="ledger", user="ledger",
                               password=secrets["SANDBOX_LEDGER_DB_PASSWORD"], autocommit=True)
    return connect


def fingerprints(conn):
    """{table: (rows, md5)}: the same fingerprint the tool computes, read independently."""
    with conn.cursor() as cur:
        queries = [r[0] for r in cur.execute(FINGERPRINT_SQL).fetchall()]
        if not queries:
            return {}
        rows = cur.execute(" UNION ALL ".join(queries)).fetchall()
    return {t: (n, h) for t, n, h in rows}


def strip_ansi(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
