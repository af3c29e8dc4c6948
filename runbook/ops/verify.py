"""verify.*: prove what is on the host. `verify.status` is one screen of host facts."""

from runbook.django import app
from runbook.engine import lock
from runbook.host import httpcheck
from runbook.host.remote import q, run_script, sections
from runbook.host.services import argv as service_argv
from runbook.postgres import db


def status_script(c):
    """One bash script (one round trip) printing `@@key` sections with each fact."""
    s = c.site
    setup, psql = db.script_psql(c)
    svc = " ".join(q(a) for a in service_argv(c, "status"))
    manage = app.prefix(c)
    health = httpcheck.curl(c, s.health.url, "-s -o /dev/null -w '%{http_code}' --max-time 5")
    return f"""{setup}{{
echo @@os; (. /etc/os-release && echo "$PRETTY_NAME"); uname -r
echo @@disk; d={q(s.backup.dir)}; while [ ! -e "$d" ]; do d=$(dirname "$d"); done
df -Pk "$d" | awk 'NR==2 {{print $4, $6}}'
echo @@pg; {psql} -c "SELECT current_setting('server_version') || '|' || pg_database_size(current_database())"
echo @@service; sudo -n {svc}
echo @@commit; git -C {q(s.app.dir)} log -1 --format='%h %s' && git -C {q(s.app.dir)} describe --tags --always
echo @@pending; {manage} showmigrations --plan | grep '^\\[ \\]' | sed 's/^\\[ \\] *//'
echo @@maintenance; test -e {q(s.maintenance.flag)} && echo on || echo off
echo @@health; {health}; echo
echo @@lock; cat {q(lock.path(c))} 2>/dev/null || echo none
echo @@end
}} </dev/null 2>&1
"""


def parse_sections(text):
    return {k: "\n".join(v).strip() for k, v in sections(text).items()}


def _size(n):
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def facts(c):
    return parse_sections(run_script(c, status_script(c), warn=True).stdout)


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

