"""backup.*: consistent backups with a manifest, verified by reading them in full.

A backup is a 0700 directory `<backup.dir>/<run id>/` of 0600 files:
  db.dump                pg_dump custom format, taken in an exported snapshot
                         (docs/BEHAVIOUR.md#pg-exported-snapshot)
  globals.sql            pg_dumpall --globals-only (roles; pg_dump omits them:
                         docs/BEHAVIOUR.md#pg-dump-omits-globals)
  dumpdata-*.json.gz     the runbook's Django JSON dumps (optional, --no-json; not a backup:
                         docs/BEHAVIOUR.md#django-dumpdata-not-backup)
  manifest.json          sizes + sha256 of the files, PostgreSQL version, git commit, applied
                         migrations, and per-table row counts + content fingerprints computed in
                         the SAME snapshot as the dump, so a restore can be proved exact
  verified.json          written by the verification: when, how (full read / drill), result
"""
import json
import re
import time
from datetime import datetime, timezone

from runbook.django import app, migrate
from runbook.engine.errors import ConfigError
from runbook.engine.fabcmd import fab
from runbook.engine.output import Discard, Progress, without_progress
from runbook.engine.runner import Failed, commands
from runbook.engine.scripts import script
from runbook.host import remote
from runbook.host.remote import atomic_write, q, run_script
from runbook.postgres import db

NAME_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")


def bdir(c, name):
    return f"{c.site.backup.dir}/{name}"


# The applied migrations as the dump holds them (application order), read in its snapshot rather
# than by a `manage.py showmigrations` (one Django start-up) after it; none without the table.
APPLIED_IN_SNAPSHOT = (f"SELECT {db.literal(migrate.APPLIED_SQL.rstrip(';'))} "
                       "WHERE to_regclass('public.django_migrations') IS NOT NULL \\gexec")


def create_script(c, name, json_labels, other_dbs=()):
    """(script, args, env) of the backup `name`: scripts/backup_create.sh with its arguments."""
    d = c.site.database
    if d.access != "local":  # pragma: no cover - dsn hosts dump with the DSN's credentials
        raise ConfigError("backup.create supports database.access = \"local\" for now; "
                          "run it on the database host")
    pg_env, _ = db.script_env(c)
    env = {**pg_env, **app.script_env(c), "RB_BACKUP_DIR": c.site.backup.dir,
           "RB_BACKUP": bdir(c, name), "RB_DB": d.name,
           # Never queue forever behind a migration's lock: fail the backup instead (config
           # deploy.lock_wait_timeout, env FABRIC_DEPLOY_LOCK_WAIT_TIMEOUT;
           # docs/BEHAVIOUR.md#pg-lock-timeout).
           "RB_LOCK_WAIT": int(c.config.deploy.lock_wait_timeout),
           # seconds between progress lines
           "RB_PROGRESS_EVERY": f"{float(c.config.deploy.get('progress_every', 5.0)):g}",
           # In the dump's snapshot too: the table fingerprints, then the applied migrations.
           "RB_FP_SQL": "\n".join((*db.FINGERPRINT_CHOICE, "\\echo @@migrations",
                                   APPLIED_IN_SNAPSHOT, "\\echo @@END"))}
    text = script("runbook.postgres", "pg.sh") + script("runbook.django", "manage.sh") + \
        heredoc("RB_JSON_PY", script("runbook.ops", "json_dumps.py")) + \
        script("runbook.ops", "backup_create.sh")
    return text, (*json_labels, "--", *other_dbs), env


def heredoc(name, text):
    """Bash setting variable `name` to `text` (a script file sent along inside the script, not in
    the command line's env); its end marker is a line `text` does not hold."""
    end = "RB_END"
    while end in text.splitlines():
        end += "_"
    return f"{name}=$(cat <<'{end}'\n{text.rstrip(chr(10))}\n{end}\n)\n"


