# Runs inside `manage.py shell` before the migrations of one stage, its parameters the JSON in
# RB_GUARD (guards.script): the data-loss guard in the migrating process itself.
#
# - Every data operation (RunPython, RunSQL) is watched: what it prints (stdout and stderr) is
#   scanned for the red-flag patterns, and the rows it wrote are counted from
#   pg_stat_xact_user_tables, which shows the current transaction's own writes at once
#   (docs/GUARDS.md, docs/BEHAVIOUR.md#pg-stat-xact-user-tables). Each is reported as an
#   `@@data-op {json}` line.
# - Before every dropping operation (DeleteModel, RemoveField) the rows it would drop are counted
#   (`@@drop {json}`), and the drop is refused - the exception rolls the atomic migration back
#   (docs/BEHAVIOUR.md#django-migration-atomic) - when a data operation of this deploy printed a
#   red flag, or when every data operation before it wrote no row while the drop would remove
#   rows: a failure swallowed in silence looks exactly like that.
# Names start with _g so they never collide with the stage's own code.
import io as _gio
import json as _gjson
import logging as _glogging
import os as _gos
import re as _gre
import sys as _gsys

from django.db.migrations import operations as _gops
from django.db.migrations.migration import Migration as _GMigration

_GUARD = _gjson.loads(_gos.environ["RB_GUARD"])
_GFLAGS = [_gre.compile(p, _gre.I | _gre.M) for p in _GUARD["flags"]]
_GOPS = list(_GUARD["prior"])  # data operations of earlier stages of this deploy
_GNO_WRITES_OK = set(_GUARD["no_writes_ok"])  # may legitimately write nothing
_GCURRENT = [""]
_GCAP = 1000000   # rows counted at most: the verdict needs "are there rows", not a full scan


class _GuardStop(Exception):
    """A drop refused by the guard (the migration's transaction is rolled back)."""


class _GTee(_gio.TextIOBase):
    def __init__(self, real):
        self.real, self.parts = real, []

    def write(self, s):
        self.parts.append(s)
        return self.real.write(s)

    def flush(self):
        self.real.flush()


class _GLogged(_glogging.Handler):
    """What the app logs at WARNING and up while a data operation runs (its handlers keep the
    real stderr, which the tee never sees)."""

    def __init__(self):
        super().__init__(_glogging.WARNING)
        self.lines = []

    def emit(self, record):
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record that cannot format is still kept, raw
            self.lines.append(str(record.msg))


def _gwritten(conn):
    """Rows inserted, updated or deleted so far in the current transaction (None outside one).
    A transaction already marked for rollback means a database error was swallowed: stop."""
    if conn.needs_rollback:
        raise _GuardStop("%s swallowed a database error (its transaction is marked for "
                         "rollback)" % _GCURRENT[0])
    if not conn.in_atomic_block:
        return None
    with conn.cursor() as cur:
        cur.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)"
                    " FROM pg_stat_xact_user_tables")
        return int(cur.fetchone()[0])


def _greport(kind, record):
    # on a line of its own: Django's "  Applying app.0003..." is still open when an operation runs
    # (docs/BEHAVIOUR.md#django-migrate-progress-line)
    _gsys.__stdout__.write("\n@@%s %s\n" % (kind, _gjson.dumps(record)))
    _gsys.__stdout__.flush()


_g_orig_apply = _GMigration.apply


def _gapply(self, project_state, schema_editor, collect_sql=False):
    _GCURRENT[0] = "%s.%s" % (self.app_label, self.name)
    return _g_orig_apply(self, project_state, schema_editor, collect_sql)


def _gwatch(orig):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        conn = schema_editor.connection
        before = _gwritten(conn)
        out, err, logged = _GTee(_gsys.stdout), _GTee(_gsys.stderr), _GLogged()
        _gsys.stdout, _gsys.stderr = out, err
        _glogging.getLogger().addHandler(logged)
        try:
            orig(self, app_label, schema_editor, from_state, to_state)
        finally:
            _gsys.stdout, _gsys.stderr = out.real, err.real
            _glogging.getLogger().removeHandler(logged)
        after = _gwritten(conn)
        text = "".join(out.parts + err.parts) + "\n".join(logged.lines)
        flags = [line.strip() for line in text.splitlines()
                 if line.strip() and any(f.search(line) for f in _GFLAGS)]
        record = {"migration": _GCURRENT[0], "op": type(self).__name__,
                  "written": None if before is None or after is None else after - before,
                  "flags": flags[:5]}
        _GOPS.append(record)
        _greport("data-op", record)
    return database_forwards


def _gtarget(op, app_label, state, conn):
    """(table, column or None) that `op` drops, from the model state before it; None when
    Django itself would not touch the database (a proxy or unmanaged model, a router's no)."""
    name = op.name if isinstance(op, _gops.DeleteModel) else op.model_name
    model = state.apps.get_model(app_label, name)
    if not op.allow_migrate_model(conn.alias, model):
        return None
    if isinstance(op, _gops.DeleteModel):
        return model._meta.db_table, None
    field = model._meta.get_field(op.name)
    if field.many_to_many:
        return field.remote_field.through._meta.db_table, None
    return model._meta.db_table, field.column


def _gcount(conn, table, column):
    """Rows of `table` (non-null values of `column`), counted up to just over _GCAP."""
    q = conn.ops.quote_name
    where = " WHERE %s IS NOT NULL" % q(column) if column else ""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM (SELECT 1 FROM %s%s LIMIT %d) _g"
                    % (q(table), where, _GCAP + 1))
        return int(cur.fetchone()[0])


def _gguard(orig):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        conn = schema_editor.connection
        target = _gtarget(self, app_label, from_state, conn)
        if target is None:
            return orig(self, app_label, schema_editor, from_state, to_state)
        table, column = target
        rows = _gcount(conn, table, column)
        where = "%s.%s" % (table, column) if column else table
        _greport("drop", {"migration": _GCURRENT[0], "op": type(self).__name__,
                          "target": where, "rows": rows})
        flagged = [r for r in _GOPS if r["flags"]]
        if flagged:
            r = flagged[0]
            raise _GuardStop("%s printed %r, a sign of a swallowed failure; refused to drop %s "
                             "(%d %s)" % (r["migration"], r["flags"][0], where, rows,
                                          "values" if column else "rows"))
        watched = [r for r in _GOPS if r["migration"] not in _GNO_WRITES_OK]
        counted = [r for r in watched if r["written"] is not None]
        if rows and counted and all(r["written"] == 0 for r in counted):
            names = ", ".join(sorted({r["migration"] for r in counted}))
            raise _GuardStop("the data migration(s) %s wrote no row, yet %s holds %d %s that "
                             "%s drops: a failure swallowed in silence?" % (
                                 names, where, rows, "values" if column else "rows",
                                 _GCURRENT[0]))
        orig(self, app_label, schema_editor, from_state, to_state)
    return database_forwards


_GMigration.apply = _gapply
for _gcls in (_gops.RunPython, _gops.RunSQL):
    _gcls.database_forwards = _gwatch(_gcls.database_forwards)
for _gcls in (_gops.DeleteModel, _gops.RemoveField):
    _gcls.database_forwards = _gguard(_gcls.database_forwards)
