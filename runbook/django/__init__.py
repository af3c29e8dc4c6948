"""The Django app on the host: manage.py, checks, migrations and their data-loss guards."""
