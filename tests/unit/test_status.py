"""verify.status's report from parsed sections: PostgreSQL down reads as one reason."""
from types import SimpleNamespace

from runbook.ops import verify
from tests.support.sites import make_site

DOWN = {"pg": "psql: error: connection to server at \"127.0.0.1\", port 5432 failed: "
              "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
              "connections?",
        "pending": "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
                   "django.db.utils.OperationalError: connection refused",
        "lock": "none"}


def test_postgresql_down(tmp_path):
    c = SimpleNamespace(site=make_site(tmp_path), user="deploy", host="10.0.0.1", port=22)
    assert verify.pg_problem(DOWN).startswith("psql: error: connection to server")
    assert verify.pg_problem({"pg": "14.9|123456"}) is None
    text = verify.render_status(c, DOWN)
    assert "Traceback" not in text and 'File "' not in text
    assert "pending      unknown: manage.py showmigrations failed (django.db.utils." \
           "OperationalError: connection refused)" in text
