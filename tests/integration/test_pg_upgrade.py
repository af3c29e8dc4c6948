"""pg_upgrade.* against the sandbox: PostgreSQL 14 -> 15 with the real binaries (issue 4).

Every test starts from `sandbox.reset` (14/main alone on 5432, v1 seeded). Outcomes are read
independently: the server version and every table's fingerprint over psycopg, the cluster list
from pg_lsclusters, and the PyBot smoke contract over HTTP from the test.
"""
import fcntl
import json
import os
import pty
import re
import shlex
import subprocess
import termios
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support.sandbox import (
    FAB,
    PG_UPGRADE_STATE,
    ROOT,
    SITE,
    Fab,
    all_fingerprints,
    assert_same_data,
    clusters,
    make_inventory,
    state_before,
    version,
)

EXT_DIR = Path("/usr/lib/postgresql/14/share/extension")


@pytest.fixture
def sfab(home, sandbox, tmp_path, reset_sandbox):
    yield Fab(home, make_inventory(tmp_path / "inv"))
    # leave PostgreSQL 14 on 5432 for the next test whatever happened here
    subprocess.run(["bash", "sandbox/reset.sh"], capture_output=True, check=False,
                   cwd=Path(__file__).resolve().parents[2])


def call(method, path, body=None, headers=None):
    req = urllib.request.Request(SITE + path, method=method, data=json.dumps(body).encode()
                                 if body is not None else None,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read() or b"{}")


def smoke_contract(secrets):
    """The PyBot contract, from the test: login -> token -> PATCH slackId."""
    status, _ = call("GET", "/healthz")
    assert status == 200
    status, data = call("POST", "/auth/login/", {"email": "pybot@example.test",
                                                  "password": secrets["SANDBOX_PYBOT_PASSWORD"]})
    assert status == 200 and data["token"]
    status, data = call("PATCH", "/auth/profile/admin/?email=user00002@example.test",
                        {"slackId": "U_TEST_CONTRACT"}, {"Authorization": f"Bearer {data['token']}"})
    assert status == 200 and data["slackId"] == "U_TEST_CONTRACT"


def gunicorn(program="recorder"):
    """(master pid, {its worker pids}) of a supervisor program."""
    pid = subprocess.run(["supervisorctl", "pid", program], capture_output=True,
                         text=True).stdout.strip()
    kids = subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split()
    return pid, set(kids)


def start_conf(version):
    """The start.conf mode of VERSION/main (its last non-comment line)."""
    lines = Path(f"/etc/postgresql/{version}/main/start.conf").read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")][-1]


def supervisor(name):
    out = subprocess.run(["supervisorctl", "status", name], capture_output=True, text=True).stdout
    return out.split()[1] if len(out.split()) > 1 else out


