"""The keys of one [hosts.NAME] table in hosts.toml: their types, defaults and help (the
schema, documented in hosts.example.toml), and the checks that turn a raw table into a Section
with defaults filled in. Every problem is one ConfigError line naming the file, key and fix.
"""
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from runbook.engine.errors import ConfigError

REQUIRED = object()


class Enum(tuple):
    """Allowed string values of a key."""


class URL(str):
    """A key that must hold an http(s) URL."""


class AbsPath(str):
    """A key that must hold an absolute path on the host."""


class Headers(dict):
    """A key that must hold a table of HTTP header names to string values."""


HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")   # RFC 9110 token


# key: (type, default, help). Nested dicts are tables. Documented in hosts.example.toml.
HOST_SCHEMA = {
    "hostname": (str, REQUIRED, "address or ssh_config alias to connect to"),
    "port": (int, None, "SSH port (default: ~/.ssh/config, else 22)"),
    "user": (str, None, "SSH user (default: ssh_config / local user)"),
    "identity_file": (str, None, "private key file, relative to the inventory file"),
    "accept_new_host_key": (bool, False, "trust an unknown host key on first use"),
    "ssh_alive_interval": (int, 15, "seconds between SSH keepalive probes (OpenSSH's "
                                    "ServerAliveInterval)"),
    "ssh_alive_count_max": (int, 3, "unanswered probes in a row after which the connection is "
                                    "taken as lost and the run stops (ServerAliveCountMax)"),
    "roles": (list, ["web", "db"], "roles of the host: web (serves HTTP: maintenance, restart, "
                                   "smoke), worker, db (the primary of a group by default)"),
    "app": {
        "dir": (AbsPath, REQUIRED, "the git work tree of the app"),
        "venv": (AbsPath, REQUIRED, "the app's virtualenv"),
        "manage_py": (str, "manage.py", "manage.py, relative to app.dir"),
        "settings_module": (str, None, "DJANGO_SETTINGS_MODULE, if manage.py does not set it"),
        "git_remote": (str, "origin", "remote to fetch from"),
        "git_branch": (str, "main", "branch deployed by default"),
        "requirements": (str, "requirements.txt", "pip requirements file, relative to app.dir"),
        "installer": (Enum(("pip", "poetry", "uv")), "pip",
                      "how dependencies are installed: pip -r requirements, poetry install, or "
                      "uv sync --frozen"),
        "env_file": (AbsPath, None, "KEY=VALUE file sourced before manage.py (if the app needs it)"),
        "log_files": (list, [], "app log files scanned by verify.logs"),
        "journal_units": (list, [], "systemd units whose journal verify.logs scans "
                                    "(journalctl -u), for an app that logs to the journal"),
    },
    "database": {
        "name": (str, REQUIRED, "the app's database"),
        "access": (Enum(("local", "dsn")), "local",
                   "local: psql as the postgres OS user over the socket; dsn: use dsn_env"),
        "os_user": (str, "postgres", "OS user for access = local"),
        "port": (int, 5432, "PostgreSQL port"),
        "socket_dir": (AbsPath, "/var/run/postgresql", "Unix socket directory, for access = local"),
        "dsn_env": (str, None, "environment variable holding the DSN, for access = dsn"),
    },
    "service": {
        "manager": (Enum(("systemd", "supervisor", "compose")), REQUIRED, "what runs the app"),
        "app": (str, REQUIRED, "systemd unit / supervisor program / compose service of the app"),
        "workers": (list, [], "background worker units/programs"),
        "compose_file": (str, None, "docker compose file, for manager = compose"),
        "restart": (Enum(("restart", "reload")), "restart",
                    "restart: stop and start the app; reload: graceful (gunicorn under supervisor: "
                    "HUP), proven by health.revision_key, else restarted"),
    },
    "switch": {  # zero-downtime restarts (ops/switch.py); all four keys, or none: restart in place
        "twin": (str, None, "a second program/unit of the app, stopped at rest: it is booted "
                            "with the new code and serves while the app restarts"),
        "app_address": (str, None, "host:port the app (service.app) listens on"),
        "twin_address": (str, None, "host:port the twin listens on"),
        "upstream": (AbsPath, None, "the file nginx's upstream block includes: the tool writes "
                                    "\"server ADDRESS;\" into it and reloads nginx"),
    },
    "nginx": {
        "reload": (Enum(("signal", "systemd")), "systemd", "how nginx is reloaded"),
        "access_log": (AbsPath, "/var/log/nginx/access.log", "access log"),
        "error_log": (AbsPath, "/var/log/nginx/error.log", "error log"),
    },
    "maintenance": {
        "backend": (Enum(("nginx", "app-flag")), "nginx",
                    "nginx: our snippet answers 503; app-flag: the app itself checks the flag file"),
        "snippet": (AbsPath, None, "nginx include written by maintenance.install (backend nginx)"),
        "flag": (AbsPath, REQUIRED, "the flag file: present = maintenance on"),
        "page": (AbsPath, None, "the maintenance page nginx serves with the 503 (backend nginx)"),
        "bypass_ips": (list, [], "client addresses that bypass maintenance"),
        "bypass_secret_env": (str, None, "env var with the X-Maintenance-Bypass header value"),
    },
    "health": {
        "url": (URL, REQUIRED, "URL that answers 200 when the app is healthy"),
        "timeout": (int, 30, "seconds to wait for health after a restart"),
        "revision_key": (str, None, "JSON key of the health response naming the commit the app "
                                    "runs; a restart then must serve the commit on disk"),
        "headers": (Headers, {}, "extra HTTP headers sent with every request the tool makes to "
                                 "the app (health, maintenance.status, smoke), e.g. Host"),
    },
    "smoke": {
        "base": (URL, None, "this host's base URL for deploy.toml's smoke checks (overrides "
                            "[smoke] base; as seen from the host)"),
    },
    "backup": {
        "dir": (AbsPath, REQUIRED, "where backups, the journal and the lock live (0700)"),
    },
    "compose": {  # pg_upgrade.compose: PostgreSQL in a docker compose service
        "command": (Enum(("docker compose", "docker-compose")), "docker compose",
                    "the Compose on the host: the v2 plugin or the v1 docker-compose (both "
                    "pg_upgrade.compose and service.manager = compose use it)"),
        "project_dir": (AbsPath, None, "the compose project's directory (with the compose file)"),
        "file": (str, "docker-compose.yml", "compose file, relative to project_dir"),
        "db_service": (str, "db", "the PostgreSQL service"),
        "app_services": (list, ["backend"], "services stopped while the database moves"),
        "db_user": (str, "postgres", "POSTGRES_USER of the db service"),
        "volume": (str, "postgres_data", "compose volume key holding the data directory"),
        "password_env": (str, None, "env var with POSTGRES_PASSWORD for the new container"),
    },
}
TYPE_WORDS = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}


