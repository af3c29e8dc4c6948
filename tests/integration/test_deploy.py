"""deploy.consolidate and its rollbacks against the real sandbox (issue: deploy.consolidate).

Each test starts from `sandbox.reset` (v1, seeded) and proves its outcome from the database,
the files on the host and HTTP - not from the tool's own words alone.
"""
import json
import os
import re
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.sandbox import SITE, Fab, fingerprints, head, make_inventory, scalar

BACKUPS = Path("/srv/recorder/backups")


def http_status(path):
    try:
        with urllib.request.urlopen(SITE + path, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def backup_name(output):
    m = re.search(r"backup:? (\d{8}-\d{6}-[0-9a-f]{4})", output) or re.search(
        r"backup\s+ok\s+\S+\s+(\d{8}-\d{6}-[0-9a-f]{4})", output)
    assert m, output
    return m.group(1)


def test_a_v1_to_v2_consolidates_profiles(sfab, db):
    with db() as conn:
        before = fingerprints(conn)
        instructors = {r[0] for r in conn.execute(
            "SELECT user_id FROM workshops_userprofile WHERE is_instructor").fetchall()}
        not_teachers = scalar(conn, "SELECT count(*) FROM workshops_userprofile w JOIN "
                                    "accounts_userprofile a USING (user_id) "
                                    "WHERE w.is_instructor AND NOT a.is_teacher")
        applied = [r[0] for r in conn.execute(
            "SELECT app || '.' || name FROM django_migrations ORDER BY id").fetchall()]
    assert len(instructors) == 200 and not_teachers == 50

    r = sfab("-H", "sandbox", "deploy.consolidate")  # with the runbook's JSON dumps
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    for step in ("preflight", "backup.create", "verify.audit", "code update", "migrate.check",
                 "migrate.warm", "maintenance.on", "migrate.run", "verify.post", "restart", "maintenance.off",
                 "verify.smoke", "verify.logs"):
        assert re.search(rf"^  {re.escape(step)}\s+ok\s", out, re.M), step
    assert re.search(r"downtime \(maintenance ON->OFF\): \d+\.\ds", out)
    assert "Synced: 50 users" in out
    assert head() == head("v2")
    # the running app is v2: gunicorn reloaded (the sandbox's service.restart), and it says so
    assert f"recorder reloaded, serving {head()[:12]}" in out
    assert json.loads(http_status("/healthz")[1])["revision"] == head()

    with db() as conn:
        after = fingerprints(conn)
        assert "workshops_userprofile" not in after
        teachers = {r[0] for r in conn.execute(
            "SELECT user_id FROM accounts_userprofile WHERE is_teacher").fetchall()}
        assert instructors <= teachers
    for table in ("auth_user", "workshops_workshop", "courses_course"):
        assert after[table][0] == before[table][0], table
    assert http_status("/workshops/")[0] == 200

    # The backup: a 0700 directory of 0600 files, verified, with the audit and a manifest whose
    # fingerprints are the pre-deploy ones.
    name = backup_name(out)
    d = BACKUPS / name
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = {p.name for p in d.iterdir()}
    assert {"db.dump", "globals.sql", "manifest.json", "verified.json", "audit.json",
            "dumpdata-all.json.gz", "dumpdata-workshops_UserProfile.json.gz"} <= files
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in d.iterdir())
    manifest = json.loads((d / "manifest.json").read_text())
    assert {t: (m["rows"], m["md5"]) for t, m in manifest["tables"].items()} == before
    assert manifest["applied_migrations"] == applied   # read in the dump's snapshot
    assert "accounts.0014_final_sync_before_deletion" not in applied
    audit = json.loads((d / "audit.json").read_text())
    assert len(audit["needs_sync"]) == 50 and audit["workshop_instructors"] == "200"

    # The journal keeps what each Django process ran: the destructive migration's target (the
    # script's env on the command), then verify.post's Django check, in the same `manage.py shell`.
    r = sfab("-H", "sandbox", "deploy.show", "--run", re.search(r"\(run (\S+)\)", out).group(1))
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"\[migrate\.run\] exit 0 [^\n]*RB_MIGRATE_TARGETS="
                     r"'\[\[\"workshops\", \"0025_remove_userprofile\"\]\]'[^\n]*manage\.py shell\n"
                     r"(?:      \|[^\n]*\n)*?      \| print\('@@after-migrate'\)", r.stdout), r.stdout

    # Rolling migrations back across DeleteModel would bring the table back EMPTY: refused.
    r = sfab("-H", "sandbox", "rollback.migrations", "--to", "workshops.0024_userprofile_website",
             "--yes")
    assert r.returncode == 1
    assert "recreates the table EMPTY" in r.stderr and "rollback.restore" in r.stderr
    with db() as conn:
        assert fingerprints(conn) == after


