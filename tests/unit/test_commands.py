"""Command construction without SSH: services, database client, file helpers, manage.py, parsers.

The fake host (tests/support/host.py) stands in for the Connection: it records each command
(and its stdin) and, for the file helpers, really runs it with bash on this machine in a temp
dir, so quoting is proven by what the shell does with hostile paths, not by string comparison
alone.
"""
import io
import shlex
import subprocess
import sys

import pytest
from invoke import Result

from runbook.django import app
from runbook.engine.errors import ConfigError
from runbook.host import remote, services
from runbook.ops import verify
from runbook.postgres import db
from tests.support.host import FakeHost
from tests.support.sites import make_site

# --- services.argv -------------------------------------------------------------------------
SERVICE_CASES = [
    # manager, compose_file, action, expected argv
    ("systemd", None, "start", ("systemctl", "start", "gunicorn")),
    ("systemd", None, "stop", ("systemctl", "stop", "gunicorn")),
    ("systemd", None, "restart", ("systemctl", "restart", "gunicorn")),
    ("systemd", None, "reload", ("systemctl", "reload", "gunicorn")),
    ("systemd", None, "status", ("systemctl", "is-active", "gunicorn")),
    ("supervisor", None, "start", ("supervisorctl", "start", "gunicorn")),
    ("supervisor", None, "stop", ("supervisorctl", "stop", "gunicorn")),
    ("supervisor", None, "restart", ("supervisorctl", "restart", "gunicorn")),
    ("supervisor", None, "reload", ("supervisorctl", "signal", "HUP", "gunicorn")),
    ("supervisor", None, "status", ("supervisorctl", "status", "gunicorn")),
    ("compose", None, "start", ("docker", "compose", "start", "gunicorn")),
    ("compose", None, "stop", ("docker", "compose", "stop", "gunicorn")),
    ("compose", None, "restart", ("docker", "compose", "restart", "gunicorn")),
    ("compose", None, "reload", ("docker", "compose", "restart", "gunicorn")),
    ("compose", None, "status", ("docker", "compose", "ps", "gunicorn")),
    ("compose", "/srv/app/docker-compose.yml", "start",
     ("docker", "compose", "-f", "/srv/app/docker-compose.yml", "start", "gunicorn")),
    ("compose", "/srv/app/docker-compose.yml", "stop",
     ("docker", "compose", "-f", "/srv/app/docker-compose.yml", "stop", "gunicorn")),
    ("compose", "/srv/app/docker-compose.yml", "restart",
     ("docker", "compose", "-f", "/srv/app/docker-compose.yml", "restart", "gunicorn")),
    ("compose", "/srv/app/docker-compose.yml", "reload",
     ("docker", "compose", "-f", "/srv/app/docker-compose.yml", "restart", "gunicorn")),
    ("compose", "/srv/app/docker-compose.yml", "status",
     ("docker", "compose", "-f", "/srv/app/docker-compose.yml", "ps", "gunicorn")),
]


@pytest.mark.parametrize("manager, compose_file, action, expected", SERVICE_CASES,
                         ids=[f"{m}{'-f' if f else ''}-{a}" for m, f, a, _ in SERVICE_CASES])
def test_service_argv(tmp_path, manager, compose_file, action, expected):
    site = make_site(tmp_path, service={"manager": manager, "app": "gunicorn",
                                        "compose_file": compose_file})
    assert services.argv(FakeHost(site), action) == expected


@pytest.mark.parametrize("command, compose_file, expected", [
    (None, None, ("docker", "compose", "stop", "gunicorn")),
    ("docker-compose", None, ("docker-compose", "stop", "gunicorn")),
    ("docker-compose", "/srv/app/dc.yml", ("docker-compose", "-f", "/srv/app/dc.yml", "stop",
                                           "gunicorn")),
])
def test_service_argv_follows_compose_command(tmp_path, command, compose_file, expected):
    site = make_site(tmp_path, service={"manager": "compose", "app": "gunicorn",
                                        "compose_file": compose_file},
                     compose={"command": command})
    assert services.argv(FakeHost(site), "stop") == expected


