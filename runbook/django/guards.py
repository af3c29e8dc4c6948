"""The data-loss guards built into every migration, with or without a deploy.toml.

1. An unguarded destructive operation is refused before anything changes: a pending DeleteModel,
   RemoveField or irreversible RunSQL needs an invariant in deploy.toml (checked between the
   stages), an `[migrations] unguarded_ok` entry, or `--allow-unguarded`.
2. The output of the non-destructive stage is read: a red flag (a traceback, "Error",
   "skipping", ...) stops the run before the destructive stage, even when every invariant holds.
3. What each dropping operation removes is counted and shown before it runs.
4. Inside the migrating process (scripts/migration_guard.py) a drop is refused when a data
   migration printed a red flag, or when every data migration wrote no row while the drop
   would remove rows (a failure swallowed in silence, which `migrate` reports as OK:
   docs/BEHAVIOUR.md#django-swallowed-error-migrates-ok).
docs/GUARDS.md says what these catch and what they cannot.
"""
import ast
import json
import re

from runbook.engine.scripts import script as load
from runbook.host.project import RED_FLAGS

DROPPING = {"DeleteModel", "RemoveField"}
STOP = "data-loss guard: "      # the reason of every guard stop starts so (resume looks for it)
MARK = re.compile(r"^@@(data-op|drop|guard-stop) (.*)$", re.M)


def scan(text, patterns=RED_FLAGS):
    """The lines of `text` that match a red flag (the tool's own @@ lines left out)."""
    rx = [re.compile(p, re.I) for p in patterns]
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.startswith("@@") and any(r.search(line) for r in rx)]


FLAG_CHARS = 200   # of an earlier stage's first red-flag line, all the guard quotes of it


def slim(record):
    """What the guard reads of an earlier stage's data operation: its name, rows written and
    first red-flag line (cut short). The parameters go on the host's command line (RB_GUARD), so
    they must not grow with the app's output: shown in `ps`, and a command is at most 128 KiB."""
    flags = [str(f)[:FLAG_CHARS] for f in record.get("flags", [])[:1]]
    return {**{k: record[k] for k in ("migration", "op", "written") if k in record},
            "flags": flags}


def script(project, prior=()):
    """(code, env): the guard to run before a stage's migrations (the host's Python, one
    process), its parameters in the env."""
    params = {"flags": project.red_flags, "prior": [slim(r) for r in prior],
              "no_writes_ok": project.no_writes_ok}
    return load("runbook.django", "migration_guard.py"), {"RB_GUARD": json.dumps(params)}


def reports(text):
    """(data-op records, drop records, guard-stop reason or None) from a stage's output."""
    ops, drops, stop = [], [], None
    for kind, body in MARK.findall(text):
        if kind == "guard-stop":
            stop = body.strip()
        else:
            (ops if kind == "data-op" else drops).append(json.loads(body))
    return ops, drops, stop


# --- 1. unguarded destructive operations ------------------------------------------------------

def lossy_ops(entries):
    """[(migration, op name, description)] of the operations that destroy data for good."""
    out = []
    for e in entries:
        for op in e["ops"]:
            if op["op"] in DROPPING or (op["op"] == "RunSQL" and not op["reversible"]):
                out.append((e["migration"], op["op"], op["describe"]))
    return out


def unguarded(entries, project, allow=False):
    """The one-line refusal for destructive operations no invariant guards, or None."""
    if allow or project.invariants:
        return None
    bad = [x for x in lossy_ops(entries) if x[0] not in project.unguarded_ok]
    if not bad:
        return None
    mig, op, describe = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return (f"{mig} will {describe[0].lower() + describe[1:]} ({op}){more} and no invariant "
            f"guards it: add an [[invariants]] check to deploy.toml proving the data is safe "
            f"first, or consent with --allow-unguarded (or [migrations] unguarded_ok = "
            f"[\"{mig}\"])")


def source_entries(sources):
    """Plan entries [{migration, ops}] read from migration files' text ({name: source}), for the
    refusal before the code moves. A file that does not parse gives no operations (Django's own
    plan is checked again once the code is there)."""
    return [{"migration": name, "backwards": False, "ops": source_ops(text)}
            for name, text in sorted(sources.items())]


def source_ops(text):
    """[{op, describe, reversible}] of a migration file's `operations = [...]` list."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "operations" for t in node.targets) \
                and isinstance(node.value, (ast.List, ast.Tuple)):
            return [_op(call) for call in node.value.elts if isinstance(call, ast.Call)]
    return []


def _op(call):
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "?")
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    reverse = {"RunSQL": "reverse_sql", "RunPython": "reverse_code"}.get(name)
    given = kw.get(reverse) if reverse else None
    if reverse and given is None and len(call.args) > 1:
        given = call.args[1]
    reversible = not reverse or (given is not None and not (
        isinstance(given, ast.Constant) and given.value is None))
    first = call.args[0] if call.args else kw.get("name")
    label = first.value if isinstance(first, ast.Constant) else ""
    if name == "RemoveField":
        model = kw.get("model_name", call.args[0] if call.args else None)
        field = kw.get("name", call.args[1] if len(call.args) > 1 else None)
        label = ".".join(x.value for x in (model, field) if isinstance(x, ast.Constant))
    describe = {"DeleteModel": f"Delete model {label}", "RemoveField": f"Remove field {label}",
                "RunSQL": "Raw SQL operation"}.get(name, name)
    return {"op": name, "describe": describe, "reversible": reversible}


# --- 3. what the drops remove --------------------------------------------------------------

CAP = 1_000_000   # the guard counts rows up to just over this (scripts/migration_guard.py)


def removes(target, rows):
    """'table: N rows' / 'table.column: N values', "over 1000000" past the count's cap."""
    n = f"over {CAP}" if rows > CAP else str(rows)
    return f"{target}: {n} {'values' if '.' in target else 'rows'}"


def drop_lines(drops):
    """Human lines for @@drop records: what each dropping operation removes."""
    return [f"{d['migration']}: {d['op']} drops {removes(d['target'], d['rows'])}" for d in drops]


class LiveReports:
    """An out_stream that shows a migrating process's output as it comes, with the guard's
    @@drop reports turned into one readable line each (before the drop runs) and its other @@
    lines left out. A report comes after a newline of its own, as Django's "  Applying ..." line
    may still be open (and already shown, when the runner flushed it)."""

    def __init__(self, inner):
        self.inner, self.held = inner, ""
        self.blank = False     # an empty line held back: it may only open a report
        self.midline = False   # part of a line was shown at a flush; its end is still to come

    def write(self, text):
        lines = (self.held + text).split("\n")
        self.held = lines.pop()
        for line in lines:
            if self.midline:   # the end of a line already shown in part
                self.midline = False
                self.inner.write(line + "\n")
                continue
            if self.blank and not line.startswith("@@"):
                self.inner.write("\n")
            self.blank = line == ""
            if line.startswith("@@drop "):
                self.inner.write("    about to drop: " + drop_lines([json.loads(line[7:])])[0]
                                 + "\n")
            elif line and not line.startswith("@@"):
                self.inner.write(line + "\n")

    def flush(self):
        if self.held and not self.held.startswith("@"):   # "@" may yet become a report
            if self.blank:
                self.inner.write("\n")
                self.blank = False
            self.inner.write(self.held)
            self.held, self.midline = "", True
        self.inner.flush()
