"""HTTP requests made FROM the host (curl over SSH), for health and smoke checks.

Named httpcheck, not http: it began in fabfile/, which fab puts on sys.path, where an http.py
shadows the standard library's http package (urllib imports it;
docs/BEHAVIOUR.md#invoke-loader-sys-path).

The request (URL, method, headers, body) goes to curl as a config file on stdin (`-K -`:
docs/BEHAVIOUR.md#curl-config-stdin), so a bearer token or bypass secret never shows in a process
argument. Every request to the app carries the host's `health.headers` (e.g. the Host its
ALLOWED_HOSTS accepts, X-Forwarded-Proto).
"""
import io
import json

from runbook.host.remote import q

BYPASS_HEADER = "X-Maintenance-Bypass"   # the header maintenance mode lets through (with its secret)


def bypass_headers(c):
    """The maintenance bypass header with the host's secret, or none when it has no secret."""
    m = c.site.maintenance
    return {BYPASS_HEADER: c.site.secret(m.bypass_secret_env)} if m.bypass_secret_env else {}


def _cfg_quote(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def app_headers(c, own=None):
    """The host's health.headers under a request's `own` headers (the request's win; header
    names compare case-insensitively)."""
    own = dict(own or {})
    taken = {k.lower() for k in own}
    base = {k: v for k, v in (c.site.health.headers or {}).items() if k.lower() not in taken}
    return {**base, **own}


def _header_lines(headers):
    return [f"header = {_cfg_quote(f'{k}: {v}')}" for k, v in headers.items()]


def curl_config(c, headers=None):
    """The app's headers over `headers` as `curl -K -` config text (a script's secret: a header
    may carry one)."""
    return "".join(line + "\n" for line in _header_lines(app_headers(c, headers)))


def curl(c, url, options, headers=None):
    """Shell text: `curl OPTIONS URL` (options are shell text) with the app's headers over
    `headers`, piped in as a config by printf, a shell builtin. In a script on stdin
    (run_script) no header shows in a process argument; a `c.run` command line is the remote
    shell's argument, so only non-secret headers (health.headers) belong there."""
    lines = _header_lines(app_headers(c, headers))
    if not lines:
        return f"curl {options} {q(url)}"
    return f"printf '%s\\n' {' '.join(q(x) for x in lines)} | curl -K - {options} {q(url)}"


def request(c, url, method="GET", headers=None, body=None, timeout=10):
    """(status, body text) for one request to the app; status 0 when nothing answered (curl's
    000: docs/BEHAVIOUR.md#curl-write-out-status)."""
    cfg = [f"url = {_cfg_quote(url)}", f"request = {_cfg_quote(method)}",
           f"max-time = {int(timeout)}", "silent", "show-error"]
    cfg += _header_lines(app_headers(c, headers))
    if body is not None:
        cfg.append(f"header = {_cfg_quote('Content-Type: application/json')}")
        cfg.append(f"data-binary = {_cfg_quote(json.dumps(body))}")
    r = c.run(f"curl -K - -w {q(chr(10) + '@@status %{http_code}')}",
              in_stream=io.StringIO("\n".join(cfg) + "\n"), hide=True, warn=True)
    text, _, status = r.stdout.rpartition("@@status ")
    try:
        return int(status.strip() or 0), text.rstrip("\n")
    except ValueError:
        return 0, r.stdout
