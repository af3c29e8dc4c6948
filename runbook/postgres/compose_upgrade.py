"""PostgreSQL major upgrade for a docker-compose stack (postgres:14 -> postgres:15), as a command plan.

Changing the compose file's `image: postgres:14` to `postgres:15` on the same volume does not
upgrade anything: the new server refuses the old data directory ("database files are
incompatible with server", docs/BEHAVIOUR.md#pg-docker-same-volume). Instead: dump the whole
cluster from the old container, create a NEW volume, start the new image on it in a temporary
container, restore, compare fingerprints, then switch the compose file to the new image and
volume. The old volume and the old compose file (`<file>.pre-pgNN`) stay untouched, so
`rollback_plan` is a file swap.

This module builds the commands (`Cmd`); the stack and its names are compose_stack.py, the
compose file edit compose_file.py; an executor runs them in order with `c.run` and stops
at the first failure. Commands use bash (`set -o pipefail`). Every interpolated value is quoted
with shlex.quote; the password and the compose text travel on stdin (see `Cmd.feed`), never in
an argument and never in the plan.
"""
import os
import shlex
from dataclasses import dataclass

from runbook.postgres.compose_file import switch_compose
from runbook.postgres.compose_stack import check_run_id, container_name, data_mount, majors, new_volume_name, run_dir

q = shlex.quote

FEED_ENV = "env_file"   # executor feeds compose_stack.env_file_text(password, ...) on stdin
FEED_COMPOSE = "compose"  # executor feeds switch_for(cfg, <current compose text>, ...) on stdin
CHECK_FINGERPRINT = "fingerprint"  # executor: stdout of every such Cmd must be equal

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


# --- command pieces -------------------------------------------------------------------------
def _sh(*argv):
    """argv as one shell command line, each word quoted."""
    return " ".join(q(str(a)) for a in argv)


def _dc(cfg, *argv):
    """`docker compose -p P -f F argv...` (or `docker-compose ...`: cfg.command)."""
    return _sh(*cfg.command.split(), "-p", cfg.project, "-f", cfg.compose_file, *argv)


def _compose(cfg, *argv):
    """`cd DIR && <compose> -p P -f F argv...`."""
    return f"cd {q(cfg.project_dir)} && " + _dc(cfg, *argv)


compose_line = _compose   # for recovery hints: the same command line a plan runs


def _fail(message):
    """A shell group that prints `error: message` to stderr and exits 1."""
    return f"{{ echo {q('error: ' + message)} >&2; exit 1; }}"


def _wait(probe, what, logs):
    """Retry `probe` for 60 s of wall time (a probe through docker-compose v1 alone takes ~1 s);
    fails naming `what` and its log."""
    msg = f"{what} did not answer pg_isready within {_WAIT_TRIES} s; read: {logs}"
    return (f"end=$((SECONDS + {_WAIT_TRIES})); until {probe} >/dev/null 2>&1; do "
            f"if [ \"$SECONDS\" -ge \"$end\" ]; then echo {q('error: ' + msg)} >&2; exit 1; fi; "
            "sleep 1; done")


def _isready(user):
    """pg_isready over TCP as `user` (the init server listens on the socket only)."""
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
    psql = _dc(cfg, "exec", "-T", cfg.db_service, "psql", "-X", "-A", "-t", "-U", cfg.db_user, "-d", "postgres",
               "-c", "SELECT version()")
    return (f"cd {q(cfg.project_dir)} && v=$({psql}) && printf '%s\\n' \"$v\" && "
            f"case \"$v\" in {q(want)}[!0-9]*) ;; *) "
            + _fail(f"service {cfg.db_service} does not report {want}; check the image in "
                    f"{cfg.compose_file}") + " ;; esac")


def _stop_apps(cfg, extra=()):
    """`docker compose stop` of the app services (and `extra` ones)."""
    services = [*cfg.app_services, *extra]
    return _compose(cfg, "stop", *services)


