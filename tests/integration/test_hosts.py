"""Several hosts (issue: groups and roles, run-once migrations, parallel and rolling steps).

Four sandbox hosts on 127.0.0.1-4, each with its own sshd, work tree, venv, gunicorn and nginx
site, all on the one PostgreSQL; the group `sandbox-group` has `sandbox` (role db) as primary.
Outcomes are read independently: each host's journal, its /healthz (the commit its gunicorn was
started from), git on the host, the database's fingerprints, and an HTTP probe of every host.
"""
import json
import re
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.support.sandbox import INVOKE, ROOT, Fab, fingerprints, make_inventory

HOSTS = 4
NAMES = ["sandbox"] + [f"sandbox{k}" for k in range(2, HOSTS + 1)]
ADDRS = {name: f"127.0.0.{k}" for k, name in enumerate(NAMES, 1)}
ROOTS = {name: "/srv/recorder" if k == 1 else f"/srv/recorder-{k}" for k, name in enumerate(NAMES, 1)}


@pytest.fixture(scope="module")
def four_hosts(sandbox):
    """`invoke sandbox.up --hosts 4` (seconds when they are up already)."""
    r = subprocess.run([str(INVOKE), "sandbox.up", "--hosts", str(HOSTS)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sandbox-group" in (sandbox / "hosts.toml").read_text()
    return sandbox


@pytest.fixture
def gfab(home, four_hosts, tmp_path, reset_sandbox):
    return Fab(home, make_inventory(tmp_path / "inv"))


def origin_commit(ref):
    return subprocess.run(["git", "--git-dir", "/srv/git/recorder.git", "rev-parse", ref],
                          capture_output=True, text=True, check=True).stdout.strip()


def served_revision(name):
    """The commit the host's running gunicorn was started from (its /healthz says)."""
    with urllib.request.urlopen(f"http://{ADDRS[name]}:8080/healthz", timeout=5) as r:
        return json.loads(r.read())["revision"]


def tree_head(name):
    return subprocess.run(["sudo", "-u", "deploy", "git", "-C", f"{ROOTS[name]}/app", "rev-parse",
                           "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def journal(fab, name, run_id):
    path = fab.hosts_file.parent / ".deploy-journal" / f"{name}.jsonl"
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["run"] == run_id]


def run_id(output):
    import re
    m = re.search(r"\(run (\d{8}-\d{6}-[0-9a-f]{4})\)", output)
    assert m, output
    return m.group(1)


def applied(conn):
    return conn.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()


def no_locks():
    return [n for n in NAMES if subprocess.run(["test", "-e", f"{ROOTS[n]}/backups/deploy.lock"]).returncode == 0]


def test_group_deploy_migrates_once_on_the_primary_and_every_host_serves_v2(gfab, db):
    v1, v2 = origin_commit("v1"), origin_commit("v2")
    assert {served_revision(n) for n in NAMES} == {v1}
    with db() as conn:
        before = applied(conn)

    r = gfab("-H", "sandbox-group", "deploy.consolidate", "--no-json")
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    rid = run_id(out)

    # every host runs v2 now: its tree and the process serving HTTP
    assert {n: tree_head(n) for n in NAMES} == {n: v2 for n in NAMES}
    assert {n: served_revision(n) for n in NAMES} == {n: v2 for n in NAMES}
    with db() as conn:
        assert len(applied(conn)) == len(before) + 2            # v2's two migrations, once
        assert "workshops_userprofile" not in fingerprints(conn)

    # the journals: migrate.run ran on the primary only, and its migrate commands too
    for name in NAMES:
        records = journal(gfab, name, rid)
        steps = {x["step"] for x in records if x["kind"] == "step" and x["outcome"] == "ok"}
        migrate_cmds = [x for x in records if x["kind"] == "command"
                        and 'call_command("migrate"' in x.get("script", "")]
        assert {"code update", "maintenance.on", "restart", "maintenance.off",
                "verify.smoke"} <= steps, name
        if name == "sandbox":
            assert {"backup.create", "migrate.run", "verify.post"} <= steps
            assert len(migrate_cmds) == 2                          # two stages, once
        else:
            assert not {"backup.create", "migrate.run", "verify.post"} & steps, name
            assert migrate_cmds == [], name
    # the remote journal of a non-primary host agrees
    remote = subprocess.run(["cat", f"{ROOTS['sandbox3']}/backups/journal.jsonl"],
                            capture_output=True, text=True, check=True).stdout
    assert rid in remote and '"step": "migrate.run"' not in remote
    # one lock over the group, released everywhere; one summary line per host
    assert no_locks() == []
    for name in NAMES:
        assert f"  host {name}" in out
    assert "[sandbox3]   ok - " in out


def test_a_dirty_tree_on_one_host_stops_the_group_before_any_change(gfab, db):
    """Every host checks its tree in preflight (read-only): nothing is backed up or moved."""
    stray = f"{ROOTS['sandbox3']}/app/stray.txt"
    subprocess.run(["sudo", "-u", "deploy", "touch", stray], check=True)
    try:
        with db() as conn:
            before = fingerprints(conn)
        r = gfab("-H", "sandbox-group", "deploy.consolidate", "--no-json")
        assert r.returncode == 1, r.stdout
        assert "stopped at preflight" in r.stderr
        assert "[sandbox3]   FAILED: the work tree /srv/recorder-3/app has local changes" in r.stdout
        for name in ("sandbox", "sandbox2", "sandbox4"):
            assert f"[{name}]   ok - healthy" in r.stdout
        with db() as conn:
            assert fingerprints(conn) == before
        assert {n: tree_head(n) for n in NAMES} == {n: origin_commit("v1") for n in NAMES}
        assert subprocess.run(["ls", f"{ROOTS['sandbox']}/backups"], capture_output=True,
                              text=True).stdout.split() in ([], ["journal.jsonl"])
        assert no_locks() == []
    finally:
        subprocess.run(["rm", "-f", stray], check=True)


def test_a_failure_on_one_host_at_code_update_reports_every_host(gfab, db):
    """sandbox3's git cannot write its index (a stale index.lock): the update fails there only."""
    lock = f"{ROOTS['sandbox3']}/app/.git/index.lock"
    subprocess.run(["install", "-m", "0644", "-o", "root", "/dev/null", lock], check=True)
    v1 = origin_commit("v1")
    try:
        with db() as conn:
            before, migrations = fingerprints(conn), applied(conn)
        r = gfab("-H", "sandbox-group", "deploy.consolidate", "--no-json")
        out = r.stdout
        assert r.returncode == 1, out
        assert "stopped at code update" in r.stderr
        assert ("[sandbox3]   FAILED: git merge --ff-only failed in /srv/recorder-3/app (exit 1): "
                "error: Unable to create '/srv/recorder-3/app/.git/index.lock': File exists") in out
        for name in ("sandbox", "sandbox2", "sandbox4"):
            assert f"[{name}]   ok - " in out
        assert "failed on sandbox3" in r.stderr and "done on: sandbox, sandbox2, sandbox4" in r.stderr
        # nothing migrated, the data as it was; the lock released on every host
        with db() as conn:
            assert applied(conn) == migrations and fingerprints(conn) == before
        assert no_locks() == []
        # the stated recovery puts every host back on v1 (sandbox3 never moved)
        recover = [line.strip() for line in out.splitlines()
                   if line.strip().startswith("fab -H sandbox-group rollback.code --ref")]
        assert recover, out
        r2 = gfab(*shlex.split(recover[0])[1:], hosts_file=False)   # as printed
        assert r2.returncode == 0, r2.stdout + r2.stderr
        assert {n: tree_head(n) for n in NAMES} == {n: v1 for n in NAMES}
        assert {n: served_revision(n) for n in NAMES} == {n: v1 for n in NAMES}
    finally:
        subprocess.run(["rm", "-f", lock], check=True)


class Probe:
    """GET /healthz on every host, about 25 times a second each, from this process."""

    def __init__(self, timeout=2):
        self.samples, self.stop, self.timeout = [], threading.Event(), timeout
        self.threads = [threading.Thread(target=self._loop, args=(n,)) for n in NAMES]

    def _loop(self, name):
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://{ADDRS[name]}:8080/healthz",
                                            timeout=self.timeout) as r:
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError:
                status = 0
            self.samples.append((t, name, status))
            time.sleep(0.04)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()

    def most_down_at_once(self):
        """The largest number of hosts whose last answer was not 200, at any sample instant."""
        last, worst = {}, 0
        for _t, name, status in sorted(self.samples):
            last[name] = status
            worst = max(worst, sum(1 for s in last.values() if s != 200))
        return worst

    def failures(self):
        return {n: sum(1 for _t, name, s in self.samples if name == n and s != 200) for n in NAMES}


def gunicorn_pids():
    return {n: open(f"{ROOTS[n]}/run/gunicorn.pid").read().strip() for n in NAMES}


def test_rolling_restart_keeps_all_but_one_host_answering(home, four_hosts, tmp_path, reset_sandbox):
    gfab = Fab(home, make_inventory(tmp_path / "inv", **{'restart = "reload"': 'restart = "restart"'}))
    pids = gunicorn_pids()
    with Probe() as probe:
        r = gfab("-H", "sandbox-group", "deploy.restart", "--batch", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    after = gunicorn_pids()
    assert all(after[n] != pids[n] for n in NAMES), (pids, after)     # every host restarted
    # each host was seen down during its own restart, never two at once
    assert all(count > 0 for count in probe.failures().values()), probe.failures()
    assert probe.most_down_at_once() == 1
    assert "batch 4/4: sandbox4" in r.stdout

    # the measure can fail: all four at once are seen down together
    with Probe() as probe:
        r = gfab("-H", "sandbox-group", "deploy.restart", "--batch", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    assert probe.most_down_at_once() >= 2


def test_reload_on_every_host_at_once_keeps_every_host_answering(gfab):
    """service.restart = "reload" (the sandbox's): gunicorn's HUP swaps the workers under the same
    master, so even all hosts at once never stop answering, and each proves the commit it serves."""
    pids = gunicorn_pids()
    # a request may wait while 8 new workers boot Django on this machine's 2 cores: slow under
    # load is not down, so the probe waits up to 10 s; an error status or refusal still counts
    with Probe(timeout=10) as probe:
        r = gfab("-H", "sandbox-group", "deploy.restart", "--batch", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    assert gunicorn_pids() == pids                                   # the same masters: reloaded
    v1 = origin_commit("v1")
    for n in NAMES:
        assert re.search(rf"^\[{n}\]\s+ok - recorder\S* reloaded, serving {v1[:12]}", r.stdout,
                         re.M), (n, r.stdout)
    assert probe.failures() == {n: 0 for n in NAMES}, sorted(
        {(n, st) for _t, n, st in probe.samples if st != 200})
    assert all(served_revision(n) == v1 for n in NAMES)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_batch_is_refused_before_anything_runs(gfab, value):
    pids = gunicorn_pids()
    r = gfab("-H", "sandbox-group", "deploy.restart", "--batch", value)
    assert r.returncode == 2
    assert f"--batch {value!r} must be a whole number of hosts, 1 or more, or all" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert gunicorn_pids() == pids


def test_one_lock_covers_the_group(gfab):
    """A lock held on one member refuses the group run; no other member is left locked."""
    held = f"{ROOTS['sandbox3']}/backups/deploy.lock"
    info = {"run": "20260101-000000-beef", "task": "deploy.consolidate", "user": "someone",
            "machine": "elsewhere", "pid": 1, "since": "2026-01-01T00:00:00+00:00", "args": {}}
    subprocess.run(["sudo", "-u", "deploy", "tee", held], input=json.dumps(info) + "\n",
                   text=True, capture_output=True, check=True)
    pids = gunicorn_pids()
    r = gfab("-H", "sandbox-group", "deploy.consolidate", "--no-json")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "the deploy lock on sandbox3 is held by someone@elsewhere" in r.stderr
    assert no_locks() == ["sandbox3"]
    assert gunicorn_pids() == pids and {served_revision(n) for n in NAMES} == {origin_commit("v1")}
    subprocess.run(["rm", "-f", held], check=True)


def test_group_maintenance_on_and_off_reach_every_web_host(gfab):
    r = gfab("-H", "sandbox-group", "maintenance.on")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in NAMES:
        try:
            urllib.request.urlopen(f"http://{ADDRS[name]}:8080/workshops/", timeout=5)
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == 503, name
    r = gfab("-H", "sandbox-group", "maintenance.status")
    assert r.returncode == 0 and r.stdout.count("maintenance ON: public 503") == HOSTS, r.stdout
    r = gfab("-H", "sandbox-group", "maintenance.off")
    assert r.returncode == 0 and r.stdout.count("maintenance OFF") == HOSTS, r.stdout
    assert all(urllib.request.urlopen(f"http://{ADDRS[n]}:8080/workshops/", timeout=5).status == 200
               for n in NAMES)
    # a one-host task refuses a group, naming the fix
    r = gfab("-H", "sandbox-group", "verify.status")
    assert r.returncode == 2 and "'sandbox-group' is a group" in r.stderr and "-H sandbox" in r.stderr


def test_group_resume_after_a_fixed_fault_ends_with_every_host_on_v2(gfab, db, tmp_path):
    """nginx -t fails on every host at maintenance.on; fixed, --resume on the group keeps the
    primary's backup and audit, finds every tree already moved, and ends like a clean deploy."""
    from pathlib import Path
    broken = Path("/etc/nginx/conf.d/zz-resume-broken.conf")
    broken.write_text("this is not nginx syntax;\n")
    try:
        r = gfab("-H", "sandbox-group", "deploy.consolidate", "--no-json")
        assert r.returncode == 1 and "maintenance.on FAILED" in r.stdout, r.stdout
    finally:
        broken.unlink(missing_ok=True)
    first = run_id(r.stdout)
    r = gfab("-H", "sandbox-group", "deploy.consolidate", "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "backup.create kept" in r.stdout and f"{first} of run {first}" in r.stdout
    for name in NAMES:
        assert "ok, " in next(x for x in r.stdout.splitlines() if f"host {name}" in x), r.stdout
        assert tree_head(name) == served_revision(name) == origin_commit("v2")
        ends = [x for x in journal(gfab, name, run_id(r.stdout)) if x.get("event") == "end"]
        assert ends[-1]["outcome"] == "ok" and ends[-1]["resumed"] == first
    assert not no_locks()
