"""deploy.history / deploy.show: journal records -> runs -> rows (pure parsing, no SSH)."""
import pytest

from runbook.engine import history
from runbook.engine.runner import Run, Step
from tests.support.host import local_records

RID, RID2 = "20261121-074618-5ec9", "20261121-080000-beef"


def recs():
    return [
        {"run": RID, "kind": "run", "event": "start", "task": "deploy.consolidate", "ts": "T1",
         "user": "ann", "machine": "laptop", "pid": 7, "args": {"ref": "", "no_json": True}},
        {"run": RID, "kind": "step", "step": "preflight", "outcome": "ok", "duration": 0.8,
         "detail": "healthy"},
        {"run": RID, "kind": "command", "step": "preflight", "command": "git fetch", "exit": 0,
         "duration": 0.1},
        {"run": RID, "kind": "output", "what": "migration report", "text": "Synced: 50 users"},
        {"run": RID, "kind": "run", "event": "end", "outcome": "ok", "duration": 17.1,
         "before": "850f5b3f1b2f" + "0" * 28, "after": "c4ed614a17b0" + "0" * 28,
         "backup": RID, "downtime": 12.64},
        {"run": RID2, "kind": "run", "event": "start", "task": "deploy.consolidate", "ts": "T2",
         "user": "bob", "machine": "ci", "pid": 9, "args": {}},
        {"run": RID2, "kind": "step", "step": "migrate.run", "outcome": "failed", "duration": 1.0,
         "detail": "boom"},
        {"run": RID2, "kind": "run", "event": "end", "outcome": "failed",
         "failed_step": "migrate.run", "reason": "boom", "state": ["maintenance is ON"],
         "recovery": "fab -H x rollback.restore --backup=B --code --yes"},
    ]


@pytest.mark.parametrize("run_id, expected", [
    (RID, {"who": "ann@laptop", "task": "deploy.consolidate", "code": "850f5b3f -> c4ed614a",
           "result": "ok", "downtime": "12.6s", "backup": RID}),
    (RID2, {"who": "bob@ci", "code": "-", "result": "failed at migrate.run", "downtime": "-",
            "backup": "-"}),
    ("resumed", {"result": f"ok (resumed {RID2})", "backup": RID}),
])
def test_summary_rows(run_id, expected):
    extra = [{"run": "resumed", "kind": "run", "event": "end", "outcome": "ok", "backup": RID,
              "resumed": RID2}]
    row = history.summary(run_id, history.runs(recs() + extra)[run_id])
    assert {k: row[k] for k in expected} == expected


def test_a_run_refused_at_the_lock_says_so():
    rid = "20261121-080000-ffff"
    recs_ = [{"run": rid, "kind": "run", "event": "start", "task": "deploy.consolidate"},
             {"run": rid, "kind": "run", "event": "end", "outcome": "refused", "reason": "held"}]
    row = history.summary(rid, history.runs(recs_)[rid])
    assert row["result"] == "refused (the deploy lock was held)"


def test_a_run_without_an_end_says_so():
    found = history.runs(recs()[:3])
    assert history.summary(RID, found[RID])["result"] == "no end recorded (killed, or running)"


def test_show_lists_steps_commands_output_and_the_recovery():
    found = history.runs(recs())
    text = "\n".join(history.show_lines(RID, found[RID]))
    assert "run 20261121-074618-5ec9: deploy.consolidate --no-json" in text
    assert "preflight" in text and "$ git fetch" in text and "Synced: 50 users" in text
    failed = "\n".join(history.show_lines(RID2, found[RID2]))
    assert "stopped at migrate.run: boom" in failed and "- maintenance is ON" in failed
    assert "rollback.restore --backup=B" in failed


def test_show_of_a_run_with_no_end_gives_its_last_recorded_state_and_recovery():
    said = {"run": RID, "kind": "recovery", "step": "migrate.run", "state": ["maintenance is ON"],
            "text": "fab -H x rollback.restore --backup=B --yes"}
    text = "\n".join(history.show_lines(RID, history.runs(recs()[:3] + [said])[RID]))
    assert "no end recorded (still running, or killed); its last record, in migrate.run" in text
    assert "  - maintenance is ON" in text and "  fab -H x rollback.restore --backup=B --yes" in text


def test_table_aligns_columns():
    rows = [history.summary(r, run) for r, run in history.runs(recs()).items()]
    lines = history.table(rows).splitlines()
    assert lines[0].split() == ["when", "run", "who", "task", "code", "result", "downtime", "backup"]
    assert len(lines) == 3 and lines[1].index(RID) == lines[0].index("run")


