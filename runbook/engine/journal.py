"""The run journal: JSON lines (run id, step, host, command masked, exit code, duration,
outcome), kept locally beside the inventory and on the host beside its backups."""
import getpass
import io
import json
import os
import secrets
import socket
from datetime import datetime, timezone

from runbook.engine.shell import q

REMOTE_NAME = "journal.jsonl"


def new_run_id(now=None):
    """One timestamp for the whole run (the runbook computed it twice): also the backup name."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def who():
    return {"user": getpass.getuser(), "machine": socket.gethostname(), "pid": os.getpid()}


class Journal:
    """Collects records for one run on one host; flushed locally as it goes, remotely at the end."""

    def __init__(self, c, task, args, run_id=None):
        self.c = c
        self.run_id = run_id or new_run_id()
        self.task = task
        self.step = None
        self.pending = []  # records not yet appended on the host
        self.local_path = (c.site.inventory.path.parent / ".deploy-journal" / f"{c.site.name}.jsonl")
        self.write({"kind": "run", "event": "start", "task": task, "args": args, **who()})

    def write(self, record, remote=True):
        """Append the record to the local journal; `remote`: and to the host's, at the flush."""
        rec = {"ts": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "run": self.run_id, "host": self.c.site.name, **record}
        if self.step and "step" not in rec:
            rec["step"] = self.step
        line = json.dumps(rec, sort_keys=True)
        line = self.c.mask(line)
        self.local_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.local_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(line + "\n")
        if remote:
            self.pending.append(line)

    def command(self, record):
        self.write({"kind": "command", **record})

    def flush_remote(self):
        """Append the pending lines to the host's journal (one round trip); never raises."""
        if not self.pending:
            return True
        path = f"{self.c.site.backup.dir}/{REMOTE_NAME}"
        body = "\n".join(self.pending) + "\n"
        recorder, self.c.recorder = self.c.recorder, None
        try:
            self.c.run(f"umask 077 && mkdir -p {q(self.c.site.backup.dir)} && cat >> {q(path)}",
                       in_stream=io.StringIO(body), hide=True, timeout=30)
            self.pending = []
            return True
        except Exception as e:  # noqa: BLE001 - the host may be gone: the local journal still has it
            print(f"note: could not write the host's journal ({type(e).__name__}); "
                  f"the local one is {self.local_path}")
            return False
        finally:
            self.c.recorder = recorder


def read_local(path):
    """The records of a local journal; a line that is not JSON (torn by a killed run, or mangled
    by an old masking bug) is skipped, as the host's journal's are by history.records."""
    out = []
    with open(path) as f:
        for line in filter(str.strip, f):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out
