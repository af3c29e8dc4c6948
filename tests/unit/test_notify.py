"""Webhook notifications: payloads, a real loopback receiver, and a dead one never raising."""
import http.server
import json
import threading
from types import SimpleNamespace

import pytest

from runbook.engine import notify


class Receiver(http.server.BaseHTTPRequestHandler):
    got, status = [], 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.got.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.got, Receiver.status = [], 200
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def site(url=None):
    return SimpleNamespace(inventory=SimpleNamespace(dotenv={notify.ENV: url} if url else {}),
                           secrets={})


RUN = SimpleNamespace(task="deploy.consolidate", run_id="20261121-074618-5ec9",
                      fleet=SimpleNamespace(name="prod"))


def test_no_url_sends_nothing_and_says_nothing(monkeypatch):
    monkeypatch.delenv(notify.ENV, raising=False)
    said = []
    assert notify.Notifier(site()).send("start", RUN, said.append) is False
    assert said == []


@pytest.mark.parametrize("event, fields, text", [
    ("start", {"user": "ann@laptop"}, ":rocket: deploy.consolidate start on prod"),
    ("success", {"downtime": "12.6s", "backup": "B"}, "downtime: 12.6s"),
    ("failure", {"step": "migrate.run", "reason": "boom"}, "step: migrate.run\nreason: boom"),
])
def test_payload_is_slack_compatible_json(receiver, monkeypatch, event, fields, text):
    monkeypatch.delenv(notify.ENV, raising=False)
    s = site(receiver)
    n = notify.Notifier(s)
    assert n.send(event, RUN, print, **fields) is True
    ctype, body = Receiver.got[-1]
    assert ctype == "application/json" and text in body["text"]
    assert body["event"] == event and body["run"] == RUN.run_id and body["host"] == "prod"
    assert s.secrets[notify.ENV] == receiver          # the URL is masked like a secret


@pytest.mark.parametrize("status_or_dead", [500, "dead"])
def test_a_failing_receiver_is_reported_once_and_never_raises(receiver, monkeypatch, status_or_dead):
    monkeypatch.delenv(notify.ENV, raising=False)
    url = receiver if status_or_dead != "dead" else "http://127.0.0.1:9/hook"
    Receiver.status = 500 if status_or_dead == 500 else 200
    said = []
    n = notify.Notifier(site(url), timeout=2)
    assert n.send("start", RUN, said.append) is False
    assert n.send("success", RUN, said.append) is False   # not tried again
    assert len(said) == 1 and "notification" in said[0] and "the run goes on" in said[0]
