"""The app's code on the host: resolve a ref, fast-forward the work tree, reinstall requirements.

A dirty work tree or a non-fast-forward is refused (a deploy never discards changes on the host:
docs/BEHAVIOUR.md#git-fast-forward-only); dependencies are installed when the venv's record
(STAMP) says it was installed from other dependency files than the tree's.
"""
import re
from dataclasses import dataclass

from runbook.django import app
from runbook.engine.errors import ConfigError
from runbook.engine.fabcmd import fab
from runbook.engine.runner import Failed
from runbook.engine.scripts import script
from runbook.host.remote import q, run_script, sections


def fetch(c):
    a = c.site.app
    app.git(c, "fetch", "--quiet", "--tags", "--force", a.git_remote)


def ref_name(c, ref=None):
    """The ref to deploy (default: the remote's deployed branch); ConfigError when it cannot be
    a git ref (an option-like or spaced name never reaches git)."""
    a = c.site.app
    name = ref or f"{a.git_remote}/{a.git_branch}"
    if name.startswith("-") or any(ch.isspace() for ch in name):
        raise ConfigError(f"--ref {name!r} is not a git ref; give a branch, tag or commit")
    return name


def no_such_ref(c, name):
    a = c.site.app
    return Failed(f"ref {name!r} does not exist in {a.dir} after fetching {a.git_remote}",
                  recovery=f"check the ref (git ls-remote {a.git_remote}); nothing was changed")


