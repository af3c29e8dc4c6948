"""Strict SSH host-key checking for Fabric, which accepts any key by default
(docs/BEHAVIOUR.md#fabric-accepts-any-host-key).

Keys are checked against the user's known_hosts and the inventory's own file. An unknown key is
refused unless the user opts in (trust on first use, written to a file); a changed key is always
refused.
"""
import base64
import hashlib
from pathlib import Path

from paramiko import MissingHostKeyPolicy

from runbook.engine.errors import HostKeyError
from runbook.host.remote import q


def fingerprint(key):
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_name(hostname, port):
    return hostname if port == 22 else f"[{hostname}]:{port}"


class RejectUnknown(MissingHostKeyPolicy):
    """Refuse an unknown key with the way to accept it deliberately."""

    def __init__(self, site_name):
        self.site_name = site_name

    def missing_host_key(self, client, hostname, key):
        raise HostKeyError(
            f"unknown SSH host key for {self.site_name} ({hostname}: {key.get_name()} "
            f"{fingerprint(key)}); check the fingerprint on the host, then run once with "
            f"--accept-new-host-key (or set accept_new_host_key = true for this host)", code=3)


class AcceptNew(MissingHostKeyPolicy):
    """Trust on first use: accept an unknown key and record it in `path`."""

    def __init__(self, path):
        self.path = Path(path)

    def missing_host_key(self, client, hostname, key):
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path, "a") as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        print(f"note: accepted new host key for {hostname} ({key.get_name()} {fingerprint(key)}); "
              f"recorded in {self.path}")


def secure(client, site_name, known_hosts_file, accept_new):
    """Load known_hosts files into a paramiko client and set the refusing policy (paramiko asks
    it only about unknown keys: docs/BEHAVIOUR.md#paramiko-host-key-policy)."""
    client.load_system_host_keys()
    if known_hosts_file and Path(known_hosts_file).exists():
        client.load_host_keys(str(known_hosts_file))
    if accept_new:
        target = known_hosts_file or Path.home() / ".ssh" / "known_hosts"
        client.set_missing_host_key_policy(AcceptNew(target))
    else:
        client.set_missing_host_key_policy(RejectUnknown(site_name))


def changed_key_error(site_name, exc, known_hosts_file, port=22):
    """The message for paramiko's BadHostKeyException: never accepted. The removal command names
    the entry as known_hosts stores it (`[HOST]:PORT` off port 22:
    docs/BEHAVIOUR.md#openssh-known-hosts-port), quoted for the shell."""
    where = q(str(known_hosts_file)) if known_hosts_file else "~/.ssh/known_hosts"
    entry = q(known_name(exc.hostname, port))
    return HostKeyError(
        f"SSH host key for {site_name} CHANGED (got {fingerprint(exc.key)}, known "
        f"{fingerprint(exc.expected_key)}): possible man-in-the-middle, nothing was run; if the "
        f"host was really rebuilt, remove the old entry (ssh-keygen -R {entry} -f {where}) and "
        "accept the new key deliberately", code=3)
