"""Versioned fingerprints against the sandbox: a new backup records version 3, equal to what an
independent reader computes; manifests of the older versions (2, the md5-prefix sums; 1, the
sorted md5s, from before versions were recorded) still prove a restore drill - and a wrong figure
in one still fails the drill."""
import json
from pathlib import Path

import pytest

from fabfile.db import fingerprint_sql

from .conftest import Fab, fingerprints, make_inventory

pytestmark = pytest.mark.integration


@pytest.fixture
def sfab(home, sandbox, tmp_path, reset_sandbox):
    return Fab(home, make_inventory(tmp_path / "inv"))


def older(conn, version):
    with conn.cursor() as cur:
        queries = [r[0] for r in cur.execute(fingerprint_sql(version)).fetchall()]
        return {t: (n, h) for t, n, h in cur.execute(" UNION ALL ".join(queries)).fetchall()}


def drill(sfab, name):
    r = sfab("-H", "sandbox", "backup.verify", "--backup", name, "--drill")
    assert r.returncode == 0 and "restore drill matched every table's fingerprint" in r.stdout, r.stdout + r.stderr


def test_version_3_backups_and_older_manifests_all_prove_a_drill(sfab, db):
    r = sfab("-H", "sandbox", "backup.create", "--no-json")
    assert r.returncode == 0, r.stdout + r.stderr
    name = r.stdout.split("(run ")[1].split(")")[0]
    path = Path("/srv/recorder/backups") / name / "manifest.json"
    manifest = json.loads(path.read_text())
    with db() as conn:
        now, v2, old = fingerprints(conn), older(conn, 2), older(conn, 1)
    assert manifest["fingerprint_version"] == 3
    assert {t: (m["rows"], m["md5"]) for t, m in manifest["tables"].items()} == now
    hashes = [{t: h for t, (_n, h) in fp.items() if h} for fp in (now, v2, old)]
    assert hashes[0] != hashes[1] and hashes[0] != hashes[2] and hashes[1] != hashes[2]

    # the same backup as the previous tool wrote it: version-2 figures
    manifest["fingerprint_version"] = 2
    manifest["tables"] = {t: {"rows": n, "md5": h} for t, (n, h) in v2.items()}
    path.write_text(json.dumps(manifest))
    drill(sfab, name)

    # and as an older tool wrote it: version-1 figures, no version field
    del manifest["fingerprint_version"]
    manifest["tables"] = {t: {"rows": n, "md5": h} for t, (n, h) in old.items()}
    path.write_text(json.dumps(manifest))
    drill(sfab, name)

    table = next(t for t, (n, _h) in old.items() if n)
    manifest["tables"][table]["md5"] = "0" * 32                 # a figure the data does not match
    path.write_text(json.dumps(manifest))
    r = sfab("-H", "sandbox", "backup.verify", "--backup", name, "--drill")
    rows = old[table][0]
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{table}: {rows} rows (was {rows}), content differs" in r.stderr
