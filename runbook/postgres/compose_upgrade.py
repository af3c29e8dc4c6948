"""PostgreSQL major upgrade for a docker-compose stack (postgres:14 -> postgres:15), as a command plan.

Changing the compose file's `image: postgres:14` to `postgres:15` on the same volume does not
upgrade anything: the new server refuses the old data directory ("database files are
incompatible with server", docs/BEHAVIOUR.md#pg-docker-same-volume). Instead: dump the whole
cluster from the old container, create a NEW volume, start the new image on it in a temporary
container, restore, compare fingerprints, then switch the compose file to the new image and
volume. The old volume and the old compose file (`<file>.pre-pgNN`) stay untouched, so
`rollback_plan` is a file swap.

This module only builds commands (`Cmd`); an executor runs them in order with `c.run` and stops
at the first failure. Commands use bash (`set -o pipefail`). Every interpolated value is quoted
with shlex.quote; the password and the compose text travel on stdin (see `Cmd.feed`), never in
an argument and never in the plan.
"""
import os
import re
import shlex
from dataclasses import dataclass

from runbook.engine.errors import ConfigError

q = shlex.quote

FEED_ENV = "env_file"   # executor feeds env_file_text(password, ...) on stdin
FEED_COMPOSE = "compose"  # executor feeds switch_for(cfg, <current compose text>, ...) on stdin
CHECK_FINGERPRINT = "fingerprint"  # executor: stdout of every such Cmd must be equal

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")   # docker container / volume / service names
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")       # compose project names
_WAIT_TRIES = 60
_STOP_TIMEOUT = 120  # seconds docker waits for a clean shutdown (a checkpoint after a big restore)

# Per table of the public schema, "table|rows" (psql -A -t). Sent on stdin to psql, which runs it
# with \gexec in each database of the cluster. Row counts only: row text (timestamptz, floats)
# may print differently under another server's settings; db.FINGERPRINT_GEXEC adds md5s.
COUNT_SQL = r"""
SELECT format('SELECT %L AS t, count(*) AS n FROM %I.%I', c.relname, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'
 ORDER BY c.relname \gexec
"""


@dataclass(frozen=True)
class ComposeDB:
    """Where the stack lives and what its database service is called."""

    project_dir: str                       # absolute, on the host
    backup_dir: str                        # absolute; a run writes <backup_dir>/<run_id>/
    compose_file: str = "docker-compose.yml"  # relative to project_dir
    db_service: str = "db"
    app_services: tuple = ("backend",)
    db_user: str = "postgres"              # the cluster's bootstrap superuser (POSTGRES_USER)
    volume: str = "postgres_data"          # compose key of the volume at the data directory
    project_name: str | None = None        # compose project; default: basename of project_dir
    pgdata: str | None = None              # PGDATA, when the db service sets one

    def __post_init__(self):
        if not os.path.isabs(self.project_dir):
            raise ConfigError(f"project_dir {self.project_dir!r} is relative; give the absolute "
                              "path of the compose project on the host")
        if not os.path.isabs(self.backup_dir):
            raise ConfigError(f"backup_dir {self.backup_dir!r} is relative; give an absolute path")
        if not self.compose_file or os.path.isabs(self.compose_file):
            raise ConfigError(f"compose_file {self.compose_file!r} must be relative to "
                              "project_dir; give e.g. docker-compose.yml")
        if isinstance(self.app_services, str):
            raise ConfigError(f"app_services {self.app_services!r} is a string; give a tuple, "
                              f"e.g. ({self.app_services!r},)")
        for what, name in [("db_service", self.db_service), ("volume", self.volume),
                           *[("app_services", s) for s in self.app_services]]:
            if not _NAME.match(str(name)):
                raise ConfigError(f"{what} {name!r} is not a compose name ([A-Za-z0-9_.-]); "
                                  "copy it from the compose file")
        if not self.db_user or "\n" in self.db_user:
            raise ConfigError("db_user is empty or has a newline; give the POSTGRES_USER role")
        if self.pgdata is not None and not os.path.isabs(self.pgdata):
            raise ConfigError(f"pgdata {self.pgdata!r} is relative; copy PGDATA from the compose "
                              "file")
        if not _PROJECT.match(self.project):
            raise ConfigError(f"compose project name {self.project!r} is not valid; set "
                              "project_name to the name compose uses (docker compose ls)")

    @property
    def project(self):
        """The compose project name: project_name, or project_dir's basename normalized as compose
        does (lower case, only a-z 0-9 _ -, no leading _ or -: docs/BEHAVIOUR.md#compose-names)."""
        if self.project_name is not None:
            return self.project_name
        base = os.path.basename(os.path.normpath(self.project_dir)).lower()
        return re.sub(r"[^a-z0-9_-]", "", base).lstrip("_-")


