"""The built-in data-loss guards on the real sandbox (real Django, real PostgreSQL), with a
deploy.toml that has NO invariants: what a user who wrote none gets.

- an unguarded DeleteModel/RemoveField is refused at preflight (and by --plan), before anything
  changes, and goes through with --allow-unguarded, the rows it drops shown first;
- a sync migration that says it skipped (v2-silent-skip prints "Skipping sync") is stopped
  before the destructive stage by the output scan;
- with the output scan turned off (red_flags = []), the same migration is stopped inside the
  migrating process: it wrote no row while the drop would remove 10,000;
- a run the guard stopped is not resumed into the drop.
"""
import re

import pytest

from tests.support.ledger import ledger_fab, rows
from tests.support.sandbox import ROOT, Fab, head, make_inventory, scalar

pytestmark = pytest.mark.faults


def project_without_invariants(tmp_path, migrations_extra=""):
    """sandbox/deploy.toml less its [[invariants]], with `migrations_extra` lines added to
    [migrations]."""
    text = (ROOT / "sandbox" / "deploy.toml").read_text()
    text = re.sub(r"(?ms)^\[\[invariants\]\].*?(?=^# ---)", "", text)
    assert "[[invariants]]" not in text
    text = text.replace("[migrations]\n", "[migrations]\n" + migrations_extra + "\n", 1)
    path = tmp_path / "deploy-no-invariants.toml"
    path.write_text(text)
    return path


@pytest.fixture
def gfab(home, sandbox, tmp_path, reset_sandbox):
    def make(migrations_extra=""):
        project = project_without_invariants(tmp_path, migrations_extra)
        inv = make_inventory(tmp_path / "inv", **{
            f'project = "{ROOT}/sandbox/deploy.toml"': f'project = "{project}"'})
        return Fab(home, inv)
    return make


def rows_intact(db):
    with db() as conn:
        assert scalar(conn, "SELECT count(*) FROM workshops_userprofile") == 10000
        assert scalar(conn, "SELECT count(*) FROM workshops_userprofile WHERE is_instructor") == 200


def test_unguarded_drop_is_refused_at_preflight_then_allowed_with_consent(gfab, db):
    fab = gfab()
    r = fab("-H", "sandbox", "deploy.consolidate", "--no-json", "--plan")
    assert r.returncode == 1
    assert "FAIL data-loss guard: workshops.0025_remove_userprofile will remove field " \
           "userprofile.website (RemoveField) (and 1 more) and no invariant guards it" in r.stdout

    r = fab("-H", "sandbox", "deploy.consolidate", "--no-json")
    assert r.returncode == 1, r.stdout
    assert re.search(r"\] preflight FAILED: ", r.stdout), r.stdout
    assert "add an [[invariants]] check to deploy.toml" in r.stderr
    assert "--allow-unguarded" in r.stderr
    assert "backup.create" not in r.stdout          # stopped before the backup: nothing changed
    assert head() == head("v1")
    rows_intact(db)

    r = fab("-H", "sandbox", "deploy.consolidate", "--no-json", "--allow-unguarded")
    assert r.returncode == 0, r.stdout + r.stderr
    # what each drop removes is shown before it runs, from the migrating process itself
    assert "about to drop: workshops.0025_remove_userprofile: DeleteModel drops " \
           "workshops_userprofile: 10000 rows" in r.stdout
    assert head() == head("v2")
    with db() as conn:
        assert scalar(conn, "SELECT count(*) FROM information_schema.tables "
                            "WHERE table_name = 'workshops_userprofile'") == 0


def test_unguarded_ok_entry_consents_and_a_loud_swallow_stops_before_the_drop(gfab, db):
    fab = gfab('unguarded_ok = ["workshops.0025_remove_userprofile"]')
    r = fab("-H", "sandbox", "deploy.consolidate", "--no-json", "--ref", "v2-silent-skip")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"\] migrate\.run FAILED: ", r.stdout), r.stdout
    assert "data-loss guard: the output of accounts.0014_final_sync_before_deletion shows signs " \
           "of a swallowed failure: 'Skipping sync - this is safe'" in r.stderr
    assert "NOT applied: workshops.0025_remove_userprofile" in r.stderr
    assert "maintenance is ON" in r.stdout and re.search(r"rollback\.restore .*--backup=", r.stdout)
    rows_intact(db)


