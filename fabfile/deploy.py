"""deploy.*: the composite deploys and the deploy lock's manual release."""
from invoke import Collection

from . import lock
from .connection import hosttask
from .errors import ConfigError
from .journal import Journal
from .remote import q


@hosttask(help={"reason": "why the lock may go (recorded in the journal); required"})
def unlock(c, reason=""):
    """Remove a deploy lock left by a dead run (journaled with the reason and the old holder)."""
    if not reason.strip():
        raise ConfigError("deploy.unlock needs --reason \"...\" saying why the lock may go; "
                          "it is recorded in the journal")
    info = lock.holder(c)
    if info is None:
        print(f"{c.site.name}: no deploy lock held; nothing to do")
        return
    print(lock.describe_holder(c, info))
    journal = Journal(c, "deploy.unlock", {"reason": reason})
    journal.write({"kind": "unlock", "reason": reason, "holder": info})
    c.run(f"rm -f -- {q(lock.path(c))}", hide=True)
    journal.write({"kind": "run", "event": "end", "outcome": "ok"})
    journal.flush_remote()
    print(f"{c.site.name}: deploy lock removed (reason: {reason})")


ns = Collection("deploy")
ns.add_task(unlock)
