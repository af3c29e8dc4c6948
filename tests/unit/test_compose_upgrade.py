"""The docker-compose PostgreSQL major upgrade plan, without Docker.

The plans are checked for order, quoting and what they never do; `switch_compose` on realistic
compose texts and on each file it must refuse. Some plans are also run for real with bash in a
temp dir against a fake `docker` on PATH that logs its argv, so quoting and the file handling
(modes, atomic writes, the kept compose file) are proven by what the shell does.
"""
import os
import shlex
import stat
import subprocess

import pytest

from runbook.engine.errors import ConfigError
from runbook.postgres import compose_file, compose_stack
from runbook.postgres import compose_upgrade as cu

OLD, NEW, RUN = "postgres:14", "postgres:15", "20240101-120000-ab12"


def cfg_(**over):
    base = {"project_dir": "/srv/shop", "backup_dir": "/var/backups/pg"}
    return compose_stack.ComposeDB(**{**base, **over})


def titles(plan):
    return [c.title for c in plan]


# --- plan order -------------------------------------------------------------------------------
UPGRADE_ORDER = [
    "preflight", "stop the app services", "dump roles and all databases", "fingerprint before",
    "stop the db service", "create the volume", "write ", "start postgres:15 in the temporary",
    "wait until shop-pgupgrade-", "restore ", "fingerprint after", "stop and remove",
    "keep docker-compose.yml as docker-compose.yml.pre-pg15", "switch docker-compose.yml",
    "remove the db service's container", "start the db service on postgres:15",
    "wait until the db service", "fingerprint in the switched", "start the app services",
    "check: the db service reports PostgreSQL 15",
]


@pytest.mark.parametrize("apps, expected", [
    (("backend",), UPGRADE_ORDER),
    (("backend", "worker"), UPGRADE_ORDER),
    ((), [t for t in UPGRADE_ORDER if "app services" not in t]),
])
def test_upgrade_plan_order(apps, expected):
    plan = cu.upgrade_plan(cfg_(app_services=apps), OLD, NEW, RUN)
    got = titles(plan)
    assert len(got) == len(expected), got
    for title, prefix in zip(got, expected, strict=True):
        assert title.startswith(prefix), (title, prefix)
    if apps:
        assert shlex.split(plan[1].command)[-len(apps):] == list(apps)


@pytest.mark.parametrize("apps, expected", [
    (("backend",), ["stop the app services and db", "restore docker-compose.yml.pre-pg15",
                    "remove the db service's container", "start the db service on postgres:14",
                    "wait until the db service",
                    "start the app services", "check: the db service reports PostgreSQL 14"]),
    ((), ["stop the app services and db", "restore docker-compose.yml.pre-pg15",
          "remove the db service's container", "start the db service on postgres:14", "wait until the db service",
          "check: the db service reports PostgreSQL 14"]),
])
def test_rollback_plan_order(apps, expected):
    got = titles(cu.rollback_plan(cfg_(app_services=apps), OLD, NEW, RUN))
    assert len(got) == len(expected), got
    for title, prefix in zip(got, expected, strict=True):
        assert title.startswith(prefix), (title, prefix)


def test_fingerprint_commands_are_marked_and_fed_sql_on_stdin():
    plan = cu.upgrade_plan(cfg_(), OLD, NEW, RUN, fingerprint_sql="SELECT 42 \\gexec")
    marked = [c for c in plan if c.check == cu.CHECK_FINGERPRINT]
    assert [c.title.split(",")[0] for c in marked] == [
        "fingerprint before", "fingerprint after", "fingerprint in the switched db service "
        "(before the app writes)"]
    for c in marked:
        assert c.stdin == "SELECT 42 \\gexec"
        assert "SELECT 42" not in c.command
        assert not c.changes_host
    # before runs in the old service, after in the temporary container
    assert "docker compose" in marked[0].command and "exec -T db sh -c" in marked[0].command
    assert shlex.split(marked[1].command)[:4] == ["docker", "exec", "-i", "shop-pgupgrade-" + RUN]


# --- quoting ----------------------------------------------------------------------------------
HOSTILE = {
    "project_dir": "/srv/my shop's $(touch /tmp/pwned)",
    "backup_dir": "/var/backups/it's; rm -rf ~",
    "compose_file": "compose files/prod 'x'.yml",
    "db_user": "app'user $(id)",
}


