"""migrate.*: see what migrations will do, check them, and apply them in stages.

The plan comes from Django's own MigrationExecutor on the host (not from parsing --plan text):
every pending operation is classified, so destructive ones (DeleteModel, RemoveField,
irreversible RunPython/RunSQL) are known before anything runs. `migrate.run` applies the
non-destructive prefix first, checks the project's invariants, and only then the destructive rest.
"""
import json
import re
import sys

from invoke.exceptions import UnexpectedExit

from runbook.django import app, checks, guards, lock_timeout
from runbook.engine.errors import ConfigError
from runbook.engine.output import Prefixed, UpTo
from runbook.engine.runner import Failed, commands
from runbook.engine.scripts import script
from runbook.host.remote import run_script, sections
from runbook.postgres import db

DESTRUCTIVE = {"DeleteModel", "RemoveField"}
# Undoing these drops data written since, or cannot bring the dropped data back
# (docs/BEHAVIOUR.md#django-unapply-loses-data).
LOSSY_BACKWARDS = {"DeleteModel": "recreates the table EMPTY",
                   "RemoveField": "recreates the column EMPTY",
                   "CreateModel": "drops the table and its rows",
                   "AddField": "drops the column and its values"}


def classify(op):
    if op["op"] in DESTRUCTIVE:
        return "destructive"
    if op["op"] in ("RunPython", "RunSQL") and not op["reversible"]:
        return "irreversible"
    if op["op"] in ("RunPython", "RunSQL"):
        return "data"
    return "schema"


def plan(c, target=None):
    """[{migration, backwards, ops: [{op, describe, reversible, kind}]}] from Django on the host."""
    guard, env = guards.script(c.site.inventory.project)
    env["RB_PLAN_TARGET"] = json.dumps(list(target) if target else None)
    r = app.shell(c, guard + script("runbook.django", "migrate_plan.py"), env=env, warn=True)
    line = next((x for x in r.stdout.splitlines() if x.startswith("@@PLAN ")), None)
    if line is None:
        err = (r.stderr or r.stdout).strip().splitlines()
        raise Failed(f"could not read the migration plan: {err[-1] if err else 'no output'}")
    entries = json.loads(line[len("@@PLAN "):])
    for e in entries:
        for op in e["ops"]:
            op["kind"] = classify(op)
    return entries


def destructive(entry):
    return [op for op in entry["ops"] if op["kind"] in ("destructive", "irreversible")]


def render(entries):
    if not entries:
        return "no pending migrations"
    lines = []
    for e in entries:
        lines.append(f"{e['migration']}{' (backwards)' if e['backwards'] else ''}")
        for op in e["ops"]:
            flag = {"destructive": "DESTRUCTIVE", "irreversible": "IRREVERSIBLE"}.get(op["kind"], "")
            drops = f" ({guards.removes(op['target'], op['rows'])})" if "rows" in op else ""
            lines.append(f"    {op['describe']}{'  <- ' + flag if flag else ''}{drops}")
    return "\n".join(lines)


def check_expected(entries, expect, applied_ok=False):
    """The pending migrations must be exactly `expect` (in any order): Failed naming the gap.
    `applied_ok` (--resume): an expected one no longer pending was applied by the failed run."""
    pending = [e["migration"] for e in entries]
    if not expect:
        return pending
    missing = [] if applied_ok else [m for m in expect if m not in pending]
    extra = [m for m in pending if m not in expect]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"expected but not pending: {', '.join(missing)} (already applied, or "
                         "not in this code)")
        if extra:
            parts.append(f"pending but not expected: {', '.join(extra)}")
        raise Failed("; ".join(parts), recovery="check the deployed ref and the expected list "
                     "(--expect or [migrations] expect in deploy.toml); nothing was migrated")
    return pending


def split_staged(entries):
    """(safe prefix, the rest from the first migration holding a destructive operation)."""
    for i, e in enumerate(entries):
        if destructive(e):
            return entries[:i], entries[i:]
    return entries, []


SYNC_BLOCK = re.compile(r"^=+ .* =+$\n(?:.*\n)*?^=+$", re.M)

# Printed between the migrations and the checks that follow them in the same process: what
# comes after it is read by the tool, not shown.
AFTER = "@@after-migrate"


def targets(entries):
    """[(app, last migration of that app in `entries`)], in first-seen order: migrate's targets."""
    last = {}
    for e in entries:
        app_label, name = e["migration"].split(".", 1)
        last[app_label] = name
    return list(last.items())


