"""preflight_facts.read: the fetch, ref, tree, disk and logs in one round trip, run for real on a
local clone of a local origin (table-driven: the host's state and what preflight learns)."""
import subprocess
import time

import pytest

from runbook.engine.errors import Failed
from runbook.ops import preflight_facts
from runbook.ops.verify_steps import log_sizes
from tests.support.host import FakeHost
from tests.support.sites import make_site


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def host(tmp_path):
    """An origin with v1 and a later v2 (pushed after the clone: only a fetch sees it), a work
    tree cloned at v1, a backup dir and one app log of 11 bytes."""
    src, origin, work = tmp_path / "src", tmp_path / "origin.git", tmp_path / "app tree"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    git(src, "config", "user.email", "t@example.com")
    git(src, "config", "user.name", "t")
    (src / "app").mkdir()
    (src / "app" / "views.py").write_text("v1\n")
    git(src, "add", ".")
    git(src, "commit", "-qm", "v1")
    git(src, "tag", "v1")
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True)
    (src / "app" / "migrations").mkdir()
    (src / "app" / "migrations" / "0002_more.py").write_text("# 2\n")
    git(src, "add", ".")
    git(src, "commit", "-qm", "v2")
    git(src, "tag", "v2")
    git(src, "push", "-q", "--tags", str(origin), "main")
    (tmp_path / "backups").mkdir()
    (tmp_path / "app.log").write_text("0123456789\n")
    site = make_site(tmp_path, app={"dir": str(work), "venv": "/srv/venv",
                                    "log_files": [str(tmp_path / "app.log")],
                                    "journal_units": ["gunicorn"]},
                     nginx={"access_log": str(tmp_path / "absent.log"),
                            "error_log": str(tmp_path / "app.log")},
                     backup={"dir": str(tmp_path / "backups")})
    return FakeHost(site, execute=True), src, work, tmp_path


CASES = [
    # id, ref, change to the work tree, tree wanted, expected: commit tag, changes, tree
    ("fetched-tag", "v2", None, True, ("v2", [], ["app/migrations/0002_more.py", "app/views.py"])),
    ("branch-after-fetch", "origin/main", None, False, ("v2", [], [])),
    ("no-such-ref", "v9", None, True, (None, [], [])),
    ("dirty", "v2", "stray.txt", False, ("v2", ["?? stray.txt"], [])),
]


@pytest.mark.parametrize("ref, stray, tree, expected", [x[1:] for x in CASES],
                         ids=[x[0] for x in CASES])
def test_read(host, ref, stray, tree, expected):
    c, src, work, tmp = host
    if stray:
        (work / stray).write_text("x\n")
    f = preflight_facts.read(c, ref, tree=tree)
    tag, changes, paths = expected
    assert f.commit == (git(src, "rev-parse", tag) if tag else "")
    assert f.head == git(src, "rev-parse", "v1")                   # the tree did not move
    assert f.changes == changes and sorted(f.tree) == paths
    now = f.logs.pop("journal:gunicorn")   # a unit's journal: the host's clock, in seconds
    assert f.logs == {str(tmp / "app.log"): 11, str(tmp / "absent.log"): 0}
    assert abs(now - time.time()) < 60
    assert f.free > 0
    assert len(c.commands) == 1                                     # one round trip


@pytest.mark.parametrize("lines, expected", [
    (["/var/log/a.log 12", "journal:gunicorn 1764000000"], {"/var/log/a.log": 12,
                                                          "journal:gunicorn": 1764000000}),
    (["/var/log/my app.log 0"], {"/var/log/my app.log": 0}),   # a space in the name
])
def test_log_positions_are_parsed(lines, expected):
    assert log_sizes(lines, "deploy") == expected


def test_a_journal_the_ssh_user_cannot_read_fails_in_one_line_with_the_fix():
    with pytest.raises(Failed) as e:
        log_sizes(["/var/log/a.log 3", "journal:gunicorn -1", "journal:worker -1"], "deploy")
    assert "deploy cannot read the journal of gunicorn, worker (app.journal_units)" in e.value.text
    assert "sudo usermod -aG systemd-journal deploy" in e.value.text and "\n" not in e.value.text
