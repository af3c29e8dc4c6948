"""The `deploy` config key every collection configures (so `Collection(backup.ns)` works alone:
docs/BEHAVIOUR.md#invoke-collection-configure); every key has a default, or its FABRIC_DEPLOY_*
variable would be ignored (docs/BEHAVIOUR.md#invoke-config-from-env)."""

def flags(**given):
    """The boolean options given, for a run's args: one left unset is left out, so the journal
    and the commands a run prints show only what the operator gave."""
    return {name: True for name, on in given.items() if on}


# Help of the consents shared by the tasks that migrate.
ALLOW_UNGUARDED = ("consent to destructive migrations (DeleteModel, RemoveField, irreversible "
                   "RunSQL) that no invariant in deploy.toml guards")
ACCEPT_LOCKS = ("consent to migrations whose estimated lock time (migrate.lint) is over "
                "[migrations] lock_budget (lock_budget_live without a window)")

DEFAULTS = {
    "deploy": {
        "hosts_file": "hosts.toml",   # FABRIC_DEPLOY_HOSTS_FILE or --hosts-file override it
        "lock_wait_timeout": 30,      # seconds a backup waits for a table lock before failing
        "plan": False,                # --plan / fab --dry on a composite: the plan, no change
        "quiet": False,               # --quiet / FABRIC_DEPLOY_QUIET=1: results and summary only
        "progress_every": 5.0,        # seconds between progress lines of a long step
        "restore_jobs": 0,            # pg_restore -j of a restore; 0: the host's cores, up to 8
    },
}
