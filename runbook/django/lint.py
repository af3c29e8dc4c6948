"""migrate.lint's judgement: squawk's findings on the pending migrations' SQL, joined with the
live facts of the tables they touch, and a verdict inside and outside a maintenance window.

The SQL is what Django would run (docs/BEHAVIOUR.md#django-collect-sql). Pure data in, data
out (tested as tables): squawk runs in django/squawk.py, the table facts come
from postgres/table_facts.py, the step in django/lint_step.py. Each squawk rule we act on is in
RULES with what it blocks, whether its time grows with the table, and the safer pattern; a rule
not listed is shown as a note and decides nothing (a newer squawk may add rules).
"""
import re
from dataclasses import asdict, dataclass

LOCK, OLD_CODE, BRIEF = "lock", "old-code", "brief"

# rule: (kind, what it holds, size it grows with: "heap" | "total" | None, the safer pattern)
RULES = {
    "require-concurrent-index-creation": (
        LOCK, "blocks writes while the index builds", "heap",
        "AddIndexConcurrently (django.contrib.postgres.operations) in a migration with "
        "atomic = False"),
    "disallowed-unique-constraint": (
        LOCK, "ACCESS EXCLUSIVE (reads and writes) while the unique index builds", "heap",
        "a unique index built CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX"),
    "constraint-missing-not-valid": (
        LOCK, "blocks writes while the table is scanned", "heap",
        "the constraint added NOT VALID (AddConstraintNotValid), then ValidateConstraint in a "
        "later migration"),
    "adding-foreign-key-constraint": (
        LOCK, "SHARE ROW EXCLUSIVE (writes) on both tables while the table is scanned", "heap",
        "the foreign key added NOT VALID, then VALIDATE CONSTRAINT in a later migration"),
    "adding-not-nullable-field": (
        LOCK, "ACCESS EXCLUSIVE (reads and writes) while the table is scanned", "heap",
        "a CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL (cheap "
        "from PostgreSQL 12)"),
    "changing-column-type": (
        LOCK, "ACCESS EXCLUSIVE (reads and writes) while the table is rewritten", "total",
        "a new column, backfilled in batches, read by the code, then the old one dropped"),
    "adding-field-with-default": (
        LOCK, "ACCESS EXCLUSIVE (reads and writes) while the table is rewritten (a volatile "
              "default)", "total",
        "the column added nullable without a default, backfilled in batches, then the default "
        "set"),
    "adding-serial-primary-key-field": (
        LOCK, "ACCESS EXCLUSIVE while the table is rewritten and indexed", "total",
        "a unique index built CONCURRENTLY, then ADD PRIMARY KEY USING INDEX"),
    "adding-primary-key-constraint": (
        LOCK, "ACCESS EXCLUSIVE while the primary key's index builds", "heap",
        "a unique index built CONCURRENTLY, then ADD PRIMARY KEY USING INDEX"),
    "require-concurrent-index-deletion": (
        BRIEF, "ACCESS EXCLUSIVE, briefly (lock_timeout bounds the wait)", None,
        "RemoveIndexConcurrently (django.contrib.postgres.operations)"),
    "renaming-column": (
        OLD_CODE, "the old code still names the column", None,
        "a new column the code writes to both, then the old one dropped in a later release"),
    "renaming-table": (
        OLD_CODE, "the old code still names the table", None,
        "a new table (or a view under the old name) until the old code is gone"),
    "ban-drop-column": (
        OLD_CODE, "the old code still selects the column", None,
        "the field removed from the code first (one release), the column dropped in the next"),
    "ban-drop-table": (
        OLD_CODE, "the old code still reads the table", None,
        "the model removed from the code first (one release), the table dropped in the next"),
    "adding-required-field": (
        OLD_CODE, "the old code's INSERTs omit the new NOT NULL column", None,
        "the column added nullable (or with a default kept in the database)"),
    "ban-drop-default": (
        OLD_CODE, "the old code's INSERTs relied on the default", None,
        "keep the default (db_default) until the old code is gone"),
}

# Not about this host's downtime: style rules, and lock_timeout, which the tool sets itself
# (runbook/django/lock_timeout).
IGNORED = ("prefer-robust-stmts", "prefer-bigint-over-int", "prefer-bigint-over-smallint",
           "prefer-identity", "prefer-text-field", "prefer-timestamptz", "ban-char-field",
           "require-lock-timeout", "require-statement-timeout", "require-timeout-settings",
           "transaction-nesting")

