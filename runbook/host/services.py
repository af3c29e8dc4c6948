"""Start, stop, reload and inspect the app's services: systemd, supervisor or docker compose.

Each function returns the argv it runs through `sudo -n` so the command plans are unit-testable;
nginx reload is always preceded by `nginx -t` (a failed test keeps the old config:
docs/BEHAVIOUR.md#nginx-test-then-reload).
"""
from runbook.host import httpcheck
from runbook.host.remote import sudo


def _compose(c, *args):
    """`docker compose` or `docker-compose` (compose.command) on the app's compose file
    (docs/BEHAVIOUR.md#compose-v1-v2)."""
    f = c.site.service.compose_file
    return (*c.site.compose.command.split(), *(("-f", f) if f else ()), *args)


def argv(c, action, name=None):
    """The command for `action` (start|stop|restart|reload|status|pid) on a service of this
    host; `pid` prints the main process id (0 or nothing when it does not run)."""
    s = c.site.service
    name = name or s.app
    if s.manager == "systemd":
        if action == "pid":
            return ("systemctl", "show", "-p", "MainPID", "--value", name)
        verb = {"status": "is-active"}.get(action, action)
        return ("systemctl", verb, name)
    if s.manager == "supervisor":
        if action == "reload":  # gunicorn: HUP starts new workers, drains old ones
            # (docs/BEHAVIOUR.md#gunicorn-hup)
            return ("supervisorctl", "signal", "HUP", name)
        return ("supervisorctl", action, name)
    verb = {"reload": "restart", "status": "ps"}.get(action, action)
    return _compose(c, verb, name)


def control(c, action, name=None, **kwargs):
    kwargs.setdefault("hide", True)
    return sudo(c, *argv(c, action, name), **kwargs)


def state(c, name=None):
    """A one-word state of the app service: RUNNING, STOPPED, FATAL, active, inactive, ...
    (supervisorctl: docs/BEHAVIOUR.md#supervisorctl-signal-status)."""
    r = control(c, "status", name, warn=True)
    out = r.stdout.strip()
    if c.site.service.manager == "supervisor":
        parts = out.split()
        return parts[1] if len(parts) > 1 else (out or "unknown")
    if c.site.service.manager == "systemd":
        return out or "unknown"
    return "running" if " Up " in f" {out} " or "running" in out else "not running"


RUNNING = ("RUNNING", "active", "running")  # what state() says of a running service


def nginx_test(c):
    return sudo(c, "nginx", "-t", warn=True, hide=True)


def reload_argv(c):
    """How this host reloads nginx (nginx.reload)."""
    if c.site.nginx.reload == "systemd":
        return ("systemctl", "reload", "nginx")
    return ("nginx", "-s", "reload")


def nginx_reload(c):
    return sudo(c, *reload_argv(c), hide=True)


def pid(c, name=None):
    """The main process id of a service (0 when it does not run)."""
    out = control(c, "pid", name, warn=True).stdout.strip()
    return int(out) if out.isdigit() else 0


def health_response(c, timeout=5, url=None, headers=None):
    """(status, body) of the health URL (or `url`) as seen from the host, through the
    maintenance bypass, with `headers` over the host's own."""
    return httpcheck.request(c, url or c.site.health.url,
                             headers={**httpcheck.bypass_headers(c), **(headers or {})},
                             timeout=timeout)


def health(c, timeout=5):
    """HTTP status of the health URL as seen from the host, through the maintenance bypass."""
    return health_response(c, timeout)[0]