def test_unknown_compose_command_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="docker-compose") as e:
        make_site(tmp_path, compose={"command": "podman-compose"})
    assert "\n" not in e.value.text


@pytest.mark.parametrize("manager, expected", [
    ("systemd", "sudo -n systemctl restart 'celery@worker 1'"),
    ("supervisor", "sudo -n supervisorctl restart 'celery@worker 1'"),
    ("compose", "sudo -n docker compose restart 'celery@worker 1'"),
])
def test_service_control_names_another_unit_and_goes_through_sudo_quoted(tmp_path, manager,
                                                                          expected):
    c = FakeHost(make_site(tmp_path, service={"manager": manager, "app": "gunicorn"}))
    services.control(c, "restart", "celery@worker 1")
    assert c.last == expected
    assert c.kwargs[-1]["hide"] is True


# --- db.client_prefix ----------------------------------------------------------------------
@pytest.mark.parametrize("tool", ["psql", "pg_dump", "pg_restore"])
@pytest.mark.parametrize("os_user, port", [("postgres", 5432), ("pg admin", 5433)])
def test_client_prefix_local_runs_the_tool_as_the_os_user(tmp_path, tool, os_user, port):
    c = FakeHost(make_site(tmp_path, database={"name": "app", "os_user": os_user, "port": port}))
    prefix, preamble = db.client_prefix(c, tool)
    argv = shlex.split(prefix)
    assert argv[:5] == ["sudo", "-n", "-u", os_user, tool]
    assert argv[argv.index("-p") + 1] == str(port)
    assert preamble == ""


HOSTILE_PASSWORD = "p@ss w;o'r\"d$(touch PWNED)`id`"
DSN_CASES = [
    # dsn, (host, port, user) expected in argv, password expected on stdin
    ("postgres://app:s3cret@db.example.com:5433/app", ("db.example.com", "5433", "app"), "s3cret"),
    ("postgres://app:s3cret@db.example.com/app", ("db.example.com", "5432", "app"), "s3cret"),
    ("postgresql://app%20user:p%40ss%20w%3Bo%27r%22d%24%28touch%20PWNED%29%60id%60@10.0.0.5/app",
     ("10.0.0.5", "5432", "app user"), HOSTILE_PASSWORD),
]


@pytest.mark.parametrize("dsn, where, password", DSN_CASES, ids=["port", "default-port", "hostile"])
def test_client_prefix_dsn_password_only_in_the_stdin_preamble(tmp_path, dsn, where, password):
    site = make_site(tmp_path, env=f"APP_DSN={dsn}\n",
                     database={"name": "app", "access": "dsn", "dsn_env": "APP_DSN"})
    c = FakeHost(site)
    prefix, preamble = db.client_prefix(c, "pg_dump")
    assert preamble == password + "\n"
    assert password not in prefix and "s3cret" not in prefix
    host, port, user = where
    tool = prefix.split(" && ")[-1]
    assert shlex.split(tool) == ["pg_dump", "-h", host, "-p", port, "-U", user]
    assert prefix.startswith("IFS= read -r PGPASSWORD && export PGPASSWORD && ")
    # registered, so the runner masks them: the DSN, and its password alone and shell-quoted
    assert site.secrets == {"APP_DSN": dsn, "APP_DSN (password)": password,
                            "APP_DSN (password, quoted)": shlex.quote(password)}
    shown = db.shown_psql(c)   # what a plan prints: the client, never the password
    words = shlex.split(shown.split(" && ")[-1])
    assert words[:7] == ["psql", "-h", host, "-p", port, "-U", user]
    assert words[7:12] == ["-X", "-q", "-A", "-t", "-d"]
    assert password not in shown and shlex.quote(password) not in shown

    db.psql(c, "SELECT 1")
    assert password not in c.last and dsn not in c.last
    assert c.stdins[-1] == password + "\n" + "SELECT 1\n"


