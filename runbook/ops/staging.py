"""The target commit checked BEFORE the live tree moves (deploy.release).

A git worktree (docs/BEHAVIOUR.md#git-worktree-stage) of the target beside the work tree
(`<app.dir>.next`, so paths the app finds relative to its tree, like `../shared/app.env`, still
resolve) and a copy of the venv
(`<app.dir>.next-venv`: beside it too, never inside the live tree, even when the venv lives
there) with the target's dependencies installed. `check --deploy`,
`makemigrations --check` and `migrate --plan` then run there, against the live database and
read-only. A failed install or check leaves the live tree and venv exactly as they were; the
stage stays for inspection and is replaced by the next run.

What the worktree lacks: files git does not track. Ignored regular files up to two levels deep
and up to 1 MB (a `.env`, local settings) are copied from the work tree; anything else the app
reads from inside its tree must be named by `app.env_file` or live outside the tree.
"""
import dataclasses
import secrets
from contextlib import contextmanager

from runbook.engine.runner import Failed
from runbook.engine.scripts import script
from runbook.host.inventory import Section
from runbook.host.remote import q, run_script

SUFFIX = ".next"
PEEK = ".plan-"   # staging.peek's worktrees: <app.dir>.plan-<random>, one per plan

def paths(c):
    """(work tree, venv) of the stage."""
    return c.site.app.dir + SUFFIX, c.site.app.dir + SUFFIX + "-venv"


class _Staged:
    """`c` seen with the stage's tree and venv as its app.dir and app.venv: every manage.py
    helper (app.manage, app.shell, the installers) then runs there, unchanged."""

    def __init__(self, c, tree=None, venv=None):
        self._c = c
        tree, venv = (tree, venv) if tree else paths(c)
        site = c.site
        app = Section({**site.app.as_dict(), "dir": tree, "venv": venv})
        self.site = dataclasses.replace(site, settings=Section({**site.settings._values,
                                                                  "app": app}))

    def __getattr__(self, name):
        return getattr(self._c, name)


def staged(c):
    return _Staged(c)


def prepare(c, commit, tree=None, copy=None):
    """(Re)create the stage at `commit`: worktree, untracked small files, a copy of the venv
    (`tree` and `copy` ""; staging.peek's: its own tree, no copy)."""
    tree, copy = (tree, copy) if tree else paths(c)
    a = c.site.app
    r = run_script(c, script("runbook.ops", "stage.sh"), a.dir, tree, a.venv, copy, commit,
                   warn=True)
    if "@@unwritable" in r.stdout:
        parent = tree.rsplit("/", 1)[0] or "/"
        raise Failed(f"the release's stage {tree} cannot be made: {parent} is not writable by "
                     f"{c.user}; make it so (e.g. sudo chown {c.user} {parent})",
                     recovery="nothing was changed; fix the directory, then rerun")
    if r.failed:
        said = (r.stderr or r.stdout).strip().splitlines()
        raise Failed(f"the release's stage {tree} could not be made (exit {r.exited})"
                     + (f": {said[-1]}" if said else ""),
                     recovery="nothing was changed; fix the cause, then rerun")


def remove(c, tree=None, copy=None):
    """Remove the stage (its worktree registration too); nothing when there is none."""
    tree, copy = (tree, copy) if tree else paths(c)
    a = c.site.app
    c.run(f"git -C {q(a.dir)} worktree remove --force {q(tree)} >/dev/null 2>&1 || "
          f"rm -rf {q(tree)}; git -C {q(a.dir)} worktree prune"
          + (f"; rm -rf {q(copy)}" if copy else ""), hide=True)


@contextmanager
def peek(c, commit):
    """`c` seen with a worktree of `commit` beside the app and the LIVE venv, removed on exit:
    what `--plan` reads the target's migrations with (nothing installed, the app untouched; the
    small untracked files, like a `.env`, copied in as for the stage, and gone with it)."""
    tree = c.site.app.dir.rstrip("/") + PEEK + secrets.token_hex(4)   # two plans never share one
    prepare(c, commit, tree, "")
    try:
        yield _Staged(c, tree, c.site.app.venv)
    finally:
        remove(c, tree, "")