def resolve(c, ref=None):
    """(ref name, commit) on the host after a fetch; Failed naming the ref when it does not exist."""
    name = ref_name(c, ref)
    r = app.git(c, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", warn=True)
    if not r.ok:
        raise no_such_ref(c, name)
    return name, r.stdout.strip()


def dirty(c):
    """Lines of `git status --porcelain` (tracked changes and untracked files), [] when clean."""
    out = app.git(c, "status", "--porcelain", "--untracked-files=normal").stdout
    return [line for line in out.splitlines() if line.strip()]


@dataclass(frozen=True)
class Update:
    """What `update` did and found: the commits, whether the dependency files differ, and the
    expected files missing after it."""
    before: str
    after: str
    requirements_changed: bool
    missing: list


def update(c, commit, files=()):
    """Move the work tree to `commit` only by fast-forward, in one round trip that also says
    whether the venv's dependencies are stale for it (`deps_stale`: a run that failed at the
    install is installed again by the next) and which of `files` (relative to app.dir) are
    missing. Failed on local changes or a non-fast-forward."""
    a = c.site.app
    r = run_script(c, script("runbook.ops", "deps.sh", "code_update.sh"), *files,
                   env={**deps_env(c), "RB_TO": commit}, warn=True)
    s = {k: [x for x in v if x.strip()] for k, v in sections(r.stdout).items()}
    before = (s.get("before") or [""])[0]
    if r.failed:
        what = (s.get("failed") or ["the code update script"])[0]
        said = (r.stderr or "").strip().splitlines()
        said = [x for x in said if x.startswith(("fatal:", "error:"))][:1] or said[-1:]
        raise Failed(f"{what} failed in {a.dir} (exit {r.exited}){': ' + said[0] if said else ''}")
    if "dirty" in s:
        changes = s["dirty"]
        raise Failed(f"the work tree {a.dir} has local changes ({'; '.join(changes[:3])}"
                     f"{'...' if len(changes) > 3 else ''}); refusing to deploy over them",
                     recovery=f"inspect them on the host (git -C {a.dir} status), commit or "
                              "remove them, then rerun; nothing was changed")
    if "not-ff" in s:
        raise Failed(f"{commit[:12]} is not a fast-forward of the deployed {before[:12]}",
                     recovery="deploy a ref that contains the deployed commit, or go back with "
                              + fab(c, "rollback.code --ref REF --yes"))
    if "done" not in s:
        raise Failed(f"the code update on {c.site.name} ended early "
                     f"({r.stdout.strip().splitlines()[-1] if r.stdout.strip() else 'no output'})")
    return Update(before, commit, "requirements" in s, s["missing"])


def move_to(c, commit):
    """Check out `commit` on the deployed branch even backwards (rollback); refuses local changes
    (a tree already at `commit` is left as it is)."""
    before = app.head(c)
    if before == commit:
        return before, commit
    changes = dirty(c)
    if changes:
        raise Failed(f"the work tree {c.site.app.dir} has local changes; refusing to reset over them",
                     recovery=f"inspect with git -C {c.site.app.dir} status")
    app.git(c, "reset", "--quiet", "--keep", commit)
    return before, commit


LOCK_FILES = {"poetry": "poetry.lock", "uv": "uv.lock"}


def dependency_files(c):
    """The files whose change means reinstalling: the requirements file, or pyproject.toml and
    the installer's lock file."""
    a = c.site.app
    lock = LOCK_FILES.get(a.installer)
    return ["pyproject.toml", lock] if lock else [a.requirements]


def record_move(c, run, before, after):
    """Note a code move in the run's host state (with the way back); returns the step's note."""
    if before == after:
        return "nothing to do: already at the target"
    run.state["code"] = (f"code is at {after[:12]} (was {before[:12]}); to go back: "
                         + fab(c, f"rollback.code --ref {q(before[:12])} --yes"))
    return f"{before[:12]} -> {after[:12]}"


# The venv records what it was installed for: a digest of the dependency files it was last
# installed from (`<venv>/.deploy-dependencies`). A deploy installs when the work tree's files
# differ from it - not when this run's before/after differ - so a rerun after a failed install
# installs again (docs/GUARDS.md's neighbour: README "Dependencies").
STAMP = ".deploy-dependencies"


def deps_env(c):
    """The variables of scripts/deps.sh: the work tree, its dependency files, the venv's record."""
    return {"RB_APP_DIR": c.site.app.dir, "RB_DEP_FILES": "\n".join(dependency_files(c)),
            "RB_STAMP": f"{c.site.app.venv}/{STAMP}"}


def deps(c, function, **kwargs):
    """Run one function of scripts/deps.sh on the host."""
    return run_script(c, script("runbook.ops", "deps.sh", "deps_call.sh"), function,
                      env=deps_env(c), **kwargs)


def record_stamp_before_move(c):
    """Before a checkout (release, rollback.code): record what the venv serves, if not yet."""
    deps(c, "stamp_missing")


def dependencies_stale(c):
    """True when the venv's dependencies were not installed from the work tree's files (also
    when no record exists: installing again is the safe side)."""
    return deps(c, "deps_stale", warn=True).ok


def install_command(c):
    """Install the app's dependencies into its venv with the project's own tool."""
    a = c.site.app
    if a.installer == "poetry":  # poetry installs into the active venv (VIRTUAL_ENV)
        return (f"cd {q(a.dir)} && VIRTUAL_ENV={q(a.venv)} PATH={q(a.venv + '/bin')}:\"$PATH\" "
                "poetry install --no-interaction --no-root --only main")
    if a.installer == "uv":
        # the lock as it is (--frozen), into the app's venv with its own Python: without
        # --python uv would replace a venv whose Python misses requires-python; --inexact keeps
        # what the lock does not list (as pip and poetry do), e.g. a gunicorn installed apart
        return (f"cd {q(a.dir)} && UV_PROJECT_ENVIRONMENT={q(a.venv)} uv sync --frozen --no-dev "
                f"--no-install-project --inexact --python {q(a.venv + '/bin/python')} "
                "--no-python-downloads --no-progress")
    # `python -m pip`, not bin/pip: a copied venv's pip script still names the original's Python
    return (f"cd {q(a.dir)} && {q(a.venv + '/bin/python')} -m pip install --quiet "
            f"--disable-pip-version-check -r {q(a.requirements)}")


TAIL = 6   # lines of a failed install's output in its message: the cause is at the end
# ...except where the installer gives advice after it (poetry's "Solutions:"): the first line
# that reads like a cause is named too
CAUSE = re.compile(r"^(?:ERROR|error|Error)\b|\b(?:Unable to|Could not|Cannot|No matching|"
                   r"Because|not found|Failed)\b|^\s*×")


def install_failure(c, command, result):
    """Failed naming the whole install command, the first two lines of its output that read
    like the cause, and the last lines (stderr last, where pip, poetry and uv say why), masked."""
    lines = [x.strip() for x in f"{result.stdout or ''}\n{result.stderr or ''}".splitlines()]
    lines = [x for x in lines if x]
    tail = lines[-TAIL:]
    cause = [x for x in lines[:-TAIL] if CAUSE.search(x)][:2]
    said = (f"; the cause: {' / '.join(cause)}" if cause else "") + \
        (f"; its output ends: {' / '.join(tail)}" if tail else "; it printed nothing")
    return Failed(c.mask(f"installing the dependencies with {c.site.app.installer} failed "
                         f"(exit {result.exited}): {command}{said}"))


def install_requirements(c):
    """Install with the app's installer; Failed naming the command and the cause if it fails."""
    command = install_command(c)
    r = c.run(command, hide=True, warn=True)
    if r.failed:
        raise install_failure(c, command, r)
    deps(c, "deps_record")   # only a whole install is recorded
