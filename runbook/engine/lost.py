"""A run whose SSH connection was lost (host/alive.py set `c.lost`): what it tags, says and prints.

Every command of a run carries `RB_RUN=<run id>` in its environment (invoke's `run.env`, which
Fabric exports ahead of the command, unquoted: docs/BEHAVIOUR.md#fabric-env-not-quoted, so only
a checked run id goes there), inherited by all it starts: after a lost connection,
`deploy.unlock` finds the run's commands still running on the host by it (lock.running).
A lost host gets no new connection in the run (a stalled network cannot be told from a slow
one), so its lock stays: the recovery printed starts with the `deploy.unlock` that removes it.
"""
import re
from typing import Any

from runbook.engine.fabcmd import fab
from runbook.engine.shell import q

ENV = "RB_RUN"


def tag(members: list[Any], run_id: str) -> None:
    """Every later command on these hosts carries RB_RUN=<run id>."""
    if not re.fullmatch(r"[0-9A-Za-z-]+", run_id):
        raise ValueError(f"run id {run_id!r} is not shell-safe")
    for m in members:
        m.config.run.env = {**(m.config.run.env or {}), ENV: run_id}


def lost(members: list[Any]) -> list[Any]:
    """The hosts whose connection was taken as lost."""
    return [m for m in members if getattr(m, "lost", None)]


def reason(members: list[Any], why: str) -> str:
    """The step's failure line, led by the lost connection when there is one."""
    gone = lost(members)
    if not gone or "was lost:" in why:   # the step's own error said it already
        return why
    return (f"the SSH connection to {gone[0].site.name} was lost: {gone[0].lost}; the command "
            f"in flight may still be running on the host ({why})")


def unlock_lines(members: list[Any], run_id: str) -> list[str]:
    """The commands that remove this run's lock from each lost host, once it is reachable."""
    return [fab(m, f"deploy.unlock --reason {q(f'run {run_id} lost its SSH connection')}")
            for m in lost(members)]