@pytest.mark.parametrize("method", ["dump", "copy", "link"])
def test_upgrade_each_method(sfab, db, secrets, method):
    assert version(db).startswith("14.")
    smoke_contract(secrets)
    master, workers = gunicorn()
    r = sfab("-H", "sandbox", "pg_upgrade.run", "--to", "15", "--method", method, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    # the app was never stopped, only reloaded: the same master, none of its old workers left
    # (they held connections to the old cluster); its worker program stopped and started again
    now, fresh = gunicorn()
    assert master.isdigit() and now == master and workers and fresh and not workers & fresh
    assert supervisor("recorder-worker") == "RUNNING"
    assert "] stop workers ok" in r.stdout and "] reload app ok" in r.stdout
    assert version(db).startswith("15.")
    assert ("15", "main", "5432", "online") in clusters()
    old = [k for k in clusters() if k[:2] == ("14", "main")]   # (not the bench's 14/benchsrc)
    assert old and old[0][3] == "down" and old[0][2] != "5432"  # kept, stopped, moved aside
    # ... and not started at boot; the new one is (link: the tool's own steps, as pg_upgradecluster)
    assert start_conf("14") == "manual" and start_conf("15") == "auto"
    # version 4 on 14 before, on 15 after: the per-type hashes hold across the major versions
    assert json.loads(PG_UPGRADE_STATE.read_text())["fingerprint_version"] == 4
    assert_same_data(state_before(), all_fingerprints(db))
    assert "fingerprint after == before" in r.stdout and "downtime (maintenance ON->OFF):" in r.stdout
    smoke_contract(secrets)


HBA_LINE = "host recorder recorder 127.0.0.99/32 scram-sha-256"
CONF_D = "zz-deploy-test.conf"


@pytest.fixture
def custom_pg_config(sfab):
    """14/main with a pg_hba line, a conf.d file and a postgresql.conf setting of its own; its
    files restored afterwards, and the conf.d file removed from both versions (pg_dropcluster
    leaves files it did not create behind)."""
    conf = Path("/etc/postgresql/14/main")
    saved = {f: (conf / f).read_text() for f in ("pg_hba.conf", "postgresql.conf")}
    try:
        (conf / "pg_hba.conf").write_text(saved["pg_hba.conf"] + HBA_LINE + "\n")
        (conf / "conf.d" / CONF_D).write_text("work_mem = '7MB'\n")
        subprocess.run(["chown", "postgres:postgres", conf / "conf.d" / CONF_D], check=True)
        subprocess.run(["pg_conftool", "14", "main", "set", "log_min_duration_statement", "1234"],
                       check=True, capture_output=True)
        subprocess.run(["pg_ctlcluster", "14", "main", "reload"], check=True, capture_output=True)
        yield
    finally:
        for v in ("14", "15"):
            Path(f"/etc/postgresql/{v}/main/conf.d/{CONF_D}").unlink(missing_ok=True)
        if conf.exists():
            for f, text in saved.items():
                (conf / f).write_text(text)
        subprocess.run(["pg_ctlcluster", "14", "main", "reload"], capture_output=True)


def assert_custom_config(db, v):
    """The cluster on 5432 (version `v`) has 14/main's own pg_hba line, conf.d file and setting."""
    assert HBA_LINE in Path(f"/etc/postgresql/{v}/main/pg_hba.conf").read_text().splitlines()
    assert (Path(f"/etc/postgresql/{v}/main/conf.d") / CONF_D).exists()
    with db("recorder") as conn:
        assert conn.execute("SHOW server_version").fetchone()[0].startswith(v + ".")
        assert conn.execute("SHOW work_mem").fetchone()[0] == "7MB"
        assert conn.execute("SHOW log_min_duration_statement").fetchone()[0] == "1234ms"


def run_on_a_terminal(printed, home, answer):
    """Run the command line `printed` (fab ..., with its --hosts-file) on a pseudo-terminal that
    is its controlling terminal, as a user's, typing `answer` once it asks [y/N]."""
    argv = shlex.split(printed)
    assert argv[0] == "fab", printed
    master, slave = pty.openpty()
    p = subprocess.Popen([str(FAB), *argv[1:]], cwd=ROOT, env={**os.environ, "HOME": str(home)},
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                         preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    out, asked = b"", False
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:   # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if not asked and b"[y/N]" in out:
            os.write(master, answer.encode())
            asked = True
    os.close(master)
    return p.wait(timeout=300), out.decode(errors="replace")


@pytest.mark.parametrize("method", ["copy", "link"])
def test_rollback_returns_to_14(sfab, custom_pg_config, db, secrets, method):
    r = sfab("-H", "sandbox", "pg_upgrade.run", "--to", "15", "--method", method, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_custom_config(db, "15")   # conf.d too, which pg_upgradecluster does not copy
    before = state_before()
    r = sfab("-H", "sandbox", "pg_upgrade.rollback", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert version(db).startswith("14.")
    assert_custom_config(db, "14")   # link: a fresh 14/main, with the old one's configuration
    assert ("14", "main", "5432", "online") in clusters()
    # the 15 cluster is kept (stopped, elsewhere), with the writes made since the upgrade
    assert [k for k in clusters() if k[0] == "15" and k[3] == "down" and k[2] != "5432"]
    # before (app stopped) + the upgrade's smoke login + the rollback's smoke login: on 14 only
    # the rollback's login is new, the upgrade's is kept in the 15 cluster
    assert_same_data(before, all_fingerprints(db), logins=1)
    assert "recorder.accounts_apitoken" in r.stdout  # the writes since the upgrade are named
    smoke_contract(secrets)
    assert json.loads(PG_UPGRADE_STATE.read_text())["phase"] == "rolled back"
    again = sfab("-H", "sandbox", "pg_upgrade.rollback", "--yes")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    # a second upgrade is refused while the kept 15 cluster exists; the refusal names the way out
    refused = sfab("-H", "sandbox", "pg_upgrade.check", "--to", "15")
    assert refused.returncode != 0, refused.stdout + refused.stderr
    printed = re.search(r"drop it with: (fab -H \S+ pg_upgrade\.cleanup[^;\n]*)", refused.stderr)
    assert printed and printed.group(1) in r.stdout, refused.stderr   # the rollback said it too
    code, out = run_on_a_terminal(printed.group(1), sfab.home, "y\n")
    assert code == 0 and "[y/N]" in out, out
    assert not [k for k in clusters() if k[0] == "15"]
    assert not Path("/etc/postgresql/15/main").exists()   # conf.d/* too: kept in the backup
    name = json.loads(PG_UPGRADE_STATE.read_text())["cleanup"]["backup"]   # the 15 cluster's databases
    kept = json.loads(Path(f"/srv/recorder/backups/{name}/config.json").read_text())
    assert HBA_LINE in kept["files"]["pg_hba.conf"] and f"conf.d/{CONF_D}" in kept["files"]
    verify = sfab("-H", "sandbox", "backup.verify", "--backup", name)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    again = sfab("-H", "sandbox", "pg_upgrade.check", "--to", "15")
    assert again.returncode == 0, again.stdout + again.stderr


def assert_refused(sfab, db, reason, *run_args):
    """check fails naming `reason`; run stops at its preflight; data, clusters, maintenance untouched."""
    before = (all_fingerprints(db), clusters())
    r = sfab("-H", "sandbox", "pg_upgrade.check", "--to", "15")
    assert r.returncode != 0 and reason in r.stdout, r.stdout + r.stderr
    r = sfab("-H", "sandbox", "pg_upgrade.run", "--to", "15", "--yes", *run_args)
    assert r.returncode != 0 and "stopped at preflight" in r.stderr, r.stdout + r.stderr
    assert (all_fingerprints(db), clusters()) == before
    assert not Path("/srv/recorder/maintenance/maintenance.on").exists()


@pytest.mark.faults
def test_check_refuses_target_cluster_with_data(sfab, db):
    subprocess.run(["pg_createcluster", "15", "main", "-p", "5440", "--start"], check=True,
                   capture_output=True)
    subprocess.run(["sudo", "-u", "postgres", "psql", "-p", "5440", "-qc",
                    "CREATE DATABASE leftover"], check=True, capture_output=True)
    assert_refused(sfab, db, "target cluster 15/main already exists with data (databases leftover)",
                   "--drop-empty-target")


@pytest.mark.faults
def test_check_refuses_missing_extension(sfab, db):
    (EXT_DIR / "deploy_probe.control").write_text(
        "comment = 'only built for 14'\ndefault_version = '1.0'\nrelocatable = true\n")
    (EXT_DIR / "deploy_probe--1.0.sql").write_text(
        "CREATE FUNCTION deploy_probe() RETURNS int LANGUAGE sql AS 'SELECT 1';\n")
    try:
        subprocess.run(["sudo", "-u", "postgres", "psql", "-d", "recorder", "-qc",
                        "CREATE EXTENSION deploy_probe"], check=True, capture_output=True)
        assert_refused(sfab, db, "extensions missing for 15: deploy_probe (used in recorder)",
                       "--method", "link")
    finally:
        subprocess.run(["sudo", "-u", "postgres", "psql", "-d", "recorder", "-qc",
                        "DROP EXTENSION IF EXISTS deploy_probe"], capture_output=True)
        for f in EXT_DIR.glob("deploy_probe*"):
            f.unlink()


@pytest.mark.parametrize("args, message", [
    (["--to", "fifteen"], "--to 'fifteen' is not a PostgreSQL major version"),
    (["--to", "15", "--method", "rsync"], "--method 'rsync' is not one of dump, copy, link"),
    (["--to", "14"], "--to 14 is not newer than 14"),
])
@pytest.mark.faults
def test_bad_input_changes_nothing(sfab, db, args, message):
    before = (all_fingerprints(db), clusters())
    r = sfab("-H", "sandbox", "pg_upgrade.run", *args, "--yes")
    assert r.returncode != 0 and message in r.stdout + r.stderr, r.stdout + r.stderr
    assert (all_fingerprints(db), clusters()) == before


def test_rollback_without_an_upgrade_says_so(sfab):
    r = sfab("-H", "sandbox", "pg_upgrade.rollback", "--yes")
    assert r.returncode == 2 and "no pg_upgrade.run recorded" in r.stderr


def test_compose_variant_prints_its_plan(home, sandbox, tmp_path):
    """No Docker engine runs here: the compose upgrade is shown as its plan, never executed."""
    inv = make_inventory(tmp_path / "inv", **{"[hosts.sandbox.backup]": (
        '[hosts.sandbox.compose]\nproject_dir = "/srv/backend"\npassword_env = '
        '"SANDBOX_DB_PASSWORD"\n\n[hosts.sandbox.backup]')})
    r = Fab(home, inv)("-H", "sandbox", "pg_upgrade.compose", "--to", "15",
                       "--old-image", "postgres:14")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "postgres:14 -> postgres:15 (not run" in r.stdout
    for needle in ("pg_dumpall", "docker volume create", "postgres:15",
                   "docker-compose.yml.pre-pg15"):
        assert needle in r.stdout, needle
    assert "docker volume rm" not in r.stdout
    bad = Fab(home, inv)("-H", "sandbox", "pg_upgrade.compose", "--to", "15",
                         "--old-image", "postgres")
    assert bad.returncode == 2 and "has no version tag" in bad.stderr


def test_deploy_pg_upgrade_chains_tag_upgrade_and_soak(sfab, db, secrets):
    name = f"v0.1.9-pre-upgrade-{uuid.uuid4().hex[:6]}"
    try:
        r = sfab("-H", "sandbox", "deploy.pg_upgrade", "--to", "15", "--method", "link", "--tag",
                 name, "--soak-minutes", "0.05", "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        for step in ("tag release", "pg_upgrade --link", "fingerprint after == before",
                     "smoke contract", "soak 0.05 min"):
            assert f"] {step} ok" in r.stdout, step
        assert version(db).startswith("15.")
        tagged = subprocess.run(["git", "--git-dir", "/srv/git/recorder.git", "rev-parse",
                                 f"{name}^{{commit}}"], capture_output=True, text=True)
        assert tagged.returncode == 0
        smoke_contract(secrets)
    finally:
        subprocess.run(["git", "--git-dir", "/srv/git/recorder.git", "tag", "-d", name],
                       capture_output=True)
        subprocess.run(["sudo", "-u", "deploy", "git", "-C", "/srv/recorder/app", "tag", "-d",
                        name], capture_output=True)
