"""The docker compose stack whose PostgreSQL service is upgraded (ComposeDB), and the names a
run derives from it and from the images: majors, data mounts, the new volume, the temporary
container, the run directory, the temporary container's env file. ConfigError on anything that
cannot be a compose or Docker name.
"""
import os
import re
from dataclasses import dataclass

from runbook.engine.errors import ConfigError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")   # docker container / volume / service names
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")       # compose project names
_PROJECT_V1 = re.compile(r"[a-z0-9_][a-z0-9_-]*\Z")   # v1 also keeps a leading _
COMMANDS = ("docker compose", "docker-compose")  # v2 or v1: docs/BEHAVIOUR.md#compose-v1-v2


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
    command: str = "docker compose"        # or "docker-compose" (v1): one of COMMANDS

    def __post_init__(self):
        if self.command not in COMMANDS:
            raise ConfigError(f"compose command {self.command!r} is not known; give "
                              + " or ".join(repr(c) for c in COMMANDS))
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
        if not (_PROJECT_V1 if self.command == "docker-compose" else _PROJECT).match(self.project):
            raise ConfigError(f"compose project name {self.project!r} is not valid; set "
                              "project_name to the name compose uses (docker compose ls)")

    @property
    def project(self):
        """The compose project name: project_name, or project_dir's basename normalized as compose
        does (lower case, only a-z 0-9 _ -; v2 also drops a leading _ or -, v1 keeps it:
        docs/BEHAVIOUR.md#compose-names)."""
        if self.project_name is not None:
            return self.project_name
        base = re.sub(r"[^a-z0-9_-]", "", os.path.basename(os.path.normpath(self.project_dir)).lower())
        return base if self.command == "docker-compose" else base.lstrip("_-")


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
    """A major as a comparable tuple ("9.6" -> (9, 6))."""
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
    """The temporary container the new image is restored in: <project>-pgupgrade-<run id>."""
    return f"{cfg.project}-pgupgrade-{run_id}"


def run_dir(cfg, run_id):
    """Where a run keeps its dump, checksum and env file: <backup_dir>/<run id>."""
    return os.path.join(cfg.backup_dir, run_id)


def majors(old_image, new_image):
    """(old, new) majors of the images; ConfigError unless new is a higher major."""
    old, new = image_major(old_image), image_major(new_image)
    if _major_key(new) <= _major_key(old):
        raise ConfigError(f"{old_image} -> {new_image} is not a major upgrade; give a new image "
                          "with a higher major")
    return old, new


def check_run_id(run_id):
    """The run id becomes part of a container name: [A-Za-z0-9_.-] only."""
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
