"""Issue 16, bugs 2 and 9: maintenance answers 503 + Retry-After to every method; an install
the SSH user cannot write is one line with the command that fixes it."""
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.sandbox import Fab, make_inventory

SITE = "http://127.0.0.1:8080"
SNIPPET = "/etc/nginx/deploy.d/recorder-maintenance.conf"


def request(method, path="/workshops/"):
    """(status, Retry-After header, body) of one request from the test process."""
    req = urllib.request.Request(SITE + path, method=method,
                                 data=b"x=1" if method in ("POST", "PUT", "PATCH") else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Retry-After"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Retry-After"), e.read().decode()


def test_every_method_gets_503_with_retry_after_and_status_proves_a_post(fab):
    r = fab("-H", "sandbox", "maintenance.on")
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
            status, retry, body = request(method)
            assert (status, retry) == (503, "600"), method
            assert method == "HEAD" or "Scheduled Maintenance" in body, method
        assert request("GET", "/__maintenance__/page.html")[0] == 404   # internal: not served
        r = fab("-H", "sandbox", "maintenance.status")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "public POST 503" in r.stdout
    finally:
        r = fab("-H", "sandbox", "maintenance.off")
    assert r.returncode == 0 and request("POST")[0] != 503
    assert request("GET", "/__maintenance__/page.html")[0] == 404


@pytest.fixture
def root_owned_dir():
    d = Path("/etc/nginx/deploy-root-owned.d")
    subprocess.run(["install", "-d", "-o", "root", "-g", "root", "-m", "0755", str(d)], check=True)
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def test_install_into_a_root_owned_directory_is_one_line_with_a_runnable_fix(
        home, sandbox, tmp_path, root_owned_dir):
    target = root_owned_dir / "recorder-maintenance.conf"
    fab = Fab(home, make_inventory(tmp_path / "inv", **{f'snippet = "{SNIPPET}"':
                                                        f'snippet = "{target}"'}))
    r = fab("-H", "sandbox", "maintenance.install")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stdout + r.stderr and not r.stdout.strip()
    assert f"cannot write {target} on sandbox" in lines[0] and "Permission denied" in lines[0]
    fix = re.search(r"run this on the host, then rerun: (sudo install .*)$", lines[0])
    assert fix and str(root_owned_dir) in fix[1], lines[0]
    subprocess.run(fix[1], shell=True, check=True)        # the printed command, verbatim
    r = fab("-H", "sandbox", "maintenance.install")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"snippet written to {target}" in r.stdout and target.exists()
