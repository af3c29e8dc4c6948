"""Issue 16, bugs 12 and 8 (kept databases): a restore that finds maintenance already ON reports
the whole time the public got 503; the databases restores keep are listed and dropped on request,
by the command the restore printed."""
import os
import re
import shlex
import subprocess
import time

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
