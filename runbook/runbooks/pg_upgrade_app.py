"""pg_upgrade.run's app side: the web app keeps running through the upgrade, only its workers stop.

Under maintenance no public request reaches the app, and stopping the old cluster (a fast
shutdown) ends its database sessions; the workers write on their own, so they are stopped before
the fingerprints and started after the window. Once the new cluster is proven, the app gets fresh
connections by a graceful reload (gunicorn HUP re-forks its workers, which connect after the fork,
preload_app or not: docs/BEHAVIOUR.md#gunicorn-hup): done when every worker process from before
the reload has exited and health answers 200, before the smoke contract.
"""
from runbook.engine.runner import Failed, commands
from runbook.engine.scripts import script
from runbook.engine.shell import sh
from runbook.host import services
from runbook.host.remote import run_script
from runbook.ops import switch
from runbook.ops.restart import wait_serving


def program(c):
    """The program nginx sends requests to: the app, or its twin with [switch] if it serves."""
    return switch.serving(c).name if switch.enabled(c) else c.site.service.app


def workers_state(c):
    return (f"the workers ({', '.join(c.site.service.workers)}) are STOPPED; the app runs "
            "(maintenance keeps requests from it)")


def start_workers_shown(c):
    return "; ".join(f"sudo -n {sh(*services.argv(c, 'start', n))}" for n in c.site.service.workers)


@commands(lambda c, run: [f"sudo -n {sh(*services.argv(c, 'stop', n))}"
                          for n in c.site.service.workers] or ["nothing: no service.workers"])
def step_stop_workers(c, run):
    """The workers stopped (they write on their own); the app keeps running: under maintenance
    no request reaches it, and the old cluster's shutdown ends its sessions."""
    names = c.site.service.workers
    if not names:
        return f"no workers; {c.site.service.app} keeps running"
    run.state["workers"] = workers_state(c)
    for name in names:
        r = services.control(c, "stop", name, warn=True)
        state = services.state(c, name)
        if not r.ok and state in services.RUNNING:
            said = ((r.stderr or r.stdout).strip().splitlines() or [state])[-1]
            raise Failed(f"worker {name} did not stop: {said}")
    return f"stopped {', '.join(names)}; {c.site.service.app} keeps running"


@commands(lambda c, run: [
    f"sudo -n {sh(*services.argv(c, 'pid', program(c)))}; pgrep -P <its pid>  (its workers)",
    f"sudo -n {sh(*services.argv(c, 'reload', program(c)))}",
    f"wait until those workers have exited; GET {c.site.health.url} until 200"])
def step_reload_app(c, run):
    """The app reloaded gracefully: every worker process from before the reload (holding a
    connection to the old cluster) has exited, and health answers 200."""
    name, timeout = program(c), int(c.site.health.timeout)
    master = services.pid(c, name)
    if not master:
        raise Failed(f"{name} does not run (service {services.state(c, name)}); it was not "
                     "stopped by this run: check its log")
    old = c.run(f"pgrep -P {int(master)} || true", hide=True).stdout.split()
    r = services.control(c, "reload", name, warn=True)
    if not r.ok:
        said = ((r.stderr or r.stdout).strip().splitlines() or [f"exit {r.exited}"])[-1]
        raise Failed(f"reloading {name} failed: {said}")
    gone = not old or run_script(c, script("runbook.runbooks", "wait_gone.sh"), ",".join(old),
                                 timeout, hide=True, warn=True).ok
    if not gone:
        raise Failed(f"{name}'s workers from before the reload (pids {' '.join(old)}) still run "
                     f"after {timeout}s: they may hold connections to the old cluster")
    ok, status, _named, took = wait_serving(c)
    if not ok:
        raise Failed(f"{name} did not answer 200 on {c.site.health.url} within {timeout}s after "
                     f"the reload (last status {status or 'none'})")
    now = services.pid(c, name)
    return (f"{name} reloaded (master pid {master}{'' if now == master else ' -> ' + str(now)}; "
            f"{len(old)} old workers gone), health 200 in {took:.1f}s")


@commands(lambda c, run: [start_workers_shown(c) or "nothing: no service.workers"])
def step_start_workers(c, run):
    """The workers started again, after the window (they do not serve the public)."""
    names = c.site.service.workers
    for name in names:
        services.control(c, "start", name, warn=True)
    down = [f"{n} {s}" for n in names if (s := services.state(c, n)) not in services.RUNNING]
    if down:
        raise Failed(f"worker(s) did not start: {', '.join(down)}")
    run.state.pop("workers", None)
    return f"started {', '.join(names)}" if names else "no workers"
