"""Issue 17 item 2: backup.create's JSON dumps come from one Django process (scripts/json_dumps.py)
in pg_dump's snapshot, and are what `manage.py dumpdata LABEL --natural-foreign` prints.

On both sandbox apps (recorder: manage.py at the root; ledger: src/manage.py, settings from an env
file), read independently of the tool: the app's own `dumpdata` run here as deploy, `loaddata`
into a scratch database made from the backup's schema, psycopg fingerprints. The ledger's worker
may write while a test runs: each test proves the source unchanged around what it compares.
"""
import gzip
import json
import re
import shlex
import subprocess
import tomllib
import uuid
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from runbook.django.app import prefix
from runbook.engine.scripts import script
from tests.support.ledger import ledger_fab
from tests.support.sandbox import ROOT, Fab, fingerprints, make_inventory

APPS = {
    "recorder": dict(dir="/srv/recorder/app", venv="/srv/recorder/venv", manage_py="manage.py",
                     env_file=None, db="recorder", role="recorder", secret="SANDBOX_DB_PASSWORD",
                     project=ROOT / "sandbox/deploy.toml", backups="/srv/recorder"),
    "ledger": dict(dir="/srv/ledger/app", venv="/srv/ledger/venv", manage_py="src/manage.py",
                   env_file="/srv/ledger/shared/app.env", db="ledger", role="ledger",
                   secret="SANDBOX_LEDGER_DB_PASSWORD", project=ROOT / "sandbox/ledger/deploy.toml",
                   backups="/srv/ledger"),
}


def manage(app, *args, db=None, env=None, stdin=None):
    """`manage.py ARGS` as deploy, with the app's env the way app.prefix builds it; `db`: the
    database name the app reads from DB_NAME instead of its own; `env`: more variables."""
    a = APPS[app]
    c = SimpleNamespace(site=SimpleNamespace(app=SimpleNamespace(
        dir=a["dir"], venv=a["venv"], manage_py=a["manage_py"], env_file=a["env_file"],
        settings_module=None)))
    env = {**(env or {}), **({"DB_NAME": db} if db else {})}
    python = f"{a['venv']}/bin/python"
    line = prefix(c).replace(python, " ".join(
        [*(f"{k}={shlex.quote(str(v))}" for k, v in env.items()), python]), 1)
    return subprocess.run(["sudo", "-u", "deploy", "bash", "-c", f"{line} {shlex.join(args)}"],
                          input=stdin, capture_output=True, text=True, cwd="/")


@pytest.fixture
def app_run(request, home, sandbox, secrets, tmp_path, reset_sandbox):
    """(app, fab, backup dir, labels, connect(dbname)) for the app the test is parametrized with.
    The ledger's JSON dumps are "all" and its own app ("people" alone in its deploy.toml)."""
    app = request.param
    a = APPS[app]
    unique = f"{a['backups']}/it-{uuid.uuid4().hex[:8]}"
    if app == "recorder":
        fab = Fab(home, make_inventory(tmp_path / "inv", **{
            'dir = "/srv/recorder/backups"': f'dir = "{unique}"'}))
        project = ROOT / "sandbox/deploy.toml"
    else:
        fab = ledger_fab(home, tmp_path)
        fab.hosts_file.write_text(fab.hosts_file.read_text().replace(
            'dir = "/srv/ledger/backups"', f'dir = "{unique}"'))
        project = tmp_path / "deploy.toml"
        project.write_text(project.read_text().replace('json = ["people"]',
                                                       'json = ["all", "people"]'))
    labels = tomllib.loads(project.read_text())["backup"]["json"]

    def connect(dbname=a["db"]):
        return psycopg.connect(host="127.0.0.1", port=5432, dbname=dbname, user=a["role"],
                               password=secrets[a["secret"]], autocommit=True)
    yield app, fab, Path(unique), labels, connect
    subprocess.run(["rm", "-rf", unique], check=False)