def _all_plans(cfg):
    return cu.upgrade_plan(cfg, OLD, NEW, RUN) + cu.rollback_plan(cfg, OLD, NEW, RUN)


@pytest.mark.parametrize("field", sorted(HOSTILE))
def test_every_value_is_quoted(field):
    cfg = cfg_(**{field: HOSTILE[field]}, project_name="shop")
    value = HOSTILE[field]
    seen = 0
    for cmd in _all_plans(cfg):
        words = shlex.split(cmd.command)  # round-trips: balanced quotes
        # every value has a single quote, which shlex.quote never leaves bare
        assert value not in cmd.command, (field, cmd.title)
        seen += any(value in w for w in words)
        r = subprocess.run(["bash", "-n", "-c", cmd.command], capture_output=True, text=True)
        assert r.returncode == 0, (cmd.title, r.stderr)
    assert seen >= 3, f"{field} reached only {seen} commands"


@pytest.mark.parametrize("field, expect", [
    ("project_dir", lambda c: ["cd", c.project_dir]),
    ("compose_file", lambda c: ["-f", c.compose_file]),
])
def test_values_come_back_as_single_words(field, expect):
    cfg = cfg_(**{field: HOSTILE[field]}, project_name="shop")
    words = shlex.split(cu.upgrade_plan(cfg, OLD, NEW, RUN)[1].command)
    want = expect(cfg)
    assert any(words[i:i + len(want)] == want for i in range(len(words))), words


@pytest.mark.parametrize("run_id", ["a b", "../x", "x;rm", "", "-rf"])
def test_unusable_run_id_is_refused(run_id):
    for build in (cu.upgrade_plan, cu.rollback_plan):
        with pytest.raises(ConfigError, match="run id"):
            build(cfg_(), OLD, NEW, run_id)


@pytest.mark.parametrize("over, fragment", [
    ({"project_dir": "srv/shop"}, "project_dir"),
    ({"backup_dir": "backups"}, "backup_dir"),
    ({"compose_file": "/srv/shop/docker-compose.yml"}, "compose_file"),
    ({"app_services": "backend"}, "app_services"),
    ({"db_service": "db;x"}, "db_service"),
    ({"volume": "pg data"}, "volume"),
    ({"project_dir": "/srv/___"}, "project name"),
    ({"project_name": "Shop"}, "project name"),
    ({"project_dir": "/srv/-x", "command": "docker-compose"}, "project name"),
])
def test_bad_config_is_refused(over, fragment):
    with pytest.raises(ConfigError, match=fragment) as e:
        cfg_(**over)
    assert "\n" not in e.value.text


@pytest.mark.parametrize("project_dir, command, name", [
    ("/srv/Shop", "docker compose", "shop"), ("/srv/my shop.v2/", "docker compose", "myshopv2"),
    ("/opt/_app-1", "docker compose", "app-1"),
    ("/srv/my shop.v2/", "docker-compose", "myshopv2"), ("/opt/_app-1", "docker-compose", "_app-1")])
def test_project_name_is_normalized_like_compose(project_dir, command, name):
    cfg = cfg_(project_dir=project_dir, command=command)
    assert cfg.project == name
    assert compose_stack.new_volume_name(cfg, NEW) == f"{name}_postgres_data_pg15"


@pytest.mark.parametrize("image, major", [
    ("postgres:15", "15"), ("postgres:16.4-alpine", "16"),
    ("registry:5000/library/postgres:17-bookworm@sha256:ab", "17"), ("postgres:9.6", "9.6")])
def test_image_major(image, major):
    assert compose_stack.image_major(image) == major


@pytest.mark.parametrize("old, new, fragment", [
    ("postgres:latest", NEW, "no version tag"), ("registry:5000/postgres", NEW, "no version tag"),
    (NEW, OLD, "not a major upgrade"), ("postgres:15.2", "postgres:15.6", "not a major upgrade")])
def test_bad_images_are_refused(old, new, fragment):
    for build in (cu.upgrade_plan, cu.rollback_plan):
        with pytest.raises(ConfigError, match=fragment):
            build(cfg_(), old, new, RUN)


