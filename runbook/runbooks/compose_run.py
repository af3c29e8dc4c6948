"""pg_upgrade.compose: run (or print) the docker compose upgrade plan of compose_upgrade.py.

The plan is built from the inventory's [compose] table. `--dry` (the default without --execute)
prints every command; `--execute` runs them as checkpoints: stdin the plan marks as computed is
fed here (the env file with the password from .env, the switched compose file), and the outputs
of the fingerprint commands (old container, new container, switched service) must be equal.
"""
import io
import re
import shlex

from runbook.engine.errors import ConfigError
from runbook.engine.fabcmd import fab
from runbook.engine.runner import Failed
from runbook.host.remote import read_text
from runbook.postgres import compose_stack
from runbook.postgres import compose_upgrade as plan_mod


def config(c):
    k = c.site.compose
    if not k.project_dir:
        raise ConfigError(f"{c.site.inventory.path}: hosts.{c.site.name}.compose.project_dir: "
                          "missing; set it to the compose project's directory on the host")
    return compose_stack.ComposeDB(project_dir=k.project_dir, backup_dir=c.site.backup.dir,
                                   compose_file=k.file, db_service=k.db_service,
                                   app_services=tuple(k.app_services), db_user=k.db_user,
                                   volume=k.volume, command=k.command)


def new_image_for(old_image, to):
    """postgres:14 -> postgres:15, postgres:14.11-alpine -> postgres:15-alpine."""
    repo, _, tag = old_image.rpartition(":")
    if not repo or not tag[:1].isdigit():
        raise ConfigError(f"--old-image {old_image!r} has no version tag; give e.g. postgres:14")
    rest = tag.lstrip("0123456789.")
    return f"{repo}:{to}{rest}"


def same_fingerprints(outputs):
    """None when every output lists the same tables and rows, else what differs (first vs other)."""
    def parse(text):
        return {line.strip() for line in text.splitlines() if line.strip()}
    first = parse(outputs[0])
    for i, other in enumerate(outputs[1:], 2):
        got = parse(other)
        if got != first:
            gone, new = sorted(first - got)[:5], sorted(got - first)[:5]
            return f"fingerprint {i} differs from the first: missing {gone}, unexpected {new}"
    return None


def last_words(text):
    """The line of a failed command's output that says why: the last one, unless it is docker's
    "See 'docker run --help'." trailer, which follows the real message."""
    lines = [line for line in text.strip().splitlines()
             if line.strip() and not re.match(r"(See|Run) '.*--help'", line.strip())]
    return lines[-1].strip() if lines else ""


def _step(c, cfg, cmd, old, new, outputs):
    def run_step(c_, run):
        if cmd.changes_host:   # what a failure report says was done (recovery() says the rest)
            run.state["compose"] = f"the plan ran up to '{cmd.title}'; the old volume is untouched"
        stdin = cmd.stdin
        if cmd.feed == plan_mod.FEED_ENV:
            stdin = compose_stack.env_file_text(c.site.secret(c.site.compose.password_env))
        elif cmd.feed == plan_mod.FEED_COMPOSE:
            text = read_text(c, f"{cfg.project_dir}/{cfg.compose_file}")
            stdin = plan_mod.switch_for(cfg, text or "", old, new)
        r = c.run(cmd.command, in_stream=io.StringIO(stdin or ""), hide=True, warn=True)
        if not r.ok:
            said = last_words(r.stderr or r.stdout)
            raise Failed(f"{cmd.title}: exited {r.exited}{' - ' + said if said else ''}")
        if cmd.check == plan_mod.CHECK_FINGERPRINT:
            outputs.append(r.stdout)
            diff = same_fingerprints(outputs)
            if diff:
                raise Failed(diff + "; the old volume and compose file are untouched")
            return f"fingerprint {len(outputs)}: {len(r.stdout.splitlines())} lines" + (
                ", equal to the first" if len(outputs) > 1 else "")
        return cmd.check or "ok"
    return run_step


def recovery(c, cfg, plan, i, to, old_image, run_id):
    """The hint shown when upgrade step i fails: after the compose file switch, the rollback;
    before it, the old stack started again and what this run made removed before a rerun."""
    switch = next(k for k, cmd in enumerate(plan) if cmd.feed == plan_mod.FEED_COMPOSE)
    if i == 0:
        return None
    if i > switch:
        return ("the compose file names the new image; go back to the old image and volume: "
                + fab(c, "pg_upgrade.compose", to=to, old_image=old_image, rollback=True,
                      execute=True))
    new = new_image_for(old_image, to)
    made = [("docker", "rm", "-f", compose_stack.container_name(cfg, run_id)),
            ("docker", "volume", "rm", compose_stack.new_volume_name(cfg, new)),
            ("rm", "-f", f"{cfg.project_dir}/{cfg.compose_file}.pre-pg{to}")]
    return ("the old volume and compose file are as they were; start the stack again: "
            + plan_mod.compose_line(cfg, "up", "-d") + "; before a rerun remove what this run "
            "made (where it exists): " + "; ".join(shlex.join(argv) for argv in made))