def apply_script(entries, then=(), guard=("", {})):
    """(code, env) for `manage.py shell` applying exactly `entries` behind the data-loss `guard`
    (guards.script's (code, env)), then running the Django checks `then` (checks.django_script)
    after the AFTER line (scripts/migrate_apply.py, each part's parameters in the env)."""
    code, env = guard[0] + script("runbook.django", "migrate_apply.py"), dict(guard[1])
    env["RB_MIGRATE_TARGETS"] = json.dumps(targets(entries))
    if then:
        checks_code, checks_env = checks.django_script(then)
        code += f"print({AFTER!r})\n" + checks_code
        env.update(checks_env)
    return code, env


WARM_WAIT = 60   # seconds Django may take to start for the migrations (before the window)


def _shell_options(c):
    """How a stage's process runs: its output streamed (prefixed on a group), the guard's
    reports shown as they come, what follows AFTER kept for the tool."""
    inner = Prefixed(c, c.out_prefix) if getattr(c, "out_prefix", None) else sys.stdout
    return {"hide": False, "warn": True, "out_stream": UpTo(guards.LiveReports(inner), AFTER)}


@commands(lambda c, run: [f"{app.prefix(c)} shell -c <set Django up, import the migrations, "
                          "wait for the code>  (one per stage of the pending migrations)"])
def step_warm(c, run):
    """Django started for the migrations before the window: a process per stage (the
    non-destructive one, the destructive one) waits for its code, so the window does not hold
    Django's start-up. Nothing runs in them until migrate.run sends the code."""
    if not run.data.plan:
        return "nothing to do: no pending migrations"
    stages = [s for s in split_staged(run.data.plan) if s]
    warm = [app.warm_shell(c, **_shell_options(c)) for _ in stages]
    if not all(w.ready(WARM_WAIT) for w in warm):   # a broken start fails here, not in the window
        said = [str(getattr(w.cancel(), "stderr", "") or "").strip() for w in warm]
        last = next((x.splitlines()[-1] for x in said if x), "no output")
        raise Failed(f"Django did not start for the migrations within {WARM_WAIT}s: {last}")
    run.data.warm = warm
    return f"{len(stages)} Django process(es) started and waiting (one per stage)"


def apply(c, entries, run=None, then=(), warm=None, before=()):
    """Apply exactly `entries` (a prefix of the plan) in one Django process behind the data-loss
    guard, streaming Django's output (what each drop removes is shown before it runs). `then`:
    Django checks run in that process once every migration succeeded (one start-up fewer in the
    window). `warm`: a process started ahead (step_warm) to run it in. `before`: the entries
    earlier stages applied. Data operations' reports go to run.data.data_ops, for the next
    stage's guard. Returns (the migrations' output, the output of `then` or None); Failed when
    the guard refused a drop or a lock outwaited lock_timeout."""
    prior, project = (run.data.data_ops if run is not None else []), c.site.inventory.project
    code, env = apply_script(entries, then, guards.script(project, prior))
    env.update(lock_timeout.env(project))
    if warm is not None:   # started before the window: only the migrations' own time is in it
        r = warm.run(code, env)
    else:
        r = app.shell(c, code, env=env, **_shell_options(c))
    text, _mark, after = r.stdout.partition(AFTER + "\n")
    ops, drops, stop = guards.reports(text)
    if r.stderr:   # what the app logged goes through the red-flag scan too
        text += "\n" + r.stderr
    if run is not None:
        run.data.data_ops = prior + ops
        if ops or drops:
            run.journal.write({"kind": "output", "what": "data-loss guard", "data_ops": ops,
                               "drops": drops})
        blocks = SYNC_BLOCK.findall(text)
        if blocks:
            run.journal.write({"kind": "output", "what": "migration report",
                               "text": "\n".join(blocks)})
            run.data.summary_lines.extend(
                line.strip() for b in blocks for line in b.splitlines() if ":" in line)
    if stop:
        raise Failed(guards.STOP + stop + " - the migration holding the drop was rolled back")
    if not r.ok:
        raise lock_timeout.failure(text, project.lock_timeout, run, before) or UnexpectedExit(r)
    return text, (after if then else None)


def expect_list(c, expect):
    if expect:
        items = [x.strip() for x in expect.split(",") if x.strip()]
        bad = [x for x in items if not re.match(r"^\w+\.\w+$", x)]
        if bad:
            raise ConfigError(f"--expect {bad[0]!r} is not app.migration_name; "
                              "write e.g. --expect accounts.0014_final_sync_before_deletion")
        return items
    return c.site.inventory.project.expect_migrations


