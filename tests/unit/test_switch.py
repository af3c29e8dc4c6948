"""The switch's parts that need no host: its settings, the upstream file's parsing, the slot's
health URL, the plan lines, which migrations the old code may serve through, what a smoke
capture masks. The switch itself runs against the sandbox: tests/integration/test_switch.py."""
import pytest

from runbook.django import compat
from runbook.engine.errors import ConfigError
from runbook.engine.runner import Failed
from runbook.ops import switch
from runbook.ops.verify_steps import maskable
from tests.support.host import FakeHost
from tests.support.sites import make_site

SWITCH = {"twin": "gunicorn-twin", "app_address": "127.0.0.1:8001",
          "twin_address": "127.0.0.1:8002", "upstream": "/etc/nginx/deploy.d/app-upstream.conf"}


def site_with(tmp_path, **over):
    return make_site(tmp_path, service={"manager": "supervisor"},
                     switch={**SWITCH, **over}, **({"health": {"url": "https://app.example/up?x=1"}}))


@pytest.mark.parametrize("over, key, fix", [
    ({"upstream": None}, "hosts.web.switch.upstream: missing", "add upstream"),
    ({"twin": None}, "hosts.web.switch.twin: missing", "or remove [hosts.web.switch]"),
    ({"app_address": "8001"}, "hosts.web.switch.app_address: '8001' is not host:port",
     '"127.0.0.1:8001"'),
    ({"twin_address": "127.0.0.1:8001"}, "hosts.web.switch: the twin must be another program",
     "own name and port"),
    ({"twin": "gunicorn"}, "hosts.web.switch: the twin must be another program", "own name"),
    ({"upstream": "deploy.d/up.conf"}, "upstream: 'deploy.d/up.conf' is not an absolute path",
     "full path"),
])
def test_bad_switch_settings_are_one_line(tmp_path, over, key, fix):
    with pytest.raises(ConfigError) as e:
        make_site(tmp_path, switch={**SWITCH, **over})
    assert key in e.value.text and fix in e.value.text and "\n" not in e.value.text


def test_compose_cannot_switch(tmp_path):
    with pytest.raises(ConfigError, match="not under compose"):
        make_site(tmp_path, service={"manager": "compose"}, switch=SWITCH)


def test_no_switch_is_a_restart_in_place(tmp_path):
    assert not switch.enabled(FakeHost(make_site(tmp_path)))


class Upstream(FakeHost):
    def __init__(self, site, text):
        super().__init__(site)
        self.text = text

    def answer(self, command, stdin):
        from invoke.runners import Result
        if command.startswith("cat "):
            return Result(stdout=self.text, exited=0 if self.text is not None else 1)
        return super().answer(command, stdin)


@pytest.mark.parametrize("text, serving", [
    ("# written by fab\nserver 127.0.0.1:8001;\n", "gunicorn"),
    ("server 127.0.0.1:8002 max_fails=0;\n", "gunicorn-twin"),
    ("  server   127.0.0.1:8002;", "gunicorn-twin"),
])
def test_the_upstream_file_names_the_serving_copy(tmp_path, text, serving):
    c = Upstream(site_with(tmp_path), text)
    assert switch.serving(c).name == serving
    assert switch.idle(c).name == ({"gunicorn", "gunicorn-twin"} - {serving}).pop()


@pytest.mark.parametrize("text, named", [
    ("server 127.0.0.1:8009;\n", "127.0.0.1:8009"),
    ("server 127.0.0.1:8001;\nserver 127.0.0.1:8002;\n", "127.0.0.1:8001, 127.0.0.1:8002"),
    ("", "no server"),
    (None, "no server"),
])
def test_an_upstream_naming_neither_copy_stops_with_the_fix(tmp_path, text, named):
    with pytest.raises(Failed) as e:
        switch.serving(Upstream(site_with(tmp_path), text))
    assert f"names {named}, not the app's address 127.0.0.1:8001" in str(e.value)
    assert 'hold the one line "server 127.0.0.1:8001;"' in e.value.recovery


def test_a_copy_is_asked_on_its_own_address_with_the_sites_host(tmp_path):
    c = FakeHost(site_with(tmp_path))
    app, twin = switch.slots(c)
    assert switch.url(c, twin) == "http://127.0.0.1:8002/up?x=1"
    assert switch.headers(c) == {"Host": "app.example"}   # as nginx would have passed it


def test_plan_lines_name_what_each_phase_sends(tmp_path):
    c = FakeHost(site_with(tmp_path))
    assert switch.plan_lines(c, "boot")[0] == ("sudo -n supervisorctl stop gunicorn-twin; "
                                               "sudo -n supervisorctl start gunicorn-twin")
    sw = switch.plan_lines(c, "switch")
    assert sw[0] == "GET http://127.0.0.1:8002/up?x=1 until 200"
    assert "app-upstream.conf <- server 127.0.0.1:8002;" in sw[1] and "nginx -t" in sw[1]
    settle = switch.plan_lines(c, "settle")
    assert settle[0] == "sudo -n supervisorctl stop gunicorn; sudo -n supervisorctl start gunicorn"
    assert settle[-1] == "sudo -n supervisorctl stop gunicorn-twin"
    assert switch.plan_lines(c, "restart") == [*switch.plan_lines(c, "boot"), *sw, *settle]


def op(name, **kw):
    return {"op": name, "describe": f"{name} x", **kw}


@pytest.mark.parametrize("ops, backwards, unsafe", [
    ([], False, 0),
    ([op("CreateModel"), op("AddField", null=True)], False, 0),
    ([op("AddIndex"), op("RemoveIndex")], False, 0),   # its lock is migrate.lint's to judge
    ([op("RenameField")], False, 1),                   # the old code names the old column
    ([op("AddField", null=False)], False, 1),          # NOT NULL: old INSERTs fail
    ([op("AddField")], False, 1),                      # unknown nullability: not safe
    ([op("RunPython")], False, 1),                     # old code writes while data moves
    ([op("AlterField"), op("RemoveField")], False, 2),
    ([op("CreateModel")], True, 1),                    # backwards: drops a table
])
def test_what_the_old_code_cannot_serve_through(ops, backwards, unsafe):
    entries = [{"migration": "people.0002_x", "backwards": backwards, "ops": ops}]
    got = compat.old_code_unsafe(entries)
    assert len(got) == unsafe
    assert all(x.startswith("people.0002_x: ") for x in got)


@pytest.mark.parametrize("value, masked", [
    ("3f9a0c1e5b7d2a4c", True), ("1", False), (1, False), ("short", False), (None, False)])
def test_only_a_token_like_capture_is_masked(value, masked):
    assert maskable(value) is masked
