"""PostgreSQL on the host: psql queries, versions and sizes.

Two access modes (inventory `database.access`): `local` runs the client tools as the postgres OS
user over the Unix socket (`sudo -n -u postgres`); `dsn` reads the DSN from .env and hands the
password to the tools through the environment of the remote shell, fed on stdin, so it never
shows in a process argument.
"""
import io
from urllib.parse import unquote, urlparse

from runbook.engine.errors import ConfigError
from runbook.engine.scripts import script
from runbook.host.remote import q, run_script, sections, sh


def local_tool(c, tool, port=None):
    """`tool` run as the postgres OS user on the Unix socket (explicit: builds differ on the dir).

    `port` addresses another cluster of the host (an upgrade's old or new one).
    """
    d = c.site.database
    return f"sudo -n -u {q(d.os_user)} {q(tool)} -h {q(d.socket_dir)} -p {int(port or d.port)}"


def _dsn(c, tool):
    """(argv for `tool` from the .env DSN, its password) for access = "dsn"."""
    d = c.site.database
    dsn = c.site.secret(d.dsn_env) if d.dsn_env else None
    if not dsn:
        raise ConfigError(f"{c.site.inventory.path}: hosts.{c.site.name}.database.dsn_env: missing "
                          "for access = \"dsn\"; name the .env variable holding the DSN")
    u = urlparse(dsn)
    args = [tool, "-h", u.hostname or "localhost", "-p", str(u.port or 5432)]
    if u.username:
        args += ["-U", unquote(u.username)]
    password = unquote(u.password or "")
    if password:   # it appears alone (and shell-quoted) in scripts: masked like the DSN
        c.site.secrets[f"{d.dsn_env} (password)"] = password
        c.site.secrets[f"{d.dsn_env} (password, quoted)"] = q(password)
    return sh(*args), password


def client_prefix(c, tool, port=None):
    """(shell prefix running `tool` with the right identity, stdin preamble carrying secrets)."""
    if c.site.database.access == "local":
        return local_tool(c, tool, port), ""
    command, password = _dsn(c, tool)
    # `read` takes the first stdin line (the password); the tool reads the rest.
    return "IFS= read -r PGPASSWORD && export PGPASSWORD && " + command, password + "\n"


def shown_psql(c, db=None, port=None):
    """The psql command line a plan shows for a step's queries (never a password: with a DSN the
    password reaches psql as a run_script secret, docs in script_env)."""
    dbname = q(db or c.site.database.name)
    if c.site.database.access == "local":
        return f"{local_tool(c, 'psql', port)} -X -q -A -t -d {dbname}"
    return f"{_dsn(c, 'psql')[0]} -X -q -A -t -d {dbname}"


def script_env(c, port=None, local=False):
    """(env, secrets) for run_script of a script using pg.sh's `pg TOOL ...` (script(
    "runbook.postgres", "pg.sh", ...)): how to reach the database, its password a secret.
    `local`: as the postgres OS user on the socket whatever the access (local_tool)."""
    d = c.site.database
    if local or d.access == "local":
        return {"RB_PG_ACCESS": "local", "RB_PG_OS_USER": d.os_user, "RB_PG_HOST": d.socket_dir,
                "RB_PG_PORT": int(port or d.port)}, {}
    _, password = _dsn(c, "psql")   # checks the DSN is set and registers its password's masks
    dsn = urlparse(c.site.secret(d.dsn_env))
    env = {"RB_PG_ACCESS": "dsn", "RB_PG_HOST": dsn.hostname or "localhost",
           "RB_PG_PORT": int(dsn.port or 5432), "RB_PG_USER": unquote(dsn.username or "")}
    return env, {"PGPASSWORD": password} if password else {}


def psql(c, sql, db=None, port=None, variables=None, **kwargs):
    """Run SQL (sent on stdin) in `db` (default: the app's database); return stdout, unaligned.
    ON_ERROR_STOP, or psql would go on past an error and exit 0
    (docs/BEHAVIOUR.md#psql-continues-after-errors). `variables` ({name: value}, no secrets:
    they are arguments) are psql's -v, used in the SQL as :'name' (a literal) or :"name"."""
    prefix, preamble = client_prefix(c, "psql", port)
    dbname = db or c.site.database.name
    kwargs.setdefault("hide", True)
    sets = "".join(f" -v {q(f'{k}={v}')}" for k, v in (variables or {}).items())
    r = c.run(f"{prefix} -X -q -A -t -v ON_ERROR_STOP=1{sets} -d {q(dbname)}",
              in_stream=io.StringIO(preamble + sql + "\n"), **kwargs)
    return r.stdout


def literal(value):
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name):
    """A SQL identifier, always quoted."""
    return '"' + str(name).replace('"', '""') + '"'


