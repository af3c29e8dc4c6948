"""The fab task tree: one collection per runbook area, each configured with its own defaults.

    from runbook.tasks import ns                       # every collection, as `fab` shows them
    from runbook.tasks import backup, deploy           # or one: Collection(backup.ns)
"""
from invoke import Collection

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

ns = know_tasks(Collection(backup.ns, deploy.ns, maintenance.ns, migrate.ns, pg_upgrade.ns,
                           rollback.ns, verify.ns))
ns.configure(DEFAULTS)
