"""deploy.release's `check --deploy`: level and silenced ids from deploy.toml [checks], Django's
report shown once, the failure naming only the ids."""
import shlex
from types import SimpleNamespace

import pytest
from invoke import Result

from runbook.engine.errors import ConfigError
from runbook.engine.runner import Failed
from runbook.host import project
from runbook.runbooks import release
from tests.support.host import FakeHost
from tests.support.sites import make_site

REPORT = """System check identified some issues:

WARNINGS:
?: (accounts.W001) API_TOKEN_TTL is 0: API tokens never expire
\tHINT: set API_TOKEN_TTL (seconds) in the environment
?: (security.W004) You have not set a value for the SECURE_HSTS_SECONDS setting.

System check identified 2 issues (0 silenced).
"""


class Django(FakeHost):
    """`manage.py shell` answering with Django's report and an exit code."""

    def __init__(self, site, exited, stderr=REPORT):
        super().__init__(site)
        self.exited, self.stderr = exited, stderr

    def answer(self, command, stdin):
        return Result(stdout="", stderr=self.stderr, exited=self.exited, command=command)


def setup(tmp_path, toml, exited, stderr=REPORT):
    path = tmp_path / "deploy.toml"
    path.write_text(toml)
    site = make_site(tmp_path)
    site.inventory._project = project.load(path)
    said = []
    return Django(site, exited, stderr), SimpleNamespace(say=said.append), said


def test_default_level_fails_naming_the_ids_and_shows_the_report_once(tmp_path):
    c, run, said = setup(tmp_path, "", exited=1)
    with pytest.raises(Failed) as e:
        release.step_check_deploy(c, run)
    reason = e.value.reason
    assert reason.startswith("check --deploy --fail-level WARNING failed (exit 1): "
                             "accounts.W001, security.W004; ")
    assert "[checks] silence" in reason and str(tmp_path / "deploy.toml") in reason
    text = "\n".join(said) + "\n" + reason
    assert text.count("API tokens never expire") == 1    # once, not three times
    assert c.commands[-1].endswith("manage.py shell")
    words = shlex.split(c.commands[-1])     # the level and silenced ids: the script's env
    assert "RB_CHECK_LEVEL=WARNING" in words and "RB_CHECK_SILENCE=[]" in words
    compile(c.stdins[-1], "check", "exec")   # the code Django's shell runs is valid Python


def test_silenced_ids_and_level_reach_django_and_a_pass_lists_what_was_below(tmp_path):
    toml = '[checks]\ndeploy_fail_level = "ERROR"\nsilence = ["security.W004", "admin.E108"]\n'
    c, run, said = setup(tmp_path, toml, exited=0,
                         stderr=REPORT.replace("?: (security.W004) You have not set a value for "
                                               "the SECURE_HSTS_SECONDS setting.\n", ""))
    note = release.step_check_deploy(c, run)
    assert note == ("check --deploy --fail-level ERROR, silenced security.W004, admin.E108: ok "
                    "(accounts.W001 below ERROR)")
    assert sum("API tokens never expire" in x for x in said) == 1
    words = shlex.split(c.commands[-1])
    assert 'RB_CHECK_SILENCE=["security.W004", "admin.E108"]' in words
    assert "RB_CHECK_LEVEL=ERROR" in words


def test_a_clean_pass_prints_nothing(tmp_path):
    c, run, said = setup(tmp_path, "", exited=0,
                         stderr="System check identified no issues (0 silenced).\n")
    assert release.step_check_deploy(c, run) == "check --deploy --fail-level WARNING: ok"
    assert said == []


@pytest.mark.parametrize("toml, key, fix", [
    ('[checks]\ndeploy_fail_level = "WARN"\n', "checks.deploy_fail_level: 'WARN' is not a Django "
     "check level", "CRITICAL, ERROR, WARNING, INFO, DEBUG"),
    ('[checks]\nsilence = "security.W004"\n', "checks.silence: 'security.W004' is not a list of "
     "check ids", 'silence = ["security.W004"]'),
    ('[checks]\nsilence = ["W004"]\n', "checks.silence", 'silence = ["security.W004"]'),
    ('[checks]\nfail_level = "ERROR"\n', "checks.fail_level: unknown key",
     "deploy_fail_level, silence"),
])
def test_bad_checks_table_is_one_line(tmp_path, toml, key, fix):
    path = tmp_path / "deploy.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as e:
        project.load(path)
    assert "\n" not in e.value.text and key in e.value.text and fix in e.value.text


def test_defaults(tmp_path):
    path = tmp_path / "deploy.toml"
    path.write_text("")
    p = project.load(path)
    assert (p.check_fail_level, p.check_silence) == ("WARNING", [])
