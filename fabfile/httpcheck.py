"""HTTP requests made FROM the host (curl over SSH), for health and smoke checks.

Named httpcheck, not http: fab puts this directory on sys.path, where http.py would shadow
the standard library's http package (urllib imports it).

The request (URL, method, headers, body) goes to curl as a config file on stdin (`-K -`), so a
bearer token or bypass secret never shows in a process argument.
"""
import io
import json

from .remote import q


def _cfg_quote(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def request(c, url, method="GET", headers=None, body=None, timeout=10):
    """(status, body text) for one request; status 0 when nothing answered."""
    cfg = [f"url = {_cfg_quote(url)}", f"request = {_cfg_quote(method)}",
           f"max-time = {int(timeout)}", "silent", "show-error"]
    for k, v in (headers or {}).items():
        cfg.append(f"header = {_cfg_quote(f'{k}: {v}')}")
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
