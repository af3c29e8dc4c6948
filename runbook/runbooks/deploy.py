"""deploy.*: the composite deploys, and the deploy lock's manual release.

`deploy.consolidate` is the profile-consolidation runbook (steps 1-10) as checkpoints; it stops
at the first one that fails and says what state the host is in and the command that recovers.
On a group (`-H prod`) the backup, audit, migrations and invariants run once on the primary; the
code update, maintenance and checks on every host at once; the restart rolls, `--batch` at a time.
`deploy.restart` is that rolling restart alone.
"""


from runbook.django import lint_step, migrate
from runbook.engine.errors import ConfigError
from runbook.engine.runner import ALL, LOCAL, ROLLING, Failed, Step, commands
from runbook.host import services
from runbook.host.remote import q, sections
from runbook.ops import (
    backup,
    code_update,
    maintenance,
    preflight_facts,
    restart,
    switch,
    switch_steps,
    verify_steps,
)
from runbook.ops.restart import restart_and_wait
from runbook.postgres import db


def step_preflight(ref, json_dumps, expect=None):
    """Read-only: health, room for the backup, the ref, a clean work tree and the expected
    migrations against the target commit - all before anything changes (write access to the
    backup dir is proved by the lock, taken before this step). On --resume: the failed run's
    target and starting commit, and the host's state re-read instead (see `resumed_state`)."""
    @commands(lambda c, run: [
        f"git -C {q(c.site.app.dir)} fetch --quiet --tags --force {q(c.site.app.git_remote)}; "
        f"rev-parse {q(code_update.ref_name(c, ref))}; status --porcelain",
        f"df -Pk {q(c.site.backup.dir)}", f"GET {c.site.health.url}",
        f"{db.shown_psql(c)}  <- pg_database_size, the applied migrations"])
    def run_step(c, run):
        """Read-only: health, room for the backup, the target commit, a clean work tree, the
        expected and guarded migrations."""
        prior = run.resume
        web = "web" in c.site.roles or not run.fleet.multi
        _ready(c, web, resuming=prior is not None)
        name = code_update.ref_name(c, prior.after if prior else ref)
        primary = c is run.fleet.primary
        need_space = primary and not (prior and "backup.create" in prior.done)
        wanted = migrate.expect_list(c, expect) if primary and prior is None and \
            expect is not None else None   # None: the caller checks its own way
        guard = primary and prior is None   # the unguarded-drop refusal reads the target's files
        # the fetch, the ref, the tree, the disk and the logs in one round trip
        f = preflight_facts.read(c, name, tree=guard)
        got = _database_facts(c, need_space, guard)
        space = _room_for_backup(c, f.free, int(got["size"][0]), json_dumps) if need_space else ""
        if not f.commit:
            raise code_update.no_such_ref(c, name)
        commit = f.commit
        _clean_tree(c, f.changes)
        run.data.log_offsets = f.logs
        if prior is not None:
            run.data.target = (prior.args.get("ref") or name, commit)
            return resumed_state(c, run, prior, web, f.head)
        if wanted:
            _expected_migrations(name, commit, f.tree, got, wanted)
        if guard:
            problem = migrate.unguarded_at(c, run, commit, migrate.migration_files(f.tree),
                                           set(got["applied"]))
            if problem:
                raise Failed(problem, recovery="nothing was changed; add the invariant (or the "
                                               "consent), then rerun")
        run.data.target = (name, commit)
        run.data.before = f.head
        return (f"healthy; {space}{name} = {commit[:12]} (deployed {run.data.before[:12]})")
    return run_step


def _ready(c, web, resuming):
    """Every secret set (a missing one stops here, not half-way) and, unless resuming (the app
    may then be stopped or in maintenance by design), a web host's app running and healthy."""
    for var in c.site.secret_names():
        c.site.secret(var)
    if resuming or not web:
        return
    state, status = services.state(c), services.health(c)
    if status != 200 or state not in services.RUNNING:
        raise Failed(f"the app is not healthy before the deploy (service {state}, "
                     f"health {status}); fix it first", recovery="nothing was changed")
    if switch.enabled(c):
        switch.check(c)


def _database_facts(c, need_space, guard):
    """The database's size and the applied migrations, what of them is needed, in one psql."""
    if not (need_space or guard):
        return {}
    return sections(db.psql(c, (
        "\\echo @@size\nSELECT pg_database_size(current_database());\n" if need_space else "")
        + (f"\\echo @@applied\n{migrate.APPLIED_SQL}\n" if guard else "")))


