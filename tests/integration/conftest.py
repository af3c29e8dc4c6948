"""Integration fixtures: the real sandbox host (sshd, PostgreSQL, nginx, gunicorn, the app).

`make test` provisions and resets the sandbox before pytest runs; a test that finds it missing
fails (it never skips itself into green).
"""
import subprocess
import uuid

import psycopg
import pytest
from dotenv import dotenv_values

from tests.support.sandbox import INVOKE, ROOT, STATE, Fab, make_inventory

pytestmark = pytest.mark.integration


# modules whose host is a machine of its own (no state shared with the sandbox): under
# `pytest -n 2 --dist loadgroup` (make test) they run beside the sandbox's tests, which stay in one
# group, one at a time, in order (they share one PostgreSQL, nginx and reset)
OWN_HOST = {"test_systemd_host.py": "systemd", "test_compose_host.py": "compose"}


def pytest_itemcollected(item):   # as each is collected: before xdist's modifyitems reads groups
    if "integration" in str(item.fspath):
        item.add_marker(pytest.mark.integration)
        item.add_marker(pytest.mark.xdist_group(OWN_HOST.get(item.fspath.basename, "sandbox")))


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


@pytest.fixture
def inventory(sandbox, tmp_path):
    """An inventory for this test only: same host, its own backup/lock dir on the host."""
    unique = f"/srv/recorder/it-{uuid.uuid4().hex[:8]}"
    path = make_inventory(tmp_path / "inv", **{'dir = "/srv/recorder/backups"': f'dir = "{unique}"'})
    yield path
    subprocess.run(["rm", "-rf", unique], check=False)


@pytest.fixture
def fab(home, inventory):
    return Fab(home, inventory)


@pytest.fixture
def sfab(home, sandbox, tmp_path, reset_sandbox):
    """`fab` against the sandbox's own backup dir, after a reset."""
    return Fab(home, make_inventory(tmp_path / "inv"))


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
