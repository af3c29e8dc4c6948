# `manage.py shell -c` of a warm process (app.warm_shell): Django is set up and the app's
# migrations imported before it reads its stdin: the code's env as one JSON line, then the code.
# An empty stdin ends it having run nothing (docs/BEHAVIOUR.md#django-shell-command-stdin).
import json
import os
import sys

from django.db.migrations.loader import MigrationLoader

MigrationLoader(None, ignore_no_migrations=True)
os.environ.update(json.loads(sys.stdin.readline() or "{}"))
exec(sys.stdin.read())
