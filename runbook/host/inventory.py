"""hosts.toml (+ .env secrets) -> validated host settings.

The inventory maps names (`prod`, `staging`, `sandbox`) to connection and app settings, and group
names (`[groups] prod = ["web1", "web2"]`) to several hosts with one primary. Every
error is one line naming the file, the key and the fix, raised before any connection is made.
Secrets never live in hosts.toml: it names environment variables (`*_env` keys) whose values
come from the `.env` beside the inventory file, or from the environment.
"""
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from dotenv import dotenv_values

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
        "project_dir": (AbsPath, None, "the compose project's directory (with the compose file)"),
        "file": (str, "docker-compose.yml", "compose file, relative to project_dir"),
        "db_service": (str, "db", "the PostgreSQL service"),
        "app_services": (list, ["backend"], "services stopped while the database moves"),
        "db_user": (str, "postgres", "POSTGRES_USER of the db service"),
        "volume": (str, "postgres_data", "compose volume key holding the data directory"),
        "password_env": (str, None, "env var with POSTGRES_PASSWORD for the new container"),
    },
}
TOP_KEYS = {"default", "known_hosts", "project", "defaults", "hosts", "groups"}
ROLES = ("web", "worker", "db")
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
        return {k: v.as_dict() if isinstance(v, Section) else v for k, v in self._values.items()}


@dataclass
class Site:
    """One host of the inventory, validated."""

    name: str
    settings: Section
    inventory: "Inventory"
    secrets: dict = field(default_factory=dict)

    def __getattr__(self, name):
        if name.startswith("_") or name == "settings":
            raise AttributeError(name)
        return getattr(self.settings, name)

    def secret_names(self):
        """The environment variables this host's `*_env` keys name (compose's only if used)."""
        names = []
        for section, values in self.settings.as_dict().items():
            if isinstance(values, dict) and section != "compose":
                names += [v for k, v in values.items() if k.endswith("_env") and v]
        return names

    def secret(self, env_key_name):
        """The value of the secret named by a `*_env` key, or a ConfigError naming the fix."""
        var = env_key_name
        if not var:
            return None
        value = os.environ.get(var, self.inventory.dotenv.get(var))
        if not value:
            raise ConfigError(
                f"secret {var} is not set; add {var}=... to {self.inventory.dotenv_path} "
                "or export it")
        self.secrets[var] = value
        return value


@dataclass(frozen=True)
class Group:
    """Several hosts deployed together; the primary runs the once-only steps (backup, migrate)."""

    name: str
    members: tuple
    primary: str


@dataclass
class Inventory:
    path: Path
    default: str | None
    known_hosts: Path | None
    hosts: dict
    dotenv: dict
    dotenv_path: Path
    project_path: Path | None = None
    _project: object = None
    groups: dict = field(default_factory=dict)

    @property
    def project(self):
        """The app's deploy.toml (audits, invariants, checks), loaded once."""
        if self._project is None:
            from runbook.host import project
            self._project = project.load(self.project_path)
        return self._project

    def site(self, name):
        if name not in self.hosts:
            known = ", ".join(sorted(self.hosts)) or "none"
            if name in self.groups:
                raise ConfigError(f"{name!r} is a group ({', '.join(self.groups[name].members)}) and "
                                  f"this task runs on one host; use -H {self.groups[name].primary} "
                                  "(or -H a,b to run it on each in turn)")
            groups = f"; groups: {', '.join(sorted(self.groups))}" if self.groups else ""
            raise ConfigError(f"{self.path}: unknown host {name!r} (hosts: {known}{groups}); "
                              f"add [hosts.{name}] or use one of those")
        return Site(name, self.hosts[name], self)

    def default_site(self):
        if not self.default:
            known = ", ".join(sorted(self.hosts)) or "none"
            raise ConfigError(f"no host given and {self.path} names no default; "
                              f"run with -H NAME (hosts: {known}) or set default = \"NAME\"")
        return self.site(self.default)


def _fail(path, key, problem, fix):
    raise ConfigError(f"{path}: {key}: {problem}; {fix}")