@pytest.mark.faults
def test_b_silent_skip_stops_before_the_destructive_migration(sfab, db):
    r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", "--ref", "v2-silent-skip")
    assert r.returncode == 1
    assert "Skipping sync - this is safe" in r.stdout
    assert "every instructor has a teacher profile' is 50, expected 0" in r.stderr
    assert "NOT applied: workshops.0025_remove_userprofile" in r.stdout
    assert "maintenance is ON" in r.stdout and "rollback.restore --backup=" in r.stdout
    with db() as conn:
        assert scalar(conn, "SELECT count(*) FROM workshops_userprofile") == 10000
        assert scalar(conn, "SELECT count(*) FROM workshops_userprofile WHERE is_instructor") == 200


@pytest.mark.faults
def test_c_failed_migration_then_restore_gives_identical_fingerprints(sfab, db):
    with db() as conn:
        before = fingerprints(conn)
    r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", "--ref", "v2-raises")
    assert r.returncode == 1
    assert "FAILED" in r.stdout and "simulated failure in workshops.0025" in r.stdout + r.stderr
    name = backup_name(r.stdout)
    with db() as conn:
        assert fingerprints(conn) != before  # 0014 ran: the sync changed rows

    r = sfab("-H", "sandbox", "rollback.restore", f"--backup={name}", "--code", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == head("v1")
    assert http_status("/workshops/")[0] == 200
    # The replaced database is kept, not dropped.
    with db("postgres") as conn:
        kept = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE "
                            "'recorder_before_%'").fetchall()
    assert len(kept) == 1


