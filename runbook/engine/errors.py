"""One tree of user-facing stops: each knows its exit code and renders its one line (Click-style).

`Stop` subclasses invoke's `Exit`, so `fab` prints `format_message()` (its `message`) to stderr
and exits with `code`, without a traceback (docs/BEHAVIOUR.md#invoke-exit-one-line). Failures
are `DeployError`s ("error: what is wrong; what to do"); a step's failed checkpoint is `Failed`,
which the runner turns into `CheckpointFailed` naming the step.
"""
import copy
import sys
from typing import Callable, Self, TextIO

from invoke.exceptions import Exit

# a recovery hint: text, or fn(run) -> text (the runner prints it when a step stops)
Recovery = Callable[..., str | None] | str | None


class Stop(Exit):
    """The task ends here: exit with `code`, printing `format_message()` when there is a line."""

    code: int = 0
    prefix = ""

    def __init__(self, text: str = "", recovery: Recovery = None, *, code: int | None = None):
        Exception.__init__(self, text)   # not Exit's: `message` and `code` are read from here
        self.text = text
        self.recovery = recovery
        if code is not None:
            self.code = code

    @property   # read-only: the line is always rendered from `text` (masked() changes only that)
    def message(self) -> str | None:  # type: ignore[override]
        """What invoke's Program prints to stderr before it exits with `code`."""
        return self.format_message()

    def format_message(self) -> str | None:
        return f"{self.prefix}{self.text}" if self.text else None

    def show(self, file: TextIO | None = None) -> None:
        """Print the line as `fab` does (stderr), for callers that stop outside invoke."""
        line = self.format_message()
        if line:
            print(line, file=file or sys.stderr, flush=True)

    def masked(self, mask: Callable[[str], str]) -> Self:
        """A copy (same class, code, recovery) whose text went through `mask`: secrets out."""
        twin = copy.copy(self)
        twin.text = mask(self.text)
        twin.args = (twin.text,)
        return twin

    def __copy__(self):   # not via __init__: subclasses may take other arguments
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.args = self.args
        return twin

    def __str__(self) -> str:
        return self.text


class DeployError(Stop):
    """A failure the user can act on: 'what is wrong; what to do'."""

    code = 1
    prefix = "error: "


class ConfigError(DeployError):
    """Bad inventory, bad option or missing secret: nothing was touched."""

    code = 2


class HostKeyError(DeployError):
    """The SSH host key is unknown or changed: no command was sent."""

    code = 3


class LockHeld(DeployError):
    """Another run holds the deploy lock on the host."""

    code = 4


class SudoDenied(DeployError):
    """`sudo -n` refused a command the task needs (no NOPASSWD rule for it on the host)."""

    code = 5


class ConnectionLost(DeployError):
    """The SSH connection stopped answering (host/alive.py); no new one is tried in this run."""

    code = 6


class ConnectionFailed(DeployError):
    """No SSH connection could be made (refused, unreachable, authentication refused)."""

    code = 6


class Failed(DeployError):
    """A step's checkpoint did not hold; `recovery` overrides the step's recovery hint. In a run
    it becomes `CheckpointFailed`; outside one it prints its own line."""

    @property
    def reason(self) -> str:
        return self.text


class CheckpointFailed(DeployError):
    """A run stopped at a failed step; the runner already printed state and recovery."""


class Interrupted(DeployError):
    """Ctrl-C during a run (exit code as a shell would give it)."""

    code = 130


class PlanShown(Stop):
    """--plan printed the plan: the task ends here, successfully, having changed nothing."""
