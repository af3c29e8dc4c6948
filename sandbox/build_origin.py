#!/usr/bin/env python3
"""Publish the sample ``recorder`` app into a bare git repository.

    python3 sandbox/build_origin.py DEST.git

(Re)creates DEST as a bare repo (an existing one is deleted first) with:

    v1              sandbox/app/base
    v2              v1 + overlays/v2                       (parent: v1)
    v2-silent-skip  v1 + overlays/v2 + overlays/v2-silent-skip  (parent: v1)
    v2-raises       v1 + overlays/v2 + overlays/v2-raises       (parent: v1)
    v2-noboot       v1 + overlays/v2 + overlays/v2-noboot       (parent: v1)
    v2-deploy-warnings  v1 + overlays/v2 + overlays/v2-deploy-warnings  (parent: v1)

Every tag is a lightweight tag; each later version is one commit on top of v1,
so v1 -> any of them is a fast-forward.  Branch ``main`` points at v2.

In an overlay a file replaces or adds the same path; an empty file named
``<path>.DELETE`` deletes ``<path>``.  Author, committer and dates are fixed, so
the commit ids are the same on every run.  Standard library + the git CLI only.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = HERE / "app"
BASE = APP / "base"
OVERLAYS = APP / "overlays"

IGNORED_DIRS = {"__pycache__", ".git", ".venv", "venv", ".pytest_cache"}
IGNORED_SUFFIXES = (".pyc", ".pyo")
EXECUTABLE = {"manage.py"}

# name, overlays applied on top of base, parent tag, date, message
VERSIONS = [
    ("v1", [], None, 1704103200, "recorder v1"),
    ("v2", ["v2"], "v1", 1706781600, "v2: profile consolidation (accounts.0014 sync, workshops.0025 drop)"),
    (
        "v2-silent-skip",
        ["v2", "v2-silent-skip"],
        "v1",
        1706785200,
        "v2-silent-skip: profile consolidation whose sync swallows its own error",
    ),
    (
        "v2-raises",
        ["v2", "v2-raises"],
        "v1",
        1706788800,
        "v2-raises: profile consolidation whose workshops.0025 fails",
    ),
    (
        "v2-noboot",
        ["v2", "v2-noboot"],
        "v1",
        1706792400,
        "v2-noboot: profile consolidation with a WSGI module that cannot be imported",
    ),
    (
        "v2-deploy-warnings",
        ["v2", "v2-deploy-warnings"],
        "v1",
        1706796000,
        "v2-deploy-warnings: profile consolidation plus a deploy check that warns (tokens never expire)",
    ),
]
MAIN = "v2"

IDENTITY = {
    "GIT_AUTHOR_NAME": "Recorder Release Bot",
    "GIT_AUTHOR_EMAIL": "release-bot@example.test",
    "GIT_COMMITTER_NAME": "Recorder Release Bot",
    "GIT_COMMITTER_EMAIL": "release-bot@example.test",
}


def git_env(extra=None):
    env = dict(os.environ)
    # Ignore the caller's git configuration (signing, excludes, autocrlf, ...).
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        env.pop(key, None)
    env.update(IDENTITY)
    env.update(extra or {})
    return env


def git(*args, env=None, input=None):
    result = subprocess.run(
        ["git", *args],
        env=env or git_env(),
        input=input,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"git {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout.strip()


def source_files(root):
    """Yield (relative path, absolute path) of the files under root, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        for name in sorted(filenames):
            if name.endswith(IGNORED_SUFFIXES):
                continue
            path = Path(dirpath) / name
            yield path.relative_to(root), path


def materialize(overlays, dest):
    """Write base + overlays into the empty directory dest."""
    for rel, src in source_files(BASE):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    for name in overlays:
        root = OVERLAYS / name
        if not root.is_dir():
            sys.exit(f"missing overlay directory {root}")
        for rel, src in source_files(root):
            if rel.name.endswith(".DELETE"):
                victim = dest / rel.parent / rel.name[: -len(".DELETE")]
                if victim.is_dir():
                    shutil.rmtree(victim)
                elif victim.exists():
                    victim.unlink()
                else:
                    sys.exit(f"overlay {name}: {rel} deletes a path that does not exist")
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    # Fixed modes so the trees (and commit ids) do not depend on the checkout.
    for dirpath, _, filenames in os.walk(dest):
        for name in filenames:
            os.chmod(Path(dirpath) / name, 0o755 if name in EXECUTABLE else 0o644)


def prepare_dest(dest):
    if dest.exists():
        looks_bare = (dest / "HEAD").is_file() and (dest / "objects").is_dir()
        if not looks_bare and any(dest.iterdir()):
            sys.exit(f"{dest} exists and is not a bare git repository; refusing to delete it")
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--bare", "--initial-branch=main", str(dest))


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.exit(f"usage: {argv[0]} DEST.git")
    if not BASE.is_dir():
        sys.exit(f"missing {BASE}")
    dest = Path(argv[1]).resolve()
    prepare_dest(dest)

    commits = {}
    with tempfile.TemporaryDirectory(prefix="recorder-origin-") as tmp:
        for tag, overlays, parent, date, message in VERSIONS:
            work = Path(tmp) / tag
            work.mkdir()
            materialize(overlays, work)
            env = git_env(
                {
                    "GIT_DIR": str(dest),
                    "GIT_WORK_TREE": str(work),
                    "GIT_INDEX_FILE": str(Path(tmp) / f"{tag}.index"),
                    "GIT_AUTHOR_DATE": f"{date} +0000",
                    "GIT_COMMITTER_DATE": f"{date} +0000",
                }
            )
            git("-c", "core.fileMode=true", "add", "--all", "--force", ".", env=env)
            tree = git("write-tree", env=env)
            parent_args = ["-p", commits[parent]] if parent else []
            commit = git("commit-tree", tree, *parent_args, "-m", message, env=env)
            git("update-ref", f"refs/tags/{tag}", commit, env=env)
            commits[tag] = commit

    git("--git-dir", str(dest), "update-ref", "refs/heads/main", commits[MAIN])
    git("--git-dir", str(dest), "symbolic-ref", "HEAD", "refs/heads/main")

    print(f"built {dest}")
    for tag, *_ in VERSIONS:
        print(f"{tag:16} {commits[tag]}")
    print(f"{'main':16} {commits[MAIN]}")


if __name__ == "__main__":
    main(sys.argv)
