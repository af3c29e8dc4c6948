"""Apps we did not write (issue 16), tool side, on the recorder sandbox: health.headers reach the
app on every request, a failed dependency install names its command and its cause, and
`check --deploy` takes its level and silenced ids from deploy.toml.

What was sent is read independently: nginx's access log, written by the host's own nginx.
"""
import re
import uuid
from pathlib import Path

import pytest

from tests.support.sandbox import ROOT, Fab, make_inventory

ACCESS_LOG = Path("/var/log/nginx/recorder.access.log")
PROJECT = f'project = "{ROOT}/sandbox/deploy.toml"'
HEALTH = 'revision_key = "revision"'


def inventory(tmp_path, deploy_toml_extra=None, **replace):
    """The sandbox inventory with its own backup dir; `deploy_toml_extra` appended to a copy of
    sandbox/deploy.toml that the inventory then names."""
    replace['dir = "/srv/recorder/backups"'] = f'dir = "/srv/recorder/it-{uuid.uuid4().hex[:8]}"'
    if deploy_toml_extra is not None:
        project = tmp_path / "deploy.toml"
        project.write_text((ROOT / "sandbox" / "deploy.toml").read_text() + deploy_toml_extra)
        replace[PROJECT] = f'project = "{project}"'
    return make_inventory(tmp_path / "inv", **replace)


def logged(agent, start):
    """The request lines ("GET /healthz") nginx logged with User-Agent `agent` after `start`."""
    with ACCESS_LOG.open("rb") as f:
        f.seek(start)
        lines = f.read().decode(errors="replace").splitlines()
    return [line.split('"')[1] for line in lines if f'"{agent}"' in line]


def test_health_headers_go_with_every_request_to_the_app(home, sandbox, tmp_path):
    """Whatever the app answers (this test does not reset the sandbox), each task's requests
    reach nginx with the inventory's User-Agent, which replaces curl's own."""
    agent = f"runbook-headers-{uuid.uuid4().hex[:8]}"
    fab = Fab(home, inventory(tmp_path, **{HEALTH: HEALTH + "\nheaders = { User-Agent = "
                                                        f'"{agent}", X-Forwarded-Proto = "https" }}'}))
    health = "GET /healthz HTTP/1.1"
    expected = {   # task -> the first requests it makes to the app
        ("verify.status",): [health],
        ("maintenance.status",): [health, health],   # public, then with the bypass header
        ("verify.smoke",): [health],   # deploy.toml's first check (its own headers merged in)
        ("deploy.consolidate", "--plan"): [health],   # the preflight's health
    }
    for args, want in expected.items():
        before = ACCESS_LOG.stat().st_size
        r = fab("-H", "sandbox", *args)
        got = logged(agent, before)
        assert got[:len(want)] == want, (args, got, r.stdout + r.stderr)
        assert "[Errno" not in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("task", ["deploy.consolidate", "deploy.release"])
def test_a_failed_install_names_the_whole_command_and_the_cause(home, sandbox, tmp_path,
                                                                reset_sandbox, task):
    """pip is pointed at a file v2 adds (so v1 -> v2 reinstalls) that is no requirements file:
    pip refuses it, as it would a broken requirements.txt, and the run stops naming both."""
    bad = "apps/accounts/migrations/0014_final_sync_before_deletion.py"
    fab = Fab(home, inventory(tmp_path, **{'venv = "/srv/recorder/venv"':
                                           f'venv = "/srv/recorder/venv"\nrequirements = "{bad}"'}))
    r = fab("-H", "sandbox", task, "--ref", "v2")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    step = "code update" if task == "deploy.consolidate" else "dependencies"
    assert f"stopped at {step}: installing the dependencies with pip failed (exit 1): " in r.stderr
    # whole, not cut at 120 characters (deploy.release installs in its stage: app.next)
    command = re.search(r"failed \(exit 1\): (cd /srv/recorder/app\S* && .*?); its output", r.stderr)
    assert command and command[1].endswith(
        f"pip install --quiet --disable-pip-version-check -r {bad}"), r.stderr
    assert ("its output ends: ERROR: Invalid requirement: 'from django.db import migrations' "
            f"(from line 4 of {bad})") in r.stderr
    assert "Recover with:" in r.stdout, r.stdout
    if task == "deploy.consolidate":   # the live tree moved before the install: the way back
        way_back = [x for x in r.stdout.splitlines() if "rollback.code" in x]
        assert way_back and "--ref" in way_back[-1], r.stdout


WARNING_TEXT = "API tokens never expire"


@pytest.mark.parametrize("checks, passes", [
    (None, False),
    ('[checks]\nsilence = ["accounts.W001"]\n', True),
    ('[checks]\ndeploy_fail_level = "ERROR"\n', True),
], ids=["default-stops", "silenced", "level-error"])
def test_check_deploy_level_and_silence_from_deploy_toml(home, sandbox, tmp_path, reset_sandbox,
                                                         checks, passes):
    fab = Fab(home, inventory(tmp_path, deploy_toml_extra=checks or ""))
    r = fab("-H", "sandbox", "deploy.release", "--ref", "v2-deploy-warnings")
    out = r.stdout + r.stderr
    if not passes:
        assert r.returncode == 1 and "stopped at check --deploy" in r.stderr, out
        assert "check --deploy --fail-level WARNING failed (exit 1): accounts.W001" in r.stderr
        assert out.count(WARNING_TEXT) == 1, out    # Django's report once, not three times
        return
    assert "] check --deploy ok" in r.stdout, out
    assert "stopped at check --deploy" not in r.stderr
    # silenced: Django leaves it out; below the level: shown once, the release goes on
    assert out.count(WARNING_TEXT) == (0 if "silence" in checks else 1), out
