"""The SSH socket option the tool sets after connecting (runbook/host/connection.py `no_delay`)."""
import base64
import io
import socket

import pytest

from runbook.django import app
from runbook.engine.shell import ScriptStdin
from runbook.host.connection import no_delay, stdin_script
from runbook.host.remote import run_script
from tests.support.host import FakeHost
from tests.support.sites import make_site


class Transport:
    def __init__(self, sock):
        self.sock = sock


def nodelay(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_tcp_socket_gets_nodelay():
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as client:
        assert nodelay(client) == 0   # the kernel's default, what paramiko leaves
        no_delay(Transport(client))
        assert nodelay(client) == 1


@pytest.mark.parametrize("sock", [None, object(), "proxy-command"], ids=["none", "object", "str"])
def test_a_gateway_or_proxy_socket_is_left_alone(sock):
    no_delay(Transport(sock))   # no error, nothing to set


def test_unix_socket_is_left_alone():
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        no_delay(Transport(a))


@pytest.mark.parametrize("stdin, shown", [
    (ScriptStdin("c2VjcmV0\necho hi\nDATA\n", shown="echo hi\n"), "echo hi\n"),
    (io.StringIO("echo hi\n"), None),             # a plain stdin: never shown, whatever it is
    (None, None),
])
def test_only_the_part_marked_as_the_script_is_shown(stdin, shown):
    assert stdin_script("bash -s", stdin) == shown


def test_run_script_shows_the_script_never_its_secrets_or_data(tmp_path):
    """What --echo and the journal get (stdin_script) is the script alone: the secret sent ahead
    of it (base64) and the data after it (e.g. a pg config file's text) stay out."""
    c = FakeHost(make_site(tmp_path))
    run_script(c, "echo script\n", "arg", env={"RB_X": "1"}, secrets={"PGPASSWORD": "s3cret"},
               data="password=conf-secret\n")
    sent = c.kwargs[-1]["in_stream"]
    assert stdin_script(c.last, sent) == "echo script\n"
    assert base64.b64encode(b"s3cret").decode() in sent.getvalue()
    assert "conf-secret" in sent.getvalue()


def test_a_django_shell_shows_its_code(tmp_path):
    c = FakeHost(make_site(tmp_path))
    app.shell(c, "print(1)\n")
    assert stdin_script(c.last, c.kwargs[-1]["in_stream"]) == "print(1)\n"


# --- in a run, a command's shell stays its parent (ops/leftover.py finds sudo's by it) -------
def test_a_runs_commands_keep_their_shell_and_their_results_name_the_command_given(tmp_path):
    from invoke import Config, Result
    from invoke.exceptions import UnexpectedExit

    from runbook.engine.stop_reason import line
    from runbook.host.connection import DeployConnection

    sent = []

    def run(command, **kwargs):
        sent.append(command)
        result = Result(command=command, exited=1 if "false" in command else 0, stderr="no")
        if result.exited:
            raise UnexpectedExit(result)
        return result

    conn = DeployConnection(make_site(tmp_path), Config())
    assert conn._kept_parent(run) is run   # outside a run: sent as given
    conn.config.run.env = {"RB_RUN": "20261203-000000-abcd"}
    assert conn._kept_parent(run)("sudo -n pg_lsclusters").command == "sudo -n pg_lsclusters"
    with pytest.raises(UnexpectedExit) as e:
        conn._kept_parent(run)("sudo -n false")
    assert sent == ["sudo -n pg_lsclusters\nexit $?", "sudo -n false\nexit $?"]
    assert line(e.value) == "command exited 1: sudo -n false - no"


@pytest.mark.parametrize("raised, says", [
    ("auth", "refused authentication (Authentication failed.); check identity_file in "),
    ("refused", "cannot connect over SSH to web (203.0.113.10:22): [Errno None] Unable to connect "
                "to port 22 on 203.0.113.10; check its address and port in "),
    ("timeout", "cannot connect over SSH to web (203.0.113.10:22): TimeoutError; check its "),
])
def test_a_connection_that_cannot_be_made_is_one_line_with_the_fix(tmp_path, monkeypatch, raised, says):
    import fabric
    from invoke import Config
    from paramiko.ssh_exception import AuthenticationException, NoValidConnectionsError

    from runbook.engine.errors import ConnectionFailed
    from runbook.host.connection import DeployConnection

    error = {"auth": AuthenticationException("Authentication failed."),
             "refused": NoValidConnectionsError({("203.0.113.10", 22): OSError("refused")}),
             "timeout": TimeoutError()}[raised]

    def fail(self):
        raise error

    monkeypatch.setattr(fabric.Connection, "open", fail)
    site = make_site(tmp_path, hostname="203.0.113.10")
    with pytest.raises(ConnectionFailed) as e:
        DeployConnection(site, Config()).open()
    assert e.value.code == 6 and says in e.value.text and "\n" not in e.value.text
