"""The Connection our tasks get: strict host keys, masked secrets, every command recorded.

`hosttask` is Fabric's `@task` for tasks that act on an inventory host: it resolves `-H NAME`
(or the inventory's default) to a `DeployConnection` built with `config=c.config`
(docs/BEHAVIOUR.md#fabric-connection-needs-config) and adds the common options `--hosts-file` and
`--accept-new-host-key`. With `fleet=True` the task gets a `Fleet` instead: `-H NAME` may then
also name a group of hosts.
"""
import functools
import inspect
import socket
import time
from typing import Any, NoReturn

from fabric import Connection
from fabric import task as fabric_task
from fabric.runners import Remote
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Failure
from invoke.runners import Result
from invoke.terminals import character_buffered
from paramiko.ssh_exception import AuthenticationException, BadHostKeyException, SSHException

from runbook.engine.errors import ConfigError, ConnectionFailed, ConnectionLost
from runbook.engine.fabcmd import default_hosts_file
from runbook.engine.fleet import Fleet
from runbook.engine.output import Prefixed, quiet
from runbook.host import alive, hostkeys, inventory

MASK = "*****"


class ChunkedStdinRemote(Remote):
    """Fabric's remote runner, but an in-memory `in_stream` goes in 64 KiB chunks, and a command
    returns as soon as it ends.

    invoke reads a non-terminal stream one byte per 10 ms loop: a 1 KB script took 10 s. And its
    10 ms naps, in `wait` and in the stdin pump, added up to 20 ms to each command
    (docs/BEHAVIOUR.md#invoke-stdin-polling).
    """

    def read_our_stdin(self, input_):
        if hasattr(input_, "getvalue"):  # StringIO / BytesIO: data we send, never a terminal
            data = input_.read(65536)
            return data.decode(self.encoding) if isinstance(data, bytes) else data
        return super().read_our_stdin(input_)

    def wait(self):
        # invoke polls for the exit every 10 ms: a short command waited up to 10 ms more. Here
        # the nap starts at 1 ms and doubles up to invoke's 10 ms, so a long command costs no
        # more CPU. time.sleep, not an Event: Ctrl-C lands in this loop, and a KeyboardInterrupt
        # inside paramiko's status_event could leave its lock held, hanging the transport
        # (docs/BEHAVIOUR.md#paramiko-interrupted-write).
        nap = 0.001
        while not (self.process_is_finished or self.has_dead_threads):
            time.sleep(nap)
            nap = min(nap * 2, self.input_sleep)

    def handle_stdin(self, input_, output, echo):
        """invoke's stdin pump (invoke 2.2 `Runner.handle_stdin`), but its nap ends as soon as
        the program finishes: invoke's `time.sleep` held every command up to 10 ms more."""
        closed_stdin = False
        with character_buffered(input_):
            while True:
                data = self.read_our_stdin(input_)
                if data:
                    self.write_proc_stdin(data)
                    if echo is None:
                        echo = self.should_echo_stdin(input_, output)
                    if echo:
                        self.write_our_output(stream=output, string=data)
                elif data is not None and not self.using_pty and not closed_stdin:
                    self.close_proc_stdin()   # a non-terminal stream's EOF: the program's EOF
                    closed_stdin = True
                if self.program_finished.is_set() and not data:
                    break
                self.program_finished.wait(self.input_sleep)

    def send_interrupt(self, interrupt):
        # Without a pty Fabric re-raises Ctrl-C, but invoke then joins the output threads with no
        # timeout: the run hung until the remote command ended. Closing the channel ends them now
        # (docs/BEHAVIOUR.md#fabric-ctrl-c-without-pty).
        if not self.using_pty:
            self.channel.close()
        return super().send_interrupt(interrupt)


def no_delay(transport):
    """Turn Nagle's algorithm off on the SSH socket, as OpenSSH's client does.

    paramiko leaves it on: a command's small channel packets then wait for the server's delayed
    ACK, 40 ms on Linux, and every command cost about 47 ms on loopback instead of 3 ms
    (docs/BEHAVIOUR.md#paramiko-nagle).
    A gateway or ProxyCommand socket is left as it is.
    """
    sock = getattr(transport, "sock", None)
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def stdin_script(command: str, stdin: Any) -> str | None:
    """The script a command reads on stdin, to show with --echo and journal: only what its sender
    marked as showable (engine.shell.ScriptStdin: remote.run_script, app.shell), never the secret
    lines or data sent with it; None for any other stdin, whatever the command looks like."""
    return getattr(stdin, "shown", None)


