"""What deploy preflight reads from the host, in one round trip: fetch, the ref, the work tree,
the backup disk, the log sizes and (for the expected-migrations check) the target's file list.

One script instead of seven SSH execs; each exec costs about 50 ms of session set-up
(docs/BENCHMARKS.md, Overhead). Read-only apart from the fetch (remote-tracking refs, and tags
that moved: docs/BEHAVIOUR.md#git-fetch-tags-force).
`deploy.consolidate --plan` reads the same facts.
"""
from dataclasses import dataclass

from runbook.host.remote import q, run_script, sections
from runbook.ops.verify_steps import log_sizes, log_sizes_script

SCRIPT = """set -u
git -C {app} fetch --quiet --tags --force {remote} </dev/null || exit 1
commit=$(git -C {app} rev-parse --verify --quiet {ref}) || commit=""
echo @@commit; echo "$commit"
echo @@head; git -C {app} rev-parse HEAD || exit 1
echo @@free; df -Pk {backup_dir} | awk 'NR==2 {{print $4}}'
echo @@logs
{logs}echo @@changes
git -C {app} status --porcelain --untracked-files=normal || exit 1
{tree}echo @@end
"""
TREE = '[ -z "$commit" ] || {{ echo @@tree; git -C {app} ls-tree -r --name-only "$commit" || exit 1; }}\n'


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
    script = SCRIPT.format(app=q(a.dir), remote=q(a.git_remote), ref=q(f"{ref_name}^{{commit}}"),
                           backup_dir=q(c.site.backup.dir), logs=log_sizes_script(c),
                           tree=TREE.format(app=q(a.dir)) if tree else "")
    out = run_script(c, script).stdout
    s = sections(out)
    if "end" not in s:
        raise RuntimeError(f"preflight's read of {c.site.name} ended early: "
                           f"{out.splitlines()[-1] if out.strip() else 'no output'}")

    def one(key):
        return next((x.strip() for x in s.get(key, []) if x.strip()), "")

    def listed(key):
        return [x for x in s.get(key, []) if x.strip()]
    return Facts(one("commit"), one("head"), int(one("free") or 0) * 1024, listed("changes"),
                 log_sizes(s.get("logs", [])), listed("tree"))
