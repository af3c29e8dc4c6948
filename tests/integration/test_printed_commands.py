"""Printed commands run verbatim: a deploy that fails after the code update, on an inventory
that is not ./hosts.toml (in a directory with a space), prints its recovery; the test runs each
printed line as the shell would split it, with no option added, and the host is back on v1.
Then deploy.history (as printed in an error message) shows the deploy and the rollback."""
import os
import re
import shlex
import subprocess

import pytest

from tests.support.sandbox import FAB, ROOT, SITE, Fab, fingerprints, head, http_get, make_inventory, tag


def verbatim(home, line):
    """Run a printed `fab ...` line as printed (fab is this venv's; cwd and env as the test's)."""
    argv = shlex.split(line)
    assert argv[0] == "fab", line
    env = {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([str(FAB), *argv[1:]], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.faults
def test_recovery_printed_after_the_code_update_runs_verbatim(home, sandbox, tmp_path,
                                                               reset_sandbox, db):
    hosts = make_inventory(tmp_path / "my inv")
    fab = Fab(home, hosts)
    with db() as conn:
        before = fingerprints(conn)
    r = fab("-H", "sandbox", "deploy.consolidate", "--no-json", "--ref", "v2-noboot")
    assert r.returncode == 1 and "[11/14] restart FAILED" in r.stdout, r.stdout + r.stderr
    assert http_get(SITE + "/workshops/")[0] == 503
    rec = r.stdout.split("Recover with:", 1)[1]
    lines = [x.strip() for x in rec.splitlines() if x.strip().startswith("fab -H")]
    assert lines, r.stdout
    for line in lines:
        assert f"--hosts-file {shlex.quote(str(hosts.resolve()))}" in line, line
        done = verbatim(home, line)
        assert done.returncode == 0, line + "\n" + done.stdout + done.stderr
    assert head() == tag("v1") and http_get(SITE + "/workshops/")[0] == 200
    with db() as conn:
        assert fingerprints(conn) == before

    bad = fab("-H", "sandbox", "deploy.show", "--run", "20990101-000000-beef")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    listed = verbatim(home, re.search(r"list them with (fab .*)$", bad.stderr.strip()).group(1))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = [x.split() for x in listed.stdout.splitlines()[2:]]
    deploy, restore = rows[-2], rows[-1]
    assert deploy[3] == "deploy.consolidate" and deploy[4:7] == [
        tag("v1")[:8], "->", tag("v2-noboot")[:8]], listed.stdout
    assert restore[3] == "rollback.restore" and restore[4:7] == [
        tag("v2-noboot")[:8], "->", tag("v1")[:8]], listed.stdout
    assert restore[-1] == deploy[-1] and re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", deploy[-1])