@pytest.mark.parametrize("command, words", [
    ("docker compose", ["docker", "compose"]), ("docker-compose", ["docker-compose"])])
def test_compose_command_reaches_every_compose_call(command, words):
    cfg = cfg_(command=command)
    n = 0
    for cmd in _all_plans(cfg):
        w = shlex.split(cmd.command)
        for i in range(len(words), len(w) - 2):
            if w[i:i + 3] == ["-p", "shop", "-f"]:   # a compose call: the command, -p P -f F
                before = w[i - len(words):i]
                before[0] = before[0].removeprefix("v=$(")   # the version check's substitution
                assert before == words, cmd.title
                n += 1
    assert n >= 10
    preflight = cu.upgrade_plan(cfg, OLD, NEW, RUN)[0].command
    assert preflight.endswith(" ".join([*words, "-p", "shop", "-f", "docker-compose.yml",
                                        "config", "-q"]))
    if command == "docker-compose":
        assert all("docker compose" not in c.command for c in _all_plans(cfg))


@pytest.mark.parametrize("command", ["podman-compose", "docker  compose", "", "docker-compose;x"])
def test_unknown_compose_command_is_refused(command):
    with pytest.raises(ConfigError, match="compose command") as e:
        cfg_(command=command)
    assert "\n" not in e.value.text


# --- secrets and volumes ----------------------------------------------------------------------
@pytest.mark.parametrize("password", ["s3cr3t-Pa55", "with space 'and' $(quotes)", "p=w#x"])
def test_password_never_in_a_command(password):
    cfg = cfg_()
    body = compose_stack.env_file_text(password)
    assert body == f"POSTGRES_PASSWORD={password}\n"
    plan = cu.upgrade_plan(cfg, OLD, NEW, RUN)
    for cmd in plan + cu.rollback_plan(cfg, OLD, NEW, RUN):
        for text in (cmd.command, cmd.title, cmd.stdin or ""):
            assert password not in text
            assert "POSTGRES_PASSWORD" not in text
    fed = [c for c in plan if c.feed == cu.FEED_ENV]
    assert len(fed) == 1
    run = next(c for c in plan if shlex.split(c.command)[:2] == ["docker", "run"])
    assert plan.index(fed[0]) < plan.index(run)
    words = shlex.split(run.command)
    assert words[words.index("--env-file") + 1] == "/var/backups/pg/" + RUN + "/pg.env"


@pytest.mark.parametrize("password, extra, fragment", [
    ("", None, "empty"), ("a\nb", None, "line break"),
    ("pw", {"POSTGRES_USER": "x"}, "POSTGRES_USER"), ("pw", {"bad name": "x"}, "env name")])
def test_env_file_text_refuses(password, extra, fragment):
    with pytest.raises(ConfigError, match=fragment):
        compose_stack.env_file_text(password, extra)


def test_env_file_text_extra():
    assert compose_stack.env_file_text("pw", {"POSTGRES_HOST_AUTH_METHOD": "scram-sha-256"}) == (
        "POSTGRES_PASSWORD=pw\nPOSTGRES_HOST_AUTH_METHOD=scram-sha-256\n")


@pytest.mark.parametrize("build", [cu.upgrade_plan, cu.rollback_plan])
def test_no_volume_is_ever_removed(build):
    cfg = cfg_()
    plan = build(cfg, OLD, NEW, RUN)
    for cmd in plan:
        words = shlex.split(cmd.command)
        joined = " ".join(words)
        assert "volume rm" not in joined and "volume prune" not in joined
        assert not ("down" in words and ("-v" in words or "--volumes" in words))
        assert "rm -v" not in joined
    # the old volume's name never reaches a docker command at all
    assert not any("shop_postgres_data " in c.command or c.command.endswith("shop_postgres_data")
                   for c in plan)


@pytest.mark.parametrize("build", [cu.upgrade_plan, cu.rollback_plan])
def test_db_container_is_removed_before_each_start(build):
    """A recreated container would inherit the old data volume (Compose v1 did, for real)."""
    plan = build(cfg_(), OLD, NEW, RUN)
    starts = [i for i, c in enumerate(plan) if shlex.split(c.command)[-3:] == ["up", "-d", "db"]]
    assert starts
    for i in starts:
        assert shlex.split(plan[i - 1].command)[-4:] == ["rm", "-s", "-f", "db"]


