"""[migrations] lock_timeout for the migrating process, and its failure as one line.

scripts/migrate_apply.py sets it for its session before the migrations (RB_LOCK_TIMEOUT); a
statement that waits longer for a lock is cancelled (SQLSTATE 55P03) and its migration, atomic
on PostgreSQL, rolled back (docs/BEHAVIOUR.md#pg-lock-timeout-cancels,
docs/BEHAVIOUR.md#django-migration-atomic). The script then prints `@@lock-timeout {json}` with
the sessions holding locks on the tables of the statement that waited, and exits 4.
"""
import json
import re

from runbook.engine.errors import Failed

ENV = "RB_LOCK_TIMEOUT"
MARK = re.compile(r"^@@lock-timeout (.*)$", re.M)
APPLYING = re.compile(r"Applying (\S+?)\.\.\.( OK)?")   # Django's migrate output, per migration


def env(project):
    """The script's env for the project's lock_timeout ("0": none, the server's own applies)."""
    return {} if project.lock_timeout == "0" else {ENV: project.lock_timeout}


def holder(h):
    """One session holding a lock: 'T (pid N, user via app, state since HH:MM:SS UTC, mode)', as
    far as pg_stat_activity lets this role see it."""
    who = " via ".join(x for x in (h.get("user"), h.get("app")) if x)
    since = f" since {h['since']} UTC" if h.get("since") else ""
    state = h.get("state") and h["state"] + since
    fields = [f"pid {h['pid']}", who, state, h.get("mode")]
    return f"{h['table']} ({', '.join(x for x in fields if x)})"


def blockers(holders):
    """Who held the lock: 'another session holds a lock on T (pid ...)'."""
    if not holders:
        return "the session holding it was gone when looked up"
    return (f"{'other sessions hold locks' if len(holders) > 1 else 'another session holds a lock'}"
            f" on {', '.join(holder(h) for h in holders)}")


def failure(text, value, run=None, before=()):
    """The stage's one failure line when the lock timeout stopped it (its output `text` holds the
    script's @@lock-timeout line), else None. `value`: the lock_timeout that was set. With `run`,
    its state then says what is applied: `before` (earlier stages' entries) and this stage's
    migrations before the one that waited; when that is none, no "migrated" state is left, so
    a deploy's recovery moves the code back rather than restoring the backup."""
    m = MARK.search(text)
    if m is None:
        return None
    report = json.loads(m[1])
    seen = APPLYING.findall(text)
    recorded = report.get("applied")
    if recorded is not None:   # the database's word (output lines interleave with the guard's)
        seen = [(n, n in recorded) for n, _ok in seen]
    name = next((n for n, ok in reversed(seen) if not ok), "a migration")
    applied = [n for n, ok in seen if ok]
    line = (f"{name} could not take its lock within {value} ([migrations] lock_timeout): "
            f"{blockers(report.get('holders', []))}; nothing of that migration was "
            "applied")
    if applied:
        line += f"; applied before it in this stage: {', '.join(applied)}"
    if run is not None:
        settle(run, [e["migration"] for e in before] + applied)
    return Failed(line)


def settle(run, applied):
    """run.state["migrated"] as it is known to be now (a resumed run keeps what it said: the run
    it resumes may have applied some)."""
    if run.resume is not None:
        return
    if applied:
        run.state["migrated"] = f"applied: {', '.join(applied)}"
    else:
        run.state.pop("migrated", None)
