"""The one fake host: what the code uses of a DeployConnection, without SSH."""
import subprocess

from invoke import Result
from invoke.exceptions import UnexpectedExit

from runbook.engine import journal
from runbook.host.connection import MASK


class FakeHost:
    """A stand-in DeployConnection on a real inventory Site (or none).

    `run` records each command with its stdin and keyword arguments, then answers: `fail` maps
    a text to (exit code, stderr), or to an exception to raise, for every command containing it;
    with `execute=True` the rest really run with bash on this machine (in `cwd`), so quoting is
    proven by what a shell does with hostile paths; otherwise they succeed, printing nothing.
    Like the real one: secrets masked, each command handed to `recorder` (set by the runner),
    exit codes raised unless `warn`, and `sudo` refused (steps use runbook.host.remote.sudo).
    A test's own host state is a subclass overriding `answer` (recording stays here).
    """
    out_prefix = None

    def __init__(self, site=None, *, fail=None, execute=False, cwd=None):
        self.site, self.fail, self.execute, self.cwd = site, fail or {}, execute, cwd
        self.commands, self.stdins, self.kwargs = [], [], []
        self.recorder = None

    def run(self, command, **kwargs):
        stream = kwargs.get("in_stream")
        stdin = stream.getvalue() if stream is not None else None
        self.commands.append(command)
        self.stdins.append(stdin)
        self.kwargs.append(kwargs)
        result = self.answer(command, stdin)
        if self.recorder is not None:
            self.recorder({"command": self.mask(command), "exit": result.exited, "duration": 0.001})
        if result.exited and not kwargs.get("warn"):
            raise UnexpectedExit(result)
        return result

    def answer(self, command, stdin):
        for text, outcome in self.fail.items():
            if text in command:
                if isinstance(outcome, BaseException):
                    raise outcome
                code, stderr = outcome
                return Result(stdout="", stderr=stderr, exited=code, command=command)
        if not self.execute:
            return Result(stdout="", exited=0, command=command)
        p = subprocess.run(["bash", "-c", command], input=stdin or "", capture_output=True,
                           text=True, cwd=self.cwd, timeout=30)
        return Result(stdout=p.stdout, stderr=p.stderr, exited=p.returncode, command=command)

    def sudo(self, command, **kwargs):
        raise NotImplementedError("use runbook.host.remote.sudo(c, argv) instead of c.sudo")

    def mask(self, text):
        for value in (self.site.secrets.values() if self.site is not None else ()):
            if value:
                text = text.replace(value, MASK)
        return text

    @property
    def last(self):
        return self.commands[-1]

    def remote_appends(self):
        """The stdin of each append to the host's journal (what the runner sends it)."""
        return [stdin for cmd, stdin in zip(self.commands, self.stdins, strict=True)
                if "cat >> " in cmd and "journal.jsonl" in cmd]


def local_records(site):
    """The records of the site's local journal (next to its hosts.toml)."""
    return journal.read_local(site.inventory.path.parent / ".deploy-journal" / "web.jsonl")