def test_client_prefix_dsn_hands_the_password_to_the_tool_by_environment(tmp_path):
    """Run the dsn prefix for real with a fake tool: PGPASSWORD in env, not argv; stdin intact."""
    fake = tmp_path / "bin" / "fake tool"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nprintf "env=%s\\n" "$PGPASSWORD"\nprintf "arg=%s\\n" "$@"\ncat\n')
    fake.chmod(0o755)
    dsn = "postgres://app:p%40ss%20w%3Bo%27r%22d%24%28touch%20PWNED%29%60id%60@db/app"
    site = make_site(tmp_path, env=f"APP_DSN={dsn}\n",
                     database={"name": "app", "access": "dsn", "dsn_env": "APP_DSN"})
    c = FakeHost(site, execute=True, cwd=tmp_path)
    prefix, preamble = db.client_prefix(c, str(fake))
    out = c.run(prefix, in_stream=io.StringIO(preamble + "SELECT 1;\n")).stdout
    assert out.splitlines() == [f"env={HOSTILE_PASSWORD}", "arg=-h", "arg=db", "arg=-p",
                                "arg=5432", "arg=-U", "arg=app", "SELECT 1;"]
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("database, env, message", [
    ({"name": "app", "access": "dsn"}, "", "database.dsn_env: missing"),
    ({"name": "app", "access": "dsn", "dsn_env": "NOPE_DSN"}, "", "secret NOPE_DSN is not set"),
])
def test_client_prefix_dsn_without_a_dsn_is_a_config_error(tmp_path, monkeypatch, database, env,
                                                           message):
    monkeypatch.delenv("NOPE_DSN", raising=False)
    c = FakeHost(make_site(tmp_path, env=env, database=database))
    with pytest.raises(ConfigError) as e:
        db.client_prefix(c, "psql")
    assert message in e.value.text and e.value.code == 2


@pytest.mark.parametrize("value, literal, ident", [
    ("plain", "'plain'", '"plain"'),
    ("it's", "'it''s'", '"it\'s"'),
    ('a"b', "'a\"b'", '"a""b"'),
    ("x'); DROP TABLE t; --", "'x''); DROP TABLE t; --'", "\"x'); DROP TABLE t; --\""),
])
def test_sql_literal_and_ident(value, literal, ident):
    assert db.literal(value) == literal
    assert db.ident(value) == ident


# --- remote.* with hostile paths, executed for real ------------------------------------------
HOSTILE = ["with space", "semi;colon", "$(touch PWNED)", "`touch PWNED`", "it's", 'say "hi"',
           "-rf", "star*", "new\nline", "back\\slash", "$HOME", "a&&b|c>d"]


@pytest.fixture
def local(tmp_path):
    """A FakeHost running commands with bash in tmp_path (where an injection leaves PWNED)."""
    work = tmp_path / "work"
    work.mkdir()
    return FakeHost(execute=True, cwd=work)


@pytest.mark.parametrize("name", HOSTILE, ids=lambda n: repr(n))
def test_file_helpers_quote_hostile_paths(local, name):
    base = local.cwd / "hostile"
    d = base / name / "sub"
    assert remote.exists(local, str(d)) is False
    assert remote.is_dir(local, str(d)) is False

    remote.ensure_dir(local, str(d))
    assert d.is_dir() and oct(d.stat().st_mode & 0o777) == "0o700"
    assert str(d) in shlex.split(local.last)           # one word, exactly the path
    assert remote.exists(local, str(d)) and remote.is_dir(local, str(d))

    f = d / f"{name}.conf"
    assert remote.read_text(local, str(f)) is None
    remote.atomic_write(local, str(f), f"first {name}\n")
    assert f.read_text() == f"first {name}\n"
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in d.iterdir()] == [f.name]      # no temp file left behind
    assert remote.read_text(local, str(f)) == f"first {name}\n"
    assert remote.exists(local, str(f)) and not remote.is_dir(local, str(f))

    line = "include " + name.replace("\n", " ") + " '$(x)';"
    assert remote.append_if_missing(local, str(f), line) is True
    assert remote.append_if_missing(local, str(f), line) is False
    assert f.read_text() == f"first {name}\n{line}\n"

    remote.atomic_write(local, str(f), "replaced\n", mode="0644")
    assert f.read_text() == "replaced\n" and oct(f.stat().st_mode & 0o777) == "0o644"

    assert not (local.cwd / "PWNED").exists() and not (base / "PWNED").exists()
    assert sorted(p.name for p in local.cwd.iterdir()) == ["hostile"]


