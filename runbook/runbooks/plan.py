"""Plan mode (`deploy.consolidate --plan`, and `--dry` made truthful): what a deploy WOULD do.

Read-only checks first (health, lock holder, disk and write access for the backup, current and
target commit, a clean tree, pending migrations with the destructive operations read from the
target commit's own migration files, PostgreSQL version), then the steps that would change the
host, where they would run and their main commands, secrets masked. Nothing that changes the
host runs and nothing is uploaded; the one write is `git fetch` of the remote's refs (the work
tree is untouched), so the target commit can be read.

Invoke's own `--dry` only echoes commands and pretends each succeeded, so every check would
"pass" (FACTS.md): under `--dry` the composites print this plan instead.
"""
import re

from runbook.django import guards, migrate
from runbook.django.app import head, prefix
from runbook.engine import lock
from runbook.engine import runner as steps_mod
from runbook.engine.history import cli_args
from runbook.host import services
from runbook.host.remote import q
from runbook.ops import code_update, maintenance, preflight_facts, restart
from runbook.postgres import db

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


def consolidate_plan(fleet, ref, json_dumps, expect, allow_unguarded=False):
    """The lines `deploy.consolidate --plan` prints, and whether every check passed."""
    c = fleet.primary
    lines, all_ok = [f"PLAN for deploy.consolidate on {fleet.describe()} - nothing below has run", "",
                     "Read-only checks:"], True
    commit = None
    for m in fleet.members:
        facts, name, commit = checks(m, ref)
        all_ok = check_lines(fleet, m, facts, lines) and all_ok
    files = pending_files(c, commit)
    sources = migrate.sources_at(c, commit, files)
    ops = {name: OP_RE.findall(text) for name, text in sources.items()}
    refusal = guards.unguarded(guards.source_entries(sources), c.site.inventory.project,
                               allow_unguarded)
    if refusal:
        all_ok = False
        lines.append(f"  FAIL data-loss guard: {refusal}")
    wanted = migrate.expect_list(c, expect)
    problems = migrate.expected_at(c, commit, wanted) if wanted else []
    for p in problems:
        all_ok = False
        lines.append(f"  FAIL expected migrations: {p}")
    lines += ["", f"Pending migrations in {commit[:12]} ({len(files)}):"]
    for mig, names in ops.items():
        bad = [n for n in names if n in migrate.DESTRUCTIVE]
        data = [n for n in names if n in ("RunPython", "RunSQL")]
        tag = "DESTRUCTIVE " if bad else ("DATA " if data else "")
        lines.append(f"  {tag}{mig}: {', '.join(names) or 'no operations found'}")
    if not files:
        lines.append("  none")
    lines += ["", "Steps that would change the host, in order (where, main commands):"]
    for step, where, cmds in steps(c, fleet, commit, files, json_dumps):
        lines.append(f"  {step} [{where}]")
        lines += [f"      $ {c.mask(cmd)}" for cmd in cmds]
    lines += ["", "Verdict: " + ("every check passed; run without --plan to deploy" if all_ok
                                 else "a check FAILED above: the deploy would stop at preflight")]
    return lines, all_ok


def steps(c, fleet, commit, files, json_dumps):
    """(step, where, [commands]) for deploy.consolidate, from this host's settings."""
    s, b = c.site, f"{c.site.backup.dir}/<run id>"
    manage = prefix(c)
    migrations = " ".join(files) or "(none)"
    primary = "once, on " + fleet.primary.site.name if fleet.multi else s.name
    every = "every host at once" if fleet.multi else s.name
    dumps = [f"{manage} dumpdata ... | gzip > {b}/dumpdata-*.json.gz"] if json_dumps else []
    return [
        ("backup.create", primary, [f"pg_dump -Fc --snapshot=... {s.database.name} > {b}/db.dump",
                                    f"pg_dumpall --globals-only > {b}/globals.sql", *dumps,
                                    f"pg_restore -f /dev/null {b}/db.dump  (verification)"]),
        ("verify.audit", primary, [f"the project's audit queries -> {b}/audit.json"]),
        ("code update", every, [f"git -C {s.app.dir} merge --ff-only {commit[:12]}",
                                "pip install -r requirements (only if they changed)"]),
        ("maintenance.on", every, [f"nginx snippet {s.maintenance.snippet} (if missing; nginx -t)",
                                   f"create {s.maintenance.flag}"]),
        ("migrate.run", primary, [f"{manage} migrate --noinput ... ({migrations}); "
                                  "invariants before the destructive ones"]),
        ("verify.post", primary, ["the project's post checks; fingerprints compared"]),
        ("restart", "rolling" if fleet.multi else s.name, [restart.plan_line(c)]),
        ("maintenance.off", every, [f"rm {s.maintenance.flag}"]),
        ("verify.smoke / verify.logs", every, ["HTTP smoke checks; log scan"]),
    ]


def generic_plan(run, steps):
    """The plan of any composite (`--plan` or `fab --dry`): the read-only checks on each host,
    then its steps in order, where each would run; and whether every check passed."""
    fleet = run.fleet
    lines, all_ok = [f"PLAN for {run.task} on {fleet.describe()} - nothing below has run", "",
                     "Read-only checks:"], True
    for m in fleet.members:
        facts = host_checks(m) + [(None, f"code: deployed {head(m)[:12]}")]
        all_ok = check_lines(fleet, m, facts, lines) and all_ok
    lines += ["", f"Steps that would run, in order ({run.task} {cli_args(run.args)}):".replace(" )", ")")]
    for i, step in enumerate(steps, 1):
        where = {"once": f"on {fleet.primary.site.name}", "all": "on every host at once",
                 "rolling": f"rolling, {run.batch} at a time"}[step.where] if fleet.multi else \
            fleet.primary.site.name
        role = f", {step.role} hosts" if step.role and fleet.multi else ""
        doc = (getattr(step.fn, "__doc__", None) or "").strip().splitlines()
        lines.append(f"  {i}. {step.name} [{where}{role}]"
                     f"{'' if step.changes_host else ' (read-only)'}{' - ' + doc[0] if doc else ''}")
    lines += ["", "Verdict: " + ("every check passed; run without --plan (or --dry) to do it"
                                 if all_ok else "a check FAILED above: fix it first")]
    return [run.c.mask(x) for x in lines], all_ok


class Run(steps_mod.Run):
    """The runner of a composite that changes a host: its `--plan` runs the read-only host checks
    (lock, maintenance, services, pending migrations) before listing the steps."""

    def plan_lines(self, steps):
        return generic_plan(self, steps)
