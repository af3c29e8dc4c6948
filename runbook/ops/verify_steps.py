"""The verification steps of a deploy: audit, post-migration checks, smoke, logs.

Each is a `step_*(c, run)` for the runner and is also exposed as a `verify.*` task.
"""
import json
import re

from runbook.django import checks
from runbook.engine.errors import ConfigError
from runbook.engine.runner import LOCAL, Failed, commands
from runbook.engine.scripts import script
from runbook.host import httpcheck
from runbook.host.remote import atomic_write, q, read_text, run_script, sections
from runbook.postgres import db


def audit(c):
    """{name: value} of the project's audit queries."""
    return {chk["name"]: value for chk, value in checks.evaluate(c, c.site.inventory.project.audit)}


def render_audit(values):
    lines = []
    for name, value in values.items():
        if isinstance(value, list):
            lines.append(f"  {name}: {len(value)}")
            lines.extend(f"      - {v}" for v in value[:20])
            if len(value) > 20:
                lines.append(f"      ... {len(value) - 20} more")
        else:
            lines.append(f"  {name}: {value}")
    return "\n".join(lines)


@commands(lambda c, run: [
    f"{db.shown_psql(c)}  <- the {len(c.site.inventory.project.audit)} [[audit]] queries of deploy.toml",
    f"write {c.site.backup.dir}/{run.data.backup or '<run id>'}/audit.json"])
def step_audit(c, run):
    """The project's audit queries (deploy.toml [[audit]]): shown, and saved beside the backup
    as the baseline the invariants and post checks compare with."""
    values = audit(c)
    run.data.audit = values
    run.say(render_audit(values))
    where = f"{c.site.backup.dir}/{run.data.backup or run.run_id}"
    c.run(f"mkdir -p {q(where)} && chmod 0700 {q(where)}", hide=True)
    atomic_write(c, f"{where}/audit.json", json.dumps(values, indent=2) + "\n")
    return f"saved {where}/audit.json"


def keep_audit(c, run, prior):
    """--resume: the failed run's audit (taken before any migration), read back from beside its
    backup; the invariants and post checks compare with it, so it is never taken again after
    the database may have changed."""
    path = f"{c.site.backup.dir}/{run.data.backup or prior.backup}/audit.json"
    text = read_text(c, path)
    if text is None:
        if "migrated" in prior.changed:
            raise Failed(f"the audit of run {prior.run_id} ({path}) is gone and the database "
                         "was migrated since: the checks have nothing true to compare with",
                         recovery="check the host by hand; deploy anew without --resume")
        return None   # the database is as it was: a new audit sees the same values
    run.data.audit = json.loads(text)
    return f"read back from {path}"


@commands(lambda c, run: [
    f"{db.shown_psql(c)}  <- the [[post_checks]] SQL, every table's row count and md5",
    "manage.py shell  <- the Django post checks (unless migrate.run ran them)"])
def step_post(c, run):
    """The project's post checks, plus: no table lost rows except those the plan drops.

    Its SQL checks and the table fingerprints go in one psql; its Django checks were run by
    migrate.run in its last Django process when it could (run.data.post_django)."""
    project = c.site.inventory.project
    read, run.data.post_django = run.data.post_django, None   # read once
    django = (checks.django_values(read, checks.django_checks(project.post_checks))
              if read is not None else None)
    manifest = run.data.manifest
    sql_checks = checks.sql_checks(project.post_checks)
    found = {}
    if sql_checks or manifest:
        script = checks.sql_script(sql_checks)
        if manifest:
            script += "\n\\echo @@fingerprints\n" + db.ROW_COUNTS_GEXEC   # rows only: no hashing
        found = sections(db.psql(c, script))
    verdicts = checks.verdicts(c, project.post_checks, run.data.audit, django,
                               checks.sql_values(found, sql_checks))
    for name, ok, value, want in verdicts:
        run.say(f"    {'ok  ' if ok else 'FAIL'} {name}: {value} (expected {want})")
    bad = [f"'{n}' is {v}, expected {w}" for n, ok, v, w in verdicts if not ok]
    if manifest:
        now = db.parse_fingerprints(found.get("fingerprints", []))
        for table, meta in manifest["tables"].items():
            if table in project.drops:
                continue
            have = now.get(table)
            if have is None:
                bad.append(f"table {table} is gone (not in the plan's drops)")
            elif have[0] < meta["rows"]:
                bad.append(f"table {table} lost rows: {have[0]} < {meta['rows']}")
    if bad:
        raise Failed("post-migration verification failed: " + "; ".join(bad))
    return f"{len(verdicts)} checks passed; no table lost rows"


def _expand(value, env):
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: str(env(m.group(1))), value)
    if isinstance(value, dict):
        return {k: _expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env) for v in value]
    return value


