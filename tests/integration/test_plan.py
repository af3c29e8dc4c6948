"""deploy.consolidate --plan (and fab --dry): read-only checks and what would run; nothing changes."""
import os
import re
import subprocess

import pytest

from tests.support.sandbox import fingerprints, host_listing


@pytest.mark.parametrize("flags", [["deploy.consolidate", "--plan"], ["--dry", "deploy.consolidate"]])
def test_plan_changes_nothing_and_lists_the_destructive_migrations(sfab, db, secrets, flags):
    with db() as conn:
        before = fingerprints(conn)
    listing = host_listing()
    r = sfab("-H", "sandbox", *flags)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert out.startswith("PLAN for deploy.consolidate on sandbox - nothing below has run")
    for check in ("ok   health: service RUNNING", "ok   deploy lock: free", "ok   backup disk:",
                  "ok   backup dir writable by deploy: yes", "ok   PostgreSQL 14.",
                  "ok   code: deployed", "ok   work tree: clean"):
        assert check in out, check
    assert "DESTRUCTIVE workshops.0025_remove_userprofile: RemoveField, DeleteModel" in out
    assert "DATA accounts.0014_final_sync_before_deletion: RunPython" in out
    for step in ("backup.create", "code update", "maintenance.on", "migrate.run", "restart",
                 "maintenance.off"):
        assert f". {step} [" in out, step   # "  N. STEP [where] - what it does", its commands below
    assert re.search(r"\$ git -C /srv/recorder/app merge --ff-only [0-9a-f]{12}\n", out), out
    migrate_cmd = [x for x in out.splitlines() if x.startswith("      $ ") and " shell  <- migrate " in x]
    assert len(migrate_cmd) == 1 and "accounts.0014_final_sync_before_deletion" in migrate_cmd[0] \
        and "workshops.0025_remove_userprofile" in migrate_cmd[0], out
    assert "Verdict: every check passed" in out
    assert not any(v and v in out for v in secrets.values())
    with db() as conn:
        assert fingerprints(conn) == before
    assert host_listing() == listing                       # tree, backups, maintenance, snippets
    assert not os.path.exists("/srv/recorder/maintenance/maintenance.on")


def test_plan_shows_a_failing_check_and_exits_non_zero(sfab, db):
    subprocess.run(["sudo", "-u", "deploy", "touch", "/srv/recorder/app/stray.txt"], check=True)
    try:
        listing = host_listing()
        r = sfab("-H", "sandbox", "deploy.consolidate", "--plan")
        assert r.returncode == 1
        assert "FAIL work tree: local changes (?? stray.txt)" in r.stdout
        assert "the plan found a failing check" in r.stderr
        assert host_listing() == listing
    finally:
        subprocess.run(["rm", "-f", "/srv/recorder/app/stray.txt"], check=True)


def test_fab_echo_is_the_verbose_mode_and_stays_masked(sfab, secrets):
    r = sfab("--echo", "-H", "sandbox", "backup.create", "--no-json")
    assert r.returncode == 0, r.stdout + r.stderr
    echoed = [line for line in r.stdout.splitlines() if line.startswith(("    $ ", "    | "))]
    assert len(echoed) >= 3 and any("pg_dump" in line for line in echoed), r.stdout
    # a script sent on stdin is shown line by line, under its command (its values as RB_* env)
    assert re.search(r"^    \$ (?:(?!\n    [$|] ).)*?[\s;&|]bash -s\b[^\n]*\n    \| ",
                     r.stdout, re.M | re.S), r.stdout
    assert not any(v and v in r.stdout + r.stderr for v in secrets.values())


# every composite that changes the host: --plan, and fab --dry, print its plan and change nothing
COMPOSITES = [
    (["rollback.code", "--ref", "v1"], ["code to ref", "restart"]),
    (["deploy.release", "--ref", "v2"], ["backup", "maintenance.on", "migrate", "restart"]),
    (["rollback.restore", "--backup", "BACKUP", "--code"], ["check backup", "restore database",
                                                          "code to the backup's commit"]),
    (["pg_upgrade.run", "--to", "15", "--method", "link"], ["backup"]),
    (["backup.create", "--no-json"], ["backup"]),
    (["deploy.restart"], ["restart"]),
]


@pytest.mark.parametrize("argv, steps", COMPOSITES, ids=[a[0] for a, _s in COMPOSITES])
@pytest.mark.parametrize("how", ["--plan", "--dry"])
def test_every_composite_plans_truthfully_and_changes_nothing(sfab, db, argv, steps, how):
    made = sfab("-H", "sandbox", "backup.create", "--no-json")   # a backup to plan a restore of
    assert made.returncode == 0, made.stdout + made.stderr
    name = made.stdout.split("(run ")[1].split(")")[0]
    argv = [name if a == "BACKUP" else a for a in argv]
    with db() as conn:
        before = fingerprints(conn)
    listing = host_listing()
    args = ["-H", "sandbox", *argv, "--plan"] if how == "--plan" else ["--dry", "-H", "sandbox", *argv]
    r = sfab(*args)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert "PLAN for " in out and "on sandbox - nothing below has run" in out, out
    for check in ("ok   health: service RUNNING", "ok   deploy lock: free", "ok   PostgreSQL 14.",
                  "maintenance: off", "code: deployed"):
        assert check in out, check
    for step in steps:
        assert f". {step}" in out, step
    assert "Verdict: every check passed" in out and "[y/N]" not in out
    with db() as conn:
        assert fingerprints(conn) == before
    assert host_listing() == listing
