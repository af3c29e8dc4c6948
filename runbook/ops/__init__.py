"""The operations a runbook is made of (backup, maintenance, code update, restart, verify, soak):
each a function of a host and, for a runbook, a step."""
