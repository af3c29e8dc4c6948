"""maintenance.*: the nginx flag-file maintenance mode (runbook step 5, done right).

`maintenance.install` writes an nginx snippet once: it answers 503 with the maintenance page while
the flag file exists (checked per request, so on/off need no reload:
docs/BEHAVIOUR.md#nginx-flag-per-request), and lets the operator through with the secret header
`X-Maintenance-Bypass` (value from .env) or from listed IPs. The snippet is tested with `nginx -t`
and the old one restored if the test fails. `on`/`off` only create or remove the flag, atomically
and idempotently. `status` proves the state over HTTP.
With `backend = "app-flag"` the app checks the flag itself (the runbook's /app/maintenance.flag):
there is nothing to install and on/off/status work the same. On a group (`-H prod`) on/off/status
act on every web host at once and report each.
"""
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from invoke.exceptions import UnexpectedExit

from runbook.engine.errors import ConfigError, DeployError
from runbook.engine.fabcmd import fab
from runbook.engine.fleet import each
from runbook.engine.runner import commands
from runbook.engine.scripts import script
from runbook.host import httpcheck, services
from runbook.host.httpcheck import BYPASS_HEADER, bypass_headers
from runbook.host.remote import atomic_write, exists, q, read_text, run_script

PAGE = (Path(__file__).parent / "templates" / "maintenance.html").read_text()
MARKER = "Scheduled Maintenance"
PAGE_URI = "/__maintenance__/page.html"   # internal: the public cannot ask for it


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
    # The page is an error_page URI, not a named location: nginx then serves it as a GET to
    # every method (a named location keeps the method and the static module answers POST 405).
    # The redirect runs the server's `if`s again: the page's own URI is let through
    # (docs/BEHAVIOUR.md#nginx-error-page-method).
    lines += [
        f'if ($uri = "{PAGE_URI}") {{ set $maintenance 0; }}',
        'if ($maintenance = 1) { return 503; }',
        f"error_page 503 {PAGE_URI};",
        f"location = {PAGE_URI} {{",
        "    internal;",
        f'    alias "{m.page}";',
        "    default_type text/html;",
        '    add_header Retry-After 600 always;',
        "}",
    ]
    return "\n".join(lines) + "\n"


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Facts:
    """What the host has, read in one round trip: sha256 of the snippet and the page ("" when
    missing; the snippet holds the bypass secret, so its text is not read unless it must be
    restored), whether the flag is there and since how many seconds (the host's clock)."""
    snippet: str
    page: str
    on: bool
    age: float = 0.0


def facts(c):
    m = c.site.maintenance
    env = {"RB_BACKEND": m.backend, "RB_SNIPPET": m.snippet or "", "RB_PAGE": m.page or "",
           "RB_FLAG": m.flag}
    got = {}
    for line in run_script(c, script("runbook.ops", "maintenance_facts.sh"), env=env).stdout.splitlines():
        key, _, value = line.partition(" ")
        got[key] = value.strip()
    age = got.get("age", "")
    return Facts(got.get("snippet", ""), got.get("page", ""), got.get("flag") == "on",
                 max(0.0, float(age)) if age.lstrip("-").isdigit() else 0.0)


def install(c, known=None):
    """Write page + snippet; `nginx -t`; reload only if it passed, else restore. Returns a note.

    `known`: the host's Facts when the caller already read them (one round trip less)."""
    m = c.site.maintenance
    if m.backend == "app-flag":
        return "nothing to do: the app checks the flag file itself (backend app-flag)"
    new = snippet(c)
    f = known or facts(c)
    page_ok = f.page == sha256(PAGE)
    if f.snippet == sha256(new) and page_ok:
        return "nothing to do: snippet and page already installed"
    if not page_ok:
        _write(c, m.page, PAGE, "0644", mkdir=True)
    if f.snippet == sha256(new):
        return "page updated; snippet already installed"
    old = read_text(c, m.snippet) if f.snippet else None
    _write(c, m.snippet, new, "0600")
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
    return f"snippet written to {m.snippet}, nginx -t passed, {RELOADED}"


