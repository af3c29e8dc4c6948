"""PostgreSQL clusters on a Debian-layout host (postgresql-common): list, find, start, stop, port.

A cluster is `VERSION/NAME` (`14/main`) with its config in /etc/postgresql/VERSION/NAME and its
binaries in /usr/lib/postgresql/VERSION/bin. `pg_lsclusters` needs no privileges; start/stop go
through `sudo -n pg_ctlcluster` (docs/BEHAVIOUR.md#pg-lsclusters); config edits (port, start.conf)
are made as the postgres user, who owns the config files (docs/BEHAVIOUR.md#pg-cluster-configuration).

A cluster's configuration (`config_snapshot`) is what an upgrade must carry and a rollback must
bring back: pg_hba.conf, pg_ident.conf, conf.d/*, postgresql.conf and postgresql.auto.conf
verbatim, and every setting the server read from a configuration file.
"""
import base64
import re
from dataclasses import dataclass

from runbook.engine.scripts import script
from runbook.host.remote import q, run_script, sh, sudo

BINROOT = "/usr/lib/postgresql"
CONFROOT = "/etc/postgresql"
# Files pg_upgradecluster rewrites for the new version (paths, cluster_name): compared by settings
# (docs/BEHAVIOUR.md#pg-upgradecluster).
REWRITTEN = ("postgresql.conf", "postgresql.auto.conf")
# Settings that name the cluster's own version, paths or name: they differ between versions.
OWN_SETTINGS = frozenset({"data_directory", "hba_file", "ident_file", "external_pid_file",
                          "config_file", "cluster_name", "stats_temp_directory"})
SECRET_SETTING = re.compile(r"conninfo|passphrase|password")
CONF_SETTINGS_SQL = "SELECT name, setting FROM pg_settings WHERE source = 'configuration file'"


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str
    port: int
    status: str
    owner: str
    datadir: str

    @property
    def online(self):
        return self.status.startswith("online")

    @property
    def id(self):
        return f"{self.version}/{self.name}"

    @property
    def configdir(self):
        return f"{CONFROOT}/{self.version}/{self.name}"


def parse(text):
    """[Cluster] from `pg_lsclusters -h` lines."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[2].isdigit():
            out.append(Cluster(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5]))
    return out


def listing(c):
    return parse(c.run("pg_lsclusters -h", hide=True, warn=True).stdout)


def find(clusters, version, name):
    return next((k for k in clusters if k.version == str(version) and k.name == name), None)


def on_port(clusters, port):
    """The cluster configured on `port` (online first), or None."""
    hits = sorted((k for k in clusters if k.port == int(port)), key=lambda k: not k.online)
    return hits[0] if hits else None


# The ports something listens on (also in scripts/upgrade_facts.sh).
LISTENING_SH = "ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://'; true"


def ctl(c, cluster, action, **kwargs):
    """pg_ctlcluster VERSION NAME start|stop|restart."""
    kwargs.setdefault("hide", True)
    return sudo(c, "pg_ctlcluster", cluster.version, cluster.name, action, **kwargs)


def set_port(c, cluster, port):
    """Change the port in the cluster's postgresql.conf (takes effect at the next start)."""
    c.run(f"sudo -n -u postgres pg_conftool {sh(cluster.version, cluster.name)} set port "
          f"{int(port)}", hide=True)


def set_start(c, cluster, mode):
    """start.conf: `auto` (started with the host) or `manual` (kept, not started)."""
    path = f"{cluster.configdir}/start.conf"
    c.run(f"printf '%s\\n' {q(mode)} | sudo -n -u postgres tee {q(path)} >/dev/null", hide=True)


def create_argv(version, name, port, locale, *options):
    """pg_createcluster VERSION NAME on `port` with `locale` ("encoding|collate|ctype|checksums",
    as pg_upgrade.check reads it from the live cluster) and `options`."""
    enc, collate, ctype, checksums = (locale or "UTF8|C.UTF-8|C.UTF-8|off").split("|")
    args = ["pg_createcluster", str(version), name, "-p", str(int(port)), "-e", enc,
            f"--lc-collate={collate}", f"--lc-ctype={ctype}", *options]
    return args + (["--", "--data-checksums"] if checksums == "on" else [])


