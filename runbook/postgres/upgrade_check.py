"""pg_upgrade.check: may this cluster be upgraded to version N, how, and at what cost?

Every check is read-only. `pg_upgrade --check` needs a target data directory: it runs against a
scratch `initdb` (same encoding, locale and checksums as the live cluster) in a temporary
directory that is removed afterwards, with the live cluster up (docs/BEHAVIOUR.md#pg-upgrade-check-live).
"""
import json
from dataclasses import dataclass, field

from runbook.engine.fabcmd import fab
from runbook.engine.scripts import script
from runbook.host.remote import q, read_text, run_script, sections
from runbook.postgres import clusters, db, upgrade_estimate
from runbook.postgres.clusters import BINROOT

METHODS = ("dump", "copy", "link")
# pg_upgradecluster's names for our methods (copy = pg_upgrade copying the files)
UPGRADECLUSTER_METHOD = {"dump": "dump", "copy": "upgrade", "link": "link"}
STATE_FILE = "pg_upgrade.json"   # what pg_upgrade.run did, in <backup.dir>, for rollback/cleanup


def state_path(c):
    return f"{c.site.backup.dir}/{STATE_FILE}"


def read_state(c):
    text = read_text(c, state_path(c))
    return json.loads(text) if text else None


@dataclass
class Report:
    """What pg_upgrade.check found; `problems` empty means the upgrade may run."""
    source: object = None            # clusters.Cluster on the app's port
    target_version: str = ""
    databases: dict = field(default_factory=dict)   # name -> size in bytes
    extensions: dict = field(default_factory=dict)  # name -> [databases using it]
    lines: list = field(default_factory=list)       # (ok, text) shown to the operator
    problems: list = field(default_factory=list)
    target_empty: bool = False                      # an empty target cluster exists (droppable)
    free: dict = field(default_factory=dict)        # path -> free bytes
    locale: str = ""                                # encoding|collate|ctype|checksums
    probe: object = None                            # upgrade_estimate.Probe: measured rates

    def add(self, ok, text, problem=None):
        self.lines.append((ok, text))
        if not ok:
            self.problems.append(problem or text)

    @property
    def size(self):
        return sum(self.databases.values())


def facts_script(c, target):
    """(script, env) of one round trip: cluster tools, clusters, installed versions, open ports,
    databases + sizes, extensions per database, locale, extensions available for `target`, free
    disk (scripts/upgrade_facts.sh)."""
    pg_env, _ = db.script_env(c, local=True)
    env = {**pg_env, "RB_BINROOT": BINROOT, "RB_TARGET": target,
           "RB_SETTINGS_SQL": clusters.CONF_SETTINGS_SQL, "RB_BACKUP_DIR": c.site.backup.dir}
    return script("runbook.postgres", "pg.sh", "upgrade_facts.sh"), env


def pg_upgrade_check_script(c, source, target, locale, port):
    """(script, args): pg_upgrade --check of the live `source` against a scratch initdb of
    `target`, run as postgres (scripts/upgrade_check.sh)."""
    enc, collate, ctype, checksums = locale
    return script("runbook.postgres", "upgrade_check.sh"), (
        f"{BINROOT}/{target}/bin", f"{BINROOT}/{source.version}/bin", c.site.database.os_user,
        enc, collate, ctype, checksums, source.configdir, int(source.port), int(port))


def target_state(c, target_cluster):
    """(has data?, what) of an existing target cluster; never starts or changes it."""
    if target_cluster.online:
        out = db.psql(c, "SELECT string_agg(datname, ',') FROM pg_database WHERE datname NOT IN "
                         "('template0', 'template1', 'postgres'); SELECT count(*) FROM pg_class c "
                         "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND "
                         "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname "
                         "NOT LIKE 'pg_toast%';", db="postgres",
                      port=target_cluster.port).splitlines()
        dbs = out[0].strip() if out else ""
        tables = int(out[1]) if len(out) > 1 and out[1].strip().isdigit() else 0
        what = ", ".join(x for x in (f"databases {dbs}" if dbs else "",
                                     f"{tables} tables in postgres" if tables else "") if x)
        return bool(dbs or tables), what or "empty"
    r = c.run(f"sudo -n -u postgres ls {q(target_cluster.datadir + '/base')}", hide=True, warn=True)
    n = len(r.stdout.split())
    return n != 3, "empty" if n == 3 else f"{n} database directories (it is down; not inspected)"


