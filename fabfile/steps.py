"""The checkpoint runner: named steps, stop at the first failure, journal, lock, summary.

A composite task builds a list of `Step`s and hands it to `Run.execute`. Each step is a function
`fn(c, run)` that does its work and proves it (its checkpoint); it raises `Failed` (or any
command failure) to stop the run. On a stop the runner prints which step failed and why, the
host's state as the steps recorded it (`run.state`), the exact command that recovers, writes the
journal, releases the lock, and exits non-zero.
"""
import time
from dataclasses import dataclass, field
from typing import Callable

from invoke.exceptions import CommandTimedOut, UnexpectedExit

from . import lock
from .errors import CheckpointFailed, DeployError, Interrupted
from .journal import Journal


class Failed(Exception):
    """A checkpoint did not hold. `recovery` overrides the step's recovery hint."""

    def __init__(self, reason, recovery=None):
        super().__init__(reason)
        self.reason = reason
        self.recovery = recovery


@dataclass
class Step:
    name: str
    fn: Callable
    recovery: Callable | str | None = None  # str, or fn(run) -> str, shown when this step fails
    changes_host: bool = True


@dataclass
class Run:
    """One composite run on one host."""

    c: object
    task: str
    args: dict = field(default_factory=dict)
    take_lock: bool = True
    state: dict = field(default_factory=dict)   # what a failure message must say about the host
    results: list = field(default_factory=list)
    data: dict = field(default_factory=dict)    # values steps pass to later steps

    def __post_init__(self):
        self.journal = Journal(self.c, self.task, self.args)
        self.run_id = self.journal.run_id
        self.started = time.monotonic()

    # --- output --------------------------------------------------------------------------
    def say(self, text=""):
        print(self.c.mask(text), flush=True)  # secrets never reach a terminal or CI log

    def cmd(self, name):
        """The `fab` command line for a task on this host."""
        return f"fab -H {self.c.site.name} {name}"

    # --- execution -----------------------------------------------------------------------
    def execute(self, steps):
        self.say(f"{self.task} on {self.c.site.name} (run {self.run_id})")
        held = False
        try:
            if self.take_lock:
                lock.acquire(self.c, self.journal, self.task, self.args)
                held = True
            for i, step in enumerate(steps, 1):
                self._step(i, len(steps), step)
            self.journal.write({"kind": "run", "event": "end", "outcome": "ok",
                                "duration": round(time.monotonic() - self.started, 2)})
            self.summary()
            return self
        finally:
            if held:
                try:
                    lock.release(self.c, self.run_id)
                except Exception as e:  # noqa: BLE001 - report, the lock stays
                    self.say(f"warning: could not release the deploy lock ({e}); "
                             f"{self.cmd('deploy.unlock --reason ...')}")
            self.journal.flush_remote()

    def _step(self, i, n, step):
        label = f"[{i}/{n}] {step.name}"
        self.say(f"{label} ...")
        self.journal.step = step.name
        self.c.recorder = self.journal.command
        start = time.monotonic()
        try:
            detail = step.fn(self.c, self)
        except KeyboardInterrupt:
            self._record(step, "interrupted", start, "Ctrl-C")
            self._stopped(label, step, "interrupted by Ctrl-C (a remote command may still be "
                          "running; check it before retrying)", None)
            raise Interrupted(f"{self.task} interrupted at {step.name}") from None
        except Failed as e:
            self._record(step, "failed", start, e.reason)
            self._stopped(label, step, e.reason, e.recovery)
            raise CheckpointFailed(
                self.c.mask(f"{self.task} stopped at {step.name}: {e.reason}")) from None
        except (UnexpectedExit, CommandTimedOut) as e:
            reason = _command_failure(e)
            self._record(step, "failed", start, reason)
            self._stopped(label, step, reason, None)
            raise CheckpointFailed(
                self.c.mask(f"{self.task} stopped at {step.name}: {reason}")) from None
        except DeployError as e:
            self._record(step, "failed", start, e.text)
            self._stopped(label, step, e.text, None)
            raise type(e)(self.c.mask(e.text), code=e.code) from None
        except Exception as e:  # noqa: BLE001 - anything else still stops cleanly
            reason = f"{type(e).__name__}: {e}"
            self._record(step, "failed", start, reason)
            self._stopped(label, step, reason, None)
            raise CheckpointFailed(
                self.c.mask(f"{self.task} stopped at {step.name}: {reason}")) from None
        finally:
            self.c.recorder = None
            self.journal.step = None
        took = self._record(step, "ok", start, detail)
        self.say(f"{label} ok ({took:.1f}s){' - ' + detail if detail else ''}")

    def _record(self, step, outcome, start, detail):
        took = time.monotonic() - start
        self.results.append((step.name, outcome, took, detail))
        self.journal.write({"kind": "step", "step": step.name, "outcome": outcome,
                            "duration": round(took, 3), "detail": self.c.mask(str(detail or ""))})
        return took

    def _stopped(self, label, step, reason, recovery):
        self.say(f"{label} FAILED: {self.c.mask(reason)}")
        self.say("")
        self.say(f"Stopped at checkpoint '{step.name}'. Host state:")
        for line in self.state.values() or ["no change was made to the host by this run"]:
            self.say(f"  - {line}")
        rec = recovery or step.recovery
        if callable(rec):
            rec = rec(self)
        rec = rec or f"fix the cause above, then rerun: {self.cmd(self.task)}"
        self.say("Recover with:")
        for line in rec.splitlines():
            self.say(f"  {line}")
        self.journal.write({"kind": "run", "event": "end", "outcome": "failed",
                            "failed_step": step.name, "reason": self.c.mask(reason),
                            "recovery": rec, "state": list(self.state.values()),
                            "duration": round(time.monotonic() - self.started, 2)})

    def summary(self):
        total = time.monotonic() - self.started
        self.say("")
        self.say(f"Summary of {self.task} on {self.c.site.name} (run {self.run_id}):")
        width = max((len(r[0]) for r in self.results), default=10)
        for name, outcome, took, detail in self.results:
            self.say(f"  {name:<{width}}  {outcome:<6} {took:6.1f}s  {detail or ''}")
        for line in self.data.get("summary_lines", []):
            self.say(f"  {line}")
        self.say(f"  total {total:.1f}s; journal {self.journal.local_path}")


def _command_failure(e):
    result = getattr(e, "result", None)
    if isinstance(e, CommandTimedOut):
        return f"command timed out after {e.timeout}s (it may still be running on the host)"
    tail = ""
    if result is not None:
        text = (result.stderr or result.stdout or "").strip().splitlines()
        tail = text[-1] if text else ""
    cmd = getattr(result, "command", "")
    return (f"command exited {getattr(result, 'exited', '?')}: {cmd[:120]}"
            f"{' - ' + tail if tail else ''}")


def fail(reason, recovery=None):
    raise Failed(reason, recovery)
