"""Restart the app and prove what answers: health 200 and, with health.revision_key, the commit.

With `health.revision_key` (the JSON key of the health response that names the commit the app
runs), a restart is done only when the app serves the commit on disk, not merely answers 200.

`service.restart = "reload"` asks for a graceful reload instead of stop + start (supervisor:
`supervisorctl signal HUP`, on which gunicorn starts new workers with the new code and drains the
old ones, without supervisor's `startsecs` wait; systemd: `systemctl reload`). A reload is
trusted only through that proof, so it needs revision_key; when the new commit does not answer
within health.timeout (gunicorn's preload_app keeps the old code on HUP) the app is restarted
(docs/BEHAVIOUR.md#gunicorn-hup, docs/BEHAVIOUR.md#supervisorctl-signal-status).
"""
import json
import time

from runbook.django.app import head
from runbook.engine.runner import Failed
from runbook.host import services

POLL = 0.2   # seconds between health requests: the wait is inside the maintenance window


def revision(body, key):
    """The commit a health response names under `key` (dots go into nested objects), or ""."""
    try:
        value = json.loads(body)
    except ValueError:
        return ""
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value.strip() if isinstance(value, str) else ""


def same_commit(named, commit):
    """True when the revision an app names is `commit` (a short sha of 7+ digits counts)."""
    return len(named) >= 7 and commit.startswith(named.lower())


def wait_serving(c, commit=None, timeout=None, url=None, headers=None):
    """Poll health (or `url` with `headers`) until 200 and, given `commit`, a response naming it.

    Returns (ok, last status, last named revision, seconds)."""
    h = c.site.health
    timeout = h.timeout if timeout is None else timeout
    start = time.monotonic()
    while True:
        status, body = services.health_response(c, url=url, headers=headers)
        named = revision(body, h.revision_key) if h.revision_key and status == 200 else ""
        took = time.monotonic() - start
        if status == 200 and (commit is None or same_commit(named, commit)):
            return True, status, named, took
        if took >= timeout:
            return False, status, named, took
        time.sleep(POLL)


def plan_line(c):
    """What the restart step sends and waits for, as deploy.consolidate --plan shows it."""
    s, h = c.site.service, c.site.health
    wait = f"wait for 200 on {h.url}" + (f" naming the commit ({h.revision_key})"
                                         if h.revision_key else "")
    if s.restart == "reload":
        return (f"sudo -n {' '.join(services.argv(c, 'reload'))}; {wait} "
                f"(else sudo -n {' '.join(services.argv(c, 'restart'))})")
    return f"sudo -n {' '.join(services.argv(c, 'restart'))}; {wait}"


def _what_answered(status, named):
    if status != 200:
        return f"last status {status or 'none'}"
    return f"health 200 but it names {named[:12] or 'no revision'}"


def restart_and_wait(c, say=print, commit=None):
    """Reload or restart the app as `service.restart` says; Failed unless it then serves.

    `commit`: the one the run moved the tree to (default: read from the tree). Returns the
    step's line: how, what commit answers, how long health took."""
    s, h = c.site.service, c.site.health
    commit = (commit or head(c)) if h.revision_key else None
    serving = f", serving {commit[:12]}" if commit else ""
    if s.restart == "reload":
        r = services.control(c, "reload", warn=True)
        if r.ok:
            ok, status, named, took = wait_serving(c, commit)
            if ok:
                return f"{s.app} reloaded{serving}, health 200 in {took:.1f}s"
            why = _what_answered(status, named)
        else:
            why = "the reload command failed: " + ((r.stderr or r.stdout).strip() or f"exit {r.exited}")
        say(f"    the reload did not bring up {commit[:12]} ({why}); restarting {s.app} instead "
            "(gunicorn's preload_app keeps the old code on a reload)")
    r = services.control(c, "restart", warn=True)
    ok, status, named, took = (False, 0, "", 0.0) if not r.ok else wait_serving(c, commit)
    if not ok:
        said = (r.stdout or r.stderr).strip().splitlines()
        said = f"; {said[-1]}" if not r.ok and said else ""
        if status == 200:   # it answers, but not from the commit on disk
            raise Failed(f"the app answers 200 on {h.url} after the restart but names revision "
                         f"{named[:12] or 'none'}, not {commit[:12]} (service {services.state(c)})")
        raise Failed(f"the app did not answer 200 on {h.url} after the restart (last status "
                     f"{status or 'none'}; service {services.state(c)}{said})")
    return f"{s.app} restarted{serving}, health 200 in {took:.1f}s"
