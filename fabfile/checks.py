"""Run the app's configured checks (deploy.toml): SQL or Django-shell queries with expectations.

All SQL checks of a batch go to the host in one psql call (one round trip); each Django check
is one `manage.py shell` with the code on stdin.
"""
import io

from . import app, db
from .remote import sections


def _sql_batch(c, checks):
    script = []
    for i, chk in enumerate(checks):
        script.append(f"\\echo @@{i}")
        script.append(chk["sql"].rstrip().rstrip(";") + ";")
    values = sections(db.psql(c, "\n".join(script)))
    return [values.get(str(i), []) for i in range(len(checks))]


def _django(c, code):
    r = c.run(f"{app.prefix(c)} shell", in_stream=io.StringIO(code.strip() + "\n"), hide=True)
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    return lines


def evaluate(c, checks):
    """[(check, value)] where value is a string, or a list of strings for `list = true`."""
    sql = [chk for chk in checks if "sql" in chk]
    sql_rows = dict(zip((id(x) for x in sql), _sql_batch(c, sql))) if sql else {}
    out = []
    for chk in checks:
        rows = sql_rows[id(chk)] if "sql" in chk else _django(c, chk["django"])
        if chk.get("list"):
            value = rows
        elif "sql" in chk:
            value = rows[0] if rows else ""
        else:
            value = rows[-1] if rows else ""
        out.append((chk, value))
    return out


def expected(chk, baseline):
    exp = chk["expect"]
    if isinstance(exp, str) and exp.startswith("unchanged:"):
        name = exp.split(":", 1)[1]
        return baseline.get(name, f"<no audit value {name!r}>")
    return exp


def verdicts(c, checks, baseline):
    """[(name, ok, value, expected)] for checks with an `expect`."""
    out = []
    for chk, value in evaluate(c, checks):
        want = expected(chk, baseline)
        out.append((chk["name"], str(value) == str(want), value, want))
    return out