def test_new_volume_mount_follows_the_new_major():
    for new, target in [("postgres:17", "/var/lib/postgresql/data"),
                        ("postgres:18", "/var/lib/postgresql")]:
        run = next(c for c in cu.upgrade_plan(cfg_(), OLD, new, RUN)
                   if c.command.startswith("docker run"))
        words = shlex.split(run.command)
        assert words[words.index("-v") + 1] == f"shop_postgres_data_pg{new[-2:]}:{target}"
        assert words[-1] == new


# --- switch_compose ---------------------------------------------------------------------------
BASIC = """\
# production stack
services:
  backend:
    image: registry.example.com/shop:1.4   # the app
    depends_on: [db]
  db:
    # postgres:13 was retired in March
    image: "postgres:14"
    restart: unless-stopped
    volumes:
      - postgres_data:/var/lib/postgresql/data
      - ./initdb:/docker-entrypoint-initdb.d:ro

volumes:
  postgres_data: {}
  media:
    driver: local

# end of file
"""
BASIC_OUT = """\
# production stack
services:
  backend:
    image: registry.example.com/shop:1.4   # the app
    depends_on: [db]
  db:
    # postgres:13 was retired in March
    image: "postgres:15"
    restart: unless-stopped
    volumes:
      - postgres_data_pg15:/var/lib/postgresql/data
      - ./initdb:/docker-entrypoint-initdb.d:ro

volumes:
  postgres_data: {}
  media:
    driver: local
  postgres_data_pg15:
    external: true
    name: shop_postgres_data_pg15

# end of file
"""

FOUR_SPACES = """\
version: "3.8"
services:
    database:   # the one to upgrade
        image: 'postgres:14'  # pinned by ops
        environment:
            - POSTGRES_PASSWORD_FILE=/run/secrets/pg
            - PGDATA=/var/lib/postgresql/data/pgdata
        volumes:
            - "pgdata:/var/lib/postgresql/data:rw"
volumes:
    pgdata:
"""
FOUR_SPACES_OUT = """\
version: "3.8"
services:
    database:   # the one to upgrade
        image: 'postgres:15'  # pinned by ops
        environment:
            - POSTGRES_PASSWORD_FILE=/run/secrets/pg
            - PGDATA=/var/lib/postgresql/data/pgdata
        volumes:
            - "pgdata_pg15:/var/lib/postgresql/data:rw"
volumes:
    pgdata:
    pgdata_pg15:
        external: true
        name: shop_pgdata_pg15
"""

LONG_SYNTAX = """\
services:
  db:
    image: postgres:14
    volumes:
      - type: bind
        source: ./conf
        target: /etc/postgresql
      # the data
      - type: volume
        source: postgres_data
        target: /var/lib/postgresql/data
  backend:
    image: shop:latest
volumes:
  postgres_data:
networks:
  default:
"""
LONG_SYNTAX_OUT = LONG_SYNTAX.replace("image: postgres:14", "image: postgres:15").replace(
    "source: postgres_data", "source: postgres_data_pg15").replace(
    "volumes:\n  postgres_data:\n", "volumes:\n  postgres_data:\n  postgres_data_pg15:\n"
    "    external: true\n    name: shop_postgres_data_pg15\n")

TO_18 = BASIC.replace('"postgres:14"', '"postgres:17"')


@pytest.mark.parametrize("text, service, volume, pgdata, new, expected", [
    (BASIC, "db", "postgres_data", None, NEW, BASIC_OUT),
    (BASIC.replace("\n", "\r\n"), "db", "postgres_data", None, NEW,
     BASIC_OUT.replace("\n", "\r\n")),
    (FOUR_SPACES, "database", "pgdata", "/var/lib/postgresql/data/pgdata", NEW, FOUR_SPACES_OUT),
    (LONG_SYNTAX, "db", "postgres_data", None, NEW, LONG_SYNTAX_OUT),
    (TO_18, "db", "postgres_data", None, "postgres:18",
     BASIC_OUT.replace("pg15", "pg18").replace('"postgres:15"', '"postgres:18"').replace(
         "postgres_data_pg18:/var/lib/postgresql/data", "postgres_data_pg18:/var/lib/postgresql")),
])
def test_switch_compose(text, service, volume, pgdata, new, expected):
    old = "postgres:17" if text is TO_18 else OLD
    cfg = cfg_(db_service=service, volume=volume, pgdata=pgdata)
    out = cu.switch_for(cfg, text, old, new)
    assert out == expected
    # the edit keeps every comment and adds exactly the three lines of the new volume
    for line in text.splitlines():
        if line.strip().startswith("#"):
            assert line in out.splitlines()
    assert len(out.splitlines()) == len(text.splitlines()) + 3


