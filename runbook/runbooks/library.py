"""Everything a runbook of your own is composed from, in one import (README: "Use it from your
own project"):

    from runbook.runbooks.library import Run, Step, fail, hosttask, psql, step_backup, step_on

A runbook is a `@hosttask(plan=True)` whose body hands `Run(c, "TASK").execute([...])` a list of
`Step(name, fn)`. A step function `fn(c, run)` does its work on host `c`, proves it, and returns
one line for the summary; `fail(reason, recovery)` stops the run there (the lock is released, the
journal written, the recovery printed). `run.data` (a `RunData`: typed fields; subclass it for
values of your own, `Run(c, "TASK", data=MyData())`) carries values to later steps, `run.state`
what a failure message must say about the host. `--plan` (or `fab --dry`) runs the read-only
host checks and lists the steps, each described by its docstring (or `Step(about=...)`) and its
`@commands`; nothing else runs.

The step factories and steps below are the ones the library's own runbooks use.
"""
from runbook.django.app import manage, shell
from runbook.django.migrate import step_check, step_run_staged
from runbook.engine.rundata import RunData
from runbook.engine.runner import ALL, LOCAL, ONCE, ROLLING, Failed, Step, commands, fail
from runbook.engine.shell import q
from runbook.host.connection import hosttask
from runbook.host.remote import run_script
from runbook.ops.backup import step_backup
from runbook.ops.maintenance import step_off, step_on
from runbook.ops.verify_steps import step_audit, step_logs, step_post, step_smoke
from runbook.postgres.db import psql
from runbook.runbooks.plan import Run

__all__ = [
    # composing a runbook
    "Run", "RunData", "Step", "fail", "Failed", "hosttask", "commands", "ONCE", "ALL", "ROLLING",
    "LOCAL",
    # the library's steps: step_backup(...) and step_check(...) build one, the others are one
    "step_backup", "step_on", "step_off", "step_check", "step_run_staged", "step_audit",
    "step_post", "step_smoke", "step_logs",
    # what a step of your own runs on the host (values quoted with q)
    "psql", "manage", "shell", "run_script", "q",
]