def switch_for(cfg, text, old_image, new_image):
    """switch_compose with the names the plan uses (what to feed the FEED_COMPOSE Cmd).

    Call it before running the plan: a ConfigError then stops before anything changed.
    """
    return switch_compose(text, cfg.db_service, old_image, new_image, cfg.volume,
                          new_volume_name(cfg, new_image), pgdata=cfg.pgdata)


# --- the plans ------------------------------------------------------------------------------
# --- the plans ------------------------------------------------------------------------------
def upgrade_plan(cfg, old_image, new_image, run_id, fingerprint_sql=COUNT_SQL):
    """The commands, in order, that move the compose db service from old_image to new_image.

    Before running it: switch_for(...) on the current compose text (stops early on a file the
    plan cannot edit). Commands marked check="fingerprint" must print the same; the executor
    compares them (the third one runs in the switched service before the app starts).
    """
    check_run_id(run_id)
    _, new_major = majors(old_image, new_image)
    rd = run_dir(cfg, run_id)
    plan = [_preflight(cfg, new_image, new_major, run_id)]
    if cfg.app_services:
        plan.append(Cmd(f"stop the app services ({', '.join(cfg.app_services)})",
                        _stop_apps(cfg), changes_host=True))
    plan += _dump(cfg, old_image, rd, fingerprint_sql)
    plan += _restore_into_new_volume(cfg, new_image, new_major, run_id, fingerprint_sql)
    plan += _switch(cfg, new_image, new_major, fingerprint_sql)
    if cfg.app_services:
        plan.append(Cmd(f"start the app services ({', '.join(cfg.app_services)})",
                        _compose(cfg, "up", "-d", *cfg.app_services), changes_host=True))
    plan.append(Cmd(f"check: the {cfg.db_service} service reports PostgreSQL {new_major}",
                    _version_check(cfg, new_major),
                    changes_host=False, check=f"SELECT version() starts 'PostgreSQL {new_major}'"))
    return plan


def _preflight(cfg, new_image, new_major, run_id):
    """Nothing left from an earlier run (kept file, volume, container); the new image is on the
    host (pulled if not); the file parses."""
    f = cfg.compose_file
    kept = f"{f}.pre-pg{new_major}"
    vol, ctr = new_volume_name(cfg, new_image), container_name(cfg, run_id)
    gates = [(f"test -f {q(f)}", f"{f} not found in {cfg.project_dir}; fix project_dir"),
             (f"test ! -e {q(kept)}", f"{kept} exists (an earlier upgrade?); move it away, then rerun"),
             (f"! docker volume inspect {q(vol)} >/dev/null 2>&1", _volume_exists(vol)),
             (f"! docker container inspect {q(ctr)} >/dev/null 2>&1",
              f"container {ctr} exists; remove it, then rerun"),
             # before the app stops, not at `docker run` after the dump
             (f"{{ {_sh('docker', 'image', 'inspect', new_image)} >/dev/null 2>&1 || "
              f"{_sh('docker', 'pull', '-q', new_image)} >/dev/null; }}",
              f"image {new_image} is not on the host and could not be pulled; pull or build it, "
              "then rerun")]
    return Cmd(
        f"preflight: compose file present, no backup, volume or container left from a run, "
        f"{new_image} on the host",
        f"cd {q(cfg.project_dir)} && "
        + " && ".join(f"{{ {test} || {_fail(message)}; }}" for test, message in gates)
        + f" && {_dc(cfg, 'config', '-q')}",
        changes_host=False, check="exits 0")


def _volume_exists(vol):
    """The error when the new volume is already there: never reuse or drop it automatically."""
    return f"volume {vol} exists (an earlier attempt?); inspect it and rename or drop it by hand, then rerun"


def _dump(cfg, old_image, rd, fingerprint_sql):
    """pg_dumpall from the old service (complete, checksummed), then its fingerprint."""
    dump = os.path.join(rd, "dumpall.sql")
    db, user = cfg.db_service, cfg.db_user
    return [
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
    ]