def _broken(text, old, new):
    assert old in text, old
    return text.replace(old, new)


@pytest.mark.parametrize("text, kwargs, fragment", [
    (_broken(BASIC, '    image: "postgres:14"\n', ""), {}, "has 0 `image:` lines"),
    (_broken(BASIC, '    restart: unless-stopped\n', '    image: postgres:14\n'), {},
     "has 2 `image:` lines"),
    (_broken(BASIC, '"postgres:14"', "postgres:13"), {}, "uses image 'postgres:13', not postgres:14"),
    (BASIC_OUT, {}, "already uses postgres:15"),
    (_broken(BASIC, "- postgres_data:/var/lib/postgresql/data", "- ./data:/var/lib/postgresql/data"),
     {}, "no mount postgres_data:/var/lib/postgresql/data"),
    # flow-style volume lists are not edited (long syntax is)
    (_broken(BASIC, "    volumes:\n      - postgres_data:/var/lib/postgresql/data\n"
                    "      - ./initdb:/docker-entrypoint-initdb.d:ro\n",
             '    volumes: ["postgres_data:/var/lib/postgresql/data"]\n'),
     {}, "no mount postgres_data:/var/lib/postgresql/data"),
    (BASIC, {"db_service": "postgres"}, "service 'postgres' not found"),
    (BASIC, {"volume": "pgdata"}, "no mount pgdata:"),
    (FOUR_SPACES, {"db_service": "database", "volume": "pgdata"}, "sets PGDATA="),
    (BASIC, {"pgdata": "/var/lib/postgresql/data/pg"}, "sets PGDATA=None"),
    (_broken(BASIC, "  media:\n", "  postgres_data_pg15:\n"), {}, "already declared"),
    (_broken(BASIC, "volumes:\n  postgres_data: {}\n", "vols:\n  postgres_data: {}\n"), {},
     "no block `volumes:`"),
    (_broken(BASIC, "  postgres_data: {}\n", ""), {}, "is not declared under top-level volumes"),
    ("version: '3'\n", {}, "no block `services:`"),
])
def test_switch_compose_refuses(text, kwargs, fragment):
    args = {"db_service": "db", "old_image": OLD, "new_image": NEW, "volume": "postgres_data",
            "new_volume": "shop_postgres_data_pg15", **kwargs}
    with pytest.raises(ConfigError) as e:
        compose_file.switch_compose(text, **args)
    assert fragment in e.value.text
    assert "\n" not in e.value.text and ";" in e.value.text  # one line: problem; fix


# --- rendering --------------------------------------------------------------------------------
def test_render():
    plan = [cu.Cmd("first", "echo 'a b'", False), cu.Cmd("second", "true", True)]
    assert cu.render(plan) == "1. first\n    $ echo 'a b'\n2. second\n    $ true"
    out = cu.render(cu.upgrade_plan(cfg_(), OLD, NEW, RUN)).splitlines()
    assert out[0].startswith("1. preflight") and out[1].startswith("    $ cd /srv/shop && ")
    assert out[-2].startswith("20. check:")


