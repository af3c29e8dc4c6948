"""Issue 21: a network that stalls instead of closing (packets stop, no FIN, no RST), between fab
and the sandbox's sshd, by a loopback relay (tests/support/relay.py).

The run notices within ssh_alive_interval x (ssh_alive_count_max + 1) seconds, stops with the
host state and the recovery named, tries no new connection, and leaves its lock; the recovery it
printed starts with the `deploy.unlock` that first makes sure no command of the lost run still
runs on the host (their environment holds RB_RUN=<run id>), and is run here word for word.
"""
import json
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.relay import Relay
from tests.support.sandbox import (
    BACKUPS,
    STATE,
    Fab,
    Watch,
    fingerprints,
    head,
    locked,
    make_inventory,
    status,
    tag,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

INTERVAL, COUNT = 2, 2   # the inventory's ssh_alive_interval and ssh_alive_count_max here


def run_processes(run_id):
    """Processes on the host (this machine) whose environment holds RB_RUN=run_id, read as root."""
    found = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"RB_RUN={run_id}".encode() in env.read_bytes().split(b"\0"):
                found.append(int(env.parent.name))
        except OSError:
            continue
    return found


@pytest.fixture
def relayed(home, sandbox, tmp_path, reset_sandbox):
    """(relay, fab): an inventory whose host `sandbox` is reached through the relay."""
    relay = Relay()
    inv = make_inventory(tmp_path / "inv", **{
        "port = 2222": f"port = {relay.port}\nssh_alive_interval = {INTERVAL}\n"
                       f"ssh_alive_count_max = {COUNT}"})
    kind, key = (Path("/etc/deploy-sandbox/ssh_host_ed25519_key.pub").read_text().split()[:2])
    known = tmp_path / "inv" / "known_hosts"
    known.write_text(f"[127.0.0.1]:{relay.port} {kind} {key}\n")
    inv.write_text(inv.read_text().replace(f'known_hosts = "{STATE}/known_hosts"',
                                           f'known_hosts = "{known}"'))
    yield relay, Fab(home, inv)
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


def test_unlock_refuses_while_a_lost_runs_command_still_runs_and_stop_ends_it(relayed):
    """A lost run whose command goes on on the host (a stalled session sshd has not dropped yet):
    `deploy.unlock` names it and keeps the lock; the `--stop` it prints ends it by pid."""
    _relay, fab = relayed
    run_id = "20261203-000000-dead"
    lock_line = json.dumps({"run": run_id, "task": "deploy.consolidate", "args": {},
                            "since": "2026-12-03T00:00:00+00:00", "user": "ci",
                            "machine": "a-laptop-gone", "pid": 999999})
    Path(f"{BACKUPS}/deploy.lock").write_text(lock_line + "\n")
    shutil.chown(f"{BACKUPS}/deploy.lock", "deploy", "deploy")
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
