"""deploy.consolidate --resume against the sandbox: a run failed by an injected fault after its
migrations, the fault fixed, then resumed, ends like a clean run - same code, same data, the
first run's backup kept as the deploy's only backup - and deploy.history lists both runs."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.sandbox import (
    BACKUPS,
    INVOKE,
    ROOT,
    Watch,
    head,
    locked,
    status,
    tag,
)
from tests.support.sandbox import deploy_data as data

pytestmark = pytest.mark.integration

SUDOERS = Path("/etc/sudoers.d/deploy-sandbox")


@pytest.fixture
def sudoers():
    original = SUDOERS.read_text()
    yield original
    SUDOERS.write_text(original)


def backups():
    return sorted(n for n in os.listdir(BACKUPS) if re.match(r"^\d{8}-\d{6}-[0-9a-f]{4}$", n))


def test_resume_after_a_fixed_fault_ends_like_a_clean_run(sfab, db, sudoers, reset_sandbox):
    clean = sfab("-H", "sandbox", "deploy.consolidate", "--no-json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    with db() as conn:
        after_clean = data(conn)
    # back to v1 for the faulty run
    assert subprocess.run([str(INVOKE), "sandbox.reset"], cwd=ROOT).returncode == 0

    # the fault: supervisorctl taken out of the deploy user's sudo rules once migrations start
    def break_sudo():
        SUDOERS.write_text(sudoers.replace("/usr/bin/supervisorctl, ", ""))
    w = Watch(sfab, "-H", "sandbox", "deploy.consolidate", "--no-json")
    failed = w.when("migrate.run ...", break_sudo).start().finish()
    assert w.fired and failed.returncode == 5, failed.stdout
    assert "[11/14] restart FAILED" in failed.stdout and "sudo refused" in failed.stdout
    first = re.search(r"\(run (\S+)\)", failed.stdout).group(1)
    assert backups() == [first] and not locked()
    assert status()[0] == 503                      # left in maintenance, migrated, not restarted

    SUDOERS.write_text(sudoers)                    # the cause, fixed
    r = sfab("-H", "sandbox", "deploy.consolidate", "--resume")
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    second = re.search(r"\(run (\S+)\)", out).group(1)
    assert f"resuming run {first}, which stopped at restart" in out
    assert "backup.create kept" in out and f"{first} of run {first}, verified again in full" in out
    assert "verify.audit kept" in out and "read back from" in out
    assert "migrate.check ok" in out and "no pending migrations" in out
    assert "maintenance.on ok" in out and "already ON" in out
    assert "[11/14] restart ok" in out and "[14/14] verify.logs ok" in out
    assert re.search(r"downtime \(maintenance ON->OFF\): \d+\.\d+s", out)

    # like a clean run: the code, the data, the site; one backup, the first run's
    assert head() == tag("v2") and status()[0] == 200 and not locked()
    with db() as conn:
        assert data(conn) == after_clean
    assert backups() == [first]

    hist = sfab("-H", "sandbox", "deploy.history")
    rows = {line.split()[1]: line for line in hist.stdout.splitlines()[2:]}
    assert "failed at restart" in rows[first] and rows[first].split()[-1] == first
    assert f" ok (resumed {first}) " in rows[second] and rows[second].split()[-1] == first  # same backup
    show = sfab("-H", "sandbox", "deploy.show", "--run", second)
    assert f"--resume={first}" in show.stdout.splitlines()[0]

    again = sfab("-H", "sandbox", "deploy.consolidate", "--resume")
    assert again.returncode == 2 and f"run {second} on sandbox ended ok; nothing to resume" in again.stderr


def test_resume_refuses_another_ref_and_reruns_a_run_that_changed_nothing(sfab):
    bad = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", "--expect", "accounts.0001_nope")
    assert bad.returncode == 1 and "Stopped at checkpoint 'preflight'" in bad.stdout
    r = sfab("-H", "sandbox", "deploy.consolidate", "--resume", "--ref", "v1")
    assert r.returncode == 2 and "drop --ref, or deploy anew without --resume" in r.stderr
    assert r.stderr.strip().count("\n") == 0
    r = sfab("-H", "sandbox", "deploy.consolidate", "--resume", "--plan")
    assert r.returncode == 2 and "do not go together" in r.stderr
    # it stopped at preflight: --resume runs it again from the start, with its arguments
    r = sfab("-H", "sandbox", "deploy.consolidate", "--resume")
    assert r.returncode == 1 and "before changing anything; running it again from the start" in r.stdout
    assert "accounts.0001_nope" in r.stdout and "Stopped at checkpoint 'preflight'" in r.stdout
    assert head() == tag("v1") and status()[0] == 200 and backups() == []
