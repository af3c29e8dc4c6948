"""The hosts one run acts on: one inventory host, or a group of them with one primary.

`fab -H prod deploy.consolidate` names a host or a `[groups]` entry of hosts.toml. A composite's
steps say where they run (`Step.where`): once on the primary (backup, migrations, restore), on
all hosts at once, or rolling in batches. "At once" is Fabric's own `ThreadingGroup`: each member
runs the step function in its thread, and a failure anywhere comes back as `GroupException`
holding every host's result (docs/BEHAVIOUR.md#fabric-threadinggroup).
"""
from fabric import ThreadingGroup
from fabric.exceptions import GroupException


class Fleet:
    """Connections to the hosts of one run; `primary` runs the once-only steps."""

    def __init__(self, name, members, primary):
        self.name, self.members, self.primary = name, list(members), primary

    @classmethod
    def single(cls, c):
        return cls(c.site.name, [c], c)

    @property
    def multi(self):
        return len(self.members) > 1

    def with_role(self, role):
        """Members with `role` (one host alone plays every role)."""
        if not self.multi:
            return list(self.members)
        return [c for c in self.members if role in c.site.roles]

    def describe(self):
        if not self.multi:
            return self.primary.site.name
        names = ", ".join(c.site.name for c in self.members)
        return f"{self.name} ({names}; primary {self.primary.site.name})"

    def close(self):
        for c in self.members:
            c.close()


class StepGroup(ThreadingGroup):
    """Fabric's ThreadingGroup, calling a step function on each member (one thread each)."""

    def call(self, fn, views):
        """fn(c, views[name]) on every member; GroupResult, or GroupException with each result."""
        return self._do("call_step", fn, views)


def batches(members, size):
    """Consecutive batches of at most `size` members (a rolling step's order)."""
    return [members[i:i + size] for i in range(0, len(members), size)]


def each(members, fn):
    """fn(c) on every member at once (one host: directly); [(name, result or exception)]."""
    if len(members) == 1:
        return [(members[0].site.name, fn(members[0]))]
    views = {c.site.name: None for c in members}
    try:
        results = StepGroup.from_connections(members).call(lambda c, _view: fn(c), views)
    except GroupException as e:
        results = e.result
    return [(c.site.name, results.get(c)) for c in members]