class DeployConnection(Connection):
    """A fabric Connection bound to one inventory Site."""

    def __init__(self, site: inventory.Site, config: Config | None, accept_new: bool = False) -> None:
        s = site.settings
        connect_kwargs = {}
        if s.identity_file:
            connect_kwargs["key_filename"] = [str(site.inventory.path.parent / s.identity_file)]
        super().__init__(host=s.hostname, user=s.user, port=s.port, config=config,
                         connect_kwargs=connect_kwargs)
        self.config.runners.remote = ChunkedStdinRemote
        # _set: real attributes, not config keys (invoke's DataProxy)
        self._set(site=site, recorder=None,  # recorder: callable(record) set by the step runner
                  known_hosts_file=site.inventory.known_hosts,
                  out_prefix=None,  # "[web2] " while several hosts print at once
                  lost=None)  # why the connection was taken as lost (alive.py); no new one then
        hostkeys.secure(self.client, site.name, self.known_hosts_file,
                        accept_new or s.accept_new_host_key)

    def open(self):
        if self.lost:   # a stalled network cannot be told from a slow one: no second wait on it
            raise ConnectionLost(f"the SSH connection to {self.site.name} was lost: {self.lost}")
        try:
            result = super().open()
        except BadHostKeyException as e:
            raise hostkeys.changed_key_error(self.site.name, e, self.known_hosts_file,
                                            self.port) from None
        except AuthenticationException as e:
            raise ConnectionFailed(
                f"SSH to {self.site.name} ({self.user}@{self.host}:{self.port}) refused "
                f"authentication ({e}); check identity_file in {self.site.inventory.path} and that "
                f"its public key is in {self.user}'s ~/.ssh/authorized_keys on the host") from None
        except (SSHException, OSError) as e:   # refused, unreachable, timed out, no sshd
            raise ConnectionFailed(
                f"cannot connect over SSH to {self.site.name} ({self.host}:{self.port}): "
                f"{str(e) or type(e).__name__}; check its address and port in "
                f"{self.site.inventory.path}, and that sshd runs there") from None
        no_delay(self.transport)
        s = self.site.settings
        alive.watch(self.transport, s.ssh_alive_interval, s.ssh_alive_count_max, self._lose)
        return result

    def _lose(self, why: str) -> None:
        self._set(lost=why)

    def mask(self, text: str) -> str:
        """Replace every secret this site has handed out with *****."""
        for value in self.site.secrets.values():
            if value:
                text = text.replace(value, MASK)
        return text

    def _recorded(self, method, command, **kwargs):
        # `fab --echo` (config run.echo) is the verbose mode: echoed here, masked - never by
        # invoke, which would print the raw command (docs/BEHAVIOUR.md#invoke-echo-unmasked)
        echo = kwargs.pop("echo", None)
        echo = self.config.run.echo if echo is None else echo
        kwargs["echo"] = False
        stdin = kwargs.get("in_stream")
        # a bash script or `manage.py shell` code on stdin: shown with --echo, and journaled
        script = stdin_script(command, stdin)
        script = None if script is None else self.mask(script)
        if echo:
            print(f"    {self.out_prefix or ''}$ {self.mask(command)}", flush=True)
            for line in (script or "").splitlines():
                print(f"    {self.out_prefix or ''}| {line}", flush=True)
        start = time.monotonic()
        result = None
        try:
            result = method(command, **kwargs)
            return result
        finally:
            if self.recorder is not None:
                record = {"command": self.mask(command),   # a Promise (asynchronous) has no exit yet
                          "exit": getattr(result, "exited", None),
                          "duration": round(time.monotonic() - start, 3)}
                if script:
                    record["script"] = script
                self.recorder(record)

    def run(self, command: str, **kwargs: Any) -> Result:
        if self.recorder is not None and quiet(self):   # --quiet: inside a step, no live output
            kwargs["hide"] = True   # (invoke would still write to an explicit stream)
            kwargs.pop("out_stream", None)
            kwargs.pop("err_stream", None)
        if self.out_prefix and not kwargs.get("hide") and "out_stream" not in kwargs:
            kwargs["out_stream"] = Prefixed(self, self.out_prefix)
            kwargs["err_stream"] = Prefixed(self, self.out_prefix)
        return self._recorded(self._kept_parent(super().run), command, **kwargs)

    def _kept_parent(self, run):
        """In a run (its commands carry RB_RUN, engine/lost.py), a command's shell stays its
        parent: bash would exec the last command of `export RB_RUN=... && sudo ...` itself, and a
        process sudo started is one the SSH user can neither read the environment of nor tell
        apart; its parent shell, whose command line holds RB_RUN, names its session
        (ops/leftover.py; docs/BEHAVIOUR.md#bash-execs-last-command)."""
        if "RB_RUN" not in (self.config.run.env or {}):
            return run

        def kept(command, **kwargs):   # the result names the command as given (failure lines)
            try:
                result = run(command + "\nexit $?", **kwargs)
            except Failure as e:
                if getattr(e, "result", None) is not None:
                    e.result.command = command
                raise
            result.command = command   # (a Promise's join() still names it: stop_reason strips it)
            return result
        return kept

    def call_step(self, fn, views):
        """A runner step on this host (what `fleet.StepGroup` calls in each thread)."""
        return fn(self, views[self.site.name])

    # use remote.sudo: c.sudo inside c.cd()/c.prefix() runs the rest unprivileged
    # (docs/BEHAVIOUR.md#invoke-sudo-with-cd)
    def sudo(self, command: str, **kwargs: Any) -> NoReturn:  # pragma: no cover
        raise NotImplementedError("use runbook.host.remote.sudo(c, argv) instead of c.sudo")


