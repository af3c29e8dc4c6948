"""The checkpoint runner: named steps, stop at the first failure, journal, lock, summary.

A composite task builds a list of `Step`s and hands it to `Run.execute`. Each step is a function
`fn(c, run)` that does its work and proves it (its checkpoint); it raises `Failed` (or any
command failure) to stop the run. On a stop the runner prints which step failed and why, the
host's state as the steps recorded it (`run.state`), the exact command that recovers, writes the
journal, releases the lock, and exits non-zero.

A run acts on a `Fleet` (one host, or a group): each step says where it runs (`Step.where`) -
"once" on the primary, on "all" hosts at once (Fabric's ThreadingGroup), or "rolling" in batches
of `--batch`, each batch healthy before the next. A step function always sees one host: `fn(c,
view)`, where the view's `data`/`state` are that host's, over the run's shared ones.
"""
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn, Sequence

from fabric.exceptions import GroupException

from runbook.engine import last_recovery, lock, lost, stop_reason
from runbook.engine.errors import (  # Failed is re-exported: steps import it from here
    CheckpointFailed,
    DeployError,
    Failed,
    Interrupted,
    LockHeld,
    PlanShown,
    Recovery,
)
from runbook.engine.fabcmd import fab, rerun
from runbook.engine.fleet import Fleet, StepGroup, batches
from runbook.engine.host_view import HostView
from runbook.engine.journal import Journal, new_run_id, who
from runbook.engine.notify import Notifier
from runbook.engine.output import paint, planning, quiet
from runbook.engine.run_facts import Facts  # re-exported: history reads end records with it
from runbook.engine.rundata import RunData
from runbook.engine.step import (  # re-exported: steps import them from here  # noqa: F401
    ALL,
    LOCAL,
    ONCE,
    ROLLING,
    Step,
    commands,
)