def _write(c, path, text, mode, mkdir=False):
    """atomic_write (after `mkdir -p` of its directory), or one line naming the directory the
    SSH user cannot write and the command that fixes it."""
    d = os.path.dirname(path)
    try:
        if mkdir:
            c.run(f"mkdir -p {q(d)}", hide=True)
        atomic_write(c, path, text, mode=mode)
    except UnexpectedExit as e:
        said = (e.result.stderr or e.result.stdout or "").strip().splitlines()
        raise DeployError(f"cannot write {path} on {c.site.name} ({said[-1] if said else 'failed'}); "
                          f"so that {c.user} can, run this on the host, then rerun: "
                          f"sudo install -d -o {q(c.user)} -m 0755 {q(d)}") from None


RELOADED = "nginx reloaded"
SERVED_WAIT = 10   # seconds nginx may take to put a reload into effect


def wait_served(c, note):
    """After a reload (`note` from install says so), wait until the public gets 503.

    `nginx -s reload` returns before the new workers run; the old ones keep serving the old
    configuration a moment longer, so the flag alone did not yet mean 503 for every request
    (docs/BEHAVIOUR.md#nginx-reload-returns-early).
    One round trip: the host polls its public URL every 50 ms, for SERVED_WAIT s at most."""
    if not note.endswith(RELOADED):
        return
    url = public_url(c)
    get = httpcheck.curl(c, url, "-s -o /dev/null -w '%{http_code}' --max-time 2")
    r = c.run(f"for i in $(seq {SERVED_WAIT * 20}); do code=$({get}); "
              f"[ \"$code\" = 503 ] && break; sleep 0.05; done; echo \"$code\"", hide=True, warn=True)
    code = (r.stdout.split() or ["?"])[-1]
    if code != "503":
        raise DeployError(f"maintenance is ON on {c.site.name} (the flag is set), but {SERVED_WAIT} s "
                          f"after nginx reloaded the public still gets {code} from {url}; "
                          f"check nginx, then {fab(c, 'maintenance.status')}")


def is_on(c):
    return exists(c, c.site.maintenance.flag)


def turn_on(c, known=None):
    """Create the flag atomically; needs the installed snippet (or maintenance would not show).

    `known`: the host's Facts when the caller already read them (one round trip less)."""
    m = c.site.maintenance
    f = known or facts(c)
    if m.backend == "nginx" and not f.snippet:
        raise DeployError(f"the maintenance snippet is not installed ({m.snippet}); install it "
                          f"first: {fab(c, 'maintenance.install')}")
    return _flag_on(c, f.on)


def _flag_on(c, on):
    """Create the flag atomically, unless it is there (`on`)."""
    if on:
        return "nothing to do: maintenance is already ON"
    template = q(c.site.maintenance.flag + ".XXXXXX")
    c.run(f"tmp=$(mktemp {template}) && chmod 0644 \"$tmp\" && mv -f \"$tmp\" "
          f"{q(c.site.maintenance.flag)}", hide=True)
    return "maintenance ON"


def turn_off(c):
    """Remove the flag, in one round trip that also says whether it was there."""
    flag = q(c.site.maintenance.flag)
    r = c.run(f"if [ -e {flag} ]; then rm -f {flag} && echo removed; else echo absent; fi", hide=True)
    if r.stdout.strip() == "absent":
        return "nothing to do: maintenance is already OFF"
    return "maintenance OFF"


def on_with_install(c, known=None):
    """install() then the flag, from one read of the host (`known`: that read, when the caller
    made it): (install note, turn_on note). Once install() returned, the snippet is in place."""
    f = known or facts(c)
    note = install(c, f)
    return note, _flag_on(c, f.on)