@pytest.mark.faults
def test_d_noboot_stops_at_health_with_maintenance_on_then_recovers(sfab, db):
    with db() as conn:
        before = fingerprints(conn)
    r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", "--ref", "v2-noboot")
    assert r.returncode == 1
    assert "[11/14] restart FAILED" in r.stdout
    assert "did not answer 200" in r.stdout
    assert "maintenance is ON" in r.stdout
    status, body = http_status("/workshops/")
    assert status == 503 and "Scheduled Maintenance" in body
    name = backup_name(r.stdout)

    r = sfab("-H", "sandbox", "rollback.code", "--ref", "v1", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    r = sfab("-H", "sandbox", "rollback.restore", f"--backup={name}", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert http_status("/workshops/")[0] == 200
    with db() as conn:
        assert fingerprints(conn) == before


@pytest.mark.faults
def test_e_truncated_backup_is_caught(sfab):
    r = sfab("-H", "sandbox", "backup.create", "--no-json")
    assert r.returncode == 0, r.stdout + r.stderr
    name = backup_name(r.stdout)
    dump = BACKUPS / name / "db.dump"
    with open(dump, "r+b") as f:
        f.truncate(dump.stat().st_size // 2)
    r = sfab("-H", "sandbox", "backup.verify", f"--backup={name}")
    assert r.returncode == 1
    assert f"backup {name} is NOT usable" in r.stderr and "db.dump differs" in r.stderr
    r = sfab("-H", "sandbox", "rollback.restore", f"--backup={name}", "--yes")
    assert r.returncode == 1 and "NOT usable" in r.stdout
    assert http_status("/workshops/")[0] == 200  # nothing was touched


@pytest.mark.faults
def test_e_deploy_refuses_to_continue_past_a_failed_backup(sfab, db):
    """The dump cannot be taken (a table held locked): the run stops at backup.create."""
    with db() as conn:
        before = fingerprints(conn)
    with db() as locker:
        locker.autocommit = False
        locker.execute("LOCK TABLE courses_course IN ACCESS EXCLUSIVE MODE")
        r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json",
                 env={"FABRIC_DEPLOY_LOCK_WAIT_TIMEOUT": "2"})
        locker.rollback()
    assert r.returncode == 1
    assert "[2/14] backup.create FAILED" in r.stdout and "lock timeout" in r.stdout
    assert "[3/14]" not in r.stdout
    assert head() == head("v1")
    with db() as conn:
        assert fingerprints(conn) == before
    assert http_status("/workshops/")[0] == 200
    assert not (BACKUPS / "deploy.lock").exists()


@pytest.mark.faults
def test_preflight_refuses_when_the_backup_disk_is_too_small(home, sandbox, tmp_path,
                                                              reset_sandbox, db):
    tiny = Path("/srv/recorder/tinyfs")
    tiny.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k,mode=0700", "tmpfs", str(tiny)],
                   check=True)
    try:
        subprocess.run(["chown", "deploy:deploy", str(tiny)], check=True)
        fab = Fab(home, make_inventory(tmp_path / "inv", **{
            'dir = "/srv/recorder/backups"': f'dir = "{tiny}"'}))
        r = fab("-H", "sandbox", "deploy.consolidate", "--no-json")
        assert r.returncode == 1
        assert "[1/14] preflight FAILED: only 0.00 GB free" in r.stdout
        assert "[2/14]" not in r.stdout and head() == head("v1")
        assert not (tiny / "deploy.lock").exists()
    finally:
        subprocess.run(["umount", str(tiny)], check=False)


def test_f_maintenance_status_proves_503_and_bypass(sfab):
    r = sfab("-H", "sandbox", "maintenance.on")
    assert r.returncode == 0, r.stderr
    r = sfab("-H", "sandbox", "maintenance.status")
    assert r.returncode == 0, r.stderr
    assert "maintenance ON: public 503 with the maintenance page, operator bypass 200" in r.stdout
    assert http_status("/healthz")[0] == 503
    r = sfab("-H", "sandbox", "maintenance.on")
    assert "nothing to do: maintenance is already ON" in r.stdout
    r = sfab("-H", "sandbox", "maintenance.off")
    assert r.returncode == 0 and http_status("/healthz")[0] == 200
    r = sfab("-H", "sandbox", "maintenance.status")
    assert "maintenance OFF: public 200" in r.stdout


@pytest.mark.parametrize("value, problem", [
    ("../etc", "is not a backup name"),
    ("x; rm -rf /", "is not a backup name"),
    ("$(touch /tmp/pwned)", "is not a backup name"),
    ("/srv/recorder/backups", "is not a backup name"),
    ("20991231-000000-abcd", "no backup '20991231-000000-abcd' on sandbox"),
    ("", "--backup NAME is required"),
])
@pytest.mark.faults
def test_restore_refuses_bad_backup_names(sfab, db, value, problem):
    with db() as conn:
        before = fingerprints(conn)
    r = sfab("-H", "sandbox", "rollback.restore", f"--backup={value}", "--yes")
    assert r.returncode == 2
    assert problem in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not os.path.exists("/tmp/pwned")
    with db() as conn:
        assert fingerprints(conn) == before


def test_restore_without_yes_and_no_terminal_refuses(sfab):
    r = sfab("-H", "sandbox", "backup.create", "--no-json")
    name = backup_name(r.stdout)
    r = sfab("-H", "sandbox", "rollback.restore", f"--backup={name}", stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "rerun with --yes" in r.stderr


def test_backup_drill_and_list(sfab):
    r = sfab("-H", "sandbox", "backup.create", "--no-json")
    name = backup_name(r.stdout)
    r = sfab("-H", "sandbox", "backup.verify", f"--backup={name}", "--drill")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "restore drill matched every table's fingerprint" in r.stdout
    r = sfab("-H", "sandbox", "backup.list")
    assert re.search(rf"^{name}\s+\S+\s+\S+MB\s+yes \(restore drill", r.stdout, re.M)


@pytest.mark.faults
def test_auto_rollback_restores_database_and_code(sfab, db):
    with db() as conn:
        before = fingerprints(conn)
    r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", "--ref", "v2-raises",
             "--auto-rollback")
    assert r.returncode == 1
    assert "auto-rollback: restoring" in r.stdout and "auto-rollback: done" in r.stdout
    assert "failed and was rolled back" in r.stderr
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == head("v1")
    assert http_status("/workshops/")[0] == 200