def test_atomic_write_sends_the_content_on_stdin_never_in_the_command():
    c = FakeHost()
    remote.atomic_write(c, "/srv/a b/x.conf", "password=s3cret $(rm -rf /)\n")
    assert "s3cret" not in c.last and "'/srv/a b/x.conf.XXXXXX'" in c.last
    assert c.stdins[-1] == "password=s3cret $(rm -rf /)\n"


@pytest.mark.parametrize("argv, user, expected", [
    (("nginx", "-t"), None, "sudo -n nginx -t"),
    (("psql", "-d", "my db"), "postgres", "sudo -n -u postgres psql -d 'my db'"),
    (("rm", "-f", "/srv/x;reboot"), "deploy", "sudo -n -u deploy rm -f '/srv/x;reboot'"),
    (("echo", "$(id)", "`id`", "it's"), "pg user",
     "sudo -n -u 'pg user' echo '$(id)' '`id`' 'it'\"'\"'s'"),
])
def test_sudo_quotes_every_argument_and_never_prompts(argv, user, expected):
    c = FakeHost()
    remote.sudo(c, *argv, user=user, warn=True)
    assert c.last == expected
    assert shlex.split(c.last)[-len(argv):] == list(argv)
    assert c.kwargs[-1] == {"warn": True}


@pytest.mark.parametrize("argv", [("a b", "c;d"), ("$(x)", "`y`", "'z'"), ("",), ("-n", "*")])
def test_sh_round_trips_through_the_shell(argv):
    assert shlex.split(remote.sh(*argv)) == list(argv)
    out = subprocess.run(["bash", "-c", f"printf '%s\\n' {remote.sh(*argv)}"],
                         capture_output=True, text=True).stdout
    assert out == "".join(f"{a}\n" for a in argv)


def test_run_script_sends_the_script_on_stdin():
    c = FakeHost()
    remote.run_script(c, "set -e\necho hi\n")
    assert c.last == "bash -s" and c.stdins[-1] == "set -e\necho hi\n"
    assert c.kwargs[-1]["hide"] is True


# --- app.prefix, manage, git ---------------------------------------------------------------
PREFIX_CASES = [
    ({}, "cd /srv/app && /srv/venv/bin/python manage.py"),
    ({"settings_module": "config.settings.production"},
     "cd /srv/app && DJANGO_SETTINGS_MODULE=config.settings.production "
     "/srv/venv/bin/python manage.py"),
    ({"env_file": "/etc/recorder/env"},
     "cd /srv/app && set -a && . /etc/recorder/env && set +a && /srv/venv/bin/python manage.py"),
    ({"env_file": "/etc/recorder/env", "settings_module": "config.settings.production"},
     "cd /srv/app && set -a && . /etc/recorder/env && set +a && "
     "DJANGO_SETTINGS_MODULE=config.settings.production /srv/venv/bin/python manage.py"),
    ({"dir": "/srv/my app", "venv": "/srv/my venv", "manage_py": "src/manage.py"},
     "cd '/srv/my app' && '/srv/my venv/bin/python' src/manage.py"),
    ({"env_file": "/etc/app env;x", "settings_module": "s;rm -rf ~"},
     "cd /srv/app && set -a && . '/etc/app env;x' && set +a && "
     "DJANGO_SETTINGS_MODULE='s;rm -rf ~' /srv/venv/bin/python manage.py"),
]


@pytest.mark.parametrize("app_settings, expected", PREFIX_CASES,
                         ids=["plain", "settings", "env-file", "both", "spaces", "hostile"])
def test_app_prefix(tmp_path, app_settings, expected):
    c = FakeHost(make_site(tmp_path, app={"dir": "/srv/app", "venv": "/srv/venv", **app_settings}))
    assert app.prefix(c) == expected
    app.manage(c, "migrate", "--plan", "accounts")
    assert c.last == expected + " migrate --plan accounts"


