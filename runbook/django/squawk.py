"""Run squawk (PyPI squawk-cli, a dependency of this package) on the operator's machine.

Here, not on the host: the host then needs nothing installed (the app's venv is the app's), and
squawk reads only SQL text; what only the host knows (table sizes, the server's version) is
read there and joined in django/lint.py. Files are written to a private temporary directory
and passed as arguments; squawk's JSON report is parsed (docs/BEHAVIOUR.md#squawk-json).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from runbook.django.lint import layout
from runbook.engine.errors import ConfigError
from runbook.engine.runner import Failed


def binary():
    """squawk beside this Python (the venv's bin, when `fab` is run by path), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "squawk")
    found = here if os.access(here, os.X_OK) else shutil.which("squawk")
    if not found:
        raise ConfigError("squawk is not installed where fab runs; install it with "
                          "`pip install squawk-cli` (a dependency of runbook-tasks)")
    return found


def lint(files, pg_version, exclude=()):
    """squawk's findings (a list of dicts) on `files` [(name, migration, [statements])], for
    PostgreSQL `pg_version` ("14.11"). Exit 0 (clean) and 1 (findings) are both answers."""
    if not any(statements for _n, _m, statements in files):
        return []
    with tempfile.TemporaryDirectory(prefix="rb-lint-") as tmp:
        paths = []
        for name, _migration, statements in files:
            path = os.path.join(tmp, name)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(layout(statements)[0])
            paths.append(path)
        argv = [binary(), "--reporter", "json", "--pg-version", pg_version,
                *([f"--exclude={','.join(exclude)}"] if exclude else []), *paths]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired:
            raise Failed("squawk did not finish linting the migrations' SQL within 120s") from None
    if r.returncode not in (0, 1):
        said = (r.stderr or r.stdout).strip().splitlines()
        raise Failed(f"squawk could not lint the migrations' SQL (exit {r.returncode})"
                     + (f": {said[-1]}" if said else ""))
    try:
        out = json.loads(r.stdout or "[]")
    except json.JSONDecodeError:
        raise Failed(f"squawk's report is not JSON: {r.stdout.strip()[:120]!r}") from None
    return out if isinstance(out, list) else []
