"""runbook: deployment runbooks for Django + PostgreSQL + nginx + gunicorn as checkpointed
Fabric tasks, in layers; each imports only the ones listed before it:

    engine    the step runner, fleet, lock, journal, history, resume, output, errors
    host      the SSH connection and host keys, inventory, project config, remote helpers,
              services, HTTP from the host
    postgres  psql, fingerprints, clusters, the upgrade check, the compose plan
    django    manage.py, checks, migrations and their data-loss guards
    ops       backup, maintenance, code update, restart, verify, soak (steps and their work)
    runbooks  the composites: consolidate, release, restore, pg_upgrade, compose upgrade, the plan
    tasks     the fab task collections (`from runbook.tasks import ns`)

tests/unit/test_layers.py fails on an upward import or a cycle.
"""
