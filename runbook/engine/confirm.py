"""Confirmation for destructive tasks: a prompt on a terminal, `--yes` everywhere else."""
import sys

from runbook.engine.errors import ConfigError, DeployError


def confirm(question, yes):
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{question} needs confirmation and there is no terminal; "
                          "rerun with --yes")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise DeployError("cancelled; nothing was changed")
