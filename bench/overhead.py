#!/usr/bin/env python3
"""Benchmark: deploy.consolidate against its floor (the same remote commands as one plain
`ssh host bash -s` script) and against an Ansible playbook doing the same steps.

    .venv/bin/python bench/overhead.py [--runs 5] [--out FILE]

1. Records the commands of one real deploy (bench/fabrec.py: every remote command with its
   stdin, unmasked) and writes them, in order, into one bash script: the floor. Each command runs
   in its own subshell (as sshd gives each exec its own shell), its stdin a quoted here-document
   (or /dev/null). No checks between them: the floor is what the work costs, nothing more.
2. Counts, through a TCP relay in front of the sandbox's sshd, the SSH connections each way
   makes per deploy, and its remote round trips (exec requests: the tool's recorded commands,
   the floor's one script, Ansible's ssh invocations through a counting wrapper).
3. Times `--runs` rounds of tool, floor and Ansible, interleaved, each after
   `invoke sandbox.reset` (v1, seeded database), and checks after each that v2 serves and the
   destructive migration ran. Issue goals: tool <= 1.15 x floor; tool <= 0.5 x Ansible.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BIN,
    ROOT,
    STATE,
    CountingProxy,
    as_postgres_sql,
    fab_env,
    fmt_row,
    inventory,
    profile_lines,
    profiled,
    reset,
    secrets,
    sh,
    ssh_argv,
    verdict,
    write_section,
)

HERE = Path(__file__).resolve().parent
PLAYBOOK = HERE / "ansible" / "deploy.yml"
FAB = ["deploy.consolidate", "--no-json"]


def floor_script(records):
    """The recorded commands as one bash script, in order, each in its own subshell."""
    parts = ["# floor: the remote commands of one deploy.consolidate, replayed in one script"]
    for i, r in enumerate(records):
        if r["stdin"] is None:
            parts.append(f"( {r['command']}\n) </dev/null")
        else:
            body = r["stdin"] if r["stdin"].endswith("\n") else r["stdin"] + "\n"
            tag = f"__BENCH_FLOOR_{i}__"
            parts.append(f"( {r['command']}\n) <<'{tag}'\n{body}{tag}")
    return "\n".join(parts) + "\n"


def deployed():
    """True when the sandbox serves v2: the destructive migration ran and health is 200."""
    gone = as_postgres_sql("SELECT to_regclass('public.workshops_userprofile') IS NULL", db="recorder")
    code = sh("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
              "http://127.0.0.1:8080/healthz", check=False).stdout
    return gone == "t" and code == "200"


def round_trip_ms(n=50):
    """Milliseconds one SSH exec round trip costs on this host, `true` n times over one
    connection: (plain Fabric, the tool's DeployConnection). sshd forks a session and a shell for
    each either way; plain paramiko also waits out TCP delayed ACKs (runbook/host/connection.py)."""
    from fabric import Connection
    from invoke import Config

    sys.path.insert(0, str(ROOT))
    from runbook.host import inventory as inv_mod
    from runbook.host.connection import DeployConnection

    def timed(c):
        try:
            c.run("true", hide=True)
            start = time.monotonic()
            for _ in range(n):
                c.run("true", hide=True)
            return (time.monotonic() - start) / n * 1000
        finally:
            c.close()

    plain = Connection("127.0.0.1", user="deploy", port=2222,
                       connect_kwargs={"key_filename": [str(STATE / "id_ed25519")], "look_for_keys": False})
    ours = DeployConnection(inv_mod.load(STATE / "hosts.toml").site("sandbox"), config=Config())
    return timed(plain), timed(ours)


class Ways:
    """The three ways to deploy, each runnable direct or through a counting proxy port."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.env = fab_env()
        self.inv = inventory(tmp / "inv")
        self.floor = None
        s = secrets()
        self.vars = tmp / "vars.json"
        fd = os.open(self.vars, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"app_dir": "/srv/recorder/app", "venv": "/srv/recorder/venv",
                       "db_name": "recorder", "db_port": 5432, "backup_dir": "/srv/recorder/backups",
                       "run_id": "ansible-run", "program": "recorder",
                       "maintenance_flag": "/srv/recorder/maintenance/maintenance.on",
                       "maintenance_page": "/srv/recorder/maintenance/maintenance.html",
                       "maintenance_snippet": "/etc/nginx/deploy.d/recorder-maintenance.conf",
                       "page_src": str(ROOT / "runbook" / "ops" / "templates" / "maintenance.html"),
                       "health_url": "http://127.0.0.1:8080/healthz", "site": "http://127.0.0.1:8080",
                       "log_file": "/srv/recorder/logs/gunicorn.log",
                       "bypass_secret": s["SANDBOX_BYPASS_SECRET"],
                       "pybot_password": s["SANDBOX_PYBOT_PASSWORD"]}, f)

    def tool(self, port=None, record=None):
        inv = inventory(self.tmp / f"inv-{port}", port=port) if port else self.inv
        if record:
            env = {**self.env, "BENCH_RECORD": str(record)}
            return sh(BIN / "python", HERE / "fabrec.py", "-H", "sandbox", *FAB, "--hosts-file", inv,
                      env=env)
        return sh(BIN / "fab", "-H", "sandbox", *FAB, "--hosts-file", inv, env=self.env)

    def floor_run(self, port=None):
        known = None
        if port:
            inventory(self.tmp / f"inv-{port}", port=port)
            known = self.tmp / f"inv-{port}" / "known_hosts"
        return sh(*ssh_argv(port=port or 2222, known=known), "bash -s", input=self.floor)

    def ansible(self, port=None, count_log=None):
        run = Path(tempfile.mkdtemp(prefix="ansible-", dir=self.tmp))
        known = STATE / "known_hosts"
        if port:
            inventory(self.tmp / f"inv-{port}", port=port)
            known = self.tmp / f"inv-{port}" / "known_hosts"
        (run / "hosts.ini").write_text(
            f"sandbox ansible_host=127.0.0.1 ansible_port={port or 2222} ansible_user=deploy "
            f"ansible_ssh_private_key_file={STATE / 'id_ed25519'} "
            f"ansible_ssh_common_args='-o UserKnownHostsFile={known} -o IdentitiesOnly=yes'\n")
        env = {**os.environ, "ANSIBLE_CONFIG": str(HERE / "ansible" / "ansible.cfg"),
               "ANSIBLE_HOME": str(run / "home"), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(run / "cp"),
               "ANSIBLE_LOCAL_TEMP": str(run / "tmp"), "HOME": str(run / "home")}
        if count_log:
            wrapper = run / "ssh-count"
            wrapper.write_text(f"#!/bin/sh\necho \"$*\" >> {count_log}\nexec ssh \"$@\"\n")
            wrapper.chmod(0o755)
            env["ANSIBLE_SSH_EXECUTABLE"] = str(wrapper)
        try:
            return sh(BIN / "ansible-playbook", "-i", run / "hosts.ini", PLAYBOOK,
                      "-e", f"@{self.vars}", env=env)
        finally:   # end the multiplexing master this run started (ControlPersist)
            for sock in (run / "cp").glob("*"):
                sh("ssh", "-o", f"ControlPath={sock}", "-O", "exit", "sandbox", check=False, quiet=True)


