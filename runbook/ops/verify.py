"""verify.*: prove what is on the host. `verify.status` is one screen of host facts."""

from runbook.django import app
from runbook.engine import lock
from runbook.engine.scripts import script
from runbook.host import httpcheck
from runbook.host.remote import run_script, sections
from runbook.host.services import argv as service_argv
from runbook.postgres import db


def status_script(c):
    """(script, args, env, secrets): one bash script (one round trip) printing `@@key` sections
    with each fact; its argument is the service's status command."""
    s = c.site
    pg_env, secrets = db.script_env(c)
    env = {**pg_env, **app.script_env(c), "RB_DB": s.database.name, "RB_BACKUP_DIR": s.backup.dir,
           "RB_MAINTENANCE_FLAG": s.maintenance.flag, "RB_HEALTH_URL": s.health.url,
           "RB_LOCK": lock.path(c)}
    text = script("runbook.postgres", "pg.sh") + script("runbook.django", "manage.sh") + \
        script("runbook.ops", "status.sh")
    return text, service_argv(c, "status"), env, {**secrets, "RB_HEALTH_CFG": httpcheck.curl_config(c)}


def parse_sections(text):
    return {k: "\n".join(v).strip() for k, v in sections(text).items()}


def _size(n):
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def facts(c):
    text, args, env, secrets = status_script(c)
    return parse_sections(run_script(c, text, *args, env=env, secrets=secrets, warn=True).stdout)


def render_status(c, f):
    """The one-screen report from parsed sections."""
    rows = []
    os_lines = f.get("os", "").splitlines()
    rows.append(("host", f"{c.site.name} ({c.user}@{c.host}:{c.port})"))
    rows.append(("os", " / ".join(os_lines) or "unknown"))
    disk = f.get("disk", "").split()
    rows.append(("disk free", f"{_size(int(disk[0]) * 1024)} on {disk[1]} (backups: "
                 f"{c.site.backup.dir})" if len(disk) == 2 else f.get("disk") or "unknown"))
    pg, down = f.get("pg", ""), pg_problem(f)
    if down:
        rows.append(("postgresql", f"unreachable: {down}"))
    else:
        version, size = pg.split("|", 1)
        rows.append(("postgresql", f"{version}, database {c.site.database.name} {_size(size)}"))
    rows.append(("service", f"{c.site.service.app} ({c.site.service.manager}): "
                 f"{f.get('service') or 'unknown'}"))
    commit = f.get("commit", "").splitlines()
    rows.append(("deployed", f"{commit[0]} [{commit[1]}]" if len(commit) == 2 else
                 (commit[0] if commit else "unknown")))
    pend = [p for p in f.get("pending", "").splitlines() if p.strip()]
    if any(p.startswith("Traceback") for p in pend):   # Django could not read the database
        rows.append(("pending", f"unknown: manage.py showmigrations failed ({pend[-1][:160]})"))
    else:
        rows.append(("pending", ", ".join(pend) if pend else "no pending migrations"))
    rows.append(("maintenance", f.get("maintenance", "unknown").upper()))
    rows.append(("health", f"{f.get('health', '?')} from {c.site.health.url}"))
    lk = f.get("lock", "none")
    if lk == "none":
        rows.append(("lock", "free"))
    else:
        rows.append(("lock", lock.describe_holder(c, lock.parse(lk))))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def pg_problem(f):
    """Why PostgreSQL did not answer the status script's query (its error line), or None."""
    pg = f.get("pg", "")
    if "|" in pg and not pg.startswith(("psql", "sudo")):
        return None
    lines = [x.strip() for x in pg.splitlines() if x.strip()]
    return next((x for x in lines if "error" in x.lower()), lines[0] if lines else "no answer")

