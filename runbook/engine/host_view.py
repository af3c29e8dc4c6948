"""A run as one step function sees it on one host: that host's data and state over the run's
shared ones, its journal, and `say` prefixed with the host's name."""
from collections import ChainMap

from runbook.engine.rundata import layered


class HostView:
    """What a step function gets as `run` for one host: that host's data and state over the
    run's shared ones (a "once" step writes the shared ones), its journal, and `say` prefixed
    with the host's name when several hosts print."""

    def __init__(self, run, c, shared):
        self._run, self.c = run, c
        name = c.site.name
        own_data, own_state = run.host_data[name], run.host_state[name]
        self.data = layered(run.data, own_data, shared)
        self.state = _layered(run.state, own_state, shared)
        self.journal = run.journals.get(name)   # None in a plan, which writes no journal

    def say(self, text=""):
        """Print a detail line, prefixed with this host's name when several hosts print."""
        self._run.say(text, host=self.c.site.name, detail=True)

    def __getattr__(self, name):
        return getattr(self._run, name)


def _layered(shared, own, shared_first):
    """`own` over `shared` (or the reverse for a "once" step, which writes the shared ones)."""
    if shared is own:
        return shared
    return ChainMap(shared, own) if shared_first else ChainMap(own, shared)
