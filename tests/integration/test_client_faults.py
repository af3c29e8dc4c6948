"""Issue 21: the operator's side fails mid-run.

A network that stalls instead of closing (packets stop, no FIN, no RST), between fab
and the sandbox's sshd, by a loopback relay (tests/support/relay.py).

The run notices within ssh_alive_interval x (ssh_alive_count_max + 1) seconds, stops with the
host state and the recovery named, tries no new connection, and leaves its lock; the recovery it
printed starts with the `deploy.unlock` that first makes sure no command of the lost run still
runs on the host (their environment holds RB_RUN=<run id>), and is run here word for word.

The operator's machine dies (`kill -9` of `fab`: a closed laptop, an OOM kill) and prints
nothing: the next run names the lock STALE with the `deploy.unlock` that removes it; run as
printed, it checks that no command of the dead run still runs, and prints the `--resume` that,
run as printed, ends like a clean run (the code, every table's data, the site).
"""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.relay import Relay, relayed_fab
from tests.support.sandbox import (
    BACKUPS,
    INVOKE,
    ROOT,
    STATE,
    Fab,
    Watch,
    fingerprints,
    head,
    locked,
    make_inventory,
    run_processes,
    status,
    tag,
)
from tests.support.sandbox import deploy_data as data

pytestmark = [pytest.mark.integration, pytest.mark.faults]

INTERVAL, COUNT = 2, 2   # the inventory's ssh_alive_interval and ssh_alive_count_max here


@pytest.fixture
def relayed(home, sandbox, tmp_path, reset_sandbox):
    """(relay, fab): an inventory whose host `sandbox` is reached through the relay."""
    relay = Relay()
    yield relay, relayed_fab(home, tmp_path / "inv", relay, INTERVAL, COUNT)
    relay.close()