def shown_plan(c, run):
    """The command reading the migration plan (`plan`), for a step's plan line."""
    return [f"{app.prefix(c)} shell  <- the migration plan from Django's executor, every "
            "operation classified"]


def step_check(expect=None):
    @commands(shown_plan)
    def run_step(c, run):
        """The pending migrations read from Django: exactly the expected ones, every destructive
        operation guarded by an invariant (or consented to)."""
        entries = plan(c)
        pending = check_expected(entries, expect_list(c, expect), applied_ok=run.resume is not None)
        run.data.plan = entries
        refuse_unguarded(c, run, entries)
        lossy = [f"{e['migration']}: {op['describe']}" for e in entries for op in destructive(e)]
        run.data.destructive = lossy
        if not pending:
            return "no pending migrations"
        return f"{len(pending)} pending; destructive: {'; '.join(lossy) if lossy else 'none'}"
    return run_step


def refuse_unguarded(c, run, entries):
    """Failed when a destructive operation of `entries` has no invariant guarding it and no
    consent (guards.unguarded); a resumed run the guard stopped is refused first."""
    refuse_resume_past_guard(run)
    problem = guards.unguarded(entries, c.site.inventory.project,
                               run.args.get("allow_unguarded", False))
    if problem:
        raise Failed(problem)   # the step's own recovery: the code moved, nothing migrated


def refuse_resume_past_guard(run):
    """A run the guard stopped must not be resumed into the drop it refused: its data migration
    is recorded as applied, so a resumed run would have nothing left to judge it by."""
    prior = run.resume
    if prior is not None and guards.STOP in (prior.reason or "") \
            and not run.args.get("allow_unguarded", False):
        raise Failed(f"run {prior.run_id} was stopped by the data-loss guard ({prior.reason}); "
                     "resuming would run the drop it refused",
                     recovery="restore the run's backup (the command it printed), fix the "
                              "migration and deploy again")


def shown_migrate(c, run):
    """The migrate step's command for the plan (the pending ones when the plan knows them)."""
    pending = ", ".join(run.data.pending) or "the pending migrations"
    return [f"{app.prefix(c)} shell  <- migrate {pending}: the non-destructive ones, the "
            "invariants, then the destructive ones behind the data-loss guard"]


@commands(shown_migrate)
def step_run_staged(c, run, post=False):
    """Non-destructive prefix; its output read and the invariants checked; then the destructive
    rest, behind the in-process guard. `post`: verify.post comes next, so its Django checks run
    in the last migration process (run.data.post_django)."""
    entries = run.data.plan or plan(c)
    if not entries:
        return "nothing to do: no pending migrations"
    refuse_resume_past_guard(run)
    safe, rest = split_staged(entries)
    warm, run.data.warm = list(run.data.warm), []   # step_warm's, one per stage in order
    started = len(warm)
    try:
        after = _stages(c, run, safe, rest, warm, post)
    finally:
        for w in warm:   # a stage not reached: its process ends having run nothing
            w.cancel()
    if after is not None:
        run.data.post_django = after
    return f"applied {len(entries)} migration(s)" + (
        " in Django processes started before the window" if started else "")


def _stages(c, run, safe, rest, warm, post):
    """The non-destructive stage, the checks between, the destructive stage; each in a process
    of `warm` (popped) when one waits. Returns the output of the post checks (or None)."""
    project = c.site.inventory.project
    then = checks.django_checks(project.post_checks) if post else []
    after, text = None, ""   # the output of `then` (with the last stage), of the first stage
    if safe:
        names = ", ".join(e["migration"] for e in safe)
        run.say(f"    applying the non-destructive migrations: {names}")
        # said before they run: a cut connection may leave them applied on the host
        run.state["migrated"] = f"migrations may be partly applied: {names}"
        text, after = apply(c, safe, run, then=[] if rest else then,
                            warm=warm.pop(0) if warm else None)
        run.state["migrated"] = f"applied: {names}"
    between_stages(c, run, project, text, safe, rest)
    if rest:
        entries = safe + rest
        run.say(f"    applying: {', '.join(e['migration'] for e in rest)}")
        run.state["migrated"] = (f"migrations may be partly applied: "
                                 f"{', '.join(e['migration'] for e in entries)}")
        _text, after = apply(c, rest, run, then=then, warm=warm.pop(0) if warm else None,
                             before=safe)
        run.state["migrated"] = f"applied: {', '.join(e['migration'] for e in entries)}"
    return after