@dataclass(frozen=True)
class Cmd:
    """One shell command of a plan.

    `check`: what proves the command worked. The commands check themselves (they exit non-zero
    when it does not hold), except `check == "fingerprint"`: the executor compares the stdout of
    all those Cmds (sections `@@database`, `table|rows` lines; compare as sets) and stops on a
    difference. `stdin`: literal, non-secret text to send on stdin. `feed`: stdin the executor
    computes (FEED_ENV: env_file_text(...); FEED_COMPOSE: switch_for(...)); never in the plan.
    """

    title: str
    command: str
    changes_host: bool
    check: str | None = None
    stdin: str | None = None
    feed: str | None = None


# --- names ----------------------------------------------------------------------------------
def image_major(image):
    """The PostgreSQL major of an image reference from its tag: postgres:15.4-alpine -> "15"
    (9.6 for pre-10 tags). ConfigError when the tag carries no version."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    m = re.match(r"(\d+)(?:\.(\d+))?", tag)
    if not m:
        raise ConfigError(f"image {image!r} has no version tag; pin the major, e.g. postgres:15")
    major = int(m.group(1))
    if major < 10:
        return f"{major}.{m.group(2) or 0}"
    return str(major)


def _major_key(major):
    return tuple(int(p) for p in major.split("."))


def data_mount(major):
    """Where the image keeps its data: 18+ images want the volume at /var/lib/postgresql
    (docs/BEHAVIOUR.md#pg-docker-18-layout)."""
    return "/var/lib/postgresql" if _major_key(major) >= (18,) else "/var/lib/postgresql/data"


def new_volume_key(cfg, new_image):
    """The compose key of the new volume: <volume>_pg<major>."""
    return f"{cfg.volume}_pg{image_major(new_image)}"


def new_volume_name(cfg, new_image):
    """The Docker volume the plan creates: <project>_<volume>_pg<major> (what compose would call
    the new key, declared external so compose never creates or removes it)."""
    return f"{cfg.project}_{new_volume_key(cfg, new_image)}"


def container_name(cfg, run_id):
    return f"{cfg.project}-pgupgrade-{run_id}"


def run_dir(cfg, run_id):
    return os.path.join(cfg.backup_dir, run_id)


def _majors(old_image, new_image):
    old, new = image_major(old_image), image_major(new_image)
    if _major_key(new) <= _major_key(old):
        raise ConfigError(f"{old_image} -> {new_image} is not a major upgrade; give a new image "
                          "with a higher major")
    return old, new


def _check_run_id(run_id):
    if not _NAME.match(str(run_id)):
        raise ConfigError(f"run id {run_id!r} is not usable in a container name; use "
                          "[A-Za-z0-9_.-], e.g. 20240101-120000-ab12")


def env_file_text(password, extra=None):
    """The --env-file content for the temporary container (feed it on stdin to the FEED_ENV Cmd).

    `password`: POSTGRES_PASSWORD of the db service (the restore then sets the roles' password
    hashes from the dump). `extra`: other init variables the db service sets, e.g.
    POSTGRES_INITDB_ARGS or POSTGRES_HOST_AUTH_METHOD (pg_hba.conf is written at init).
    """
    items = {"POSTGRES_PASSWORD": password, **(extra or {})}
    lines = []
    for key, value in items.items():
        if key in ("POSTGRES_USER", "POSTGRES_DB", "PGDATA"):
            raise ConfigError(f"{key} in extra env: the plan sets it itself; use ComposeDB")
        if not re.match(r"[A-Za-z_][A-Za-z0-9_]*\Z", key):
            raise ConfigError(f"env name {key!r} is not valid; use a shell variable name")
        if not value or "\n" in str(value) or "\r" in str(value):
            raise ConfigError(f"{key} is empty or has a line break; a Docker env file holds one "
                              "line per variable")
        lines.append(f"{key}={value}\n")
    return "".join(lines)


# --- command pieces -------------------------------------------------------------------------
def _sh(*argv):
    return " ".join(q(str(a)) for a in argv)


def _compose(cfg, *argv):
    """`cd DIR && docker compose -p P -f F argv...`."""
    return (f"cd {q(cfg.project_dir)} && "
            + _sh("docker", "compose", "-p", cfg.project, "-f", cfg.compose_file, *argv))


def _fail(message):
    return f"{{ echo {q('error: ' + message)} >&2; exit 1; }}"


def _wait(probe, what, logs):
    """A bounded loop (60 x 1 s) until `probe` succeeds; fails naming `what` and its log."""
    msg = f"{what} did not answer pg_isready within {_WAIT_TRIES} s; read: {logs}"
    return (f"i=0; until {probe} >/dev/null 2>&1; do i=$((i+1)); "
            f"if [ \"$i\" -ge {_WAIT_TRIES} ]; then echo {q('error: ' + msg)} >&2; exit 1; fi; "
            "sleep 1; done")


def _isready(user):
    return ("pg_isready", "-q", "-h", "127.0.0.1", "-U", user, "-d", "postgres")


# Runs inside the container: stdin (the fingerprint SQL) goes to a temp file, then psql runs it
# in every database that takes connections, each output under an `@@database` header.
_FINGERPRINT_SH = (
    'set -e; t=$(mktemp -d); trap \'rm -rf "$t"\' EXIT; cat > "$t/fp.sql"; '
    'psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$1" -d postgres -c '
    '"SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1" '
    '> "$t/dbs"; '
    'while IFS= read -r d; do echo "@@$d"; '
    'psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$1" -d "$d" -f "$t/fp.sql" </dev/null; '
    'done < "$t/dbs"')


def _version_check(cfg, major):
    """psql SELECT version() in the db service; fails unless it reports `major`."""
    want = f"PostgreSQL {major}"
    psql = _sh("docker", "compose", "-p", cfg.project, "-f", cfg.compose_file, "exec", "-T",
               cfg.db_service, "psql", "-X", "-A", "-t", "-U", cfg.db_user, "-d", "postgres",
               "-c", "SELECT version()")
    return (f"cd {q(cfg.project_dir)} && v=$({psql}) && printf '%s\\n' \"$v\" && "
            f"case \"$v\" in {q(want)}[!0-9]*) ;; *) "
            + _fail(f"service {cfg.db_service} does not report {want}; check the image in "
                    f"{cfg.compose_file}") + " ;; esac")


def _stop_apps(cfg, extra=()):
    services = [*cfg.app_services, *extra]
    return _compose(cfg, "stop", *services)


# --- the compose file edit ------------------------------------------------------------------
def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _content(line):
    s = line.strip()
    return bool(s) and not s.startswith("#")


def _block(lines, start):
    """(first, end) of the lines nested under the key at `start` (end exclusive)."""
    base = _indent(lines[start])
    end = start + 1
    last = start
    while end < len(lines):
        if _content(lines[end]):
            if _indent(lines[end]) <= base:
                break
            last = end
        end += 1
    return start + 1, last + 1


def _key_line(name):
    return re.compile(r"(\s*)([\"']?)" + re.escape(name) + r"\2\s*:\s*(#.*)?\Z")


def _top(lines, key):
    pat = re.compile(re.escape(key) + r"\s*:(.*)\Z")
    for i, line in enumerate(lines):
        if not line.startswith((" ", "\t")) and (m := pat.match(line.rstrip("\n"))):
            return i, m.group(1).strip()
    return None, None


def _unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


_VALUE = r"(?P<val>\"[^\"]*\"|'[^']*'|[^\s#][^#]*?)"


def switch_compose(text, db_service, old_image, new_image, volume, new_volume, pgdata=None):
    """The compose file `text` with the db service on `new_image` and the new volume.

    A text edit (comments and layout stay): the db service's `image:` old_image -> new_image;
    its mount `volume:<data dir>` (short or long syntax) -> `<volume>_pg<NEW>:<data dir of the
    new major>`; and that key declared under the top-level `volumes:` as external, named
    `new_volume` (the full Docker volume name). ConfigError (nothing changed) when the file is
    not what the plan expects; `pgdata` must equal the PGDATA the db service sets, if any.
    """
    cfg_file = "the compose file"
    old_major, new_major = _majors(old_image, new_image)
    new_key = f"{volume}_pg{new_major}"
    lines = text.splitlines(keepends=True)
    bare = [line.rstrip("\r\n") for line in lines]

    s, inline = _top(bare, "services")
    if s is None or (inline and not inline.startswith("#")):
        raise ConfigError(f"{cfg_file} has no block `services:` at the top level; "
                          "give the stack's compose file")
    first, end = _block(bare, s)
    svc = next((i for i in range(first, end) if _content(bare[i])), None)
    svc_indent = _indent(bare[svc]) if svc is not None else None
    db = [i for i in range(first, end)
          if _indent(bare[i]) == svc_indent and _key_line(db_service).match(bare[i])]
    if len(db) != 1:
        raise ConfigError(f"service {db_service!r} not found under services: in {cfg_file}; "
                          "set db_service to the PostgreSQL service's name")
    d_first, d_end = _block(bare, db[0])
    props = [i for i in range(d_first, d_end) if _content(bare[i])]
    if not props:
        raise ConfigError(f"service {db_service!r} is empty in {cfg_file}; give the real file")
    prop_indent = _indent(bare[props[0]])

    # image
    img_pat = re.compile(r"(?P<pre>\s*image\s*:\s*)" + _VALUE + r"(?P<post>\s*(#.*)?)\Z")
    hits = [i for i in props if _indent(bare[i]) == prop_indent
            and re.match(r"\s*image\s*:", bare[i])]
    if len(hits) != 1:
        raise ConfigError(f"service {db_service!r} has {len(hits)} `image:` lines in {cfg_file}, "
                          "expected exactly one; set the image on that service itself")
    m = img_pat.match(bare[hits[0]])
    current = _unquote(m.group("val").strip()) if m else ""
    if current == new_image:
        raise ConfigError(f"service {db_service!r} already uses {new_image}; nothing to switch "
                          f"(restore {cfg_file}.pre-pg{new_major} if the data was not migrated)")
    if current != old_image:
        raise ConfigError(f"service {db_service!r} uses image {current or '?'!r}, not "
                          f"{old_image}; pass the image the file has as old_image")
    val = m.group("val").strip()
    quote = val[0] if val[0] in "'\"" else ""
    edits = {hits[0]: m.group("pre") + quote + new_image + quote + m.group("post")}

    # PGDATA: the temporary container must use the same one, or the data lands elsewhere
    env = None
    for i in props:
        e = re.match(r"\s*(?:-\s*)?([\"']?)PGDATA\s*[:=]\s*(.*?)\1?\s*(#.*)?\Z", bare[i])
        if e:
            env = _unquote(e.group(2).strip())
    if env != pgdata:
        raise ConfigError(f"service {db_service!r} sets PGDATA={env!r} but the plan has "
                          f"{pgdata!r}; set ComposeDB.pgdata to the file's value")

    # the data mount
    old_target, new_target = data_mount(old_major), data_mount(new_major)
    short = re.compile(r"(?P<pre>\s*-\s*)(?P<q>[\"']?)" + re.escape(volume) + ":"
                       + re.escape(old_target) + r"(?P<opt>:[a-z,]+)?(?P=q)(?P<post>\s*(#.*)?)\Z")
    mounts = [(i, mm) for i in props if (mm := short.match(bare[i]))]
    if len(mounts) > 1:
        raise ConfigError(f"service {db_service!r} mounts {volume}:{old_target} "
                          f"{len(mounts)} times in {cfg_file}; keep one mount")
    if mounts:
        i, mm = mounts[0]
        edits[i] = (f"{mm.group('pre')}{mm.group('q')}{new_key}:{new_target}"
                    f"{mm.group('opt') or ''}{mm.group('q')}{mm.group('post')}")
    else:
        edits.update(_long_mount(bare, props, volume, old_target, new_key, new_target,
                                 db_service, cfg_file))

    # the new volume, declared external under the top-level volumes:
    v, inline = _top(bare, "volumes")
    if v is None or (inline and not inline.startswith("#")):
        raise ConfigError(f"{cfg_file} has no block `volumes:` at the top level declaring "
                          f"{volume!r}; declare the named volume there")
    v_first, v_end = _block(bare, v)
    keys = [i for i in range(v_first, v_end) if _content(bare[i])]
    key_indent = _indent(bare[keys[0]]) if keys else 2
    declared = {re.match(r"\s*[\"']?([^\"':\s]+)", bare[i]).group(1)
                for i in keys if _indent(bare[i]) == key_indent}
    if volume not in declared:
        raise ConfigError(f"volume {volume!r} is not declared under top-level volumes: in "
                          f"{cfg_file}; set ComposeDB.volume to the key the db service mounts")
    if new_key in declared:
        raise ConfigError(f"volume {new_key!r} is already declared in {cfg_file}; restore "
                          f"{cfg_file}.pre-pg{new_major} or remove that key, then rerun")
    pad, sub = " " * key_indent, " " * (key_indent * 2)
    nl = "\r\n" if lines[v].endswith("\r\n") else "\n"
    block = (f"{pad}{new_key}:{nl}{sub}external: true{nl}{sub}name: {new_volume}{nl}")
    insert_after = (keys[-1] if keys else v)

    out = []
    for i, line in enumerate(lines):
        if i in edits:
            ending = line[len(bare[i]):]
            out.append(edits[i] + ending)
        else:
            out.append(line)
        if i == insert_after:
            if not out[-1].endswith("\n"):
                out[-1] += nl
            out.append(block)
    result = "".join(out)
    _sanity(result, db_service, new_image, new_key, new_volume, cfg_file)
    return result


def _long_mount(bare, props, volume, old_target, new_key, new_target, db_service, cfg_file):
    """Edits for a long-syntax mount (`- type: volume / source: V / target: T`)."""
    src = re.compile(r"(?P<pre>\s*(?:-\s*)?source\s*:\s*)(?P<q>[\"']?)" + re.escape(volume)
                     + r"(?P=q)(?P<post>\s*(#.*)?)\Z")
    tgt = re.compile(r"(?P<pre>\s*(?:-\s*)?target\s*:\s*)(?P<q>[\"']?)" + re.escape(old_target)
                     + r"/?(?P=q)(?P<post>\s*(#.*)?)\Z")
    found = []
    for i in props:
        if not src.match(bare[i]):
            continue
        start = i  # the list item holding this line: back to its "- ", forward to the next one
        while start > props[0] and not re.match(r"\s*-\s", bare[start]):
            start -= 1
        dash = _indent(bare[start])
        end = start + 1
        while end <= props[-1] and not (_content(bare[end]) and _indent(bare[end]) <= dash):
            end += 1
        t = [j for j in range(start, end) if tgt.match(bare[j])]
        if t:
            found.append((i, t[0]))
    if len(found) != 1:
        raise ConfigError(f"service {db_service!r} has no mount {volume}:{old_target} in "
                          f"{cfg_file}; set ComposeDB.volume to the volume mounted there")
    i, j = found[0]
    ms, mt = src.match(bare[i]), tgt.match(bare[j])
    return {i: f"{ms.group('pre')}{ms.group('q')}{new_key}{ms.group('q')}{ms.group('post')}",
            j: f"{mt.group('pre')}{mt.group('q')}{new_target}{mt.group('q')}{mt.group('post')}"}


def _sanity(text, db_service, new_image, new_key, new_volume, cfg_file):
    """Parse the result when PyYAML is importable (not a dependency): the edit must read back."""
    try:
        import yaml
    except ImportError:
        return
    try:
        doc = yaml.safe_load(text)
        ok = (doc["services"][db_service]["image"] == new_image
              and doc["volumes"][new_key] == {"external": True, "name": new_volume})
    except Exception as e:  # noqa: BLE001 - any parse problem is the same answer
        raise ConfigError(f"the switched {cfg_file} does not parse ({type(e).__name__}); "
                          "edit it by hand") from None
    if not ok:
        raise ConfigError(f"the switched {cfg_file} does not read back as expected; "
                          "edit it by hand")


def switch_for(cfg, text, old_image, new_image):
    """switch_compose with the names the plan uses (what to feed the FEED_COMPOSE Cmd).

    Call it before running the plan: a ConfigError then stops before anything changed.
    """
    return switch_compose(text, cfg.db_service, old_image, new_image, cfg.volume,
                          new_volume_name(cfg, new_image), pgdata=cfg.pgdata)


# --- the plans ------------------------------------------------------------------------------
def upgrade_plan(cfg, old_image, new_image, run_id, fingerprint_sql=COUNT_SQL):
    """The commands, in order, that move the compose db service from old_image to new_image.

    Before running it: switch_for(...) on the current compose text (stops early on a file the
    plan cannot edit). Commands marked check="fingerprint" must print the same; the executor
    compares them (the third one runs in the switched service before the app starts).
    """
    _check_run_id(run_id)
    _, new_major = _majors(old_image, new_image)
    rd = run_dir(cfg, run_id)
    dump = os.path.join(rd, "dumpall.sql")
    envf = os.path.join(rd, "pg.env")
    vol = new_volume_name(cfg, new_image)
    ctr = container_name(cfg, run_id)
    f = cfg.compose_file
    kept = f"{f}.pre-pg{new_major}"
    db, user = cfg.db_service, cfg.db_user
    role_a = f"CREATE ROLE {user};"
    role_b = 'CREATE ROLE "' + user.replace('"', '""') + '";'

    plan = [Cmd(
        "preflight: compose file present, no backup, volume or container left from a run",
        f"cd {q(cfg.project_dir)} && "
        f"{{ test -f {q(f)} || {_fail(f'{f} not found in {cfg.project_dir}; fix project_dir')}; }}"
        f" && {{ test ! -e {q(kept)} || {_fail(f'{kept} exists (an earlier upgrade?); move it away, then rerun')}; }}"
        f" && {{ ! docker volume inspect {q(vol)} >/dev/null 2>&1 || {_fail(f'volume {vol} exists (an earlier attempt?); inspect it and rename or drop it by hand, then rerun')}; }}"
        f" && {{ ! docker container inspect {q(ctr)} >/dev/null 2>&1 || {_fail(f'container {ctr} exists; remove it, then rerun')}; }}"
        f" && {_sh('docker', 'compose', '-p', cfg.project, '-f', f, 'config', '-q')}",
        changes_host=False, check="exits 0")]
    if cfg.app_services:
        plan.append(Cmd(f"stop the app services ({', '.join(cfg.app_services)})",
                        _stop_apps(cfg), changes_host=True))
    plan += [
        Cmd(f"dump roles and all databases from {old_image} to {dump}",
            f"set -o pipefail && umask 077 && mkdir -p {q(rd)} && chmod 0700 {q(rd)} && "
            + _compose(cfg, "exec", "-T", db, "pg_dumpall", "-U", user)
            + f" > {q(dump + '.part')} && chmod 0600 {q(dump + '.part')} && "
            f"{{ tail -n 5 {q(dump + '.part')} | grep -qxF -- "
            f"{q('-- PostgreSQL database cluster dump complete')} || "
            + _fail(f"{dump}.part is incomplete (no end marker); read the dump errors above") + "; } && "
            f"mv -f {q(dump + '.part')} {q(dump)} && "
            f"cd {q(rd)} && sha256sum dumpall.sql > dumpall.sql.sha256 && cat dumpall.sql.sha256",
            changes_host=True, check="end marker present; sha256 in dumpall.sql.sha256"),
        Cmd(f"fingerprint before, in {old_image}",
            _compose(cfg, "exec", "-T", db, "sh", "-c", _FINGERPRINT_SH, "sh", user),
            changes_host=False, check=CHECK_FINGERPRINT, stdin=fingerprint_sql),
        Cmd(f"stop the {db} service (the old volume is kept as it is)",
            _compose(cfg, "stop", db), changes_host=True),
        Cmd(f"create the volume {vol}",
            f"{{ ! docker volume inspect {q(vol)} >/dev/null 2>&1 || "
            + _fail(f"volume {vol} exists (an earlier attempt?); inspect it and rename or drop "
                    "it by hand, then rerun") + f"; }} && {_sh('docker', 'volume', 'create', vol)}",
            changes_host=True),
        Cmd(f"write {envf} (0600) from stdin",
            f"umask 077 && tmp=$(mktemp {q(envf + '.XXXXXX')}) && cat > \"$tmp\" && "
            f"chmod 0600 \"$tmp\" && mv -f \"$tmp\" {q(envf)}",
            changes_host=True, feed=FEED_ENV),
    ]
    run = ["docker", "run", "-d", "--name", ctr, "--network", "none",
           "-v", f"{vol}:{data_mount(new_major)}", "--env-file", envf,
           "-e", f"POSTGRES_USER={user}", "-e", "POSTGRES_DB=postgres"]
    if cfg.pgdata:
        run += ["-e", f"PGDATA={cfg.pgdata}"]
    plan += [
        Cmd(f"start {new_image} in the temporary container {ctr} on {vol}",
            _sh(*run, new_image), changes_host=True),
        # TCP, not the socket: the entrypoint's init server listens on the socket only
        # (docs/BEHAVIOUR.md#pg-docker-init-socket-only).
        Cmd(f"wait until {ctr} answers",
            _wait(_sh("docker", "exec", ctr, *_isready(user)), ctr, f"docker logs {ctr}"),
            changes_host=False, check="pg_isready within 60 s"),
        # pg_dumpall writes CREATE ROLE for the role it ran as, which the new cluster already
        # has: drop that one line (the first), keep its ALTER ROLE, stop at any other error
        # (docs/BEHAVIOUR.md#pg-dumpall-plain-output).
        Cmd(f"restore {dump} into {ctr}",
            f"set -o pipefail && (cd {q(rd)} && sha256sum -c --quiet dumpall.sql.sha256) && "
            f"ROLE_A={q(role_a)} ROLE_B={q(role_b)} awk "
            + q('d == 0 && ($0 == ENVIRON["ROLE_A"] || $0 == ENVIRON["ROLE_B"]) { d = 1; next } '
                '{ print }')
            + f" {q(dump)} | "
            + _sh("docker", "exec", "-i", ctr, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                  "-U", user, "-d", "postgres"),
            changes_host=True, check="psql exits 0 (ON_ERROR_STOP=1)"),
        Cmd(f"fingerprint after, in {ctr} ({new_image})",
            _sh("docker", "exec", "-i", ctr, "sh", "-c", _FINGERPRINT_SH, "sh", user),
            changes_host=False, check=CHECK_FINGERPRINT, stdin=fingerprint_sql),
        Cmd(f"stop and remove {ctr} and {envf} (the volume {vol} stays)",
            _sh("docker", "stop", "-t", _STOP_TIMEOUT, ctr) + " && "
            + _sh("docker", "rm", ctr) + f" && rm -f {q(envf)}",
            changes_host=True),
        Cmd(f"keep {f} as {kept}",
            f"cd {q(cfg.project_dir)} && {{ test ! -e {q(kept)} || "
            + _fail(f"{kept} exists (an earlier upgrade?); move it away, then rerun")
            + f"; }} && {_sh('cp', '-p', f, kept)}",
            changes_host=True),
        Cmd(f"switch {f} to {new_image} and {vol} (written atomically from stdin)",
            f"cd {q(cfg.project_dir)} && tmp=$(mktemp {q(f + '.XXXXXX')}) && "
            f"cp -p {q(f)} \"$tmp\" && cat > \"$tmp\" && mv -f \"$tmp\" {q(f)}",
            changes_host=True, feed=FEED_COMPOSE),
        Cmd(f"start the {db} service on {new_image}",
            _compose(cfg, "up", "-d", db), changes_host=True),
        Cmd(f"wait until the {db} service answers",
            f"cd {q(cfg.project_dir)} && {{ "
            + _wait(_sh("docker", "compose", "-p", cfg.project, "-f", f, "exec", "-T", db,
                        *_isready(user)), f"service {db}", f"docker compose logs {db}") + "; }",
            changes_host=False, check="pg_isready within 60 s"),
        Cmd(f"fingerprint in the switched {db} service (before the app writes)",
            _compose(cfg, "exec", "-T", db, "sh", "-c", _FINGERPRINT_SH, "sh", user),
            changes_host=False, check=CHECK_FINGERPRINT, stdin=fingerprint_sql),
    ]
    if cfg.app_services:
        plan.append(Cmd(f"start the app services ({', '.join(cfg.app_services)})",
                        _compose(cfg, "up", "-d", *cfg.app_services), changes_host=True))
    plan.append(Cmd(f"check: the {db} service reports PostgreSQL {new_major}",
                    _version_check(cfg, new_major),
                    changes_host=False, check=f"SELECT version() starts 'PostgreSQL {new_major}'"))
    return plan


def rollback_plan(cfg, old_image, new_image, run_id):
    """Back to old_image on the old volume, by swapping the compose file back.

    The old volume was never written after the dump, so it holds the data as of the upgrade;
    writes made on the new cluster since are NOT carried back. The new volume is NOT removed
    (drop it by hand once it is no longer wanted).
    """
    _check_run_id(run_id)
    old_major, new_major = _majors(old_image, new_image)
    f = cfg.compose_file
    kept = f"{f}.pre-pg{new_major}"
    rolled = f"{f}.pg{new_major}-rolled-back"
    vol = new_volume_name(cfg, new_image)
    db, user = cfg.db_service, cfg.db_user
    return [
        Cmd(f"stop the app services and {db}", _stop_apps(cfg, (db,)), changes_host=True),
        Cmd(f"restore {kept} over {f} (the switched one kept as {rolled})",
            f"cd {q(cfg.project_dir)} && "
            f"{{ test -f {q(kept)} || {_fail(f'{kept} not found; restore the old compose file by hand')}; }}"
            f" && {{ test ! -e {q(rolled)} || {_fail(f'{rolled} exists; move it away, then rerun')}; }}"
            f" && {_sh('cp', '-p', f, rolled)} && {_sh('mv', '-f', kept, f)}",
            changes_host=True),
        Cmd(f"start the {db} service on {old_image} and the old volume "
            f"(the volume {vol} is not removed)",
            _compose(cfg, "up", "-d", db), changes_host=True),
        Cmd(f"wait until the {db} service answers",
            f"cd {q(cfg.project_dir)} && {{ "
            + _wait(_sh("docker", "compose", "-p", cfg.project, "-f", f, "exec", "-T", db,
                        *_isready(user)), f"service {db}", f"docker compose logs {db}") + "; }",
            changes_host=False, check="pg_isready within 60 s"),
        *([Cmd(f"start the app services ({', '.join(cfg.app_services)})",
               _compose(cfg, "up", "-d", *cfg.app_services), changes_host=True)]
          if cfg.app_services else []),
        Cmd(f"check: the {db} service reports PostgreSQL {old_major}",
            _version_check(cfg, old_major),
            changes_host=False, check=f"SELECT version() starts 'PostgreSQL {old_major}'"),
    ]


def render(plan):
    """A numbered listing for --dry: "N. title" then "    $ command"."""
    return "\n".join(f"{i}. {cmd.title}\n    $ {cmd.command}" for i, cmd in enumerate(plan, 1))
