"""runbook-tasks used from another project (README: "Use it from your own project").

The package is installed into a fresh venv in a temp directory (from a copy of this clone's
`pyproject.toml` and `runbook/`: a build inside the clone would leave `build/` there, whose stale
files end up in later wheels). The README's `fabric.yaml`, `fabfile.py` and `teachers.py` are
written into a project directory exactly as the README shows them, so the doc and this test
cannot drift; then that venv's `fab` runs there, and from elsewhere with `-r`, against the
sandbox: the listing, verify.status, and the README's own runbook, planned then run.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.support.sandbox import INVOKE, ROOT, SITE, STATE, http_get, make_inventory, scalar

EXAMPLE = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.S)
STEPS = ["backup.create", "maintenance.on", "backfill is_teacher", "maintenance.off", "verify.smoke"]
# what the README's runbook fixes, read here independently of it: instructors not yet teachers
NOT_TEACHERS = """SELECT count(*) FROM workshops_userprofile w
                  JOIN accounts_userprofile a USING (user_id)
                  WHERE w.is_instructor AND NOT a.is_teacher"""


def readme_files():
    """{file name: text} of the README's marked example files."""
    return dict(EXAMPLE.findall((ROOT / "README.md").read_text()))


def install(venv, src):
    """A real install of `src` into a new venv: uv's when uv is there (seconds, its cache),
    else the venv's own pip (about 25 s here)."""
    uv = shutil.which("uv")
    steps = ([[uv, "venv", "-q", "--python", sys.executable, str(venv)],
              [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(src)]]
             if uv else [[sys.executable, "-m", "venv", str(venv)],
                         [str(venv / "bin" / "pip"), "install", "-q", str(src)]])
    for argv in steps:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{argv}: {r.stdout}{r.stderr}"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """(the venv's fab, the project directory holding the README's files)."""
    base = tmp_path_factory.mktemp("library-use")
    src = base / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copytree(ROOT / "runbook", src / "runbook", ignore=shutil.ignore_patterns("__pycache__"))
    install(base / "venv", src)
    files = readme_files()
    assert set(files) == {"fabric.yaml", "fabfile.py", "teachers.py"}, sorted(files)
    assert len(files["teachers.py"].splitlines()) <= 30   # the README promises a short runbook
    proj = base / "myproject"
    proj.mkdir()
    for name, text in files.items():
        (proj / name).write_text(text)
    return base / "venv" / "bin" / "fab", proj


@pytest.fixture
def run(project, home, sandbox):
    """fab from the venv as the user runs it: in the project (its hosts.toml and .env: the
    sandbox's), or in `cwd`; nothing of this clone on the path."""
    fab, proj = project
    make_inventory(proj)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1")

    def fab_in(*args, cwd=proj):
        return subprocess.run([str(fab), *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=600)
    return fab_in


def test_the_installed_package_is_the_one_fab_imports(project):
    fab, _proj = project
    r = subprocess.run([str(fab.parent / "python"), "-c", "import runbook; print(runbook.__file__)"],
                       cwd="/", capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(fab.parents[1])), r.stdout   # the venv's, not this clone's


def test_fab_list_shows_the_collections_and_the_custom_runbook(run, project, tmp_path):
    _fab, proj = project
    here, anywhere = run("--list"), run("-r", str(proj), "--list", cwd=tmp_path)
    assert here.returncode == 0, here.stderr
    names = set(re.findall(r"^  (\S+)", here.stdout, re.M))
    assert {"backfill_teachers", "backup.create", "deploy.consolidate", "deploy.pg_upgrade",
            "maintenance.on", "migrate.run", "rollback.restore", "verify.status"} <= names
    assert not any(n.startswith("pg_upgrade.") for n in names)   # the fabfile left it out
    assert anywhere.stdout == here.stdout, anywhere.stderr
    lost = run("--list", cwd=tmp_path)   # no fabfile here: -r is what finds the project
    assert lost.returncode != 0 and "Can't find any collection" in lost.stderr, lost.stderr


def test_verify_status_from_the_project_and_from_anywhere(run, project, tmp_path):
    _fab, proj = project
    given = run("-H", "sandbox", "verify.status", "--hosts-file", str(STATE / "hosts.toml"))
    elsewhere = run("-r", str(proj), "-H", "sandbox", "verify.status", cwd=tmp_path)  # hosts.toml: the project's
    for r in (given, elsewhere):
        assert r.returncode == 0, r.stdout + r.stderr
        assert re.search(r"^host\s+sandbox \(deploy@127\.0\.0\.1:2222\)$", r.stdout, re.M), r.stdout
    assert not (tmp_path / "hosts.toml").exists()


def test_the_readme_runbook_plans_then_runs_on_the_sandbox(run, reset_sandbox, db):
    """--plan changes nothing; the run backs up, fixes the data under the maintenance page,
    proves it, serves the app again and passes the smoke checks. The sandbox is reset after."""
    try:
        with db() as conn:
            before = scalar(conn, NOT_TEACHERS)
        assert before > 0   # the seeded v1 data has instructors to backfill

        plan = run("-H", "sandbox", "backfill_teachers", "--plan")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert "PLAN for backfill_teachers on sandbox" in plan.stdout, plan.stdout
        assert all(s in plan.stdout for s in STEPS), plan.stdout
        assert "Set is_teacher on every instructor's profile" in plan.stdout   # the step's own doc
        assert "$ psql: UPDATE accounts_userprofile SET is_teacher" in plan.stdout   # its @commands
        with db() as conn:
            assert scalar(conn, NOT_TEACHERS) == before   # nothing ran

        r = run("-H", "sandbox", "backfill_teachers")
        assert r.returncode == 0, r.stdout + r.stderr
        run_id = re.search(r"^backfill_teachers on sandbox \(run (\S+)\)$", r.stdout, re.M)[1]
        assert f"{before} profiles backfilled; every instructor is a teacher" in r.stdout, r.stdout
        assert re.search(r"downtime \(maintenance ON->OFF\): \d", r.stdout), r.stdout
        assert re.search(r"\d+ smoke checks passed", r.stdout), r.stdout
        with db() as conn:
            assert scalar(conn, NOT_TEACHERS) == 0
        assert http_get(f"{SITE}/workshops/")[0] == 200   # maintenance is off again
        backups = run("-H", "sandbox", "backup.list")   # the run's backup is named after it
        assert re.search(rf"^{run_id} .* yes \(full read", backups.stdout, re.M), backups.stdout
        history = run("-H", "sandbox", "deploy.history")
        assert re.search(rf"{run_id}\s+\S+\s+backfill_teachers\s+\S+\s+ok\s+[\d.]+s\s+{run_id}",
                         history.stdout), history.stdout
    finally:
        r = subprocess.run([str(INVOKE), "sandbox.reset"], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
