"""maintenance.*: the nginx flag-file maintenance mode (runbook step 5, done right).

`maintenance.install` writes an nginx snippet once: it answers 503 with the maintenance page
while the flag file exists (checked per request, so on/off need no reload), and lets the operator
through with the secret header `X-Maintenance-Bypass` (value from .env) or from listed IPs. The
snippet is tested with `nginx -t` and the old one restored if the test fails. `on`/`off` only
create or remove the flag, atomically and idempotently. `status` proves the state over HTTP.
With `backend = "app-flag"` the app checks the flag itself (the runbook's /app/maintenance.flag):
there is nothing to install and on/off/status work the same. On a group (`-H prod`) on/off/status
act on every web host at once and report each.
"""
import io
import os
import time
from pathlib import Path
from urllib.parse import urlparse

from invoke import Collection

from . import services
from .connection import hosttask
from .errors import ConfigError, DeployError
from .fleet import each
from .remote import atomic_write, exists, q, read_text

BYPASS_HEADER = "X-Maintenance-Bypass"
PAGE = (Path(__file__).parent / "templates" / "maintenance.html").read_text()
MARKER = "Scheduled Maintenance"


def snippet(c):
    """The nginx server-level snippet for this host (contains the bypass secret: 0600)."""
    m = c.site.maintenance
    secret = c.site.secret(m.bypass_secret_env) if m.bypass_secret_env else None
    if not secret and not m.bypass_ips:
        raise ConfigError(f"{c.site.inventory.path}: hosts.{c.site.name}.maintenance: no operator "
                          "bypass; set bypass_secret_env (a .env variable) or bypass_ips")
    if secret and not all(ch.isalnum() or ch in "-_." for ch in secret):
        raise ConfigError(f"the value of {m.bypass_secret_env} must be letters, digits, - _ . only "
                          "(it goes into an nginx string); generate another")
    page_dir, page_name = os.path.split(m.page)
    lines = [
        "# Written by `fab maintenance.install`; do not edit. Maintenance is ON while the flag",
        f"# file {m.flag} exists (checked per request: no reload needed).",
        "set $maintenance 0;",
        f'if (-f "{m.flag}") {{ set $maintenance 1; }}',
    ]
    for ip in m.bypass_ips:
        lines.append(f'if ($remote_addr = "{ip}") {{ set $maintenance 0; }}')
    if secret:
        lines.append(f'if ($http_{BYPASS_HEADER.lower().replace("-", "_")} = "{secret}") '
                     "{ set $maintenance 0; }")
    lines += [
        'if ($maintenance = 1) { return 503; }',
        "error_page 503 @maintenance;",
        "location @maintenance {",
        f'    root "{page_dir}";',
        f'    rewrite ^(.*)$ "/{page_name}" break;',
        '    add_header Retry-After 600 always;',
        "}",
    ]
    return "\n".join(lines) + "\n"


def install(c):
    """Write page + snippet; `nginx -t`; reload only if it passed, else restore. Returns a note."""
    m = c.site.maintenance
    if m.backend == "app-flag":
        return "nothing to do: the app checks the flag file itself (backend app-flag)"
    new = snippet(c)
    old = read_text(c, m.snippet)
    page_ok = read_text(c, m.page) == PAGE
    if old == new and page_ok:
        return "nothing to do: snippet and page already installed"
    c.run(f"mkdir -p {q(os.path.dirname(m.page))}", hide=True)
    atomic_write(c, m.page, PAGE, mode="0644")
    if old == new:
        return "page updated; snippet already installed"
    atomic_write(c, m.snippet, new, mode="0600")
    test = services.nginx_test(c)
    if not test.ok:
        if old is None:
            c.run(f"rm -f {q(m.snippet)}", hide=True)
        else:
            atomic_write(c, m.snippet, old, mode="0600")
        err = (test.stderr or test.stdout).strip().splitlines()
        raise DeployError(f"nginx -t failed with the maintenance snippet ({err[-1] if err else '?'}); "
                          f"the previous snippet was restored and nginx was not reloaded")
    services.nginx_reload(c)
    return f"snippet written to {m.snippet}, nginx -t passed, nginx reloaded"


def is_on(c):
    return exists(c, c.site.maintenance.flag)


def turn_on(c):
    """Create the flag atomically; needs the installed snippet (or maintenance would not show)."""
    m = c.site.maintenance
    if m.backend == "nginx" and not exists(c, m.snippet):
        raise DeployError(f"the maintenance snippet is not installed ({m.snippet}); run "
                          f"fab -H {c.site.name} maintenance.install first")
    if is_on(c):
        return "nothing to do: maintenance is already ON"
    c.run(f"tmp=$(mktemp {q(m.flag + '.XXXXXX')}) && chmod 0644 \"$tmp\" && mv -f \"$tmp\" {q(m.flag)}",
          hide=True)
    return "maintenance ON"


def turn_off(c):
    if not is_on(c):
        return "nothing to do: maintenance is already OFF"
    c.run(f"rm -f {q(c.site.maintenance.flag)}", hide=True)
    return "maintenance OFF"


