"""The fault matrix: each fault injected at the step where it bites, against the real sandbox.

Each test proves, from outside the tool: the run exits non-zero at the named checkpoint; the
message states the host's state and a recovery command; the deploy lock is released; every table
fingerprint equals the pre-run one (or equals it again after the stated recovery command ran);
the site answers 200 (or the maintenance 503 where the message says so). Run alone with
`pytest -m faults`; docs/RELIABILITY.md lists every case. Faults covered elsewhere carry the
same marker (test_deploy.py, test_foundation.py).
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.sandbox import (
    APP,
    BACKUPS,
    Fab,
    Watch,
    all_fingerprints,
    assert_same_data,
    clusters,
    fingerprints,
    head,
    host_listing,
    locked,
    make_inventory,
    recovery_commands,
    state_before,
    status,
    tag,
    version,
    warm_processes,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

STEPS = ["preflight", "backup.create", "verify.audit", "code update", "migrate.check",
         "migrate.lint", "migrate.warm", "maintenance.on", "migrate.run", "verify.post", "restart", "maintenance.off",
         "verify.smoke", "verify.logs"]


# --- helpers -------------------------------------------------------------------------------
def run_recovery(sfab, out):
    cmds = recovery_commands(out)
    assert cmds, out
    for cmd in cmds:   # as printed: its --hosts-file is the run's (nothing added)
        r = sfab(*shlex.split(cmd)[1:], hosts_file=False)
        assert r.returncode == 0, cmd + "\n" + r.stdout + r.stderr
    return cmds


def assert_stopped_at(r, step):
    out = r.stdout
    assert r.returncode != 0, out
    n = STEPS.index(step) + 1
    assert f"[{n}/14] {step} FAILED" in out or f"[{n}/14] {step} ..." in out, out
    assert f"Stopped at checkpoint '{step}'" in out, out
    assert "Host state:" in out and "Recover with:" in out
    assert not locked(), "the deploy lock was left behind"


def procs():
    """(pid, ppid, cmdline) of every process on the machine (the host is this machine)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out.append((int(d.name), ppid, cmd))
    return out


