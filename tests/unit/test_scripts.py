"""Scripts run on a host are files of the package (runbook/<layer>/scripts/), their values passed
as arguments or environment variables by remote.run_script, never formatted into their text.

- every script file is loaded by some module (no orphans), and ships as package data;
- no module holds a multi-line string that looks like a bash or Python script (a new f-string
  script fails here), except those in PENDING, still to be moved (the list only shrinks);
- the shell scripts pass shellcheck, the Python ones ruff;
- run_script's arguments, variables and secrets reach bash intact, the secrets in no argument.
"""
import ast
import base64
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from invoke import Result

from runbook.engine.scripts import script
from runbook.host import remote

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "runbook"
SCRIPTS = sorted(p for p in PACKAGE.glob("*/scripts/*") if p.is_file())
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "scripts" not in p.relative_to(PACKAGE).parts)
# bash (set -e/-u/-o, a shebang, our `echo @@section` markers) or Python (imports)
LOOKS_LIKE_A_SCRIPT = re.compile(r"set -[euo]|#!/|^\s*echo @@|^\s*import |^\s*from \w+ import ", re.M)

# Multi-line scripts not yet moved to files: (module, its first line). Move one, delete its line.
PENDING: set = set()


def _text(node):
    """A string constant's text, or an f-string's with its fields as {}; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _docstrings(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def inline_scripts():
    """{(module, first line)} of the multi-line strings of runbook/ that look like scripts."""
    found = set()
    for path in MODULES:
        tree = ast.parse(path.read_text())
        skip = _docstrings(tree)
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            text = _text(node)
            if text is None or id(node) in skip or id(node) in parts:
                continue
            if "\n" in text.strip("\n") and LOOKS_LIKE_A_SCRIPT.search(text):
                first = text.strip("\n").splitlines()[0].strip()
                found.add((str(path.relative_to(ROOT)), first))
    return found


def test_no_module_holds_a_script_in_a_string():
    new = inline_scripts() - PENDING
    assert not new, (f"scripts written inline: {sorted(new)}; put each in runbook/<layer>/scripts/ "
                     "and load it with runbook.engine.scripts.script (values as arguments/env)")


def test_pending_lists_only_scripts_still_inline():
    moved = PENDING - inline_scripts()
    assert not moved, f"moved to files (delete them from PENDING): {sorted(moved)}"


@pytest.mark.parametrize("text, found", [
    ('X = f"""set -e\\necho {q(a)}\\n"""', True),
    ('X = """import sys\\nprint(sys.argv)\\n"""', True),
    ('X = "#!/bin/sh\\necho hi\\n"', True),
    ('def f():\n    """Docs.\n\n    import nothing here\n    """', False),
    ('X = "set -e; echo one line"', False),
    ('X = f"""echo @@os\nuname -r\n"""', True),
    ('X = "set -u\\nfail() { exit 1; }\\n"', True),
    ('X = "a\\nb\\n"', False),
], ids=["f-string bash", "python", "shebang", "docstring", "one line", "text", "sections",
        "set -u"])
def test_the_heuristic_catches_inline_scripts(tmp_path, monkeypatch, text, found):
    module = tmp_path / "runbook" / "m.py"
    module.parent.mkdir()
    module.write_text(text + "\n")
    monkeypatch.setattr(sys.modules[__name__], "MODULES", [module])
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert bool(inline_scripts()) is found


def _layer_package(path):
    return "runbook." + path.relative_to(PACKAGE).parts[0]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_script_is_loaded_by_a_module_and_shipped(path):
    name = path.name
    users = [m for m in MODULES if re.search(rf"[\"']{re.escape(name)}[\"']", m.read_text())]
    assert users, f"{path.relative_to(ROOT)} is loaded by no module: remove it or use it"
    assert script(_layer_package(path), name) == path.read_text()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "scripts/*" in data.get(_layer_package(path), []), \
        f'pyproject.toml [tool.setuptools.package-data]: add "{_layer_package(path)}" = ["scripts/*"]'


@pytest.mark.parametrize("path", [p for p in SCRIPTS if p.suffix == ".sh"],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_shell_scripts_pass_shellcheck(path):
    tool = shutil.which("shellcheck")
    assert tool, "shellcheck is not installed: apt-get install -y shellcheck"
    r = subprocess.run([tool, "-s", "bash", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


@pytest.mark.parametrize("path", [p for p in SCRIPTS if p.suffix == ".py"],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_python_scripts_pass_ruff(path):
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "-q", str(path)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


class Bash:
    """Runs each command with bash here, recording it (a stand-in Connection for run_script)."""

    def __init__(self, cwd):
        self.cwd, self.commands = cwd, []

    def run(self, command, in_stream=None, hide=None, warn=False):
        self.commands.append(command)
        p = subprocess.run(["bash", "-c", command], input=in_stream.getvalue(),
                           capture_output=True, text=True, cwd=self.cwd, timeout=30)
        return Result(stdout=p.stdout, stderr=p.stderr, exited=p.returncode, command=command)


HOSTILE = ["a b", "$(touch PWNED)", "`id`", "'q'", '"d"', "-n", "", "x\ny", "*"]
SHOW = 'printf "<%s>" "$@"; echo; printf "[%s]" "$RB_ONE" "$RB_TWO" "$PGPASSWORD" "$RB_CFG"\n'


def test_run_script_passes_arguments_env_and_secrets_intact(tmp_path):
    c = Bash(tmp_path)
    secret = "p@ss w'o\"rd $(touch PWNED)"
    r = remote.run_script(c, SHOW, *HOSTILE, env={"RB_ONE": "x; y", "RB_TWO": "$HOME"},
                          secrets={"PGPASSWORD": secret, "RB_CFG": "line 1\nline 2"})
    assert r.stdout == "".join(f"<{a}>" for a in HOSTILE) + "\n" + \
        f"[x; y][$HOME][{secret}][line 1\nline 2]"
    assert not (tmp_path / "PWNED").exists()
    assert secret not in c.commands[0] and base64.b64encode(secret.encode()).decode() \
        not in c.commands[0]


def test_run_script_without_values_is_plain_bash_s(tmp_path):
    c = Bash(tmp_path)
    assert remote.run_script(c, "echo $# \"$RB_X\"\n").stdout == "0 \n"
    assert c.commands == ["bash -s"]


@pytest.mark.parametrize("env", [{"rb_lower": "x"}, {"A B": "x"}, {"X;rm": "x"}])
def test_run_script_refuses_a_bad_variable_name(env):
    with pytest.raises(ValueError, match="upper-case variable name"):
        remote.run_script(Bash(None), "true\n", env=env)


def test_run_script_as_another_user_takes_arguments_only():
    c = Bash(None)
    c.run = lambda command, **kw: c.commands.append(command)
    remote.run_script(c, "true\n", "a b", user="postgres")
    assert c.commands == ["sudo -n -u postgres bash -s -- 'a b'"]
    with pytest.raises(ValueError, match="arguments only"):
        remote.run_script(c, "true\n", user="postgres", env={"RB_X": "1"})


@pytest.mark.parametrize("database, argv", [
    ({"name": "app"}, ["sudo", "-n", "-u", "postgres", "-h", "/var/run/postgresql", "-p", "5432",
                       "-d", "x y"]),
    ({"name": "app", "access": "dsn", "dsn_env": "APP_DSN"},
     ["-h", "db.internal", "-p", "6432", "-U", "app user", "-d", "x y"]),
], ids=["local", "dsn"])
def test_pg_sh_runs_the_tool_as_client_prefix_does(tmp_path, database, argv):
    """pg.sh's `pg TOOL ...` with db.script_env: the argv the tool gets, the password by env."""
    from runbook.postgres import db
    from tests.support.sites import make_site
    password = "p@ss w'o\"rd"
    site = make_site(tmp_path, env="APP_DSN=postgres://app%20user:p%40ss%20w'o%22rd@db.internal:6432/app\n",
                     database=database)
    fake = tmp_path / "TOOL"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" "pw=$PGPASSWORD"\n')   # its arguments
    fake.chmod(0o755)
    bin_dir = tmp_path / "bin"     # a stand-in sudo: runs the command after -n -u USER
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text('#!/bin/sh\nprintf "%s\\n" sudo "$1" "$2" "$3"\nshift 3\nexec "$@"\n')
    (bin_dir / "sudo").chmod(0o755)
    env, secrets = db.script_env(SimpleNamespace(site=site))
    assert password not in str(env)
    c = Bash(tmp_path)
    text = script("runbook.postgres", "pg.sh") + 'PATH="$BIN:$PATH" pg "$TOOL" -d "x y"\n'
    r = remote.run_script(c, text, env={**env, "BIN": bin_dir, "TOOL": fake}, secrets=secrets)
    assert r.stdout.splitlines() == argv + [f"pw={password if secrets else ''}"], r.stderr
    assert password not in c.commands[0]


