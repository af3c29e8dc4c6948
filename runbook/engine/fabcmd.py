"""The `fab` command lines the tool prints for the user to run, runnable verbatim.

Each names the host (or group), the task, the options given, and last the run's inventory when
it is not the one a bare `fab` loads (`--hosts-file`, an absolute path); values are shell-quoted.
"""
import inspect
from pathlib import Path

from invoke import Collection

from runbook.engine.shell import q


def default_hosts_file(config):
    """The configured inventory (deploy.hosts_file, default hosts.toml). A relative one is
    relative to the directory fab loaded the task tree from, so `fab -r DIR` works anywhere."""
    try:
        path = Path(config.deploy.hosts_file)
    except AttributeError:   # a Connection without the fabfile's config (tests, scripts)
        path = Path("hosts.toml")
    base = getattr(config, "_project_prefix", None)   # invoke: the loaded fabfile's directory
    return path if path.is_absolute() or not base else Path(base) / path


def hosts_file_option(c):
    """`--hosts-file PATH` when c's inventory is not the configured default, else ""."""
    path = Path(c.site.inventory.path).resolve()
    default = default_hosts_file(getattr(c, "config", None)).resolve()
    return "" if path == default else f"--hosts-file {q(str(path))}"


def fab(c, command, host=None, **options):
    """`fab -H HOST TASK [REST] [OPTIONS] [--hosts-file PATH]` for `command` ("TASK REST", REST
    already shell-safe) on `host` (default: c's); `options` as in `cli_options`."""
    words = ["fab -H", q(host or c.site.name), command, cli_options(options), hosts_file_option(c)]
    return " ".join(w for w in words if w)


def cli_options(options, params=None):
    """Options as a command line: `--name` for True, `--name=VALUE` quoted; nothing for the
    ones not given ("", False, None) or, with `params` (a task's signature), at their default."""
    out = []
    for key, value in (options or {}).items():
        default = params[key].default if params and key in params else None
        if value is None or value is False or value == "" or (params and _same(value, default)):
            continue
        flag = "--" + key.replace("_", "-")
        out.append(flag if value is True or isinstance(default, bool) else f"{flag}={q(str(value))}")
    return " ".join(out)


def rerun(c, task, args, host=None):
    """The command that runs `task` again with the run's `args`: the ones the task takes (as the
    task's options), and `--yes` when the task asks for confirmation."""
    params = task_params(task)
    if params is None:
        return fab(c, f"{task} {cli_options(args)}".strip(), host)
    given = {k: v for k, v in (args or {}).items() if k in params}
    if "yes" in params:
        given["yes"] = True
    return fab(c, f"{task} {cli_options(given, params)}".strip(), host)


_TREES: list = []   # the task trees whose tasks rerun() knows (know_tasks)


def know_tasks(ns: Collection) -> Collection:
    """Let rerun() read the options of the tasks in `ns` (the task tree registers itself)."""
    _TREES.append(ns)
    return ns


def task_params(task):
    """The parameters of the fab task named `task` ("deploy.consolidate"), or None."""
    for ns in _TREES:
        try:
            return dict(inspect.signature(ns[task].body).parameters)
        except (KeyError, ValueError, AttributeError):
            continue
    return None


def _same(value, default):
    if value == default or str(value) == str(default):
        return True
    try:
        return float(value) == float(default)
    except (TypeError, ValueError):
        return False
