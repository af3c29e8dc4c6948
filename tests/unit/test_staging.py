"""staging: the target commit beside the live tree, run for real on a local git repo."""
import subprocess

from runbook.django import app
from runbook.ops import code_update, staging
from tests.support.host import FakeHost
from tests.support.sites import make_site


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_prepare_stages_the_target_beside_the_live_tree_and_remove_cleans_up(tmp_path):
    live, venv = tmp_path / "app", tmp_path / "venv"
    live.mkdir()
    git(live, "init", "-q", "-b", "main")
    git(live, "config", "user.email", "t@example.com")
    git(live, "config", "user.name", "t")
    (live / ".gitignore").write_text(".env\nbig.bin\nmedia/\nsrc/local.py\n")
    (live / "app.py").write_text("v1\n")
    git(live, "add", ".")
    git(live, "commit", "-qm", "v1")
    (live / "app.py").write_text("v2\n")
    git(live, "commit", "-qam", "v2")
    v2 = git(live, "rev-parse", "HEAD")
    git(live, "checkout", "-q", "HEAD~1")
    (live / ".env").write_text("SECRET=x\n")                       # copied: small, ignored
    (live / "src").mkdir()
    (live / "src" / "local.py").write_text("DEBUG = False\n")      # copied: one level down
    (live / "big.bin").write_bytes(b"0" * 2_000_000)               # not: over 1 MB
    (live / "media").mkdir()
    (live / "media" / "upload.jpg").write_text("x")                # not: an ignored directory
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\n")
    c = FakeHost(make_site(tmp_path, app={"dir": str(live), "venv": str(venv)}), execute=True)

    staging.prepare(c, v2)
    tree, copy = tmp_path / "app.next", tmp_path / "app.next-venv"
    assert (tree / "app.py").read_text() == "v2\n" and (live / "app.py").read_text() == "v1\n"
    assert (tree / ".env").read_text() == "SECRET=x\n"
    assert (tree / "src" / "local.py").exists()
    assert not (tree / "big.bin").exists() and not (tree / "media").exists()
    assert (copy / "bin" / "python").exists()
    assert git(live, "status", "--porcelain") == ""                 # the live tree untouched

    # every manage.py helper and installer, seen through the stage, runs there
    stage = staging.staged(c)
    assert stage.site.app.dir == str(tree) and stage.site.app.venv == str(copy)
    assert stage.site.name == c.site.name and stage.site.database.name == c.site.database.name
    assert app.prefix(stage).startswith(f"cd {tree} &&")
    assert str(copy / "bin" / "python") in code_update.install_command(stage)

    staging.prepare(c, v2)                                          # again: replaced, no error
    staging.remove(c)
    assert not tree.exists() and not copy.exists()
    assert "app.next" not in git(live, "worktree", "list")
