"""[migrations] lock_timeout: what deploy.toml may say, what the migrating process is given, and
the one line a migration stopped by it fails with (read from Django's output and the script's
@@lock-timeout report). The real lock wait is tests/integration/test_lock_timeout.py's."""
import json
from types import SimpleNamespace as NS

import pytest

from runbook.django import lock_timeout
from runbook.engine.errors import ConfigError
from runbook.host import project
from runbook.host.project import Project

REFUSED = 'is not a PostgreSQL duration from 1ms to 24 days; write e.g. lock_timeout = "3s"'


@pytest.mark.parametrize("toml, value", [
    (None, "3s"),                    # not given: the default
    ('"3s"', "3s"), ('"500ms"', "500ms"), ('"1min"', "1min"), ('"1.5s"', "1.5s"),
    ('"3 s"', "3 s"), ('"1h"', "1h"), ('"1ms"', "1ms"), ('"1000us"', "1000us"),
    ("0", "0"), ('"0"', "0"), ('"0s"', "0"),   # off
    ('"3000"', None),                # no unit (PostgreSQL would read milliseconds)
    ("3", None), ("false", None), ("3.5", None),
    ('"3sec"', None), ('"3 seconds"', None), ('"-1s"', None), ('"s"', None), ('""', None),
    ('"500us"', None),               # under 1ms: PostgreSQL rounds it to 0, which is off
    ('"25d"', None),                 # over 2^31-1 ms: PostgreSQL refuses it
])
def test_lock_timeout_values(tmp_path, toml, value):
    path = tmp_path / "deploy.toml"
    path.write_text("[migrations]\n" + (f"lock_timeout = {toml}\n" if toml is not None else ""))
    if value is not None:
        assert project.load(path).lock_timeout == value
        return
    with pytest.raises(ConfigError) as e:
        project.load(path)
    text = str(e.value)
    assert text.startswith(f"{path}: migrations.lock_timeout: ") and REFUSED in text
    assert "\n" not in text


@pytest.mark.parametrize("setting, env", [
    ("3s", {"RB_LOCK_TIMEOUT": "3s"}),
    ("0", {}),   # off: nothing set, the server's (or role's) own lock_timeout applies
])
def test_the_migrating_process_is_given_the_setting(setting, env):
    assert lock_timeout.env(Project(None, lock_timeout=setting)) == env


def report(*holders):
    return "@@lock-timeout " + json.dumps({"holders": list(holders)})


PSQL = {"table": "people_profile", "pid": 4242, "mode": "AccessShareLock", "user": "ledger",
        "app": "psql", "state": "idle in transaction", "since": "09:41:07"}
OTHER_ROLE = {"table": "people_profile", "pid": 77, "mode": "RowExclusiveLock", "user": None,
              "app": None, "state": None, "since": None}   # pg_stat_activity hides its details
HEAD = "people.0002_profile_nickname could not take its lock within 3s ([migrations] lock_timeout): "


@pytest.mark.parametrize("output, line", [
    # Django's "Applying X..." never got its OK: that is the migration that waited
    ("Operations to perform:\n  Target specific migration: 0002_profile_nickname, from people\n"
     "Running migrations:\n  Applying people.0002_profile_nickname...\n" + report(PSQL),
     HEAD + "another session holds a lock on people_profile (pid 4242, ledger via psql, idle in "
     "transaction since 09:41:07 UTC, AccessShareLock); nothing of that migration was applied"),
    # earlier ones of the stage stay applied, and the line says so
    ("  Applying people.0001_initial... OK\n  Applying jobs.0002_job_priority... OK\n"
     "  Applying people.0002_profile_nickname...\n" + report(PSQL, OTHER_ROLE),
     HEAD + "other sessions hold locks on people_profile (pid 4242, ledger via psql, idle in "
     "transaction since 09:41:07 UTC, AccessShareLock), people_profile (pid 77, "
     "RowExclusiveLock); nothing of that migration was applied; applied before it in this "
     "stage: people.0001_initial, jobs.0002_job_priority"),
    # a data migration's guard reports come between "Applying X..." and its OK: what is applied
    # is the database's word (the script's "applied"), not the output's
    ("  Applying people.0001_backfill...\n@@data-op {}\n OK\n"
     "  Applying people.0002_profile_nickname...\n@@lock-timeout "
     + json.dumps({"holders": [], "applied": ["people.0001_backfill"]}),
     HEAD + "the session holding it was gone when looked up; nothing of that migration was "
     "applied; applied before it in this stage: people.0001_backfill"),
    # the holder let go between the timeout and the look-up
    ("  Applying people.0002_profile_nickname...\n" + report(),
     HEAD + "the session holding it was gone when looked up; nothing of that migration was "
     "applied"),
])
def test_the_failure_line_from_django_output(output, line):
    failed = lock_timeout.failure(output, "3s")
    assert str(failed) == line and "\n" not in str(failed)


@pytest.mark.parametrize("output", [
    "  Applying people.0002_profile_nickname...\nTraceback (most recent call last):\n"
    "django.db.utils.ProgrammingError: column \"nickname\" already exists\n",
    "  Applying people.0002_profile_nickname... OK\n",
])
def test_other_failures_are_not_called_lock_timeouts(output):
    assert lock_timeout.failure(output, "3s") is None


WAITED = "  Applying people.0002_profile_nickname...\n" + report(PSQL)
PARTLY = {"migrated": "migrations may be partly applied: people.0002_profile_nickname"}


@pytest.mark.parametrize("output, before, resume, state", [
    # nothing applied by this run: no "migrated" state, so a deploy moves only the code back
    (WAITED, [], None, {}),
    # the destructive stage waited: the non-destructive one is applied, and said so
    (WAITED, ["people.0001_a"], None, {"migrated": "applied: people.0001_a"}),
    ("  Applying people.0001_b... OK\n" + WAITED, ["people.0001_a"], None,
     {"migrated": "applied: people.0001_a, people.0001_b"}),
    # a resumed run: the failed run before it may have applied some, the state stays
    (WAITED, [], "20261203-090000-abcd", PARTLY),
])
def test_the_run_state_says_what_is_applied_after_a_lock_timeout(output, before, resume, state):
    run = NS(state=dict(PARTLY), resume=resume)
    lock_timeout.failure(output, "3s", run, [{"migration": m} for m in before])
    assert run.state == state