def counted(ways, kind, **kwargs):
    reset()
    proxy = CountingProxy()
    try:
        getattr(ways, kind)(port=proxy.port, **kwargs)
        time.sleep(0.3)   # let a closing connection finish
    finally:
        proxy.close()
    if not deployed():
        sys.exit(f"bench/overhead: the {kind} deploy did not leave v2 serving")
    return proxy.connections


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", help="also write the Markdown section to this file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    os.chmod(tmp, 0o700)
    ways = Ways(tmp)

    # 1-2. record one deploy (through the counting relay), build the floor, count the others
    record = tmp / "commands.jsonl"
    tool_conns = counted(ways, "tool", record=record)
    records = [json.loads(x) for x in record.read_text().splitlines()]
    ways.floor = floor_script(records)
    (tmp / "floor.sh").write_text(ways.floor)
    floor_conns = counted(ways, "floor_run")
    count_log = tmp / "ansible-ssh.log"
    ansible_conns = counted(ways, "ansible", count_log=count_log)
    ansible_execs = len(count_log.read_text().splitlines())
    print(f"connections: tool {tool_conns}, floor {floor_conns}, ansible {ansible_conns}; "
          f"round trips: tool {len(records)}, ansible {ansible_execs}", flush=True)

    rt_ms = round_trip_ms()

    # 3. timed rounds, interleaved
    times = {"tool": [], "floor": [], "ansible": []}
    for i in range(args.runs):
        for kind, fn in (("tool", ways.tool), ("floor", ways.floor_run), ("ansible", ways.ansible)):
            reset()
            start = time.monotonic()
            fn()
            times[kind].append(time.monotonic() - start)
            if not deployed():
                sys.exit(f"bench/overhead: run {i + 1}: the {kind} deploy did not leave v2 serving")
            print(f"run {i + 1}/{args.runs}: {kind} {times[kind][-1]:.2f}s", flush=True)
    reset()

    med = {k: statistics.median(v) for k, v in times.items()}
    r_floor, r_ansible = med["tool"] / med["floor"], med["tool"] / med["ansible"]
    ok_floor, ok_ansible = r_floor <= 1.15, r_ansible <= 0.5
    profile = ""
    if not (ok_floor and ok_ansible):
        reset()
        profile = profiled("-H", "sandbox", *FAB, "--hosts-file", ways.inv, env=ways.env)
        reset()
    section = render(args.runs, times, r_floor, r_ansible, ok_floor, ok_ansible, records,
                     (tool_conns, floor_conns, ansible_conns, ansible_execs), profile, rt_ms)
    write_section(section, args.out)


