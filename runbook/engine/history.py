"""deploy.history and deploy.show: the runs on a host, read back from its journal.

The host's journal (`<backup.dir>/journal.jsonl`, JSON lines written by every run, secrets
already masked) is the record every operator shares; the local one is used when the host's
cannot be read. A run is the records with one run id: its start (task, args, who), its steps,
its commands, and its end (outcome, failed step, duration, and for deploys the commits, the
backup and the downtime).
"""
import json
import re

from runbook.engine import last_recovery
from runbook.engine.errors import ConfigError, DeployError
from runbook.engine.fabcmd import cli_options, fab
from runbook.engine.journal import REMOTE_NAME, read_local
from runbook.engine.runner import Facts
from runbook.engine.shell import q

RUN_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")


def records(c):
    """Every journal record of this host: the host's journal, plus what only the local one has
    (the end of a run whose connection was cut before the host got it), in time order."""
    r = c.run(f"cat {q(c.site.backup.dir + '/' + REMOTE_NAME)} 2>/dev/null", warn=True, hide=True)
    out = []
    for line in (r.stdout.splitlines() if r.ok else []):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue   # a torn last line (a run killed while appending) is skipped
    path = c.site.inventory.path.parent / ".deploy-journal" / f"{c.site.name}.jsonl"
    if path.exists():
        seen = {json.dumps(rec, sort_keys=True) for rec in out}
        out += [rec for rec in read_local(path) if json.dumps(rec, sort_keys=True) not in seen]
        out.sort(key=lambda rec: rec.get("ts", ""))   # stable: same-second records keep order
    return out


def runs(recs):
    """{run id: {"start", "end", "steps", "commands", "other"}} in journal order."""
    out = {}
    for rec in recs:
        run = out.setdefault(rec.get("run", "?"), {"start": None, "end": None, "steps": [],
                                                   "commands": [], "other": []})
        kind = rec.get("kind")
        if kind == "run" and rec.get("event") == "start":
            run["start"] = rec
        elif kind == "run" and rec.get("event") == "end":
            run["end"] = rec
        elif kind == "step":
            run["steps"].append(rec)
        elif kind == "command":
            run["commands"].append(rec)
        else:
            run["other"].append(rec)
    return out


def summary(run_id, run):
    """One row of deploy.history: when, who, task, before -> after, result, downtime, backup."""
    start, end = run["start"] or {}, run["end"] or {}
    if not end:
        result = "no end recorded (killed, or running)"
    elif end.get("outcome") == "ok":
        result = "ok"
    elif end.get("outcome") == "refused":   # another run held the lock: it did nothing
        result = "refused (the deploy lock was held)"
    else:
        result = f"{end.get('outcome')} at {end.get('failed_step', '?')}"
    if end.get("resumed"):
        result += f" (resumed {end['resumed']})"
    f = Facts.read(end)
    moved = f"{f.before[:8]} -> {f.after[:8]}" if f.before and f.after and \
        f.before != f.after else (f.before or f.after)[:8] or "-"
    return {"run": run_id, "when": start.get("ts", end.get("ts", "?")),
            "who": f"{start.get('user', '?')}@{start.get('machine', '?')}",
            "task": start.get("task", "?"), "code": moved, "result": result,
            "downtime": "-" if f.downtime is None else f"{f.downtime:.1f}s",
            "backup": f.backup or "-"}


def table(rows):
    cols = ["when", "run", "who", "task", "code", "result", "downtime", "backup"]
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in cols}
    lines = ["  ".join(k.ljust(widths[k]) for k in cols)]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in cols) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def cli_args(args):
    """A run's arguments as options on a command line (the ones given: not empty, not off)."""
    return cli_options(args)


def show_lines(run_id, run):
    """deploy.show: the run's header, its steps, its commands with exit codes, its end."""
    s = summary(run_id, run)
    start, end = run["start"] or {}, run["end"] or {}
    lines = [f"run {run_id}: {s['task']} {cli_args(start.get('args'))}".rstrip(),
             f"  started {s['when']} by {s['who']} (pid {start.get('pid', '?')})",
             f"  result: {s['result']}; code {s['code']}; downtime {s['downtime']}; "
             f"backup {s['backup']}; took {end.get('duration', '?')}s", "", "steps:"]
    for st in run["steps"]:
        lines.append(f"  {st.get('step', '?'):<28} {st.get('outcome', '?'):<11} "
                     f"{st.get('duration', 0):7.2f}s  {st.get('detail', '')}")
    lines += ["", "commands (exit, seconds):"]
    for cmd in run["commands"]:
        lines.append(f"  [{cmd.get('step') or '-'}] exit {cmd.get('exit')} "
                     f"{cmd.get('duration', 0):.2f}s  $ {cmd.get('command', '')}")
        lines += [f"      | {x}" for x in str(cmd.get("script") or "").splitlines()]
    for rec in run["other"]:
        if rec.get("kind") == "output":
            lines += ["", f"{rec.get('what', 'output')}:"] + [
                f"  {x}" for x in str(rec.get("text", "")).splitlines()]
    if end.get("outcome") not in (None, "ok"):
        lines += ["", f"stopped at {end.get('failed_step')}: {end.get('reason', '')}",
                  "host state then:"] + [f"  - {x}" for x in end.get("state", [])] + [
                  "recovery printed:"] + [f"  {x}" for x in str(end.get("recovery", "")).splitlines()]
    elif not end and (said := last_recovery.last(run["other"], run_id)):   # killed, or running
        lines += ["", f"no end recorded (still running, or killed); its last record, in "
                  f"{said['step']}: host state:"] + [f"  - {x}" for x in said["state"]] + [
                  "recovery then:"] + [f"  {x}" for x in str(said["text"]).splitlines()]
    return lines


def history_text(c, limit):
    found = runs(records(c))
    rows = [summary(rid, run) for rid, run in found.items() if rid != "?"]
    if not rows:
        return f"{c.site.name}: no runs in the journal ({c.site.backup.dir}/{REMOTE_NAME})"
    rows = rows[-limit:]
    return f"{c.site.name}: the last {len(rows)} run(s), oldest first\n" + table(rows)


def show_text(c, run_id):
    if not RUN_RE.match(run_id or ""):
        raise ConfigError(f"RUN {run_id!r} is not a run id (like 20261121-074618-5ec9); "
                          f"list them with {fab(c, 'deploy.history')}")
    found = runs(records(c))
    if run_id not in found:
        raise DeployError(f"no run {run_id} in {c.site.name}'s journal; list them with "
                          + fab(c, "deploy.history"))
    return "\n".join(show_lines(run_id, found[run_id]))
