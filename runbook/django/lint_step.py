"""migrate.lint: the pending migrations' SQL (collected by Django on the host, nothing run),
linted by squawk where fab runs, joined with the live size of every table it touches and this
host's measured scan, write and index rates; refused when a lock would outlast its budget or
the old code, still serving, would break (django/lint.py decides; README "Migration lint").
"""
import dataclasses

from runbook.django import lint, squawk
from runbook.engine.runner import Failed, commands
from runbook.postgres import table_facts


def budget(c) -> lint.Budget:
    """The lock budgets of deploy.toml's [migrations] (lock_budget, lock_budget_live)."""
    project = c.site.inventory.project
    return lint.Budget(window=project.lock_budget, live=project.lock_budget_live)


def findings(c, entries) -> tuple[list[lint.Finding], "table_facts.Rates | None"]:
    """(findings, the host's rates as measured, None when no finding needed them) of `entries`
    (the plan, each with the SQL Django would run) on this host."""
    files = lint.files(entries)
    if not any(statements for _n, _m, statements in files):   # no SQL: no round trip
        return lint.not_collected(entries), None
    index = {name: (migration, statements) for name, migration, statements in files}
    atomic = {e["migration"] for e in entries if e.get("atomic", True)}
    tables = lint.tables_in(s for _n, _m, statements in files for s in statements)
    version, facts = table_facts.facts(c, tables)
    raw = squawk.lint(files, version or "14", lint.IGNORED)
    found = lint.findings(raw, index, facts, None, atomic)
    rates = None
    if any(f.kind == lint.LOCK and f.size for f in found):
        rates = table_facts.rates(c)
        found = lint.findings(raw, index, facts, rates, atomic)
    return lint.not_collected(entries) + found, rates


def report(c, run, entries):
    """Lint `entries`, show and journal the findings; returns them (run.data.lint too)."""
    found, rates = findings(c, entries)
    for line in lint.render(found, budget(c), run.args.get("accept_locks", False)).splitlines():
        run.say("    " + line)
    run.data.lint = [f.as_dict() for f in found]
    run.journal.write({"kind": "output", "what": "migration lint",
                       "rates": dataclasses.asdict(rates) if rates else None,
                       "findings": run.data.lint})
    return found


def refusal(refused, window):
    """The one line naming the first refused finding and the ways out."""
    f, why = refused[0]
    more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
    fixes = ["rewrite the migration the safer way"]
    if not window:
        fixes.append("run it inside a maintenance window")
    if f.kind == lint.LOCK:
        fixes.append("consent with --accept-locks")
    where = "inside the window" if window else "without a maintenance window"
    return (f"migration lint refused {f.migration} {where}: {f.rule} on "
            f"{f.table or 'its table'}, {why}{more}; {', or '.join(fixes)} (nothing was migrated)")


def always(c, run, found):
    """Runs inside a maintenance window (deploy.consolidate)."""
    return True


def shown(c, run):
    return ["<the pending migrations' SQL from Django (sqlmigrate's way, nothing run)> | "
            "squawk --reporter json --pg-version <the server's>  (where fab runs)",
            "<row counts and sizes of the tables it touches; a probe of the host's scan, write "
            "and index rates, rolled back>"]


def step_lint(window_of=always):
    """The step: `window_of(c, run, findings)` says whether the migrations will run inside a
    maintenance window (it may decide that one is needed); refusals fail the step."""
    @commands(shown)
    def run_step(c, run):
        """The pending migrations' SQL linted (squawk) against the live table sizes: a lock
        over its budget, or a change the old code cannot serve through, is refused first."""
        if not run.data.plan:
            return "nothing to do: no pending migrations"
        entries = [e for e in run.data.plan if not e.get("backwards")]
        found = report(c, run, entries) if entries else []
        window = window_of(c, run, found)   # backwards ones too may need a window
        accept = run.args.get("accept_locks", False)
        refused = lint.refusals(found, window, budget(c), accept)
        if refused:
            raise Failed(refusal(refused, window))
        locks = [f for f in found if f.kind == lint.LOCK]
        longest = max((f.seconds for f in locks), default=0.0)
        return (f"{len(found)} finding(s)" + (f", the longest lock ~{longest:.1f}s" if locks
                                              else "")
                + (" inside the maintenance window" if window else " without a window")
                if found else "no lock or old-code risk found")
    return run_step