def _room_for_backup(c, free, size, json_dumps):
    """The free-space line, when backup.dir holds 2 x the database (+ 1 x for JSON dumps)."""
    need = 2 * size + (size if json_dumps else 0)
    if free < need:
        raise Failed(f"only {free / 1e9:.2f} GB free in {c.site.backup.dir}, need "
                     f"{need / 1e9:.2f} GB (2 x database"
                     f"{' + JSON estimate' if json_dumps else ''})",
                     recovery="free space or move backup.dir; nothing was changed")
    return f"{free / 1e9:.1f} GB free (need {need / 1e9:.2f}); "


def _clean_tree(c, changes):
    """A deploy never discards local changes in the work tree."""
    if changes:
        raise Failed(f"the work tree {c.site.app.dir} has local changes "
                     f"({'; '.join(changes[:3])}{'...' if len(changes) > 3 else ''}); "
                     "a deploy never discards them",
                     recovery=f"nothing was changed; inspect them (git -C {c.site.app.dir} "
                              "status), commit or remove them, then rerun")


def _expected_migrations(name, commit, tree, got, wanted):
    """The target commit's pending migrations are exactly the expected ones."""
    problems = migrate.expected_problems(migrate.migration_files(tree),
                                         set(got["applied"]), commit, wanted)
    if problems:
        raise Failed("the expected migrations do not match " + name + ": "
                     + "; ".join(problems) + " (--expect or [migrations] expect in "
                     "deploy.toml)", recovery="nothing was changed; check the ref and "
                     "the expected migrations, then rerun")


def resumed_state(c, run, prior, web, now):
    """--resume: the host must be where the failed run left it (its starting commit or its
    target); the run's state is what the host shows now (`now`: its HEAD), not what the journal
    said."""
    before, target = prior.before, prior.after
    if now not in (before, target):
        raise Failed(f"{c.site.name} is at {now[:12]}, neither the failed run's starting commit "
                     f"{before[:12]} nor its target {target[:12]}: it was changed since run "
                     f"{prior.run_id}", recovery="inspect the host; deploy anew without --resume")
    run.data.before = before
    code_update.record_move(c, run, before, now)
    if "migrated" in prior.changed and c is run.fleet.primary:
        run.state["migrated"] = f"run {prior.run_id} applied migrations (maybe partly)"
    notes = [f"at {now[:12]} ({'moved' if now != before else 'not moved'} by run {prior.run_id})"]
    if web and maintenance.is_on(c):
        maintenance.mark_on(c, run, since=prior.done_at("maintenance.on"))
        notes.append("maintenance ON")
    return "resuming: " + ", ".join(notes) + f"; target {target[:12]}"


@commands([LOCAL])
def step_hosts_agree(c, run):
    """Every host resolves the same target and runs the same commit now (no mixed fleet)."""
    seen = {name: (d.before, d.target[1]) for name, d in run.host_data.items()}
    befores = {b for b, _t in seen.values()}
    targets = {t for _b, t in seen.values()}
    if len(targets) > 1:
        raise Failed("the hosts resolve the ref to different commits (" + ", ".join(
            f"{n}: {t[:12]}" for n, (_b, t) in seen.items()) + "); deploy a tag or commit id",
            recovery="nothing was changed; rerun with --ref TAG_OR_COMMIT")
    if len(befores) > 1:
        raise Failed("the hosts run different commits (" + ", ".join(
            f"{n}: {b[:12]}" for n, (b, _t) in seen.items()) + "); bring them to one commit "
            "first (rollback.code --ref COMMIT on the group)",
            recovery=f"nothing was changed; {run.cmd('rollback.code --ref COMMIT')}")
    run.data.before = befores.pop()  # one commit: the backup's and the rollback's
    return f"{len(seen)} hosts on {run.data.before[:12]}, all resolve to {targets.pop()[:12]}"


def target(run):
    """The target commit as far as the run (or its plan) knows it."""
    commit = (run.data.target or ("", ""))[1]
    return commit[:12] or "<target commit>"


@commands(lambda c, run: [f"git -C {q(c.site.app.dir)} merge --ff-only {target(run)}",
                          f"{code_update.install_command(c)}  (only if the requirements changed)"])
def step_code_update(c, run):
    """The work tree fast-forwarded to the target commit; the requirements installed if they
    changed."""
    _name, commit = run.data.target
    u = code_update.update(c, commit, c.site.inventory.project.migration_files)
    note = code_update.record_move(c, run, u.before, u.after)
    if u.requirements_changed:
        code_update.install_requirements(c)
        note += ", requirements reinstalled"
    missing = u.missing
    if missing:
        raise Failed(f"expected migration files are missing after the update: {', '.join(missing)}")
    return note