def backup(app, fab, where):
    r = fab("-H", "sandbox" if app == "recorder" else "sandbox-ledger", "backup.create")
    assert r.returncode == 0, r.stdout + r.stderr
    (d,) = [p for p in where.iterdir() if re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", p.name)]
    return d


def unordered_m2m(objects):
    """The objects with each list of pks or of natural keys (a many-to-many value) sorted:
    without Meta.ordering their order is the database's (docs/BEHAVIOUR.md#django-serializer-prefetch)."""
    def norm(v):
        many = isinstance(v, list) and v and all(isinstance(x, (int, list)) for x in v)
        return sorted(v, key=json.dumps) if many else v
    return [{**o, "fields": {k: norm(v) for k, v in o["fields"].items()}} for o in objects]


BOTH = pytest.mark.parametrize("app_run", ["recorder", "ledger"], indirect=True)


@BOTH
def test_each_json_dump_is_what_dumpdata_prints(app_run):
    app, fab, where, labels, connect = app_run
    with connect() as conn:
        before = fingerprints(conn)
    d = backup(app, fab, where)
    for label in labels:
        ours = json.loads(gzip.decompress((d / f"dumpdata-{label.replace('.', '_')}.json.gz")
                                          .read_bytes()))
        r = manage(app, "dumpdata", *([] if label == "all" else [label]), "--natural-foreign")
        assert r.returncode == 0, r.stderr
        assert ours and unordered_m2m(ours) == unordered_m2m(json.loads(r.stdout)), label
    with connect() as conn:
        assert fingerprints(conn) == before, "the database changed while the test compared"
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["json_dumps"] == {label: "ok" for label in labels}


def pg(*args, stdin=None):
    return subprocess.run(["sudo", "-u", "postgres", *args], input=stdin, capture_output=True,
                          cwd="/", check=True)


# dumpdata's JSON holds datetimes and times to the millisecond (docs/BEHAVIOUR.md#django-json-milliseconds):
# the reference copy of the source drops the rest the same way (date_trunc truncates, as it does).
TO_MILLISECONDS = """DO $$DECLARE r record; BEGIN
FOR r IN SELECT table_name, column_name, data_type FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type IN ('timestamp with time zone',
           'timestamp without time zone', 'time without time zone') LOOP
  EXECUTE format(CASE WHEN r.data_type LIKE 'time %'
    THEN 'UPDATE %I SET %I = date_trunc(''milliseconds'', ''2000-01-01''::date + %I)::time'
    ELSE 'UPDATE %I SET %I = date_trunc(''milliseconds'', %I)' END,
    r.table_name, r.column_name, r.column_name);
END LOOP; END$$"""


def scratch_from(dump, name, owner, *restore):
    """A fresh database `name` owned by `owner`, pg_restore RESTORE... of `dump` into it."""
    pg("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", f"DROP DATABASE IF EXISTS {name}",
       "-c", f"CREATE DATABASE {name} TEMPLATE template0 OWNER {owner}")
    pg("pg_restore", *restore, "--exit-on-error", "-d", name, stdin=dump.read_bytes())


@BOTH
def test_loaddata_of_the_all_dump_gives_the_source_fingerprints(app_run):
    """A scratch database with the backup's schema only (pg_restore --schema-only), the app's
    `loaddata` of the "all" dump into it: every table has the rows and content of the backup's
    db.dump (restored beside it, datetimes cut to the millisecond as JSON holds them), except
    django_migrations (not a model: no dump holds it)."""
    app, fab, where, _, connect = app_run
    d = backup(app, fab, where)
    db, role = APPS[app]["db"], APPS[app]["role"]
    try:
        scratch_from(d / "db.dump", f"{db}_jsonref", role)
        pg("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{db}_jsonref", "-c", TO_MILLISECONDS)
        scratch_from(d / "db.dump", f"{db}_jsonload", role, "--schema-only")
        r = manage(app, "loaddata", str(d / "dumpdata-all.json.gz"), db=f"{db}_jsonload")
        assert r.returncode == 0, r.stdout + r.stderr
        with connect(f"{db}_jsonload") as conn, connect(f"{db}_jsonref") as ref:
            loaded, source = fingerprints(conn), fingerprints(ref)
    finally:
        for name in (f"{db}_jsonload", f"{db}_jsonref"):
            pg("psql", "-X", "-q", "-c", f"DROP DATABASE IF EXISTS {name}")
    assert source.pop("django_migrations")[0] > 10 and loaded.pop("django_migrations")[0] == 0
    assert loaded == source and len(source) > 8
    manifest = json.loads((d / "manifest.json").read_text())
    assert {t: n for t, (n, _) in loaded.items()} == \
        {t: m["rows"] for t, m in manifest["tables"].items() if t != "django_migrations"}


def run_json_dumps(app, out, snapshot, *labels):
    """scripts/json_dumps.py as backup_create.sh runs it: `manage.py shell`, runpy, its env."""
    out.mkdir(parents=True)
    (out / "json_dumps.py").write_text(script("runbook.ops", "json_dumps.py"))
    subprocess.run(["chown", "-R", "deploy:deploy", out], check=True)
    env = {"RB_JSON_LABELS": "\n".join(labels), "RB_JSON_DIR": out, "RB_SNAPSHOT": snapshot,
           "RB_JSON_MARK": out / ".imported", "RB_JSON_SCRIPT": out / "json_dumps.py"}
    code = "import os, runpy; runpy.run_path(os.environ['RB_JSON_SCRIPT'], run_name='__main__')\n"
    r = manage(app, "shell", env=env, stdin=code)
    return r, [(out / f".json-{i}.status").read_text().strip() if (out / f".json-{i}.status")
               .exists() else None for i in range(len(labels))]


@pytest.mark.parametrize("app_run", ["recorder"], indirect=True)
def test_the_dumps_hold_the_snapshot_not_a_row_written_after_it(app_run):
    app, _, where, _, connect = app_run
    with connect() as exporter, connect() as writer:
        exporter.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = exporter.execute("SELECT pg_export_snapshot()").fetchone()[0]
        uid, name = writer.execute("SELECT id, first_name FROM auth_user ORDER BY id LIMIT 1"
                                   ).fetchone()
        writer.execute("UPDATE auth_user SET first_name = 'after the snapshot' WHERE id = %s",
                       (uid,))
        try:
            r, status = run_json_dumps(app, where / "direct", snapshot, "auth.User", "nope")
            exporter.execute("COMMIT")
        finally:
            writer.execute("UPDATE auth_user SET first_name = %s WHERE id = %s", (name, uid))
    assert status == ["ok", "failed: LookupError: No installed app with label 'nope'."], r.stderr
    users = json.loads(gzip.decompress((where / "direct/dumpdata-auth_User.json.gz").read_bytes()))
    assert [u["fields"]["first_name"] for u in users if u["pk"] == uid] == [name]
    assert (where / "direct/.imported").exists()
    assert not list((where / "direct").glob(".json-model-*")), "its temporary files are left"


@pytest.mark.parametrize("app_run", ["ledger"], indirect=True)
def test_a_snapshot_it_cannot_import_fails_every_dump_with_the_reason(app_run):
    app, _, where, _, _ = app_run
    r, status = run_json_dumps(app, where / "direct", "00000003-0000001B-1", "people", "auth")
    assert r.returncode != 0
    assert all(s.startswith("failed: cannot read in the backup's snapshot: ") and
               "invalid snapshot identifier" in s for s in status), status
    assert not list((where / "direct").glob("dumpdata-*")) and \
        not (where / "direct/.imported").exists()
