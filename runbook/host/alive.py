"""Notice an SSH connection that stops answering (a stalled network: packets stop, no FIN, no RST)
within a bound, as OpenSSH's ServerAliveInterval / ServerAliveCountMax do.

Every `interval` seconds a `keepalive@openssh.com` global request that wants a reply goes out; the
server answers it (success or failure, either proves the link: docs/BEHAVIOUR.md#ssh-keepalive-reply).
When no answer came for `interval * count_max` seconds the transport is closed, which ends the
command waiting on it (its channel closes, exit -1), and `on_lost(text)` says why. TCP keepalives
cannot do this: a stalled relay or NAT box still ACKs what it is sent.
"""
import threading
import time
from collections.abc import Callable
from typing import Any

KIND = "keepalive@openssh.com"


def watch(transport: Any, interval: float, count_max: int, on_lost: Callable[[str], None]) -> None:
    """Start the watchdog thread of one transport (a daemon: it ends with the transport)."""
    if interval <= 0:
        return
    threading.Thread(target=_loop, args=(transport, interval, count_max, on_lost),
                     name="ssh-alive", daemon=True).start()


def _loop(transport, interval, count_max, on_lost):
    while transport.is_active():
        time.sleep(interval)
        if not transport.is_active():
            return
        answered = threading.Event()
        started = time.monotonic()
        threading.Thread(target=_ask, args=(transport, answered), name="ssh-alive-ask",
                         daemon=True).start()
        if answered.wait(interval * count_max) or not transport.is_active():
            continue
        waited = time.monotonic() - started
        on_lost(f"no answer over SSH for {waited:.0f}s ({count_max} keepalives {interval:g}s "
                f"apart unanswered: ssh_alive_interval x ssh_alive_count_max)")
        transport.close()
        return


def _ask(transport, answered):
    """One probe; `answered` is set when the server replied (or the transport died)."""
    try:
        transport.global_request(KIND, wait=True)
    except Exception:  # noqa: BLE001 - a dying transport: the loop sees it inactive
        pass
    answered.set()
