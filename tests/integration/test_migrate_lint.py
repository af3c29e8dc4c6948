"""migrate.lint (issue 20) on the ledger app: the pending migrations' SQL from Django, squawk's
findings joined with the live table sizes, and what a release does with them.

Tags (sandbox/ledger/README.md): `v1.1-index` adds a plain (not concurrent) index on
people_profile; `v1-rename` renames a column the code of v1 still names. The lock budget
without a window is 0 s in these tests, so the index's estimate, whatever this machine's speed,
is over it: the decision is what is tested, the estimate's size is bench material.
"""
import glob
import json
import re
import shlex
import subprocess

import pytest

from tests.support.ledger import APP, git, ledger_fab, tag

INDEX = "people.0003_profile_people_prof_display_idx"
RENAME = "people.0002_rename_display_name_profile_name"
JOURNAL = "/srv/ledger/backups/journal.jsonl"


@pytest.fixture
def lfab(home, sandbox, tmp_path, reset_sandbox):
    fab = ledger_fab(home, tmp_path, release=True)
    project = tmp_path / "deploy.toml"
    project.write_text(project.read_text().replace("[migrations]\n",
                                                   "[migrations]\nlock_budget_live = 0\n", 1))
    return fab


def applied(ldb):
    with ldb() as conn:
        return {a + "." + n for a, n in conn.execute("SELECT app, name FROM django_migrations")}