def set_conf(c, cluster, settings):
    """{name: value, or None to remove it} in `cluster`'s postgresql.conf, by pg_conftool as
    postgres, in one round trip."""
    tool = f"pg_conftool {sh(cluster.version, cluster.name)}"
    c.run("sudo -n -u postgres bash -c " + q(" && ".join(
        f"{tool} set {sh(k, v)}" if v is not None else f"{tool} remove {sh(k)}"
        for k, v in sorted(settings.items()))), hide=True)


def free_port(c, clusters, start=5433, listening=None):
    """The first port from `start` that no cluster uses and nothing listens on."""
    if listening is None:
        listening = c.run(LISTENING_SH, hide=True, warn=True).stdout.split()
    used = {k.port for k in clusters} | {int(p) for p in listening if p.isdigit()}
    port = start
    while port in used:
        port += 1
    return port


# --- configuration ---------------------------------------------------------------------------
def _path(cluster, rel):
    """postgresql.auto.conf lives in the data directory, the rest in the config directory."""
    return f"{cluster.datadir if rel == 'postgresql.auto.conf' else cluster.configdir}/{rel}"


def config_snapshot(c, cluster):
    """{"files": {name: text}, "settings": {name: value}} of `cluster` (settings: online only)."""
    from runbook.postgres import db
    out = run_script(c, script("runbook.postgres", "conf_snapshot.sh"), cluster.configdir,
                     _path(cluster, "postgresql.auto.conf"), user="postgres").stdout
    snap = {"files": {}, "settings": {}}
    for line in out.splitlines():
        rel, _, b64 = line.rpartition(" ")   # base64 has no spaces; a file name may
        snap["files"][rel] = base64.b64decode(b64).decode(errors="replace")
    if cluster.online:
        for line in db.psql(c, CONF_SETTINGS_SQL + ";", db="postgres",
                            port=cluster.port).splitlines():
            name, _, value = line.partition("|")
            snap["settings"][name] = value
    return snap


def write_config(c, cluster, files):
    """Write {name: text} into `cluster`'s configuration as postgres (pg_hba/ident 0640)."""
    if not files:
        return
    lines = []
    for rel, text in sorted(files.items()):
        mode = "0600" if rel == "postgresql.auto.conf" else "0640" if rel in (
            "pg_hba.conf", "pg_ident.conf") else "0644"
        lines.append(f"{mode} {base64.b64encode(text.encode()).decode()} {_path(cluster, rel)}\n")
    run_script(c, script("runbook.postgres", "conf_write.sh"), cluster.configdir + "/conf.d",
               user="postgres", data="".join(lines))


def config_diff(want, have, rewritten=False):
    """['what differs'] from snapshot `want` to `have`; `rewritten`: another major version, whose
    postgresql.conf/auto.conf pg_upgradecluster rewrote, so those compare by their settings."""
    out = []
    for rel in sorted(set(want["files"]) | set(have["files"])):
        a, b = want["files"].get(rel), have["files"].get(rel)
        if a != b and not (rewritten and rel in REWRITTEN):
            out.append(f"{rel}: {'missing' if b is None else 'extra file' if a is None else 'differs'}")
    if want["settings"] and have["settings"]:
        own = OWN_SETTINGS if rewritten else frozenset()
        for name in sorted((set(want["settings"]) | set(have["settings"])) - own):
            a, b = want["settings"].get(name), have["settings"].get(name)
            if a != b:
                out.append(f"{name} = {_shown(name, b)} (was {_shown(name, a)})")
    return out


def _shown(name, value):
    if value is None:
        return "default"
    return "(hidden)" if SECRET_SETTING.search(name) else repr(value)