def test_a_silent_swallow_is_stopped_inside_the_migration_and_not_resumed(gfab, db):
    # no output scan at all: only the rows the sync wrote can tell
    fab = gfab("red_flags = []")
    r = fab("-H", "sandbox", "deploy.consolidate", "--no-json", "--ref", "v2-silent-skip",
            "--allow-unguarded")
    assert r.returncode == 1, r.stdout + r.stderr
    # 0025 first removes the website column (the values some profiles hold), then the table
    assert re.search(r"data-loss guard: the data migration\(s\) accounts\.0014_final_sync_before_"
                     r"deletion wrote no row, yet workshops_userprofile\.website holds [1-9]\d* "
                     r"values that workshops\.0025_remove_userprofile drops", r.stderr), r.stderr
    rows_intact(db)
    with db() as conn:   # the whole of 0025 was rolled back, its RemoveField too
        assert scalar(conn, "SELECT count(*) FROM information_schema.columns WHERE "
                            "table_name = 'workshops_userprofile' AND column_name = 'website'") == 1
        assert scalar(conn, "SELECT count(*) FROM django_migrations "
                            "WHERE name = '0025_remove_userprofile'") == 0
    # the deploy.show journal keeps what the guard saw
    run_id = re.search(r"\(run (\S+)\)", r.stdout).group(1)
    shown = fab("-H", "sandbox", "deploy.show", "--run", run_id)
    assert shown.returncode == 0 and "data-loss guard" in shown.stdout, shown.stdout

    r = fab("-H", "sandbox", "deploy.consolidate", "--resume")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"run {run_id} was stopped by the data-loss guard" in r.stderr
    rows_intact(db)


# --- the same on the ledger app (its deploy.toml has no invariants at all) -----------------
LEGACY = "SELECT user_id, phone, timezone FROM people_legacyprofile ORDER BY user_id"


def test_ledger_unguarded_refused_then_a_loud_swallow_stops_before_the_drop(
        home, sandbox, tmp_path, reset_sandbox, ldb):
    fab = ledger_fab(home, tmp_path)
    with ldb() as conn:
        legacy = rows(conn, LEGACY)
    r = fab("-H", "sandbox-ledger", "deploy.consolidate", "--ref", "v2-swallow-loud")
    assert r.returncode == 1 and re.search(r"\] preflight FAILED: ", r.stdout), r.stdout
    assert "people.0004_delete_legacyprofile will delete model LegacyProfile (DeleteModel) " \
           "and no invariant guards it" in r.stderr

    r = fab("-H", "sandbox-ledger", "deploy.consolidate", "--ref", "v2-swallow-loud",
            "--allow-unguarded")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "data-loss guard: the output of people.0002_profile_phone_timezone, " \
           "people.0003_sync_legacy_profiles shows signs of a swallowed failure: " in r.stderr
    assert "!!! Error during sync: 'LegacyProfile' object has no attribute 'phone_number' " \
           "... continuing" in r.stderr
    assert "NOT applied: people.0004_delete_legacyprofile" in r.stderr
    with ldb() as conn:
        assert rows(conn, LEGACY) == legacy and len(legacy) > 1000


def test_ledger_silent_swallow_stops_at_the_drop(home, sandbox, tmp_path, reset_sandbox, ldb):
    fab = ledger_fab(home, tmp_path)
    with ldb() as conn:
        legacy = rows(conn, LEGACY)
    r = fab("-H", "sandbox-ledger", "deploy.consolidate", "--ref", "v2-swallow-silent",
            "--allow-unguarded")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "!!!" not in r.stdout                 # the migration itself said nothing
    assert f"data-loss guard: the data migration(s) people.0003_sync_legacy_profiles wrote no " \
           f"row, yet people_legacyprofile holds {len(legacy)} rows that " \
           "people.0004_delete_legacyprofile drops" in r.stderr
    with ldb() as conn:
        assert rows(conn, LEGACY) == legacy
        assert rows(conn, "SELECT count(*) FROM django_migrations "
                          "WHERE name = '0004_delete_legacyprofile'")[0][0] == 0