def bypass_headers(c):
    m = c.site.maintenance
    return {BYPASS_HEADER: c.site.secret(m.bypass_secret_env)} if m.bypass_secret_env else {}


def probe(c):
    """(public status, public shows the page?, bypass status) measured with HTTP from the host."""
    u = urlparse(c.site.health.url)
    url = f"{u.scheme}://{u.netloc}{u.path}"
    # The bypass header goes in a curl config on stdin: never in the process arguments.
    cfg = "".join(f'header = "{k}: {v}"\n' for k, v in bypass_headers(c).items())
    r = c.run(
        f"t=$(mktemp) && curl -s -o \"$t\" -w '%{{http_code}}\\n' --max-time 5 {q(url)}; "
        f"grep -c {q(MARKER)} \"$t\" || true; rm -f \"$t\"; "
        f"curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 -K - {q(url)}",
        in_stream=io.StringIO(cfg), hide=True, warn=True)
    lines = (r.stdout.split() + ["0", "0", "0"])[:3]
    return int(lines[0]), int(lines[1]) > 0, int(lines[2])


def status_text(c):
    on = is_on(c)
    public, page, bypass = probe(c)
    proof = (f"public {public}{' with the maintenance page' if page else ''}, "
             f"operator bypass {bypass}")
    return on, public, page, bypass, f"maintenance {'ON' if on else 'OFF'}: {proof}"


def step_on(c, run):
    """Install the nginx snippet if missing (nginx -t first), create the flag: the public gets 503."""
    note = install(c)
    result = turn_on(c)
    mark_on(c, run)
    return "already ON" if result.startswith("nothing") else f"ON ({note})"


def mark_on(c, run, since=None):
    """Note maintenance ON in the run: the state for recovery, and the downtime's start (`since`:
    epoch seconds it went on in a failed run being resumed, so the downtime counts from then)."""
    start = time.monotonic() - max(0.0, time.time() - since) if since else time.monotonic()
    run.data.setdefault("maintenance_on_at", start)
    run.state["maintenance"] = (f"maintenance is ON (public gets 503); turn it off with "
                                f"fab -H {c.site.name} maintenance.off")


def step_off(c, run):
    """Remove the flag: the public is served again (the downtime is measured since ON)."""
    note = turn_off(c)
    run.state.pop("maintenance", None)
    start = run.data.get("maintenance_on_at")
    if start:
        downtime = time.monotonic() - start
        run.data["downtime"] = downtime
        # this host's summary lines (on a group, the summary names the host)
        run.host_data[c.site.name].setdefault("summary_lines", []).append(
            f"downtime (maintenance ON->OFF): {downtime:.1f}s")
        return f"{note}; downtime {downtime:.1f}s"
    return note


@hosttask(name="install")
def install_task(c):
    """Write the maintenance page and nginx snippet (nginx -t first; old snippet restored on failure)."""
    print(f"{c.site.name}: {install(c)}")


def on_each(fleet, fn, what):
    """fn(c) -> text on every web host of the fleet; print `host: text`; one error if any failed."""
    failed = []
    for name, result in each(fleet.with_role("web"), fn):
        if isinstance(result, BaseException):
            reason = result.text if isinstance(result, DeployError) else f"{type(result).__name__}: {result}"
            failed.append(f"{name}: {reason}")
            print(f"{name}: FAILED: {reason}")
        else:
            print(f"{name}: {result}")
    if failed:
        raise DeployError(f"{what} failed on {len(failed)} host(s): " + "; ".join(failed))


def _on(c):
    install_note = install(c)
    done = turn_on(c)
    return done if install_note.startswith("nothing") else f"{install_note}; {done}"


def _status(c):
    on_, public, page, bypass, text = status_text(c)
    consistent = (public == 503 and page and bypass == 200) if on_ else (public == 200)
    if not consistent:
        raise DeployError(f"maintenance state is inconsistent on {c.site.name} ({text}); "
                          f"check the snippet (fab -H {c.site.name} maintenance.install) and the app")
    return text


@hosttask(fleet=True)
def on(c):
    """Turn maintenance ON: 503 and the page for the public, the operator bypass gets through.

    Turn maintenance ON (flag file; public gets 503 + page, the operator bypass gets through);
    on a group, on every web host at once."""
    on_each(c, _on, "maintenance.on")


@hosttask(fleet=True)
def off(c):
    """Turn maintenance OFF (removes the flag file); on a group, on every web host at once."""
    on_each(c, turn_off, "maintenance.off")


@hosttask(fleet=True)
def status(c):
    """Prove the maintenance state over HTTP (the public and the operator bypass).

    Prove the maintenance state with HTTP: 503 + page for the public, 200 through the bypass
    (on a group: every web host)."""
    on_each(c, _status, "maintenance.status")


ns = Collection("maintenance")
ns.add_task(install_task, name="install")
ns.add_task(on)
ns.add_task(off)
ns.add_task(status)
