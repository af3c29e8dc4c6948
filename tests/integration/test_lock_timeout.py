"""[migrations] lock_timeout (issue 20) on the ledger app: a migration blocked by a lock another
session holds fails fast instead of queueing, in one line naming the lock and its holder, with
nothing of it applied; the printed rerun applies it once the lock is gone.

The lock is held by a psycopg session of the test (the app's role, in an open transaction after
reading the table, as a long report or an `idle in transaction` connection would); the outcome is
read from PostgreSQL's own catalogs, not from the tool.
"""
import re
import shlex
import subprocess

import pytest

from tests.support.ledger import APP, ledger_fab, rows

MIGRATION = "people.0002_profile_nickname"   # v1.1: a nullable column added to people_profile
COLUMN_SQL = ("SELECT count(*) FROM information_schema.columns WHERE table_name = "
              "'people_profile' AND column_name = 'nickname'")
RECORDED_SQL = ("SELECT count(*) FROM django_migrations WHERE app = 'people' AND name = "
                "'0002_profile_nickname'")


@pytest.fixture
def lfab(home, sandbox, tmp_path, reset_sandbox):
    return ledger_fab(home, tmp_path)


@pytest.fixture
def holder(ldb):
    """A session of the test holding ACCESS SHARE on people_profile in an open transaction; it
    rolls back and closes at the end (the test ends only the session it started)."""
    conn = ldb()
    conn.execute("SET application_name = 'test-lock-holder'")
    conn.autocommit = False
    conn.execute("LOCK TABLE people_profile IN ACCESS SHARE MODE")
    yield conn
    conn.rollback()
    conn.close()


def applied(ldb):
    with ldb() as conn:
        return rows(conn, COLUMN_SQL)[0][0], rows(conn, RECORDED_SQL)[0][0]


def test_a_migration_blocked_by_a_held_lock_fails_with_nothing_applied(lfab, ldb, holder):
    # the code of v1.1 in place, not migrated (as the code update of a deploy leaves it)
    subprocess.run(["sudo", "-u", "deploy", "git", "-c", "safe.directory=*", "-C", APP,
                    "checkout", "-q", "v1.1"], check=True)
    pid = holder.info.backend_pid
    r = lfab("-H", "sandbox-ledger", "migrate.run", "--expect", MIGRATION)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert re.search(
        r"^\[\d+/\d+\] migrate\.run FAILED: people\.0002_profile_nickname could not take its lock "
        r"within 3s \(\[migrations\] lock_timeout\): another session holds a lock on "
        rf"people_profile \(pid {pid}, ledger via test-lock-holder, idle in transaction since "
        r"\d\d:\d\d:\d\d UTC, AccessShareLock\); nothing of that migration was applied$",
        r.stdout, re.M), out
    assert "Traceback" not in out and "OperationalError" not in out, out
    assert "Host state:\n  - no change was made to the host by this run\n" in r.stdout, out
    assert applied(ldb) == (0, 0)                 # no column, not recorded: rolled back whole
    with ldb() as conn:                           # the holder kept its lock all along
        assert rows(conn, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                          f"WHERE l.pid = {pid} AND c.relname = 'people_profile' AND l.granted"
                    )[0][0] == 1

    # the lock released, the printed rerun (as printed) applies the same migration
    holder.rollback()
    rerun = re.search(r"^\s+fix the cause above, then rerun: (fab .*)$", r.stdout, re.M)
    assert rerun, r.stdout
    again = lfab(*shlex.split(rerun.group(1))[1:], hosts_file=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert re.search(r"^\[\d+/\d+\] migrate\.run ok", again.stdout, re.M), again.stdout
    assert applied(ldb) == (1, 1)
