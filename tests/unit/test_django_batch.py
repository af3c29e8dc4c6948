"""Django work in one process: the checks' batch script, the migrations' script, and the stream
that shows Django's output up to the tool's marker.

The scripts really run with this machine's Python. For migrate.apply, a stand-in `django`
package (call_command prints what migrate prints, or raises CommandError) and a `manage.py`
whose `shell` runs stdin, as Django's does; the real Django is the integration tests' part. verify.post against a host
that answers each psql section and shell as the case says.
"""
import io
import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace as NS

import pytest
from invoke import Result
from invoke.exceptions import UnexpectedExit

from runbook.django import checks, migrate
from runbook.engine.errors import DeployError
from runbook.engine.output import UpTo
from runbook.engine.rundata import RunData
from runbook.engine.runner import Failed
from runbook.host.project import Project
from runbook.ops import verify_steps
from tests.support.host import FakeHost
from tests.support.sites import make_site

MARK = "@@after-migrate"


# --- UpTo: what the operator sees of a command's output ------------------------------------
@pytest.mark.parametrize("chunks, shown", [
    (["a\n", MARK + "\n", "@@django 0\n7\n"], "a\n"),
    # a partial line shows at once (progress), and the marker may come split over reads
    (["  Applying x...", " OK\n@@aft", "er-migrate\n@@django 0\n"], "  Applying x... OK\n"),
    (["@", "@x\n", "b\n"], "@@x\nb\n"),            # held while it could be the marker, then shown
    (["foo" + MARK + "\n", "b\n"], "foo" + MARK + "\nb\n"),   # only at a line's start
    (["a\n" + MARK], "a\n"),                        # the output ends inside the marker
    ([MARK + "\nsecret results\n", "more\n"], ""),
])
def test_up_to_shows_output_until_the_marker(chunks, shown):
    inner = io.StringIO()
    stream = UpTo(inner, MARK)
    for chunk in chunks:
        stream.write(chunk)
    stream.flush()
    assert inner.getvalue() == shown


# --- checks.django_script / django_values -------------------------------------------------
def run_python(script):
    """Run a (code, env) script as the host's `manage.py shell` would: code on stdin, env set."""
    code, env = script
    return subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=30, check=True).stdout


DJ = [{"name": "two lines", "django": "print(1)\nprint()\nprint(2)"},
      {"name": "own namespace", "django": "x = 5\nprint(x)"},
      {"name": "sees no earlier name", "django": "print('x' in globals())"}]


def test_django_batch_runs_each_snippet_in_its_own_namespace():
    values = checks.django_values(run_python(checks.django_script(DJ)), DJ)
    assert values == [["1", "2"], ["5"], ["False"]]


def test_a_snippet_that_raises_fails_naming_the_check():
    bad = DJ[:1] + [{"name": "lookup", "django": "raise LookupError('no such user')"}] + DJ[1:]
    with pytest.raises(DeployError, match=r"the Django check 'lookup' raised LookupError: "
                                          r"no such user; fix its snippet"):
        checks.django_values(run_python(checks.django_script(bad)), bad)


def test_output_cut_short_names_the_first_check_that_never_ran():
    text = run_python(checks.django_script(DJ[:1]))
    with pytest.raises(DeployError, match="'own namespace' printed nothing"):
        checks.django_values(text, DJ[:2])


def test_evaluate_takes_django_values_read_elsewhere_and_runs_only_psql(tmp_path):
    c = FakeHost(make_site(tmp_path))
    sql = {"name": "n", "sql": "SELECT 1", "expect": 1}
    dj = {"name": "d", "django": "print(0)", "expect": 0}
    out = checks.verdicts(c, [sql, dj], {}, django=[["0"]])
    assert [cmd.split()[-1] for cmd in c.commands] == ["app"]   # one psql -d app, no shell
    assert out[1] == ("d", True, "0", 0)


