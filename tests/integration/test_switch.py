"""The switch (issue 17): the new code boots in the app's twin beside it, nginx is switched to it,
and the app restarts while no request reaches it. On the ledger app (preload_app, a health URL
that names no commit), whose inventory has [switch].

Proven by processes and by the public, not by the app's cooperation: supervisor's pids (the old
master gone, a new one serving), nginx's upstream file, the twin stopped at rest; and what a client
hammering the site through nginx saw during the task.
"""
import json
import os
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.support.ledger import git, ledger_fab, tag
from tests.support.probe import Probe
from tests.support.sandbox import warm_processes

SITE = "http://127.0.1.1:8080"
HEADERS = {"Host": "ledger.sandbox.test", "X-Forwarded-Proto": "https"}
UPSTREAM = "/etc/nginx/deploy.d/ledger-upstream.conf"


@pytest.fixture
def lfab(home, sandbox, tmp_path, reset_sandbox):
    return ledger_fab(home, tmp_path, release=True)


def pid(name):
    out = subprocess.run(["supervisorctl", "pid", name], capture_output=True, text=True).stdout
    return int(out) if out.strip().isdigit() else 0


def alive(p):
    return os.path.exists(f"/proc/{p}")


def state(name):
    out = subprocess.run(["supervisorctl", "status", name], capture_output=True, text=True).stdout
    return out.split()[1]


def upstream():
    return re.findall(r"^server (\S+);", open(UPSTREAM).read(), re.M)


def at_rest(before):
    """The app serves from a new master (the one of `before` is gone), the twin is stopped and
    nginx sends to the app's own address."""
    now = pid("ledger")
    assert now and now != before and not alive(before)
    assert state("ledger") == "RUNNING" and state("ledger-twin") == "STOPPED"
    assert upstream() == ["127.0.1.1:8001"]


def patch_nickname(secrets, value):
    """(status, body) of the API's PATCH of `nickname`: v1 refuses the field (400), v1.1 has it."""
    def call(path, method, body, headers):
        req = urllib.request.Request(SITE + path, data=json.dumps(body).encode(), method=method,
                                     headers={**HEADERS, **headers,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
    _s, body = call("/api/token/", "POST", {"email": "api@example.test",
                                            "password": secrets["SANDBOX_LEDGER_API_PASSWORD"]}, {})
    login = json.loads(body)
    return call(f"/api/profile/{login['profile_id']}/", "PATCH", {"nickname": value},
                {"Authorization": f"Bearer {login['token']}"})


def test_a_release_with_only_additive_migrations_fails_no_request(lfab, secrets):
    before = pid("ledger")
    assert patch_nickname(secrets, "x")[0] == 400            # v1 has no such field
    with Probe(f"{SITE}/health/", HEADERS) as probe:
        r = lfab("-H", "sandbox-ledger", "deploy.release", "--ref", "v1.1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"maintenance\.on ok \S+ - not needed: 1 pending migration", r.stdout), r.stdout
    assert len(probe.samples) > 100 and probe.failed() == [], probe.statuses()
    at_rest(before)
    assert git("rev-parse", "HEAD") == tag("v1.1")
    status, body = patch_nickname(secrets, "nick")           # the new code serves
    assert (status, json.loads(body).get("nickname")) == (200, "nick"), body

    # rollback.code goes back by the same switch: no failed request either
    before = pid("ledger")
    with Probe(f"{SITE}/health/", HEADERS) as probe:
        r = lfab("-H", "sandbox-ledger", "rollback.code", "--ref", "v1", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ledger-twin booted" in r.stdout
    assert len(probe.samples) > 50 and probe.failed() == [], probe.statuses()
    at_rest(before)
    assert patch_nickname(secrets, "y")[0] == 400            # v1 again


def test_a_destructive_deploy_boots_before_the_window_and_switches_in_it(lfab):
    before = pid("ledger")
    with Probe(f"{SITE}/health/", HEADERS) as probe:
        r = lfab("-H", "sandbox-ledger", "deploy.consolidate", "--ref", "v2", "--allow-unguarded")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()

    def step(name):
        return next(i for i, x in enumerate(lines) if re.match(rf"\[\d+/\d+\] {name} ok", x))
    assert step("boot") < step("maintenance.on") < step("migrate.run") < step("restart") \
        < step("maintenance.off") < step("settle")
    assert "ledger-twin booted" in lines[step("boot")]
    assert "nginx sends to ledger-twin" in lines[step("restart")]    # in the window: the switch
    assert "ledger restarted without traffic" in lines[step("settle")]
    assert "in Django processes started before the window" in lines[step("migrate.run")]
    assert warm_processes() == []          # both stages' processes ran and ended
    # the public got the app or the maintenance page, never an error; the 503s are one window
    assert set(probe.statuses()) <= {200, 503} and probe.statuses().get(503), probe.statuses()
    seen = [s for _t, s in sorted(probe.samples)]
    first, last = seen.index(503), len(seen) - 1 - seen[::-1].index(503)
    assert set(seen[first:last + 1]) == {503}
    at_rest(before)


def test_an_upstream_naming_neither_copy_is_refused_before_any_change(lfab):
    before, text = pid("ledger"), open(UPSTREAM).read()
    head = git("rev-parse", "HEAD")
    try:
        with open(UPSTREAM, "w") as f:
            f.write("server 127.0.1.1:8009;\n")
        r = lfab("-H", "sandbox-ledger", "deploy.release", "--ref", "v1.1")
    finally:
        with open(UPSTREAM, "w") as f:
            f.write(text)
    assert r.returncode != 0
    assert "names 127.0.1.1:8009, not the app's address 127.0.1.1:8001 nor the twin's " \
           "127.0.1.1:8002" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert git("rev-parse", "HEAD") == head and pid("ledger") == before
    assert state("ledger-twin") == "STOPPED"
