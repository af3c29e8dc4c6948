"""A composite run for the integration tests, started as a subprocess as `fab` would be.

    python lockholder.py INVENTORY hold      take the deploy lock, sleep 60 s on the host
    python lockholder.py INVENTORY noop      take the deploy lock, run `true`, release it
    python lockholder.py INVENTORY secret    echo the inventory's bypass secret in one step, then
                                             fail a step whose reason and recovery contain it

It builds the connection the way `runbook.host.connection.resolve` does for `-H sandbox` and runs the
real checkpoint runner (`steps.Run`: deploy lock, journal, summary) over real SSH. A DeployError
goes to stderr and becomes the exit code, as `fab` does with invoke's `Exit`.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root, for `runbook`

import fabric  # noqa: E402

from runbook.engine.errors import DeployError  # noqa: E402
from runbook.engine.runner import Run, Step, fail  # noqa: E402
from runbook.host import inventory  # noqa: E402
from runbook.host.connection import DeployConnection  # noqa: E402


def hold(c, run):
    print("HOLDING", flush=True)  # the test waits for this line: the lock is ours now
    c.run("sleep 60", hide=True)


def noop(c, run):
    c.run("true", hide=True)


def secret_steps(c):
    value = c.site.secret(c.site.maintenance.bypass_secret_env)

    def echo(c, run):
        return c.run(f"echo bypass={value}", hide=True).stdout.strip()

    def leak(c, run):
        fail(f"header X-Maintenance-Bypass: {value} was refused")

    return value, [Step("echo", echo), Step("leak", leak, recovery=f"retry with {value}")]


def main(path, mode):
    site = inventory.load(path).site("sandbox")
    c = DeployConnection(site, config=fabric.Config())
    try:
        if mode == "hold":
            Run(c, "test.hold", {"seconds": 60}).execute([Step("hold", hold)])
        elif mode == "noop":
            Run(c, "test.noop").execute([Step("noop", noop)])
        elif mode == "secret":
            value, steps = secret_steps(c)
            Run(c, "test.secret", {"token": value}).execute(steps)
        else:
            raise SystemExit(f"lockholder.py: unknown mode {mode!r}")
    finally:
        c.close()


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except DeployError as e:
        print(e.message, file=sys.stderr, flush=True)
        sys.exit(e.code)