# --- migrate.apply: one shell for every target, then the checks --------------------------
FAKE_DJANGO = {
    "django/__init__.py": "",
    "django/core/__init__.py": "",
    "django/core/management/base.py": "class CommandError(Exception):\n    pass\n",
    "django/core/management/__init__.py": textwrap.dedent("""\
        import json
        from .base import CommandError
        from django.db import connection
        class LockNotAvailable(Exception):
            sqlstate = "55P03"
        def call_command(name, app, target, interactive=True, skip_checks=True):
            assert name == "migrate" and interactive is False and skip_checks is False
            if target == "0099_broken":
                raise CommandError("Cannot find a migration matching '0099_broken'")
            if target == "0097_concurrently":   # through the execute wrappers, like Django's
                connection.run_sql("CREATE INDEX CONCURRENTLY i ON t (c)")
                connection.run_sql('CREATE INDEX "j" ON t (c)')
                print("seen %s" % json.dumps(connection.seen))
            if target == "0098_locked":   # a table lock held elsewhere: waits up to lock_timeout
                print("  Applying %s.%s..." % (app, target), end="")
                assert connection.lock_timeout, "waited forever: no lock_timeout was set"
                raise RuntimeError("canceling statement") from LockNotAvailable()
            print("  Applying %s.%s... OK" % (app, target))
        """),
    # what the data-loss guard (templates/migration_guard.py) wraps; the real ones are
    # exercised by the integration tests
    # the session: set_config('lock_timeout') kept, the lock holders' query answered
    "django/db/__init__.py": textwrap.dedent("""\
        import contextlib
        import types
        class Session:
            lock_timeout = None
            wrappers, seen = [], []
            def cursor(self):
                return self
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                return False
            def execute(self, sql, params=None):
                if "set_config('lock_timeout'" in sql:
                    self.lock_timeout = params[0] if params else sql.split("'")[3]
            def run_sql(self, sql):   # a schema editor's statement: the wrappers, then the driver
                def execute(sql, params, many, context):
                    self.seen.append([sql, self.lock_timeout])
                ctx = {"connection": self, "cursor": types.SimpleNamespace(cursor=self)}
                wrap = self.wrappers[-1] if self.wrappers else None
                return (wrap or execute)(*((execute,) if wrap else ()), sql, None, False, ctx)
            def fetchall(self):
                return [("app_t", 42, "AccessShareLock", "app", "psql", "idle in transaction",
                         "09:41:07")]
            @contextlib.contextmanager
            def execute_wrapper(self, wrapper):
                self.wrappers.append(wrapper)
                yield
                self.wrappers.pop()
        connection = Session()
        """),
    "django/db/migrations/__init__.py": "",
    "django/db/migrations/migration.py": "class Migration:\n    def apply(self, *a):\n        pass\n",
    "django/db/migrations/operations/__init__.py": "".join(
        f"class {name}:\n    def database_forwards(self, *a):\n        pass\n"
        for name in ("RunPython", "RunSQL", "DeleteModel", "RemoveField")),
    "manage.py": "import sys\nassert sys.argv[1:] == ['shell']\nexec(sys.stdin.read())\n",
}


@pytest.fixture
def fake_app(tmp_path):
    app_dir, venv = tmp_path / "app", tmp_path / "venv"
    for name, text in FAKE_DJANGO.items():
        (app_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / name).write_text(text)
    (venv / "bin").mkdir(parents=True)
    os.symlink(sys.executable, venv / "bin" / "python")
    site = make_site(tmp_path, app={"dir": str(app_dir), "venv": str(venv)})
    return FakeHost(site, execute=True)


def plan_of(*names):
    return [{"migration": n, "backwards": False, "ops": []} for n in names]


@pytest.mark.parametrize("names, then, applied, values", [
    # one process; one target per app, its last migration, in first-seen order
    (["accounts.0013_a", "accounts.0014_b", "workshops.0025_c"], [],
     ["accounts.0014_b", "workshops.0025_c"], None),
    (["workshops.0025_c"], DJ[:2], ["workshops.0025_c"], [["1", "2"], ["5"]]),
])
def test_apply_runs_every_target_then_the_checks_in_one_shell(fake_app, names, then, applied,
                                                              values):
    text, after = migrate.apply(fake_app, plan_of(*names), then=then)
    assert len(fake_app.commands) == 1 and fake_app.last.endswith("manage.py shell")
    assert [line.split()[1][:-3] for line in text.splitlines()] == applied
    assert (checks.django_values(after, then) if then else after) == values


def test_concurrently_runs_without_lock_timeout_and_the_next_statement_has_it_again(fake_app):
    """lock_timeout would cancel CREATE INDEX CONCURRENTLY's wait for older transactions and
    leave an INVALID index: it runs with none (it blocks no one)."""
    text, _after = migrate.apply(fake_app, plan_of("workshops.0097_concurrently"))
    seen = json.loads(next(x for x in text.splitlines() if x.startswith("seen "))[5:])
    assert seen == [["CREATE INDEX CONCURRENTLY i ON t (c)", "0"],
                    ['CREATE INDEX "j" ON t (c)', "3s"]]