def test_app_prefix_runs_for_real_with_env_file_and_settings(tmp_path):
    """The prefix, executed: cwd is the app dir, env file exported, settings module set."""
    root = tmp_path / "srv dir"
    (root / "app").mkdir(parents=True)
    (root / "venv" / "bin").mkdir(parents=True)
    (root / "venv" / "bin" / "python").symlink_to(sys.executable)
    (root / "app" / "manage.py").write_text(
        "import os, sys\nprint(os.getcwd())\nprint(os.environ['DJANGO_SETTINGS_MODULE'])\n"
        "print(os.environ['FROM_ENV_FILE'])\nprint(sys.argv[1:])\n")
    (root / "app.env").write_text("FROM_ENV_FILE='a b;c'\n")
    (tmp_path / "inv").mkdir()
    site = make_site(tmp_path / "inv", app={"dir": str(root / "app"), "venv": str(root / "venv"),
                                            "env_file": str(root / "app.env"),
                                            "settings_module": "config.settings.prod"})
    c = FakeHost(site, execute=True, cwd=tmp_path)
    out = app.manage(c, "showmigrations", "--plan", "it's").stdout.splitlines()
    assert out == [str(root / "app"), "config.settings.prod", "a b;c",
                   "['showmigrations', '--plan', \"it's\"]"]


def test_app_git_and_head(tmp_path):
    c = FakeHost(make_site(tmp_path, app={"dir": "/srv/my app", "venv": "/srv/venv"}))
    app.git(c, "fetch", "origin", "refs/tags/v2;x")
    assert c.last == "git -C '/srv/my app' fetch origin 'refs/tags/v2;x'"


# --- app.parse_plan ------------------------------------------------------------------------
PLAN_V1 = """\
[X]  contenttypes.0001_initial
[X]  auth.0001_initial
[X]  accounts.0013_userprofile_website
[X]  sessions.0001_initial
[X]  workshops.0024_userprofile_website
"""
PLAN_V2 = """\
[X]  accounts.0013_userprofile_website
[ ]  accounts.0014_final_sync_before_deletion
[X]  workshops.0024_userprofile_website
[ ]  workshops.0025_remove_userprofile
"""
PLAN_VERBOSE = """\
[X]  auth.0001_initial (applied at 2026-11-21 05:33:10)
[ ]  accounts.0014_final_sync_before_deletion ... (accounts.0013_userprofile_website)
"""
PLAN_NOISE = """\
Operations to perform:
  Apply all migrations: accounts
Planned operations:
accounts.0014_final_sync_before_deletion
    Raw Python operation
 [ ]  workshops.0025_remove_userprofile
 [X] 0001_initial
"""


@pytest.mark.parametrize("text, expected", [
    (PLAN_V1, [("contenttypes.0001_initial", True), ("auth.0001_initial", True),
               ("accounts.0013_userprofile_website", True), ("sessions.0001_initial", True),
               ("workshops.0024_userprofile_website", True)]),
    (PLAN_V2, [("accounts.0013_userprofile_website", True),
               ("accounts.0014_final_sync_before_deletion", False),
               ("workshops.0024_userprofile_website", True),
               ("workshops.0025_remove_userprofile", False)]),
    (PLAN_VERBOSE, [("auth.0001_initial", True),
                    ("accounts.0014_final_sync_before_deletion", False)]),
    (PLAN_NOISE, [("workshops.0025_remove_userprofile", False)]),
    ("", []),
], ids=["v1-all-applied", "v2-pending-in-order", "verbose", "noise-ignored", "empty"])
def test_parse_plan(text, expected):
    assert app.parse_plan(text) == expected


def test_pending_lists_unapplied_in_plan_order(tmp_path):
    class Planned(FakeHost):
        def answer(self, command, stdin):
            return Result(stdout=PLAN_V2, exited=0, command=command)

    c = Planned(make_site(tmp_path))
    assert app.pending(c) == ["accounts.0014_final_sync_before_deletion",
                              "workshops.0025_remove_userprofile"]
    assert c.last.endswith("manage.py showmigrations --plan")


