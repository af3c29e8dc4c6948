"""A lost run's commands still running on the host (their environment holds RB_RUN=<run id>,
runbook/engine/lost.py, and what they started in their session: sudo's commands too): listed, or
ended, by `deploy.unlock` before it removes the run's lock (scripts/run_processes.sh)."""
from runbook.engine.scripts import script
from runbook.host.remote import run_script


def running(c, run_id: str) -> list[str]:
    """One "pid seconds user command" line per process of run `run_id` still running on c's host."""
    r = run_script(c, script("runbook.ops", "run_processes.sh"), run_id)
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]


def stop(c, run_id: str) -> list[str]:
    """TERM (then KILL after 10 s) to each; one "pid ended|killed|left (USER)" line per process
    (left: still running, or one the tool cannot end: root's)."""
    r = run_script(c, script("runbook.ops", "run_processes.sh"), run_id, "stop",
                   c.site.database.os_user)
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]
