"""What a run's steps pass to later steps (`run.data`): typed fields, not string keys in a dict.

A dict let one step write a key in one shape and a later reader expect another (deploy.history
once crashed reading `before` after pg_upgrade.run had kept fingerprints there); a typo made a
new key. Here a field has one type, a misspelt name is an AttributeError (slots), and a test
(tests/unit/test_run_data.py) keeps `.data["..."]` out of the package.

One dataclass for every runbook, in the engine: its fields are written by steps of three layers
(django, ops, runbooks) and read by the runner, and any `Run` - whichever layer built it - must
accept every step's writes. A subclass per layer would make the Run's class and
its steps' fields a second thing to keep in step, the mismatch this module removes. The engine
only reads the first group (what the runner reports); the others are named for the layer that
writes them and typed without importing it. A runbook of a project's own passes values of its
own in a subclass, `@dataclass(slots=True) class MyData(RunData)` (slots: a misspelt name stays
an error), passed as `Run(c, "TASK", data=MyData())`; each host of a group gets a `MyData()`.

Layering on a group (`layered`): each host has its own RunData over the run's shared one. A step
that runs "once" sees the shared data over the primary's and writes the shared; a step on "all"
hosts or "rolling" sees its host's over the shared and writes its host's. One host: the run's
data is the host's. A field at its default counts as unset: the layer below shows through.
"""
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from typing import Any


@dataclass(slots=True)
class RunData:
    # --- what the runner reports (the end record, deploy.history, the summary) -----------------
    before: str = ""                        # the commit the app ran when the run started
    target: tuple[str, str] | None = None   # (ref, commit) the run deploys
    backup: str = ""                        # the backup the run took, or restored from
    downtime: float | None = None           # seconds the public got the maintenance page
    summary_lines: list[str] = field(default_factory=list)   # extra lines under the summary

    # --- ops: backup, maintenance, verify ---------------------------------------------------
    manifest: dict | None = None            # the backup's manifest.json (tables, git_commit)
    audit: dict = field(default_factory=dict)          # verify.audit's values, before migrating
    log_offsets: dict[str, int] = field(default_factory=dict)   # {log file: size at preflight}
    maintenance_on_at: float | None = None  # monotonic time maintenance went on in this run
    maintenance_on_before: bool = False     # maintenance was already on when the run started
    booted: str = ""                        # the copy of the app the switch booted (its name)

    # --- django: migrations behind the data-loss guards -------------------------------------
    plan: list[dict] = field(default_factory=list)      # the pending migrations, in order
    pending: list[str] = field(default_factory=list)    # their names
    destructive: list[str] = field(default_factory=list)   # "migration: what it loses"
    data_ops: list[dict] = field(default_factory=list)  # data operations' reports, for the guard
    post_django: str | None = None          # verify.post's Django checks, run by the last stage
    warm: list = field(default_factory=list)   # migration processes started before the window
    lint: list[dict] = field(default_factory=list)   # migrate.lint's findings (lint.Finding)
    window_needed: str = ""                 # why a release with [switch] needs a window (lint)

    # --- runbooks: pg_upgrade ---------------------------------------------------------------
    report: Any = None                      # upgrade_check's Report (postgres layer)
    source: tuple[str, str] | None = None   # (version, cluster) the plan read, without a report
    fingerprints: dict = field(default_factory=dict)    # table fingerprints before the upgrade
    upgrade: dict = field(default_factory=dict)         # the upgrade state kept on the host
    upgrade_seconds: float | None = None    # how long pg_upgrade itself took
    target_port: int | None = None          # link: the prepared new cluster's spare port
    version: str = ""                       # the version pg_upgrade.rollback went back to

    @classmethod
    def empty(cls) -> "RunData":
        """A host's own data on a group: the run's class (a project's subclass too), unset."""
        return cls()

    def is_set(self, name: str) -> bool:
        """The field holds other than its default."""
        cls: type = type(self)   # as `type`: mypy takes a dataclass class for unhashable (lru_cache)
        f = _fields(cls)[name]
        return getattr(self, name) != (f.default_factory() if f.default is MISSING else f.default)


@cache
def _fields(cls):
    return {f.name: f for f in fields(cls)}


class Layered:
    """One host's view of a group run's data: reads from `top` where set, else from `below`;
    writes to `top`. An unset list or dict read here is `top`'s own, so appending to it lands
    in `top` (as dict.setdefault did)."""

    __slots__ = ("_top", "_below")

    def __init__(self, top: RunData, below: RunData):
        object.__setattr__(self, "_top", top)
        object.__setattr__(self, "_below", below)

    def __getattr__(self, name):
        if name not in _fields(type(self._top)):
            raise AttributeError(f"{type(self._top).__name__} has no field {name!r}")
        source = self._below if not self._top.is_set(name) and self._below.is_set(name) \
            else self._top
        return getattr(source, name)

    def __setattr__(self, name, value):
        setattr(self._top, name, value)

    def is_set(self, name: str) -> bool:
        return self._top.is_set(name) or self._below.is_set(name)


def layered(shared: RunData, own: RunData, shared_first: bool) -> "RunData | Layered":
    """A host's view: `own` over `shared`, or the shared over `own` for a "once" step."""
    if shared is own:
        return shared
    return Layered(shared, own) if shared_first else Layered(own, shared)
