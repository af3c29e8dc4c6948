"""Issue 16, bugs 12 and 8 (kept databases): a restore that finds maintenance already ON reports
the whole time the public got 503; the databases restores keep are listed and dropped on request,
by the command the restore printed."""
import hashlib
import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

from runbook.host import inventory as inventory_mod
from tests.support.sandbox import fingerprints

FLAG = "/srv/recorder/maintenance/maintenance.on"
NAME = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")


def kept_dbs(db):
    with db("postgres") as conn:
        return {r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'recorder%'").fetchall()}


def test_restore_counts_downtime_from_when_maintenance_went_on_and_kept_drops_what_it_kept(
        fab, db, reset_sandbox):
    r = fab("-H", "sandbox", "backup.create", "--no-json")
    assert r.returncode == 0, r.stdout + r.stderr
    name = NAME.search(r.stdout)[0]
    with db() as conn:
        before = fingerprints(conn)
    r = fab("-H", "sandbox", "maintenance.on")           # as a failed deploy leaves it
    assert r.returncode == 0, r.stdout + r.stderr
    ago = time.time() - 300
    os.utime(FLAG, (ago, ago))                         # ... five minutes ago
    r = fab("-H", "sandbox", "rollback.restore", f"--backup={name}", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    window = re.search(r"downtime \(maintenance ON->OFF\): ([\d.]+)s \(ON since before this run\)",
                       r.stdout)
    assert window and float(window[1]) >= 300, r.stdout
    drop = re.search(r"the replaced database is kept as (recorder_before_\w+); drop it when "
                     r"satisfied: (fab .*)$", r.stdout, re.M)
    assert drop, r.stdout
    kept = drop[1]
    assert kept in kept_dbs(db)
    with db() as conn:
        assert fingerprints(conn) == before

    r = fab("-H", "sandbox", "rollback.kept")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"^{kept}\s+\d+m\s+[\d.]+MB$", r.stdout, re.M), r.stdout
    for bad, why in [("recorder", "is the live database"),
                     ("recorder_seed_v1", "is not a database rollback.restore kept"),
                     ("postgres", "is not a database rollback.restore kept"),
                     (f'{kept}"; DROP DATABASE recorder; --', "is not a database rollback.restore kept")]:
        r = fab("-H", "sandbox", "rollback.kept", f"--drop={bad}", "--yes")
        assert r.returncode == 2 and why in r.stderr, (bad, r.stdout + r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    assert {"recorder", "recorder_seed_v1", kept} <= kept_dbs(db)
    r = fab("-H", "sandbox", "rollback.kept", f"--drop={kept}", stdin=subprocess.DEVNULL)  # no --yes
    assert r.returncode == 2 and "rerun with --yes" in r.stderr and kept in kept_dbs(db)

    argv = shlex.split(drop[2])                        # the restore's command, verbatim
    r = fab(*argv[1:], hosts_file=False)
    assert r.returncode == 0, drop[2] + "\n" + r.stdout + r.stderr
    assert f"dropped {kept}" in r.stdout
    assert kept not in kept_dbs(db) and "recorder" in kept_dbs(db)
    r = fab("-H", "sandbox", "rollback.kept")
    assert "no kept databases of recorder" in r.stdout


# A dump that reads in full but cannot be restored: its CHECK constraint's function was changed
# after the rows went in, so the restore's COPY (a parallel data item) violates it.
FAILING_DUMP_SQL = """
CREATE FUNCTION positive(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 > 0';
CREATE TABLE t (x int CHECK (positive(x)));
INSERT INTO t SELECT generate_series(1, 1000);
CREATE OR REPLACE FUNCTION positive(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 < 0';
"""


def as_postgres(*argv):
    """Run argv as the postgres OS user; its stdout (bytes)."""
    return subprocess.run(["sudo", "-n", "-u", "postgres", *argv], capture_output=True, check=True,
                          cwd="/tmp").stdout


def replace_dump(backups, name):
    """The backup `name`'s db.dump swapped for FAILING_DUMP_SQL's, its manifest updated to match
    (so the backup passes its check and only the restore itself fails)."""
    scratch = "rb_failing_restore"
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"]
    as_postgres(*psql, "postgres", "-c", f"DROP DATABASE IF EXISTS {scratch}",
                "-c", f"CREATE DATABASE {scratch}")
    try:
        as_postgres(*psql, scratch, "-c", FAILING_DUMP_SQL)
        data = as_postgres("pg_dump", "-Fc", "-d", scratch)
    finally:
        as_postgres(*psql, "postgres", "-c", f"DROP DATABASE IF EXISTS {scratch}")
    d = Path(backups) / name
    (d / "db.dump").write_bytes(data)            # the file keeps its owner and 0600
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["files"]["db.dump"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (d / "manifest.json").write_text(json.dumps(manifest))


def restore_dirs():
    return list(Path("/var/lib/postgresql").glob("rb-restore.*"))


def test_restore_runs_in_parallel_and_a_failing_restore_leaves_the_live_database(
        fab, inventory, db, reset_sandbox):
    r = fab("-H", "sandbox", "backup.create", "--no-json")
    assert r.returncode == 0, r.stdout + r.stderr
    name = NAME.search(r.stdout)[0]
    with db() as conn:
        before = fingerprints(conn)
    r = fab("-H", "sandbox", "rollback.restore", f"--backup={name}", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = re.search(r"restored into a fresh database \(pg_restore -j (\d+)\)", r.stdout)
    assert jobs and int(jobs[1]) == min(len(os.sched_getaffinity(0)), 8), r.stdout
    with db() as conn:
        assert fingerprints(conn) == before
    assert not restore_dirs()

    replace_dump(inventory_mod.load(inventory).site("sandbox").backup.dir, name)
    dbs = kept_dbs(db)
    r = fab("-H", "sandbox", "rollback.restore", f"--backup={name}", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "restore database FAILED" in r.stdout, r.stdout
    assert f"pg_restore of {name}/db.dump into recorder_restore_" in r.stdout, r.stdout
    assert "violates check constraint" in r.stdout and "the live database was NOT touched" \
        in r.stdout, r.stdout
    with db() as conn:
        assert fingerprints(conn) == before
    assert kept_dbs(db) == dbs                    # the half-restored copy dropped, nothing else
    assert not restore_dirs()
