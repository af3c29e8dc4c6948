"""pg_upgrade.compose on a real compose host: the sandbox's dockerd, Debian's docker-compose 1.29,
locally built PostgreSQL 14 and 15 images, the stack of sandbox/compose/ in /srv/compose-demo
(`invoke sandbox.compose`; make test brings it up). The state is read with docker itself.
"""
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.sandbox import INVOKE, ROOT, STATE, Fab, make_inventory

PROJECT = Path("/srv/compose-demo")
DOCKER_ENV = {"DOCKER_HOST": "unix:///run/deploy-sandbox-docker/docker.sock",
              "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
OLD, NEW = "compose-demo/postgres:14", "compose-demo/postgres:15"
OLD_VOLUME, NEW_VOLUME = "compose-demo_postgres_data", "compose-demo_postgres_data_pg15"
DATA = "/var/lib/postgresql/data"

# every row of the seeded tables, and the app's visits up to a given id, as md5s
FINGERPRINT = """SELECT 'customers', count(*), md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c
UNION ALL SELECT 'orders', count(*), md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o
UNION ALL SELECT 'visits', count(*), md5(string_agg(v::text, ',' ORDER BY id))
  FROM visits v WHERE id <= :max_visit"""


def docker(*argv, check=True):
    r = subprocess.run(["docker", *argv], env=DOCKER_ENV, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 or not check, r.stderr
    return r


def dc(*argv, check=True, stdin=None):
    """docker-compose in the project, as the tool runs it."""
    r = subprocess.run(["docker-compose", "-p", "compose-demo", *argv], cwd=PROJECT,
                       env=DOCKER_ENV, input=stdin, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 or not check, r.stderr
    return r


def psql(sql, *args):
    return dc("exec", "-T", "db", "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U",
              "postgres", "-d", "demo", *args, "-f", "-", stdin=sql).stdout.strip()


def fingerprint(max_visit):
    return psql(FINGERPRINT, "-v", f"max_visit={max_visit}")


def db_container():
    """(image, {mount target: volume name}) of the db service's running container."""
    cid = dc("ps", "-q", "db").stdout.strip()
    assert cid, "the db service has no container"
    image = docker("inspect", "-f", "{{.Config.Image}}", cid).stdout.strip()
    mounts = docker("inspect", "-f", "{{range .Mounts}}{{.Destination}}={{.Name}} {{end}}",
                    cid).stdout.split()
    return image, dict(m.split("=", 1) for m in mounts)


def wait_for(probe, what, seconds=60):
    """Bounded wait for probe() to be true (fails naming `what`)."""
    end = time.monotonic() + seconds
    while not probe():
        assert time.monotonic() < end, f"{what} not seen within {seconds} s"
        time.sleep(0.5)


def answers():
    return dc("exec", "-T", "db", "pg_isready", "-q", "-h", "127.0.0.1", check=False).returncode == 0


@pytest.fixture
def compose_fab(home, tmp_path):
    """`fab` on sandbox-compose, after the stack is reset to 14 with its seeded data."""
    if not (STATE / "compose.toml").exists():
        pytest.fail("the compose host is not up: run `invoke sandbox.compose` (make test does it)")
    r = subprocess.run([str(INVOKE), "sandbox.compose", "--reset"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return Fab(home, make_inventory(tmp_path / "inv", text=(STATE / "compose.toml").read_text()))


def stopped_app_fingerprint():
    """Once the app service has written, it is stopped: (fingerprint, the last visit id)."""
    wait_for(lambda: psql("SELECT count(*) FROM visits") != "0", "the app service's first visit")
    dc("stop", "backend")
    last = int(psql("SELECT max(id) FROM visits"))
    return fingerprint(last), last


def visits(before="infinity"):
    """The visits the app wrote before a time, as lines `id|at`, in order."""
    return psql("SELECT id, at FROM visits WHERE at < :'t' ORDER BY id", "-v",
                f"t={before}").splitlines()


def test_upgrade_then_rollback_for_real(compose_fab):
    """The app keeps writing until the tool stops it: the old volume then holds exactly the
    dumped rows, 15 those rows first, then what the restarted app wrote into it."""
    wait_for(lambda: psql("SELECT count(*) FROM visits") != "0", "the app service's first visit")
    seeded = fingerprint(0)
    image, mounts = db_container()
    assert (image, mounts[DATA]) == (OLD, OLD_VOLUME)
    r = compose_fab("pg_upgrade.compose", "--to", "15", "--old-image", OLD, "--execute", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    for n in (2, 3):   # the new container's and the switched service's, each against the dump's
        assert re.search(rf"fingerprint {n}: \d+ lines, equal to the first", r.stdout), r.stdout
    assert "SELECT version() starts 'PostgreSQL 15'" in r.stdout
    image, mounts = db_container()
    assert (image, mounts[DATA]) == (NEW, NEW_VOLUME)
    assert psql("SELECT version()").startswith("PostgreSQL 15.")
    assert fingerprint(0) == seeded
    assert docker("volume", "inspect", OLD_VOLUME).returncode == 0
    assert (PROJECT / "docker-compose.yml.pre-pg15").read_text() == (
        ROOT / "sandbox" / "compose" / "docker-compose.yml").read_text()
    # the app service was started again and writes into the new cluster
    n = int(psql("SELECT max(id) FROM visits"))
    wait_for(lambda: int(psql("SELECT max(id) FROM visits")) > n, "a visit on 15")
    dc("stop", "backend")
    on_15, rollback_began = visits(), psql("SELECT now()")

    r = compose_fab("pg_upgrade.compose", "--to", "15", "--old-image", OLD, "--rollback",
                    "--execute", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    image, mounts = db_container()
    assert (image, mounts[DATA]) == (OLD, OLD_VOLUME)
    assert psql("SELECT version()").startswith("PostgreSQL 14.")
    assert fingerprint(0) == seeded
    on_14 = visits(before=rollback_began)   # not what the app writes after the rollback
    # the app was stopped before the dump: nothing reached the old volume after it
    assert on_14 and on_15[:len(on_14)] == on_14 and len(on_15) > len(on_14)
    assert docker("volume", "inspect", NEW_VOLUME).returncode == 0   # kept, never removed


def test_the_runbooks_tag_swap_fails_for_real(compose_fab):
    """The runbook's own step: stop and remove db, swap the image tag, up -d db, same volume."""
    before, last = stopped_app_fingerprint()
    compose = PROJECT / "docker-compose.yml"
    original = compose.read_text()
    dc("stop", "db")
    dc("rm", "-f", "db")
    compose.write_text(original.replace(f"image: {OLD}", f"image: {NEW}"))
    dc("up", "-d", "db")

    def refused():
        return "database files are incompatible with server" in dc("logs", "db").stdout
    wait_for(refused, "postgres 15 refusing the 14 data directory")
    logs = dc("logs", "db").stdout
    assert "initialized by PostgreSQL version 14, which is not compatible with this version 15" in logs
    assert not answers()

    dc("rm", "-s", "-f", "db")
    compose.write_text(original)
    dc("up", "-d", "db")
    wait_for(answers, "the db service back on 14")
    assert db_container()[0] == OLD
    assert psql("SELECT version()").startswith("PostgreSQL 14.")
    assert fingerprint(last) == before
