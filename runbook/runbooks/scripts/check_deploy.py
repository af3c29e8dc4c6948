# Runs inside `manage.py shell` (release's step_check_deploy): `check --deploy` at fail level
# RB_CHECK_LEVEL, the app's SILENCED_SYSTEM_CHECKS extended by the ids in RB_CHECK_SILENCE (JSON):
# Django has no command-line flag to silence a check (docs/BEHAVIOUR.md#django-check-deploy-level),
# and the app is not ours to edit.
import json
import os
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError

settings.SILENCED_SYSTEM_CHECKS = [*settings.SILENCED_SYSTEM_CHECKS,
                                   *json.loads(os.environ["RB_CHECK_SILENCE"])]
try:
    call_command("check", deploy=True, fail_level=os.environ["RB_CHECK_LEVEL"])
except SystemCheckError as e:
    print(str(e).replace("SystemCheckError: ", "", 1), file=sys.stderr)
    sys.exit(1)
