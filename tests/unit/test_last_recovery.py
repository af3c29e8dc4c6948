"""The recovery a killed run leaves in its journal (engine/last_recovery.py): written when a step
starts, when its state changes mid-step, when it ends ok, only when it changed; what
deploy.unlock prints for a dead run of a task with no --resume."""
import pytest

from runbook.engine import last_recovery
from runbook.engine.errors import CheckpointFailed
from runbook.engine.runner import Failed, Run, Step
from tests.support.host import local_records


def rec(view):
    if "cluster" in view.state:
        return "fab -H web pg_upgrade.rollback --yes"
    return "nothing was changed; rerun"


def test_a_state_change_mid_step_is_journaled_before_the_step_ends(c, site):
    seen = []

    def prepare(c, run):
        return "ready"

    def upgrade(c, run):
        run.state["cluster"] = "pg_upgradecluster 14/main -> 15 was started"
        seen.append([r for r in local_records(site) if r["kind"] == "recovery"][-1])
        raise Failed("pg_upgradecluster exited 1")

    run = Run(c, "pg_upgrade.run", {}, take_lock=False)
    with pytest.raises(CheckpointFailed):
        run.execute([Step("preflight", prepare, recovery=rec), Step("upgrade", upgrade, recovery=rec)])
    # what a kill -9 inside `upgrade` would have left: the rollback, not "nothing was changed"
    assert seen == [{**seen[0], "step": "upgrade", "text": "fab -H web pg_upgrade.rollback --yes",
                     "state": ["pg_upgradecluster 14/main -> 15 was started"]}]
    said = [(r["step"], r["text"]) for r in local_records(site) if r["kind"] == "recovery"]
    # preflight's start (its ok adds nothing new), upgrade's start, its state change
    assert said == [("preflight", "nothing was changed; rerun"), ("upgrade", "nothing was changed; rerun"),
                    ("upgrade", "fab -H web pg_upgrade.rollback --yes")]
    assert last_recovery.last(local_records(site), run.run_id)["text"] == said[-1][1]


@pytest.mark.parametrize("records, run_id, want", [
    ([], "r1", None),
    ([{"kind": "recovery", "run": "r2", "text": "x"}], "r1", None),
    ([{"kind": "recovery", "run": "r1", "text": "a"}, {"kind": "unlock", "run": "r9"},
      {"kind": "recovery", "run": "r1", "text": "b"}], "r1", "b"),
])
def test_the_last_recovery_of_a_run(records, run_id, want):
    got = last_recovery.last(records, run_id)
    assert (got or {}).get("text") == want


def test_a_recovery_that_cannot_be_worked_out_does_not_stop_the_run(c, site):
    def broken(view):
        raise KeyError("not known yet")

    run = Run(c, "deploy.test", {}, take_lock=False)
    run.execute([Step("only", lambda c, run: "done", recovery=broken)])
    assert not [r for r in local_records(site) if r["kind"] == "recovery"]


def test_every_change_of_the_state_is_seen():
    seen = []
    state = last_recovery.Watched({"a": 1}, lambda: seen.append(1))
    state["b"] = 2
    state.pop("a")
    state.pop("gone", None)   # nothing changed: not seen
    del state["b"]
    assert seen == [1, 1, 1] and state == {}


def test_a_run_that_ends_sends_the_host_no_recovery_records(c, site):
    run = Run(c, "deploy.test", {}, take_lock=False)
    run.execute([Step("only", lambda c, run: "done", recovery="fab -H web maintenance.off")])
    assert [r["kind"] for r in local_records(site)].count("recovery") == 1
    assert c.remote_appends() and all('"kind": "recovery"' not in a for a in c.remote_appends())


@pytest.mark.parametrize("hosts, smoke", [
    (1, ["fab -H web verify.smoke"]),
    # verify.smoke is a host task: on a group, one line per host
    (2, ["fab -H web verify.smoke", "fab -H web2 verify.smoke"]),
])
def test_a_stop_in_settle_names_the_smoke_checks_of_each_host(c, site, hosts, smoke):
    import dataclasses

    from runbook.engine.fleet import Fleet
    from runbook.ops.switch_steps import settle_recovery
    from tests.support.host import FakeHost

    fleet = c if hosts == 1 else Fleet("prod", [c, FakeHost(dataclasses.replace(c.site, name="web2"))], c)
    run = Run(fleet, "deploy.release", take_lock=False)
    lines = settle_recovery(run.overview()).replace(f" --hosts-file {site.inventory.path}", "").splitlines()
    assert lines[0] == f"fab -H {'web' if hosts == 1 else 'prod'} deploy.restart"
    assert lines[1:-1] == smoke and "do not restore the backup" in lines[-1]
