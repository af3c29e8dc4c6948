"""Issue 16, bugs 1 and 11: a JSON dump Django cannot finish fails the backup (every dump is
tried, each reason kept), backup.verify parses every JSON dump to its end, and backup.list ages
a backup by its name, not by its directory's mtime."""
import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.support.sandbox import Fab, fingerprints, make_inventory

NAME = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")


def backup_dir(inventory):
    """The host's backup dir of this test's inventory (the `inventory` fixture's unique one)."""
    return Path(re.search(r'\[hosts\.sandbox\.backup\]\s*dir = "([^"]+)"',
                          Path(inventory).read_text())[1])


@pytest.fixture
def far_future_workshop(db):
    """A workshop dated in year 10000: PostgreSQL stores it, Django cannot represent it."""
    with db() as conn:
        wid, when = conn.execute("SELECT id, created_at FROM workshops_workshop "
                                 "ORDER BY id LIMIT 1").fetchone()
        conn.execute("UPDATE workshops_workshop SET created_at = '10000-01-01 00:00+00' "
                     "WHERE id = %s", (wid,))
    try:
        yield wid
    finally:
        with db() as conn:
            conn.execute("UPDATE workshops_workshop SET created_at = %s WHERE id = %s", (when, wid))


@pytest.mark.faults
def test_a_json_dump_that_fails_half_way_fails_the_backup_naming_each_reason(
        fab, inventory, reset_sandbox, far_future_workshop):
    r = fab("-H", "sandbox", "backup.create")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    name = NAME.search(out)[0]
    # the labels "all" and "workshops" cannot load the row; the two between them still ran
    assert re.search(r"JSON dump all failed: workshops.Workshop: .*year 10", out), out
    assert re.search(r"JSON dump workshops failed: workshops.Workshop: .*year 10", out), out
    assert "rerun with --no-json" in out
    files = {p.name for p in (backup_dir(inventory) / name).iterdir()}
    assert {"dumpdata-accounts_UserProfile.json.gz", "dumpdata-workshops_UserProfile.json.gz"} <= files
    assert "dumpdata-all.json.gz" not in files and "dumpdata-workshops.json.gz" not in files
    assert "manifest.json" not in files
    r = fab("-H", "sandbox", "backup.list")
    assert re.search(rf"^{name}\s.*INCOMPLETE", r.stdout, re.M), r.stdout


@pytest.mark.faults
def test_the_deploy_stops_at_a_failed_json_dump(home, sandbox, tmp_path, reset_sandbox, db,
                                                far_future_workshop):
    fab = Fab(home, make_inventory(tmp_path / "inv"))
    with db() as conn:
        before = fingerprints(conn)
    r = fab("-H", "sandbox", "deploy.consolidate")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "[2/14] backup.create FAILED" in r.stdout and "JSON dump all failed" in r.stdout
    assert "[3/14]" not in r.stdout
    with db() as conn:
        assert fingerprints(conn) == before


@pytest.mark.faults
def test_verify_parses_every_json_dump_to_its_end(fab, inventory, reset_sandbox):
    """A truncated JSON dump listed in its manifest (what the bug wrote) is not usable."""
    r = fab("-H", "sandbox", "backup.create")
    assert r.returncode == 0, r.stdout + r.stderr
    name = NAME.search(r.stdout)[0]
    d = backup_dir(inventory) / name
    dump = d / "dumpdata-workshops.json.gz"
    text = gzip.decompress(dump.read_bytes()).decode()
    assert json.loads(text)
    dump.write_bytes(gzip.compress(text[:len(text) // 2].encode()))   # a valid gzip, half the JSON
    manifest = json.loads((d / "manifest.json").read_text())
    data = dump.read_bytes()
    manifest["files"][dump.name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (d / "manifest.json").write_text(json.dumps(manifest))
    r = fab("-H", "sandbox", "backup.verify", f"--backup={name}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"backup {name} is NOT usable: dumpdata-workshops.json.gz cannot be read in full" \
        in r.stderr, r.stderr


def test_list_ages_a_backup_by_its_name_not_its_mtime(fab, inventory):
    r = fab("-H", "sandbox", "backup.create", "--no-json")
    assert r.returncode == 0, r.stdout + r.stderr
    name = NAME.search(r.stdout)[0]
    old = "20200101-000000" + name[15:]
    d = backup_dir(inventory)
    (d / name).rename(d / old)                      # a backup taken years ago
    r = fab("-H", "sandbox", "backup.verify", f"--backup={old}")   # writes verified.json now
    assert r.returncode == 0, r.stdout + r.stderr
    r = fab("-H", "sandbox", "backup.list")
    age = re.search(rf"^{old}\s+(\S+)\s", r.stdout, re.M)
    assert age and age[1].endswith("d") and float(age[1][:-1]) > 365, r.stdout
