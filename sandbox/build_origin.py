#!/usr/bin/env python3
"""Publish a sample app (``recorder`` or ``ledger``) into a bare git repository.

    python3 sandbox/build_origin.py [--app recorder|ledger] DEST.git

(Re)creates DEST as a bare repo (an existing one is deleted first) from the app's source,
``sandbox/app`` for recorder (the default) and ``sandbox/ledger`` for ledger: ``v1`` is its
``base/``, every later tag is one commit on top of v1 (so v1 -> any of them is a fast-forward)
applying the overlays its *_VERSIONS table lists, and branch ``main`` points at ``v2``. The
tag tables are in each app's README.md.

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

IGNORED_DIRS = {"__pycache__", ".git", ".venv", "venv", ".pytest_cache"}
IGNORED_SUFFIXES = (".pyc", ".pyo")
EXECUTABLE = {"manage.py"}

# name, overlays applied on top of base, parent tag, date, message
RECORDER_VERSIONS = [
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
LEDGER_VERSIONS = [
    ("v1", [], None, 1709287200, "ledger v1"),
    ("v1.1", ["v1.1"], "v1", 1710496800, "v1.1: profiles get a nullable nickname (people.0002, additive)"),
    ("v1.1-index", ["v1.1", "v1.1-index"], "v1", 1710928800,
     "v1.1-index: v1.1 and a plain index on profiles' display name (people.0003, AddIndex)"),
    ("v1-rename", ["v1-rename"], "v1", 1711101600,
     "v1-rename: profiles' display_name renamed to name (people.0002, RenameField)"),
    ("v2", ["v2"], "v1", 1711965600, "v2: legacy profiles synced into profiles (people.0003), then deleted (people.0004)"),
    (
        "v2-swallow-loud",
        ["v2", "v2-swallow-loud"],
        "v1",
        1711969200,
        "v2-swallow-loud: the sync fails, prints '!!! Error during sync', copies nothing",
    ),
    (
        "v2-swallow-silent",
        ["v2", "v2-swallow-silent"],
        "v1",
        1711972800,
        "v2-swallow-silent: the sync fails without a word and copies nothing",
    ),
    (
        "v2-badlock",
        ["v2", "v2-badlock"],
        "v1",
        1711976400,
        "v2-badlock: poetry.lock pins gunicorn 99.0.0, which does not exist",
    ),
]

# app name: (source directory, versions, the tag main points at, release bot's name)
APPS = {
    "recorder": (HERE / "app", RECORDER_VERSIONS, "v2", "Recorder Release Bot"),
    "ledger": (HERE / "ledger", LEDGER_VERSIONS, "v2", "Ledger Release Bot"),
}
IDENTITY = {}   # set by main() for the app being built


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


def materialize(app_dir, overlays, dest):
    """Write app_dir/base + app_dir/overlays/... into the empty directory dest."""
    for rel, src in source_files(app_dir / "base"):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    for name in overlays:
        root = app_dir / "overlays" / name
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
    usage = f"usage: {argv[0]} [--app {'|'.join(APPS)}] DEST.git"
    args = argv[1:]
    name = "recorder"
    if args[:1] == ["--app"]:
        if len(args) < 2 or args[1] not in APPS:
            sys.exit(f"{usage}\n--app must be one of: {', '.join(APPS)}")
        name, args = args[1], args[2:]
    if len(args) != 1 or args[0].startswith("-"):
        sys.exit(usage)
    app_dir, versions, main_tag, bot = APPS[name]
    if not (app_dir / "base").is_dir():
        sys.exit(f"missing {app_dir / 'base'}")
    IDENTITY.update({"GIT_AUTHOR_NAME": bot, "GIT_AUTHOR_EMAIL": "release-bot@example.test",
                     "GIT_COMMITTER_NAME": bot, "GIT_COMMITTER_EMAIL": "release-bot@example.test"})
    dest = Path(args[0]).resolve()
    prepare_dest(dest)

    commits = {}
    with tempfile.TemporaryDirectory(prefix=f"{name}-origin-") as tmp:
        for tag, overlays, parent, date, message in versions:
            work = Path(tmp) / tag
            work.mkdir()
            materialize(app_dir, overlays, work)
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

    git("--git-dir", str(dest), "update-ref", "refs/heads/main", commits[main_tag])
    git("--git-dir", str(dest), "symbolic-ref", "HEAD", "refs/heads/main")

    print(f"built {dest}")
    for tag, *_ in versions:
        print(f"{tag:18} {commits[tag]}")
    print(f"{'main':18} {commits[main_tag]}")


if __name__ == "__main__":
    main(sys.argv)
