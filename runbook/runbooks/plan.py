"""Plan mode (`--plan`, and `--dry` made truthful): what a composite WOULD do.

Read-only checks first (health, lock holder, disk and write access for the backup, PostgreSQL
version, the deployed commit; for deploy.consolidate also the target commit, a clean tree and the
pending migrations with the destructive operations read from the target commit's own migration
files), then the SAME step list the run executes: where each step runs, its description and its
main commands (`Step.about`, `Step.commands`), secrets masked. Nothing that changes the host
runs and nothing is uploaded; the one write is `git fetch` of the remote's refs (the work tree
is untouched), so the target commit can be read, and for migrate.lint a worktree of the target
beside the app (`<app.dir>.plan-<random>`, read with the live venv, removed after: staging.peek).

Invoke's own `--dry` only echoes commands and pretends each succeeded, so every check would
"pass" (docs/BEHAVIOUR.md#invoke-dry-pretends-success): under `--dry` the composites print this plan instead.
"""
import re
from typing import Any, Sequence

from invoke.exceptions import UnexpectedExit

from runbook.django import guards, lint, lint_step, migrate
from runbook.django.app import head
from runbook.engine import lock
from runbook.engine import runner as steps_mod
from runbook.engine.errors import ConfigError, DeployError
from runbook.engine.history import cli_args
from runbook.host import services
from runbook.host.remote import q
from runbook.ops import code_update, maintenance, preflight_facts, staging
from runbook.postgres import clusters, db

OP_RE = re.compile(r"migrations\.(\w+)\(")


def pending_files(c, commit):
    """{app.migration: path} of migration files in `commit` not in django_migrations."""
    return migrate.pending_at(*migrate.files_at(c, commit))


def host_checks(c):
    """[(ok: bool|None, text)]: the read-only facts every composite's plan starts with."""
    out = []
    state, status = services.state(c), services.health(c)
    out.append((status == 200 and state in services.RUNNING,
                f"health: service {state}, {c.site.health.url} answers {status}"))
    info = lock.holder(c)
    out.append((info is None, "deploy lock: free" if info is None else lock.describe_holder(c, info)))
    size = int(db.psql(c, "SELECT pg_database_size(current_database());").strip())
    free = int(c.run(f"df -Pk {q(c.site.backup.dir)} 2>/dev/null | awk 'NR==2 {{print $4}}'",
                     hide=True, warn=True).stdout.strip() or 0) * 1024
    out.append((free >= 2 * size, f"backup disk: {free / 1e9:.1f} GB free in {c.site.backup.dir}, "
                                  f"need {2 * size / 1e9:.2f} GB (2 x the database)"))
    writable = c.run(f"test -w {q(c.site.backup.dir)}", warn=True, hide=True).ok
    out.append((writable, f"backup dir writable by {c.user}: {'yes' if writable else 'NO'}"))
    version = db.psql(c, "SHOW server_version;").strip()
    out.append((True, f"PostgreSQL {version}, database {c.site.database.name} "
                      f"{size / 1e6:.1f} MB"))
    on = maintenance.is_on(c)
    out.append((None, f"maintenance: {'ON (the public gets 503)' if on else 'off'}"))
    return out


def checks(c, ref):
    """[(ok: bool|None, text)] read-only facts; and the target commit."""
    out = host_checks(c)
    name = code_update.ref_name(c, ref)
    f = preflight_facts.read(c, name)   # the fetch, the ref, HEAD and the tree: what preflight reads
    if not f.commit:
        raise code_update.no_such_ref(c, name)
    commit, now = f.commit, f.head
    ff = c.run(f"git -C {q(c.site.app.dir)} merge-base --is-ancestor {q(now)} {q(commit)}",
               warn=True, hide=True).ok
    out.append((ff, f"code: deployed {now[:12]}, target {name} = {commit[:12]}"
                    f"{'' if ff else ' - NOT a fast-forward'}"
                    f"{' (nothing to update)' if now == commit else ''}"))
    dirty = f.changes
    out.append((not dirty, "work tree: clean" if not dirty else
                f"work tree: local changes ({'; '.join(dirty[:3])})"))
    return out, name, commit


