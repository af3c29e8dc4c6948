"""The engine: steps and the runner, fleets, the deploy lock, the journal, history, resume,
output and the one error tree. Knows nothing of Django, PostgreSQL or the inventory."""
