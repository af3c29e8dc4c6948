"""Versioned fingerprints against the sandbox: a new backup records version 4, equal to what an
independent reader computes; manifests of the older versions (3, the sums over row text; 2, the
md5-prefix sums; 1, the sorted md5s, from before versions were recorded) still prove a restore
drill - and a wrong figure in one still fails the drill. Every column type version 4 hashes
directly hashes the same after a dump and restore; other types fall back to the row's text."""
import json
from pathlib import Path

import pytest

from runbook.postgres.db import RECORD_HASHABLE, fingerprint_sql
from tests.support.sandbox import fingerprints

pytestmark = pytest.mark.integration


def older(conn, version):
    with conn.cursor() as cur:
        queries = [r[0] for r in cur.execute(fingerprint_sql(version)).fetchall()]
        return {t: (n, h) for t, n, h in cur.execute(" UNION ALL ".join(queries)).fetchall()}


def drill(sfab, name):
    r = sfab("-H", "sandbox", "backup.verify", "--backup", name, "--drill")
    assert r.returncode == 0 and "restore drill matched every table's fingerprint" in r.stdout, r.stdout + r.stderr


def create(sfab):
    r = sfab("-H", "sandbox", "backup.create", "--no-json")
    assert r.returncode == 0, r.stdout + r.stderr
    name = r.stdout.split("(run ")[1].split(")")[0]
    return name, Path("/srv/recorder/backups") / name / "manifest.json"


def test_version_4_backups_and_older_manifests_all_prove_a_drill(sfab, db):
    name, path = create(sfab)
    manifest = json.loads(path.read_text())
    with db() as conn:
        now, v3, v2, old = fingerprints(conn), older(conn, 3), older(conn, 2), older(conn, 1)
    assert manifest["fingerprint_version"] == 4
    assert {t: (m["rows"], m["md5"]) for t, m in manifest["tables"].items()} == now
    hashes = [{t: h for t, (_n, h) in fp.items() if h} for fp in (now, v3, v2, old)]
    assert all(hashes[i] != hashes[j] for i in range(4) for j in range(i + 1, 4))

    # the same backup as earlier tools wrote it: version 3, then version 2 figures
    for version, figures in ((3, v3), (2, v2)):
        manifest["fingerprint_version"] = version
        manifest["tables"] = {t: {"rows": n, "md5": h} for t, (n, h) in figures.items()}
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


# One column per type of RECORD_HASHABLE, with values a dump must carry exactly; a row of NULLs.
LISTED = {
    "bool": "true", "int2": "-32768", "int4": "2147483647", "int8": "-9223372036854775808",
    "float4": "'1.17549435e-38'", "float8": "'0.1'", "numeric": "'1.50'",
    "text": "E'h\\u00e9llo\\tworld'", "varchar": "'x'", "bpchar": "'ab '", "name": "'nm'",
    "char": "'c'", "bytea": "'\\x00ff'", "date": "'infinity'", "time": "'23:59:59.999999'",
    "timetz": "'12:00+05:30'", "timestamp": "'2026-01-01 00:00:00.123456'",
    "timestamptz": "'2026-06-01 12:00:00.5+02'", "interval": "'1 mon 2 days 03:04:05'",
    "uuid": "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "jsonb": "'{\"b\": [1, 2], \"a\": null}'",
    "inet": "'10.1.2.3/8'", "cidr": "'10.0.0.0/8'", "macaddr": "'08:00:2b:01:02:03'",
    "macaddr8": "'08:00:2b:01:02:03:04:05'",
}


def test_every_listed_type_hashes_equal_after_a_restore_and_other_types_fall_back(sfab, db):
    assert set(LISTED) == set(RECORD_HASHABLE)
    cols = ", ".join(f'c_{t} "{t}"' for t in LISTED)
    with db() as conn:
        conn.execute(f"CREATE TABLE fp_listed (id int, {cols})")
        conn.execute(f"INSERT INTO fp_listed VALUES (1, {', '.join(LISTED.values())})")
        conn.execute("INSERT INTO fp_listed (id) VALUES (2)")
        # an enum hashes its OID (a restore renumbers it); json, arrays and point have no hash
        conn.execute("CREATE TYPE fp_mood AS ENUM ('sad', 'ok')")
        conn.execute("CREATE TABLE fp_other (id int, mood fp_mood, doc json, tags text[], at point)")
        conn.execute("INSERT INTO fp_other VALUES (1, 'ok', '{\"a\": 1}', '{x,y}', '(1,2)')")
        conn.execute("INSERT INTO fp_other (id) VALUES (2)")
    try:
        with db() as conn:
            queries = {r[0].split("'")[1]: r[0] for r in conn.execute(fingerprint_sql(4)).fetchall()}
        assert "hash_record_extended" in queries["fp_listed"]
        assert "hashtextextended(x::text" in queries["fp_other"]
        assert all("hash_record_extended" in sql for sql in queries.values()
                   if not sql.startswith("SELECT 'fp_other'")), "an app table fell back"
        name, path = create(sfab)
        manifest = json.loads(path.read_text())
        assert manifest["tables"]["fp_listed"]["rows"] == 2 and manifest["tables"]["fp_other"]["rows"] == 2
        drill(sfab, name)   # restored into a scratch database: every table's figure equal
    finally:
        with db() as conn:
            conn.execute("DROP TABLE IF EXISTS fp_listed, fp_other")
            conn.execute("DROP TYPE IF EXISTS fp_mood")