def public_url(c):
    """The health URL without its query: what the public asks the web host (from the host)."""
    u = urlparse(c.site.health.url)
    return f"{u.scheme}://{u.netloc}{u.path}"


def probe(c):
    """(public status, public shows the page?, bypass status, public POST status) measured with
    HTTP from the host (a POST too: maintenance must answer 503 to every method)."""
    # The headers are secrets of the script (the bypass one is): in no process argument.
    r = run_script(c, script("runbook.ops", "maintenance_probe.sh"),
                   env={"RB_URL": public_url(c), "RB_MARKER": MARKER},
                   secrets={"RB_PUBLIC_CFG": httpcheck.curl_config(c),
                            "RB_BYPASS_CFG": httpcheck.curl_config(c, bypass_headers(c))},
                   warn=True)
    lines = (r.stdout.split() + ["0", "0", "0", "0"])[:4]
    return int(lines[0]), int(lines[1]) > 0, int(lines[2]), int(lines[3])


def status_text(c):
    on = is_on(c)
    public, page, bypass, post = probe(c)
    proof = (f"public {public}{' with the maintenance page' if page else ''}, "
             f"operator bypass {bypass}, public POST {post}")
    return on, public, page, bypass, post, f"maintenance {'ON' if on else 'OFF'}: {proof}"


@commands(lambda c, run: [
    f"sudo -n nginx -t && reload nginx  (only when the snippet {c.site.maintenance.snippet} is "
    "missing)", f"mv -f <tmp> {q(c.site.maintenance.flag)}  (the flag; the public gets 503)"])
def step_on(c, run):
    """Install the nginx snippet if missing (nginx -t first), create the flag: the public gets 503."""
    f = facts(c)
    note, result = on_with_install(c, f)
    # Already ON (a failed run left it on): the downtime counts from when the flag appeared.
    mark_on(c, run, since=time.time() - f.age if f.on else None)
    wait_served(c, note)
    return "already ON" if result.startswith("nothing") else f"ON ({note})"


def mark_on(c, run, since=None):
    """Note maintenance ON in the run: the state for recovery, and the downtime's start (`since`:
    epoch seconds it went on in a failed run being resumed, so the downtime counts from then)."""
    start = time.monotonic() - max(0.0, time.time() - since) if since else time.monotonic()
    if run.data.maintenance_on_at is None:
        run.data.maintenance_on_at = start
    if since:
        run.data.maintenance_on_before = True
    run.state["maintenance"] = (f"maintenance is ON (public gets 503); turn it off with "
                                f"{fab(c, 'maintenance.off')}")


@commands(lambda c, run: [
    f"if [ -e {q(c.site.maintenance.flag)} ]; then rm -f {q(c.site.maintenance.flag)}; fi"])
def step_off(c, run):
    """Remove the flag: the public is served again (the downtime is measured since ON)."""
    note = turn_off(c)
    run.state.pop("maintenance", None)
    start = run.data.maintenance_on_at
    if start:
        downtime = time.monotonic() - start
        run.data.downtime = downtime
        # this host's summary lines (on a group, the summary names the host)
        before = " (ON since before this run)" if run.data.maintenance_on_before else ""
        run.host_data[c.site.name].summary_lines.append(
            f"downtime (maintenance ON->OFF): {downtime:.1f}s{before}")
        return f"{note}; downtime {downtime:.1f}s"
    return note


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
    install_note, done = on_with_install(c)
    wait_served(c, install_note)
    return done if install_note.startswith("nothing") else f"{install_note}; {done}"


def _status(c):
    on_, public, page, bypass, post, text = status_text(c)
    consistent = (public == post == 503 and page and bypass == 200) if on_ else (public == 200)
    if not consistent:
        raise DeployError(f"maintenance state is inconsistent on {c.site.name} ({text}); "
                          f"check the snippet ({fab(c, 'maintenance.install')}) and the app")
    return text