def test_a_failed_migration_stops_the_shell_before_the_next_target_and_the_checks(fake_app):
    with pytest.raises(UnexpectedExit) as e:
        migrate.apply(fake_app, plan_of("accounts.0099_broken", "workshops.0025_c"), then=DJ)
    assert e.value.result.exited == 1
    assert "CommandError: Cannot find a migration matching '0099_broken'" in e.value.result.stderr
    assert "Applying" not in e.value.result.stdout and MARK not in e.value.result.stdout


LOCKED = ("workshops.0098_locked could not take its lock within 3s ([migrations] lock_timeout): "
          "another session holds a lock on app_t (pid 42, app via psql, idle in transaction since "
          "09:41:07 UTC, AccessShareLock); nothing of that migration was applied; applied before "
          "it in this stage: accounts.0013_a")


@pytest.mark.parametrize("setting, error", [
    ("3s", LOCKED),   # set for the session before migrating: the wait ends in one clear line
    ("0", None),      # off: nothing set, so the stand-in's wait never ends (it raises instead)
])
def test_a_lock_outwaiting_lock_timeout_fails_the_stage_in_one_line(fake_app, setting, error):
    fake_app.site.inventory.project.lock_timeout = setting
    entries = plan_of("accounts.0013_a", "workshops.0098_locked")
    if error:
        with pytest.raises(Failed) as e:
            migrate.apply(fake_app, entries, then=DJ)
        assert str(e.value) == error
    else:
        with pytest.raises(UnexpectedExit) as e:
            migrate.apply(fake_app, entries, then=DJ)
        assert "waited forever: no lock_timeout was set" in e.value.result.stderr


# --- verify.post: SQL checks and fingerprints in one psql, Django checks already read -------
class Host(FakeHost):
    """Answers psql with the rows each `\\echo @@key` section asks for, and the shell with
    django_script's output for `shell_prints`."""

    def __init__(self, site, rows, shell_prints=("0",)):
        super().__init__(site)
        self.rows, self.shell_prints = rows, shell_prints

    def answer(self, command, stdin):
        stdin = stdin or ""
        if command.endswith(" shell"):
            out = "".join(f"@@django {i}\n{p}\n" for i, p in enumerate(self.shell_prints))
        else:
            keys = [line[len("\\echo @@"):] for line in stdin.splitlines()
                    if line.startswith("\\echo @@")]
            out = "".join(f"@@{k}\n" + "".join(x + "\n" for x in self.rows.get(k, [])) for k in keys)
        return Result(stdout=out, exited=0, command=command)


POST = [{"name": "no orphans", "sql": "SELECT 0", "expect": 0},
        {"name": "teachers", "django": "print(0)", "expect": 0}]
MANIFEST = {"tables": {"auth_user": {"rows": 3, "md5": "x"}, "old_profile": {"rows": 2, "md5": "y"}}}


@pytest.mark.parametrize("post_django, manifest, fps, commands, failure", [
    # migrate.run read the Django check: one psql for the SQL check and the fingerprints
    ("@@django 0\n0\n", MANIFEST, ["auth_user|3|h"], ["psql"], None),
    # nothing read before (verify.post alone, or a resumed run): the shell runs here
    (None, MANIFEST, ["auth_user|3|h"], ["psql", "shell"], None),
    # no manifest (no backup in this run): the SQL checks alone, no fingerprints
    ("@@django 0\n0\n", None, [], ["psql"], None),
    ("@@django 0\n0\n", MANIFEST, ["auth_user|2|h"], ["psql"], "table auth_user lost rows: 2 < 3"),
    ("@@django 0\n0\n", MANIFEST, [], ["psql"], "table auth_user is gone"),
    ("@@django 0\n1\n", MANIFEST, ["auth_user|3|h"], ["psql"], "'teachers' is 1, expected 0"),
])
def test_post_checks_read_what_they_can_in_one_psql(tmp_path, post_django, manifest, fps,
                                                    commands, failure):
    site = make_site(tmp_path)
    site.inventory._project = Project(path=tmp_path / "deploy.toml", post_checks=POST,
                                      drops=["old_profile"])
    c = Host(site, {"0": ["0"], "fingerprints": fps})
    said = []
    run = NS(data=RunData(manifest=manifest, post_django=post_django), say=said.append)
    if failure:
        with pytest.raises(Failed, match=failure):
            verify_steps.step_post(c, run)
    else:
        assert verify_steps.step_post(c, run) == "2 checks passed; no table lost rows"
    assert ["shell" if cmd.endswith(" shell") else "psql" for cmd in c.commands] == commands
    assert ("\\echo @@fingerprints" in c.stdins[0]) == bool(manifest)
    assert run.data.post_django is None   # read once, never by a later step
