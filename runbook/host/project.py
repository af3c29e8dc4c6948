"""deploy.toml: what the deploy checks for one app (audits, invariants, checks, smoke, logs).

Referenced from hosts.toml (`project = "deploy.toml"`, relative to it). Validated up front like
the inventory: one line naming the file, the key and the fix.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

from runbook.engine.errors import ConfigError
from runbook.host import toml_file

CHECK_KEYS = {"name", "sql", "django", "expect", "list"}
# Failure signs in a migration's output (case-insensitive regexes; [migrations] red_flags
# replaces them). "Errors: 0" and "0 errors" do not match; "ValueError", "error:" do.
RED_FLAGS = [r"Traceback \(most recent call last\)", r"\w*Error\b", r"\w*Exception\b",
             r"\bskipp(?:ing|ed)\b", r"\bfail(?:ed|ure|ing)?\b", r"^\s*!!!"]
# How long a migration's statement may wait for a table lock before PostgreSQL cancels it
# (docs/BEHAVIOUR.md#pg-lock-timeout-cancels). 3s: inside the window only cron jobs and psql
# sessions hold locks, and outside it every request queues behind a migration waiting for ACCESS
# EXCLUSIVE, so a longer wait is a longer outage.
LOCK_TIMEOUT = "3s"
# migrate.lint's budgets (django/lint.py): seconds a migration's lock may hold inside the
# maintenance window (the window grows by it), and without one (requests queue behind it).
LOCK_BUDGET, LOCK_BUDGET_LIVE = 5.0, 0.5
SMOKE_KEYS = {"name", "method", "path", "status", "json", "headers", "json_keys", "contains",
              "capture"}


def check_patterns(patterns, where):
    """The red-flag regexes, compiled once to refuse a bad one with a one-line ConfigError."""
    for p in patterns:
        try:
            re.compile(p)
        except re.error as e:
            raise ConfigError(f"{where}: red flag {p!r} is not a regular expression ({e}); "
                              "fix or remove it") from None
    return list(patterns)


@dataclass
class Project:
    path: Path | None
    backup_json: list = field(default_factory=list)
    expect_migrations: list = field(default_factory=list)
    drops: list = field(default_factory=list)
    migration_files: list = field(default_factory=list)
    # the data-loss guards (guards.py): consent to unguarded drops, red flags in migration
    # output, data migrations that may legitimately write nothing
    unguarded_ok: list = field(default_factory=list)
    red_flags: list = field(default_factory=lambda: list(RED_FLAGS))
    no_writes_ok: list = field(default_factory=list)
    audit: list = field(default_factory=list)
    invariants: list = field(default_factory=list)
    post_checks: list = field(default_factory=list)
    smoke_base: str | None = None
    smoke: list = field(default_factory=list)
    log_patterns: list = field(default_factory=list)
    log_max: int = 0
    soak: dict = field(default_factory=dict)  # red-flag limits of verify.soak
    # deploy.release's `check --deploy`: the level that fails it, the check ids it ignores
    check_fail_level: str = "WARNING"
    check_silence: list = field(default_factory=list)
    lock_timeout: str = LOCK_TIMEOUT   # [migrations] lock_timeout; "0": not set
    lock_budget: float = LOCK_BUDGET             # [migrations] lock_budget: inside the window
    lock_budget_live: float = LOCK_BUDGET_LIVE   # [migrations] lock_budget_live: without one


SOAK_DEFAULTS = {"max_error_rate": 1.0,   # percent of 5xx responses (the plan's red flag)
                 "max_p95_ms": 500,       # p95 response time (the plan's red flag)
                 "max_connections": 0,    # PostgreSQL connections to the app db; 0 = 80 % of max
                 "min_requests": 20}      # rates are judged from this many requests on


CHECK_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")   # Django's --fail-level


def _deploy_checks(path, raw):
    """[checks]: (deploy_fail_level, silence) for deploy.release's check --deploy."""
    table = raw.get("checks", {})
    for key in table:
        if key not in ("deploy_fail_level", "silence"):
            _fail(path, f"checks.{key}", "unknown key", "use: deploy_fail_level, silence")
    level = table.get("deploy_fail_level", "WARNING")
    if level not in CHECK_LEVELS:
        _fail(path, "checks.deploy_fail_level", f"{level!r} is not a Django check level",
              f"write one of: {', '.join(CHECK_LEVELS)}")
    silence = table.get("silence", [])
    if not isinstance(silence, list) or not all(
            isinstance(x, str) and "." in x and not any(ch.isspace() for ch in x) for x in silence):
        _fail(path, "checks.silence", f"{silence!r} is not a list of check ids",
              'write e.g. silence = ["security.W004"]')
    return level, list(silence)


def _fail(path, key, problem, fix):
    raise ConfigError(f"{path}: {key}: {problem}; {fix}")


def _checks(path, raw, key, need_expect):
    items = raw.get(key, [])
    if not isinstance(items, list):
        _fail(path, key, "expected an array of tables", f"write [[{key}]] blocks")
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, dict) or not item.get("name"):
            _fail(path, where, "needs a name", 'add name = "..."')
        unknown = set(item) - CHECK_KEYS
        if unknown:
            _fail(path, f"{where}.{sorted(unknown)[0]}", "unknown key",
                  f"use: {', '.join(sorted(CHECK_KEYS))}")
        if ("sql" in item) == ("django" in item):
            _fail(path, where, "needs exactly one of sql or django", "give one query")
        if need_expect and "expect" not in item:
            _fail(path, where, "has no expect", 'add expect = 0 (or "unchanged:NAME")')
    return items


