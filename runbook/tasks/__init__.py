"""The fab task tree: one collection per runbook area, each configured with its own defaults.

    from runbook.tasks import ns                       # every collection, as `fab` shows them
    from runbook.tasks import backup, deploy           # or one: Collection(backup.ns)
    ns = collection(backup.ns, deploy.ns, my_runbook)  # a tree of your own (README)
"""
from invoke import Collection, Task

from runbook.engine.fabcmd import know_tasks
from runbook.tasks import (
                           backup,
                           deploy,
                           maintenance,
                           migrate,
                           pg_upgrade,
                           rollback,
                           verify,
)
from runbook.tasks.defaults import DEFAULTS


def collection(*items: Collection | Task) -> Collection:
    """A root task tree of `items` (collections, tasks of your own) with the `deploy` defaults
    its tasks read, and known to the printed rerun commands: your fabfile's `ns`."""
    tree = know_tasks(Collection(*items))
    tree.configure(DEFAULTS)
    return tree


ns = collection(backup.ns, deploy.ns, maintenance.ns, migrate.ns, pg_upgrade.ns, rollback.ns,
                verify.ns)
