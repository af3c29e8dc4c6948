"""Integration helpers: `fab` run as a user would against the sandbox host (this machine), and
the host's state read independently of the tool (git, psql, pg_lsclusters, HTTP, files).

The fixtures built on these (sandbox, secrets, db, fab, sfab...) are in tests/integration/conftest.py.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from runbook.postgres.db import FINGERPRINT_SQL

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".sandbox"        # the sandbox's client-side files (inventory, keys, .env)
FAB = Path(sys.executable).parent / "fab"
INVOKE = Path(sys.executable).parent / "invoke"

# the recorder app on the sandbox
SITE = "http://127.0.0.1:8080"
APP = "/srv/recorder/app"
BACKUPS = "/srv/recorder/backups"
PG_UPGRADE_STATE = Path(BACKUPS) / "pg_upgrade.json"


def make_inventory(dest_dir, text=None, **replace):
    """A copy of the sandbox inventory in dest_dir (with its .env), with `old=new` edits."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    text = text or (STATE / "hosts.toml").read_text()
    text = text.replace('known_hosts = "known_hosts"', f'known_hosts = "{STATE}/known_hosts"')
    text = text.replace('identity_file = "id_ed25519"', f'identity_file = "{STATE}/id_ed25519"')
    text = text.replace('project = "../sandbox/deploy.toml"', f'project = "{ROOT}/sandbox/deploy.toml"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    (dest_dir / "hosts.toml").write_text(text)
    env = dest_dir / ".env"
    env.write_text((STATE / ".env").read_text())
    env.chmod(0o600)
    return dest_dir / "hosts.toml"


def default_sigint():
    """Popen's preexec_fn: the child gets SIGINT's default disposition. A test started from a
    background shell inherits SIGINT ignored, and Python then never raises KeyboardInterrupt:
    the Ctrl-C tests would send a signal the tool cannot see."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Fab:
    """Runs `fab` as a user would, in a subprocess, and keeps the result."""

    def __init__(self, home, hosts_file):
        self.home, self.hosts_file = home, hosts_file

    def __call__(self, *args, hosts_file=True, timeout=600, env=None, **kwargs):
        argv = [str(FAB), *args]
        if hosts_file:
            argv += ["--hosts-file", str(self.hosts_file)]
        e = {**os.environ, "HOME": str(self.home), "PYTHONUNBUFFERED": "1", **(env or {})}
        return subprocess.run(argv, cwd=ROOT, env=e, capture_output=True, text=True,
                              timeout=timeout, **kwargs)

    def popen(self, *args, **kwargs):
        argv = [str(FAB), *args, "--hosts-file", str(self.hosts_file)]
        e = {**os.environ, "HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(argv, cwd=ROOT, env=e, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint,
                                **kwargs)


class Watch:
    """`fab` in the background; `when(text, action)` runs the action once the output shows text."""

    def __init__(self, sfab, *args):
        self.proc = sfab.popen(*args)
        self.lines, self.triggers = [], []
        self.reader = threading.Thread(target=self._read, daemon=True)

    def when(self, text, action):
        self.triggers.append([text, action, False])
        return self

    def start(self):
        self.reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            for trig in self.triggers:
                if not trig[2] and trig[0] in line:
                    trig[2] = True
                    trig[1]()

    def finish(self, timeout=300):
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return subprocess.CompletedProcess(self.proc.args, code, "".join(self.lines), "")

    @property
    def fired(self):
        return all(t[2] for t in self.triggers)


def recovery_commands(out):
    """The `fab ...` lines under "Recover with:" (the runner prints them indented)."""
    text = out.split("Recover with:", 1)[1] if "Recover with:" in out else ""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("fab -H")]


def strip_ansi(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# --- the host's state, read without the tool ---------------------------------------------
def http_get(url, timeout=10):
    """(status, body) of a GET from the test process; (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def status(path="/workshops/"):
    """(status, body) of the recorder app's `path`."""
    return http_get(SITE + path, timeout=10)


def head(ref="HEAD"):
    """The commit of `ref` in the recorder app's work tree."""
    return subprocess.run(["sudo", "-u", "deploy", "git", "-C", APP, "rev-parse", ref],
                          capture_output=True, text=True, check=True).stdout.strip()


def tag(name):
    """The commit of `name` in the recorder app's origin repository."""
    return subprocess.run(["git", "--git-dir", "/srv/git/recorder.git", "rev-parse", name],
                          capture_output=True, text=True, check=True).stdout.strip()


def locked():
    return os.path.exists(f"{BACKUPS}/deploy.lock")


def host_listing():
    """What a bad input must not change: the app tree (HEAD, status, files), the backups (but
    the journal, which records the refused run), the maintenance files and nginx snippets."""
    script = (f"git -C {APP} rev-parse HEAD; git -C {APP} status --porcelain; "
              f"cd {APP} && find . -path ./.git -prune -o -name __pycache__ -prune -o -type f "
              f"-printf '%p %s\\n' | sort; "
              f"cd {BACKUPS} && find . -mindepth 1 ! -name journal.jsonl -printf '%p %s\\n' | sort; "
              "ls -la /srv/recorder/maintenance /etc/nginx/deploy.d | awk '{print $1, $5, $9}'")
    return subprocess.run(["sudo", "-u", "deploy", "bash", "-c", script], capture_output=True,
                          text=True, check=True).stdout


def scalar(conn, sql):
    with conn.cursor() as cur:
        return cur.execute(sql).fetchone()[0]


def fingerprints(conn):
    """{table: (rows, md5)}: the same fingerprint the tool computes, read independently."""
    with conn.cursor() as cur:
        queries = [r[0] for r in cur.execute(FINGERPRINT_SQL).fetchall()]
        if not queries:
            return {}
        rows = cur.execute(" UNION ALL ".join(queries)).fetchall()
    return {t: (n, h) for t, n, h in rows}


# --- PostgreSQL upgrades -------------------------------------------------------------------
def clusters():
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    return sorted(tuple(line.split()[:4]) for line in out.splitlines())


def all_fingerprints(db):
    out = {}
    for name in ("recorder", "recorder_seed_v1"):
        with db(name) as conn:
            out[name] = fingerprints(conn)
    return out


def version(db):
    with db("recorder") as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def state_before():
    """The fingerprints the tool recorded with the app stopped, as {db: {table: (rows, md5)}}."""
    state = json.loads(PG_UPGRADE_STATE.read_text())
    return {d: {t: tuple(v) for t, v in tables.items()} for d, tables in state["before"].items()}


def assert_same_data(before, now, logins=1):
    """Every table equal, except the tokens table that the tool's smoke logins append to."""
    for dbname in ("recorder", "recorder_seed_v1"):
        b, a = before[dbname], now[dbname]
        assert set(a) == set(b), dbname
        for table in b:
            if dbname == "recorder" and table == "accounts_apitoken":
                assert a[table][0] == b[table][0] + logins, (table, a[table], b[table])
            else:
                assert a[table] == b[table], (dbname, table)


def warm_processes(wait=5.0):
    """Migration processes started ahead of their code (django/app.py warm_shell) still running
    on the sandbox after up to `wait` s (an abandoned one ends at its connection's EOF)."""
    end = time.monotonic() + wait
    while True:
        r = subprocess.run(["pgrep", "-u", "deploy", "-f", "manage.py shell -c"],
                           capture_output=True, text=True)
        if not r.stdout.split() or time.monotonic() > end:
            return r.stdout.split()
        time.sleep(0.1)


# rows a deploy writes with the time of writing or a random key (the smoke login's API token of
# each app), and the ledger's jobs, which its worker marks done with the time whenever it runs:
# counts compare, not contents
VOLATILE = {"django_migrations", "accounts_apitoken", "people_apitoken", "jobs_job"}


def deploy_data(conn):
    """Every table's fingerprint; row counts only for the VOLATILE ones."""
    return {t: (n if t in VOLATILE else (n, h)) for t, (n, h) in fingerprints(conn).items()}


def run_processes(run_id):
    """Processes on the host (this machine), read as root, of run `run_id`: those with
    RB_RUN=run_id in their environment or on their command line (a run's shells: `bash -c
    "export RB_RUN=... && ..."`), and every process they started (sudo's too)."""
    tag = re.compile(rb"RB_RUN=" + re.escape(run_id.encode()) + rb"(?![0-9A-Za-z-])")
    parent, found = {}, set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            parent[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            env = (proc / "environ").read_bytes().split(b"\0")
            if f"RB_RUN={run_id}".encode() in env or tag.search((proc / "cmdline").read_bytes()):
                found.add(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    more = True
    while more:
        kids = {pid for pid, ppid in parent.items() if ppid in found and pid not in found}
        found |= kids
        more = bool(kids)
    return sorted(found)
