"""hosts.toml (+ .env secrets) -> validated host settings.

The inventory maps names (`prod`, `staging`, `sandbox`) to connection and app settings, and group
names (`[groups] prod = ["web1", "web2"]`) to several hosts with one primary. Every
error is one line naming the file, the key and the fix, raised before any connection is made.
Secrets never live in hosts.toml: it names environment variables (`*_env` keys) whose values
come from the `.env` beside the inventory file, or from the environment.
"""
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from runbook.engine.errors import ConfigError
from runbook.host import toml_file
from runbook.host.host_settings import HOST_SCHEMA, Section, check_value, fail, validate

TOP_KEYS = {"default", "known_hosts", "project", "defaults", "hosts", "groups"}
ROLES = ("web", "worker", "db")


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


def _merge(base, over):
    """[defaults] under a host's table: the host's keys win, tables merge key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def load(path):
    """Read and validate an inventory file; ConfigError (one line) on any problem."""
    path = Path(path)
    raw = _read(path)
    hosts = _hosts(path, raw)
    default = raw.get("default")
    if default is not None:
        check_value(path, "default", str, default)
        if default not in hosts:
            fail(path, "default", f"names {default!r}, which is not a host",
                 f"use one of: {', '.join(sorted(hosts))}")
    known = _relative_file(path, raw, "known_hosts")
    project = _relative_file(path, raw, "project")
    dotenv_path = path.parent / ".env"
    return Inventory(path, default, known, hosts,
                     dict(dotenv_values(dotenv_path)) if dotenv_path.exists() else {}, dotenv_path,
                     project, groups=_groups(path, raw.get("groups", {}), hosts))


def _read(path):
    """The parsed TOML, its top-level keys checked; a missing or malformed file named."""
    raw = toml_file.read(path, f"no such inventory; copy hosts.example.toml to {path} "
                               "or pass --hosts-file")
    for key in raw:
        if key not in TOP_KEYS:
            fail(path, key, "unknown top-level key", f"use one of: {', '.join(sorted(TOP_KEYS))}")
    return raw


def _relative_file(path, raw, key):
    """A file key (known_hosts, project) resolved relative to the inventory file, or None."""
    value = raw.get(key)
    if value is None:
        return None
    check_value(path, key, str, value)
    return (path.parent / value).resolve()


def _hosts(path, raw):
    """Every [hosts.NAME] merged over [defaults], validated against the schema."""
    hosts_raw = raw.get("hosts", {})
    if not isinstance(hosts_raw, dict) or not hosts_raw:
        fail(path, "hosts", "no hosts defined", "add a [hosts.NAME] table")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        fail(path, "defaults", "expected a table", "write [defaults]")
    hosts = {name: validate(path, f"hosts.{name}", HOST_SCHEMA, _merge(defaults, table)
                            if isinstance(table, dict) else table)
             for name, table in hosts_raw.items()}
    for name, h in hosts.items():
        _check_host(path, name, h)
    return hosts


def _check_host(path, name, h):
    """The rules across keys of one host: known roles, reload proven, nginx backend complete."""
    bad = [r for r in h.roles if r not in ROLES]
    if bad:
        fail(path, f"hosts.{name}.roles", f"unknown role {bad[0]!r}",
             f"use roles from: {', '.join(ROLES)}")
    if h.service.restart == "reload" and not h.health.revision_key:
        fail(path, f"hosts.{name}.service.restart", "\"reload\" needs health.revision_key "
             "(a reload is trusted only when the health response names the new commit)",
             "add revision_key = \"revision\" under health, or set restart = \"restart\"")
    _check_switch(path, name, h)
    m = h.maintenance
    for key in ("snippet", "page"):
        if m.backend == "nginx" and getattr(m, key) is None:
            fail(path, f"hosts.{name}.maintenance.{key}", "missing (backend = \"nginx\")",
                 f"add {key} = \"/etc/nginx/...\" or set backend = \"app-flag\"")


ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$")


def _check_switch(path, name, h):
    """[switch]: all four keys or none, two distinct host:port addresses, not under compose."""
    sw, key = h.switch, f"hosts.{name}.switch"
    keys = ("twin", "app_address", "twin_address", "upstream")
    given = [k for k in keys if getattr(sw, k) is not None]
    if not given:
        return
    if len(given) < len(keys):
        missing = next(k for k in keys if k not in given)
        fail(path, f"{key}.{missing}", "missing (a switch needs twin, app_address, "
             "twin_address and upstream)", f"add {missing} under [{key}], or remove [{key}]")
    if h.service.manager == "compose":
        fail(path, key, "a switch runs a second program beside the app, not under compose",
             f"remove [{key}] (compose restarts in place)")
    for k in ("app_address", "twin_address"):
        if not ADDRESS.match(getattr(sw, k)):
            fail(path, f"{key}.{k}", f"{getattr(sw, k)!r} is not host:port",
                 f'write e.g. {k} = "127.0.0.1:8001" (as in gunicorn --bind)')
    if sw.app_address == sw.twin_address or sw.twin == h.service.app:
        fail(path, key, "the twin must be another program on another address than the app",
             "give the twin its own name and port")


def _groups(path, raw, hosts):
    """[groups]: `name = ["h1", "h2"]` or `[groups.name] hosts = [...], primary = "h1"`."""
    if not isinstance(raw, dict):
        fail(path, "groups", "expected a table", 'write [groups] then prod = ["web1", "web2"]')
    groups = {}
    for name, spec in raw.items():
        key = f"groups.{name}"
        if name in hosts:
            fail(path, key, f"{name!r} is also a host name", "rename the group or the host")
        members, primary = _group_spec(path, key, spec)
        _check_members(path, name, members, hosts)
        groups[name] = Group(name, tuple(members), _primary(path, name, members, primary, hosts))
    return groups


def _group_spec(path, key, spec):
    """(members, primary or None) from either spelling of a group."""
    if not isinstance(spec, dict):
        return spec, None
    for k in spec:
        if k not in ("hosts", "primary"):
            fail(path, f"{key}.{k}", "unknown key", "use hosts and primary")
    primary = spec.get("primary")
    if primary is not None:
        check_value(path, f"{key}.primary", str, primary)
    return spec.get("hosts", []), primary


def _check_members(path, name, members, hosts):
    """A group lists known hosts, at least one, each once."""
    key = f"groups.{name}"
    check_value(path, key, list, members)
    if not members:
        fail(path, key, "empty group", f'list its hosts: {name} = ["web1", "web2"]')
    for m in members:
        if m not in hosts:
            fail(path, key, f"unknown host {m!r} (hosts: {', '.join(sorted(hosts))})",
                 f"add [hosts.{m}] or remove it from the group")
    if len(set(members)) != len(members):
        dup = next(m for m in members if members.count(m) > 1)
        fail(path, key, f"{dup!r} is listed twice", "list each host once")


def _primary(path, name, members, primary, hosts):
    """The named primary (a member), else the one member with the db role."""
    key = f"groups.{name}"
    if primary is not None:
        if primary not in members:
            fail(path, f"{key}.primary", f"{primary!r} is not a member ({', '.join(members)})",
                 "name one of the group's hosts")
        return primary
    dbs = [m for m in members if "db" in hosts[m].roles]
    if len(dbs) != 1:
        which = f"{len(dbs)} members have" if dbs else "no member has"
        fail(path, key, f"no primary ({which} the db role{': ' + ', '.join(dbs) if dbs else ''})",
             f'write [groups.{name}] hosts = [...] and primary = "{members[0]}", '
             'or give exactly one member roles = ["web", "db"]')
    return dbs[0]