def resolve(c: Context, hosts_file: str | None = None, accept_new_host_key: bool = False) -> DeployConnection:
    """Turn fab's context (`-H NAME` or none) into a DeployConnection for that inventory host."""
    inv = inventory.load(hosts_file or default_hosts_file(c.config))
    name = getattr(c, "original_host", None)
    site = inv.site(name) if name else inv.default_site()
    return DeployConnection(site, config=c.config, accept_new=accept_new_host_key)


def resolve_fleet(c: Context, hosts_file: str | None = None, accept_new_host_key: bool = False) -> Fleet:
    """Like `resolve`, but `-H NAME` may name a group: a Fleet of its hosts and its primary."""
    inv = inventory.load(hosts_file or default_hosts_file(c.config))
    name = getattr(c, "original_host", None) or inv.default
    group = inv.groups.get(name)
    if group is None:
        return Fleet.single(resolve(c, hosts_file, accept_new_host_key))
    members = [DeployConnection(inv.site(m), config=c.config, accept_new=accept_new_host_key)
               for m in group.members]
    for m in members:
        m.out_prefix = f"[{m.site.name}] "
    return Fleet(name, members, members[group.members.index(group.primary)])


PLAN_HELP = {"plan": "print the plan and change nothing: read-only checks (health, lock, disk, "
                     "PostgreSQL, maintenance, code), then the steps in order; fab --dry does "
                     "the same"}

COMMON_HELP = {
    "hosts_file": "inventory file (default: hosts.toml, or deploy.hosts_file in fabric.yaml)",
    "accept_new_host_key": "trust an unknown SSH host key once and record it (never a changed one)",
    "quiet": "print only each step's result, failures and the summary (no step details, no "
             "live command output); or FABRIC_DEPLOY_QUIET=1",
    "verbose": "also print every command as it runs, secrets masked (like fab --echo)",
}


def hosttask(*args: Any, fleet: bool = False, plan: bool = False, **kwargs: Any) -> Any:
    """`@hosttask(help={...})`: a Fabric task whose `c` is the inventory host's DeployConnection
    (with `fleet=True`: a Fleet of one host or of a group's hosts). `plan=True` (a composite
    that changes the host) adds `--plan`, and makes fab's `--dry` print the same truthful plan:
    the read-only checks really run, nothing else does, and nothing asks for confirmation
    (docs/BEHAVIOUR.md#invoke-dry-pretends-success)."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(c, *a, hosts_file=None, accept_new_host_key=False, quiet=False,
                    verbose=False, **kw):
            if "deploy" not in c.config:   # a root task in a tree built without the defaults
                raise ConfigError("this task tree has no `deploy` settings; build your fabfile's "
                                  "root with `ns = runbook.tasks.collection(...)`")
            if plan and (kw.pop("plan", False) or c.config.run.dry):
                c.config.deploy.plan, c.config.run.dry = True, False
                if "yes" in kw:
                    kw["yes"] = True   # a plan changes nothing: there is nothing to confirm
            if quiet and verbose:
                raise ConfigError("--quiet and --verbose contradict each other; give one")
            if quiet:
                c.config.deploy.quiet = True
            if verbose:   # the same as fab --echo: every command shown (masked) as it runs
                c.config.run.echo = True
            target = (resolve_fleet if fleet else resolve)(c, hosts_file, accept_new_host_key)
            try:
                return fn(target, *a, **kw)
            finally:
                target.close()

        sig = inspect.signature(fn)
        extra = [inspect.Parameter("plan", inspect.Parameter.KEYWORD_ONLY, default=False)] \
            if plan else []
        params = list(sig.parameters.values()) + extra + [
            inspect.Parameter("hosts_file", inspect.Parameter.KEYWORD_ONLY, default=None),
            inspect.Parameter("accept_new_host_key", inspect.Parameter.KEYWORD_ONLY, default=False),
            inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False),
            inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False),
        ]
        wrapper.__signature__ = sig.replace(parameters=params)
        # a task's own words for --plan win over the generic ones
        kwargs["help"] = {**(PLAN_HELP if plan else {}), **kwargs.get("help", {}), **COMMON_HELP}
        return fabric_task(**kwargs)(wrapper)

    if args and callable(args[0]):
        return decorate(args[0])
    return decorate


def positive(name: str, value: str | float) -> float:
    """Validate a numeric option: a one-line error before anything runs."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--{name.replace('_', '-')} {value!r} is not a number; "
                          "give a number above 0") from None
    if number <= 0:
        raise ConfigError(f"--{name.replace('_', '-')} {value} must be above 0; give a positive number")
    return number