@dataclass
class Run:
    """One composite run on one host or on a group of hosts (`c`: a DeployConnection or Fleet)."""

    c: Any   # a DeployConnection or a Fleet (the host layer's classes: the engine cannot import them)
    task: str
    args: dict = field(default_factory=dict)
    take_lock: bool = True
    state: dict = field(default_factory=dict)   # what a failure message must say about the host
    results: list = field(default_factory=list)
    data: RunData = field(default_factory=RunData)   # values steps pass to later steps
    batch: int = 1                              # hosts per batch of a rolling step
    resume: Any = None                          # the failed run's Prior (--resume), or None
    facts: Facts = field(default_factory=Facts)  # what the end record tells deploy.history

    def __post_init__(self):
        self.fleet = self.c if isinstance(self.c, Fleet) else Fleet.single(self.c)
        self.c = self.fleet.primary
        self.run_id = new_run_id()
        self.planning = self.take_lock and planning(self.c)   # a plan writes no journal
        self.journals = {} if self.planning else {
            m.site.name: Journal(m, self.task, self.args, run_id=self.run_id)
            for m in self.fleet.members}
        self.journal = self.journals.get(self.c.site.name)
        # one host: its data/state are the run's; several: each host has its own over the shared
        multi = self.fleet.multi
        self.host_data = {m.site.name: self.data.empty() if multi else self.data
                          for m in self.fleet.members}
        self._current = None   # the step running; each state change journals its recovery
        self.state = last_recovery.Watched(self.state, self.checkpoint)
        self.host_state = {m.site.name: last_recovery.Watched({}, self.checkpoint) if multi
                           else self.state for m in self.fleet.members}
        self.host_steps = {m.site.name: [] for m in self.fleet.members}
        self.started = time.monotonic()
        # runs that change the host (they take the lock) tell the team's webhook, if set
        self.notifier = Notifier(self.c.site) if self.take_lock else None

    def notify(self, event: str, **fields: Any) -> None:
        if self.notifier is not None:
            self.notifier.send(event, self, self.say, **fields)

    # --- output --------------------------------------------------------------------------
    def say(self, text: str = "", host: str | None = None, detail: bool = False) -> None:
        """Print a line of the run (masked: secrets never reach a terminal or CI log); a `detail`
        (a step's own lines, a step starting) is left out under --quiet."""
        if detail and quiet(self.c):
            return
        prefix = f"[{host}] " if host and self.fleet.multi else ""
        print(prefix + self.c.mask(text), flush=True)

    def cmd(self, name: str) -> str:
        """The `fab` command line for a task ("TASK OPTIONS") on this host (or group), runnable
        as printed; this run's own task gets the run's options (a rerun)."""
        if name == self.task:
            return rerun(self.c, self.task, self.args, host=self.fleet.name)
        return fab(self.c, name, host=self.fleet.name)

    def view(self, c: Any, shared: bool = False) -> HostView:
        return HostView(self, c, shared)

    def state_lines(self) -> list[str]:
        """The host state for a failure message: shared lines, then each host's, named."""
        lines = list(self.state.values())
        for name, st in self.host_state.items():
            if st is not self.state:
                lines += [f"{name}: {line}" for line in st.values()]
        return lines

    def overview(self) -> HostView:
        """A view for recovery hints: the primary's data over the shared, every host's state."""
        v = self.view(self.c, shared=True)
        v.state = dict(self.state)
        for st in self.host_state.values():
            v.state.update(st)
        return v

    # --- execution -----------------------------------------------------------------------
    def execute(self, steps: Sequence[Step]) -> "Run":
        if self.planning:
            self._show_plan(steps)
        self.say(f"{self.task} on {self.fleet.describe()} (run {self.run_id})")
        if self.resume is not None:
            p = self.resume
            self.say(f"resuming run {p.run_id}, which stopped at {p.failed_step}: {p.reason}")
        held = []
        try:
            if self.take_lock:
                try:
                    held = self._lock_all()
                except LockHeld as e:   # an end, so --resume never takes this run for the last
                    self._end({"outcome": "refused", "reason": self.c.mask(e.text)})
                    raise
                lost.tag(self.fleet.members, self.run_id)
            me = who()
            self.notify("start", user=f"{me['user']}@{me['machine']}",
                        args=self.c.mask(json.dumps(self.args, sort_keys=True)))
            for i, step in enumerate(steps, 1):
                self._step(i, len(steps), step)
            self._end({"outcome": "ok"})
            self.summary()
            facts = self._facts()
            self.notify("success", took=f"{time.monotonic() - self.started:.1f}s",
                        downtime=None if facts.downtime is None else f"{facts.downtime:.1f}s",
                        backup=facts.backup or None, code=facts.after or None)
            return self
        finally:
            for m in held:
                if m in lost.lost(held):   # no new connection: the recovery printed unlocks it
                    self.say(f"the deploy lock on {m.site.name} stays (the connection was lost)")
                    continue
                try:
                    lock.release(m, self.run_id)
                except Exception as e:  # noqa: BLE001 - report, the lock stays
                    self.say(f"warning: could not release the deploy lock on {m.site.name} ({e}); "
                             + fab(m, 'deploy.unlock --reason "..."'))
            for j in self.journals.values():
                j.flush_remote()

    def _show_plan(self, steps):
        """--plan / fab --dry: read-only checks and the steps; nothing runs, the task ends."""
        lines, ok = self.plan_lines(steps)
        print("\n".join(lines), flush=True)
        if not ok:
            raise CheckpointFailed("the plan found a failing check (marked FAIL above); "
                                   "fix it first")
        raise PlanShown()

    def plan_lines(self, steps: Sequence[Step]) -> tuple[list[str], bool]:
        """(lines, ok) of the plan: the steps in order. A runbook's Run adds its host checks."""
        return [f"plan: {self.task} on {self.fleet.describe()}"] + [
            f"  [{i}/{len(steps)}] {s.name}" for i, s in enumerate(steps, 1)], True

    def _lock_all(self):
        """One lock over the whole group: every member's, in order; none kept if one is held."""
        held = []
        try:
            for m in self.fleet.members:
                lock.acquire(m, self.journals[m.site.name], self.task, self.args)
                held.append(m)
        except LockHeld:
            for m in held:
                lock.release(m, self.run_id)
            raise
        return held

    def _checkpoint(self):
        """The run's facts so far and what it changed (`state_keys`): in every step record, so
        a run killed before its end can still be resumed (resume.py), and in the end record."""
        view = self.overview()
        facts = self._facts(view).record()
        facts["state_keys"] = sorted(view.state)   # what --resume must know changed
        return facts

    def _end(self, record):
        facts = self._checkpoint()
        if self.resume is not None:
            facts["resumed"] = self.resume.run_id
        for j in self.journals.values():
            j.write({"kind": "run", "event": "end", **record, **facts,
                     "duration": round(time.monotonic() - self.started, 2)})

    def _facts(self, view=None):
        """What deploy.history shows of a run (`Facts`): the run's, gaps filled from its data."""
        return self.facts.merged((view or self.overview()).data)

    def _targets(self, step):
        if step.where == ONCE:
            return [self.c]
        return self.fleet.with_role(step.role) if step.role else list(self.fleet.members)

    def _step(self, i, n, step):
        label = f"[{i}/{n}] {step.name}"
        targets = self._targets(step)
        where = {ONCE: f"on {self.c.site.name}", ALL: "on all hosts at once",
                 ROLLING: f"rolling, {self.batch} at a time"}[step.where]
        start = time.monotonic()
        self._current = step
        try:  # from the first line: a Ctrl-C between two commands still stops at this step
            last_recovery.record(self, step)
            self.say(f"{label} ...{' (' + where + ')' if self.fleet.multi else ''}", detail=True)
            if not targets:
                detail = f"nothing to do: no host has the {step.role} role"
            elif (kept := self._kept(step)) is not None:
                took = self._record(step, "kept", start, kept, targets)
                self.say(f"{label} {paint('kept')} ({took:.1f}s) - {kept}")
                return
            elif step.where == ONCE or len(targets) == 1:
                detail = self._on_host(step, targets[0], shared=step.where == ONCE)
            elif step.where == ALL:
                detail = self._on_hosts(step, targets)
            else:
                detail = self._rolling(step, targets)
        except KeyboardInterrupt:
            self._record(step, "interrupted", start, "Ctrl-C")
            self._stopped(label, step, "interrupted by Ctrl-C (a remote command may still be "
                          "running; check it before retrying)", None)
            raise Interrupted(f"{self.task} interrupted at {step.name}") from None
        except Exception as e:  # noqa: BLE001 - every failure stops the run the same way
            reason = lost.reason(self.fleet.members, stop_reason.line(e))
            self._record(step, "failed", start, reason)
            self._stopped(label, step, reason, e.recovery if isinstance(e, DeployError) else None)
            if isinstance(e, DeployError) and not isinstance(e, Failed):
                raise e.masked(self.c.mask) from None   # keeps its class and exit code
            raise CheckpointFailed(
                self.c.mask(f"{self.task} stopped at {step.name}: {reason}")) from None
        try:
            took = self._record(step, "ok", start, detail, targets)
            last_recovery.record(self, step)
            self.say(f"{label} {paint('ok')} ({took:.1f}s){' - ' + detail if detail else ''}")
        except KeyboardInterrupt:   # the step is done; the run stops before the next one
            self._stopped(label, step, "interrupted by Ctrl-C after this step finished", None)
            raise Interrupted(f"{self.task} interrupted after {step.name}") from None

    def checkpoint(self) -> None:
        """The run's state just changed: journal the recovery a stop now prints, for a run
        killed before it can print it (last_recovery.py)."""
        last_recovery.record(self, self._current)

    def _kept(self, step):
        """--resume: the failed run's result of this step, proved still there, or None."""
        p = self.resume
        if p is None or step.keep is None or step.name not in p.done or step.where != ONCE:
            return None
        with self._recording(step, [self.c]):
            return step.keep(self.c, self.view(self.c, shared=True), p)

    @contextmanager
    def _recording(self, step, hosts):
        """Each host's commands go to its own journal, under this step's name."""
        for c in hosts:
            j = self.journals[c.site.name]
            j.step, c.recorder = step.name, j.command
        try:
            yield
        finally:
            for c in hosts:
                c.recorder, self.journals[c.site.name].step = None, None

    def _on_host(self, step, c, shared):
        """The step on one host, in this thread."""
        with self._recording(step, [c]):
            return step.fn(c, self.view(c, shared=shared))

    def _on_hosts(self, step, targets):
        """The step on every target at once (Fabric's ThreadingGroup); each host's result shown.
        A failure anywhere stops the run here with every host's outcome in the message."""
        views = {c.site.name: self.view(c) for c in targets}
        with self._recording(step, targets):
            try:
                results = StepGroup.from_connections(targets).call(step.fn, views)
            except GroupException as e:
                results = e.result
        failed = {}
        for c in targets:
            value = results.get(c)
            if isinstance(value, BaseException):
                failed[c.site.name] = value
                self.say(f"  {paint('FAILED')}: {stop_reason.line(value)}", host=c.site.name)
            else:
                self.say(f"  {paint('ok')}{' - ' + value if value else ''}", host=c.site.name,
                         detail=True)
        if failed:
            names = ", ".join(failed)
            first_host, first = next(iter(failed.items()))
            ok = [c.site.name for c in targets if c.site.name not in failed]
            raise Failed(f"failed on {names} ({stop_reason.line(first)}); done on: {', '.join(ok) or 'none'}",
                         recovery=stop_reason.group_recovery(
                             step, first_host, getattr(first, "recovery", None),
                             changed=bool(ok) and step.changes_host))
        details = [results[c] or "" for c in targets]
        if len(set(details)) == 1:
            return f"{details[0]} (on {len(targets)} hosts)" if details[0] else f"on {len(targets)} hosts"
        return "; ".join(f"{c.site.name}: {d}" for c, d in zip(targets, details, strict=True))

    def _rolling(self, step, targets):
        """Batches of `self.batch` hosts, each batch done (healthy) before the next starts."""
        done, notes = [], []
        groups = batches(targets, self.batch)
        for k, group in enumerate(groups, 1):
            names = ", ".join(c.site.name for c in group)
            self.say(f"  batch {k}/{len(groups)}: {names}", detail=True)
            try:
                if len(group) == 1:
                    note = self._on_host(step, group[0], shared=False)
                    self.say(f"  {paint('ok')}{' - ' + note if note else ''}",
                             host=group[0].site.name, detail=True)
                else:
                    note = self._on_hosts(step, group)
            except Exception as e:  # noqa: BLE001 - a batch of one or of several: one report
                rest = [c.site.name for g in groups[k:] for c in g]
                raise Failed(f"batch {k} ({names}): {stop_reason.line(e)}; done before: "
                             f"{', '.join(done) or 'none'}; not reached: {', '.join(rest) or 'none'}",
                             recovery=getattr(e, "recovery", None)) from None
            done += [c.site.name for c in group]
            notes.append(note)
        return f"{len(targets)} hosts in {len(groups)} batch(es); last: {notes[-1]}"

    def _record(self, step, outcome, start, detail, targets=None):
        took = time.monotonic() - start
        self.results.append((step.name, outcome, took, detail))
        hosts = targets if targets is not None else self._targets(step)
        point = self._checkpoint()   # the run's, the same in every host's record
        for c in hosts:
            self.host_steps[c.site.name].append((step.name, outcome))
            self.journals[c.site.name].write({
                "kind": "step", "step": step.name, "outcome": outcome, "where": step.where,
                "duration": round(took, 3), "detail": self.c.mask(str(detail or "")),
                "checkpoint": point})
        return took

    def _stopped(self, label, step, reason, recovery):
        self.say(f"{label} {paint('FAILED')}: {self.c.mask(reason)}")
        self.say("")
        self.say(f"Stopped at checkpoint '{step.name}'. Host state:")
        for line in self.state_lines() or ["no change was made to the host by this run"]:
            self.say(f"  - {line}")
        rec = "\n".join([*lost.unlock_lines(self.fleet.members, self.run_id),
                         last_recovery.text(self, step, recovery)])
        self.say("Recover with:")
        for line in rec.splitlines():
            self.say(f"  {line}")
        self._end({"outcome": "failed", "failed_step": step.name, "reason": self.c.mask(reason),
                   "recovery": rec, "state": self.state_lines()})
        self.notify("failure", step=step.name, reason=self.c.mask(reason),
                    state="; ".join(self.state_lines()), recovery=rec)

    def summary(self) -> None:
        total = time.monotonic() - self.started
        self.say("")
        self.say(f"Summary of {self.task} on {self.fleet.describe()} (run {self.run_id}):")
        width = max((len(r[0]) for r in self.results), default=10)
        for name, outcome, took, detail in self.results:
            self.say(f"  {name:<{width}}  {outcome:<6} {took:6.1f}s  {detail or ''}")
        for line in self.data.summary_lines:
            self.say(f"  {line}")
        if self.fleet.multi:
            for name, data in self.host_data.items():
                for line in data.summary_lines:
                    self.say(f"  {name}: {line}")
            for name, done in self.host_steps.items():
                bad = [s for s, outcome in done if outcome not in ("ok", "kept")]
                role = " (primary)" if name == self.c.site.name else ""
                self.say(f"  host {name}{role}: {'FAILED at ' + bad[0] if bad else 'ok'}, "
                         f"{len(done)} step(s) ran here")
        self.say(f"  total {total:.1f}s; journal {self.journal.local_path}")


def fail(reason: str, recovery: Recovery = None) -> NoReturn:
    raise Failed(reason, recovery)
