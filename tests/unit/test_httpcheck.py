"""health.headers: validated in the inventory, sent with every HTTP request the tool makes.

The requests really go out: curl (run with bash on this machine, as the host would) asks a small
HTTP server on loopback that records the headers it got and, like a Django app with a strict
ALLOWED_HOSTS behind an https proxy, answers 200 only with the right Host and X-Forwarded-Proto.
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runbook.engine.errors import ConfigError
from runbook.host import httpcheck, inventory
from runbook.ops import maintenance, verify
from tests.support.host import FakeHost
from tests.support.sites import MINIMAL

HOST = "ledger.sandbox.test"
HOSTILE = "a \"quoted\" \\ value; $(touch PWNED) `id` 'x'"


def site_with(tmp_path, headers_toml):
    path = tmp_path / "hosts.toml"
    path.write_text(MINIMAL + "\n[hosts.web.health.headers]\n" + headers_toml + "\n")
    return inventory.load(path).site("web")


@pytest.fixture
def app():
    """(base URL, [headers of each request]) of a strict app on 127.0.0.1."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            got = {k.lower(): v for k, v in self.headers.items()}
            seen.append(got)
            ok = got.get("host") == HOST and got.get("x-forwarded-proto") == "https"
            body = json.dumps({"status": "ok"} if ok else {"error": "Bad Request"}).encode()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


STRICT = f'Host = "{HOST}"\nX-Forwarded-Proto = "https"'


def test_request_sends_the_hosts_headers_and_a_checks_own_win(tmp_path, app):
    base, seen = app
    c = FakeHost(site_with(tmp_path, STRICT + f"\nX-Note = {json.dumps(HOSTILE)}"), execute=True)
    assert httpcheck.request(c, base + "/health/") == (200, '{"status": "ok"}')
    assert seen[-1]["x-note"] == HOSTILE     # quoted for curl's config, arrived intact
    assert not (tmp_path / "PWNED").exists()
    # no header value travels in the command line: only on stdin
    assert HOST not in c.commands[-1] and HOST in c.stdins[-1]
    # a smoke check's own headers are merged over them, names compared case-insensitively
    status, _ = httpcheck.request(c, base + "/health/", headers={"host": "other.test"})
    assert status == 400 and seen[-1]["host"] == "other.test"
    assert seen[-1]["x-forwarded-proto"] == "https"


def test_without_the_headers_the_strict_app_refuses(tmp_path, app):
    """The server's check is real: what the tool sends decides the status."""
    base, _seen = app
    path = tmp_path / "hosts.toml"
    path.write_text(MINIMAL)
    c = FakeHost(inventory.load(path).site("web"), execute=True)
    assert httpcheck.request(c, base + "/health/")[0] == 400
    assert httpcheck.curl(c, base + "/x", "-s") == f"curl -s {base}/x"


def test_curl_fragment_pipes_the_headers_as_a_config(tmp_path, app):
    base, seen = app
    c = FakeHost(site_with(tmp_path, STRICT + f"\nX-Note = {json.dumps(HOSTILE)}"), execute=True,
                 cwd=tmp_path)
    frag = httpcheck.curl(c, base + "/health/", "-s -o /dev/null -w '%{http_code}'",
                          {"X-Extra": "1"})
    assert HOST not in frag.split("| curl", 1)[1]   # curl's own arguments hold no header
    assert c.run(frag).stdout == "200"
    assert seen[-1]["x-note"] == HOSTILE and seen[-1]["x-extra"] == "1"
    assert not (tmp_path / "PWNED").exists()


def test_maintenance_probe_sends_them_with_and_without_the_bypass(tmp_path, app):
    base, seen = app
    c = FakeHost(_with_url_and_bypass(tmp_path, base), execute=True, cwd=tmp_path)
    public, page, bypass = maintenance.probe(c)[:3]
    assert (public, page, bypass) == (200, False, 200)
    assert {r["host"] for r in seen} == {HOST} and len(seen) >= 2
    assert "x-maintenance-bypass" not in seen[0] and seen[1]["x-maintenance-bypass"] == "bypass-123"
    assert "bypass-123" not in c.commands[-1]   # the bypass secret travels on stdin


def test_verify_status_asks_health_with_them(tmp_path, app):
    base, seen = app
    c = FakeHost(_with_url_and_bypass(tmp_path, base), execute=True, cwd=tmp_path)
    assert verify.facts(c)["health"] == "200"      # the whole status script, run by bash here
    assert seen[-1]["host"] == HOST
    assert HOST not in c.commands[-1]               # the headers travel on stdin, not in argv


def _with_url_and_bypass(tmp_path, base):
    text = (MINIMAL.replace('url = "http://127.0.0.1/healthz"', f'url = "{base}/health/"')
            .replace('page = "/srv/m/page.html"',
                     'page = "/srv/m/page.html"\nbypass_secret_env = "BYPASS"'))
    path = tmp_path / "hosts.toml"
    path.write_text(text + "\n[hosts.web.health.headers]\n" + STRICT + "\n")
    (tmp_path / ".env").write_text("BYPASS=bypass-123\n")
    return inventory.load(path).site("web")


@pytest.mark.parametrize("headers_toml, key, problem", [
    ('"Bad Name" = "x"', "health.headers.Bad Name", "is not an HTTP header name"),
    ("X-Port = 8080", "health.headers.X-Port", "expected a one-line string"),
    ('X-Two = "a\\nb"', "health.headers.X-Two", "expected a one-line string"),
])
def test_bad_headers_are_one_line(tmp_path, headers_toml, key, problem):
    with pytest.raises(ConfigError) as e:
        site_with(tmp_path, headers_toml)
    msg = e.value.text
    assert "\n" not in msg and key in msg and problem in msg and "headers = {" in msg


def test_headers_must_be_a_table(tmp_path):
    path = tmp_path / "hosts.toml"
    path.write_text(MINIMAL.replace('url = "http://127.0.0.1/healthz"',
                                    'url = "http://127.0.0.1/healthz"\nheaders = "Host: x"'))
    with pytest.raises(ConfigError) as e:
        inventory.load(path)
    assert "health.headers: expected a table of header names to strings" in e.value.text


def test_defaults_headers_merge_under_a_hosts_own(tmp_path):
    path = tmp_path / "hosts.toml"
    path.write_text('[defaults.health.headers]\nX-Forwarded-Proto = "https"\nHost = "a.test"\n'
                    + MINIMAL + '\n[hosts.web.health.headers]\nHost = "b.test"\n')
    site = inventory.load(path).site("web")
    assert site.health.headers == {"X-Forwarded-Proto": "https", "Host": "b.test"}