def build_manifest(c, name, sections, took):
    tables = {t: {"rows": n, "md5": h}
              for t, (n, h) in db.parse_fingerprints(sections.get("tables", [])).items()}
    files = {}
    for line in sections.get("files", []):
        size, digest, fname = line.split(None, 2)
        files[fname.strip()] = {"size": int(size), "sha256": digest}
    return {
        "name": name, "host": c.site.name, "database": c.site.database.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(took, 2),
        "postgresql": (sections.get("version") or ["?"])[0].strip(),
        "git_commit": (sections.get("commit") or ["?"])[0].strip(),
        "applied_migrations": [m.strip() for m in sections.get("migrations", []) if m.strip()],
        "json_dumps": dict(line.split(" ", 1) for line in sections.get("json", []) if " " in line),
        "other_databases": dict(reversed(line.split("|", 1)) for line in sections.get("others", [])
                                if "|" in line),
        "tables": tables, "files": files,
        "fingerprint_version": int((sections.get("fingerprint_version") or ["0"])[0]),
    }


def create(c, name, json_dumps=True, other_dbs=()):
    """Take the backup `name`; returns its manifest (written as manifest.json)."""
    labels = c.site.inventory.project.backup_json if json_dumps else []
    start = time.monotonic()
    text, args, env = create_script(c, name, labels, other_dbs)
    r = run_script(c, text, *args, env=env, warn=True, hide=False,
                   out_stream=Progress(c, "backup"), err_stream=Discard())
    sections = remote.sections(without_progress(r.stdout))
    if not r.ok or "end" not in sections:
        said = [x for x in sections.get("tables", []) + (r.stderr or "").splitlines()
                if "ERROR" in x or "error" in x]
        err = (said or sections.get("error") or (r.stdout or "?").strip().splitlines()[-1:])[0]
        raise Failed(f"backup {name} failed: {err.strip()}",
                     recovery=f"fix the cause (disk space? permissions of {c.site.backup.dir}?) "
                              f"and rerun; the partial backup is {bdir(c, name)}")
    manifest = build_manifest(c, name, sections, time.monotonic() - start)
    failed = [f"JSON dump {label} {manifest['json_dumps'].get(label) or 'failed: no status'}"
              for label in labels if manifest["json_dumps"].get(label) != "ok"]
    if failed:
        raise Failed(f"backup {name} failed: {'; '.join(failed)}",
                     recovery="nothing was changed yet; fix the rows the dump cannot read, or "
                              "rerun with --no-json (pg_dump alone); the incomplete backup is "
                              f"{bdir(c, name)}")
    if manifest["fingerprint_version"] not in (db.TEXT_HASH_VERSION, db.FINGERPRINT_VERSION):
        raise Failed(f"backup {name}: psql did not say which fingerprints it computed "
                     f"({sections.get('fingerprint_version')}); the backup has no manifest",
                     recovery=f"rerun backup.create; the partial backup is {bdir(c, name)}")
    atomic_write(c, f"{bdir(c, name)}/manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(c, name):
    r = c.run(f"cat {q(bdir(c, name) + '/manifest.json')}", warn=True, hide=True)
    if not r.ok:
        raise Failed(f"backup {name} has no manifest.json; it is incomplete - do not use it")
    return json.loads(r.stdout)


def verify_files(c, name, manifest=None):
    """Every file non-empty with the manifest's size and sha256; the dumps read in full (the
    JSON dumps parsed to their end): `pg_restore --list` would miss a truncation
    (docs/BEHAVIOUR.md#pg-restore-list-toc-only)."""
    manifest = manifest or read_manifest(c, name)
    d = bdir(c, name)
    dumps = ["db.dump", *manifest.get("other_databases", {}).values()]
    jsons = [f for f in manifest["files"] if f.startswith("dumpdata-") and f.endswith(".json.gz")]
    pg_env, secrets = db.script_env(c)
    env = {**pg_env, "RB_BACKUP": d, "RB_PYTHON": c.site.app.venv + "/bin/python",
           "RB_PARSE_JSON": script("runbook.ops", "parse_json.py")}
    r = run_script(c, script("runbook.postgres", "pg.sh") + script("runbook.ops", "backup_verify.sh"),
                   *dumps, "--", *jsons, env=env, secrets=secrets, warn=True)
    sections = remote.sections(r.stdout)
    problems = []
    seen = {}
    for line in sections.get("files", []):
        size, digest, fname = line.split(None, 2)
        seen[fname.strip()] = (int(size), digest)
    for fname, meta in manifest["files"].items():
        got = seen.get(fname)
        if got is None:
            problems.append(f"{fname} is missing")
        elif got[0] == 0:
            problems.append(f"{fname} is empty")
        elif got != (meta["size"], meta["sha256"]):
            problems.append(f"{fname} differs from the manifest ({got[0]} bytes, was {meta['size']})")
    read = [x for x in sections.get("read", []) if x.strip()]
    if "READ-DONE" not in read or any(x.startswith("BAD ") for x in read):
        bad = [x[4:] for x in read if x.startswith("BAD ")] or ["db.dump"]
        said = [x for x in read if not x.startswith(("BAD ", "READ-DONE"))][-1:] or ["no output"]
        problems.append(f"{', '.join(bad)} cannot be read in full: {said[0]}")
    return problems


def mark_verified(c, name, how):
    atomic_write(c, f"{bdir(c, name)}/verified.json", json.dumps(
        {"verified": datetime.now(timezone.utc).isoformat(timespec="seconds"), "how": how}) + "\n")


def restore_drill(c, name, manifest=None):
    """Restore into a scratch database, compare fingerprints with the manifest, drop it."""
    manifest = manifest or read_manifest(c, name)
    scratch = f"{c.site.database.name}_drill_{name.replace('-', '_')}"
    try:
        restore_into(c, name, scratch)
        got = db.fingerprints(c, db=scratch, version=fingerprint_version(manifest))
    finally:
        db.psql(c, f"DROP DATABASE IF EXISTS {db.ident(scratch)};", db="postgres")
    return compare(manifest["tables"], got)


def restore_into(c, name, dbname, dump="db.dump", owner=None):
    """Create `dbname` fresh (template0, owned like the app's database) and pg_restore into it
    (docs/BEHAVIOUR.md#pg-template0, docs/BEHAVIOUR.md#pg-restore-over-existing-db); returns
    the number of jobs it restored with."""
    d = c.site.database
    owner = owner or db.psql(c, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = "
                                f"{db.literal(d.name)};", db="postgres").strip() or d.os_user
    db.psql(c, f"DROP DATABASE IF EXISTS {db.ident(dbname)};", db="postgres")
    db.psql(c, f"CREATE DATABASE {db.ident(dbname)} TEMPLATE template0 OWNER {db.ident(owner)};",
            db="postgres")
    # In parallel (pg_restore -j, deploy.restore_jobs, 0: the host's cores up to 8), so not in
    # one transaction (docs/BEHAVIOUR.md#pg-restore-single-transaction-no-jobs): a failure leaves
    # `dbname` half-restored, so callers restore only into a database nothing uses yet.
    pg_env, _ = db.script_env(c, local=True)
    r = run_script(c, script("runbook.postgres", "pg.sh") + script("runbook.ops", "restore_jobs.sh"),
                   f"{bdir(c, name)}/{dump}", dbname, int(c.config.deploy.get("restore_jobs", 0)),
                   env=pg_env, warn=True)
    if not r.ok:
        lines = (r.stderr or r.stdout).strip().splitlines() or ["no output"]
        said = next((x for x in lines if "error:" in x), lines[-1])   # the cause, not the last
        raise Failed(f"pg_restore of {name}/{dump} into {dbname} failed: {said}")
    return int(remote.sections(r.stdout)["jobs"][0])


def fingerprint_version(manifest):
    """The version of a manifest's table fingerprints (1: written before versions existed)."""
    return int(manifest.get("fingerprint_version", 1))


def compare(expected_tables, got):
    """Differences between a manifest's tables and live fingerprints ({} when identical)."""
    diffs = {}
    for table, meta in expected_tables.items():
        have = got.get(table)
        if have is None:
            diffs[table] = "missing"
        elif (have[0], have[1]) != (meta["rows"], meta["md5"]):
            diffs[table] = f"{have[0]} rows (was {meta['rows']})" + (
                "" if have[0] != meta["rows"] else ", content differs")
    for table in set(got) - set(expected_tables):
        diffs[table] = "not in the backup"
    return diffs


def listing(c):
    """[{name, size, manifest, verified}] of this host's backups, newest first."""
    out = []
    r = run_script(c, script("runbook.ops", "backup_list.sh"),
                   env={"RB_BACKUP_DIR": c.site.backup.dir})
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and NAME_RE.match(parts[0]):
            verified = json.loads(parts[3]) if parts[3] else None
            out.append({"name": parts[0], "size": int(parts[1]),
                        "manifest": parts[2] == "1", "verified": verified})
    return sorted(out, key=lambda b: b["name"], reverse=True)


def check_name(c, name):
    """A --backup value must be a backup that backup.list shows for this host: no paths."""
    if not name:
        raise ConfigError("--backup NAME is required; list them with "
                          f"{fab(c, 'backup.list')}")
    if not NAME_RE.match(name):
        raise ConfigError(f"--backup {name!r} is not a backup name (like 20261121-101500-ab12); "
                          f"pick one from {fab(c, 'backup.list')}")
    if name not in {b["name"] for b in listing(c)}:
        raise ConfigError(f"no backup {name!r} on {c.site.name}; pick one from "
                          f"{fab(c, 'backup.list')}")
    return name


def created(name):
    """When a backup was taken, from its name (the run id's UTC time; touching files can't age it)."""
    return datetime.strptime(name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc).timestamp()


def age(when):
    """How long ago `when` (epoch seconds) was, short: 42m, 5.0h, 3.2d."""
    s = max(0, time.time() - when)
    return f"{s / 86400:.1f}d" if s >= 86400 else f"{s / 3600:.1f}h" if s >= 3600 else f"{s / 60:.0f}m"


def step_backup(json_dumps=True, whole_cluster=False):
    """The checkpointed backup step used by every composite: create, then verify in full.

    `whole_cluster` also dumps every other database of the cluster (a cluster upgrade's backup).
    """
    def shown(c, run):
        b = bdir(c, "<run id>")   # the backup is named after the run that takes it
        return [f"pg_dump -Fc --snapshot=... {q(c.site.database.name)} > {b}/db.dump"
                + ("  (and each other database of the cluster)" if whole_cluster else ""),
                f"pg_dumpall --globals-only > {b}/globals.sql",
                *([f"manage.py shell < json_dumps.py  (dumpdata --natural-foreign's JSON, one process "
                   f"in the dump's snapshot) > {b}/dumpdata-*.json.gz"] if json_dumps else []),
                f"pg_restore -f /dev/null {b}/db.dump  (read in full), sha256sum {b}/*"]

    @commands(shown)
    def run_step(c, run):
        """A backup of the database (pg_dump in one snapshot, globals, JSON dumps), verified in
        full against its manifest."""
        name = run.run_id
        others = [d for d in db.databases(c) if d not in (c.site.database.name, "postgres")] \
            if whole_cluster else []
        manifest = create(c, name, json_dumps, others)
        problems = verify_files(c, name, manifest)
        if problems:
            raise Failed(f"backup {name} failed verification: {'; '.join(problems)}",
                         recovery="nothing was changed yet; fix the cause (disk full?) and rerun")
        mark_verified(c, name, "full read")
        run.data.backup, run.data.manifest = name, manifest
        run.state["backup"] = f"backup {name} is verified ({c.site.backup.dir}/{name})"
        size = sum(f["size"] for f in manifest["files"].values())
        return f"{name}, {size / 1e6:.1f} MB, {len(manifest['tables'])} tables fingerprinted"
    return run_step


def keep_backup(c, run, prior):
    """--resume: the failed run's backup stays the run's backup, once it verifies again in full.
    If it no longer does: a new one is taken when the database is still as it was (nothing
    migrated), else the resume stops - the only pre-deploy copy is damaged."""
    name = prior.backup
    if not name:
        return None
    manifest = read_manifest(c, name)
    problems = verify_files(c, name, manifest)
    if problems:
        if "migrated" not in prior.changed:
            run.say(f"    the backup {name} of run {prior.run_id} no longer verifies "
                    f"({'; '.join(problems)}); taking a new one (nothing was migrated)")
            return None
        raise Failed(f"the pre-deploy backup {name} no longer verifies ({'; '.join(problems)}) "
                     f"and run {prior.run_id} migrated the database: resuming would leave no "
                     "good copy of the data from before the migrations",
                     recovery=f"keep {bdir(c, name)} and the host as they are; check the files")
    run.data.backup, run.data.manifest = name, manifest
    run.state["backup"] = f"backup {name} is verified ({c.site.backup.dir}/{name})"
    return f"{name} of run {prior.run_id}, verified again in full"
