"""Webhook notifications: a Slack-compatible JSON POST on a run's start, success and failure.

Optional: the URL comes from `DEPLOY_WEBHOOK_URL` in the `.env` beside the inventory (or the
environment); without it nothing is sent. It is sent from this machine, never from the host, and
the URL is treated as a secret (masked wherever the run prints). A notification can never fail a
deploy: the first failure is reported once, and the rest of the run sends nothing more.
"""
import json
import os
import urllib.error
import urllib.request

ENV = "DEPLOY_WEBHOOK_URL"
ICONS = {"start": ":rocket:", "success": ":white_check_mark:", "failure": ":x:"}


class Notifier:
    def __init__(self, site, timeout=5):
        inv = site.inventory
        self.url = os.environ.get(ENV) or inv.dotenv.get(ENV) or None
        if self.url:
            site.secrets[ENV] = self.url   # masked in output and journals like any secret
        self.timeout, self.broken = timeout, False

    def payload(self, event, run, **fields):
        head = f"{ICONS[event]} {run.task} {event} on {run.fleet.name} (run {run.run_id})"
        fields = {k: v for k, v in fields.items() if v not in (None, "")}
        lines = [head] + [f"{k}: {v}" for k, v in fields.items()]
        return {"text": "\n".join(lines), "event": event, "task": run.task,
                "host": run.fleet.name, "run": run.run_id, **fields}

    def send(self, event, run, say, **fields):
        """POST the event; never raises. Returns True when the receiver answered 2xx."""
        if not self.url or self.broken:
            return False
        body = json.dumps(self.payload(event, run, **fields)).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                if 200 <= r.status < 300:
                    return True
                problem = f"HTTP {r.status}"
        except urllib.error.HTTPError as e:
            problem = f"HTTP {e.code}"
        except (OSError, ValueError) as e:
            problem = type(e).__name__ + (f": {e.reason}" if hasattr(e, "reason") else "")
        self.broken = True
        say(f"note: the {event} notification to {ENV} failed ({problem}); the run goes on "
            "and sends no more notifications")
        return False
