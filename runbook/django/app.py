"""The Django app on the host: manage.py commands, git state, migrations."""
import json
import re
import time

from runbook.engine.scripts import script
from runbook.engine.shell import GatedStdin, ScriptStdin
from runbook.host.remote import q, sh


def prefix(c):
    """`cd APP && [env] VENV/bin/python MANAGE` with the app's env file and settings module."""
    a = c.site.app
    parts = [f"cd {q(a.dir)} &&"]
    if a.env_file:
        parts.append(f"set -a && . {q(a.env_file)} && set +a &&")
    if a.settings_module:
        parts.append(f"DJANGO_SETTINGS_MODULE={q(a.settings_module)}")
    parts.append(f"{q(a.venv + '/bin/python')} {q(a.manage_py)}")
    return " ".join(parts)


def script_env(c):
    """The variables of manage.sh's `manage ARG...` (script("runbook.django", "manage.sh")):
    what prefix() puts in its command, as run_script env."""
    a = c.site.app
    return {"RB_APP_DIR": a.dir, "RB_APP_ENV_FILE": a.env_file or "",
            "RB_APP_SETTINGS": a.settings_module or "", "RB_APP_PYTHON": a.venv + "/bin/python",
            "RB_APP_MANAGE": a.manage_py}


def manage(c, *args, **kwargs):
    kwargs.setdefault("hide", True)
    return c.run(f"{prefix(c)} {sh(*args)}", **kwargs)


def shell(c, code, env=None, **kwargs):
    """`manage.py shell` running `code` sent on stdin (docs/BEHAVIOUR.md#django-shell-stdin: one
    Django start-up); `env` ({NAME: value}, no secrets: they show in `ps`) is exported for it,
    the code's parameters."""
    kwargs.setdefault("hide", True)
    return c.run(shell_command(c, env), in_stream=ScriptStdin(code, shown=code), **kwargs)


def shell_command(c, env=None):
    """`manage.py shell` with `env` exported: the command `shell` runs (and a warm process's
    journal record shows)."""
    exports = "".join(f"export {n}={q(str(v))} && " for n, v in (env or {}).items())
    return f"{exports}{prefix(c)} shell"


class Warm:
    """A `manage.py shell` started ahead of its code (warm_shell): `run` sends the code and
    waits for its Result; `cancel` ends it unused."""

    def __init__(self, c, promise, gate):
        self.c, self.promise, self.gate = c, promise, gate

    def ready(self, timeout):
        """Wait until Django is set up in it (True), or it ended or `timeout` s passed (False)."""
        runner, end = self.promise.runner, time.monotonic() + timeout
        while "@@warm-ready" not in "".join(runner.stdout):
            if runner.process_is_finished or time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True

    def run(self, code, env=None):
        """Send `code` (with `env`) and wait: its Result (a process that already ended gets no
        code: its own Result says why). The journal gets the record a cold `shell(c, code,
        env)` would have made: the command with its env, the code, the exit."""
        start, result = time.monotonic(), None
        try:
            if self.promise.runner.process_is_finished:
                self.gate.cancel()
            else:
                self.gate.send(json.dumps({k: str(v) for k, v in (env or {}).items()}) + "\n"
                               + code, shown=code)
            result = self.promise.join()
            return result
        finally:
            recorder = getattr(self.c, "recorder", None)
            if recorder is not None:
                recorder({"command": self.c.mask(shell_command(self.c, env)),
                          "exit": getattr(result, "exited", None),
                          "duration": round(time.monotonic() - start, 3),
                          "script": self.c.mask(code)})

    def cancel(self):
        """End it unused; its Result (never raises: a process that failed is the reason)."""
        self.gate.cancel()
        try:
            return self.promise.join()
        except Exception as e:  # noqa: BLE001 - a cancel must not hide the error being handled
            return e


def warm_shell(c, **kwargs) -> Warm:
    """`manage.py shell` started now, so Django's start-up (about 0.5 s) is not paid when its
    code is sent (inside a maintenance window). kwargs as for `shell` (hide, warn, out_stream)."""
    gate = GatedStdin()
    boot = script("runbook.django", "warm_shell.py")
    promise = c.run(f"{prefix(c)} shell -c {q(boot)}", asynchronous=True, in_stream=gate, **kwargs)
    return Warm(c, promise, gate)


MIGRATION_LINE = re.compile(r"^\[(?P<mark>[ X])\]\s+(?P<app>\w+)\.(?P<name>\w+)")


def parse_plan(text):
    """`showmigrations --plan` -> [(app.name, applied)] in order
    (docs/BEHAVIOUR.md#django-showmigrations-plan)."""
    out = []
    for line in text.splitlines():
        m = MIGRATION_LINE.match(line.strip())
        if m:
            out.append((f"{m['app']}.{m['name']}", m["mark"] == "X"))
    return out


def pending(c):
    """The unapplied migrations, in the order `migrate` would apply them."""
    return [name for name, applied in parse_plan(manage(c, "showmigrations", "--plan").stdout)
            if not applied]


def git(c, *args, **kwargs):
    kwargs.setdefault("hide", True)
    return c.run(f"git -C {q(c.site.app.dir)} {sh(*args)}", **kwargs)


def head(c):
    return git(c, "rev-parse", "HEAD").stdout.strip()
