"""pg_upgrade.compose's executor pieces: image naming and the fingerprint comparison."""
import pytest

from runbook.engine.errors import ConfigError
from runbook.runbooks.compose_run import new_image_for, same_fingerprints


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
