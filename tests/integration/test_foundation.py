"""The foundation against the real sandbox host, over real SSH (nothing mocked).

verify.status, default host, strict host keys, bad inventories, the deploy lock (concurrent run,
Ctrl-C, stale lock, deploy.unlock) and secret masking in the journals.

Each test has its own inventory whose backup.dir (journal + lock) is a unique directory on the
host, so these tests never collide with other runs on the sandbox. "Nothing ran on the host" is
proven with a lock file planted in that directory: `deploy.unlock --reason` would remove it the
moment it reached the host.
"""
import getpass
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runbook.host import inventory as inventory_mod
from tests.support.sandbox import default_sigint

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".sandbox"
LOCKHOLDER = Path(__file__).with_name("lockholder.py")


# --- helpers -------------------------------------------------------------------------------
def backup_dir(hosts_file):
    return inventory_mod.load(hosts_file).site("sandbox").backup.dir


def variant(hosts_file, dest, text=None, **replace):
    """A copy of `hosts_file` (and its .env) in `dest`, with exact `old=new` text edits."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    text = text if text is not None else Path(hosts_file).read_text()
    for old, new in replace.items():
        assert old in text, f"{old!r} not in the sandbox inventory"
        text = text.replace(old, new, 1)
    (dest / "hosts.toml").write_text(text)
    env = dest / ".env"
    env.write_text((Path(hosts_file).parent / ".env").read_text())
    env.chmod(0o600)
    return dest / "hosts.toml"


def on_host(script, input=None):
    """Run a shell script on the sandbox host as the deploy user (the host is this machine)."""
    r = subprocess.run(["sudo", "-n", "-u", "deploy", "bash", "-c", script], input=input,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def host_file(path):
    """A file's text on the host, or None when it does not exist."""
    r = subprocess.run(["sudo", "-n", "-u", "deploy", "cat", path], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def plant_lock(directory, **fields):
    """Write a deploy lock on the host as the deploy user, like a run would have."""
    info = {"run": "20260101-000000-0000", "task": "deploy.consolidate", "args": {},
            "since": "2026-01-01T00:00:00+00:00", "user": "ghost",
            "machine": "elsewhere.example", "pid": 1, **fields}
    text = json.dumps(info) + "\n"
    on_host(f"umask 077 && mkdir -p '{directory}' && cat > '{directory}/deploy.lock'", input=text)
    return text


def journal_lines(text):
    return [json.loads(line) for line in (text or "").splitlines() if line.strip()]


def local_journal(hosts_file):
    path = Path(hosts_file).parent / ".deploy-journal" / "sandbox.jsonl"
    return journal_lines(path.read_text() if path.exists() else "")


def remote_journal(hosts_file):
    return journal_lines(host_file(f"{backup_dir(hosts_file)}/journal.jsonl"))


def stderr_lines(r):
    return [line for line in r.stderr.splitlines() if line.strip()]


def sandbox_host_key():
    """(type, base64) of the sandbox sshd's real host key, from the client's known_hosts."""
    _name, kind, b64 = (STATE / "known_hosts").read_text().split()[:3]
    return kind, b64


def lockholder(home, hosts_file, mode, **kwargs):
    env = {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(LOCKHOLDER), str(hosts_file), mode], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, **kwargs)


class Background:
    """A lockholder run in the background; its output is collected by a thread."""

    def __init__(self, home, hosts_file, mode):
        env = {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, str(LOCKHOLDER), str(hosts_file), mode],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     preexec_fn=default_sigint)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self):
        return "".join(self.lines)

    def wait_for(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"{text!r} not seen (exit {self.proc.poll()}):\n{self.output}")

    def finish(self, timeout):
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def background():
    runs = []

    def start(*args):
        runs.append(Background(*args))
        return runs[-1]

    yield start
    for run in runs:
        run.kill()


# --- verify.status and the default host ----------------------------------------------------
def test_status_prints_the_host_facts(fab):
    r = fab("-H", "sandbox", "verify.status")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for pattern in [
        r"^host\s+sandbox \(deploy@127\.0\.0\.1:2222\)$",
        r"^os\s+\S",
        r"^disk free\s+[\d.]+ [kMGT]?B on /",
        r"^postgresql\s+14\.\d+, database recorder [\d.]+ [kMG]?B$",
        r"^service\s+recorder \(supervisor\):.*\bRUNNING\b",
        r"^deployed\s+[0-9a-f]{7,} \S",
        r"^pending\s+\S",
        r"^maintenance\s+OFF$",
        r"^health\s+200 from http://127\.0\.0\.1:8080/healthz$",
        r"^lock\s+free$",
    ]:
        assert re.search(pattern, out, re.M), f"{pattern!r} not in:\n{out}"
    assert r.stderr == ""


