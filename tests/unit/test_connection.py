"""The SSH socket option the tool sets after connecting (runbook/host/connection.py `no_delay`)."""
import socket

import pytest

from runbook.host.connection import no_delay


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
