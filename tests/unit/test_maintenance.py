"""maintenance on/off/install: what each sends for a given host state, and the noop reasons.

The file commands really run with bash on this machine, against a temp dir standing in for the
host; only `sudo -n nginx ...` is answered by the test (passes, or fails as the case says).
"""
import shlex

import pytest
from invoke import Result

from runbook.engine.errors import DeployError
from runbook.ops import maintenance
from tests.support.host import FakeHost
from tests.support.sites import make_site

SECRET = "bypass-0123456789"


class Host(FakeHost):
    """Runs file commands for real; `sudo -n nginx -t` passes unless nginx_ok is False; the
    host's poll of its public URL ends with `public` (what nginx answers after the reload)."""

    def __init__(self, site, nginx_ok=True, public="503", **kwargs):
        super().__init__(site, execute=True, **kwargs)
        self.nginx_ok = nginx_ok
        self.public = public

    def answer(self, command, stdin):
        if command.startswith("for i in $(seq"):
            return Result(stdout=self.public + "\n", exited=0, command=command)
        if command.startswith("sudo -n nginx"):
            ok = self.nginx_ok or "-t" not in command
            return Result(stdout="", stderr="" if ok else "nginx: [emerg] bad snippet",
                          exited=0 if ok else 1, command=command)
        return super().answer(command, stdin)


def setup(tmp_path, snippet=None, page=None, flag=False, nginx_ok=True, public="503"):
    """A host whose snippet/page are "current", "old" or None (missing), and the flag."""
    d = tmp_path / "host"
    d.mkdir()
    site = make_site(tmp_path, env=f"BYPASS={SECRET}\n", nginx={"reload": "signal"}, maintenance={
        "snippet": str(d / "m.conf"), "page": str(d / "www" / "m.html"), "flag": str(d / "m.on"),
        "bypass_secret_env": "BYPASS"})
    c = Host(site, nginx_ok=nginx_ok, public=public, cwd=d)
    texts = {"current": None, "old": "old text\n"}
    if snippet:
        (d / "m.conf").write_text(texts[snippet] or maintenance.snippet(c))
    if page:
        (d / "www").mkdir()
        (d / "www" / "m.html").write_text(texts[page] or maintenance.PAGE)
    if flag:
        (d / "m.on").write_text("")
    return c, d


def kinds(c):
    """Each command sent, as a word: the facts script, a write, nginx, a flag change..."""
    out = []
    for cmd, stdin in zip(c.commands, c.stdins, strict=True):
        if cmd.endswith("bash -s"):      # a script on stdin, its values as env before it
            out.append("facts" if "sha256sum" in (stdin or "") else "script")
        elif cmd.startswith("sudo -n nginx -t"):
            out.append("nginx -t")
        elif cmd.startswith("sudo -n nginx"):
            out.append("nginx reload")
        elif "mktemp" in cmd and "cat >" in cmd:
            out.append("write")
        elif "mktemp" in cmd:
            out.append("flag on")
        elif cmd.startswith("for i in $(seq") and "curl" in cmd:
            out.append("wait 503")
        else:
            out.append(cmd.split()[0])
    return out


ON_CASES = [
    # id, host state, expected (install note, on note), commands sent
    ("installed-off", {"snippet": "current", "page": "current"},
     ("nothing to do: snippet and page already installed", "maintenance ON"), ["facts", "flag on"]),
    ("installed-on", {"snippet": "current", "page": "current", "flag": True},
     ("nothing to do: snippet and page already installed", "nothing to do: maintenance is already ON"),
     ["facts"]),
    ("fresh-host", {},
     ("snippet written to {d}/m.conf, nginx -t passed, nginx reloaded", "maintenance ON"),
     ["facts", "mkdir", "write", "write", "nginx -t", "nginx reload", "flag on"]),
    ("page-changed", {"snippet": "current", "page": "old"},
     ("page updated; snippet already installed", "maintenance ON"),
     ["facts", "mkdir", "write", "flag on"]),
    ("snippet-changed", {"snippet": "old", "page": "current"},
     ("snippet written to {d}/m.conf, nginx -t passed, nginx reloaded", "maintenance ON"),
     ["facts", "cat", "write", "nginx -t", "nginx reload", "flag on"]),
]


@pytest.mark.parametrize("state, notes, sent", [x[1:] for x in ON_CASES], ids=[x[0] for x in ON_CASES])
def test_on_with_install(tmp_path, state, notes, sent):
    c, d = setup(tmp_path, **state)
    got = maintenance.on_with_install(c)
    assert got == (notes[0].format(d=d), notes[1])
    assert kinds(c) == sent
    # after a reload, and only then, the host polls its public URL until nginx answers 503
    maintenance.wait_served(c, got[0])
    assert kinds(c)[len(sent):] == (["wait 503"] if "nginx reload" in sent else [])
    assert (d / "m.on").exists()
    assert (d / "m.conf").read_text() == maintenance.snippet(c)
    assert (d / "www" / "m.html").read_text() == maintenance.PAGE
    assert SECRET not in "".join(c.commands)       # the secret travels on stdin only


def test_a_reload_nginx_never_puts_into_effect_fails_naming_what_the_public_gets(tmp_path):
    c, d = setup(tmp_path, public="200")
    note, _ = maintenance.on_with_install(c)
    with pytest.raises(DeployError) as e:
        maintenance.wait_served(c, note)
    assert "maintenance is ON" in e.value.text and "the public still gets 200" in e.value.text
    assert "maintenance.status" in e.value.text and (d / "m.on").exists()
    poll = c.commands[-1]
    assert "seq 200" in poll and "sleep 0.05" in poll   # every 50 ms for 10 s
    assert f" {shlex.quote(maintenance.public_url(c))});" in poll


def test_a_snippet_nginx_refuses_is_restored_and_maintenance_stays_off(tmp_path):
    c, d = setup(tmp_path, snippet="old", page="current", nginx_ok=False)
    with pytest.raises(DeployError) as e:
        maintenance.on_with_install(c)
    assert "nginx -t failed" in e.value.text and "restored" in e.value.text
    assert (d / "m.conf").read_text() == "old text\n"
    assert "nginx reload" not in kinds(c) and not (d / "m.on").exists()


def test_on_without_the_snippet_says_install_first(tmp_path):
    c, d = setup(tmp_path, page="current")
    with pytest.raises(DeployError) as e:
        maintenance.turn_on(c)
    assert "install it first: fab -H web maintenance.install --hosts-file " in e.value.text
    assert not (d / "m.on").exists()


@pytest.mark.parametrize("flag, note", [(True, "maintenance OFF"),
                                        (False, "nothing to do: maintenance is already OFF")])
def test_off_is_one_round_trip(tmp_path, flag, note):
    c, d = setup(tmp_path, snippet="current", page="current", flag=flag)
    assert maintenance.turn_off(c) == note
    assert len(c.commands) == 1 and not (d / "m.on").exists()


def test_facts_of_a_host_with_nothing(tmp_path):
    c, _d = setup(tmp_path)
    assert maintenance.facts(c) == maintenance.Facts("", "", False)