def test_without_H_the_inventory_default_host_is_used(fab):
    r = fab("verify.status")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^host\s+sandbox \(deploy@127\.0\.0\.1:2222\)$", r.stdout, re.M)


def test_without_H_and_without_default_one_line_lists_the_hosts(fab, inventory, tmp_path):
    text = inventory.read_text()
    assert 'default = "sandbox"\n' in text
    # a second host, so the listing has something to list
    block = text[text.index("[hosts.sandbox]"):]
    block = block[:min([block.find(m) for m in ("\n[hosts.sandbox2]", "\n[groups]") if m in block]
                       or [len(block)])]   # only host 1 (sandbox.up --hosts N adds more)
    other = block.replace("[hosts.sandbox", "[hosts.other")
    path = variant(inventory, tmp_path / "nodefault",
                   text=text.replace('default = "sandbox"\n', "") + "\n" + other)
    lock = plant_lock(backup_dir(path))
    r = fab("deploy.unlock", "--reason", "x", "--hosts-file", str(path), hosts_file=False)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert str(path) in lines[0] and "no default" in lines[0]
    assert "hosts: other, sandbox" in lines[0] and "-H NAME" in lines[0]
    assert host_file(f"{backup_dir(path)}/deploy.lock") == lock  # nothing reached the host


def test_fab_list_shows_the_collections_with_one_line_help(fab):
    r = fab("--list", hosts_file=False)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^\s+verify\.status\s+\S", r.stdout, re.M)
    assert re.search(r"^\s+deploy\.unlock\s+\S", r.stdout, re.M)


# --- host keys -----------------------------------------------------------------------------
@pytest.fixture
def empty_known_hosts(inventory, tmp_path):
    """(inventory whose known_hosts is an empty file, that file); HOME is empty too."""
    kh = tmp_path / "kh" / "known_hosts"
    kh.parent.mkdir()
    kh.write_text("")
    path = variant(inventory, tmp_path / "hk",
                   **{f'known_hosts = "{STATE}/known_hosts"': f'known_hosts = "{kh}"'})
    return path, kh


@pytest.mark.faults
def test_unknown_host_key_is_refused_before_any_command(fab, empty_known_hosts):
    path, kh = empty_known_hosts
    lock = plant_lock(backup_dir(path))
    for task in (["verify.status"], ["deploy.unlock", "--reason", "x"]):
        r = fab("-H", "sandbox", *task, "--hosts-file", str(path), hosts_file=False)
        assert r.returncode == 3, r.stdout + r.stderr
        lines = stderr_lines(r)
        assert len(lines) == 1, r.stderr
        assert "unknown SSH host key" in lines[0] and "--accept-new-host-key" in lines[0]
        assert "SHA256:" in lines[0]
        assert r.stdout == ""
    # deploy.unlock would have removed the lock and journaled: nothing ran on the host
    assert host_file(f"{backup_dir(path)}/deploy.lock") == lock
    assert host_file(f"{backup_dir(path)}/journal.jsonl") is None
    assert kh.read_text() == ""


