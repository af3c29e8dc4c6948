# gunicorn settings of the ledger app. preload_app imports the app once in the master: a HUP
# starts workers with the OLD code, so a deploy must restart (stop + start), not reload.
from pathlib import Path

chdir = str(Path(__file__).resolve().parent / "src")
wsgi_app = "ledger.wsgi:application"
preload_app = True
workers = 2
timeout = 60
accesslog = "-"