# --- verify.parse_sections -----------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("@@os\nDebian GNU/Linux 12 (bookworm)\n6.1.0\n@@disk\n83456789 /\n@@end\n",
     {"os": "Debian GNU/Linux 12 (bookworm)\n6.1.0", "disk": "83456789 /", "end": ""}),
    ("motd noise\n@@pg\n14.22|14567890\n", {"pg": "14.22|14567890"}),
    ("@@pending\n\n@@maintenance\noff\n", {"pending": "", "maintenance": "off"}),
    ("@@lock\n  {\"run\": \"x\"}\n  @@not-a-section\n",
     {"lock": '{"run": "x"}\n  @@not-a-section'}),
    ("@@health \n200\n@@health\n503\n", {"health": "503"}),
    ("", {}),
], ids=["sections", "before-first-ignored", "empty-section", "indented-marker-is-data",
        "repeated-last-wins", "empty"])
def test_parse_sections(text, expected):
    assert verify.parse_sections(text) == expected


def test_status_script_quotes_paths_and_makes_one_round_trip(tmp_path):
    site = make_site(tmp_path, backup={"dir": "/srv/my backups"},
                     maintenance={"snippet": "/etc/nginx/m.conf", "flag": "/srv/m;x/on",
                                  "page": "/srv/m/page.html"})
    c = FakeHost(site)
    verify.facts(c)
    assert len(c.commands) == 1
    words = shlex.split(c.commands[0])
    assert {"RB_BACKUP_DIR=/srv/my backups", "RB_MAINTENANCE_FLAG=/srv/m;x/on",
            "RB_LOCK=/srv/my backups/deploy.lock"} <= set(words)
    assert words[words.index("bash"):] == ["bash", "-s", "--", "systemctl", "is-active", "gunicorn"]
    script = c.stdins[0].split("\n", 1)[1]     # after the secret line (the health headers)
    sections = [line.split(";")[0][len("echo @@"):] for line in script.splitlines()
                if line.startswith("echo @@")]
    assert {"os", "disk", "pg", "service", "commit", "pending", "maintenance", "health",
            "lock"} <= set(sections)
    assert sections[-1] == "end"
    r = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# --- dependencies with the project's own tool; Debian clusters -------------------------------
@pytest.mark.parametrize("installer, files, must", [
    ("pip", ["requirements.txt"], ["/srv/venv/bin/python -m pip install", "-r requirements.txt"]),
    ("poetry", ["pyproject.toml", "poetry.lock"],
     ["VIRTUAL_ENV=/srv/venv", "poetry install --no-interaction --no-root --only main"]),
])
def test_install_command_per_installer(tmp_path, installer, files, must):
    from runbook.ops import code_update
    c = FakeHost(make_site(tmp_path, app={"installer": installer}))
    assert code_update.dependency_files(c) == files
    command = code_update.install_command(c)
    assert command.startswith("cd /srv/app && ")
    for part in must:
        assert part in command


def test_unknown_installer_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"app.installer: 'pipenv' is not one of pip, poetry"):
        make_site(tmp_path, app={"installer": "pipenv"})


@pytest.mark.parametrize("backend, drop, error", [
    ("nginx", "snippet", "maintenance.snippet: missing"),
    ("nginx", "page", "maintenance.page: missing"),
    ("app-flag", "snippet", None),
])
def test_maintenance_backend_requirements(tmp_path, backend, drop, error):
    over = {"maintenance": {"backend": backend, drop: None}}
    if error:
        with pytest.raises(ConfigError, match=error):
            make_site(tmp_path, **over)
    else:
        assert make_site(tmp_path, **over).maintenance.backend == "app-flag"


def test_pg_lsclusters_parsing():
    from runbook.postgres.clusters import on_port, parse
    text = ("14  main    5433 down   postgres /var/lib/postgresql/14/main /var/log/x.log\n"
            "15  main    5432 online postgres /var/lib/postgresql/15/main /var/log/y.log\n"
            "Ver Cluster Port Status Owner Data directory Log file\n")
    got = parse(text)
    assert [(k.id, k.port, k.online) for k in got] == [("14/main", 5433, False),
                                                        ("15/main", 5432, True)]
    assert on_port(got, 5432).id == "15/main" and on_port(got, 5999) is None
    assert got[0].configdir == "/etc/postgresql/14/main"