def _check_headers(path, key, value):
    fix = 'write e.g. headers = { Host = "app.example.com", X-Forwarded-Proto = "https" }'
    if not isinstance(value, dict):
        _fail(path, key, f"expected a table of header names to strings, got {value!r}", fix)
    for name, v in value.items():
        if not HEADER_NAME.match(name):
            _fail(path, f"{key}.{name}", "is not an HTTP header name", fix)
        if not isinstance(v, str) or any(ch in v for ch in "\r\n\0"):
            _fail(path, f"{key}.{name}", f"expected a one-line string, got {v!r}", fix)
    return dict(value)


def _check_value(path, key, kind, value):
    if kind is Headers:
        return _check_headers(path, key, value)
    base = str if kind in (URL, AbsPath) or isinstance(kind, Enum) else kind
    ok = isinstance(value, base) and not (base is int and isinstance(value, bool))
    if base is list:
        ok = ok and all(isinstance(v, str) for v in value)
    if not ok:
        want = TYPE_WORDS[base] + (" of strings" if base is list else "")
        _fail(path, key, f"expected {want}, got {type(value).__name__} {value!r}",
              f"write e.g. {key.rsplit('.', 1)[-1]} = {_example(kind)}")
    if isinstance(kind, Enum) and value not in kind:
        _fail(path, key, f"{value!r} is not one of {', '.join(kind)}",
              f"write one of: {', '.join(kind)}")
    if kind is URL:
        u = urlparse(value)
        if u.scheme not in ("http", "https") or not u.netloc:
            _fail(path, key, f"{value!r} is not an http(s) URL",
                  'write e.g. url = "http://127.0.0.1:8080/healthz"')
    if kind is AbsPath and not value.startswith("/"):
        _fail(path, key, f"{value!r} is not an absolute path", "write the full path from /")
    if base is int and value <= 0:
        _fail(path, key, f"{value} must be a positive number", "write a number above 0")
    return value


def _example(kind):
    if isinstance(kind, Enum):
        return f'"{kind[0]}"'
    return {int: "22", bool: "false", list: '["a", "b"]', URL: '"http://127.0.0.1/healthz"',
            AbsPath: '"/srv/app"'}.get(kind, '"text"')


def _validate(path, prefix, schema, table):
    """Check `table` against `schema`; return a Section with defaults filled in."""
    if not isinstance(table, dict):
        _fail(path, prefix, f"expected a table, got {table!r}", f"write [{prefix}]")
    for key in table:
        if key not in schema:
            _fail(path, f"{prefix}.{key}", "unknown key",
                  f"remove it or use one of: {', '.join(schema)}")
    out = {}
    for key, spec in schema.items():
        full = f"{prefix}.{key}"
        if isinstance(spec, dict):
            out[key] = _validate(path, full, spec, table.get(key, {}))
            continue
        kind, default, _help = spec
        if key not in table:
            if default is REQUIRED:
                _fail(path, full, "missing", f"add {key} = {_example(kind)} under [{prefix}]")
            out[key] = default
        else:
            out[key] = _check_value(path, full, kind, table[key])
    return Section(out)