def test_accept_new_host_key_records_it_once_and_later_runs_need_no_flag(fab, empty_known_hosts):
    path, kh = empty_known_hosts
    r = fab("-H", "sandbox", "verify.status", "--accept-new-host-key", "--hosts-file", str(path),
            hosts_file=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "accepted new host key" in r.stdout
    kind, b64 = sandbox_host_key()
    assert kh.read_text() == f"[127.0.0.1]:2222 {kind} {b64}\n"
    for flag in ([], ["--accept-new-host-key"]):
        r = fab("-H", "sandbox", "verify.status", *flag, "--hosts-file", str(path),
                hosts_file=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "accepted new host key" not in r.stdout
    assert kh.read_text() == f"[127.0.0.1]:2222 {kind} {b64}\n"  # recorded once


def test_per_host_accept_new_host_key_setting(fab, inventory, tmp_path):
    kh = tmp_path / "tofu_known_hosts"
    path = variant(inventory, tmp_path / "tofu", **{
        f'known_hosts = "{STATE}/known_hosts"': f'known_hosts = "{kh}"',
        "port = 2222\n": "port = 2222\naccept_new_host_key = true\n"})
    r = fab("verify.status", "--hosts-file", str(path), hosts_file=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert kh.read_text().split() == ["[127.0.0.1]:2222", *sandbox_host_key()]


@pytest.mark.faults
def test_changed_host_key_is_refused_even_with_accept_new(fab, inventory, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(tmp_path / "impostor")], check=True)
    kind, b64 = (tmp_path / "impostor.pub").read_text().split()[:2]
    assert (kind, b64) != sandbox_host_key()
    kh = tmp_path / "tampered_known_hosts"
    kh.write_text(f"[127.0.0.1]:2222 {kind} {b64}\n")
    path = variant(inventory, tmp_path / "tampered",
                   **{f'known_hosts = "{STATE}/known_hosts"': f'known_hosts = "{kh}"'})
    lock = plant_lock(backup_dir(path))
    for task in (["verify.status"], ["deploy.unlock", "--reason", "x"]):
        for flag in ([], ["--accept-new-host-key"]):
            r = fab("-H", "sandbox", *task, *flag, "--hosts-file", str(path), hosts_file=False)
            assert r.returncode == 3, r.stdout + r.stderr
            lines = stderr_lines(r)
            assert len(lines) == 1, r.stderr
            assert "CHANGED" in lines[0] and "nothing was run" in lines[0]
    assert kh.read_text() == f"[127.0.0.1]:2222 {kind} {b64}\n"
    assert host_file(f"{backup_dir(path)}/deploy.lock") == lock
    assert host_file(f"{backup_dir(path)}/journal.jsonl") is None


# --- bad inventories: one line, exit 2, no connection ----------------------------------------
BAD_INVENTORIES = [
    # id, {old: new} edit of the sandbox inventory, texts the one line must contain
    ("malformed-toml", {"[hosts.sandbox.app]": "[hosts.sandbox.app"}, ["malformed TOML", "line"]),
    ("missing-key", {'name = "recorder"\n': ""}, ["hosts.sandbox.database.name: missing",
                                                 "add name ="]),
    ("unknown-key", {"port = 2222\n": "port = 2222\nprot = 2222\n"},
     ["hosts.sandbox.prot: unknown key", "remove it"]),
    ("wrong-type", {"port = 2222\n": 'port = "2222"\n'},
     ["hosts.sandbox.port: expected an integer", "port = 22"]),
    ("bad-health-url", {'url = "http://127.0.0.1:8080/healthz"': 'url = "127.0.0.1:8080/healthz"'},
     ["hosts.sandbox.health.url", "not an http(s) URL"]),
    ("bad-manager", {'manager = "supervisor"': 'manager = "upstart"'},
     ["hosts.sandbox.service.manager", "systemd, supervisor, compose"]),
    ("relative-path", {'dir = "/srv/recorder/app"': 'dir = "srv/recorder/app"'},
     ["hosts.sandbox.app.dir", "absolute path"]),
    ("unknown-top-level-key", {'default = "sandbox"': 'default = "sandbox"\ndefualt = "x"'},
     ["defualt: unknown top-level key"]),
    ("default-not-a-host", {'default = "sandbox"': 'default = "prod"'},
     ["default: names 'prod'", "use one of: sandbox"]),
]


@pytest.mark.faults
@pytest.mark.parametrize("edit, expected", [(e, x) for _id, e, x in BAD_INVENTORIES],
                         ids=[i for i, _e, _x in BAD_INVENTORIES])
def test_bad_inventory_is_one_line_naming_file_and_key_before_connecting(
        fab, inventory, tmp_path, edit, expected):
    directory = backup_dir(inventory)
    lock = plant_lock(directory)
    path = variant(inventory, tmp_path / "bad", **edit)
    r = fab("-H", "sandbox", "deploy.unlock", "--reason", "x", "--hosts-file", str(path),
            hosts_file=False)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: {path}")
    for text in expected:
        assert text in lines[0], lines[0]
    assert r.stdout == ""
    assert host_file(f"{directory}/deploy.lock") == lock      # unlock never reached the host
    assert host_file(f"{directory}/journal.jsonl") is None


def test_unknown_host_name_is_one_line_listing_the_hosts(fab, inventory):
    lock = plant_lock(backup_dir(inventory))
    r = fab("-H", "prdo", "deploy.unlock", "--reason", "x")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert str(inventory) in lines[0] and "unknown host 'prdo'" in lines[0]
    assert "hosts: sandbox" in lines[0]
    assert host_file(f"{backup_dir(inventory)}/deploy.lock") == lock


def test_missing_inventory_file_is_one_line(fab, tmp_path):
    missing = tmp_path / "nope" / "hosts.toml"
    r = fab("verify.status", "--hosts-file", str(missing), hosts_file=False)
    assert r.returncode == 2
    lines = stderr_lines(r)
    assert len(lines) == 1 and str(missing) in lines[0] and "hosts.example.toml" in lines[0]


# --- the deploy lock -----------------------------------------------------------------------
@pytest.mark.faults
def test_second_run_is_refused_with_the_holder_named_and_ctrl_c_releases(
        fab, inventory, home, background):
    directory = backup_dir(inventory)
    first = background(home, inventory, "hold")
    first.wait_for("HOLDING")
    held = json.loads(host_file(f"{directory}/deploy.lock"))
    assert held["task"] == "test.hold" and held["pid"] == first.proc.pid
    assert held["user"] == getpass.getuser() and held["machine"] == socket.gethostname()

    second = lockholder(home, inventory, "noop")
    assert second.returncode == 4, second.stdout + second.stderr
    holder = f"held by {getpass.getuser()}@{socket.gethostname()} (pid {first.proc.pid}, test.hold"
    assert holder in second.stderr
    assert held["run"] in second.stderr and "deploy.unlock" in second.stderr
    assert "STALE" not in second.stderr
    assert "[1/1] noop" not in second.stdout  # refused before its first step

    status = fab("-H", "sandbox", "verify.status")
    assert status.returncode == 0, status.stderr
    assert re.search(rf"^lock\s+the deploy lock on sandbox is {re.escape(holder)}", status.stdout,
                     re.M), status.stdout

    started = time.monotonic()
    first.proc.send_signal(signal.SIGINT)
    assert first.finish(timeout=30) == 130, first.output
    assert time.monotonic() - started < 15, "Ctrl-C waited for the remote command to end"
    assert "hold FAILED: interrupted by Ctrl-C" in first.output
    assert "test.hold interrupted at hold" in first.output
    assert host_file(f"{directory}/deploy.lock") is None  # released

    for journal in (local_journal(inventory), remote_journal(inventory)):
        mine = [rec for rec in journal if rec["run"] == held["run"]]
        assert {"kind": "step", "step": "hold", "outcome": "interrupted"}.items() <= \
            next(rec for rec in mine if rec["kind"] == "step").items()
        end = mine[-1]
        assert end["kind"] == "run" and end["event"] == "end" and end["failed_step"] == "hold"
        # the refused run left a start record and no step
        refused = [rec for rec in journal if rec["run"] != held["run"]]
        assert refused and all(rec["kind"] == "run" for rec in refused)

    again = lockholder(home, inventory, "noop")  # the lock can be taken again
    assert again.returncode == 0, again.stdout + again.stderr
    assert host_file(f"{directory}/deploy.lock") is None  # and is released on success


@pytest.mark.faults
def test_stale_lock_is_refused_until_deploy_unlock_with_a_reason(fab, inventory, home):
    directory = backup_dir(inventory)
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is now a dead process on this machine
    lock = plant_lock(directory, pid=gone.pid, machine=socket.gethostname(), user="ghost")

    r = lockholder(home, inventory, "noop")
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"ghost@{socket.gethostname()} (pid {gone.pid}, deploy.consolidate" in r.stderr
    assert "STALE" in r.stderr and 'deploy.unlock --reason' in r.stderr
    assert host_file(f"{directory}/deploy.lock") == lock

    r = fab("-H", "sandbox", "deploy.unlock")
    assert r.returncode == 2, r.stdout + r.stderr
    assert len(stderr_lines(r)) == 1 and "--reason" in r.stderr
    assert host_file(f"{directory}/deploy.lock") == lock

    r = fab("-H", "sandbox", "deploy.unlock", "--reason", "test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STALE" in r.stdout and "deploy lock removed" in r.stdout
    assert host_file(f"{directory}/deploy.lock") is None
    for journal in (remote_journal(inventory), local_journal(inventory)):
        unlock = [rec for rec in journal if rec["kind"] == "unlock"]
        assert len(unlock) == 1, journal
        assert unlock[0]["reason"] == "test" and unlock[0]["holder"]["pid"] == gone.pid
        assert unlock[0]["holder"]["user"] == "ghost"

    r = fab("-H", "sandbox", "deploy.unlock", "--reason", "test")
    assert r.returncode == 0 and "no deploy lock held" in r.stdout

    r = lockholder(home, inventory, "noop")
    assert r.returncode == 0, r.stdout + r.stderr


# --- secrets -------------------------------------------------------------------------------
@pytest.mark.faults
def test_secrets_are_masked_in_both_journals_and_the_output(inventory, home, secrets):
    value = secrets["SANDBOX_BYPASS_SECRET"]
    assert value and len(value) > 8
    r = lockholder(home, inventory, "secret")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "echo ok" in r.stdout and "bypass=*****" in r.stdout
    assert "leak FAILED" in r.stdout and "retry with *****" in r.stdout
    assert value not in r.stdout and value not in r.stderr

    local_path = inventory.parent / ".deploy-journal" / "sandbox.jsonl"
    remote_text = host_file(f"{backup_dir(inventory)}/journal.jsonl")
    for text in (local_path.read_text(), remote_text):
        assert value not in text
        records = journal_lines(text)
        assert {"kind": "command", "command": "echo bypass=*****"}.items() <= \
            next(rec for rec in records if rec["kind"] == "command").items()
        start, end = records[0], records[-1]
        assert start["args"] == {"token": "*****"}
        assert [(rec["step"], rec["outcome"]) for rec in records if rec["kind"] == "step"] == \
            [("echo", "ok"), ("leak", "failed")]
        assert end["reason"] == "header X-Maintenance-Bypass: ***** was refused"
        assert end["recovery"] == "retry with *****"
    assert host_file(f"{backup_dir(inventory)}/deploy.lock") is None  # released on failure


def test_prune_keeps_the_newest_verified_and_young_backups(fab, inventory):
    """Retention: older than 30 days goes, the newest verified backup always stays."""
    import datetime as dt
    import tomllib
    bdir = tomllib.loads(inventory.read_text())["hosts"]["sandbox"]["backup"]["dir"]
    now = dt.datetime.now(dt.timezone.utc)

    def name(days, tag):
        return (now - dt.timedelta(days=days)).strftime("%Y%m%d-%H%M%S") + f"-{tag}"

    old_verified, old_plain, newest_verified, young = (
        name(50, "aaaa"), name(40, "bbbb"), name(35, "cccc"), name(1, "dddd"))
    script = f"mkdir -m 0700 -p {bdir}\n"
    for n in (old_verified, old_plain, newest_verified, young):
        script += f"mkdir -m 0700 {bdir}/{n} && echo {{}} > {bdir}/{n}/manifest.json\n"
    for n in (old_verified, newest_verified):
        script += f"echo '{{\"verified\": \"x\", \"how\": \"full read\"}}' > {bdir}/{n}/verified.json\n"
    subprocess.run(["sudo", "-u", "deploy", "bash", "-c", script], check=True)
    r = fab("-H", "sandbox", "backup.prune")          # no terminal, no --yes: refused, nothing gone
    assert r.returncode == 2 and "--yes" in r.stderr
    assert len(os.listdir(bdir)) >= 4
    r = fab("-H", "sandbox", "backup.prune", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    left = {d for d in os.listdir(bdir) if d[0].isdigit()}
    assert left == {newest_verified, young}
    assert f"newest verified kept: {newest_verified}" in r.stdout
    again = fab("-H", "sandbox", "backup.prune", "--yes")
    assert again.returncode == 0 and "nothing to prune" in again.stdout


def test_lock_release_reconnects_when_a_ctrl_c_broke_the_session(inventory, monkeypatch):
    """A Ctrl-C while paramiko writes a packet leaves half of it on the wire, and the session is
    lost; the run's lock is still released (over a fresh connection), and never another's."""
    import fabric

    from runbook.engine import lock
    from runbook.host.connection import DeployConnection

    monkeypatch.setattr(sys, "stdin", io.StringIO())   # pytest's stdin cannot be read
    directory = backup_dir(inventory)
    plant_lock(directory, run="20260101-000000-dead")
    c = DeployConnection(inventory_mod.load(inventory).site("sandbox"), config=fabric.Config())
    try:
        c.run("true", hide=True)
        assert c.transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        packetizer = c.transport.packetizer
        write_all = packetizer.write_all

        def half_then_ctrl_c(data):
            write_all(data[:len(data) // 2])
            raise KeyboardInterrupt

        packetizer.write_all = half_then_ctrl_c
        with pytest.raises(KeyboardInterrupt):
            c.run("true", hide=True)
        packetizer.write_all = write_all
        broken = c.transport
        assert broken.is_active()   # paramiko does not know yet: the next command would fail

        lock.release(c, "20260101-000000-0000")   # not this run's lock: kept
        assert c.transport is not broken
        assert c.transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert host_file(f"{directory}/deploy.lock") is not None
        lock.release(c, "20260101-000000-dead")
        assert host_file(f"{directory}/deploy.lock") is None
    finally:
        c.close()