def wait_for_process(pattern, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid, ppid, cmd in procs():
            if re.search(pattern, cmd):
                return pid, ppid
        time.sleep(0.01)
    return None, None


# --- faults --------------------------------------------------------------------------------
def test_ssh_connection_cut_during_migrate(sfab, db):
    """The sshd child serving the session is killed while the migrations' `manage.py shell` runs
    (the first Django process of step 9)."""
    with db() as conn:
        before = fingerprints(conn)
    killed = []

    def cut():
        pid, _ppid = wait_for_process(r"manage\.py shell")
        chain = {p: (pp, c) for p, pp, c in procs()}
        while pid in chain and not chain[pid][1].startswith("sshd: deploy"):
            pid = chain[pid][0]
        if pid in chain:
            os.kill(pid, signal.SIGKILL)   # the session's sshd child, started for this run
            killed.append(chain[pid][1])

    w = Watch(sfab, "-H", "sandbox", "deploy.consolidate", "--no-json")
    w.when("[9/14] migrate.run ...", lambda: threading.Thread(target=cut).start()).start()
    r = w.finish()
    assert killed, r.stdout
    assert_stopped_at(r, "migrate.run")
    assert "migrations may be partly applied" in r.stdout and "maintenance is ON" in r.stdout
    assert status()[0] == 503                       # maintenance, as the message says
    cmds = run_recovery(sfab, r.stdout)
    assert "rollback.restore" in cmds[0]
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == tag("v1") and status()[0] == 200


@pytest.mark.parametrize("step", STEPS)
def test_sigint_at_each_step(sfab, db, step):
    """Ctrl-C as the step starts: the run stops there, the lock goes, and what it says recovers."""
    with db() as conn:
        before = fingerprints(conn)
    n = STEPS.index(step) + 1
    w = Watch(sfab, "-H", "sandbox", "deploy.consolidate", "--no-json")
    w.when(f"[{n}/14] {step} ...", lambda: w.proc.send_signal(signal.SIGINT)).start()
    r = w.finish()
    assert w.fired
    out = r.stdout
    assert r.returncode != 0
    assert not locked(), out   # (the output says why the release failed, if it did)
    if f"Stopped at checkpoint '{step}'" not in out:
        # the step finished before the signal landed: the run stopped at the next one
        assert "Stopped at checkpoint" in out, out
    assert "interrupted" in out or "FAILED" in out
    assert warm_processes() == []   # a migration process started ahead ended unused
    if recovery_commands(out):
        run_recovery(sfab, out)
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == tag("v1") and status()[0] == 200


@pytest.fixture
def small_backup_dir():
    """A 40 MB tmpfs as a backup dir (unmounted afterwards)."""
    d = "/srv/recorder/tmpfs-backups"
    subprocess.run(["mkdir", "-p", d], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m,mode=0700", "tmpfs", d], check=True)
    subprocess.run(["chown", "deploy:deploy", d], check=True)
    yield d
    subprocess.run(["umount", d], check=False)
    subprocess.run(["rmdir", d], check=False)


def test_disk_full_while_backing_up(home, sandbox, tmp_path, reset_sandbox, db, small_backup_dir):
    """Preflight sees room; as the backup starts, the disk is filled: the dump fails there."""
    fab = Fab(home, make_inventory(tmp_path / "inv", **{f'dir = "{BACKUPS}"': f'dir = "{small_backup_dir}"'}))
    with db() as conn:
        before = fingerprints(conn)

    def fill():
        subprocess.run(["sudo", "-u", "deploy", "dd", "if=/dev/zero", f"of={small_backup_dir}/filler",
                        "bs=1M", "count=64"], capture_output=True)

    w = Watch(fab, "-H", "sandbox", "deploy.consolidate", "--no-json")
    w.when("[2/14] backup.create ...", fill).start()
    r = w.finish()
    out = r.stdout
    assert r.returncode != 0
    assert "[2/14] backup.create FAILED" in out, out
    assert "Stopped at checkpoint 'backup.create'" in out and "Recover with:" in out
    assert "[3/14]" not in out
    assert not os.path.exists(f"{small_backup_dir}/deploy.lock")
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == tag("v1") and status()[0] == 200


def test_backup_dir_not_writable(home, sandbox, tmp_path, reset_sandbox, db):
    d = "/srv/recorder/readonly-backups"
    subprocess.run(["install", "-d", "-m", "0755", "-o", "root", "-g", "root", d], check=True)
    try:
        fab = Fab(home, make_inventory(tmp_path / "inv", **{f'dir = "{BACKUPS}"': f'dir = "{d}"'}))
        with db() as conn:
            before = fingerprints(conn)
        r = fab("-H", "sandbox", "deploy.consolidate", "--no-json")
        assert r.returncode == 2, r.stdout + r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and d in lines[0] and "not a directory owned and writable by deploy" in lines[0]
        assert "create it owned by deploy with mode 0700" in lines[0]
        assert os.listdir(d) == [] and os.stat(d).st_mode & 0o777 == 0o755
        with db() as conn:
            assert fingerprints(conn) == before
        assert head() == tag("v1") and status()[0] == 200
    finally:
        subprocess.run(["rm", "-rf", d], check=False)


@pytest.fixture
def pg_restarted():
    yield
    subprocess.run(["pg_ctlcluster", "14", "main", "start"], capture_output=True)


def test_postgresql_down_at_preflight(sfab, db, pg_restarted):
    with db() as conn:
        before = fingerprints(conn)
    subprocess.run(["pg_ctlcluster", "14", "main", "stop"], check=True)
    r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json")
    assert_stopped_at(r, "preflight")
    assert "not healthy before the deploy" in r.stdout and "nothing was changed" in r.stdout
    subprocess.run(["pg_ctlcluster", "14", "main", "start"], check=True)
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == tag("v1") and os.listdir(BACKUPS) in ([], ["journal.jsonl"])
    assert status()[0] == 200


def test_postgresql_stopped_during_migrate(sfab, db, pg_restarted):
    with db() as conn:
        before = fingerprints(conn)

    def stop_pg():
        wait_for_process(r"manage\.py shell")
        subprocess.run(["pg_ctlcluster", "14", "main", "stop", "-m", "immediate"], capture_output=True)

    w = Watch(sfab, "-H", "sandbox", "deploy.consolidate", "--no-json")
    w.when("[9/14] migrate.run ...", lambda: threading.Thread(target=stop_pg).start()).start()
    r = w.finish()
    assert_stopped_at(r, "migrate.run")
    assert "maintenance is ON" in r.stdout
    assert status()[0] == 503
    subprocess.run(["pg_ctlcluster", "14", "main", "start"], check=True)  # the cause, fixed
    run_recovery(sfab, r.stdout)
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == tag("v1") and status()[0] == 200


def test_nginx_t_failing_at_maintenance_install(sfab, db):
    broken = "/etc/nginx/conf.d/zz-fault-broken.conf"
    Path(broken).write_text("this is not nginx syntax;\n")
    try:
        with db() as conn:
            before = fingerprints(conn)
        r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json")
        assert_stopped_at(r, "maintenance.on")
        assert "nginx -t failed" in r.stdout and "not reloaded" in r.stdout
        assert not os.path.exists("/etc/nginx/deploy.d/recorder-maintenance.conf")
        assert status()[0] == 200                       # still serving, old code
        Path(broken).unlink()                           # the cause, fixed
        run_recovery(sfab, r.stdout)
        with db() as conn:
            assert fingerprints(conn) == before
        assert head() == tag("v1") and status()[0] == 200
    finally:
        Path(broken).unlink(missing_ok=True)


@pytest.fixture
def blackhole():
    """A loopback port that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield s.getsockname()[1]
    s.close()


def test_health_check_timing_out(home, sandbox, tmp_path, reset_sandbox, db, blackhole):
    fab = Fab(home, make_inventory(tmp_path / "inv", **{
        'url = "http://127.0.0.1:8080/healthz"': f'url = "http://127.0.0.1:{blackhole}/healthz"',
        "timeout = 30": "timeout = 3"}))
    with db() as conn:
        before = fingerprints(conn)
    start = time.monotonic()
    r = fab("-H", "sandbox", "deploy.consolidate", "--no-json")
    assert time.monotonic() - start < 120
    assert_stopped_at(r, "preflight")
    assert "not healthy" in r.stdout
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == tag("v1") and status()[0] == 200


@pytest.fixture
def sudo_without_supervisorctl():
    """The deploy user's sudoers minus supervisorctl (restored afterwards)."""
    path = Path("/etc/sudoers.d/deploy-sandbox")
    original = path.read_text()
    path.write_text(original.replace("/usr/bin/supervisorctl, ", ""))
    yield
    path.write_text(original)


def test_sudo_denied_for_a_needed_command(sfab, db, sudo_without_supervisorctl):
    """No NOPASSWD rule for supervisorctl: refused at preflight, by name, before any change."""
    with db() as conn:
        before = fingerprints(conn)
    r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json")
    assert r.returncode == 5, r.stdout + r.stderr
    assert_stopped_at(r, "preflight")
    line = r.stderr.strip().splitlines()[-1]
    assert "sudo refused `supervisorctl status recorder`" in line and "NOPASSWD" in line
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == tag("v1") and status()[0] == 200
    assert os.listdir(BACKUPS) in ([], ["journal.jsonl"])


def test_pg_upgrade_failing_halfway(sfab, db):
    """pg_upgradecluster is SIGKILLed while it copies: the run stops at that step; the printed
    recovery brings 14 back on 5432 with the data the tool fingerprinted with the app stopped."""
    killed = []

    def kill_upgrade():
        pid, _ = wait_for_process(r"pg_upgradecluster", timeout=120)
        time.sleep(0.5)
        if pid:
            subprocess.run(["pkill", "-KILL", "-P", str(pid)], capture_output=True)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    w = Watch(sfab, "-H", "sandbox", "pg_upgrade.run", "--to", "15", "--method", "copy", "--yes")
    w.when("pg_upgradecluster", lambda: threading.Thread(target=kill_upgrade).start()).start()
    r = w.finish(timeout=600)
    out = r.stdout
    assert killed and r.returncode != 0, out
    assert "Stopped at checkpoint" in out and "Recover with:" in out and "maintenance is ON" in out
    assert not locked()
    assert status()[0] == 503
    before = state_before()
    cmds = run_recovery(sfab, out)
    assert any("pg_upgrade.rollback" in c for c in cmds), cmds
    assert version(db).startswith("14.") and ("14", "main", "5432", "online") in clusters()
    assert_same_data(before, all_fingerprints(db), logins=1)   # + the rollback's smoke login
    assert status()[0] == 200


# --- bad input: one line naming the problem and the fix, non-zero, the host unchanged --------
def applied_migration():
    r = subprocess.run(["sudo", "-u", "postgres", "psql", "-XtA", "-d", "recorder", "-c",
                        "SELECT app || '.' || name FROM django_migrations WHERE app = 'accounts' "
                        "ORDER BY id DESC LIMIT 1"], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def foreign_backup(sfab):
    """A backup whose manifest says it was taken on another host (copied into this dir)."""
    r = sfab("-H", "sandbox", "backup.create", "--no-json")
    assert r.returncode == 0, r.stdout + r.stderr
    name = re.search(r"(\d{8}-\d{6}-[0-9a-f]{4})", r.stdout).group(1)
    subprocess.run(["sudo", "-u", "deploy", "sed", "-i", 's/"host": "sandbox"/"host": "prod"/',
                    f"{BACKUPS}/{name}/manifest.json"], check=True)
    return name


def missing_secret(inv):
    env = inv.parent / ".env"
    env.write_text("".join(line for line in env.read_text().splitlines(True)
                           if not line.startswith("SANDBOX_BYPASS_SECRET=")))


BAD_INPUTS = [
    # id, argv (after fab), inventory edit {old: new} or a callable(inventory path), expected
    ("malformed-toml", ["-H", "sandbox", "deploy.consolidate"], {"[hosts.sandbox.app]": "[hosts.sandbox.app"},
     ["malformed TOML", "fix the syntax"]),
    ("unknown-host", ["-H", "nosuch", "deploy.consolidate"], None, ["unknown host 'nosuch'", "add [hosts.nosuch]"]),
    ("missing-key", ["-H", "sandbox", "deploy.consolidate"], {'name = "recorder"\n': ""},
     ["hosts.sandbox.database.name: missing", "add name ="]),
    ("unknown-key", ["-H", "sandbox", "deploy.consolidate"], {"port = 2222\n": "port = 2222\nprot = 1\n"},
     ["hosts.sandbox.prot: unknown key", "remove it"]),
    ("wrong-type", ["-H", "sandbox", "deploy.consolidate"], {"port = 2222\n": 'port = "2222"\n'},
     ["expected an integer", "port = 22"]),
    ("health-url-not-a-url", ["-H", "sandbox", "deploy.consolidate"],
     {'url = "http://127.0.0.1:8080/healthz"': 'url = "healthz"'}, ["not an http(s) URL", "write e.g. url ="]),
    ("timeout-zero", ["-H", "sandbox", "deploy.consolidate"], {"timeout = 30": "timeout = 0"},
     ["health.timeout: 0 must be a positive number", "above 0"]),
    ("backup-dotdot", ["-H", "sandbox", "rollback.restore", "--backup=../etc", "--yes"], None,
     ["is not a backup name", "backup.list"]),
    ("backup-semicolon", ["-H", "sandbox", "rollback.restore", "--backup=a;touch /tmp/x", "--yes"], None,
     ["is not a backup name"]),
    ("backup-subshell", ["-H", "sandbox", "rollback.restore", "--backup=$(touch /tmp/pwned)", "--yes"], None,
     ["is not a backup name"]),
    ("backup-spaces", ["-H", "sandbox", "rollback.restore", "--backup=2026 01 01", "--yes"], None,
     ["is not a backup name"]),
    ("backup-absolute", ["-H", "sandbox", "rollback.restore", f"--backup={BACKUPS}/x", "--yes"], None,
     ["is not a backup name"]),
    ("backup-missing", ["-H", "sandbox", "rollback.restore", "--backup=20990101-000000-beef", "--yes"], None,
     ["no backup '20990101-000000-beef' on sandbox", "backup.list"]),
    ("backup-of-another-host", ["-H", "sandbox", "rollback.restore", "--backup={foreign}", "--yes"], None,
     ["was taken on prod", "restore it on its own host"]),
    ("ref-missing", ["-H", "sandbox", "deploy.consolidate", "--ref", "v9-nowhere"], None,
     ["ref 'v9-nowhere' does not exist"]),
    ("dirty-tree", ["-H", "sandbox", "deploy.consolidate"], "dirty", ["has local changes", "stopped at preflight"]),
    ("unexpected-pending", ["-H", "sandbox", "deploy.consolidate", "--expect",
                            "accounts.0014_final_sync_before_deletion"], None,
     ["workshops.0025_remove_userprofile is pending but not expected"]),
    ("expected-already-applied", ["-H", "sandbox", "deploy.consolidate", "--expect", "{applied}"], None,
     ["is already applied"]),
    ("pg-target-same", ["-H", "sandbox", "pg_upgrade.run", "--to", "14", "--yes"], None, ["--to 14"]),
    ("pg-target-older", ["-H", "sandbox", "pg_upgrade.run", "--to", "13", "--yes"], None, ["--to 13"]),
    ("keep-negative", ["-H", "sandbox", "backup.prune", "--keep", "-1", "--yes"], None,
     ["--keep '-1' is not a whole number", "give 0 or more"]),
    ("older-than-zero", ["-H", "sandbox", "backup.prune", "--older-than", "0", "--yes"], None,
     ["--older-than 0", "must be above 0"]),
    ("batch-zero", ["-H", "sandbox", "deploy.restart", "--batch", "0"], None, ["--batch '0'", "1 or more"]),
    ("soak-minutes-negative", ["-H", "sandbox", "verify.soak", "--minutes", "-5"], None, ["--minutes", "above 0"]),
    ("missing-secret", ["-H", "sandbox", "deploy.consolidate"], missing_secret,
     ["secret SANDBOX_BYPASS_SECRET is not set", "add SANDBOX_BYPASS_SECRET=..."]),
]


@pytest.mark.parametrize("argv, edit, expected", [(a, e, x) for _i, a, e, x in BAD_INPUTS],
                         ids=[i for i, *_rest in BAD_INPUTS])
def test_bad_input_is_one_line_and_changes_nothing(home, sandbox, tmp_path, reset_sandbox, db,
                                                   argv, edit, expected):
    inv = make_inventory(tmp_path / "inv")
    fab = Fab(home, inv)
    argv = list(argv)
    if any("{foreign}" in a for a in argv):
        name = foreign_backup(fab)
        argv = [a.replace("{foreign}", name) for a in argv]
    if any("{applied}" in a for a in argv):
        argv = [a.replace("{applied}", applied_migration()) for a in argv]
    if isinstance(edit, dict):
        text = inv.read_text()
        for old, new in edit.items():
            assert old in text, old
            text = text.replace(old, new, 1)
        inv.write_text(text)
    elif callable(edit):
        edit(inv)
    elif edit == "dirty":
        subprocess.run(["sudo", "-u", "deploy", "touch", f"{APP}/stray.txt"], check=True)
    with db() as conn:
        before = fingerprints(conn)
    listing = host_listing()

    r = fab(*argv)
    assert r.returncode != 0, r.stdout + r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])
    with db() as conn:
        assert fingerprints(conn) == before
    assert host_listing() == listing
    assert not locked() and not os.path.exists("/tmp/pwned")
    subprocess.run(["rm", "-f", f"{APP}/stray.txt"], check=True)


# --- secrets and shell metacharacters ------------------------------------------------------
class PsSampler:
    """Every process's arguments on the host (this machine), sampled every 20 ms."""

    def __init__(self):
        self.seen, self.stop = set(), threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self.stop.is_set():
            self.seen.update(cmd for _pid, _ppid, cmd in procs())
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_secrets_never_appear_in_output_journals_manifests_or_process_arguments(sfab, db, secrets):
    with PsSampler() as ps:
        r = sfab("-H", "sandbox", "deploy.consolidate")          # with the JSON dumps too
    assert r.returncode == 0, r.stdout + r.stderr
    with db() as conn:
        tokens = [row[0] for row in conn.execute("SELECT key FROM accounts_apitoken").fetchall()]
    assert tokens, "the smoke login made no API token"
    values = {k: v for k, v in secrets.items() if v and k.startswith("SANDBOX_")}
    values.update({f"api token {i}": t for i, t in enumerate(tokens)})
    assert len(ps.seen) > 50                                      # the sampler saw the run
    journals = (sfab.hosts_file.parent / ".deploy-journal" / "sandbox.jsonl").read_text()
    remote = subprocess.run(["cat", f"{BACKUPS}/journal.jsonl"], capture_output=True, text=True).stdout
    name = re.search(r"backup: (\d{8}-\d{6}-[0-9a-f]{4})", r.stdout).group(1)
    backup_meta = "".join(Path(f"{BACKUPS}/{name}/{f}").read_text()
                          for f in ("manifest.json", "verified.json", "audit.json"))
    for label, value in values.items():
        for where, text in (("stdout", r.stdout), ("stderr", r.stderr), ("local journal", journals),
                            ("host journal", remote), ("backup metadata", backup_meta),
                            ("process arguments", "\n".join(ps.seen))):
            assert value not in text, f"{label} appears in {where}"
    # files the run wrote are private; the journal and lock dir are not world-writable
    mode = os.stat(f"{BACKUPS}/{name}").st_mode & 0o777
    assert mode == 0o700
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in Path(f"{BACKUPS}/{name}").iterdir())
    assert os.stat(f"{BACKUPS}/journal.jsonl").st_mode & 0o002 == 0
    assert os.stat(BACKUPS).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("edit", [
    {'dir = "/srv/recorder/backups"': 'dir = "/srv/recorder/it-$(touch /tmp/pwned-1)"'},
    {'dir = "/srv/recorder/backups"': "dir = \"/srv/recorder/it-`touch /tmp/pwned-2`\""},
    {'log_files = ["/srv/recorder/logs/gunicorn.log"]':
     'log_files = ["/srv/recorder/logs/gunicorn.log; touch /tmp/pwned-3"]'},
    {'name = "recorder"': 'name = "recorder\\"; touch /tmp/pwned-4; echo \\""'},
])
def test_shell_metacharacters_in_settings_are_data_not_commands(home, sandbox, tmp_path,
                                                                 reset_sandbox, edit):
    fab = Fab(home, make_inventory(tmp_path / "inv", **edit))
    for argv in (["-H", "sandbox", "backup.list"], ["-H", "sandbox", "verify.status"],
                 ["-H", "sandbox", "verify.logs"]):
        fab(*argv)
    assert not [p for p in os.listdir("/tmp") if p.startswith("pwned")]
