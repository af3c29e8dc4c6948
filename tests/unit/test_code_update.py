"""code_update.update: one round trip that fast-forwards the tree, run for real on a local git repo.

Table-driven: the work tree's state, what `update` returns (or the Failed it raises), and that the
tree moved only when it should.
"""
import subprocess

import pytest

from runbook.engine.runner import Failed
from runbook.ops import code_update
from tests.support.host import FakeHost
from tests.support.sites import make_site


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A work tree with commits v1 -> v2 (code) -> v3 (requirements) and a side branch."""
    r = tmp_path / "app dir"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.email", "t@example.com")
    git(r, "config", "user.name", "t")
    (r / "requirements.txt").write_text("django==4.2\n")
    (r / "app.py").write_text("v1\n")
    git(r, "add", ".")
    git(r, "commit", "-qm", "v1")
    git(r, "tag", "v1")
    (r / "migrations").mkdir()
    (r / "migrations" / "0002_new.py").write_text("# new\n")
    git(r, "add", ".")
    git(r, "commit", "-qm", "v2")
    git(r, "tag", "v2")
    (r / "requirements.txt").write_text("django==4.2\nrequests\n")
    git(r, "commit", "-qam", "v3")
    git(r, "tag", "v3")
    git(r, "checkout", "-q", "-b", "side", "v1")
    (r / "app.py").write_text("side\n")
    git(r, "commit", "-qam", "side")
    git(r, "tag", "side")
    git(r, "checkout", "-q", "-B", "main", "v1")
    return r


def dirty(r):
    (r / "stray.txt").write_text("x\n")


def stale_lock(r):
    (r / ".git" / "index.lock").write_text("")


def stamp_of(repo, tag, venv):
    """The venv's record says it was installed from `tag`'s requirements."""
    text = subprocess.run(["git", "-C", str(repo), "show", f"{tag}:requirements.txt"],
                          capture_output=True, text=True, check=True).stdout
    digest = subprocess.run("sha256sum | cut -c1-64", shell=True, input=subprocess.run(
        "sha256sum -- requirements.txt", shell=True, capture_output=True, text=True,
        cwd=_with_file(repo, text)).stdout, capture_output=True, text=True).stdout
    (venv / code_update.STAMP).write_text(digest)


def _with_file(repo, text):
    d = repo.parent / "stamp-tree"
    d.mkdir(exist_ok=True)
    (d / "requirements.txt").write_text(text)
    return d


CASES = [
    # id, start, target, files, venv installed from (None: no record yet), change,
    # (dependencies stale, missing) or Failed text
    ("already-there", "v1", "v1", [], None, None, (False, [])),
    ("fast-forward", "v1", "v2", ["migrations/0002_new.py"], None, None, (False, [])),
    ("requirements-changed", "v1", "v3", [], None, None, (True, [])),
    ("requirements-changed-recorded", "v1", "v3", [], "v1", None, (True, [])),
    ("missing-file", "v1", "v2", ["migrations/0003_absent.py"], None, None,
     (False, ["migrations/0003_absent.py"])),
    # the tree is at v3 but the install of v3's requirements failed last time: install again
    ("rerun-after-a-failed-install", "v3", "v3", [], "v1", None, (True, [])),
    ("installed-already", "v1", "v3", [], "v3", None, (False, [])),
    ("dirty-tree", "v1", "v2", [], None, dirty, "has local changes (?? stray.txt)"),
    ("not-a-fast-forward", "v2", "side", [], None, None, "is not a fast-forward of the deployed"),
    ("backwards", "v3", "v1", [], None, None, "is not a fast-forward of the deployed"),
    ("merge-fails", "v1", "v2", [], None, stale_lock,
     "git merge --ff-only failed in {repo} (exit 1): error: Unable to create"),
]


@pytest.mark.parametrize("start, target, files, installed, change, expected",
                         [x[1:] for x in CASES], ids=[x[0] for x in CASES])
def test_update(tmp_path, repo, start, target, files, installed, change, expected):
    git(repo, "checkout", "-q", "-B", "main", start)
    if change:
        change(repo)
    venv = tmp_path / "venv"
    venv.mkdir()
    if installed:
        stamp_of(repo, installed, venv)
    c = FakeHost(make_site(tmp_path, app={"dir": str(repo), "venv": str(venv)}), execute=True)
    commit, before = git(repo, "rev-parse", target), git(repo, "rev-parse", start)
    if isinstance(expected, str):
        with pytest.raises(Failed) as e:
            code_update.update(c, commit, files)
        assert expected.format(repo=repo) in str(e.value)
        assert git(repo, "rev-parse", "HEAD") == before          # nothing moved
    else:
        u = code_update.update(c, commit, files)
        assert (u.before, u.after) == (before, commit)
        assert (u.requirements_changed, u.missing) == expected
        assert git(repo, "rev-parse", "HEAD") == commit
    if not installed:   # no record yet: the venv is taken to match the tree it served
        stamp = (venv / code_update.STAMP).read_text()
        stamp_of(repo, start, venv)
        assert stamp == (venv / code_update.STAMP).read_text()
    assert len(c.commands) == 1                                   # one round trip


@pytest.mark.parametrize("pip_exit, recorded", [(0, True), (1, False)])
def test_only_a_whole_install_is_recorded(tmp_path, repo, pip_exit, recorded):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    # a stand-in for the venv's Python, run as `python -m pip install ...`
    (venv / "bin" / "python").write_text(f'#!/bin/sh\n[ "$1 $2" = "-m pip" ] || exit 9\n'
                                         f"echo installing; exit {pip_exit}\n")
    (venv / "bin" / "python").chmod(0o755)
    git(repo, "checkout", "-q", "-B", "main", "v3")
    c = FakeHost(make_site(tmp_path, app={"dir": str(repo), "venv": str(venv)}), execute=True)
    assert code_update.dependencies_stale(c)          # no record: installing is the safe side
    if pip_exit:
        with pytest.raises(Failed, match="installing the dependencies with pip failed"):
            code_update.install_requirements(c)
    else:
        code_update.install_requirements(c)
    assert code_update.dependencies_stale(c) is not recorded