MIGRATION_KEYS = ("expect", "drops", "files", "unguarded_ok", "red_flags", "no_writes_ok",
                  "lock_timeout", "lock_budget", "lock_budget_live")
DURATION = re.compile(r"^(\d+(?:\.\d+)?) ?(us|ms|s|min|h|d)$")   # PostgreSQL's time units
DURATION_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def lock_timeout(path, value):
    """A [migrations] lock_timeout as PostgreSQL reads it, "0" when off; a ConfigError when it
    has no unit, or would round to 0 (under 1ms) or overflow (over 2^31-1 ms) in PostgreSQL."""
    if value == "0" or (type(value) is int and value == 0):
        return "0"
    m = DURATION.match(value) if isinstance(value, str) else None
    ms = float(m[1]) * DURATION_MS[m[2]] if m else -1
    if ms == 0:
        return "0"
    if not 1 <= ms <= 2**31 - 1:
        _fail(path, "migrations.lock_timeout", f"{value!r} is not a PostgreSQL duration from 1ms "
              "to 24 days", 'write e.g. lock_timeout = "3s" (or "500ms", "1min"; 0 turns it off)')
    return value


def _seconds(path, mig, key, default):
    """[migrations] KEY as seconds >= 0, or a one-line ConfigError."""
    value = mig.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        _fail(path, f"migrations.{key}", f"{value!r} is not a number of seconds >= 0",
              f"write {key} = {default:g}")
    return float(value)


def _strings(path, table, key):
    """table[key] as a list of strings, or a one-line ConfigError."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        _fail(path, f"migrations.{key}", "expected a list of strings", f'write {key} = ["..."]')
    return value


def load(path):
    """Read deploy.toml; a missing `project` key gives an empty Project (no app checks)."""
    if path is None:
        return Project(None)
    path = Path(path)
    raw = _read(path)
    mig = _migrations(path, raw)
    smoke = raw.get("smoke", {})
    logs = raw.get("logs", {})
    soak, checks = _soak(path, raw), _smoke_checks(path, smoke)
    fail_level, silence = _deploy_checks(path, raw)
    return Project(
        path=path,
        backup_json=list(raw.get("backup", {}).get("json", [])),
        expect_migrations=list(mig.get("expect", [])),
        drops=list(mig.get("drops", [])),
        migration_files=list(mig.get("files", [])),
        unguarded_ok=list(mig.get("unguarded_ok", [])),
        red_flags=check_patterns(_strings(path, mig, "red_flags") if "red_flags" in mig
                                 else RED_FLAGS, f"{path}: migrations.red_flags"),
        no_writes_ok=list(mig.get("no_writes_ok", [])),
        audit=_checks(path, raw, "audit", need_expect=False),
        invariants=_checks(path, raw, "invariants", need_expect=True),
        post_checks=_checks(path, raw, "post_checks", need_expect=True),
        smoke_base=smoke.get("base"),
        smoke=checks,
        log_patterns=list(logs.get("patterns", [])),
        log_max=int(logs.get("max_matches", 0)),
        soak=soak,
        check_fail_level=fail_level,
        check_silence=silence,
        lock_timeout=lock_timeout(path, mig.get("lock_timeout", LOCK_TIMEOUT)),
        lock_budget=_seconds(path, mig, "lock_budget", LOCK_BUDGET),
        lock_budget_live=_seconds(path, mig, "lock_budget_live", LOCK_BUDGET_LIVE),
    )


TOP_KEYS = {"backup", "migrations", "audit", "invariants", "post_checks", "smoke", "logs", "soak",
            "checks"}


def _read(path):
    """The parsed TOML, its top-level keys checked; a missing or malformed file named."""
    raw = toml_file.read(path, "no such project file; fix `project` in the inventory")
    for key in raw:
        if key not in TOP_KEYS:
            _fail(path, key, "unknown key", f"use one of: {', '.join(sorted(TOP_KEYS))}")
    return raw


def _migrations(path, raw):
    """[migrations], its keys known and its consent lists naming app.migration."""
    mig = raw.get("migrations", {})
    for key in mig:
        if key not in MIGRATION_KEYS:
            _fail(path, f"migrations.{key}", "unknown key", f"use: {', '.join(MIGRATION_KEYS)}")
    for key in ("unguarded_ok", "no_writes_ok"):
        for name in _strings(path, mig, key):
            if "." not in name:
                _fail(path, f"migrations.{key}", f"{name!r} is not app.migration",
                      'write e.g. "workshops.0025_remove_userprofile"')
    return mig


def _soak(path, raw):
    """[soak] over SOAK_DEFAULTS: known keys, each a number >= 0."""
    soak = {**SOAK_DEFAULTS, **raw.get("soak", {})}
    for key, value in soak.items():
        if key not in SOAK_DEFAULTS:
            _fail(path, f"soak.{key}", "unknown key", f"use: {', '.join(SOAK_DEFAULTS)}")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            _fail(path, f"soak.{key}", f"{value!r} is not a number >= 0", f"write {key} = 1")
    return soak


def _smoke_checks(path, smoke):
    """[[smoke.checks]]: known keys, each path starting with /."""
    checks = smoke.get("checks", [])
    for i, item in enumerate(checks):
        unknown = set(item) - SMOKE_KEYS
        if unknown:
            _fail(path, f"smoke.checks[{i}].{sorted(unknown)[0]}", "unknown key",
                  f"use: {', '.join(sorted(SMOKE_KEYS))}")
        if not item.get("path", "").startswith("/"):
            _fail(path, f"smoke.checks[{i}].path", "must start with /", 'write path = "/healthz"')
    return checks
