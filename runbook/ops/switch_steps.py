"""The switch's steps in a composite: boot before maintenance, switch in the window, settle
after it (ops/switch.py). A composite has them when one of its hosts has [switch] (`when`); on a
host of it without one they say so and do nothing: the restart step restarts the app in place."""
from runbook.engine.fabcmd import fab
from runbook.engine.runner import LOCAL, commands
from runbook.ops import switch


def when(hosts, step):
    """[step] when one of `hosts` has [switch], else [] (no step that could only do nothing)."""
    return [step] if any(switch.enabled(c) for c in hosts) else []


def _commit(run):
    target = run.data.target   # the commit the run deployed (None: whatever the tree holds)
    return target[1] if target else None


@commands(lambda c, run: switch.plan_lines(c, "boot") if switch.enabled(c) else [LOCAL])
def step_boot(c, run):
    """The new code booted in the app's idle copy beside it, before maintenance goes on: the
    boot is not in the window ([switch]; without one the app restarts in the window)."""
    if not switch.enabled(c):
        return "nothing to do: no [switch] on this host (the app restarts in the window)"
    slot = switch.idle(c)
    _pid, line = switch.boot(c, slot, ready=False)
    run.data.booted = slot.name
    return line


def switch_in_window(c, run):
    """The restart step's work on a host with [switch]: to the copy booted before the window
    (or, when none was, boot one now); the settle step restarts the app after the window.
    Without a settle step to follow (deploy.restart, rollback.code), the whole restart."""
    commit = _commit(run)
    app, twin = switch.slots(c)
    if not run.data.booted:
        return switch.restart(c, commit)
    slot = twin if run.data.booted == twin.name else app
    line = switch.to(c, slot, commit)
    if slot == twin:
        run.state["switch"] = (f"the twin {twin.name} serves the app (nginx: {twin.address}); "
                               f"{app.name} restarts after the window")
    return line


@commands(lambda c, run: switch.plan_lines(c, "settle") if switch.enabled(c) else [LOCAL])
def step_settle(c, run):
    """Back at rest after the window: the app restarted while its twin serves, nginx switched
    back, the twin stopped ([switch])."""
    if not switch.enabled(c):
        return "nothing to do: no [switch] on this host"
    line = switch.settle(c, _commit(run))
    run.state.pop("switch", None)
    return line


def settle_recovery(run):
    """After a failed settle the deploy itself is done (the twin serves the new code): the app's
    return to rest is left, then the smoke contract the run did not reach (it may write: the
    matrix saw a clean release's data differ from a recovered one's by it). A restore would throw
    away what users wrote since."""
    smoke = [fab(m, "verify.smoke") for m in run.fleet.members]   # a host task: one per host
    return "\n".join([run.cmd("deploy.restart"), *smoke, "  (the deploy is done and the twin "
                      "serves it; this restarts the app, stops the twin and runs the smoke checks "
                      "the run did not reach - do not restore the backup for this)"])