def _restore_into_new_volume(cfg, new_image, new_major, run_id, fingerprint_sql):
    """Stop the old service, restore the dump into new_image on a new volume, fingerprint it."""
    rd = run_dir(cfg, run_id)
    dump, envf = os.path.join(rd, "dumpall.sql"), os.path.join(rd, "pg.env")
    vol, ctr = new_volume_name(cfg, new_image), container_name(cfg, run_id)
    db, user = cfg.db_service, cfg.db_user
    return [
        Cmd(f"stop the {db} service (the old volume is kept as it is)",
            _compose(cfg, "stop", db), changes_host=True),
        Cmd(f"create the volume {vol}",
            f"{{ ! docker volume inspect {q(vol)} >/dev/null 2>&1 || "
            + _fail(_volume_exists(vol)) + f"; }} && {_sh('docker', 'volume', 'create', vol)}",
            changes_host=True),
        Cmd(f"write {envf} (0600) from stdin",
            f"umask 077 && tmp=$(mktemp {q(envf + '.XXXXXX')}) && cat > \"$tmp\" && "
            f"chmod 0600 \"$tmp\" && mv -f \"$tmp\" {q(envf)}",
            changes_host=True, feed=FEED_ENV),
        Cmd(f"start {new_image} in the temporary container {ctr} on {vol}",
            _docker_run(cfg, new_image, new_major, ctr, vol, envf), changes_host=True),
        # TCP, not the socket: the entrypoint's init server listens on the socket only
        # (docs/BEHAVIOUR.md#pg-docker-init-socket-only).
        Cmd(f"wait until {ctr} answers",
            _wait(_sh("docker", "exec", ctr, *_isready(user)), ctr, f"docker logs {ctr}"),
            changes_host=False, check="pg_isready within 60 s"),
        _restore(cfg, rd, dump, ctr),
        Cmd(f"fingerprint after, in {ctr} ({new_image})",
            _sh("docker", "exec", "-i", ctr, "sh", "-c", _FINGERPRINT_SH, "sh", user),
            changes_host=False, check=CHECK_FINGERPRINT, stdin=fingerprint_sql),
        Cmd(f"stop and remove {ctr} and {envf} (the volume {vol} stays)",
            _sh("docker", "stop", "-t", _STOP_TIMEOUT, ctr) + " && "
            + _sh("docker", "rm", ctr) + f" && rm -f {q(envf)}",
            changes_host=True),
    ]


def _docker_run(cfg, new_image, new_major, ctr, vol, envf):
    """`docker run` of the temporary container: no network, the new volume, the env file."""
    run = ["docker", "run", "-d", "--name", ctr, "--network", "none",
           "-v", f"{vol}:{data_mount(new_major)}", "--env-file", envf,
           "-e", f"POSTGRES_USER={cfg.db_user}", "-e", "POSTGRES_DB=postgres"]
    if cfg.pgdata:
        run += ["-e", f"PGDATA={cfg.pgdata}"]
    return _sh(*run, new_image)


def _restore(cfg, rd, dump, ctr):
    """psql < the checksummed dump in the temporary container, stopping at the first error.

    pg_dumpall writes CREATE ROLE for the role it ran as, which the new cluster already has: drop
    that one line (the first), keep its ALTER ROLE (docs/BEHAVIOUR.md#pg-dumpall-plain-output).
    """
    user = cfg.db_user
    role_a = f"CREATE ROLE {user};"
    role_b = 'CREATE ROLE "' + user.replace('"', '""') + '";'
    return Cmd(
        f"restore {dump} into {ctr}",
        f"set -o pipefail && (cd {q(rd)} && sha256sum -c --quiet dumpall.sql.sha256) && "
        f"ROLE_A={q(role_a)} ROLE_B={q(role_b)} awk "
        + q('d == 0 && ($0 == ENVIRON["ROLE_A"] || $0 == ENVIRON["ROLE_B"]) { d = 1; next } '
            '{ print }')
        + f" {q(dump)} | "
        + _sh("docker", "exec", "-i", ctr, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
              "-U", user, "-d", "postgres"),
        changes_host=True, check="psql exits 0 (ON_ERROR_STOP=1)")


