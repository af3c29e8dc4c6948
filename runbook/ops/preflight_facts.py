"""What deploy preflight reads from the host, in one round trip: fetch, the ref, the work tree,
the backup disk, the log sizes and (for the expected-migrations check) the target's file list.

One script instead of seven SSH execs; each exec costs about 50 ms of session set-up
(docs/BENCHMARKS.md, Overhead). Read-only apart from the fetch (remote-tracking refs, and tags
that moved: docs/BEHAVIOUR.md#git-fetch-tags-force).
`deploy.consolidate --plan` reads the same facts.
"""
from dataclasses import dataclass

from runbook.engine.scripts import script
from runbook.host.remote import run_script, sections
from runbook.ops.verify_steps import log_files, log_sizes


@dataclass(frozen=True)
class Facts:
    commit: str          # the ref's commit after the fetch; "" when it does not resolve
    head: str            # the commit the work tree is at
    free: int            # bytes free in backup.dir
    changes: list        # `git status --porcelain` lines; [] when clean
    logs: dict           # {log file: size now}
    tree: list           # file paths in the target commit (when asked for)


def read(c, ref_name, tree=False):
    a = c.site.app
    env = {"RB_APP_DIR": a.dir, "RB_GIT_REMOTE": a.git_remote, "RB_REF": f"{ref_name}^{{commit}}",
           "RB_BACKUP_DIR": c.site.backup.dir, "RB_TREE": int(bool(tree))}
    out = run_script(c, script("runbook.ops", "log_position.sh", "preflight_facts.sh"), *log_files(c), env=env).stdout
    s = sections(out)
    if "end" not in s:
        raise RuntimeError(f"preflight's read of {c.site.name} ended early: "
                           f"{out.splitlines()[-1] if out.strip() else 'no output'}")

    def one(key):
        return next((x.strip() for x in s.get(key, []) if x.strip()), "")

    def listed(key):
        return [x for x in s.get(key, []) if x.strip()]
    return Facts(one("commit"), one("head"), int(one("free") or 0) * 1024, listed("changes"),
                 log_sizes(s.get("logs", []), getattr(c, "user", None) or "the SSH user"),
                 listed("tree"))
