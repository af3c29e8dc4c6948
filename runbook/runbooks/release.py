"""deploy.release and deploy.tag: the upgrade plan's staging/production deploy as checkpoints.

    fab -H staging deploy.tag --name v0.1.9-pre-upgrade     tag what is deployed, push the tag
    fab -H staging deploy.release --ref upgrade/django-4.2-pg14

`release` = preflight, backup, audit (the invariants' baseline), checkout of the ref,
dependencies with the project's own tool (pip, poetry or uv), `check --deploy` (deploy.toml
[checks]), `makemigrations --check --dry-run`, `migrate --plan` (destructive operations flagged,
unguarded ones refused), maintenance on (nginx or the app's own flag file), workers stopped,
migrate in stages behind the data-loss guards, app restarted, workers started, maintenance off,
smoke contract, log scan. It stops at the first failed checkpoint and prints the command that
recovers.
"""
import json
import re

from runbook.django import app, compat, lint, lint_step, migrate
from runbook.engine.errors import ConfigError, DeployError
from runbook.engine.journal import who
from runbook.engine.runner import LOCAL, Failed, Step, commands
from runbook.engine.scripts import script as load
from runbook.engine.shell import q, sh
from runbook.host import services
from runbook.ops import backup, code_update, maintenance, staging, switch, switch_steps, verify_steps
from runbook.runbooks import plan
from runbook.runbooks.deploy import step_preflight, step_restart_in_window, target

TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def _manage_checkpoint(what, *args):
    """A step running `manage.py ARGS` that must exit 0; its last lines are the reason if not."""
    @commands(lambda c, run: [f"{app.prefix(c)} {sh(*args)}"])
    def run_step(c, run):
        r = app.manage(c, *args, warn=True)
        out = (r.stdout + r.stderr).strip().splitlines()
        for line in out[-12:] if not r.ok else []:
            run.say(f"      | {line}")
        if not r.ok:
            said = [x.strip() for x in out if re.search(r"\(\w+\.[WE]\d+\)|Migrations for", x)]
            raise Failed(f"{what} failed (manage.py {' '.join(args)} exited {r.exited})"
                         + (": " + "; ".join(said[:5]) if said else ""))
        return f"manage.py {' '.join(args)}: ok"
    run_step.__doc__ = f"`manage.py {' '.join(args)}` must exit 0 (else: {what})."
    return run_step


CHECK_ID = re.compile(r"\(([\w.-]+\.[A-Z]\d+)\)")


@commands(lambda c, run: [
    f"{app.prefix(c)} shell  <- check --deploy --fail-level "
    f"{c.site.inventory.project.check_fail_level}, silenced: "
    f"{', '.join(c.site.inventory.project.check_silence) or 'none'}"])
def step_check_deploy(c, run):
    """`check --deploy` at deploy.toml's level, its silenced ids ignored; Django's report is
    shown once (the failure names only the ids)."""
    project = c.site.inventory.project
    level, silence = project.check_fail_level, project.check_silence
    r = app.shell(c, load("runbook.runbooks", "check_deploy.py"), warn=True,
                  env={"RB_CHECK_LEVEL": level, "RB_CHECK_SILENCE": json.dumps(list(silence))})
    report = [x.rstrip() for x in (r.stdout + r.stderr).strip().splitlines()]
    ids = list(dict.fromkeys(CHECK_ID.findall("\n".join(report))))
    if not r.ok or ids:
        for line in report[-40:]:
            run.say(f"      | {line}")
    what = f"check --deploy --fail-level {level}" + (f", silenced {', '.join(silence)}"
                                                      if silence else "")
    if not r.ok:
        raise Failed(f"{what} failed (exit {r.exited})"
                     + (f": {', '.join(ids)}" if ids else "")
                     + f"; fix the app, or list the ids that do not apply under [checks] silence "
                       f"(or raise deploy_fail_level) in {project.path or 'deploy.toml'}")
    return f"{what}: ok" + (f" ({', '.join(ids)} below {level})" if ids else "")


@commands(lambda c, run: [
    f"git -C {q(c.site.app.dir)} worktree add --detach {q(staging.paths(c)[0])} {target(run)}",
    f"cp -a {q(c.site.app.venv)} {q(staging.paths(c)[1])}"])
def step_stage(c, run):
    """The target commit in a worktree beside the live one, with a copy of the venv: the
    install and the checks run there first, the live tree untouched (staging.py)."""
    _name, commit = run.data.target
    staging.prepare(c, commit)
    tree, venv = staging.paths(c)
    return f"{commit[:12]} in {tree}, the venv copied to {venv}"


def on_stage(step):
    """`step` run against the stage's tree and venv (staging.staged) instead of the live ones."""
    def run_step(c, run):
        return step(staging.staged(c), run)
    run_step.__doc__ = (step.__doc__ or "").strip() + " (in the stage, before the tree moves)"
    shown = getattr(step, "commands", None)
    if shown is not None:
        run_step.commands = lambda c, run: shown(staging.staged(c), run) if callable(shown) else shown
    return run_step


