"""backup.*: the tasks (the work is in the layers below)."""
import time

from invoke import Collection

from runbook.engine.confirm import confirm
from runbook.engine.errors import ConfigError, DeployError
from runbook.engine.runner import Step
from runbook.host.connection import hosttask, positive
from runbook.host.remote import q
from runbook.ops.backup import (
    age,
    bdir,
    check_name,
    created,
    listing,
    mark_verified,
    restore_drill,
    step_backup,
    verify_files,
)
from runbook.runbooks.plan import Run
from runbook.tasks.defaults import DEFAULTS


@hosttask(plan=True, help={"no_json": "skip the Django JSON dumps (big databases)"})
def create_task(c, no_json=False):
    """Back up the database (pg_dump -Fc in a snapshot + globals + JSON), verify it in full."""
    Run(c, "backup.create", {"no_json": no_json}).execute(
        [Step("backup", step_backup(not no_json))])


@hosttask(name="list")
def list_(c):
    """List this host's backups: name, age, size, verified?"""
    rows = listing(c)
    if not rows:
        print(f"{c.site.name}: no backups in {c.site.backup.dir}")
        return
    print(f"{'name':<22} {'age':>6} {'size':>10}  verified")
    for b in rows:
        v = b["verified"]
        state = f"yes ({v['how']}, {v['verified']})" if v else (
            "no" if b["manifest"] else "INCOMPLETE (no manifest)")
        print(f"{b['name']:<22} {age(created(b['name'])):>6} {b['size'] / 1e6:>8.1f}MB  {state}")


@hosttask(name="verify", help={"backup": "backup name from backup.list",
                               "drill": "also restore into a scratch database and compare "
                                        "fingerprints with the manifest"})
def verify_(c, backup="", drill=False):
    """Verify a backup: sizes and sha256 vs its manifest, the dump read in full; --drill restores it."""
    name = check_name(c, backup)
    problems = verify_files(c, name)
    if problems:
        raise DeployError(f"backup {name} is NOT usable: {'; '.join(problems)}; "
                          "use another backup (backup.list)")
    how = "full read"
    print(f"{name}: files match the manifest; db.dump read in full")
    if drill:
        diffs = restore_drill(c, name)
        if diffs:
            raise DeployError(f"backup {name} drill: restored data differs from the manifest: "
                              + "; ".join(f"{t}: {d}" for t, d in sorted(diffs.items())))
        how = "restore drill"
        print(f"{name}: restore drill matched every table's fingerprint")
    mark_verified(c, name, how)


@hosttask(help={"keep": "also keep this many newest backups whatever their age (default 0)",
                "older_than": "remove backups older than this many days (default 30)",
                "yes": "do not ask for confirmation"})
def prune(c, keep="0", older_than="30", yes=False):
    """Remove old backups (older than --older-than days); the newest verified one is always kept.

    Retention: remove backups older than --older-than days (30); the newest verified backup
    is always kept, and the --keep newest."""
    if not str(keep).isdigit():
        raise ConfigError(f"--keep {keep!r} is not a whole number; give 0 or more")
    keep = int(keep)
    older_than = positive("older_than", older_than)
    rows = listing(c)
    newest_verified = next((b["name"] for b in rows if b["verified"]), None)
    cutoff = time.time() - older_than * 86400
    doomed = [b for b in rows[keep:] if created(b["name"]) < cutoff and b["name"] != newest_verified]
    if not doomed:
        print(f"{c.site.name}: nothing to prune: none of the {len(rows)} backups is older than "
              f"{older_than:g} days{f' beyond the newest {keep}' if keep else ''} "
              f"(newest verified: {newest_verified or 'none'})")
        return
    for b in doomed:
        print(f"remove {b['name']} ({age(created(b['name']))} old"
              f"{', verified' if b['verified'] else ', never verified' if b['manifest'] else ', incomplete'})")
    confirm(f"remove {len(doomed)} backup(s) from {c.site.name}?", yes)
    names = " ".join(q(bdir(c, b["name"])) for b in doomed)
    c.run(f"rm -rf -- {names}", hide=True)
    print(f"{c.site.name}: removed {len(doomed)} backup(s); newest verified kept: {newest_verified}")


ns = Collection("backup")
ns.add_task(create_task, name="create")
ns.add_task(list_, name="list")
ns.add_task(verify_, name="verify")
ns.add_task(prune)
ns.configure(DEFAULTS)
