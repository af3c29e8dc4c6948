"""User-facing failures: each knows its exit code and prints one line (Click-style).

They subclass invoke's `Exit`, so `fab` prints the message to stderr and exits with the code,
without a traceback.
"""
from invoke.exceptions import Exit


class DeployError(Exit):
    """A failure the user can act on: 'what is wrong; what to do'."""

    code = 1

    def __init__(self, message, code=None):
        super().__init__(message=f"error: {message}", code=self.code if code is None else code)
        self.text = message


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


class CheckpointFailed(DeployError):
    """A step's checkpoint failed; the runner already printed state and recovery."""

    code = 1


class Interrupted(DeployError):
    """Ctrl-C during a run (exit code as a shell would give it)."""

    code = 130


class PlanShown(Exit):
    """--plan printed the plan: the task ends here, successfully, having changed nothing."""

    def __init__(self):
        super().__init__(code=0)
