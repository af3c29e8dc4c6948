"""What a run's end record tells deploy.history and deploy.show: the commits before and after,
the backup, the downtime."""
from dataclasses import asdict, dataclass


@dataclass
class Facts:
    """What deploy.history and deploy.show read from a run's end record. A composite sets what
    it knows on `run.facts`; the shared steps' data (the preflight's commits, the backup, the
    downtime) fills the rest when the run ends (`from_data`)."""
    before: str = ""                # the commit the app ran when the run started
    after: str = ""                 # the commit the run deploys, or moved the code to
    backup: str = ""                # the backup the run took, or restored from
    downtime: float | None = None   # seconds the public got the maintenance page

    def record(self):
        """The end record's fields: the ones set."""
        out = {k: v for k, v in asdict(self).items() if v not in ("", None)}
        if self.downtime is not None:
            out["downtime"] = round(self.downtime, 2)
        return out

    @classmethod
    def read(cls, rec):
        """From an end record, old journals too: a value of another type (the
        fingerprints pg_upgrade.run once wrote as `before`) is left out."""
        def text(key):
            return rec.get(key) if isinstance(rec.get(key), str) else ""
        down = rec.get("downtime")
        number = isinstance(down, (int, float)) and not isinstance(down, bool)
        return cls(text("before"), text("after"), text("backup"), down if number else None)

    def merged(self, data):
        """These facts, gaps filled from a run's data (a RunData, or a host's view of it)."""
        found = Facts(data.before, data.target[1] if data.target else "", data.backup,
                      data.downtime)
        return Facts(**{k: v if v not in ("", None) else getattr(found, k)
                        for k, v in asdict(self).items()})
