#!/usr/bin/env python3
"""The >= 1 GB benchmark dataset, kept in a throwaway PostgreSQL 14 cluster of its own.

    .venv/bin/python bench/dataset.py build   # once; minutes (skipped when it is there)
    .venv/bin/python bench/dataset.py info    # size and rows
    .venv/bin/python bench/dataset.py drop    # pg_dropcluster 14 benchsrc --stop

The cluster is `14/benchsrc` on port 5439 (Debian layout, the sandbox's PostgreSQL 14 build),
so the sandbox's own `14/main` (port 5432) is never upgraded, filled or slowed down by a big
database. Its database `bench_large` is the app's v1 schema (`manage.py migrate` from a clone of
the sandbox origin at tag v1) seeded with `manage.py seed --size large`: 1,000,000 users with
~500 character bios in both profiles, 2,000,000 workshops, 30,000 courses. The backup bench dumps
it in place; the upgrade bench copies its (stopped) data directory into a fresh cluster per run.
Run as root. BENCH_NICE=1 builds it at nice 19 (the server too), for a busy machine.
"""
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import as_postgres_sql, secrets, sh  # noqa: E402

VERSION, NAME, PORT, DB = "14", "benchsrc", 5439, "bench_large"
DATADIR = Path(f"/var/lib/postgresql/{VERSION}/{NAME}")
VENV_PY = "/srv/recorder/venv/bin/python"
ORIGIN = "/srv/git/recorder.git"
NICE = ["nice", "-n", "19", "ionice", "-c", "3"] if os.environ.get("BENCH_NICE") else []


def status():
    """'online', 'down' or None (no such cluster)."""
    for line in sh("pg_lsclusters", "-h").stdout.splitlines():
        p = line.split()
        if p[:2] == [VERSION, NAME]:
            return "online" if p[3].startswith("online") else "down"
    return None


def start():
    if status() != "online":
        sh(*NICE, "pg_ctlcluster", VERSION, NAME, "start")


def stop():
    if status() == "online":
        sh("pg_ctlcluster", VERSION, NAME, "stop")


def sql(text, db="postgres"):
    return as_postgres_sql(text, port=PORT, db=db)


def exists():
    if status() is None:
        return False
    start()
    return sql(f"SELECT 1 FROM pg_database WHERE datname = '{DB}'") == "1" and \
        sql("SELECT to_regclass('public.auth_user') IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM pg_stat_user_tables WHERE relname = 'workshops_workshop' "
            "AND n_live_tup > 1000000)", db=DB) == "t"


def grant_app_role():
    """The app's role `recorder` (the sandbox's password) may read bench_large, so the app's own
    `manage.py dumpdata` runs against it as on the sandbox (the runbook's JSON backups)."""
    password = secrets().get("SANDBOX_DB_PASSWORD", "")
    if sql("SELECT 1 FROM pg_roles WHERE rolname = 'recorder'") != "1":
        sql("CREATE ROLE recorder LOGIN")
    sh("sudo", "-u", "postgres", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-p", PORT, "-d", DB,
       input="ALTER ROLE recorder PASSWORD '" + password.replace("'", "''") + "';\n"
             "GRANT SELECT ON ALL TABLES IN SCHEMA public TO recorder;\n", cwd="/")


def build():
    """Create the cluster and seed it, unless it is there already (then seconds)."""
    if exists():
        grant_app_role()
        return info()
    if status() is None:
        print(f"dataset: creating cluster {VERSION}/{NAME} on port {PORT}", flush=True)
        sh("pg_createcluster", VERSION, NAME, "-p", PORT, "--start-conf", "manual")
    start()
    sql(f'DROP DATABASE IF EXISTS "{DB}"')
    sql(f'CREATE DATABASE "{DB}"')
    app = Path(tempfile.mkdtemp(prefix="bench-app-", dir="/var/tmp"))
    sh("chown", "deploy:", app)   # the origin belongs to deploy: git refuses other users
    sh("sudo", "-u", "deploy", "git", "clone", "-q", ORIGIN, app / "app", cwd="/")
    sh("sudo", "-u", "deploy", "git", "-C", app / "app", "checkout", "-q", "--detach", "v1",
       cwd="/")
    sh("chown", "-R", "postgres:postgres", app)
    env = ["env", "SECRET_KEY=bench-dataset", f"DB_NAME={DB}", "DB_USER=postgres", "DB_PASSWORD=",
           "DB_HOST=/var/run/postgresql", f"DB_PORT={PORT}", "ALLOWED_HOSTS=localhost",
           f"SEED_PYBOT_PASSWORD={secrets().get('SANDBOX_PYBOT_PASSWORD', 'bench')}"]
    run = ["sudo", "-u", "postgres", *env, *NICE, VENV_PY, "manage.py"]
    print("dataset: migrating the v1 schema", flush=True)
    sh(*run, "migrate", "--noinput", cwd=app / "app")
    print("dataset: seeding --size large (minutes)", flush=True)
    r = sh(*run, "seed", "--size", "large", cwd=app / "app")
    print(r.stdout[-600:], flush=True)
    sql("VACUUM (ANALYZE)", db=DB)
    sh("rm", "-rf", app)
    grant_app_role()
    return info()


def info():
    """{'bytes', 'users', 'workshops', 'text'} of bench_large (starts the cluster)."""
    start()
    size = int(sql("SELECT pg_database_size(current_database())", db=DB))
    users = int(sql("SELECT count(*) FROM auth_user", db=DB))
    workshops = int(sql("SELECT count(*) FROM workshops_workshop", db=DB))
    return {"bytes": size, "users": users, "workshops": workshops,
            "text": f"`{DB}` in cluster {VERSION}/{NAME} (port {PORT}): {size / 1e9:.2f} GB, "
                    f"{users:,} users (each with 2 profiles of ~500 character bios), "
                    f"{workshops:,} workshops (`manage.py seed --size large` on the v1 schema)"}


def drop():
    if status() is not None:
        sh("pg_dropcluster", VERSION, NAME, "--stop")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "info"
    if what == "build":
        print(build()["text"])
    elif what == "info":
        print(info()["text"] if exists() else "dataset: not built (bench/dataset.py build)")
    elif what == "drop":
        drop()
    else:
        sys.exit("usage: bench/dataset.py build|info|drop")
