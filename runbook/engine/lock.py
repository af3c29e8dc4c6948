"""The deploy lock: one file on the host, created atomically (O_EXCL via `set -C`:
docs/BEHAVIOUR.md#bash-noclobber-create).

It records who holds it (local user, machine, pid), since when, the task and its arguments. A
second run is refused with the holder shown; a lock whose process is gone is reported as stale
and is removed only by `deploy.unlock --reason`, which is journaled.
"""
import io
import json
import os
import socket
from datetime import datetime, timezone

from paramiko.ssh_exception import SSHException

from runbook.engine.errors import ConfigError, LockHeld
from runbook.engine.fabcmd import fab
from runbook.engine.journal import who
from runbook.engine.shell import q

NAME = "deploy.lock"


def path(c):
    return f"{c.site.backup.dir}/{NAME}"


def acquire(c, journal, task, args):
    """Take the lock for this run in one round trip, or raise LockHeld naming the holder."""
    info = {"run": journal.run_id, "task": task, "args": args,
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **who()}
    p, d = path(c), q(c.site.backup.dir)
    r = c.run(
        f"mkdir -p {d} 2>/dev/null; "
        f"if [ ! -d {d} ] || [ ! -w {d} ] || [ ! -O {d} ]; then echo UNUSABLE; ls -ld {d} 2>&1; "
        f"cat >/dev/null; exit 0; fi; chmod 0700 {d} && "
        f"if (set -C; umask 077; cat > {q(p)}) 2>/dev/null; then echo ACQUIRED; "
        f"else echo HELD; cat {q(p)}; cat >/dev/null; fi",
        in_stream=io.StringIO(c.mask(json.dumps(info)) + "\n"), hide=True)
    first, _, rest = r.stdout.partition("\n")
    if first.strip() == "ACQUIRED":
        return info
    if first.strip() == "UNUSABLE":
        raise ConfigError(f"the backup dir {c.site.backup.dir} on {c.site.name} is not a directory "
                          f"owned and writable by {c.user} ({rest.strip() or 'cannot create it'}); "
                          f"create it owned by {c.user} with mode 0700, or change backup.dir")
    raise LockHeld(describe_holder(c, parse(rest)) + "; " + unlock_hint(c), code=4)


def release(c, run_id):
    """Remove the lock if this run holds it (never another run's).

    Over a fresh connection when the run's own is no longer usable: a Ctrl-C that lands while
    paramiko writes a packet leaves a half packet on the wire, and sshd then drops the session
    (docs/BEHAVIOUR.md#paramiko-interrupted-write).
    """
    command = f"grep -qF {q(run_id)} {q(path(c))} 2>/dev/null && rm -f {q(path(c))}; true"
    try:
        c.run(command, hide=True, timeout=30)
    except (SSHException, EOFError, OSError):
        c.close()
        c.run(command, hide=True, timeout=30)


def holder(c):
    """The current lock record (dict), or None when the host is unlocked."""
    r = c.run(f"cat {q(path(c))} 2>/dev/null", warn=True, hide=True)
    return parse(r.stdout) if r.ok else None


def parse(text):
    try:
        return json.loads(text.strip().splitlines()[0])
    except (ValueError, IndexError):
        return {"unreadable": text.strip()[:200]}


def is_stale(info):
    """True when the holder ran on this machine and its process is gone."""
    if info.get("machine") != socket.gethostname() or not info.get("pid"):
        return False
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def describe_holder(c, info):
    if "unreadable" in info:
        return f"the deploy lock on {c.site.name} is held but unreadable ({path(c)})"
    args = " ".join(f"{k}={v}" for k, v in (info.get("args") or {}).items())
    text = (f"the deploy lock on {c.site.name} is held by {info.get('user')}@{info.get('machine')} "
            f"(pid {info.get('pid')}, {info.get('task')}{' ' + args if args else ''}, "
            f"run {info.get('run')}) since {info.get('since')}")
    if is_stale(info):
        text += " - STALE: that process is gone"
    return text


def unlock_hint(c):
    return ("wait for that run to finish, or if it is dead run: "
            + fab(c, 'deploy.unlock --reason "..."'))
