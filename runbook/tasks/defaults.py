"""The `deploy` config key every collection configures (so `Collection(backup.ns)` works alone:
docs/BEHAVIOUR.md#invoke-collection-configure); every key has a default, or its FABRIC_DEPLOY_*
variable would be ignored (docs/BEHAVIOUR.md#invoke-config-from-env)."""

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
