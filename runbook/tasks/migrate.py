"""migrate.*: the tasks (the work is in the layers below)."""
from invoke import Collection

from runbook.django import lint, lint_step
from runbook.django.migrate import (
    check_expected,
    destructive,
    expect_list,
    plan,
    render,
    step_check,
    step_run_staged,
)
from runbook.engine.runner import Step
from runbook.host.connection import hosttask
from runbook.ops import maintenance
from runbook.runbooks.plan import MigrateRun
from runbook.tasks.defaults import ACCEPT_LOCKS, ALLOW_UNGUARDED, DEFAULTS, flags


@hosttask(name="plan")
def plan_task(c):
    """Show the pending migrations and classify every operation (destructive ones flagged)."""
    print(render(plan(c)))


@hosttask(name="check", help={"expect": "comma list of app.migration that must be exactly the pending ones "
                                        "(default: [migrations] expect in deploy.toml)"})
def check_task(c, expect=""):
    """Check that exactly the expected migrations are pending; list destructive operations."""
    entries = plan(c)
    check_expected(entries, expect_list(c, expect))   # Failed: its one error line, exit 1
    print(render(entries))
    lossy = [op for e in entries for op in destructive(e)]
    print(f"{len(entries)} pending migration(s), {len(lossy)} destructive operation(s)")


@hosttask(name="lint")
def lint_task(c):
    """Lint the pending migrations' SQL (squawk) against this host's tables: each lock, how long.

    The SQL Django would run for each pending migration (nothing is run), linted by squawk for
    this server's version, each finding joined with the live size of the table it touches and
    an estimated lock time from this host's measured scan, write and index rates; then whether
    it is fine inside a maintenance window and without one ([migrations] lock_budget,
    lock_budget_live), and the safer pattern when it is not. Read-only; exits 0 (the composites
    refuse)."""
    entries = [e for e in plan(c) if not e["backwards"]]
    found, rates = lint_step.findings(c, entries)
    print(lint.render(found, lint_step.budget(c)))
    print(f"{len(entries)} pending migration(s), {len(found)} finding(s)"
          + (f"; this host scans {rates.scan / 1e6:.0f} MB/s, writes {rates.write / 1e6:.0f} "
             f"MB/s, sorts {rates.index_rows / 1e3:.0f}k index rows/s (measured)" if rates else ""))


def in_maintenance(c, run, found):
    """migrate.run is inside a window when maintenance is on (else the app serves through it)."""
    return maintenance.is_on(c)


@hosttask(plan=True, name="run", help={
    "expect": "comma list of app.migration that must be the pending ones",
    "allow_unguarded": ALLOW_UNGUARDED,
    "accept_locks": ACCEPT_LOCKS})
def run_task(c, expect="", allow_unguarded=False, accept_locks=False):
    """Apply pending migrations in stages: non-destructive, invariants, then destructive (locked)."""
    MigrateRun(c, "migrate.run", {"expect": expect, **flags(allow_unguarded=allow_unguarded,
                                                     accept_locks=accept_locks)}).execute([
        Step("migrate.check", step_check(expect), changes_host=False),
        Step("migrate.lint", lint_step.step_lint(in_maintenance), changes_host=False),
        Step("migrate.run", step_run_staged),
    ])


ns = Collection("migrate")
ns.add_task(plan_task, name="plan")
ns.add_task(check_task, name="check")
ns.add_task(lint_task, name="lint")
ns.add_task(run_task, name="run")
ns.configure(DEFAULTS)
