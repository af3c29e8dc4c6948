"""A rerun after a failed dependency install installs again (issue 16, bug 3), on the ledger app
whose v2 adds a dependency (`packaging`) to its poetry lock.

The install is made to fail the way a transient fault would (the venv's site-packages not
writable for the deploy user); once that is mended, the plain rerun must install - not say
"nothing to do" and serve v2 on v1's dependencies.
"""
import glob
import subprocess

import pytest

from tests.support.ledger import git, ledger_fab, tag

pytestmark = pytest.mark.faults

VENV = "/srv/ledger/venv"


def site_packages():
    [path] = glob.glob(f"{VENV}/lib/python3*/site-packages")
    return path


def imports_packaging():
    return subprocess.run([f"{VENV}/bin/python", "-c", "import packaging"],
                          capture_output=True).returncode == 0


def test_a_rerun_after_a_failed_install_installs(home, sandbox, tmp_path, reset_sandbox):
    fab = ledger_fab(home, tmp_path)
    subprocess.run([f"{VENV}/bin/python", "-m", "pip", "uninstall", "-q", "-y", "packaging"],
                   capture_output=True)
    assert not imports_packaging()
    sp = site_packages()
    subprocess.run(["chmod", "a-w", sp], check=True)
    try:
        r = fab("-H", "sandbox-ledger", "deploy.consolidate", "--ref", "v2", "--no-json",
                "--allow-unguarded")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "stopped at code update: installing the dependencies with poetry failed" in r.stderr
        assert git("rev-parse", "HEAD") == tag("v2")     # the tree moved before the install
    finally:
        subprocess.run(["chmod", "u+w", sp], check=True)
    assert not imports_packaging()

    r = fab("-H", "sandbox-ledger", "deploy.consolidate", "--ref", "v2", "--no-json",
            "--allow-unguarded")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "requirements reinstalled" in r.stdout
    assert imports_packaging()