TABLE_RE = re.compile(r'^\s*(?:ALTER\s+TABLE(?:\s+IF\s+EXISTS)?(?:\s+ONLY)?|DROP\s+TABLE'
                      r'(?:\s+IF\s+EXISTS)?|CREATE\s+(?:UNIQUE\s+)?INDEX\b.*?\bON(?:\s+ONLY)?|'
                      r'DROP\s+INDEX(?:\s+CONCURRENTLY)?(?:\s+IF\s+EXISTS)?)\s+'
                      r'("(?:[^"]|"")+"|[\w.]+)', re.I | re.S)


def table_of(statement):
    """The table a statement locks (for DROP INDEX: the index's name), unquoted, or ""."""
    m = TABLE_RE.match(statement)
    if not m:
        return ""
    name = m.group(1)
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.split(".")[-1]


def files(entries):
    """[(file name, migration, [statements])]: one file per pending migration, one statement
    per line (squawk reports 0-based lines), so a finding maps back to its statement."""
    out = []
    for i, e in enumerate(entries):
        if e.get("backwards"):
            continue
        out.append((f"{i:04d}.sql", e["migration"],
                    [" ".join(s.split()) for s in e.get("sql") or []]))
    return out


@dataclass
class Finding:
    migration: str
    statement: str
    rule: str
    kind: str            # LOCK, OLD_CODE, BRIEF, or "note"
    what: str            # what it holds / breaks
    safer: str
    table: str = ""
    rows: int = 0
    size: int = 0        # bytes the time grows with (0: a new or empty table)
    seconds: float = 0.0   # the estimated lock time (LOCK only), unrounded: any is over 0

    def as_dict(self):
        return asdict(self)


def findings(raw, index, facts, rate):
    """Findings from squawk's JSON `raw` (its list of dicts), `index` {file name: (migration,
    statements)}, table `facts` {table: (rows, heap bytes, total bytes)} and the host's
    measured `rate` (bytes per second a rewrite or index build goes through)."""
    out, seen = [], set()
    for f in raw:
        rule = f.get("rule_name", "")
        name = f.get("file", "").rsplit("/", 1)[-1]
        if rule in IGNORED or name not in index:
            continue
        migration, statements = index[name]
        line = int(f.get("line") or 0)
        statement = statements[line] if 0 <= line < len(statements) else ""
        if (migration, statement, rule) in seen:
            continue
        seen.add((migration, statement, rule))
        kind, what, grows, safer = RULES.get(rule, ("note", f.get("message", ""), None,
                                                    f.get("help") or ""))
        table = table_of(statement)
        rows, heap, total = facts.get(table, (0, 0, 0))
        size = {"heap": heap, "total": total}.get(grows or "", 0)
        seconds = size / rate if kind == LOCK and rate > 0 else 0.0
        out.append(Finding(migration, statement, rule, kind, what, safer, table, rows, size,
                           seconds))
    return out


@dataclass(frozen=True)
class Budget:
    window: float = 5.0     # seconds a lock may hold inside the maintenance window
    live: float = 0.5       # seconds without a window (requests queue behind it)


def verdict(f, window, budget, accept=False):
    """(ok, why) for finding `f` in a run with (`window`=True) or without a maintenance window;
    `accept`: the operator consented to locks over the budget (--accept-locks)."""
    if f.kind == OLD_CODE:
        if window:
            return True, "the old code is stopped then"
        return False, f"the old code serves while it runs: {f.what}; safer: {f.safer}"
    if f.kind != LOCK:
        return True, "a note, decides nothing"
    limit = budget.window if window else budget.live
    if f.seconds <= limit:
        return True, f"~{f.seconds:.2f}s (budget {limit:g}s)"
    if accept:
        return True, f"~{f.seconds:.2f}s, over the {limit:g}s budget, accepted (--accept-locks)"
    return False, (f"~{f.seconds:.2f}s, over the {limit:g}s budget: {f.what}; "
                   f"safer: {f.safer}")


def refusals(found, window, budget, accept=False):
    """[(finding, why)] of the findings refused in this context."""
    return [(f, why) for f in found for ok, why in [verdict(f, window, budget, accept)] if not ok]


def human_size(n):
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def render(found, budget, accept=False):
    """The findings, each with its verdict inside a window and without one."""
    if not found:
        return "no lock or old-code risk found in the pending migrations' SQL"
    lines = []
    for f in found:
        lines.append(f"{f.migration}: {f.statement[:110]}")
        on = f" on {f.table}" if f.table else ""
        facts = f" ({f.rows:,} rows, {human_size(f.size)})" if f.kind == LOCK and f.table else ""
        lines.append(f"    {f.rule}{on}{facts}: {f.what}")
        for window in (True, False):
            ok, why = verdict(f, window, budget, accept)
            lines.append(f"    {'inside a window' if window else 'without a window'}: "
                         f"{'ok' if ok else 'REFUSED'}, {why}")
    return "\n".join(lines)
