"""verify.status with PostgreSQL stopped: the screen, then one line naming the problem and the
fix on stderr, exit 1, no Python traceback anywhere."""
import subprocess

import pytest


@pytest.mark.faults
def test_status_with_postgresql_down_fails_in_one_line(fab):
    subprocess.run(["pg_ctlcluster", "14", "main", "stop"], check=True)
    try:
        r = fab("-H", "sandbox", "verify.status")
    finally:
        subprocess.run(["pg_ctlcluster", "14", "main", "start"], check=True)
    assert r.returncode == 1, r.stdout + r.stderr
    err = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(err) == 1, r.stderr
    assert "PostgreSQL does not answer on sandbox" in err[0] and "start it on the host" in err[0]
    assert "Traceback" not in r.stdout + r.stderr and 'File "' not in r.stdout
    assert "unknown: manage.py showmigrations failed" in r.stdout
    rerun = err[0].split("then rerun: ", 1)[1]
    assert rerun.startswith("fab -H sandbox verify.status --hosts-file "), err[0]