def render(runs, times, r_floor, r_ansible, ok_floor, ok_ansible, records, counts, profile, rt_ms):
    tool_conns, floor_conns, ansible_conns, ansible_execs = counts
    lines = [
        "## Overhead: deploy.consolidate against the plain-script floor and Ansible",
        "",
        "Goals: the tool at most 1.15 x the floor; at most 0.5 x Ansible's time. One SSH connection "
        "per host per run.",
        "",
        f"Command: `.venv/bin/python bench/overhead.py --runs {runs}`. Each run starts from "
        "`invoke sandbox.reset` (v1, the default seeded database) and deploys v1 -> v2 on the one "
        "host `sandbox`; afterwards the bench checks that the destructive migration ran and "
        "`/healthz` answers 200. The three ways, interleaved within each round:",
        "",
        f"- **tool**: `fab -H sandbox {' '.join(FAB)}` (the JSON dumps off, as in the hosts bench);",
        f"- **floor**: the {len(records)} remote commands that one such deploy ran (recorded with "
        "`bench/fabrec.py`, with their stdin), replayed in order in one "
        "`ssh -p 2222 deploy@127.0.0.1 bash -s` (no ControlMaster), each in "
        "its own subshell, no checks in between;",
        "- **Ansible**: `ansible-playbook bench/ansible/deploy.yml` (ansible-core from PyPI, "
        "`bench/ansible/ansible.cfg`: no fact gathering, pipelining on, ControlPersist "
        "multiplexing - Ansible's own speed settings) doing the same steps: preflight (service, "
        "health, disk, fetch, clean tree), the deploy lock, `pg_dump -Fc` + globals verified by a "
        "full `pg_restore -f /dev/null` read, the audit queries, `git merge --ff-only`, the "
        "pending migrations, the maintenance snippet + `nginx -t` + reload + flag, the staged "
        "migrations with the invariant between them, the post checks, "
        "the reload (`supervisorctl signal HUP`, as the tool does on the sandbox: "
        "`service.restart = \"reload\"`) and a health poll until `/healthz` names the "
        "deployed commit, maintenance off, the 4 smoke requests and a "
        "log check.",
        "",
        "| way | runs | median s | min-max s | ratio of the tool to it |",
        "|---|---|---|---|---|",
    ]
    base = statistics.median(times["tool"])
    for kind, label in (("tool", "tool (fab deploy.consolidate)"), ("floor", "floor (one ssh bash -s)"),
                        ("ansible", "Ansible playbook")):
        med = statistics.median(times[kind])
        row = fmt_row(label, times[kind], digits=2)
        lines.append(row[:-2] + f" | {base / med:.2f} |")
    lines += [
        "",
        "SSH connections per deploy (counted by a TCP relay in front of the sandbox's sshd, one "
        "extra run each) and remote round trips (exec requests):",
        "",
        "| way | SSH connections | round trips |",
        "|---|---|---|",
        f"| tool | {tool_conns} | {len(records)} (one per remote command; scripts go on stdin) |",
        f"| floor | {floor_conns} | 1 |",
        f"| Ansible | {ansible_conns} | {ansible_execs} (ssh invocations over the multiplexed "
        "connection) |",
        "",
        f"One SSH exec round trip costs {rt_ms[1]:.0f} ms over the tool's connection on this host "
        f"(`true` 50 times over one connection; sshd sets up a session and a shell for each), "
        f"against {rt_ms[0]:.0f} ms over a plain Fabric connection, whose paramiko socket waits "
        f"out TCP delayed ACKs (the tool sets TCP_NODELAY). The tool's "
        f"{len(records)} round trips cost about {len(records) * rt_ms[1] / 1000:.1f} s that the "
        f"floor's one script does not pay; the gap between the two medians is "
        f"{statistics.median(times['tool']) - statistics.median(times['floor']):.1f} s.",
        "",
        verdict(ok_floor, f"the tool takes {r_floor:.2f} x the floor (goal 1.15 x)"),
        verdict(ok_ansible, f"the tool takes {r_ansible:.2f} x Ansible's time (goal 0.5 x)"),
        verdict(tool_conns == 1, f"{tool_conns} SSH connection(s) per host per run (goal 1)"),
    ]
    lines += profile_lines("one tool run", profile)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
