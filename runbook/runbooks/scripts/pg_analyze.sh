# shellcheck shell=bash
# pg_upgrade's step_analyze, run once the app serves again: vacuumdb --analyze-in-stages of every
# database with the target version's binaries ($1, its bin directory). Planner statistics do
# not survive an upgrade; the first stage gives usable ones fast, the later ones the full ones
# (docs/BEHAVIOUR.md#pg-upgrade-no-statistics). Needs pg.sh.
set -e
pg "$1/vacuumdb" --all --analyze-in-stages >/dev/null </dev/null