def test_psql_variables_are_quoted_arguments_not_sql_text(tmp_path):
    """db.psql(variables=): each a quoted `-v name=value`; the SQL file refers to them."""
    from runbook.postgres import db
    from tests.support.sites import make_site
    c = Bash(tmp_path)
    c.run = lambda command, **kw: c.commands.append((command, kw["in_stream"].getvalue())) or \
        Result(stdout="", exited=0)
    hostile = "it's $(touch PWNED) \"x\""
    db.psql(SimpleNamespace(site=make_site(tmp_path), run=c.run),
            script("runbook.runbooks", "swap_databases.sql"), db="postgres",
            variables={"live": hostile, "fresh": "f", "kept": "k"})
    command, sql = c.commands[0]
    words = shlex.split(command)
    assert ["-v", f"live={hostile}", "-v", "fresh=f", "-v", "kept=k"] == words[words.index("-v") + 2:][:6]
    assert hostile not in sql and ':"live"' in sql and ":'live'" in sql


def test_backup_list_and_verify_scripts_on_hostile_names(tmp_path):
    """backup_list.sh and backup_verify.sh run by bash here, pg_restore a stand-in that fails on
    an empty dump: names with spaces and quotes arrive as they are."""
    import gzip
    import json
    root = tmp_path / "my 'backups'"
    b = root / "20261121-101500-ab12"
    b.mkdir(parents=True)
    (b / "manifest.json").write_text("{}")
    (b / "verified.json").write_text('{"how": "full read"}\n')
    (b / "db.dump").write_text("dump")
    (b / "db-1 it's.dump").write_text("")                       # unreadable: empty
    (b / "dumpdata-a b.json.gz").write_bytes(gzip.compress(json.dumps([{"x": 1}]).encode()))
    (b / "dumpdata-cut.json.gz").write_bytes(gzip.compress(b'[{"x": 1},'))
    c = Bash(tmp_path)
    listed = remote.run_script(c, script("runbook.ops", "backup_list.sh"),
                               env={"RB_BACKUP_DIR": root}).stdout
    name, size, has_manifest, verified = listed.rstrip("\n").split("\t")
    assert (name, size.isdigit(), has_manifest, verified) == (
        "20261121-101500-ab12", True, "1", '{"how": "full read"}')
    stub = 'pg() { [ "$1" = pg_restore ] && [ -s /dev/stdin ]; }\n'
    r = remote.run_script(c, stub + script("runbook.ops", "backup_verify.sh"),
                          "db.dump", "db-1 it's.dump", "--", "dumpdata-a b.json.gz",
                          "dumpdata-cut.json.gz",
                          env={"RB_BACKUP": b, "RB_PYTHON": sys.executable,
                               "RB_PARSE_JSON": script("runbook.ops", "parse_json.py")})
    read = r.stdout.split("@@read\n", 1)[1].splitlines()
    assert read == ["BAD db-1 it's.dump", "dumpdata-cut.json.gz: is truncated after 1 objects",
                    "BAD dumpdata-cut.json.gz", "READ-DONE"]
    files = r.stdout.split("@@files\n", 1)[1].split("@@read")[0].splitlines()
    assert sorted(line.split("  ", 1)[1] for line in files) == sorted(
        ["db.dump", "db-1 it's.dump", "dumpdata-a b.json.gz", "dumpdata-cut.json.gz"])


