"""The SSH socket option the tool sets after connecting (runbook/host/connection.py `no_delay`)."""
import io
import socket

import pytest

from runbook.host.connection import no_delay, stdin_script


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


@pytest.mark.parametrize("command, stdin, shown", [
    ("bash -s", "echo hi\n", "echo hi\n"),
    ("RB_APP_DIR=/srv/a bash -s -- x", "echo hi\n", "echo hi\n"),
    ("sudo -n -u postgres bash -s -- db", "psql\n", "psql\n"),
    # run_script's secrets come first on stdin (base64): never shown nor journaled
    ("IFS= read -r PGPASSWORD && PGPASSWORD=$(printf %s \"$PGPASSWORD\" | base64 -d) && "
     "export PGPASSWORD && bash -s", "c2VjcmV0\npg_dump\n", "pg_dump\n"),
    ("cd /srv/a && venv/bin/python manage.py shell", "print(1)\n", "print(1)\n"),
    ("cat > /tmp/x", "data\n", None),
    ("mybash -s", "x\n", None),
])
def test_the_script_on_stdin_is_what_echo_and_the_journal_show(command, stdin, shown):
    assert stdin_script(command, io.StringIO(stdin)) == shown
