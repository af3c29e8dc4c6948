"""maintenance.*: the tasks (the work is in the layers below)."""
from invoke import Collection

from runbook.host.connection import hosttask
from runbook.ops.maintenance import _on, _status, install, on_each, turn_off
from runbook.tasks.defaults import DEFAULTS


@hosttask(name="install")
def install_task(c):
    """Write the maintenance page and nginx snippet (nginx -t first; old snippet restored on failure)."""
    print(f"{c.site.name}: {install(c)}")


@hosttask(fleet=True)
def on(c):
    """Turn maintenance ON: 503 and the page for the public, the operator bypass gets through.

    Turn maintenance ON (flag file; public gets 503 + page, the operator bypass gets through);
    on a group, on every web host at once."""
    on_each(c, _on, "maintenance.on")


@hosttask(fleet=True)
def off(c):
    """Turn maintenance OFF (removes the flag file); on a group, on every web host at once."""
    on_each(c, turn_off, "maintenance.off")


@hosttask(fleet=True)
def status(c):
    """Prove the maintenance state over HTTP (the public and the operator bypass).

    Prove the maintenance state with HTTP: 503 + page for the public, 200 through the bypass
    (on a group: every web host)."""
    on_each(c, _status, "maintenance.status")


ns = Collection("maintenance")
ns.add_task(install_task, name="install")
ns.add_task(on)
ns.add_task(off)
ns.add_task(status)
ns.configure(DEFAULTS)