def _merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def load(path):
    """Read and validate an inventory file; ConfigError (one line) on any problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such inventory; copy hosts.example.toml to {path} "
                          "or pass --hosts-file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML ({e}); fix the syntax at that line") from None
    for key in raw:
        if key not in TOP_KEYS:
            _fail(path, key, "unknown top-level key", f"use one of: {', '.join(sorted(TOP_KEYS))}")
    hosts_raw = raw.get("hosts", {})
    if not isinstance(hosts_raw, dict) or not hosts_raw:
        _fail(path, "hosts", "no hosts defined", "add a [hosts.NAME] table")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        _fail(path, "defaults", "expected a table", "write [defaults]")
    hosts = {name: _validate(path, f"hosts.{name}", HOST_SCHEMA, _merge(defaults, table)
                             if isinstance(table, dict) else table)
             for name, table in hosts_raw.items()}
    for name, h in hosts.items():
        bad = [r for r in h.roles if r not in ROLES]
        if bad:
            _fail(path, f"hosts.{name}.roles", f"unknown role {bad[0]!r}",
                  f"use roles from: {', '.join(ROLES)}")
        if h.service.restart == "reload" and not h.health.revision_key:
            _fail(path, f"hosts.{name}.service.restart", "\"reload\" needs health.revision_key "
                  "(a reload is trusted only when the health response names the new commit)",
                  "add revision_key = \"revision\" under health, or set restart = \"restart\"")
        m = h.maintenance
        for key in ("snippet", "page"):
            if m.backend == "nginx" and getattr(m, key) is None:
                _fail(path, f"hosts.{name}.maintenance.{key}", "missing (backend = \"nginx\")",
                      f"add {key} = \"/etc/nginx/...\" or set backend = \"app-flag\"")
    default = raw.get("default")
    if default is not None:
        _check_value(path, "default", str, default)
        if default not in hosts:
            _fail(path, "default", f"names {default!r}, which is not a host",
                  f"use one of: {', '.join(sorted(hosts))}")
    known = raw.get("known_hosts")
    if known is not None:
        _check_value(path, "known_hosts", str, known)
        known = (path.parent / known).resolve()
    project = raw.get("project")
    if project is not None:
        _check_value(path, "project", str, project)
        project = (path.parent / project).resolve()
    dotenv_path = path.parent / ".env"
    return Inventory(path, default, known, hosts,
                     dict(dotenv_values(dotenv_path)) if dotenv_path.exists() else {}, dotenv_path,
                     project, groups=_groups(path, raw.get("groups", {}), hosts))


def _groups(path, raw, hosts):
    """[groups]: `name = ["h1", "h2"]` or `[groups.name] hosts = [...], primary = "h1"`."""
    if not isinstance(raw, dict):
        _fail(path, "groups", "expected a table", 'write [groups] then prod = ["web1", "web2"]')
    groups = {}
    for name, spec in raw.items():
        key = f"groups.{name}"
        if name in hosts:
            _fail(path, key, f"{name!r} is also a host name", "rename the group or the host")
        primary = None
        if isinstance(spec, dict):
            for k in spec:
                if k not in ("hosts", "primary"):
                    _fail(path, f"{key}.{k}", "unknown key", "use hosts and primary")
            members, primary = spec.get("hosts", []), spec.get("primary")
            if primary is not None:
                _check_value(path, f"{key}.primary", str, primary)
        else:
            members = spec
        _check_value(path, key, list, members)
        if not members:
            _fail(path, key, "empty group", f'list its hosts: {name} = ["web1", "web2"]')
        for m in members:
            if m not in hosts:
                _fail(path, key, f"unknown host {m!r} (hosts: {', '.join(sorted(hosts))})",
                      f"add [hosts.{m}] or remove it from the group")
        if len(set(members)) != len(members):
            dup = next(m for m in members if members.count(m) > 1)
            _fail(path, key, f"{dup!r} is listed twice", "list each host once")
        if primary is None:
            dbs = [m for m in members if "db" in hosts[m].roles]
            if len(dbs) != 1:
                which = f"{len(dbs)} members have" if dbs else "no member has"
                _fail(path, key, f"no primary ({which} the db role{': ' + ', '.join(dbs) if dbs else ''})",
                      f'write [groups.{name}] hosts = [...] and primary = "{members[0]}", '
                      'or give exactly one member roles = ["web", "db"]')
            primary = dbs[0]
        elif primary not in members:
            _fail(path, f"{key}.primary", f"{primary!r} is not a member ({', '.join(members)})",
                  "name one of the group's hosts")
        groups[name] = Group(name, tuple(members), primary)
    return groups


def schema_lines(schema=HOST_SCHEMA, prefix=""):
    """(key, default, help) rows, for docs and the example file's test."""
    for key, spec in schema.items():
        if isinstance(spec, dict):
            yield from schema_lines(spec, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", spec[1], spec[2]