@commands(lambda c, run: switch.plan_lines(c, "restart") if switch.enabled(c)
          else [restart.plan_line(c)])
def step_restart(c, run):
    """The app restarted (or reloaded; with [switch]: its twin booted, nginx switched to it, the
    app restarted without traffic, switched back), then healthy, serving the deployed commit."""
    target = run.data.target     # the commit the run deployed (a bare restart: the tree's)
    commit = target[1] if target else None
    if switch.enabled(c):
        return switch.restart(c, commit)
    return restart_and_wait(c, run.say, commit=commit)


@commands(lambda c, run: switch.plan_lines(c, "switch") if switch.enabled(c)
          else [restart.plan_line(c)])
def step_restart_in_window(c, run):
    """In the maintenance window: nginx switched to the copy booted before it ([switch]: the
    app itself restarts after the window), else the app restarted (or reloaded) in place."""
    if switch.enabled(c):
        return switch_steps.switch_in_window(c, run)
    return step_restart(c, run)


def recovery(run):
    """The exact commands that recover, from what the run has done so far (on the host or the
    group it ran on: `run.cmd` names it)."""
    name = run.data.backup
    before = run.data.before[:12]
    lines = []
    if "migrated" in run.state and name:
        lines.append(run.cmd(f"rollback.restore --backup={name} --code --yes"))
        lines.append("  (restores the database AND the code to the pre-deploy state, "
                     "then turns maintenance off)")
    elif ("code" in run.state or "migrated" in run.state) and before:
        # nothing migrated: the database is as it was, only the code goes back (a restore
        # would throw away what users wrote since the backup)
        lines.append(run.cmd(f"rollback.code --ref {before} --yes"))
        if "maintenance" in run.state:
            lines.append(run.cmd("maintenance.off"))
    if not lines and "maintenance" in run.state:
        lines.append(run.cmd("maintenance.off"))
    if not lines and "switch" in run.state:   # deployed, served by the twin: back to rest
        lines.append(run.cmd("deploy.restart"))
    return "\n".join(lines) or f"nothing was changed; fix the cause and rerun: {run.cmd(run.task)}"


def consolidate_steps(fleet, ref, json_dumps, expect):
    """The runbook's steps, each placed: once on the primary, on all hosts, or rolling."""
    rec = recovery
    steps = [
        Step("preflight", step_preflight(ref, json_dumps, expect), where=ALL,
             recovery="nothing was changed; fix the cause and rerun"),
        Step("backup.create", backup.step_backup(json_dumps), recovery=rec,
             keep=backup.keep_backup),
        Step("verify.audit", verify_steps.step_audit, recovery=rec, keep=verify_steps.keep_audit),
        Step("code update", step_code_update, where=ALL, recovery=rec),
        Step("migrate.check", migrate.step_check(expect), recovery=rec),
        Step("migrate.lint", lint_step.step_lint(), recovery=rec),
        # the new code boots beside the app before the window ([switch]; ops/switch.py)
        *switch_steps.when(fleet.members, Step("boot", switch_steps.step_boot, where=ALL,
                                               role="web", recovery=rec)),
        Step("migrate.warm", migrate.step_warm, recovery=rec),   # Django up before the window
        Step("maintenance.on", maintenance.step_on, where=ALL, role="web", recovery=rec),
        Step("migrate.run", migrate.step_run_staged_then_post, recovery=rec),
        Step("verify.post", verify_steps.step_post, recovery=rec),
        Step("restart", step_restart_in_window, where=ROLLING, role="web", recovery=rec),
        Step("maintenance.off", maintenance.step_off, where=ALL, role="web", recovery=rec),
        *switch_steps.when(fleet.members, Step("settle", switch_steps.step_settle, where=ALL,
                                               role="web",
                                               recovery=switch_steps.settle_recovery)),
        Step("verify.smoke", verify_steps.step_smoke, where=ALL, role="web", recovery=rec),
        Step("verify.logs", verify_steps.step_logs, where=ALL, recovery=rec),
    ]
    if fleet.multi:
        steps.insert(1, Step("hosts agree", step_hosts_agree, changes_host=False,
                             recovery="nothing was changed"))
    return steps


def batch_size(value, fleet):
    """--batch: hosts restarted at a time (a whole number, 1 or more, or "all")."""
    text = str(value).strip()
    if text == "all":
        return len(fleet.members)
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--batch {value!r} must be a whole number of hosts, 1 or more, or all; "
                          "e.g. --batch 1 restarts one host at a time")
    return min(int(text), len(fleet.members))