def smoke(c, bypass=False):
    """[(name, ok, detail)] for the configured HTTP checks; tokens captured flow to later checks."""
    project = c.site.inventory.project
    base = c.site.smoke.base or project.smoke_base
    if project.smoke and not base:
        raise ConfigError(f"no base URL for the smoke checks of {c.site.name}; set [smoke] base in "
                          f"{project.path} or hosts.{c.site.name}.smoke.base")
    captured = {}
    capturable = {var for chk in project.smoke for var in chk.get("capture", {})}

    class NotCaptured(Exception):
        pass

    def env(name):
        if name in captured:
            return captured[name]
        if name in capturable:
            raise NotCaptured(name)
        return c.site.secret(name)

    results = []
    for chk in project.smoke:
        try:
            headers = _expand(chk.get("headers", {}), env)
            path = _expand(chk["path"], env)
            body = _expand(chk.get("json"), env) if "json" in chk else None
        except NotCaptured as e:
            results.append((chk["name"], False, f"not run: ${{{e}}} was not captured by an "
                                                "earlier check"))
            continue
        if bypass:
            headers.update(httpcheck.bypass_headers(c))
        status, body = httpcheck.request(c, base.rstrip("/") + path,
                                    chk.get("method", "GET"), headers, body)
        problems = []
        if status != chk.get("status", 200):
            problems.append(f"status {status}, expected {chk.get('status', 200)}")
        data = None
        if chk.get("json_keys") or chk.get("capture"):
            try:
                data = json.loads(body)
            except ValueError:
                problems.append("body is not JSON")
        for key in chk.get("json_keys", []):
            if data is not None and key not in data:
                problems.append(f"JSON has no {key!r}")
        if chk.get("contains") and chk["contains"] not in body:
            problems.append(f"body lacks {chk['contains']!r}")
        for var, key in chk.get("capture", {}).items():
            if isinstance(data, dict) and key in data:
                captured[var] = data[key]
                if maskable(data[key]):   # a token: masked like a secret
                    c.site.secrets[f"captured:{var}"] = str(data[key])
            else:
                problems.append(f"nothing to capture at {key!r}")
        results.append((chk["name"], not problems, "; ".join(problems) or f"{status}"))
    return results


def maskable(value):
    """A captured value to mask in output: a string of 8+ characters (a token). An id such as
    1 is not a secret, and masking it would star every "1" of the output."""
    return isinstance(value, str) and len(value) >= 8


@commands(lambda c, run: [
    f"{chk.get('method', 'GET')} {chk['path']}  (HTTP from the host, smoke check {chk['name']})"
    for chk in c.site.inventory.project.smoke] or [LOCAL])
def step_smoke(c, run, bypass=False):
    """The smoke contract (deploy.toml [smoke]): each HTTP check from the host must pass."""
    results = smoke(c, bypass)
    for name, ok, detail in results:
        run.say(f"    {'ok  ' if ok else 'FAIL'} {name}: {detail}")
    bad = [f"{n}: {d}" for n, ok, d in results if not ok]
    if bad:
        raise Failed("smoke checks failed: " + "; ".join(bad))
    return f"{len(results)} smoke checks passed"


def log_files(c):
    """The logs verify.logs scans: the app's files, its units' journals ("journal:UNIT"), nginx's."""
    return (list(c.site.app.log_files) + [f"journal:{u}" for u in c.site.app.journal_units]
            + [c.site.nginx.access_log, c.site.nginx.error_log])


def log_sizes(lines, user="the SSH user"):
    """{log: position} from "LOG POSITION" lines (log_position.sh); a journal the user cannot
    read is a one-line failure with the fix, before the run changes anything."""
    pairs = [line.rsplit(" ", 1) for line in lines if line.strip()]
    blind = [f.removeprefix("journal:") for f, pos in pairs if pos == "-1"]
    if blind:
        raise Failed(f"{user} cannot read the journal of {', '.join(blind)} (app.journal_units): "
                     f"add it to the systemd-journal group (sudo usermod -aG systemd-journal "
                     f"{user}), or take the unit out of app.journal_units")
    return {f: int(pos) for f, pos in pairs}


def log_offsets(c, tail_bytes=0):
    """{log: position now}; a standalone scan (`tail_bytes` > 0) looks at the recent past: that
    many bytes of a file, the last hour of a unit's journal."""
    r = run_script(c, script("runbook.ops", "log_position.sh", "log_sizes.sh"), *log_files(c))
    sizes = log_sizes(r.stdout.splitlines(), getattr(c, "user", None) or "the SSH user")
    back = {True: 3600 if tail_bytes else 0, False: tail_bytes}
    return {f: max(0, pos - back[f.startswith("journal:")]) for f, pos in sizes.items()}


def scan_since(c, offsets):
    """{pattern: [lines]} in the bytes each log gained since `offsets` were taken."""
    project = c.site.inventory.project
    if not project.log_patterns:
        return {}
    r = run_script(c, script("runbook.ops", "log_scan.sh"),
                   *(x for f, off in offsets.items() for x in (f, int(off))),
                   env={"RB_PATTERNS": "\n".join(project.log_patterns)})
    found = {}
    for path, lines in sections(r.stdout).items():
        for line in lines:
            for p in project.log_patterns:
                if p in line:
                    found.setdefault(p, []).append(f"{path}: {line.strip()[:200]}")
    return found


@commands(lambda c, run: [
    f"journalctl -u {q(f.removeprefix('journal:'))} --since @START | grep -F <the [logs] patterns>"
    if f.startswith("journal:") else f"tail -c +OFFSET {q(f)} | grep -F <the [logs] patterns>"
    for f in log_files(c)])
def step_logs(c, run):
    """The app's and nginx's logs, since the run started, scanned for the red flags ([logs])."""
    project = c.site.inventory.project
    found = scan_since(c, run.data.log_offsets)
    total = sum(len(v) for v in found.values())
    for p, lines in found.items():
        run.say(f"    {len(lines)} x {p!r}: {lines[0]}")
    if total > project.log_max:
        raise Failed(f"{total} red-flag log line(s) since the deploy started (max "
                     f"{project.log_max}): " + ", ".join(f"{p!r} x{len(v)}" for p, v in found.items()))
    return f"no red flags in {len(run.data.log_offsets)} logs" if not total else \
        f"{total} red-flag line(s), within the max {project.log_max}"