def check_lines(fleet, m, facts, lines):
    """Append one host's checks to `lines` (ok / FAIL / a plain fact); False if one failed."""
    for ok, text in facts:
        mark = "    " if ok is None else ("ok  " if ok else "FAIL")
        lines.append(f"  {mark} {m.site.name + ': ' if fleet.multi else ''}{text}")
    return all(ok is not False for ok, _text in facts)


def generic_plan(run, steps):
    """The plan of any composite (`--plan` or `fab --dry`): the read-only checks on each host
    (`run.host_facts`), the composite's own (`run.run_facts`), then its steps in order, where
    each would run, what it does and its main commands; and whether every check passed."""
    fleet = run.fleet
    lines, all_ok = [f"PLAN for {run.task} on {fleet.describe()} - nothing below has run", "",
                     "Read-only checks:"], True
    for m in fleet.members:
        all_ok = check_lines(fleet, m, run.host_facts(m), lines) and all_ok
    more, ok = run.run_facts()
    lines, all_ok = lines + more, all_ok and ok
    lines += ["", f"Steps that would run, in order ({run.task} {cli_args(run.args)}):".replace(" )", ")")]
    lines += step_lines(run, steps)
    lines += ["", "Verdict: " + ("every check passed; run without --plan (or --dry) to do it"
                                 if all_ok else "a check FAILED above: fix it first")]
    return [run.c.mask(x) for x in lines], all_ok


def step_lines(run, steps):
    """Each step in order: where it runs, what it does, its main commands (built for the
    primary, from the run's data so far)."""
    fleet, lines = run.fleet, []
    for i, step in enumerate(steps, 1):
        where = {steps_mod.ONCE: f"on {fleet.primary.site.name}",
                 steps_mod.ALL: "on every host at once",
                 steps_mod.ROLLING: f"rolling, {run.batch} at a time"}[step.where] \
            if fleet.multi else fleet.primary.site.name
        role = f", {step.role} hosts" if step.role and fleet.multi else ""
        lines.append(f"  {i}. {step.name} [{where}{role}]"
                     f"{'' if step.changes_host else ' (read-only)'}"
                     f"{' - ' + step.about if step.about else ''}")
        lines += [f"      $ {cmd}" for cmd in step.main_commands(fleet.primary, run)]
    return lines


def migration_facts(c, commit, expect, allow_unguarded=False):
    """(lines, ok, pending): deploy.consolidate's own read-only facts, read from the target commit's
    migration files: the data-loss guard, the expected migrations, the pending ones tagged
    DESTRUCTIVE or DATA."""
    lines, ok = [], True
    files = pending_files(c, commit)
    sources = migrate.sources_at(c, commit, files)
    ops = {name: OP_RE.findall(text) for name, text in sources.items()}
    refusal = guards.unguarded(guards.source_entries(sources), c.site.inventory.project,
                               allow_unguarded)
    if refusal:
        ok = False
        lines.append(f"  FAIL data-loss guard: {refusal}")
    wanted = migrate.expect_list(c, expect)
    for p in migrate.expected_at(c, commit, wanted) if wanted else []:
        ok = False
        lines.append(f"  FAIL expected migrations: {p}")
    lines += ["", f"Pending migrations in {commit[:12]} ({len(files)}):"]
    for mig, names in ops.items():
        bad = [n for n in names if n in migrate.DESTRUCTIVE]
        data = [n for n in names if n in ("RunPython", "RunSQL")]
        tag = "DESTRUCTIVE " if bad else ("DATA " if data else "")
        lines.append(f"  {tag}{mig}: {', '.join(names) or 'no operations found'}")
    if not files:
        lines.append("  none")
    return lines, ok, list(files)


