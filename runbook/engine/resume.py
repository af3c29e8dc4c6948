"""--resume: continue a failed composite run from its journal.

The failed run is the last run of the same task in the primary's journal (`history.records`:
the host's, with the local journal filling in an end the host never got). A resumed run
keeps that run's arguments and target commit, and its pre-deploy backup stays the run's backup.
Steps that are checks or act only when needed (code update, maintenance, migrations, restart)
run again - they re-check the host rather than trust the journal; only steps with a `keep`
(the backup, the audit) are skipped, and only after proving their result is still on the host.
"""
from dataclasses import dataclass, field
from datetime import datetime

from runbook.engine import history
from runbook.engine.errors import ConfigError, DeployError
from runbook.engine.fabcmd import fab
from runbook.engine.shell import q

DONE = ("ok", "kept")


@dataclass
class Prior:
    """What a resumed run needs of the failed one."""
    run_id: str
    args: dict
    failed_step: str
    reason: str
    before: str = ""
    after: str = ""
    backup: str = ""
    changed: list = field(default_factory=list)  # state keys: backup, code, maintenance, migrated
    state: list = field(default_factory=list)    # its state lines, as printed
    done: dict = field(default_factory=dict)     # step name -> ISO time it finished ok

    @property
    def changed_nothing(self):
        return not self.changed

    def done_at(self, step):
        """Seconds since the epoch the step finished in the failed run, or None."""
        ts = self.done.get(step)
        return datetime.fromisoformat(ts).timestamp() if ts else None


def prior_from_records(recs, task, host, c=None):
    """The last `task` run in these journal records, as a Prior; an error when there is nothing
    to resume (it ended ok, it has no end, or there is no such run). `c`: the host's connection,
    for the commands the errors print (with its inventory)."""
    found = history.runs(recs)
    mine = [(rid, r) for rid, r in found.items()
            if rid != "?" and (r["start"] or {}).get("task") == task
            and (r["end"] or {}).get("outcome") != "refused"]   # refused at the lock: did nothing
    if not mine:
        raise ConfigError(f"--resume: no {task} run in {host}'s journal; run it without --resume")
    run_id, run = mine[-1]
    end = run["end"] or killed_end(found, run_id, run)
    if end is None:
        def cmd(rest):
            return fab(c, rest) if c else f"fab -H {host} {rest}"
        unlock = cmd("deploy.unlock --reason " + q(f"run {run_id} was killed"))
        raise DeployError(f"--resume: the last {task} run {run_id} on {host} has no end in the "
                          f"journal: it is still running, or was killed; if it was killed, "
                          f"remove its lock ({unlock}) and resume again; its steps: "
                          f"{cmd(f'deploy.show --run {run_id}')}", code=1)
    if end.get("outcome") == "ok":
        raise ConfigError(f"--resume: the last {task} run {run_id} on {host} ended ok; nothing "
                          "to resume (run it without --resume to deploy again)")
    done = {s["step"]: s.get("ts") for s in run["steps"] if s.get("outcome") in DONE}
    return Prior(run_id=run_id, args=dict((run["start"] or {}).get("args") or {}),
                 failed_step=end.get("failed_step", "?"), reason=end.get("reason", ""),
                 before=end.get("before", ""), after=end.get("after", ""),
                 backup=end.get("backup", ""), changed=list(end.get("state_keys") or []),
                 state=list(end.get("state") or []), done=done)


def killed_end(found, run_id, run):
    """The end of a run that died without writing one (kill -9, a closed laptop), once
    deploy.unlock removed its lock (its journal record names the run): stopped after its last
    recorded step, with that step's checkpoint. The step in flight may have done part of its
    work, so its migrations count as changed (a resume then trusts only a backup and an audit
    that verify again). None while nothing says the run is over."""
    unlocked = any(rec.get("kind") == "unlock" and (rec.get("holder") or {}).get("run") == run_id
                   for other in found.values() for rec in other["other"])
    if not unlocked:
        return None
    last = run["steps"][-1] if run["steps"] else {}
    point = dict(last.get("checkpoint") or {})
    point["state_keys"] = sorted({*point.get("state_keys", []), "migrated"}) if last else []
    return {**point, "outcome": "killed",
            "failed_step": f"the step after {last['step']}" if last else "its first step",
            "reason": "the run died (no end in the journal; its lock removed by deploy.unlock)"}


def find(c, task):
    """The failed run to resume on this host (the primary of a group)."""
    return prior_from_records(history.records(c), task, c.site.name, c)


def merge_args(prior, given, defaults):
    """The failed run's arguments; an option given now must agree with them (a different --ref
    is a new deploy, not a resume)."""
    out = dict(prior.args)
    for key, value in given.items():
        if value == defaults.get(key) or key not in out:
            out.setdefault(key, value)
            continue
        if value != out[key]:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"--resume continues run {prior.run_id}, which ran with "
                              f"{flag}={out[key]!r}, not {value!r}; drop {flag}, or deploy "
                              "anew without --resume")
    return out