@commands(lambda c, run: [
    f"git -C {q(c.site.app.dir)} worktree remove --force {q(staging.paths(c)[0])}",
    f"git -C {q(c.site.app.dir)} reset --quiet --keep {target(run)}"])
def step_checkout(c, run):
    """The live tree to the checked target; the stage is removed."""
    staging.remove(c)
    _name, commit = run.data.target
    code_update.record_stamp_before_move(c)
    return code_update.record_move(c, run, *code_update.move_to(c, commit))


@commands(lambda c, run: [f"{code_update.install_command(c)}  (only when the venv was not "
                          "installed from the tree's dependency files)"])
def step_dependencies(c, run):
    """Install when the venv was not installed from the tree's dependency files (a rerun after
    a failed install installs again)."""
    if not code_update.dependencies_stale(c):
        return (f"nothing to do: {', '.join(code_update.dependency_files(c))} unchanged "
                f"({c.site.app.installer})")
    code_update.install_requirements(c)
    return f"installed with {c.site.app.installer} into {c.site.app.venv}"


@commands(migrate.shown_plan)
def step_plan(c, run):
    """`migrate --plan` from Django's executor: every operation classified, what each drop
    removes counted; an unguarded destructive operation is refused (guards.unguarded)."""
    entries = migrate.plan(c)
    run.say("\n".join("    " + line for line in migrate.render(entries).splitlines()))
    migrate.refuse_unguarded(c, run, entries)
    lossy = [e["migration"] for e in entries if migrate.destructive(e)]
    run.data.plan = entries
    run.data.pending = [e["migration"] for e in entries]
    return (f"{len(entries)} pending" + (f"; DESTRUCTIVE: {', '.join(lossy)} (the backup is the "
                                          "way back)" if lossy else ""))


def step_workers(action):
    @commands(lambda c, run: [f"sudo -n {sh(*services.argv(c, action, name))}"
                              for name in c.site.service.workers] or [LOCAL])
    def run_step(c, run):
        workers = c.site.service.workers
        if not workers:
            return "nothing to do: no workers configured (service.workers)"
        for name in workers:
            services.control(c, action, name)
        if action == "stop":
            run.state["workers"] = f"workers {', '.join(workers)} are STOPPED"
        else:
            run.state.pop("workers", None)
        return f"{action} {', '.join(workers)}"
    run_step.__doc__ = f"The workers (service.workers) {'stopped' if action == 'stop' else 'started'}."
    return run_step


@commands(migrate.shown_migrate)
def step_migrate(c, run):
    """The migrations in stages behind the data-loss guard: the non-destructive ones, their
    output read and the project's invariants checked, then the destructive ones."""
    if not run.data.pending:
        return "nothing to do: no pending migrations"
    return migrate.step_run_staged(c, run)


def lint_window(c, run, found):
    """Whether the release's migrations run inside a maintenance window, for migrate.lint to
    judge them by: not with [switch] when the old code can serve through them and no lock
    outlasts lock_budget_live (else a window, and why: run.data.window_needed). --no-window:
    never, and the old code's trouble is refused here, before anything changed."""
    if not switch.enabled(c):
        return True
    unsafe = compat.old_code_unsafe(run.data.plan)
    more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
    if run.args.get("no_window"):
        if unsafe:
            raise Failed(f"--no-window refused: the old code would serve while {unsafe[0]}{more}"
                         "; deploy without --no-window (a maintenance window), or split the "
                         "change so the old code never names what changes (nothing was "
                         "migrated)")
        return False
    # consent (--accept-locks) lets a long lock run; it never takes the window away
    live = lint.refusals(found, False, lint_step.budget(c))
    if unsafe:
        run.data.window_needed = f"the old code serves while {unsafe[0]}{more}"
    elif live:
        f, why = live[0]
        run.data.window_needed = f"{f.migration} {f.rule} on {f.table}: {why}"
    return bool(unsafe or live)


def no_window_needed(c, run):
    """Why the release needs no maintenance window, or "": the new code is booted beside the
    app ([switch]) and migrate.lint found no reason for one (run.data.window_needed: a pending
    operation the old code could trip on, or a lock longer than lock_budget_live)."""
    if not (switch.enabled(c) and run.data.booted):
        return ""
    if run.data.window_needed:
        run.say(f"    a window is needed: {run.data.window_needed}")
        return ""
    what = f"{len(run.data.plan)} pending migration(s) only add" if run.data.plan \
        else "no pending migrations"
    return f"{what}; the old code serves until nginx switches to {run.data.booted}"


@commands(lambda c, run: [*maintenance.step_on.commands(c, run),
                          "(not when the new code is booted beside the app and the old code "
                          "can serve through the migrations)"])
def step_maintenance_on(c, run):
    """Maintenance on; not when the new code is booted beside the app ([switch]) and the pending
    migrations only add what the old code never names, none locking a table for longer than
    lock_budget_live (migrate.lint): then the release has no window at all."""
    why = no_window_needed(c, run)
    if why:
        return f"not needed: {why}"
    return maintenance.step_on(c, run)


