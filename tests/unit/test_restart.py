"""restart.restart_and_wait: which commands a reload or restart sends, and what it accepts as proof.

Table-driven: the host's state (what the reload command does, what /healthz answers before and
after the restart), the commands expected, and the step's line or failure.
"""
import json

import pytest
from invoke import Result

from runbook.engine.runner import Failed
from runbook.ops import restart
from tests.support.host import FakeHost
from tests.support.sites import make_site

NEW, OLD = "a" * 40, "b" * 40


def body(rev):
    return json.dumps({"status": "ok", "db": True, "revision": rev})


class Host(FakeHost):
    """The fake host answering git, sudo supervisorctl and curl from a scripted state."""

    def __init__(self, site, reload_exit=0, after_reload=(200, OLD), after_restart=(200, NEW)):
        super().__init__(site)
        self.reload_exit = reload_exit
        self.health = (200, OLD)
        self.after_reload, self.after_restart = after_reload, after_restart

    def answer(self, command, stdin):
        if command.startswith("git "):
            return Result(stdout=NEW + "\n", command=command)
        if "supervisorctl signal HUP" in command:
            if self.reload_exit == 0:
                self.health = self.after_reload
            return Result(stdout="" if self.reload_exit == 0 else "recorder: ERROR (not running)",
                          exited=self.reload_exit, command=command)
        if "supervisorctl restart" in command:
            self.health = self.after_restart
            return Result(stdout="recorder: started", command=command)
        if "supervisorctl status" in command:
            return Result(stdout="recorder RUNNING pid 1", command=command)
        if command.startswith("curl "):
            status, rev = self.health
            text = body(rev) if status == 200 else "<html>502</html>"
            return Result(stdout=f"{text}\n@@status {status}", command=command)
        raise AssertionError(f"unexpected command {command}")

    def sent(self):
        """The commands, curl requests folded into one word each."""
        return [("curl" if x.startswith("curl ") else x) for x in self.commands]


@pytest.fixture(autouse=True)
def fast_clock(monkeypatch):
    """Each clock reading is one second later; sleeps return at once."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(restart.time, "monotonic", lambda: float(next(ticks)))
    monkeypatch.setattr(restart.time, "sleep", lambda s: None)


RELOAD = {"manager": "supervisor", "app": "recorder", "restart": "reload"}
RESTART = {"manager": "supervisor", "app": "recorder"}
KEY = {"url": "http://127.0.0.1/healthz", "timeout": 5, "revision_key": "revision"}
NO_KEY = {"url": "http://127.0.0.1/healthz", "timeout": 5}
GIT = "git -C /srv/app rev-parse HEAD"
HUP = "sudo -n supervisorctl signal HUP recorder"
RESTARTS = "sudo -n supervisorctl restart recorder"

CASES = [
    # id, service, health, host state, expected commands (prefix), line or Failed text, said
    ("reload-serves-new", RELOAD, KEY, {"after_reload": (200, NEW)},
     [GIT, HUP, "curl"], "recorder reloaded, serving aaaaaaaaaaaa, health 200 in", None),
    ("reload-short-sha-counts", RELOAD, KEY, {"after_reload": (200, NEW[:7])},
     [GIT, HUP, "curl"], "recorder reloaded, serving aaaaaaaaaaaa", None),
    ("reload-keeps-old-code-then-restart", RELOAD, KEY, {"after_reload": (200, OLD)},
     [GIT, HUP, "curl", "curl"], "recorder restarted, serving aaaaaaaaaaaa",
     "the reload did not bring up aaaaaaaaaaaa (health 200 but it names bbbbbbbbbbbb)"),
    ("reload-refused-then-restart", RELOAD, KEY, {"reload_exit": 1},
     [GIT, HUP, RESTARTS, "curl"], "recorder restarted, serving aaaaaaaaaaaa",
     "the reload command failed: recorder: ERROR (not running)"),
    ("restart-proven", RESTART, KEY, {}, [GIT, RESTARTS, "curl"],
     "recorder restarted, serving aaaaaaaaaaaa, health 200 in", None),
    ("restart-without-key-needs-200-only", RESTART, NO_KEY, {"after_restart": (200, OLD)},
     [RESTARTS, "curl"], "recorder restarted, health 200 in", None),
    ("restart-old-code-fails", RESTART, KEY, {"after_restart": (200, OLD)}, [GIT, RESTARTS, "curl"],
     Failed("the app answers 200 on http://127.0.0.1/healthz after the restart but names revision "
            "bbbbbbbbbbbb, not aaaaaaaaaaaa"), None),
    ("restart-no-answer-fails", RESTART, KEY, {"after_restart": (502, "")}, [GIT, RESTARTS, "curl"],
     Failed("the app did not answer 200 on http://127.0.0.1/healthz after the restart "
            "(last status 502; service RUNNING)"), None),
]


@pytest.mark.parametrize("service, health, state, commands, outcome, said",
                         [x[1:] for x in CASES], ids=[x[0] for x in CASES])
def test_restart_and_wait(tmp_path, service, health, state, commands, outcome, said):
    c = Host(make_site(tmp_path, service=service, health=health), **state)
    lines = []
    if isinstance(outcome, Failed):
        with pytest.raises(Failed) as e:
            restart.restart_and_wait(c, lines.append)
        assert str(outcome) in str(e.value)
    else:
        assert outcome in restart.restart_and_wait(c, lines.append)
    sent = c.sent()
    assert sent[:len(commands)] == commands
    if "reload" not in service.get("restart", "restart"):
        assert HUP not in sent        # restart mode never signals
    if said is None:
        assert lines == [] and (RESTARTS not in sent or service is RESTART)
    else:
        assert len(lines) == 1 and said in lines[0] and "restarting recorder instead" in lines[0]
        assert RESTARTS in sent


@pytest.mark.parametrize("text, key, expected", [
    (body(NEW), "revision", NEW),
    (json.dumps({"app": {"git": {"sha": "abc1234"}}}), "app.git.sha", "abc1234"),
    (json.dumps({"revision": 5}), "revision", ""),
    ("<html>502 Bad Gateway</html>", "revision", ""),
    (json.dumps(["revision"]), "revision", ""),
])
def test_revision_read_from_the_health_body(text, key, expected):
    assert restart.revision(text, key) == expected


@pytest.mark.parametrize("named, expected", [
    (NEW, True), (NEW[:7], True), (NEW[:7].upper(), True), (NEW[:6], False), ("", False), (OLD, False),
])
def test_same_commit_needs_seven_digits(named, expected):
    assert restart.same_commit(named, NEW) is expected


def test_the_deployed_commit_given_is_not_read_again(tmp_path):
    c = Host(make_site(tmp_path, service=RELOAD, health=KEY), after_reload=(200, NEW))
    assert "reloaded, serving aaaaaaaaaaaa" in restart.restart_and_wait(c, commit=NEW)
    assert GIT not in c.sent()


@pytest.mark.parametrize("service, health, expected", [
    (RELOAD, KEY, "sudo -n supervisorctl signal HUP recorder; wait for 200 on "
                  "http://127.0.0.1/healthz naming the commit (revision) "
                  "(else sudo -n supervisorctl restart recorder)"),
    (RESTART, NO_KEY, "sudo -n supervisorctl restart recorder; wait for 200 on http://127.0.0.1/healthz"),
])
def test_the_plan_shows_what_the_restart_step_sends(tmp_path, service, health, expected):
    assert restart.plan_line(Host(make_site(tmp_path, service=service, health=health))) == expected
