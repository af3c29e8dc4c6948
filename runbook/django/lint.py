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

# rule: (kind, what it holds, the work its time grows with: table_facts.Rates.WORK or None,
# the safer pattern)
RULES = {
    "require-concurrent-index-creation": (
        LOCK, "blocks writes while the index builds", "index",
        "AddIndexConcurrently (django.contrib.postgres.operations) in a migration with "
        "atomic = False"),
    "disallowed-unique-constraint": (
        LOCK, "ACCESS EXCLUSIVE (reads and writes) while the unique index builds", "index",
        "a unique index built CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX"),
    "constraint-missing-not-valid": (
        LOCK, "blocks writes while the table is scanned", "scan",
        "the constraint added NOT VALID (AddConstraintNotValid), then ValidateConstraint in a "
        "later migration"),
    "adding-foreign-key-constraint": (
        LOCK, "SHARE ROW EXCLUSIVE (writes) on both tables while the table is scanned", "scan",
        "the foreign key added NOT VALID, then VALIDATE CONSTRAINT in a later migration"),
    "adding-not-nullable-field": (
        LOCK, "ACCESS EXCLUSIVE (reads and writes) while the table is scanned", "scan",
        "a CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL (cheap "
        "from PostgreSQL 12)"),
    "changing-column-type": (
        LOCK, "ACCESS EXCLUSIVE (reads and writes) while the table is rewritten", "rewrite",
        "a new column, backfilled in batches, read by the code, then the old one dropped"),
    "adding-field-with-default": (
        LOCK, "ACCESS EXCLUSIVE (reads and writes) while the table is rewritten (a volatile "
              "default)", "rewrite",
        "the column added nullable without a default, backfilled in batches, then the default "
        "set"),
    "adding-serial-primary-key-field": (
        LOCK, "ACCESS EXCLUSIVE while the primary key's index builds", "index",
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

UNREAD = "not linted"   # squawk could not parse it, or Django could not write its SQL
# Where a second rule on the same statement says it better (its safer pattern applies).
SUPERSEDES = {"constraint-missing-not-valid": ("disallowed-unique-constraint",
                                               "adding-serial-primary-key-field",
                                               "adding-foreign-key-constraint")}

NAME = r'(?:"(?:[^"]|"")+"|[\w$]+)'
TABLE_RE = re.compile(rf'(?<![\w"])(?:ALTER\s+TABLE(?:\s+IF\s+EXISTS)?(?:\s+ONLY)?|DROP\s+TABLE'
                      rf'(?:\s+IF\s+EXISTS)?|CREATE\s+(?:UNIQUE\s+)?INDEX(?:\s+CONCURRENTLY)?'
                      rf'(?:\s+IF\s+NOT\s+EXISTS)?(?:\s+(?!ON\b){NAME})?\s+ON(?:\s+ONLY)?|'
                      rf'DROP\s+INDEX(?:\s+CONCURRENTLY)?(?:\s+IF\s+EXISTS)?)\s+'
                      rf'({NAME}(?:\s*\.\s*{NAME})*)', re.I)
PART_RE = re.compile(NAME)


def unquote(name):
    """An identifier as PostgreSQL folds it: quoted kept, unquoted lower-cased."""
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _table(match):
    """The table a TABLE_RE match names, schema left out."""
    return unquote(PART_RE.findall(match.group(1))[-1])


def table_of(statement, offset=None):
    """The table a statement locks (for DROP INDEX: the index's name), schema left out, or "".
    `offset`: in a text holding several statements, the one that starts last at or before it."""
    found = [m for m in TABLE_RE.finditer(statement) if offset is None or m.start() <= offset]
    return _table(found[0 if offset is None else -1]) if found else ""


def tables_in(statements):
    """Every table the statements lock (their facts are read in one query)."""
    return {_table(m) for s in statements for m in TABLE_RE.finditer(s)}


def layout(statements):
    """(the file's text, the 0-based line each statement starts on): the statements as Django
    wrote them, each ended by ";" on a line of its own start (squawk reports lines)."""
    text, starts, line = "", [], 0
    for st in statements:
        body = st.strip().rstrip(";").strip() + ";\n"
        starts.append(line)
        text += body
        line += body.count("\n")
    return text, starts


def locate(statements, starts, line, column):
    """(the statement a finding at `line`/`column` is in, the offset in it)."""
    i = max((k for k, s in enumerate(starts) if s <= line), default=0)
    lines = statements[i].strip().split("\n")
    return statements[i], sum(len(x) + 1 for x in lines[:line - starts[i]]) + column


def files(entries):
    """[(file name, migration, [statements])]: one file per pending migration (forwards)."""
    return [(f"{i:04d}.sql", e["migration"], list(e.get("sql") or []))
            for i, e in enumerate(entries) if not e.get("backwards")]


@dataclass
class Finding:
    migration: str
    statement: str
    rule: str
    kind: str            # LOCK, OLD_CODE, BRIEF, UNREAD or "note"
    what: str            # what it holds / breaks
    safer: str
    table: str = ""
    rows: int = 0
    size: int = 0        # bytes of the table's heap (0: a new or empty table)
    seconds: float = 0.0   # the estimated lock time (LOCK only), unrounded: any is over 0
    held: float = 0.0      # the migration's locks together: an atomic one holds all to COMMIT

    def as_dict(self):
        return asdict(self)


def findings(raw, index, facts, rates, atomic=()):
    """Findings from squawk's JSON `raw` (its list of dicts), `index` {file name: (migration,
    statements)}, table `facts` {table: (rows, heap bytes, total bytes, indexes)}, the host's
    measured `rates` (table_facts.Rates; None: unknown, so a lock on a table with data is
    unbounded) and the `atomic` migrations (their locks are held together)."""
    out, seen = [], set()
    starts = {name: layout(statements)[1] for name, (_m, statements) in index.items()}
    for f in raw:
        rule = f.get("rule_name", "")
        name = f.get("file", "").rsplit("/", 1)[-1]
        if rule in IGNORED or name not in index:
            continue
        migration, statements = index[name]
        statement, offset = locate(statements, starts[name], int(f.get("line") or 0),
                                   int(f.get("column") or 0))
        if (migration, statement, rule) in seen:
            continue
        seen.add((migration, statement, rule))
        if rule == "syntax-error":
            kind, what, grows, safer = UNREAD, f"squawk could not parse it: {f.get('message')}", \
                None, "run it inside a maintenance window"
        else:
            kind, what, grows, safer = RULES.get(rule, ("note", f.get("message", ""), None,
                                                        f.get("help") or ""))
        table = table_of(statement, offset)
        rows, heap, _total, indexes = facts.get(table, (0, 0, 0, 0))
        seconds = 0.0
        if kind == LOCK and (heap or not table):   # no table read: unbounded, not free
            seconds = rates.seconds(grows, rows, heap, indexes) if rates and table \
                else float("inf")
        out.append(Finding(migration, " ".join(statement.split()), rule, kind, what, safer,
                           table, rows, heap, seconds))
    keys = {(f.migration, f.statement, f.rule) for f in out}
    out = [f for f in out if not any((f.migration, f.statement, r) in keys
                                     for r in SUPERSEDES.get(f.rule, ()))]
    for f in out:
        if f.migration in atomic:
            f.held = sum(g.seconds for g in out if g.migration == f.migration and g.kind == LOCK)
    return out


def not_collected(entries):
    """An UNREAD finding for each migration whose SQL Django could not write."""
    return [Finding(e["migration"], "", "not-collected", UNREAD,
                    f"Django could not write its SQL: {e['sql_error']}",
                    "run it inside a maintenance window") for e in entries if e.get("sql_error")]


@dataclass(frozen=True)
class Budget:
    window: float     # seconds a lock may hold inside the maintenance window
    live: float       # seconds without a window (requests queue behind it)


def seconds_text(s):
    return "unknown (no table or rate read)" if s == float("inf") else f"~{s:.2f}s"


def verdict(f, window, budget, accept=False):
    """(ok, why) for finding `f` in a run with (`window`=True) or without a maintenance window;
    `accept`: the operator consented to locks over the budget (--accept-locks)."""
    if f.kind == OLD_CODE:
        if window:
            return True, "the old code is stopped then"
        return False, f"the old code serves while it runs: {f.what}; safer: {f.safer}"
    if f.kind == UNREAD:
        if window or accept:
            return True, f"{f.what} ({'inside the window' if window else 'accepted'})"
        return False, f"{f.what}; {f.safer}"
    if f.kind != LOCK:
        return True, "a note, decides nothing"
    limit = budget.window if window else budget.live
    took = max(f.seconds, f.held)
    held = f" (the migration's locks together {seconds_text(f.held)})" if f.held > f.seconds \
        else ""
    if took <= limit:
        return True, f"{seconds_text(f.seconds)}{held} (budget {limit:g}s)"
    if accept:
        return True, (f"{seconds_text(f.seconds)}{held}, over the {limit:g}s budget, accepted "
                      "(--accept-locks)")
    return False, (f"{seconds_text(f.seconds)}{held}, over the {limit:g}s budget: {f.what}; "
                   f"safer: {f.safer}")


def refusals(found, window, budget, accept=False):
    """[(finding, why)] of the findings refused in this context."""
    return [(f, why) for f in found for ok, why in [verdict(f, window, budget, accept)] if not ok]


def human_size(n):
    for unit in ("B", "kB", "MB"):
        if n < 1000:
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
