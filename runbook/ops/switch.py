"""A restart without downtime: the app's twin booted beside it, then nginx switched ([switch]).

At rest the app (service.app, on switch.app_address) serves and its twin (switch.twin: a second
supervisor program or systemd unit of the same app, on switch.twin_address) is stopped. A restart:
1. boot: the idle copy (the twin) is (re)started from the tree as it is now and must answer on
   its own address (the app's boot - imports, preload_app, a slow Django - happens here);
2. switch: switch.upstream (the file nginx's upstream block includes) names it; `nginx -t`; reload;
   then a wait until every nginx worker of before the reload has exited: from then on no request
   reaches the old address (docs/BEHAVIOUR.md#nginx-reload-old-workers);
3. settle: the app restarted while no request reaches it, healthy on its own address, nginx
   switched back, the twin stopped (gracefully: what it holds finishes,
   docs/BEHAVIOUR.md#gunicorn-term-graceful).
A composite boots before maintenance goes on, switches in the window and settles after it: the
window holds the migrations and the switch, not the boot. What serves is proven by processes: the
booted master's pid (started after the tree moved, so from the new code) answers, nginx's old
workers are gone, the replaced master's pid is gone - not by the app naming its commit.
Without [switch] the app restarts in place (ops/restart.py).
"""
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from runbook.engine.fabcmd import fab
from runbook.engine.runner import Failed
from runbook.engine.scripts import script
from runbook.host import services
from runbook.host.remote import read_text, run_script, sections, sh, sudo
from runbook.ops.restart import wait_serving

SERVER = re.compile(r"^\s*server\s+([^\s;]+)[^;]*;", re.M)


@dataclass(frozen=True)
class Slot:
    """One copy of the app: its program/unit and the address it listens on."""

    name: str
    address: str


def enabled(c) -> bool:
    """The host has a twin to switch to ([switch]); else the app restarts in place."""
    return bool(c.site.switch.twin)


def slots(c) -> tuple[Slot, Slot]:
    """(the app, its twin)."""
    sw = c.site.switch
    return Slot(c.site.service.app, sw.app_address), Slot(sw.twin, sw.twin_address)


def serving(c) -> Slot:
    """The copy nginx sends requests to: the one switch.upstream names."""
    up = c.site.switch.upstream
    named = SERVER.findall(read_text(c, up) or "")
    for slot in slots(c):
        if named == [slot.address]:
            return slot
    app, twin = slots(c)
    raise Failed(f"{up} names {', '.join(named) or 'no server'}, not the app's address "
                 f"{app.address} nor the twin's {twin.address}",
                 recovery=f"nothing was changed; make {up} hold the one line "
                          f"\"server {app.address};\" (nginx's upstream includes it), then rerun")


def check(c):
    """Before anything changes: nginx's upstream names the app or its twin, and the twin is a
    program/unit the service manager knows."""
    serving(c)
    twin = slots(c)[1]
    if c.site.service.manager == "systemd":   # is-active says "inactive" of a missing unit too
        r = sudo(c, "systemctl", "show", "-p", "LoadState", "--value", twin.name, warn=True,
                 hide=True)
        said = "could not be found" if r.stdout.strip() == "not-found" else r.stdout.strip()
    else:
        r = services.control(c, "status", twin.name, warn=True)
        said = (r.stdout + r.stderr).strip()
    if "no such process" in said or "could not be found" in said:
        raise Failed(f"the twin {twin.name} (switch.twin) is not a {c.site.service.manager} "
                     f"program/unit on {c.site.name}: {said.splitlines()[-1]}",
                     recovery="nothing was changed; add the twin's program/unit (README, "
                              "\"Restarts without downtime\") or remove [switch], then rerun")


def plan_lines(c, action):
    """What `action` (boot, switch, settle, restart: all three) sends, as a --plan shows it."""
    if action == "restart":
        return [line for a in ("boot", "switch", "settle") for line in plan_lines(c, a)]
    app, twin = slots(c)
    switch = (f"{c.site.switch.upstream} <- server ADDRESS; sudo -n nginx -t; "
              f"sudo -n {sh(*services.reload_argv(c))}; wait for nginx's old workers to exit")
    return {"boot": [_start(c, twin), f"GET {url(c, twin)} until it answers"],
            "switch": [f"GET {url(c, twin)} until 200", switch.replace("ADDRESS", twin.address)],
            "settle": [_start(c, app), f"GET {url(c, app)} until 200", switch.replace("ADDRESS", app.address),
                       f"sudo -n {sh(*services.argv(c, 'stop', twin.name))}"]}[action]


def _start(c, slot):
    """What boot() sends: a stop (a copy may be left running), then a start."""
    return (f"sudo -n {sh(*services.argv(c, 'stop', slot.name))}; "
            f"sudo -n {sh(*services.argv(c, 'start', slot.name))}")


def url(c, slot):
    """The health URL's path and query on the slot's own address (nginx not in between)."""
    u = urlsplit(c.site.health.url)
    return urlunsplit(("http", slot.address, u.path or "/", u.query, ""))


