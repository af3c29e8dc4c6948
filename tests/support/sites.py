"""Real inventory Sites for unit tests, built from a temp hosts.toml (no host behind them)."""
import json
import tomllib

from runbook.host import inventory

# the smallest valid inventory: one host `web`
MINIMAL = """
[hosts.web]
hostname = "10.0.0.1"
[hosts.web.app]
dir = "/srv/app"
venv = "/srv/venv"
[hosts.web.database]
name = "app"
[hosts.web.service]
manager = "systemd"
app = "gunicorn"
[hosts.web.maintenance]
snippet = "/etc/nginx/snippets/m.conf"
flag = "/srv/m/on"
page = "/srv/m/page.html"
[hosts.web.health]
url = "http://127.0.0.1/healthz"
[hosts.web.backup]
dir = "/srv/backups"
"""
BASE = tomllib.loads(MINIMAL)["hosts"]["web"]
SECRET = "hunter2-Zq8xPw"   # the `site` fixture's bypass secret (env WEB_BYPASS)


def _merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


def make_site(tmp_path, env="", **over):
    """A validated Site `web` built from MINIMAL with `over` merged in (None removes a key)."""
    table = _merge(BASE, over)
    lines = ["[hosts.web]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()
              if not isinstance(v, dict) and v is not None]
    for name, sub in table.items():
        if isinstance(sub, dict):
            lines.append(f"[hosts.web.{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in sub.items() if v is not None]
    path = tmp_path / "hosts.toml"
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / ".env").write_text(env)
    return inventory.load(path).site("web")


def secret_site(tmp_path):
    """MINIMAL with a maintenance bypass secret, so masking has something to hide."""
    return make_site(tmp_path, env=f"WEB_BYPASS={SECRET}\n",
                     maintenance={"bypass_secret_env": "WEB_BYPASS"})
