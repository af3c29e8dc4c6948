#!/usr/bin/env python
"""Django's command-line utility. DJANGO_SETTINGS_MODULE comes from the environment (the env
file), never a default here: production and development settings must not be confused."""
import os
import sys


def main():
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        sys.exit("manage.py: DJANGO_SETTINGS_MODULE is not set; source the env file first "
                 "(set -a && . /srv/ledger/shared/app.env && set +a)")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