@dataclass(frozen=True)
class Section:
    """Read-only attribute view of one validated table (`site.app.dir`)."""

    _values: dict

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self):
        """The table as plain nested dicts."""
        return {k: v.as_dict() if isinstance(v, Section) else v for k, v in self._values.items()}


def fail(path, key, problem, fix):
    """Raise the one-line ConfigError every inventory problem becomes."""
    raise ConfigError(f"{path}: {key}: {problem}; {fix}")


def _check_headers(path, key, value):
    """A table of HTTP header names (RFC 9110 tokens) to one-line strings."""
    fix = 'write e.g. headers = { Host = "app.example.com", X-Forwarded-Proto = "https" }'
    if not isinstance(value, dict):
        fail(path, key, f"expected a table of header names to strings, got {value!r}", fix)
    for name, v in value.items():
        if not HEADER_NAME.match(name):
            fail(path, f"{key}.{name}", "is not an HTTP header name", fix)
        if not isinstance(v, str) or any(ch in v for ch in "\r\n\0"):
            fail(path, f"{key}.{name}", f"expected a one-line string, got {v!r}", fix)
    return dict(value)


def check_value(path, key, kind, value):
    """`value` if it is of `kind` (a type, Enum, URL, AbsPath or Headers), else a ConfigError."""
    if kind is Headers:
        return _check_headers(path, key, value)
    base = str if kind in (URL, AbsPath) or isinstance(kind, Enum) else kind
    ok = isinstance(value, base) and not (base is int and isinstance(value, bool))
    if base is list:
        ok = ok and all(isinstance(v, str) for v in value)
    if not ok:
        want = TYPE_WORDS[base] + (" of strings" if base is list else "")
        fail(path, key, f"expected {want}, got {type(value).__name__} {value!r}",
             f"write e.g. {key.rsplit('.', 1)[-1]} = {example(kind)}")
    if isinstance(kind, Enum) and value not in kind:
        fail(path, key, f"{value!r} is not one of {', '.join(kind)}",
             f"write one of: {', '.join(kind)}")
    if kind is URL:
        u = urlparse(value)
        if u.scheme not in ("http", "https") or not u.netloc:
            fail(path, key, f"{value!r} is not an http(s) URL",
                 'write e.g. url = "http://127.0.0.1:8080/healthz"')
    if kind is AbsPath and not value.startswith("/"):
        fail(path, key, f"{value!r} is not an absolute path", "write the full path from /")
    if base is int and value <= 0:
        fail(path, key, f"{value} must be a positive number", "write a number above 0")
    return value


def example(kind):
    """A sample TOML value of `kind`, for the fix in an error message."""
    if isinstance(kind, Enum):
        return f'"{kind[0]}"'
    return {int: "22", bool: "false", list: '["a", "b"]', URL: '"http://127.0.0.1/healthz"',
            AbsPath: '"/srv/app"'}.get(kind, '"text"')


def validate(path, prefix, schema, table):
    """Check `table` against `schema`; return a Section with defaults filled in."""
    if not isinstance(table, dict):
        fail(path, prefix, f"expected a table, got {table!r}", f"write [{prefix}]")
    for key in table:
        if key not in schema:
            fail(path, f"{prefix}.{key}", "unknown key",
                 f"remove it or use one of: {', '.join(schema)}")
    out = {}
    for key, spec in schema.items():
        full = f"{prefix}.{key}"
        if isinstance(spec, dict):
            out[key] = validate(path, full, spec, table.get(key, {}))
            continue
        kind, default, _help = spec
        if key not in table:
            if default is REQUIRED:
                fail(path, full, "missing", f"add {key} = {example(kind)} under [{prefix}]")
            out[key] = default
        else:
            out[key] = check_value(path, full, kind, table[key])
    return Section(out)


def schema_lines(schema=HOST_SCHEMA, prefix=""):
    """(key, default, help) rows, for docs and the example file's test."""
    for key, spec in schema.items():
        if isinstance(spec, dict):
            yield from schema_lines(spec, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", spec[1], spec[2]