def lint_lines(c, read, window_of, accept=False):
    """(lines, ok): migrate.lint for the plan. `read()` gives the plan's entries; `window_of(
    entries, found)` whether they would run in a window (a Failed from it is a refusal). When
    the entries cannot be read here (the target's code does not start with the live venv), the
    plan says so and leaves it to the run, which lints in its own tree."""
    try:
        entries = [e for e in read() if not e["backwards"]]
        if not entries:
            return ["", "Migration lint: no pending migrations"], True
        found, _rates = lint_step.findings(c, entries)
    except ConfigError as e:   # squawk missing: the run would fail the same way
        return ["", "Migration lint:", f"  FAIL {e}"], False
    except (DeployError, UnexpectedExit) as e:
        said = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        return ["", f"Migration lint: not read here ({said}); the run lints after the code "
                    "moves"], True
    try:
        window = window_of(entries, found)
    except steps_mod.Failed as e:
        return ["", "Migration lint:", f"  FAIL {e}"], False
    budget = lint_step.budget(c)
    lines = ["", f"Migration lint ({len(entries)} pending; squawk, this host's table sizes; "
                 f"{'inside a maintenance window' if window else 'WITHOUT a window'}):"]
    lines += ["       " + x for x in lint.render(found, budget, accept).splitlines()]
    refused = lint.refusals(found, window, budget, accept)
    if refused:
        lines.append(f"  FAIL {lint_step.refusal(refused, window)}")
    return lines, not refused


def target_lint(c, commit, window_of, accept=False):
    """lint_lines of the pending migrations of `commit`, read in a worktree of it beside the app
    (staging.peek: the live venv, removed after)."""
    def read():
        with staging.peek(c, commit) as seen:
            return migrate.plan(seen)
    return lint_lines(c, read, window_of, accept)


class Run(steps_mod.Run):
    """The runner of a composite that changes a host: its `--plan` runs the read-only host checks
    (lock, maintenance, services, the deployed commit) before listing the steps."""

    def host_facts(self, m: Any) -> list[tuple[bool | None, str]]:
        """[(ok, text)]: one host's read-only facts."""
        return host_checks(m) + [(None, f"code: deployed {head(m)[:12]}")]

    def run_facts(self) -> tuple[list[str], bool]:
        """(lines, ok): the composite's own read-only facts after the hosts' (none here)."""
        return [], True

    def plan_lines(self, steps: Sequence[steps_mod.Step]) -> tuple[list[str], bool]:
        return generic_plan(self, steps)


class UpgradeRun(Run):
    """pg_upgrade.run, deploy.pg_upgrade: the plan also names the cluster on the app's port (into
    `data.source`), so the steps' commands name it as the upgrade will."""

    def host_facts(self, m):
        port = int(m.site.database.port)
        src = next((k for k in clusters.listing(m) if k.port == port), None)
        if src is not None:
            self.data.source = (src.version, src.name)
        return super().host_facts(m) + [(None, f"cluster on port {port}: "
                                               + (f"{src.id} ({src.status})" if src else "none"))]


class ConsolidateRun(Run):
    """deploy.consolidate: its plan also reads the target commit (into `data.target`, as
    preflight does, so the steps' commands name it) and the migrations it would apply."""

    def host_facts(self, m):
        facts, name, commit = checks(m, self.args.get("ref") or None)
        self.data.target = (name, commit)
        return facts

    def run_facts(self):
        lines, ok, self.data.pending = migration_facts(
            self.c, self.data.target[1], self.args.get("expect"),
            self.args.get("allow_unguarded", False))
        if self.data.pending:   # the migrations run inside the window
            more, lint_ok = target_lint(self.c, self.data.target[1], lambda e, f: True,
                                        self.args.get("accept_locks", False))
            lines, ok = lines + more, ok and lint_ok
        return lines, ok


class MigrateRun(Run):
    """migrate.run: its plan also lints the pending migrations of the live tree, inside a window
    when maintenance is on."""

    def run_facts(self):
        return lint_lines(self.c, lambda: migrate.plan(self.c),
                          lambda e, f: maintenance.is_on(self.c),
                          self.args.get("accept_locks", False))
