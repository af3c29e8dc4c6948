"""Dependency installs: each installer's command run for real by bash against fake tools that
record their arguments and environment; a failed install names its whole command and its cause.
"""
import json

import pytest

from runbook.engine.runner import Failed
from runbook.ops import code_update
from tests.support.host import FakeHost
from tests.support.sites import make_site

FAKE = """#!/bin/sh
python3 - "$0" "$@" <<'EOF' >> "$FAKE_LOG"
import json, os, sys
print(json.dumps({"argv": [os.path.basename(sys.argv[1])] + sys.argv[2:], "cwd": os.getcwd(),
                  "venv": os.environ.get("VIRTUAL_ENV"),
                  "uv_env": os.environ.get("UV_PROJECT_ENVIRONMENT")}))
EOF
if [ -n "$FAKE_FAIL" ]; then
  i=0; while [ $i -lt 20 ]; do echo "progress line $i"; i=$((i + 1)); done
  printf '%s\\n' "$FAKE_FAIL" >&2
  exit 3
fi
"""


@pytest.fixture
def host(tmp_path, monkeypatch):
    """(make(installer) -> FakeHost, calls()): an app dir with a space, a fake venv Python (for
    `python -m pip`), poetry and uv."""
    app_dir = tmp_path / "app dir"
    venv = tmp_path / "my venv"
    tools = tmp_path / "tools"
    for d in (app_dir, venv / "bin", tools):
        d.mkdir(parents=True)
    for path in (venv / "bin" / "python", tools / "poetry", tools / "uv"):
        path.write_text(FAKE)
        path.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_LOG", str(log))

    def make(installer):
        site = make_site(tmp_path, app={"dir": str(app_dir), "venv": str(venv),
                                        "installer": installer, "requirements": "req s.txt"})
        return FakeHost(site, execute=True)

    def calls():
        return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return make, calls, app_dir, venv


@pytest.mark.parametrize("installer, files, argv, env", [
    ("pip", ["req s.txt"],
     ["python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
      "req s.txt"], {}),
    ("poetry", ["pyproject.toml", "poetry.lock"],
     ["poetry", "install", "--no-interaction", "--no-root", "--only", "main"], {"venv": "VENV"}),
    ("uv", ["pyproject.toml", "uv.lock"],
     ["uv", "sync", "--frozen", "--no-dev", "--no-install-project", "--inexact", "--python",
      "VENV/bin/python", "--no-python-downloads", "--no-progress"], {"uv_env": "VENV"}),
])
def test_each_installer_runs_in_the_app_dir_into_its_venv(host, installer, files, argv, env):
    make, calls, app_dir, venv = host
    c = make(installer)
    assert code_update.dependency_files(c) == files
    code_update.install_requirements(c)
    [call] = calls()
    assert call["argv"] == [a.replace("VENV", str(venv)) for a in argv]
    assert call["cwd"] == str(app_dir)
    for key in ("venv", "uv_env"):
        assert call[key] == (str(venv) if key in env else None)


def test_a_failed_install_names_the_whole_command_and_the_end_of_its_output(host, monkeypatch):
    make, _calls, _app_dir, _venv = host
    monkeypatch.setenv("FAKE_FAIL", "error: Failed to download `six==9.9.9`\n"
                                    "  cause: HTTP status client error (404 Not Found)")
    c = make("uv")
    with pytest.raises(Failed) as e:
        code_update.install_requirements(c)
    msg = e.value.reason
    assert "\n" not in msg
    assert code_update.install_command(c) in msg   # whole, never cut
    assert msg.startswith("installing the dependencies with uv failed (exit 3): cd ")
    assert msg.endswith("progress line 16 / progress line 17 / progress line 18 / progress line "
                        "19 / error: Failed to download `six==9.9.9` / cause: HTTP status client "
                        "error (404 Not Found)")
    assert "progress line 15" not in msg


class Masking(FakeHost):
    def mask(self, text):
        return text.replace("hunter2", "*****")


def test_the_failure_message_is_masked(tmp_path):
    from invoke import Result
    c = Masking(make_site(tmp_path, app={"installer": "pip"}))
    r = Result(stdout="", stderr="ERROR: 401 from https://u:hunter2@pypi.example/simple\n",
               exited=1)
    msg = code_update.install_failure(c, "pip install -r requirements.txt", r).reason
    assert "hunter2" not in msg and "https://u:*****@pypi.example/simple" in msg
    quiet = code_update.install_failure(c, "pip install", Result(exited=1)).reason
    assert quiet.endswith("(exit 1): pip install; it printed nothing")


POETRY_BAD_CANDIDATE = """Installing dependencies from lock file

Package operations: 1 install, 1 update, 0 removals

  - Updating gunicorn (23.0.0 -> 99.0.0): Failed

Unable to find installation candidates for gunicorn (99.0.0)

This is likely not a Poetry issue.

  - 23 candidate(s) were identified for the package

Solutions:
Make sure the lockfile is up-to-date. You can try one of the following;

    1. Regenerate the lockfile: poetry lock --no-cache --regenerate
    2. Update the package : poetry update --no-cache gunicorn
"""


def test_a_cause_before_the_installers_advice_is_named(tmp_path):
    from invoke import Result
    c = Masking(make_site(tmp_path, app={"installer": "poetry"}))
    msg = code_update.install_failure(c, "poetry install", Result(stdout=POETRY_BAD_CANDIDATE,
                                                                  exited=1)).reason
    assert "; the cause: - Updating gunicorn (23.0.0 -> 99.0.0): Failed / Unable to find " \
           "installation candidates for gunicorn (99.0.0);" in msg
    assert msg.endswith("2. Update the package : poetry update --no-cache gunicorn")
    # when the cause is in the tail anyway, it is not said twice
    short = code_update.install_failure(c, "pip install", Result(
        stderr="Collecting x\nERROR: No matching distribution found for x\n", exited=1)).reason
    assert "the cause" not in short and short.count("No matching distribution") == 1