# --- every composite's end record renders (the runner writes it, history reads it) -----------
OLD, NEW = "850f5b3f1b2f" + "0" * 28, "c4ed614a17b0" + "0" * 28
BACKUP = "20261121-101500-ab12"


def deploy_data(c, run):
    """What preflight, backup.create and maintenance.off leave in a deploy's data."""
    d = run.data
    d.before, d.target, d.backup, d.downtime = OLD, ("v2", NEW), BACKUP, 12.64
    return "done"


def pg_upgrade_data(c, run):
    """pg_upgrade.run: its backup and downtime, and table fingerprints beside them."""
    d = run.data
    d.backup, d.downtime, d.fingerprints = BACKUP, 3.2, {"app": {"t": [5, "ab"]}}
    d.upgrade = {"version": "15.4"}
    return "done"


def end_record(c, site, task, steps):
    run = Run(c, task, take_lock=False)
    run.execute(steps)
    return [r for r in local_records(site) if r["run"] == run.run_id]


def rendered(recs):
    """(deploy.history row, deploy.show text) of the one run in `recs`."""
    (rid, run), = history.runs(recs).items()
    return history.summary(rid, run), "\n".join(history.show_lines(rid, run))


@pytest.mark.parametrize("task, fn, code, backup, downtime", [
    ("deploy.consolidate", deploy_data, "850f5b3f -> c4ed614a", BACKUP, "12.6s"),
    ("deploy.release", deploy_data, "850f5b3f -> c4ed614a", BACKUP, "12.6s"),
    ("pg_upgrade.run", pg_upgrade_data, "-", BACKUP, "3.2s"),
])
def test_every_composites_end_record_renders(c, site, task, fn, code, backup, downtime):
    row, text = rendered(end_record(c, site, task, [Step("work", fn)]))
    assert (row["task"], row["code"], row["backup"], row["downtime"], row["result"]) == \
        (task, code, backup, downtime, "ok")
    assert f"code {code}; downtime {downtime}; backup {backup}" in text


def test_rollback_runs_record_their_code_move_and_backup(c, site, monkeypatch):
    """rollback.code and rollback.restore --code through their own functions (git stubbed)."""
    from runbook.ops import code_update
    from runbook.runbooks import rollback
    monkeypatch.setattr(code_update, "fetch", lambda c: None)
    monkeypatch.setattr(code_update, "resolve", lambda c, ref: (ref, OLD))
    monkeypatch.setattr(code_update, "move_to", lambda c, commit: (NEW, commit))
    for name in ("record_stamp_before_move", "dependencies_stale"):   # no install either way
        monkeypatch.setattr(code_update, name, lambda c: False, raising=False)
    monkeypatch.setattr(rollback, "Run", lambda *a, **kw: Run(*a, take_lock=False, **kw))

    run = rollback.Run(c, "rollback.code", {"ref": "v1"})
    run.execute([Step("code to ref", rollback.step_code_to("v1"))])
    row, _ = rendered([r for r in local_records(site) if r["run"] == run.run_id])
    assert (row["code"], row["backup"]) == ("c4ed614a -> 850f5b3f", "-")

    monkeypatch.setattr(rollback, "restore_steps", lambda name, with_code: [
        Step("code to the backup's commit", rollback.step_code_to(OLD))])
    run = rollback.restore(c, BACKUP, with_code=True)
    row, _ = rendered([r for r in local_records(site) if r["run"] == run.run_id])
    assert (row["task"], row["code"], row["backup"]) == \
        ("rollback.restore", "c4ed614a -> 850f5b3f", BACKUP)


def test_old_journals_render():
    """An end record written before the typed record: pg_upgrade.run's fingerprints as
    `before`, a string downtime; the row shows what is readable."""
    recs = [{"run": RID, "kind": "run", "event": "start", "task": "pg_upgrade.run", "ts": "T"},
            {"run": RID, "kind": "run", "event": "end", "outcome": "ok", "backup": BACKUP,
             "before": {"recorder": {"t": [1, "x"]}}, "downtime": "4.0", "duration": 9.0}]
    row, text = rendered(recs)
    assert (row["code"], row["backup"], row["downtime"]) == ("-", BACKUP, "-")
    assert f"backup {BACKUP}" in text


def test_a_local_journal_line_that_is_not_json_is_skipped(tmp_path):
    """A line torn by a killed run (or mangled by an old masking bug) does not hide the others."""
    from runbook.engine.journal import read_local
    path = tmp_path / "sandbox.jsonl"
    path.write_text('{"run": "a"}\n{"run": "b", "downtime": 2.*****4}\n\n{"run": "c"}\n{"run": "d"')
    assert [r["run"] for r in read_local(path)] == ["a", "c"]