def _switch(cfg, new_image, new_major, fingerprint_sql):
    """Keep the compose file, write the switched one, start the service and fingerprint it."""
    f, db = cfg.compose_file, cfg.db_service
    kept = f"{f}.pre-pg{new_major}"
    vol = new_volume_name(cfg, new_image)
    return [
        Cmd(f"keep {f} as {kept}",
            f"cd {q(cfg.project_dir)} && {{ test ! -e {q(kept)} || "
            + _fail(f"{kept} exists (an earlier upgrade?); move it away, then rerun")
            + f"; }} && {_sh('cp', '-p', f, kept)}",
            changes_host=True),
        Cmd(f"switch {f} to {new_image} and {vol} (written atomically from stdin)",
            f"cd {q(cfg.project_dir)} && tmp=$(mktemp {q(f + '.XXXXXX')}) && "
            f"cp -p {q(f)} \"$tmp\" && cat > \"$tmp\" && mv -f \"$tmp\" {q(f)}",
            changes_host=True, feed=FEED_COMPOSE),
        _remove_container(cfg),
        Cmd(f"start the {db} service on {new_image}",
            _compose(cfg, "up", "-d", db), changes_host=True),
        _wait_service(cfg),
        Cmd(f"fingerprint in the switched {db} service (before the app writes)",
            _compose(cfg, "exec", "-T", db, "sh", "-c", _FINGERPRINT_SH, "sh", cfg.db_user),
            changes_host=False, check=CHECK_FINGERPRINT, stdin=fingerprint_sql),
    ]


def _remove_container(cfg):
    """`rm -s -f` of the db service's container (volumes stay): a recreated one would get the
    old one's volume at the image's VOLUME path (docs/BEHAVIOUR.md#compose-recreate-inherits-volume)."""
    return Cmd(f"remove the {cfg.db_service} service's container (no volume is removed)",
               _compose(cfg, "rm", "-s", "-f", cfg.db_service), changes_host=True)


def _wait_service(cfg):
    """Wait (bounded) until the compose db service answers pg_isready."""
    db = cfg.db_service
    return Cmd(f"wait until the {db} service answers",
               f"cd {q(cfg.project_dir)} && {{ "
               + _wait(_dc(cfg, "exec", "-T", db, *_isready(cfg.db_user)), f"service {db}",
                       f"{cfg.command} logs {db}") + "; }",
               changes_host=False, check="pg_isready within 60 s")


def rollback_plan(cfg, old_image, new_image, run_id):
    """Back to old_image on the old volume, by swapping the compose file back.

    The old volume was never written after the dump, so it holds the data as of the upgrade;
    writes made on the new cluster since are NOT carried back. The new volume is NOT removed
    (drop it by hand once it is no longer wanted).
    """
    check_run_id(run_id)
    old_major, new_major = majors(old_image, new_image)
    f = cfg.compose_file
    kept = f"{f}.pre-pg{new_major}"
    rolled = f"{f}.pg{new_major}-rolled-back"
    vol = new_volume_name(cfg, new_image)
    db = cfg.db_service
    return [
        Cmd(f"stop the app services and {db}", _stop_apps(cfg, (db,)), changes_host=True),
        Cmd(f"restore {kept} over {f} (the switched one kept as {rolled})",
            f"cd {q(cfg.project_dir)} && "
            f"{{ test -f {q(kept)} || {_fail(f'{kept} not found; restore the old compose file by hand')}; }}"
            f" && {{ test ! -e {q(rolled)} || {_fail(f'{rolled} exists; move it away, then rerun')}; }}"
            f" && {_sh('cp', '-p', f, rolled)} && {_sh('mv', '-f', kept, f)}",
            changes_host=True),
        _remove_container(cfg),
        Cmd(f"start the {db} service on {old_image} and the old volume "
            f"(the volume {vol} is not removed)",
            _compose(cfg, "up", "-d", db), changes_host=True),
        _wait_service(cfg),
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
