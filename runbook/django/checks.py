"""Run the app's configured checks (deploy.toml): SQL or Django-shell queries with expectations.

All SQL checks of a batch go to the host in one psql call (one round trip), and all Django checks
of a batch run in one `manage.py shell` (one Django start-up), each snippet in its own namespace.
The Django part can also ride on a `manage.py shell` the caller runs anyway (migrate.apply).
"""
import json

from runbook.django import app
from runbook.engine.errors import DeployError
from runbook.engine.scripts import script
from runbook.host.remote import sections
from runbook.postgres import db


def django_script(checks):
    """(code, env) for `manage.py shell` running the Django snippets of `checks` in one process
    (scripts/checks_batch.py; the snippets in its env)."""
    return script("runbook.django", "checks_batch.py"), {
        "RB_CHECKS": json.dumps([chk["django"].strip() + "\n" for chk in checks])}


def django_values(text, checks):
    """[non-empty printed lines] per check, from django_script's output (DeployError naming
    the check whose snippet raised, or the first one that never ran)."""
    found = sections(text)
    out = []
    for i, chk in enumerate(checks):
        if f"django-error {i}" in found:
            err = " ".join(found[f"django-error {i}"]).strip()
            raise DeployError(f"the Django check '{chk['name']}' raised {err}; fix its snippet "
                              "in deploy.toml or the app")
        if f"django {i}" not in found:
            raise DeployError(f"the Django check '{chk['name']}' printed nothing (the shell "
                              "stopped before it); run it in `manage.py shell` on the host")
        out.append([line for line in found[f"django {i}"] if line.strip()])
    return out


def sql_script(checks):
    """One psql script for the SQL checks: each query's rows under an `@@N` header."""
    script = []
    for i, chk in enumerate(checks):
        script.append(f"\\echo @@{i}")
        script.append(chk["sql"].rstrip().rstrip(";") + ";")
    return "\n".join(script)


def sql_values(found, checks):
    """[rows] per check, from sql_script's output split by remote.sections."""
    return [found.get(str(i), []) for i in range(len(checks))]


def _sql_batch(c, checks):
    return sql_values(sections(db.psql(c, sql_script(checks))), checks)


def _django_batch(c, checks):
    code, env = django_script(checks)
    return django_values(app.shell(c, code, env=env).stdout, checks)


def evaluate(c, checks, django=None, sql=None):
    """[(check, value)] where value is a string, or a list of strings for `list = true`.

    `django` / `sql`: the Django checks' printed lines (django_values) or the SQL checks' rows
    (sql_values), already read by the caller with its own work; without them they run here,
    all SQL in one psql and all Django in one shell."""
    sq = sql_checks(checks)
    dj = django_checks(checks)
    rows = {}
    if sq:
        rows.update(zip((id(x) for x in sq), sql if sql is not None else _sql_batch(c, sq),
                        strict=False))
    if dj:
        rows.update(zip((id(x) for x in dj), django if django is not None else _django_batch(c, dj),
                        strict=False))
    out = []
    for chk in checks:
        lines = rows[id(chk)]
        if chk.get("list"):
            value = lines
        elif "sql" in chk:
            value = lines[0] if lines else ""
        else:
            value = lines[-1] if lines else ""
        out.append((chk, value))
    return out


def django_checks(checks):
    """The Django-shell checks among `checks`, in order (what `evaluate(django=...)` expects)."""
    return [chk for chk in checks if "django" in chk]


def sql_checks(checks):
    """The SQL checks among `checks`, in order (what `evaluate(sql=...)` expects)."""
    return [chk for chk in checks if "sql" in chk]


def expected(chk, baseline):
    exp = chk["expect"]
    if isinstance(exp, str) and exp.startswith("unchanged:"):
        name = exp.split(":", 1)[1]
        return baseline.get(name, f"<no audit value {name!r}>")
    return exp


def verdicts(c, checks, baseline, django=None, sql=None):
    """[(name, ok, value, expected)] for checks with an `expect` (`django`, `sql`: as in
    evaluate)."""
    out = []
    for chk, value in evaluate(c, checks, django, sql):
        want = expected(chk, baseline)
        out.append((chk["name"], str(value) == str(want), value, want))
    return out