def test_log_scan_reads_only_what_each_log_gained(tmp_path):
    """verify_steps.scan_since through log_scan.sh: the bytes after each offset, fixed strings."""
    from runbook.ops import verify_steps
    old, new = tmp_path / "app's log", tmp_path / "gone.log"
    old.write_text("Traceback before\n")
    offset = old.stat().st_size
    with old.open("a") as f:
        f.write("ok\nTraceback (most recent call last):\nvalue $(id) [x]\n")
    site = SimpleNamespace(inventory=SimpleNamespace(project=SimpleNamespace(
        log_patterns=["Traceback", "$(id) [x]"])))
    c = Bash(tmp_path)
    c.site = site
    found = verify_steps.scan_since(c, {str(old): offset, str(new): 0})
    assert found == {"Traceback": [f"{old}: Traceback (most recent call last):"],
                     "$(id) [x]": [f"{old}: value $(id) [x]"]}


def test_migration_sources_reads_files_of_a_commit_not_the_tree(tmp_path):
    from runbook.django import migrate
    repo = tmp_path / "app dir"
    repo.mkdir()
    run = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (repo / "a b").mkdir()
    (repo / "a b" / "0001_x.py").write_text("first\n")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    (repo / "a b" / "0001_x.py").write_text("changed in the tree\n")
    c = Bash(tmp_path)
    c.site = SimpleNamespace(app=SimpleNamespace(dir=str(repo)))
    assert migrate.sources_at(c, commit, {"a.0001_x": "a b/0001_x.py"}) == {"a.0001_x": "first"}
