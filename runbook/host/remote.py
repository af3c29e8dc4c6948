"""Small c-first helpers for files and commands on the host (what patchwork would give, if it
could be installed: docs/BEHAVIOUR.md#fabric-patchwork-unusable).

Every path and argument is quoted with shlex.quote. Data (file contents, SQL, secrets) travels
on stdin, never in a process argument another user could see with `ps`
(docs/BEHAVIOUR.md#shell-argv-visible-in-ps).
"""
import base64
import io
import re

from runbook.engine.shell import ScriptStdin, q, sh


def exists(c, path):
    return c.run(f"test -e {q(path)}", warn=True, hide=True).ok


def is_dir(c, path):
    return c.run(f"test -d {q(path)}", warn=True, hide=True).ok


def ensure_dir(c, path, mode="0700"):
    """Create `path` (and parents) with `mode`; sets the mode of an existing one too."""
    c.run(f"mkdir -p {q(path)} && chmod {q(mode)} {q(path)}", hide=True)


def read_text(c, path):
    """The file's text, or None when it does not exist."""
    r = c.run(f"cat {q(path)} 2>/dev/null", warn=True, hide=True)
    return r.stdout if r.ok else None


def atomic_write(c, path, text, mode="0600"):
    """Write `text` to `path` via a temp file in the same dir and rename (never half-written)."""
    c.run(
        f"umask 077 && tmp=$(mktemp {q(path + '.XXXXXX')}) && cat > \"$tmp\" && "
        f"chmod {q(mode)} \"$tmp\" && mv -f \"$tmp\" {q(path)}",
        in_stream=io.StringIO(text), hide=True)


def append_if_missing(c, path, line):
    """Append `line` unless the file already has it exactly; True when it changed the file."""
    r = c.run(f"grep -qxF -f /dev/stdin {q(path)} 2>/dev/null && echo present || "
              f"{{ printf '%s\\n' {q(line)} >> {q(path)} && echo added; }}",
              in_stream=io.StringIO(line + "\n"), hide=True)
    return r.stdout.strip() == "added"


# what sudo itself prints when it refuses (docs/BEHAVIOUR.md#sudo-refusal-messages)
SUDO_REFUSALS = ("sudo: a password is required", "is not allowed to execute",
                 "is not in the sudoers file", "may not run sudo")


def sudo(c, *argv, user=None, **kwargs):
    """Run argv through `sudo -n` (never prompts: docs/BEHAVIOUR.md#sudo-n-never-prompts), quoted,
    without `bash -c` (sudo covers no `&&` after it: docs/BEHAVIOUR.md#invoke-sudo-with-cd).

    A refusal by sudo itself is SudoDenied naming the command and the fix, even with warn=True:
    a missing sudoers rule is never "the service is down"."""
    from invoke.exceptions import UnexpectedExit

    from runbook.engine.errors import SudoDenied
    who = f"-u {q(user)} " if user else ""
    warn = kwargs.pop("warn", False)
    r = c.run(f"sudo -n {who}{sh(*argv)}", warn=True, **kwargs)
    if r.failed and any(s in (r.stderr or "") for s in SUDO_REFUSALS):
        as_user = f" as {user}" if user else ""
        raise SudoDenied(f"sudo refused `{sh(*argv)}`{as_user} on {c.site.name} "
                         f"({r.stderr.strip().splitlines()[-1]}); add a NOPASSWD sudoers rule for "
                         "it (README: sudo on the host)")
    if r.failed and not warn:
        raise UnexpectedExit(r)
    return r


def sections(text):
    """{key: [lines]} from output marked with `@@key` header lines (what our scripts print).

    A repeated header starts its section again (the last one wins).
    """
    out, key = {}, None
    for line in text.splitlines():
        if line.startswith("@@"):
            key = line[2:].strip()
            out[key] = []
        elif key is not None:
            out[key].append(line)
    return out


ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def run_script(c, script, *args, env=None, secrets=None, user=None, data="", **kwargs):
    """Run a multi-line bash script sent on stdin: one round trip, nothing in `ps` but `args`.

    `args` are its $1..., `env` ({NAME: value}) its variables, both quoted on the command line
    (Fabric's own env= is not: docs/BEHAVIOUR.md#fabric-env-not-quoted): never secrets.
    `secrets` ({NAME: value}) are read from stdin's first lines (base64, so any text) into
    exported variables before bash reads the script: in no process argument.
    `user`: bash runs as that user (`sudo -n -u USER`), with `args` only (sudo drops the rest).
    `data` follows the script on stdin, for a script that is one `{ ...; exit; }` group reading it.
    Wrap a script whose commands read stdin in `{ ...; } </dev/null`: bash reads a group whole
    before running it, so those commands cannot eat the rest of the script
    (docs/BEHAVIOUR.md#bash-reads-group-whole).
    """
    kwargs.setdefault("hide", True)
    env, secrets = env or {}, secrets or {}
    if user and (env or secrets):
        raise ValueError("run_script: a script run as another user takes arguments only")
    for name in [*env, *secrets]:
        if not ENV_NAME.match(name):
            raise ValueError(f"run_script: {name!r} is not an upper-case variable name")
    read = "".join(f"IFS= read -r {n} && {n}=$(printf %s \"${n}\" | base64 -d) && export {n} && "
                   for n in secrets)
    assign = "".join(f"{n}={q(str(v))} " for n, v in env.items())
    stdin = "".join(base64.b64encode(str(v).encode()).decode() + "\n" for v in secrets.values())
    argv = f" -- {sh(*args)}" if args else ""
    sudo = f"sudo -n -u {q(user)} " if user else ""
    return c.run(f"{read}{assign}{sudo}bash -s{argv}", in_stream=ScriptStdin(stdin + script + data, shown=script),
                 **kwargs)
