"""Shared helpers of the bench/ scripts: commands, the sandbox inventory, SSH, figures.

Nothing here is part of the tool: the benches drive `fab`, `ssh` and `ansible-playbook` from
outside, as a user would, and only read the sandbox's files.
"""
import contextlib
import os
import platform
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".sandbox"
BIN = Path(sys.executable).parent
SSH_PORT = 2222


def sh(*argv, check=True, quiet=False, **kwargs):
    """Run argv from the repository root; on failure exit with its tail (check=True)."""
    kwargs.setdefault("capture_output", True)
    r = subprocess.run([str(a) for a in argv], cwd=kwargs.pop("cwd", ROOT), text=True, **kwargs)
    if check and r.returncode:
        sys.exit(f"bench: {' '.join(map(str, argv))} failed (exit {r.returncode}):\n"
                 f"{(r.stdout or '')[-2000:]}{(r.stderr or '')[-2000:]}")
    if not quiet and r.returncode and not check:
        print(f"  (exit {r.returncode}: {' '.join(map(str, argv))[:120]})", flush=True)
    return r


def timed(*argv, **kwargs):
    """(seconds, result) of one command run by `sh`."""
    start = time.monotonic()
    r = sh(*argv, **kwargs)
    return time.monotonic() - start, r


def reset():
    sh(BIN / "invoke", "sandbox.reset")


def secrets():
    """The sandbox's .env as a dict."""
    out = {}
    for line in (STATE / ".env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def inventory(dest, port=SSH_PORT, groups="", edit=None):
    """The sandbox inventory written to `dest` with absolute paths, plus `.env` beside it.

    `port`: the SSH port (a counting proxy's); `groups`: extra `[groups]` lines; `edit`: a
    function applied to the text (e.g. another database for one bench).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    text = (STATE / "hosts.toml").read_text()
    known = STATE / "known_hosts"
    if port != SSH_PORT:   # the proxy's address needs the same host keys under its port
        known = dest / "known_hosts"
        known.write_text((STATE / "known_hosts").read_text().replace(f"]:{SSH_PORT} ", f"]:{port} "))
        text = text.replace(f"port = {SSH_PORT}", f"port = {port}")
    text = text.replace('known_hosts = "known_hosts"', f'known_hosts = "{known}"')
    text = text.replace('identity_file = "id_ed25519"', f'identity_file = "{STATE}/id_ed25519"')
    text = text.replace('project = "../sandbox/deploy.toml"', f'project = "{ROOT}/sandbox/deploy.toml"')
    if groups:
        if re.search(r"^\[groups\]$", text, flags=re.M):
            text = re.sub(r"^\[groups\]\n", "[groups]\n" + groups, text, flags=re.M)
        else:
            text += "\n[groups]\n" + groups
    if edit:
        text = edit(text)
    (dest / "hosts.toml").write_text(text)
    fd = os.open(dest / ".env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write((STATE / ".env").read_text())
    return dest / "hosts.toml"


def fab_env():
    """The environment for `fab`: a throwaway HOME, so no ~/.ssh/config of the user applies."""
    return {**os.environ, "HOME": tempfile.mkdtemp(prefix="bench-home-")}


def ssh_argv(port=SSH_PORT, known=None, host="127.0.0.1"):
    """Plain OpenSSH to the sandbox host as deploy, strict host key, no multiplexing."""
    return ["ssh", "-p", str(port), "-i", str(STATE / "id_ed25519"), "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known or STATE / 'known_hosts'}",
            "-o", "ControlMaster=no", "-o", "ControlPath=none", "-F", "/dev/null",
            f"deploy@{host}"]


def ssh_script(script, **kwargs):
    """Run `script` on the sandbox host in one `ssh ... bash -s` (one connection)."""
    return sh(*ssh_argv(), "bash -s", input=script, **kwargs)


def as_postgres_sql(sql, port=5432, db="postgres"):
    """psql as the postgres OS user (root runs the benches), output unaligned."""
    return sh("sudo", "-u", "postgres", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
              "-p", port, "-d", db, "-c", sql, cwd="/").stdout.strip()


# --- figures ---------------------------------------------------------------------------------
def stats(values):
    """(median, min, max)"""
    return statistics.median(values), min(values), max(values)


def fmt_row(label, values, base=None, unit="s", digits=1):
    med, lo, hi = stats(values)
    ratio = f" | {med / base:.2f}" if base else (" | 1.00" if base is not None else "")
    return (f"| {label} | {len(values)} | {med:.{digits}f} | {lo:.{digits}f}-{hi:.{digits}f}"
            f"{ratio} |")


def verdict(ok, text):
    return f"**Goal met**: {text}." if ok else f"**Goal MISSED**: {text}."


def write_section(text, out):
    print(text, flush=True)
    if out:
        Path(out).write_text(text.rstrip("\n") + "\n")


def profiled(*fab_args, env=None, top=12):
    """bench/profile.py's summary of one `fab` run: where a missed goal's time went."""
    r = sh(BIN / "python", Path(__file__).resolve().parent / "profile.py", "--top", top, "--",
           *fab_args, env=env)
    return r.stdout.split("@@profile\n", 1)[-1].strip()


def profile_lines(what, text):
    """The Markdown lines quoting a profile summary (none without one)."""
    if not text:
        return []
    return ["", f"Profile of {what} (`bench/profile.py`, pyinstrument, main thread):", "", "```",
            text, "```"]


def machine_facts():
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    osname = "?"
    with contextlib.suppress(OSError):
        osname = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())[1]
    return (f"{os.cpu_count()} cores ({cpu}), {mem} RAM, {osname}, kernel {platform.release()}, "
            f"Python {platform.python_version()}")


# --- an SSH connection counter ---------------------------------------------------------------
class CountingProxy:
    """A TCP relay on 127.0.0.1:<free port> to the sandbox's sshd that counts the connections
    made through it (from outside the client: Fabric, ssh and Ansible alike)."""

    def __init__(self, target=("127.0.0.1", SSH_PORT)):
        self.target = target
        self.connections = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self):
        self.closed = True
        self.sock.close()


def quote(argv):
    return " ".join(shlex.quote(str(a)) for a in argv)