# Per table of the public schema: one query giving "table|rows|hash of its rows". Run with psql's
# \gexec it executes those queries in the same session (one round trip, one snapshot;
# docs/BEHAVIOUR.md#psql-scripting-flags). Version 4 (now) sums each row's 64-bit
# hash_record_extended (PostgreSQL 14+): the columns are hashed by their types' extended hash
# functions, which PostgreSQL keeps stable across versions and pg_upgrade because hash partitions
# depend on them (docs/BEHAVIOUR.md#pg-hash-record-extended) - about 2.5 x faster than version 3,
# which first turns the row into text. Only tables whose every column has a type of
# RECORD_HASHABLE (hashes that survive a dump and restore: no enum OIDs, no nondeterministic
# collation) are hashed so; the others keep version 3's hash. Version 3 sums each row's
# hashtextextended of its text; version 2 summed the first 64 bits of each row's md5; version 1
# hashed the sorted row md5s, which on a 1.9 GB database took longer than the pg_dump running
# beside it (bench/backups.py). Manifests and upgrade states say their version; one written before
# versions existed is version 1, and is compared with version 1. A server before 14 gets version 3
# (FINGERPRINT_CHOICE).
FINGERPRINT_VERSION = 4
RECORD_HASH_SINCE = 140000   # server_version_num of the first PostgreSQL with hash_record_extended
TEXT_HASH_VERSION = 3   # the newest version hashing row text: what older servers compute
_ROW_HASH = {
    1: "md5(string_agg(md5(x::text), '''' ORDER BY md5(x::text)))",
    2: "md5(sum((''x'' || substr(md5(x::text), 1, 16))::bit(64)::bigint::numeric)::text)",
    3: "md5(sum(hashtextextended(x::text, 0))::text)",
}
_RECORD_HASH = "md5(sum(hash_record_extended(x, 0))::text)"
RECORD_HASHABLE = ("bool", "int2", "int4", "int8", "float4", "float8", "numeric", "text",
                   "varchar", "bpchar", "name", "char", "bytea", "date", "time", "timetz",
                   "timestamp", "timestamptz", "interval", "uuid", "jsonb", "inet", "cidr",
                   "macaddr", "macaddr8")


def _row_hash(version):
    """SQL text (inside the generating query's format string) of a table's row-hash expression."""
    if version < 4:
        return _ROW_HASH[version]
    hashable = "{" + ",".join(RECORD_HASHABLE) + "}"
    return ("' || CASE WHEN NOT EXISTS (\n"
            "    SELECT FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid\n"
            "      LEFT JOIN pg_collation co ON co.oid = a.attcollation\n"
            "     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped\n"
            "       AND (ty.typnamespace <> 'pg_catalog'::regnamespace\n"
            f"            OR ty.typname <> ALL ('{hashable}'::name[])\n"
            "            OR NOT coalesce(co.collisdeterministic, true)))\n"
            f"  THEN '{_RECORD_HASH}' ELSE '{_ROW_HASH[TEXT_HASH_VERSION]}' END || '")


def _per_table(expr, tail=""):
    return ("\nSELECT format('SELECT %L AS t, count(*) AS n, " + expr +
            " AS h FROM %I.%I x',\n              c.relname, n.nspname, c.relname)\n"
            "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'\n"
            " ORDER BY c.relname\n" + tail)


def fingerprint_sql(version=FINGERPRINT_VERSION):
    return _per_table("coalesce(" + _row_hash(version) + ", '''')")


def fingerprint_gexec(version=FINGERPRINT_VERSION):
    return fingerprint_sql(version).strip() + " \\gexec"


def fingerprint_version_for(major):
    """The fingerprint version a server of this major version ("14", "9.6") computes."""
    return FINGERPRINT_VERSION if int(str(major).split(".")[0]) * 10000 >= RECORD_HASH_SINCE \
        else TEXT_HASH_VERSION


FINGERPRINT_SQL = fingerprint_sql()
FINGERPRINT_GEXEC = fingerprint_gexec()
# psql lines for a session whose server version is not known in advance (the backup's snapshot
# session): an `@@fingerprint_version` section naming the version, then the `@@tables` lines.
FINGERPRINT_CHOICE = (
    f"SELECT current_setting('server_version_num')::int >= {RECORD_HASH_SINCE} AS fp_record \\gset",
    "\\echo @@fingerprint_version", "\\if :fp_record",
    f"\\echo {FINGERPRINT_VERSION}", "\\echo @@tables", fingerprint_gexec(FINGERPRINT_VERSION),
    "\\else", f"\\echo {TEXT_HASH_VERSION}", "\\echo @@tables",
    fingerprint_gexec(TEXT_HASH_VERSION), "\\endif")
# Row counts only, in the same `table|rows|` shape (no hashing): what verify.post compares.
ROW_COUNTS_GEXEC = _per_table("''''", " \\gexec").strip()


def parse_fingerprints(lines):
    """{table: (rows, md5)} from `table|rows|md5` lines."""
    out = {}
    for line in lines:
        if line.strip():
            table, rows, digest = line.split("|")
            out[table] = (int(rows), digest)
    return out


def fingerprints(c, db=None, port=None, version=FINGERPRINT_VERSION):
    """{table: (rows, hash of its content)} for every table of the public schema (one round
    trip); `version`: that of the fingerprints they will be compared with."""
    return parse_fingerprints(psql(c, fingerprint_gexec(version), db=db, port=port).splitlines())


def databases(c, port=None):
    """The connectable, non-template databases of the cluster (an upgrade's scope)."""
    return psql(c, DATABASES_SQL + ";", db="postgres", port=port).split()


DATABASES_SQL = ("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                 "ORDER BY 1")


def all_fingerprints(c, port=None, version=FINGERPRINT_VERSION):
    """{database: {table: (rows, md5)}} for every database of the cluster, in one round trip."""
    env, secrets = script_env(c, port)
    env.update(RB_DATABASES_SQL=DATABASES_SQL, RB_FP_SQL=fingerprint_gexec(version))
    r = run_script(c, script("runbook.postgres", "pg.sh", "all_fingerprints.sh"), env=env,
                   secrets=secrets)
    return {name: parse_fingerprints(lines) for name, lines in sections(r.stdout).items()}
