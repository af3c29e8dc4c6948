"""--resume: which run is resumed, with which arguments, and when there is nothing to resume
(pure parsing of journal records; the steps' own checks are in the integration test)."""
import pytest

from runbook.engine import resume
from runbook.engine.errors import ConfigError, DeployError
from tests.support.host import FakeHost
from tests.support.sites import make_site

TASK = "deploy.consolidate"
A, B = "20261121-070000-aaaa", "20261121-080000-bbbb"


def run(rid, end, steps=(), task=TASK, args=None):
    recs = [{"run": rid, "kind": "run", "event": "start", "task": task, "ts": "2026-11-21T07:00:00+00:00",
             "args": args if args is not None else {"ref": "v2", "no_json": True, "expect": ""}}]
    recs += [{"run": rid, "kind": "step", "step": s, "outcome": o, "ts": f"2026-11-21T07:00:0{i}+00:00"}
             for i, (s, o) in enumerate(steps)]
    if end is not None:
        recs.append({"run": rid, "kind": "run", "event": "end", **end})
    return recs


FAILED = {"outcome": "failed", "failed_step": "restart", "reason": "health 502",
          "before": "b" * 40, "after": "a" * 40, "backup": A,
          "state_keys": ["backup", "code", "maintenance", "migrated"], "state": ["maintenance is ON"]}
STEPS = [("preflight", "ok"), ("backup.create", "ok"), ("verify.audit", "kept"),
         ("migrate.run", "ok"), ("restart", "failed")]


@pytest.mark.parametrize("recs, error, says", [
    ([], ConfigError, "no deploy.consolidate run in web1's journal"),
    (run(A, {"outcome": "ok"}), ConfigError, f"run {A} on web1 ended ok; nothing to resume"),
    (run(A, None, STEPS), DeployError, f"run {A} on web1 has no end in the journal"),
    (run(A, FAILED, STEPS) + run(B, {"outcome": "ok"}), ConfigError, f"run {B} on web1 ended ok"),
    (run(A, FAILED, STEPS, task="backup.create"), ConfigError, "no deploy.consolidate run"),
])
def test_nothing_to_resume_is_one_line(recs, error, says):
    with pytest.raises(error) as e:
        resume.prior_from_records(recs, TASK, "web1")
    assert says in e.value.text and "\n" not in e.value.text


def test_the_last_failed_run_is_resumed_with_what_it_had_done():
    recs = run(B, {"outcome": "ok"}) + run(A, FAILED, STEPS) + run(B, None, task="backup.create")
    p = resume.prior_from_records(recs, TASK, "web1")
    assert (p.run_id, p.failed_step, p.backup, p.before, p.after) == (A, "restart", A, "b" * 40, "a" * 40)
    assert set(p.done) == {"preflight", "backup.create", "verify.audit", "migrate.run"}  # kept counts
    assert p.done_at("backup.create") is not None and p.done_at("restart") is None
    assert not p.changed_nothing and "migrated" in p.changed


def test_a_run_that_changed_nothing_says_so():
    end = {**FAILED, "failed_step": "preflight", "state_keys": []}
    assert resume.prior_from_records(run(A, end), TASK, "web1").changed_nothing


DEFAULTS = {"ref": "", "no_json": False, "expect": ""}


@pytest.mark.parametrize("given, expected", [
    ({"ref": "", "no_json": False, "expect": ""}, {"ref": "v2", "no_json": True, "expect": ""}),
    ({"ref": "v2", "no_json": True, "expect": ""}, {"ref": "v2", "no_json": True, "expect": ""}),
])
def test_resume_keeps_the_failed_runs_arguments(given, expected):
    p = resume.prior_from_records(run(A, FAILED, STEPS), TASK, "web1")
    assert resume.merge_args(p, given, DEFAULTS) == expected


@pytest.mark.parametrize("given, says", [
    ({"ref": "v3"}, "ran with --ref='v2', not 'v3'; drop --ref"),
    ({"expect": "accounts.0001_x"}, "ran with --expect=''"),
])
def test_a_different_option_is_a_new_deploy_not_a_resume(given, says):
    p = resume.prior_from_records(run(A, FAILED, STEPS), TASK, "web1")
    with pytest.raises(ConfigError) as e:
        resume.merge_args(p, {**DEFAULTS, **given}, DEFAULTS)
    assert says in e.value.text


def test_a_run_without_an_end_names_deploy_show_with_the_inventory(tmp_path):
    c = FakeHost(make_site(tmp_path))
    with pytest.raises(DeployError) as e:
        resume.prior_from_records(run(A, None, STEPS), TASK, "web", c)
    inv = f"--hosts-file {(tmp_path / 'hosts.toml').resolve()}"
    assert f"its steps: fab -H web deploy.show --run {A} {inv}" in e.value.text
    assert f"(fab -H web deploy.unlock --reason 'run {A} was killed' {inv})" in e.value.text


def test_a_run_refused_at_the_lock_is_not_the_one_resumed():
    recs = run(A, FAILED, STEPS) + run(B, {"outcome": "refused", "reason": "lock held"})
    assert resume.prior_from_records(recs, TASK, "web1").run_id == A


def unlocked(rid, by=B):
    return [{"run": by, "kind": "unlock", "reason": "killed", "holder": {"run": rid}}]


CHECKPOINT = {"before": "b" * 40, "after": "a" * 40, "backup": A,
              "state_keys": ["backup", "code", "maintenance"]}


@pytest.mark.parametrize("steps, failed_step, changed, backup", [
    # killed in migrate.run: after maintenance.on's checkpoint; its migrations may have run
    ([("preflight", {}), ("backup.create", {"backup": A}), ("maintenance.on", CHECKPOINT)],
     "the step after maintenance.on", ["backup", "code", "maintenance", "migrated"], A),
    # killed before any step finished: nothing changed, so the resume runs it anew
    ([], "its first step", [], ""),
])
def test_a_killed_run_is_resumed_once_deploy_unlock_removed_its_lock(steps, failed_step, changed,
                                                                      backup):
    recs = run(A, None)
    recs += [{"run": A, "kind": "step", "step": s, "outcome": "ok", "checkpoint": cp,
              "ts": f"2026-11-21T07:00:0{i}+00:00"} for i, (s, cp) in enumerate(steps)]
    for other in ([], unlocked("20261121-060000-cccc")):   # its lock not removed (another was)
        with pytest.raises(DeployError):   # it may still be running
            resume.prior_from_records(recs + other, TASK, "web1")
    p = resume.prior_from_records(recs + unlocked(A), TASK, "web1")
    assert (p.run_id, p.failed_step, p.changed, p.backup) == (A, failed_step, changed, backup)
    assert set(p.done) == {s for s, _ in steps}