def need_space(size, method):
    """Bytes the new cluster needs on the PostgreSQL filesystem."""
    return {"dump": size, "copy": size, "link": size // 20}[method]


def run(c, target, method=None):
    """The full read-only check; returns a Report."""
    rep = Report(target_version=str(target), probe=upgrade_estimate.Probe(c))
    text, env = facts_script(c, str(target))
    f = sections(run_script(c, text, env=env).stdout)
    have = clusters.parse("\n".join(f.get("clusters", [])))
    src = _source(c, rep, f, have, target)
    if src is None:
        return rep
    _read_sizes(rep, f)
    _extensions_line(rep, f, target)
    settings_line(rep, f.get("settings", []), f.get("known", []))
    _target_line(c, rep, have, target, src)
    _compatible_line(c, rep, f, have, src, target)
    rep.lines.append((None, "databases: " + ", ".join(
        f"{n} {s / 1e6:.1f} MB" for n, s in sorted(rep.databases.items()))))
    fits = []
    for m in ([method] if method else METHODS):
        ok, text = space_line(c, rep, m)
        rep.lines.append((ok, text))
        fits.append(ok)
    if not any(fits):
        rep.problems.append(f"not enough disk for --method {method or 'dump, copy or link'}; "
                            "free space (see the lines above)")
    return rep


def _source(c, rep, f, have, target):
    """The app's online cluster, when the tools, the cluster, an older version and both
    versions' binaries are there; else None with the problem in `rep` (nothing else is read)."""
    if len(f.get("tools", [])) < 2:
        rep.add(False, "Debian's postgresql-common (pg_lsclusters, pg_upgradecluster) is not on "
                       "the host", "pg_upgrade.* needs postgresql-common's cluster tools; install "
                       "postgresql-common (plain pg_upgrade is not supported)")
        return None
    src = clusters.on_port(have, c.site.database.port)
    if src is None or not src.online:
        rep.add(False, f"no online cluster on port {c.site.database.port} (pg_lsclusters: "
                       f"{', '.join(f'{k.id}:{k.port} {k.status}' for k in have) or 'none'})",
                "the app's cluster is not running; start it first")
        return None
    rep.source = src
    if int(target) <= int(float(src.version)):
        rep.add(False, f"{src.id} is already version {src.version}; --to must be newer",
                f"--to {target} is not newer than {src.version}; give a newer major version")
        return None
    rep.add(True, f"source cluster {src.id} online on port {src.port}")
    for v in (src.version, str(target)):
        rep.add(v in f.get("versions", []), f"PostgreSQL {v} server binaries in {BINROOT}/{v}/bin",
                f"PostgreSQL {v} binaries are missing; install postgresql-{v}")
    return None if rep.problems else src


def _read_sizes(rep, f):
    """Database sizes, the extensions each database uses and free disk, from the facts."""
    for line in f.get("databases", []):
        if "|" in line:
            name, size = line.rsplit("|", 1)
            rep.databases[name] = int(size)
    for line in f.get("extensions", []):
        if "|" in line:
            dbname, ext = line.split("|", 1)
            rep.extensions.setdefault(ext, []).append(dbname)
    rep.free = {p: int(kb) * 1024 for p, kb in (x.split() for x in f.get("df", []) if len(x.split()) == 2)}


def _extensions_line(rep, f, target):
    """Every extension in use must be installed for the target version."""
    available = set(f.get("available", []))
    missing = {e: dbs for e, dbs in rep.extensions.items() if e not in available}
    if missing:
        rep.add(False, f"extensions missing for {target}: " + "; ".join(
                    f"{e} (used in {', '.join(dbs)})" for e, dbs in sorted(missing.items())),
                f"extension(s) {', '.join(sorted(missing))} not installed for PostgreSQL {target}; "
                f"install them for {target} (or drop them) first")
    else:
        rep.add(True, f"extensions in use available for {target}: "
                      + (", ".join(sorted(rep.extensions)) or "none"))


def _target_line(c, rep, have, target, src):
    """The target cluster must not exist yet; an empty one may be dropped, one with data not."""
    tgt = clusters.find(have, target, src.name)
    if tgt is None:
        rep.add(True, f"target cluster {target}/{src.name} does not exist yet")
        return
    full, what = target_state(c, tgt)
    rep.target_empty = not full
    if full:
        rep.add(False, f"target cluster {tgt.id} already exists with data ({what})",
                f"target cluster {tgt.id} exists with data ({what}); " + kept_by_rollback(
                    c, tgt, src))
    else:
        rep.add(False, f"target cluster {tgt.id} exists but is empty (auto-created?)",
                f"an empty target cluster {tgt.id} exists; rerun pg_upgrade.run with "
                "--drop-empty-target to drop it (asks first)")


def _compatible_line(c, rep, f, have, src, target):
    """pg_upgrade --check of the live cluster against a scratch initdb with its locale."""
    locale = (f.get("locale") or [""])[0].split("|")
    if len(locale) != 4:
        rep.add(False, f"could not read the cluster's locale: {'|'.join(locale)}")
        return
    rep.locale = "|".join(locale)
    port = clusters.free_port(c, have, start=50432, listening=f.get("listening", []))
    text, args = pg_upgrade_check_script(c, src, str(target), locale, port)
    r = rep.probe.time_check(run_script, c, text, *args, user="postgres", warn=True)
    tail = [x for x in r.stdout.splitlines() if x.strip()]
    rep.add(r.ok, "pg_upgrade --check against the live cluster: " + (
        "clusters are compatible" if r.ok else " / ".join(tail[-6:])),
        None if r.ok else "pg_upgrade --check failed: " + " / ".join(tail[-3:]))


def settings_line(rep, names, known):
    """Settings of the old cluster's configuration files that the target version has no longer:
    pg_upgradecluster would comment them out (or the new server would not start); `known` is
    the target's `postgres --describe-config` (docs/BEHAVIOUR.md#pg-describe-config)."""
    known = {k.lower() for k in known}
    gone = sorted(n for n in names if n and "." not in n and n.lower() not in known
                  and n not in clusters.OWN_SETTINGS)
    if not known:
        rep.add(False, f"could not list PostgreSQL {rep.target_version}'s settings "
                       "(postgres --describe-config)")
    elif gone:
        rep.add(False, f"settings unknown to {rep.target_version}: {', '.join(gone)}",
                f"setting(s) {', '.join(gone)} of {rep.source.id}'s configuration do not exist in "
                f"{rep.target_version}: remove them (postgresql.conf, conf.d) first")
    else:
        rep.add(True, f"the {len(names)} settings of {rep.source.id}'s configuration files exist "
                      f"in {rep.target_version}")


def kept_by_rollback(c, tgt, src):
    """The way out for a target cluster with data: ours (kept by pg_upgrade.rollback) or not."""
    state = read_state(c) or {}
    if (state.get("phase") == "rolled back" and state.get("to") == tgt.version
            and state.get("cluster") == src.name):
        return (f"pg_upgrade.rollback of {state['run']} kept it; back it up and drop it with: "
                f"{fab(c, 'pg_upgrade.cleanup')}")
    return "it is not ours to drop: move it away or pick another version"


def space_line(c, rep, m):
    """(enough disk?, line with the space needed and the downtime estimate) for method `m`."""
    size, need = rep.size, need_space(rep.size, m)
    pg_free = rep.free.get("/var/lib/postgresql", 0)
    bk_free = rep.free.get(c.site.backup.dir, 0)
    ok = pg_free >= need and bk_free >= size
    seconds, source = upgrade_estimate.estimate(rep.probe, size, m)
    return ok, (f"method {m}: needs {need / 1e6:.1f} MB in /var/lib/postgresql "
                f"({pg_free / 1e9:.1f} GB free) + {size / 1e6:.1f} MB backup in "
                f"{c.site.backup.dir} ({bk_free / 1e9:.1f} GB free); estimated downtime "
                f"~{seconds:.1f}s ({source})")


def render(rep):
    out = []
    for ok, text in rep.lines:
        mark = "    " if ok is None else ("ok  " if ok else "FAIL")
        out.append(f"  {mark} {text}")
    return "\n".join(out)
