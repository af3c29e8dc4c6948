# `manage.py shell -c` of a warm process (app.warm_shell): Django is set up and the app's
# migrations imported before it reads its stdin: the code's env as one JSON line, then the code.
# It says "@@warm-ready" once set up (an output line the migrate step's stream leaves out).
# An empty stdin ends it having run nothing (docs/BEHAVIOUR.md#django-shell-command-stdin).
import json
import os
import sys

from django.db.migrations.loader import MigrationLoader

MigrationLoader(None, ignore_no_migrations=True)
print("@@warm-ready", flush=True)   # migrate.warm waits for it: a broken start fails before the window
os.environ.update(json.loads(sys.stdin.readline() or "{}"))
exec(sys.stdin.read())