def test_a_stall_during_migrate_stops_within_the_bound_and_the_printed_recovery_restores(relayed, db):
    relay, fab = relayed
    with db() as conn:
        before = fingerprints(conn)
    stalled = []
    w = Watch(fab, "-H", "sandbox", "deploy.consolidate", "--no-json")
    w.when("[9/14] migrate.run ...", lambda: (relay.stall(), stalled.append(time.monotonic())))
    r = w.start().finish(timeout=300)
    took = time.monotonic() - stalled[0]
    out = r.stdout
    assert r.returncode != 0, out
    # the bound the inventory sets (the first probe after INTERVAL, its answer awaited
    # INTERVAL x COUNT), plus printing and exiting: no new connection is tried
    assert took < INTERVAL * (COUNT + 1) + 10, (took, out)
    assert "[9/14] migrate.run FAILED: the SSH connection to sandbox was lost: no answer over SSH" in out
    assert "Stopped at checkpoint 'migrate.run'" in out and "maintenance is ON" in out
    assert "the deploy lock on sandbox stays (the connection was lost)" in out
    assert locked()
    run_id = re.search(r"\(run (\d{8}-\d{6}-[0-9a-f]{4})\)", out).group(1)
    recovery = out.split("Recover with:", 1)[1]
    cmds = [ln.strip() for ln in recovery.splitlines() if ln.strip().startswith("fab -H")]
    assert [c.split()[3] for c in cmds] == ["deploy.unlock", "rollback.restore"], out

    # the network comes back: the dead link's TCP connections are torn down, new ones pass;
    # sshd then closes the lost sessions, and what the run left running there ends with them
    relay.reset()
    deadline = time.monotonic() + 60
    while run_processes(run_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run_processes(run_id) == []
    for cmd in cmds:   # word for word, its --hosts-file the run's (through the relay)
        rr = fab(*shlex.split(cmd)[1:], hosts_file=False)
        assert rr.returncode == 0, cmd + "\n" + rr.stdout + rr.stderr
        if "deploy.unlock" in cmd:
            assert f"no command of run {run_id} still runs on the host" in rr.stdout
    assert not locked()
    with db() as conn:
        assert fingerprints(conn) == before
    assert head() == tag("v1") and status()[0] == 200


def stale_lock(run_id, task):
    """The lock a run that died on another machine left on the sandbox; its run id."""
    lock_line = json.dumps({"run": run_id, "task": task, "args": {},
                            "since": "2026-12-03T00:00:00+00:00", "user": "ci",
                            "machine": "a-laptop-gone", "pid": 999999})
    Path(f"{BACKUPS}/deploy.lock").write_text(lock_line + "\n")
    shutil.chown(f"{BACKUPS}/deploy.lock", "deploy", "deploy")
    return run_id


def test_unlock_refuses_while_a_lost_runs_command_still_runs_and_stop_ends_it(relayed):
    """A lost run whose command goes on on the host (a stalled session sshd has not dropped yet):
    `deploy.unlock` names it and keeps the lock; the `--stop` it prints ends it by pid."""
    _relay, fab = relayed
    run_id = stale_lock("20261203-000000-dead", "deploy.consolidate")
    # the lost run's command, as the SSH user, with the environment every command of a run has
    holder = subprocess.Popen(["sleep", "300"], user="deploy", group="deploy", extra_groups=[], cwd="/",
                              env={"PATH": "/usr/bin:/bin", "RB_RUN": run_id})
    try:
        deadline = time.monotonic() + 10
        while not run_processes(run_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        (pid,) = run_processes(run_id)
        r = fab("-H", "sandbox", "deploy.unlock", "--reason", "lost run")
        assert r.returncode == 1 and locked(), r.stdout + r.stderr
        line = r.stderr.strip().splitlines()[-1]
        assert f"run {run_id}'s commands still run on sandbox: {pid} " in line and "sleep 300" in line
        stop = line.rsplit("end them: ", 1)[1]
        rr = fab(*shlex.split(stop)[1:], hosts_file=False)
        assert rr.returncode == 0, rr.stdout + rr.stderr
        assert f"run {run_id}'s process {pid} ended" in rr.stdout
        assert holder.wait(timeout=5) == -15 and not locked()
    finally:
        if holder.poll() is None:
            holder.kill()


SLEEP, TAIL = "/bin/sleep 301", r"\S*python\S* \S*supervisorctl tail -f recorder"


def test_unlock_finds_a_lost_runs_sudo_commands_ends_the_postgres_ones_and_waits_for_root(sfab):
    """Commands a lost run started through sudo (pg_dump as postgres, pg_upgradecluster as root),
    whose environment the SSH user cannot read and which get no RB_RUN from sudo: found by their
    shell's session; --stop ends the postgres one, and refuses, lock kept, while a root one runs."""
    fab = sfab
    run_id = stale_lock("20261203-000000-5udo", "pg_upgrade.run")
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={STATE}/known_hosts",
           "-i", f"{STATE}/id_ed25519", "-p", "2222", "deploy@127.0.0.1"]
    # as the tool sends them in a run (host/connection.py): the run's export, the shell kept
    as_postgres = f"export RB_RUN={run_id} && sudo -n -u postgres /bin/sleep 301\nexit $?"
    # (a root command that writes nothing: one that writes dies of SIGPIPE once the client is gone)
    as_root = f"export RB_RUN={run_id} && sudo -n supervisorctl tail -f recorder >/dev/null\nexit $?"
    clients = [subprocess.Popen([*ssh, cmd], stdout=subprocess.DEVNULL) for cmd in (as_postgres, as_root)]
    try:
        deadline = time.monotonic() + 10
        while not all((pids := {name: pgrep(name) for name in (SLEEP, TAIL)}).values()) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        for client in clients:   # the laptop is gone: the commands go on without it
            client.kill()
        sleep_pid, tail_pid = pids[SLEEP], pids[TAIL]
        assert sleep_pid and tail_pid, pids

        r = fab("-H", "sandbox", "deploy.unlock", "--reason", "lost run")
        assert r.returncode == 1 and locked(), r.stdout + r.stderr
        line = r.stderr.strip().splitlines()[-1]
        assert f"{sleep_pid} " in line and "postgres /bin/sleep 301" in line, line
        assert f"{tail_pid} " in line and "supervisorctl tail -f recorder" in line, line

        stop = line.rsplit("end them: ", 1)[1]
        rr = fab(*shlex.split(stop)[1:], hosts_file=False)
        assert rr.returncode == 1 and locked(), rr.stdout + rr.stderr
        assert f"run {run_id}'s process {sleep_pid} ended" in rr.stdout
        assert re.search(rf"process\(es\) [0-9, ]*\b{tail_pid}\b[0-9, ]* still run on sandbox: root's",
                         rr.stderr), rr.stderr
        assert not pgrep(SLEEP) and pgrep(TAIL) == tail_pid

        os.kill(tail_pid, signal.SIGTERM)   # what started it may end it; then the unlock passes
        deadline = time.monotonic() + 10
        while pgrep(TAIL) and time.monotonic() < deadline:
            time.sleep(0.1)
        ok = fab(*shlex.split(stop)[1:], hosts_file=False)
        assert ok.returncode == 0 and not locked(), ok.stdout + ok.stderr
    finally:
        for name in (SLEEP, TAIL):
            if pid := pgrep(name):
                os.kill(pid, signal.SIGKILL)


def pgrep(pattern):
    """The pid of the one process whose whole command line matches `pattern`, or None."""
    out = subprocess.run(["pgrep", "-x", "-f", pattern], capture_output=True, text=True).stdout.split()
    return int(out[0]) if len(out) == 1 else None


# where the client dies: before anything changed, in the backup, in the migrations, in the restart
KILL_AT = ["[2/14] backup.create ...", "[9/14] migrate.run ...", "[11/14] restart ..."]


@pytest.fixture(scope="module")
def after_clean(sandbox, secrets, tmp_path_factory):
    """Every table's data after a clean deploy.consolidate of v2 (each test resets first)."""
    fab = Fab(tmp_path_factory.mktemp("home"), make_inventory(tmp_path_factory.mktemp("inv")))
    assert subprocess.run([str(INVOKE), "sandbox.reset"], cwd=ROOT).returncode == 0
    r = fab("-H", "sandbox", "deploy.consolidate", "--no-json")
    assert r.returncode == 0, r.stdout + r.stderr
    with psycopg.connect(host="127.0.0.1", port=5432, dbname="recorder", user="recorder",
                         password=secrets["SANDBOX_DB_PASSWORD"]) as conn:
        return data(conn)


@pytest.mark.parametrize("at", KILL_AT)
def test_a_killed_client_leaves_a_stale_lock_whose_printed_unlock_and_resume_finish_the_run(
        sfab, db, after_clean, at):
    w = Watch(sfab, "-H", "sandbox", "deploy.consolidate", "--no-json")
    w.when(at, lambda: w.proc.send_signal(signal.SIGKILL)).start()
    killed = w.finish(timeout=300)
    assert w.fired and killed.returncode == -signal.SIGKILL, killed.stdout
    dead = re.search(r"\(run (\d{8}-\d{6}-[0-9a-f]{4})\)", killed.stdout).group(1)
    assert locked()
    # its commands on the host end with its SSH session (the kernel closed the connection)
    deadline = time.monotonic() + 60
    while run_processes(dead) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run_processes(dead) == []

    again = sfab("-H", "sandbox", "deploy.consolidate", "--no-json")
    assert again.returncode == 4 and "STALE" in again.stderr and dead in again.stderr, again.stderr
    unlock = again.stderr.split("if it is dead run: ", 1)[1].strip().splitlines()[0]
    u = sfab(*shlex.split(unlock)[1:], hosts_file=False)
    assert u.returncode == 0, u.stdout + u.stderr
    assert f"no command of run {dead} still runs on the host" in u.stdout and not locked()
    resume = u.stdout.split(f"to go on from where run {dead} stopped: ", 1)[1].split(";")[0]
    assert resume.split()[3:5] == ["deploy.consolidate", "--resume"], u.stdout

    r = sfab(*shlex.split(resume)[1:], hosts_file=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resuming run {dead}, which stopped at the step after" in r.stdout or \
        "before changing anything" in r.stdout, r.stdout
    assert head() == tag("v2") and status()[0] == 200 and not locked()
    with db() as conn:
        assert data(conn) == after_clean
