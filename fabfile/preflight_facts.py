"""What deploy preflight reads from the host, in one round trip: fetch, the ref, the work tree,
the backup disk, the log sizes and (for the expected-migrations check) the target's file list.

One script instead of seven SSH execs; each exec costs about 50 ms of session set-up
(docs/BENCHMARKS.md, Overhead). Read-only apart from the fetch (remote-tracking refs).
"""
from dataclasses import dataclass

from .remote import q, run_script
from .verify_steps import log_files

SCRIPT = """set -u
git -C {app} fetch --quiet --tags --force {remote} </dev/null || exit 1
commit=$(git -C {app} rev-parse --verify --quiet {ref}) || commit=""
echo "@@commit $commit"
echo "@@head $(git -C {app} rev-parse HEAD)"
echo "@@free $(df -Pk {backup_dir} | awk 'NR==2 {{print $4}}')"
{logs}echo @@changes
git -C {app} status --porcelain --untracked-files=normal || exit 1
{tree}echo @@end
"""
TREE = '[ -z "$commit" ] || {{ echo @@tree; git -C {app} ls-tree -r --name-only "$commit" || exit 1; }}\n'
LOG = "printf '@@log %s %s\\n' \"$(stat -c %s {path} 2>/dev/null || echo 0)\" {path}\n"


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
                           backup_dir=q(c.site.backup.dir),
                           logs="".join(LOG.format(path=q(f)) for f in log_files(c)),
                           tree=TREE.format(app=q(a.dir)) if tree else "")
    lines = run_script(c, script).stdout.splitlines()
    value = {}
    section, sections = None, {"changes": [], "tree": []}
    logs = {}
    for line in lines:
        if line in ("@@changes", "@@tree", "@@end"):
            section = line[2:]
        elif section in sections:
            if line.strip():
                sections[section].append(line)
        elif line.startswith("@@log "):
            size, path = line[len("@@log "):].split(" ", 1)
            logs[path] = int(size)
        elif line.startswith("@@"):
            key, _, rest = line[2:].partition(" ")
            value[key] = rest.strip()
    if section != "end":
        raise RuntimeError(f"preflight's read of {c.site.name} ended early: "
                           f"{lines[-1] if lines else 'no output'}")
    return Facts(value.get("commit", ""), value.get("head", ""),
                 int(value.get("free") or 0) * 1024, sections["changes"], logs, sections["tree"])