class ReleaseRun(plan.ConsolidateRun):
    """deploy.release: its plan also reads the target commit and lints its pending migrations,
    with or without a window as the run would decide (lint_window)."""

    def run_facts(self):
        commit = self.data.target[1]
        if not plan.pending_files(self.c, commit):
            return [], True

        def window_of(entries, found):
            self.data.plan = entries
            return lint_window(self.c, self, found)
        return plan.target_lint(self.c, commit, window_of, self.args.get("accept_locks", False))


def recovery(c):
    def hint(run):
        name, before = run.data.backup, run.data.before[:12]
        if "migrated" in run.state and name:
            return (run.cmd(f"rollback.restore --backup={name} --code --yes") + "\n"
                    "  (database and code back to before the release; maintenance off after)")
        lines = []
        if "code" in run.state and before:
            lines.append(run.cmd(f"rollback.code --ref {before} --yes"))
        if "workers" in run.state:
            lines += [f"sudo supervisorctl start {w}" if c.site.service.manager == "supervisor"
                      else f"start worker {w}" for w in c.site.service.workers]
        if "maintenance" in run.state:
            lines.append(run.cmd("maintenance.off"))
        return "\n".join(lines) or f"nothing was changed; fix the cause and rerun: {run.cmd(run.task)}"
    return hint


def release_steps(c, ref):
    rec = recovery(c)
    return [Step("preflight", step_preflight(ref, json_dumps=False), recovery=rec),
            Step("backup.create", backup.step_backup(json_dumps=False), recovery=rec),
            # the values the invariants' "unchanged:NAME" compare with, taken before any change
            Step("verify.audit", verify_steps.step_audit, recovery=rec),
            # the target checked in a stage before the live tree moves (staging.py)
            Step("stage", step_stage, recovery=rec),
            Step("dependencies", on_stage(step_dependencies), recovery=rec),
            Step("check --deploy", on_stage(step_check_deploy), recovery=rec),
            Step("makemigrations --check", on_stage(_manage_checkpoint(
                "model changes without migrations", "makemigrations", "--check", "--dry-run")),
                recovery=rec),
            Step("migrate --plan", on_stage(step_plan), recovery=rec),
            # squawk on the SQL, the live table sizes: refused before the tree moves
            Step("migrate.lint", lint_step.step_lint(lint_window), recovery=rec),
            Step("checkout", step_checkout, recovery=rec),
            Step("install", step_dependencies, recovery=rec),   # the same, in the live venv
            # the new code boots beside the app before the window ([switch]; ops/switch.py)
            *switch_steps.when([c], Step("boot", switch_steps.step_boot, recovery=rec)),
            Step("migrate.warm", migrate.step_warm, recovery=rec),   # Django up before the window
            Step("maintenance.on", step_maintenance_on, recovery=rec),
            Step("workers stop", step_workers("stop"), recovery=rec),
            Step("migrate", step_migrate, recovery=rec),
            Step("restart", step_restart_in_window, recovery=rec),
            Step("workers start", step_workers("start"), recovery=rec),
            Step("maintenance.off", maintenance.step_off, recovery=rec),
            *switch_steps.when([c], Step("settle", switch_steps.step_settle,
                                              recovery=switch_steps.settle_recovery)),
            Step("verify.smoke", verify_steps.step_smoke, recovery=rec),
            Step("verify.logs", verify_steps.step_logs, recovery=rec)]


def check_tag_name(name):
    if not name or not TAG_RE.match(name) or ".." in name:
        raise ConfigError(f"--name {name!r} is not a usable tag name; give e.g. "
                          "--name v0.1.9-pre-upgrade")
    return name


def tag_commit(c, name, ref="HEAD"):
    """Tag `ref` as `name` on the host and push the tag; a tag is never moved. Returns a note."""
    if ref.startswith("-"):
        raise ConfigError(f"--ref {ref!r} is not a git ref; give a branch, tag or commit")
    remote = c.site.app.git_remote
    commit = app.git(c, "rev-parse", "--verify", f"{ref}^{{commit}}").stdout.strip()
    code_update.fetch(c)
    have = app.git(c, "rev-parse", "--verify", "--quiet", f"refs/tags/{name}^{{commit}}",
                   warn=True).stdout.strip()
    if have and have != commit:
        raise DeployError(f"tag {name} already exists at {have[:12]}, not {commit[:12]}; pick "
                          "another name (a release tag is never moved)")
    if not have:  # the tagger is the operator running fab, not whoever owns the host's git
        me = who()
        app.git(c, "-c", f"user.name={me['user']} (fab deploy.tag)", "-c",
                f"user.email={me['user']}@{me['machine']}", "tag", "-a", name,
                "-m", f"release tag {name}", commit)
    app.git(c, "push", "--quiet", remote, f"refs/tags/{name}")
    return f"tag {name} -> {commit[:12]} {'already existed' if have else 'created'}; pushed to {remote}"
