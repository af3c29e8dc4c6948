"""The task tree `fab` finds in this repository: the `runbook` package's collections.

    fab -H prod verify.status        fab -H prod backup.create        fab -H prod deploy.consolidate

Hosts come from hosts.toml (see hosts.example.toml); `-H NAME` picks one, without `-H` the
inventory's `default` is used. Your own project's fabfile.py does the same (README: "Use it from
your own project").
"""
from runbook.tasks import ns  # noqa: F401 - the tree fab loads