def headers(c):
    """The health URL's host as the Host header, unless health.headers names one."""
    if any(k.lower() == "host" for k in c.site.health.headers):
        return {}
    return {"Host": urlsplit(c.site.health.url).netloc}


def idle(c):
    """The copy that does not serve now (the twin, at rest)."""
    app, twin = slots(c)
    return twin if serving(c) == app else app


def boot(c, slot, commit=None, ready=True):
    """(Re)start `slot` from the tree as it is now; returns (pid, line). `ready`: it must answer
    health 200 (naming `commit` with health.revision_key); else any HTTP answer will do (before
    the migrations the new code may fail on the old schema: the switch checks it again)."""
    services.control(c, "stop", slot.name, warn=True)   # stopped already, at rest
    r = services.control(c, "start", slot.name, warn=True)
    pid = services.pid(c, slot.name)
    if not r.ok or not pid:
        said = (r.stdout + r.stderr).strip().splitlines()
        raise Failed(f"{slot.name} did not start ({said[-1] if said else 'no main process'}; "
                     f"service {services.state(c, slot.name)})",
                     recovery=f"nothing serves from {slot.name}; check its program/unit "
                              "(switch.twin in hosts.toml) and its log")
    ok, status, took = _answer(c, slot, commit, ready)
    if not ok:
        raise Failed(f"{slot.name} (pid {pid}) started but did not answer "
                     f"{'200' if ready else 'HTTP'} on {url(c, slot)} within "
                     f"{c.site.health.timeout}s (last status {status or 'none'})")
    note = "" if status == 200 else f" (health {status} before the migrations; checked again " \
                                    "at the switch)"
    return pid, f"{slot.name} booted (pid {pid}) on {slot.address}, answered in {took:.1f}s{note}"


def _answer(c, slot, commit, ready):
    """Wait for health on the slot's address: 200 (and `commit` named) when `ready`, else any
    answer. Returns (ok, last status, seconds)."""
    named = commit if ready and c.site.health.revision_key else None   # else nothing names it
    ok, status, _named, took = wait_serving(c, named, url=url(c, slot), headers=headers(c))
    return ok or (not ready and status != 0), status, took


def to(c, slot, commit=None):
    """Make nginx send every request to `slot`, once it answers 200 (naming `commit` with
    health.revision_key). Returns the line: how long nginx's old workers took to go."""
    ok, status, took = _answer(c, slot, commit, ready=True)
    if not ok:
        raise Failed(f"{slot.name} does not answer 200 on {url(c, slot)} (last status "
                     f"{status or 'none'}); nginx was not switched to it")
    r = run_script(c, script("runbook.ops", "switch_nginx.sh"), c.site.switch.upstream,
                   slot.address, str(c.site.health.timeout), "--", "sudo", "-n",
                   *services.reload_argv(c), warn=True)
    got = sections(r.stdout)
    if "error" in got or not r.ok:
        said = got.get("error") or (r.stderr or r.stdout).strip().splitlines() or ["failed"]
        raise Failed(f"switching nginx to {slot.name} failed: {said[-1]}")
    waited = int((got.get("waited") or ["0"])[0] or 0) / 1000
    left = " ".join(got.get("left", [])).split()
    if left:   # the reload did not take, or requests outlive the wait: the old copy stays up
        raise Failed(f"nginx was reloaded to send to {slot.name} ({slot.address}), but "
                     f"{len(left)} of its workers from before the reload still run after "
                     f"{waited:.0f}s (pids {' '.join(left)}); the copy they send to was not "
                     "stopped", recovery=f"check nginx (its error log), then "
                                         f"{fab(c, 'deploy.restart')}")
    return (f"nginx sends to {slot.name} ({slot.address}); its old workers gone "
            f"{waited:.2f}s after the reload")


def settle(c, commit=None):
    """Back at rest: the app restarted while the twin serves, nginx switched back to it, the
    twin stopped. Returns the line."""
    app, twin = slots(c)
    lines = []
    if serving(c) == twin:
        old = services.pid(c, app.name)
        pid, _ = boot(c, app, commit)
        lines.append(f"{app.name} restarted without traffic (pid {old or 'none'} -> {pid})")
        lines.append(to(c, app, commit))
    gone = services.pid(c, twin.name)
    r = services.control(c, "stop", twin.name, warn=True)
    # asked again only when the stop said it failed (supervisor: a stopped one is an error too)
    if not r.ok and services.pid(c, twin.name):
        said = (r.stdout + r.stderr).strip().splitlines()
        raise Failed(f"{twin.name} did not stop ({said[-1] if said else 'still running'})")
    lines.append(f"{twin.name} stopped" + (f" (pid {gone} gone)" if gone else ""))
    return "; ".join(lines)


def restart(c, commit=None):
    """A whole restart without downtime: boot the idle copy, switch to it, settle. The line."""
    slot = idle(c)
    _pid, booted = boot(c, slot, commit)
    switched = to(c, slot, commit)
    return f"{booted}; {switched}; {settle(c, commit)}"