def between_stages(c, run, project, text, safe, rest):
    """After the non-destructive stage (its output `text`), before the destructive `rest`: the
    project's invariants, then the output's red flags (guards.scan); Failed on either, naming
    what was NOT applied. Without a destructive stage a red flag is only a warning."""
    not_applied = f" - NOT applied: {', '.join(e['migration'] for e in rest)}"
    if rest and project.invariants:
        verdicts = checks.verdicts(c, project.invariants, run.data.audit)
        for name, ok, value, want in verdicts:
            run.say(f"    invariant {'ok  ' if ok else 'FAIL'} {name}: {value} (expected {want})")
        bad = [v for v in verdicts if not v[1]]
        if bad:
            raise Failed("invariant failed before the destructive migrations: " + "; ".join(
                f"'{n}' is {v}, expected {w}" for n, _ok, v, w in bad) + not_applied)
    flags = guards.scan(text, project.red_flags)
    if flags and rest:
        raise Failed(f"{guards.STOP}the output of {', '.join(e['migration'] for e in safe)} "
                     "shows signs of a swallowed failure: "
                     + "; ".join(repr(x) for x in flags[:3]) + not_applied)
    for line in flags[:3]:
        run.say(f"    WARNING: a sign of a swallowed failure in the migrations' output: {line!r}")


@commands(shown_migrate)
def step_run_staged_then_post(c, run):
    """The pending migrations in stages (non-destructive, invariants, destructive), verify.post's
    Django checks in the last stage's process (deploy.consolidate)."""
    return step_run_staged(c, run, post=True)


def files_at(c, commit):
    """({app.migration: path} of the migration files in `commit`, {applied app.migration}),
    read without touching the work tree. The app label is the directory above `migrations/`."""
    r = app.git(c, "ls-tree", "-r", "--name-only", commit, hide=True)
    return migration_files(r.stdout.splitlines()), set(db.psql(c, APPLIED_SQL).split())


APPLIED_SQL = "SELECT app || '.' || name FROM django_migrations ORDER BY id;"   # applied order


def migration_files(paths):
    """{app.migration: path} of the migration files among a tree's `paths`."""
    files = {}
    for path in paths:
        m = re.search(r"(?:^|/)(\w+)/migrations/(\d{4}\w*)\.py$", path)
        if m:
            files[f"{m.group(1)}.{m.group(2)}"] = path
    return files


def sources_at(c, commit, files):
    """{app.migration: source text} of migration `files` ({name: path}) in `commit`, read in one
    round trip without touching the work tree."""
    if not files:
        return {}
    r = run_script(c, script("runbook.django", "migration_sources.sh"), c.site.app.dir, commit,
                   *(x for item in files.items() for x in item))
    return {name: "\n".join(lines) for name, lines in sections(r.stdout).items()}


def unguarded_at(c, run, commit, files, applied):
    """Before the code moves: the guard's refusal (guards.unguarded) judged from the pending
    migration files of `commit`, or None."""
    pending = pending_at(files, applied)
    entries = guards.source_entries(sources_at(c, commit, pending))
    return guards.unguarded(entries, c.site.inventory.project,
                            run.args.get("allow_unguarded", False))


def pending_at(files, applied):
    """The files not applied yet, of apps whose label django_migrations knows (an app whose
    directory is not its label is left to migrate.check after the update)."""
    labels = {name.split(".", 1)[0] for name in applied}
    return {k: v for k, v in sorted(files.items())
            if k not in applied and k.split(".", 1)[0] in labels}


def expected_at(c, commit, expected):
    """Read-only check, before anything changes: every expected migration exists in `commit`'s
    tree and is not applied yet, and no other migration file there is pending. Returns problems."""
    if not expected:
        return []
    return expected_problems(*files_at(c, commit), commit, expected)


def expected_problems(files, applied, commit, expected):
    """expected_at's verdict from what was read: the commit's migration files and the applied."""
    problems = [f"{x} is already applied" for x in expected if x in applied]
    problems += [f"{x} is not in {commit[:12]}" for x in expected
                 if x not in applied and x not in files]
    pending = pending_at(files, applied)
    problems += [f"{x} is pending but not expected" for x in sorted(set(pending) - set(expected))]
    return problems
