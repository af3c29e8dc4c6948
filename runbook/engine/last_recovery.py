"""The recovery a run would print if it stopped now, kept in its journal as it goes.

A run killed with no chance to print (kill -9 of fab, a closed laptop) leaves only its journal.
So the runner writes, when a step starts, when it ends ok, and whenever a step changes the run's
state (`Watched`: a step sets run.state["cluster"] just before pg_upgradecluster), a `recovery`
record: the host state lines and the recovery text a stop at that moment prints. Written only
when it changed, to the local journal alone (an append, no round trip): a run that ends says it
all in its end record, and a killed one never sends its journal to the host. `deploy.unlock` prints the dead
run's last one once the lock is gone, from the journal beside the inventory it ran with.
"""
from typing import Any

KIND = "recovery"


def text(run: Any, step: Any, recovery: Any = None) -> str:
    """The recovery printed for a stop in `step`: the failure's own, else the step's (a string or
    fn(view)), else the rerun of the run's task."""
    rec = recovery or step.recovery
    if callable(rec):
        rec = rec(run.overview())
    return rec or f"fix the cause above, then rerun: {run.cmd(run.task)}"


class Watched(dict):
    """A run's state: every change calls `changed()` (the runner's checkpoint)."""

    def __init__(self, initial: dict, changed: Any):
        super().__init__(initial)
        self._changed = changed

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key):
        super().__delitem__(key)
        self._changed()

    def pop(self, key, *default):
        had = key in self
        value = super().pop(key, *default)
        if had:
            self._changed()
        return value


def record(run: Any, step: Any) -> None:
    """Journal what a stop in `step` would print now, if it differs from the last one written.
    A recovery that cannot be worked out yet is not written (the run goes on regardless)."""
    if not run.journals or step is None:
        return
    try:
        entry = {"step": step.name, "state": run.state_lines(), "text": text(run, step)}
    except Exception:  # noqa: BLE001 - a hint for later must never stop the run
        return
    if entry == getattr(run, "_last_recovery", None):
        return
    run._last_recovery = entry
    for j in run.journals.values():
        j.write({"kind": KIND, **entry}, remote=False)


def last(other_records: list[dict], run_id: str) -> dict | None:
    """The last recovery record of run `run_id` among a run's other records (history.runs)."""
    found = [r for r in other_records if r.get("kind") == KIND and r.get("run") == run_id]
    return found[-1] if found else None

