"""migrate.*: the tasks (the work is in the layers below)."""
from invoke import Collection

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
from runbook.runbooks.plan import Run
from runbook.tasks.defaults import DEFAULTS


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


@hosttask(plan=True, name="run", help={
    "expect": "comma list of app.migration that must be the pending ones",
    "allow_unguarded": "consent to destructive migrations (DeleteModel, RemoveField, "
                       "irreversible RunSQL) that no invariant in deploy.toml guards"})
def run_task(c, expect="", allow_unguarded=False):
    """Apply pending migrations in stages: non-destructive, invariants, then destructive (locked)."""
    Run(c, "migrate.run", {"expect": expect, **({"allow_unguarded": True} if allow_unguarded
                                                else {})}).execute([
        Step("migrate.check", step_check(expect), changes_host=False),
        Step("migrate.run", step_run_staged),
    ])


ns = Collection("migrate")
ns.add_task(plan_task, name="plan")
ns.add_task(check_task, name="check")
ns.add_task(run_task, name="run")
ns.configure(DEFAULTS)
