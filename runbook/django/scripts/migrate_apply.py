# Runs inside `manage.py shell` after scripts/migration_guard.py (migrate.apply): `migrate APP
# NAME --noinput` for each [app, name] of RB_MIGRATE_TARGETS (JSON), in this one Django process,
# system checks kept. A drop the guard refuses prints "@@guard-stop <why>" and exits 3.
# RB_LOCK_TIMEOUT ([migrations] lock_timeout) is set for this session first: a statement that
# waits longer for a lock is cancelled with SQLSTATE 55P03 and its migration rolled back
# (docs/BEHAVIOUR.md#pg-lock-timeout-cancels); that prints "@@lock-timeout {json}" (the sessions
# holding locks on the tables its statement names) and exits 4.
import json
import os
import re
import sys

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

_LOCK_TIMEOUT = os.environ.get("RB_LOCK_TIMEOUT")
_HOLDERS_SQL = """
SELECT c.relname, l.pid, l.mode, a.usename, a.application_name, a.state,
       to_char(a.xact_start AT TIME ZONE 'UTC', 'HH24:MI:SS')
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND strpos(%s, '"' || c.relname || '"') > 0
ORDER BY a.xact_start NULLS LAST LIMIT 5"""
_last_sql = [""]   # the statement that waited: Django writes its tables' names in double quotes
# CONCURRENTLY waits for older transactions without blocking anyone: cancelled by lock_timeout it
# would leave an INVALID index behind, so it runs without one (the safer pattern stays safe).
_CONCURRENTLY = re.compile(r"^\s*(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX\b.*?)\s+"
                           r"CONCURRENTLY\b", re.I | re.S)


def _remember(execute, sql, params, many, context):
    _last_sql[0] = sql
    if not (_LOCK_TIMEOUT and _CONCURRENTLY.match(sql or "")):
        return execute(sql, params, many, context)
    raw = context["cursor"].cursor   # the driver's cursor: not through this wrapper again
    raw.execute("SELECT set_config('lock_timeout', '0', false)")
    try:
        return execute(sql, params, many, context)
    finally:
        raw.execute("SELECT set_config('lock_timeout', %s, false)", [_LOCK_TIMEOUT])


def _lock_timed_out(e):
    """Whether the driver's error under Django's (its __cause__) is 55P03 lock_not_available."""
    while e is not None:
        if "55P03" in (getattr(e, "sqlstate", None), getattr(e, "pgcode", None)):
            return True
        e = e.__cause__ or e.__context__
    return False


def _applied():
    """Every migration django_migrations records as applied ("app.name"): what the failure line
    says is applied comes from the database, not from reading Django's output."""
    try:
        from django.db.migrations.recorder import MigrationRecorder
        return sorted("%s.%s" % k for k in MigrationRecorder(connection).applied_migrations())
    except Exception:  # noqa: BLE001 - the report must not hide the failure it reports
        return None


def _lock_holders():
    """The other sessions holding locks on the tables the timed-out statement names (best effort:
    they may have let go already)."""
    keys = ("table", "pid", "mode", "user", "app", "state", "since")
    try:
        with connection.cursor() as cur:
            cur.execute(_HOLDERS_SQL, [_last_sql[0]])
            return [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]
    except Exception:  # noqa: BLE001 - the report must not hide the failure it reports
        return []


sys.stdout.reconfigure(line_buffering=True)
if _LOCK_TIMEOUT:   # set_config, not SET: SET takes no bound parameter (psycopg 3 binds them)
    with connection.cursor() as _cur:
        _cur.execute("SELECT set_config('lock_timeout', %s, false)", [_LOCK_TIMEOUT])
for _app, _name in json.loads(os.environ["RB_MIGRATE_TARGETS"]):
    try:
        with connection.execute_wrapper(_remember):
            call_command("migrate", _app, _name, interactive=False, skip_checks=False)
    except _GuardStop as _e:  # noqa: F821 - the guard's: it refused a drop (rolled back)
        sys.stdout.flush()
        print("\n@@guard-stop %s" % _e, flush=True)
        sys.exit(3)
    except CommandError as _e:
        sys.stdout.flush()
        sys.stderr.write("CommandError: %s\n" % _e)
        sys.exit(1)
    except Exception as _e:
        if not _lock_timed_out(_e):
            raise
        print("\n@@lock-timeout %s" % json.dumps({"holders": _lock_holders(),
                                                   "applied": _applied()}), flush=True)
        sys.exit(4)
