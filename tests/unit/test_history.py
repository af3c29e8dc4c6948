"""deploy.history / deploy.show: journal records -> runs -> rows (pure parsing, no SSH)."""
import pytest

from fabfile import history

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


def test_table_aligns_columns():
    rows = [history.summary(r, run) for r, run in history.runs(recs()).items()]
    lines = history.table(rows).splitlines()
    assert lines[0].split() == ["when", "run", "who", "task", "code", "result", "downtime", "backup"]
    assert len(lines) == 3 and lines[1].index(RID) == lines[0].index("run")
