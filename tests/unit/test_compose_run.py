"""pg_upgrade.compose's executor pieces: image naming, the fingerprint comparison, failure reports."""
import pytest

from runbook.engine.errors import ConfigError
from runbook.engine.runner import Failed
from runbook.postgres import compose_upgrade as cu
from runbook.postgres.compose_stack import ComposeDB
from runbook.postgres.compose_upgrade import Cmd
from runbook.runbooks.compose_run import _step, last_words, new_image_for, recovery, same_fingerprints
from tests.support.host import FakeHost
from tests.support.sites import make_site


@pytest.mark.parametrize("old, to, new", [
    ("postgres:14", "15", "postgres:15"),
    ("postgres:14.11-alpine", "15", "postgres:15-alpine"),
    ("registry.example.com:5000/pg/postgres:14-bookworm", "16",
     "registry.example.com:5000/pg/postgres:16-bookworm"),
])
def test_new_image_keeps_repo_and_variant(old, to, new):
    assert new_image_for(old, to) == new


@pytest.mark.parametrize("old", ["postgres", "postgres:latest", ""])
def test_image_without_version_is_refused(old):
    with pytest.raises(ConfigError, match="has no version tag"):
        new_image_for(old, "15")


A = "@@app\nusers|10\nposts|5\n"


@pytest.mark.parametrize("outputs, problem", [
    ([A, A], None),
    ([A, A, "@@app\nposts|5\nusers|10\n"], None),          # order does not matter
    ([A, "@@app\nusers|10\nposts|4\n"], "missing ['posts|5'], unexpected ['posts|4']"),
    ([A, A, "@@app\n"], "fingerprint 3 differs"),           # an empty server (wrong mount)
])
def test_fingerprints_compared_as_sets(outputs, problem):
    got = same_fingerprints(outputs)
    assert (got is None) if problem is None else (problem in got)


class _Run:
    state: dict

    def __init__(self):
        self.state = {}


@pytest.mark.parametrize("title, changes, code, state", [
    ("create the volume v", True, 0, "the plan ran up to 'create the volume v'"),
    ("start the db service on postgres:15", True, 1, "up to 'start the db service on postgres:15'"),
    ("wait until the db service answers", False, 1, None),   # reads only: nothing to report
])
def test_a_step_that_changes_the_host_is_reported(title, changes, code, state):
    """What a failure report's 'Host state' says: how far the plan got, not 'no change'."""
    cfg = ComposeDB("/srv/shop", "/var/backups/pg")
    c = FakeHost(fail={"X": (code, "error: boom")} if code else None)
    run = _Run()
    step = _step(c, cfg, Cmd(title, "X" if code else "true", changes), "postgres:14", "postgres:15",
                 [])
    if code:
        with pytest.raises(Failed, match="boom"):
            step(c, run)
    else:
        step(c, run)
    got = run.state.get("compose")
    assert (got is None) if state is None else (state in got and "old volume is untouched" in got)


@pytest.mark.parametrize("output, said", [
    ("Unable to find image 'x:16' locally\ndocker: Error response from daemon: pull access "
     "denied for x\nSee 'docker run --help'.\n", "docker: Error response from daemon: pull access "
     "denied for x"),
    ("Run 'docker run --help' for more information\n", ""),
    ("error: service db did not answer\n", "error: service db did not answer"),
    ("", ""),
])
def test_last_words_skip_dockers_help_trailer(output, said):
    assert last_words(output) == said


@pytest.mark.parametrize("failed, expected", [
    ("preflight", None),
    ("create the volume", "start the stack again: cd /srv/shop && docker compose -p shop -f "
     "docker-compose.yml up -d; before a rerun remove what this run made (where it exists): "
     "docker rm -f shop-pgupgrade-r1; docker volume rm shop_postgres_data_pg15; "
     "rm -f /srv/shop/docker-compose.yml.pre-pg15"),
    ("switch docker-compose.yml", "docker volume rm shop_postgres_data_pg15"),
    ("remove the db service's container", "pg_upgrade.compose --to=15 "
     "--old-image=postgres:14 --rollback --execute"),
    ("check: the db service reports", "--rollback --execute"),
])
def test_recovery_names_the_way_back(tmp_path, failed, expected):
    c = FakeHost(make_site(tmp_path))
    cfg = ComposeDB("/srv/shop", "/var/backups/pg")
    plan = cu.upgrade_plan(cfg, "postgres:14", "postgres:15", "r1")
    i = next(k for k, cmd in enumerate(plan) if cmd.title.startswith(failed))
    got = recovery(c, cfg, plan, i, "15", "postgres:14", "r1")
    assert (got is None) if expected is None else (expected in got), got
