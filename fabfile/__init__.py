"""The task tree `fab` finds: one collection per runbook area.

    fab -H prod verify.status        fab -H prod backup.create        fab -H prod deploy.consolidate

Hosts come from hosts.toml (see hosts.example.toml); `-H NAME` picks one, without `-H` the
inventory's `default` is used.
"""
from invoke import Collection

from . import (backup, compose_run, deploy, maintenance, migrate, pg_upgrade, release, rollback,
               verify)

# deploy.release / deploy.tag (the upgrade plan's flow) live in release.py
deploy.ns.add_task(release.release)
deploy.ns.add_task(release.tag)
deploy.ns.add_task(pg_upgrade.deploy_pg_upgrade)   # the plan's Phase 8 in one run
# pg_upgrade.compose (the docker compose variant) lives in compose_run.py
pg_upgrade.ns.add_task(compose_run.compose)

ns = Collection(backup.ns, deploy.ns, maintenance.ns, migrate.ns, pg_upgrade.ns, rollback.ns,
                verify.ns)
ns.configure({
    "deploy": {
        "hosts_file": "hosts.toml",   # FABRIC_DEPLOY_HOSTS_FILE or --hosts-file override it
        "lock_wait_timeout": 30,      # seconds a backup waits for a table lock before failing
        "plan": False,                # --plan / fab --dry on a composite: the plan, no change
        "quiet": False,               # --quiet / FABRIC_DEPLOY_QUIET=1: results and summary only
        "progress_every": 5.0,         # seconds between progress lines of a long step
    },
})
