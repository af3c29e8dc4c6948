# Runs inside `manage.py shell` after scripts/migration_guard.py (migrate.apply): `migrate APP
# NAME --noinput` for each [app, name] of RB_MIGRATE_TARGETS (JSON), in this one Django process,
# system checks kept. A drop the guard refuses prints "@@guard-stop <why>" and exits 3.
import json
import os
import sys

from django.core.management import call_command
from django.core.management.base import CommandError

sys.stdout.reconfigure(line_buffering=True)
for _app, _name in json.loads(os.environ["RB_MIGRATE_TARGETS"]):
    try:
        call_command("migrate", _app, _name, interactive=False, skip_checks=False)
    except _GuardStop as _e:  # noqa: F821 - the guard's: it refused a drop (rolled back)
        sys.stdout.flush()
        print("\n@@guard-stop %s" % _e, flush=True)
        sys.exit(3)
    except CommandError as _e:
        sys.stdout.flush()
        sys.stderr.write("CommandError: %s\n" % _e)
        sys.exit(1)
