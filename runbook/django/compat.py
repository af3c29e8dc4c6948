"""Which pending migrations the code of before them can keep serving through (a release then
needs no maintenance window: runbooks/release.py). Conservative: what is not known safe is not."""

# Operations the code of before them keeps working with (it never names what they add); an
# AddField only when nullable: Django drops the default it added once the column is filled, so
# an INSERT by old code that omits the column fails on NOT NULL. Indexes and constraints that
# only add a check the old code meets: what they LOCK, and for how long on this host's tables,
# is migrate.lint's to judge (django/lint.py), not a reason for a window here.
OLD_CODE_SAFE = {"CreateModel", "AlterModelOptions", "AlterModelManagers", "AddIndex",
                 "RemoveIndex", "AddIndexConcurrently", "RemoveIndexConcurrently",
                 "RenameIndex", "ValidateConstraint"}

def old_code_unsafe(entries):
    """The pending operations the old code, still serving while they run, could trip on
    ("migration: operation"); [] when there are none (no window needed with a switch)."""
    out = []
    for e in entries:
        for op in e["ops"]:
            if e["backwards"] or not (op["op"] in OLD_CODE_SAFE
                                      or (op["op"] == "AddField" and op.get("null"))):
                out.append(f"{e['migration']}: {op['describe']}")
    return out
