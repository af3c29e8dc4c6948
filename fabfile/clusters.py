"""PostgreSQL clusters on a Debian-layout host (postgresql-common): list, find, start, stop, port.

A cluster is `VERSION/NAME` (`14/main`) with its config in /etc/postgresql/VERSION/NAME and its
binaries in /usr/lib/postgresql/VERSION/bin. `pg_lsclusters` needs no privileges; start/stop go
through `sudo -n pg_ctlcluster`; config edits (port, start.conf) are made as the postgres user,
who owns the config files.
"""
from dataclasses import dataclass

from .remote import q, sh, sudo

BINROOT = "/usr/lib/postgresql"
CONFROOT = "/etc/postgresql"


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


# Script fragments for a facts script (one round trip): installed server versions, open ports.
VERSIONS_SH = (f"for b in {BINROOT}/*/bin; do [ -x \"$b/postgres\" ] && [ -x \"$b/initdb\" ] && "
               "basename \"$(dirname \"$b\")\"; done; true")
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


def free_port(c, clusters, start=5433, listening=None):
    """The first port from `start` that no cluster uses and nothing listens on."""
    if listening is None:
        listening = c.run(LISTENING_SH, hide=True, warn=True).stdout.split()
    used = {k.port for k in clusters} | {int(p) for p in listening if p.isdigit()}
    port = start
    while port in used:
        port += 1
    return port
