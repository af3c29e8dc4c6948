"""Webhook notifications against the sandbox: a loopback receiver gets start/failure/success;
a dead receiver never fails the deploy and is reported once."""
import http.server
import json
import threading

import pytest


class Receiver(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        Receiver.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.got = []
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/T000/SECRETPART"
    server.shutdown()


def test_start_failure_and_success_reach_the_receiver(sfab, receiver):
    env = {"DEPLOY_WEBHOOK_URL": receiver}
    bad = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", "--ref", "v9-nowhere", env=env)
    assert bad.returncode == 1
    assert [p["event"] for p in Receiver.got] == ["start", "failure"]
    fail = Receiver.got[1]
    assert fail["step"] == "preflight" and "v9-nowhere" in fail["reason"]
    assert fail["text"].startswith(":x: deploy.consolidate failure on sandbox (run ")

    ok = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert [p["event"] for p in Receiver.got] == ["start", "failure", "start", "success"]
    success = Receiver.got[3]
    assert success["backup"] in ok.stdout and success["downtime"].endswith("s")
    assert success["run"] in ok.stdout
    for r in (bad, ok):   # the URL (its token) is a secret: never printed
        assert "SECRETPART" not in r.stdout + r.stderr


def test_a_dead_receiver_never_fails_the_deploy(sfab):
    env = {"DEPLOY_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
    r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("notification to DEPLOY_WEBHOOK_URL failed") == 1
    assert "verify.logs ok" in r.stdout
