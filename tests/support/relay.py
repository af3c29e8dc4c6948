"""A loopback TCP relay between `fab` and the sandbox's sshd that can stall: it stops moving
bytes in both directions and keeps every socket open, so neither side sees a FIN or a RST (a
network whose packets stop, as on a hotel Wi-Fi). Loopback only.
"""
import socket
import threading
from pathlib import Path

from tests.support.sandbox import STATE, Fab, make_inventory


class Relay:
    """127.0.0.1:<port> -> target; `stall()` freezes every connection, `close()` ends them."""

    def __init__(self, target=("127.0.0.1", 2222)):
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.moving = threading.Event()
        self.moving.set()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.moving.is_set():   # a stalled network answers no new connection either
                self.sockets.append(client)
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        while not self.closed.is_set():
            self.moving.wait()
            try:
                data = src.recv(65536)
                if self.closed.is_set():
                    return
                self.moving.wait()   # bytes read as the stall began are held, not sent
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
            except OSError:
                return

    def stall(self):
        """Stop forwarding; the sockets stay open (no FIN, no RST)."""
        self.moving.clear()

    def reset(self):
        """The network is back: the stalled connections are torn down (as a dead link's are in
        the end), new ones are forwarded again."""
        stalled, self.sockets = self.sockets[1:], self.sockets[:1]
        for s in stalled:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.moving.set()

    def close(self):
        """The network is gone for good: every socket closed (sshd sees the client leave)."""
        self.closed.set()
        self.moving.set()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass


def relayed_fab(home, where, relay, interval, count):
    """`fab` with an inventory (in `where`) whose host `sandbox` is reached through `relay`, with
    these ssh_alive_interval / ssh_alive_count_max, and the relay's address in known_hosts."""
    inv = make_inventory(where, **{"port = 2222": f"port = {relay.port}\nssh_alive_interval = "
                                                  f"{interval}\nssh_alive_count_max = {count}"})
    kind, key = Path("/etc/deploy-sandbox/ssh_host_ed25519_key.pub").read_text().split()[:2]
    known = Path(where) / "known_hosts"
    known.write_text(f"[127.0.0.1]:{relay.port} {kind} {key}\n")
    inv.write_text(inv.read_text().replace(f'known_hosts = "{STATE}/known_hosts"',
                                           f'known_hosts = "{known}"'))
    return Fab(home, inv)
