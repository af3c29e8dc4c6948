"""Why a step stopped, as one line (a DeployError's text, a command's exit and last line, a
timeout), and the recovery hint when other hosts of the group did the step too."""
from invoke.exceptions import CommandTimedOut, UnexpectedExit

from runbook.engine.errors import DeployError


def group_recovery(step, host, host_fix, changed):
    """When other hosts did the step, the way back for the group comes first (the failed host's
    own hint speaks only for that host)."""
    if not changed:
        return host_fix

    def hint(run):
        base = step.recovery(run) if callable(step.recovery) else step.recovery
        lines = [base] if base else []
        if host_fix:
            lines.append(f"then on {host}: {host_fix}")
        return "\n".join(lines) or None
    return hint


def line(e):
    """One line for why a step failed on a host."""
    if isinstance(e, DeployError):
        return e.text
    if isinstance(e, (UnexpectedExit, CommandTimedOut)):
        return _command_failure(e)
    return f"{type(e).__name__}: {e}"


def _command_failure(e):
    """A command's exit status, the command and its last line of output (or the timeout)."""
    result = getattr(e, "result", None)
    # a timeout closes the channel, it kills nothing: docs/BEHAVIOUR.md#fabric-timeout-leaves-command
    if isinstance(e, CommandTimedOut):
        return f"command timed out after {e.timeout}s (it may still be running on the host)"
    tail = ""
    if result is not None:
        text = (result.stderr or result.stdout or "").strip().splitlines()
        tail = text[-1] if text else ""
    # a run's commands go with "\nexit $?" after them (host/connection.py: _kept_parent)
    cmd = str(getattr(result, "command", "")).removesuffix("\nexit $?")
    return (f"command exited {getattr(result, 'exited', '?')}: {cmd[:120]}"
            f"{' - ' + tail if tail else ''}")