# --- running the plans with bash and a fake docker --------------------------------------------
FAKE_DOCKER = r"""#!/bin/bash
printf '%s\n' "$*" >> "$FAKE_LOG"
case "$*" in
  *"SELECT version()"*) echo "PostgreSQL $FAKE_MAJOR.4 on x86_64-pc-linux-gnu" ;;
  *" sh -c "*) cat > /dev/null; printf '@@shop\norders|3\n' ;;
  *"psql -X -q -v ON_ERROR_STOP=1"*) cat > "$FAKE_RESTORE" ;;
  *pg_dumpall*) printf '%s\n' "$FAKE_DUMP" ;;
  *"volume inspect"*|*"container inspect"*) exit 1 ;;
esac
exit 0
"""
DUMP = ("SET default_transaction_read_only = off;\nCREATE ROLE \"app'user\";\n"
        "ALTER ROLE \"app'user\" WITH SUPERUSER LOGIN;\nCREATE ROLE shop;\n"
        "ALTER ROLE shop WITH LOGIN;\nCREATE DATABASE shop;\n"
        "COPY t (x) FROM stdin;\nCREATE ROLE \"app'user\";\n\\.\n"
        "--\n-- PostgreSQL database cluster dump complete\n--\n")


@pytest.fixture
def host(tmp_path):
    """(cfg, env, run(cmd, stdin) -> CompletedProcess) on a temp 'host' with a fake docker."""
    project = tmp_path / "my shop's $(x)"
    project.mkdir()
    (project / "compose files").mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").write_text(FAKE_DOCKER)
    (bindir / "docker").chmod(0o755)
    cfg = compose_stack.ComposeDB(str(project), str(tmp_path / "back ups"),
                       compose_file="compose files/prod.yml", db_user="app'user")
    (project / cfg.compose_file).write_text(BASIC)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "log"),
           "FAKE_RESTORE": str(tmp_path / "restored.sql"), "FAKE_MAJOR": "15", "FAKE_DUMP": DUMP}

    def run(cmd, stdin=""):
        return subprocess.run(["bash", "-c", cmd], input=stdin, env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    return cfg, env, run


def _execute(cfg, plan, run, password="pw 'x'"):
    """What an executor does: feed stdin, stop at the first failure, compare fingerprints."""
    prints = []
    for cmd in plan:
        stdin = cmd.stdin or ""
        if cmd.feed == cu.FEED_ENV:
            stdin = compose_stack.env_file_text(password)
        elif cmd.feed == cu.FEED_COMPOSE:
            text = open(os.path.join(cfg.project_dir, cfg.compose_file)).read()
            stdin = cu.switch_for(cfg, text, OLD, NEW)
        r = run(cmd.command, stdin)
        if r.returncode:
            return cmd, r, prints
        if cmd.check == cu.CHECK_FINGERPRINT:
            prints.append(r.stdout)
    return None, None, prints


def test_upgrade_plan_runs(host):
    cfg, env, run = host
    compose = os.path.join(cfg.project_dir, cfg.compose_file)
    failed, r, prints = _execute(cfg, cu.upgrade_plan(cfg, OLD, NEW, RUN), run)
    assert failed is None, (failed.title, r.stderr)
    assert prints == ["@@shop\norders|3\n"] * 3
    rd = os.path.join(cfg.backup_dir, RUN)
    assert stat.S_IMODE(os.stat(rd).st_mode) == 0o700
    dump = os.path.join(rd, "dumpall.sql")
    assert stat.S_IMODE(os.stat(dump).st_mode) == 0o600
    assert open(dump).read() == DUMP + "\n"
    assert subprocess.run(["sha256sum", "-c", "dumpall.sql.sha256"], cwd=rd).returncode == 0
    assert not os.path.exists(os.path.join(rd, "pg.env"))  # removed with the container
    # the restore got the dump without the first CREATE ROLE of the dumping role only
    restored = open(env["FAKE_RESTORE"]).read()
    assert restored == DUMP.replace("CREATE ROLE \"app'user\";\n", "", 1) + "\n"
    assert open(compose).read() == cu.switch_for(cfg, BASIC, OLD, NEW)
    assert open(compose + ".pre-pg15").read() == BASIC
    log = open(env["FAKE_LOG"]).read().splitlines()
    assert "volume create myshopsx_postgres_data_pg15" in log
    assert not any("volume rm" in line for line in log)
    run_line = next(line for line in log if line.startswith("run "))
    assert "--env-file " + os.path.join(rd, "pg.env") in run_line and "pw" not in run_line


def test_env_file_is_written_0600_from_stdin(host):
    cfg, env, run = host
    os.makedirs(os.path.join(cfg.backup_dir, RUN), mode=0o700)
    write = next(c for c in cu.upgrade_plan(cfg, OLD, NEW, RUN) if c.feed == cu.FEED_ENV)
    r = run(write.command, compose_stack.env_file_text("s3 'cr3t"))
    assert r.returncode == 0, r.stderr
    path = os.path.join(cfg.backup_dir, RUN, "pg.env")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert open(path).read() == "POSTGRES_PASSWORD=s3 'cr3t\n"


@pytest.mark.parametrize("reported, ok", [("15", True), ("14", False), ("150", False)])
def test_version_check_needs_the_new_major(host, reported, ok):
    cfg, env, run = host
    env["FAKE_MAJOR"] = reported
    check = cu.upgrade_plan(cfg, OLD, NEW, RUN)[-1]
    r = run(check.command)
    assert (r.returncode == 0) is ok, r.stderr
    if not ok:
        assert "does not report PostgreSQL 15" in r.stderr


def test_incomplete_dump_stops(host):
    cfg, env, run = host
    env["FAKE_DUMP"] = DUMP.split("--\n-- PostgreSQL")[0]
    dump = next(c for c in cu.upgrade_plan(cfg, OLD, NEW, RUN) if c.title.startswith("dump"))
    r = run(dump.command)
    assert r.returncode != 0 and "incomplete" in r.stderr
    assert not os.path.exists(os.path.join(cfg.backup_dir, RUN, "dumpall.sql"))


@pytest.mark.parametrize("fake, ok", [
    ("", True),   # the image is there
    ('case "$*" in "image inspect"*) exit 1 ;; "pull -q postgres:15") exit 0 ;; esac', True),
    ('case "$*" in "image inspect"*|pull*) exit 1 ;; esac', False),
])
def test_preflight_needs_the_new_image(host, fake, ok):
    cfg, env, run = host
    docker = os.path.join(os.path.dirname(env["PATH"].split(":")[0]), "bin", "docker")
    with open(docker) as f:
        text = f.read()
    with open(docker, "w") as f:
        f.write(text.replace('printf \'%s\\n\' "$*" >> "$FAKE_LOG"\n',
                             'printf \'%s\\n\' "$*" >> "$FAKE_LOG"\n' + fake + "\n", 1))
    r = run(cu.upgrade_plan(cfg, OLD, NEW, RUN)[0].command)
    assert (r.returncode == 0) is ok, r.stderr
    if not ok:
        assert "image postgres:15 is not on the host and could not be pulled" in r.stderr


def test_compose_backup_refuses_an_existing_copy(host):
    cfg, env, run = host
    kept = os.path.join(cfg.project_dir, cfg.compose_file + ".pre-pg15")
    with open(kept, "w") as f:
        f.write("older\n")
    plan = cu.upgrade_plan(cfg, OLD, NEW, RUN)
    for cmd in (plan[0], next(c for c in plan if c.title.startswith("keep "))):
        r = run(cmd.command)
        assert r.returncode != 0 and "pre-pg15 exists" in r.stderr, cmd.title
    assert open(kept).read() == "older\n"


def test_rollback_restores_the_pre_file(host):
    cfg, env, run = host
    compose = os.path.join(cfg.project_dir, cfg.compose_file)
    failed, r, _ = _execute(cfg, cu.upgrade_plan(cfg, OLD, NEW, RUN), run)
    assert failed is None, (failed.title, r.stderr)
    switched = open(compose).read()
    env["FAKE_MAJOR"] = "14"
    failed, r, _ = _execute(cfg, cu.rollback_plan(cfg, OLD, NEW, RUN), run)
    assert failed is None, (failed.title, r.stderr)
    assert open(compose).read() == BASIC
    assert open(compose + ".pg15-rolled-back").read() == switched
    assert not os.path.exists(compose + ".pre-pg15")
    log = open(env["FAKE_LOG"]).read()
    assert "volume rm" not in log


def test_rollback_without_the_pre_file_stops(host):
    cfg, env, run = host
    restore = cu.rollback_plan(cfg, OLD, NEW, RUN)[1]
    r = run(restore.command)
    assert r.returncode != 0 and "pre-pg15 not found" in r.stderr
    assert open(os.path.join(cfg.project_dir, cfg.compose_file)).read() == BASIC