def indexes(ldb):
    with ldb() as conn:
        return {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'people_profile'")}


def lint_records():
    with open(JOURNAL) as f:
        recs = [json.loads(x) for x in f if x.strip()]
    return [r for r in recs if r.get("what") == "migration lint"]


def test_migrate_lint_reads_the_sql_and_the_table_and_changes_nothing(lfab, ldb):
    for args in (["fetch", "-q", "--tags", "origin"], ["reset", "-q", "--keep", "v1.1-index"]):
        # the code moved (as its owner), nothing migrated
        subprocess.run(["sudo", "-u", "deploy", "git", "-C", APP, *args], check=True)
    before = applied(ldb)
    r = lfab("-H", "sandbox-ledger", "migrate.lint")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert f'{INDEX}: CREATE INDEX "people_prof_display_idx" ON "people_profile" ' \
           '("display_name");' in out
    assert "require-concurrent-index-creation on people_profile (3,001 rows, " in out
    assert "inside a window: ok, ~" in out and "(budget 5s)" in out
    assert "without a window: REFUSED, ~" in out and "AddIndexConcurrently" in out
    assert "2 pending migration(s), 1 finding(s); this host scans " in out
    assert applied(ldb) == before and "people_prof_display_idx" not in indexes(ldb)
    with ldb() as conn:   # the rate probe's table was rolled back
        assert conn.execute("SELECT to_regclass('rb_lint_probe')").fetchone()[0] is None


def test_a_plain_index_is_refused_without_a_window_and_allowed_inside_one(lfab, ldb):
    r = lfab("-H", "sandbox-ledger", "deploy.release", "--ref", "v1.1-index", "--no-window")
    assert r.returncode == 1, r.stdout + r.stderr
    said = r.stdout + r.stderr
    assert (f"migration lint refused {INDEX} without a maintenance window: "
            "require-concurrent-index-creation on people_profile, ~") in said
    assert "over the 0s budget" in said and "AddIndexConcurrently" in said
    assert "Traceback" not in said
    assert git("rev-parse", "HEAD") == tag("v1")                  # the live tree never moved
    assert INDEX not in applied(ldb) and "people_prof_display_idx" not in indexes(ldb)
    assert lint_records()[-1]["findings"][0]["rule"] == "require-concurrent-index-creation"

    # the same release without --no-window: a window, because of the lock, and then it runs
    r = lfab("-H", "sandbox-ledger", "deploy.release", "--ref", "v1.1-index")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"a window is needed: {INDEX} require-concurrent-index-creation on people_profile" \
        in r.stdout
    assert "inside a window: ok, ~" in r.stdout
    assert "not needed" not in next(x for x in r.stdout.splitlines() if "maintenance.on ok" in x)
    assert git("rev-parse", "HEAD") == tag("v1.1-index")
    assert INDEX in applied(ldb) and "people_prof_display_idx" in indexes(ldb)
    rec = lint_records()[-1]
    assert rec["rates"]["scan"] > 0 and rec["findings"][0]["table"] == "people_profile"
    assert rec["findings"][0]["rows"] == 3001


def test_a_renamed_column_is_refused_for_a_deploy_without_a_window(lfab, ldb):
    r = lfab("-H", "sandbox-ledger", "deploy.release", "--ref", "v1-rename", "--no-window")
    assert r.returncode == 1, r.stdout + r.stderr
    said = r.stdout + r.stderr
    assert f"--no-window refused: the old code would serve while {RENAME}: Rename field " \
           "display_name on profile to name" in said
    assert "renaming-column on people_profile: the old code still names the column" in said
    assert "without a window: REFUSED, the old code serves while it runs" in said
    assert "Traceback" not in said
    assert git("rev-parse", "HEAD") == tag("v1") and RENAME not in applied(ldb)
    # the rerun the failure printed is runnable as printed: refused the same way
    reruns = re.findall(r"rerun: (fab -H .*)$", said, re.M)
    assert reruns, said
    rerun = reruns[-1]
    assert "--no-window" in rerun
    again = lfab(*shlex.split(rerun)[1:], hosts_file=False)
    assert again.returncode == 1 and "--no-window refused" in again.stdout + again.stderr


def test_the_plan_shows_the_findings_and_the_refusal_and_changes_nothing(lfab, ldb):
    before = applied(ldb)
    r = lfab("-H", "sandbox-ledger", "deploy.release", "--ref", "v1.1-index", "--no-window",
             "--plan")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Migration lint (2 pending; squawk, this host's table sizes; WITHOUT a window):" in out
    assert "require-concurrent-index-creation on people_profile (3,001 rows, " in out
    assert f"FAIL migration lint refused {INDEX} without a maintenance window" in out
    assert "Verdict: a check FAILED above" in out
    # read from a worktree of the target beside the app, gone afterwards; nothing else moved
    assert glob.glob(APP + ".plan*") == [] and "app.plan" not in git("worktree", "list")
    assert git("rev-parse", "HEAD") == tag("v1") and applied(ldb) == before

    r = lfab("-H", "sandbox-ledger", "deploy.release", "--ref", "v1.1-index", "--plan")
    assert "Migration lint (2 pending; squawk, this host's table sizes; inside a maintenance " \
           "window):" in r.stdout, r.stdout + r.stderr
    assert "Verdict: every check passed" in r.stdout


def test_a_lock_over_the_window_budget_is_refused_unless_consented(lfab, ldb, tmp_path):
    project = tmp_path / "deploy.toml"
    project.write_text(project.read_text().replace("[migrations]\n",
                                                   "[migrations]\nlock_budget = 0\n", 1))
    r = lfab("-H", "sandbox-ledger", "deploy.release", "--ref", "v1.1-index")
    said = r.stdout + r.stderr
    assert r.returncode == 1, said
    assert f"migration lint refused {INDEX} inside the window: require-concurrent-index-creation" \
           " on people_profile, ~" in said
    assert "or consent with --accept-locks (nothing was migrated)" in said
    assert git("rev-parse", "HEAD") == tag("v1") and INDEX not in applied(ldb)

    r = lfab("-H", "sandbox-ledger", "deploy.release", "--ref", "v1.1-index", "--accept-locks")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "over the 0s budget, accepted (--accept-locks)" in r.stdout
    # consent lets the lock run; it does not take the window away (the lock is over the live budget)
    assert f"a window is needed: {INDEX}" in r.stdout
    assert "not needed" not in next(x for x in r.stdout.splitlines() if "maintenance.on ok" in x)
    assert INDEX in applied(ldb) and "people_prof_display_idx" in indexes(ldb)
