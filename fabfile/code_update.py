"""The app's code on the host: resolve a ref, fast-forward the work tree, reinstall requirements.

A dirty work tree or a non-fast-forward is refused (a deploy never discards changes on the host);
requirements are reinstalled only when the requirements file changed.
"""
from . import app, services
from .errors import ConfigError
from .remote import q, run_script
from .steps import Failed


def fetch(c):
    a = c.site.app
    app.git(c, "fetch", "--quiet", "--tags", "--force", a.git_remote)


def resolve(c, ref=None):
    """(ref name, commit) on the host after a fetch; Failed naming the ref when it does not exist."""
    a = c.site.app
    name = ref or f"{a.git_remote}/{a.git_branch}"
    if name.startswith("-") or any(ch.isspace() for ch in name):
        raise ConfigError(f"--ref {name!r} is not a git ref; give a branch, tag or commit")
    r = app.git(c, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", warn=True)
    if not r.ok:
        raise Failed(f"ref {name!r} does not exist in {a.dir} after fetching {a.git_remote}",
                     recovery=f"check the ref (git ls-remote {a.git_remote}); nothing was changed")
    return name, r.stdout.strip()


def dirty(c):
    """Lines of `git status --porcelain` (tracked changes and untracked files), [] when clean."""
    out = app.git(c, "status", "--porcelain", "--untracked-files=normal").stdout
    return [line for line in out.splitlines() if line.strip()]


def fast_forward(c, commit):
    """Move the work tree to `commit` only by fast-forward; returns (before, after)."""
    before = app.head(c)
    if before == commit:
        return before, commit
    changes = dirty(c)
    if changes:
        raise Failed(f"the work tree {c.site.app.dir} has local changes ({'; '.join(changes[:3])}"
                     f"{'...' if len(changes) > 3 else ''}); refusing to deploy over them",
                     recovery=f"inspect them on the host (git -C {c.site.app.dir} status), commit or "
                              "remove them, then rerun; nothing was changed")
    ff = app.git(c, "merge-base", "--is-ancestor", before, commit, warn=True)
    if not ff.ok:
        raise Failed(f"{commit[:12]} is not a fast-forward of the deployed {before[:12]}",
                     recovery="deploy a ref that contains the deployed commit, or go back with "
                              f"fab -H {c.site.name} rollback.code --ref REF")
    app.git(c, "merge", "--quiet", "--ff-only", commit)
    return before, commit


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


def dependency_files(c):
    """The files whose change means reinstalling: the requirements file, or poetry's two."""
    a = c.site.app
    return ["pyproject.toml", "poetry.lock"] if a.installer == "poetry" else [a.requirements]


def record_move(c, run, before, after):
    """Note a code move in the run's host state (with the way back); returns the step's note."""
    if before == after:
        return "nothing to do: already at the target"
    run.state["code"] = (f"code is at {after[:12]} (was {before[:12]}); to go back: "
                         f"fab -H {c.site.name} rollback.code --ref {before[:12]}")
    return f"{before[:12]} -> {after[:12]}"


def requirements_changed(c, before, after):
    r = app.git(c, "diff", "--quiet", before, after, "--", *dependency_files(c), warn=True)
    return not r.ok


def install_command(c):
    """Install the app's dependencies into its venv with the project's own tool."""
    a = c.site.app
    if a.installer == "poetry":  # poetry installs into the active venv (VIRTUAL_ENV)
        return (f"cd {q(a.dir)} && VIRTUAL_ENV={q(a.venv)} PATH={q(a.venv + '/bin')}:\"$PATH\" "
                "poetry install --no-interaction --no-root --only main")
    return (f"cd {q(a.dir)} && {q(a.venv + '/bin/pip')} install --quiet --disable-pip-version-check "
            f"-r {q(a.requirements)}")


def install_requirements(c):
    c.run(install_command(c), hide=True)


def missing_files(c, paths):
    if not paths:
        return []
    script = "\n".join(f"test -e {q(c.site.app.dir + '/' + p)} || echo {q(p)}" for p in paths)
    return [x for x in run_script(c, script).stdout.splitlines() if x.strip()]


def restart_and_wait(c):
    """Restart the app (graceful reload where the manager has one), then wait for health 200."""
    r = services.control(c, "restart", warn=True)
    ok, status, took = (False, 0, 0.0) if not r.ok else services.wait_healthy(c)
    if not ok:
        said = (r.stdout or r.stderr).strip().splitlines()
        raise Failed(f"the app did not answer 200 on {c.site.health.url} after the restart "
                     f"(last status {status or 'none'}; service {services.state(c)}"
                     f"{'; ' + said[-1] if not r.ok and said else ''})")
    return took
