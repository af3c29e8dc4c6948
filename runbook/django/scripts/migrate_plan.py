# Runs inside `manage.py shell` after scripts/migration_guard.py (migrate.plan): the pending
# migrations up to RB_PLAN_TARGET (JSON [app, name], or null: every leaf) from Django's own
# executor, each operation described; for a drop, what it removes now and its rows (the guard's
# _gtarget and _gcount: one way to name and count them, at plan time and at drop time); the SQL
# each migration would run, collected the way `sqlmigrate` does, nothing executed (migrate.lint;
# docs/BEHAVIOUR.md#django-collect-sql).
# Prints one line: "@@PLAN [...]".
import json
import os

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import DeleteModel, RemoveField

ex = MigrationExecutor(connection)
target = json.loads(os.environ["RB_PLAN_TARGET"])
targets = [tuple(target)] if target else ex.loader.graph.leaf_nodes()
out = []
_sql_state = None


def _collect_sql(mig, backwards):
    """The statements `mig` would run (sqlmigrate's way: the schema editor collects them)."""
    global _sql_state
    with connection.schema_editor(collect_sql=True, atomic=mig.atomic) as editor:
        if _sql_state is None:
            _sql_state = ex.loader.project_state((mig.app_label, mig.name), at_end=False)
        step = mig.unapply if backwards else mig.apply
        _sql_state = step(_sql_state, editor, collect_sql=True)
    return [s for s in editor.collected_sql if not s.lstrip().startswith("--")]


for mig, backwards in ex.migration_plan(targets):
    ops = []
    state = None
    for o in mig.operations:
        op = {"op": type(o).__name__, "describe": o.describe(),
              "reversible": bool(getattr(o, "reversible", True))}
        if hasattr(o, "field") and type(o).__name__ == "AddField":  # NULL: old code's INSERTs work
            op["null"] = bool(getattr(o.field, "null", False))
        if not backwards and isinstance(o, (DeleteModel, RemoveField)):
            try:   # what the drop removes now: "table" or "table.column", and its rows
                state = state or ex.loader.project_state((mig.app_label, mig.name), at_end=False)
                found = _gtarget(o, mig.app_label, state, connection)  # noqa: F821 - the guard's
                if found:
                    table, column = found
                    op["target"] = table + ("." + column if column else "")
                    op["rows"] = _gcount(connection, table, column)  # noqa: F821 - the guard's
            except Exception as e:  # noqa: BLE001 - the plan still lists it; the guard counts at drop time
                op["target"] = "unknown (%s)" % type(e).__name__
        ops.append(op)
    entry = {"migration": mig.app_label + "." + mig.name, "backwards": backwards, "ops": ops,
             "atomic": bool(mig.atomic)}
    try:   # what migrate.lint reads (it lints forwards plans only)
        if not backwards:
            entry["sql"] = _collect_sql(mig, backwards)
    except Exception as e:  # noqa: BLE001 - the plan stands without it; the lint says why
        entry["sql_error"] = "%s: %s" % (type(e).__name__, e)
        _sql_state = None
    out.append(entry)
print("@@PLAN " + json.dumps(out))
