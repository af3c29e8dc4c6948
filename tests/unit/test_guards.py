"""The data-loss guards' parsing and verdicts (runbook/django/guards.py), as tables of data.

What they do on a real Django and PostgreSQL is tests/integration/test_guards.py's part."""
import io
import json
import textwrap

import pytest

from runbook.django import guards
from runbook.engine.errors import ConfigError
from runbook.engine.output import UpTo
from runbook.host import project
from runbook.host.project import Project

MIGRATION = textwrap.dedent("""\
    from django.db import migrations

    def forwards(apps, schema_editor):
        pass

    class Migration(migrations.Migration):
        dependencies = [("shop", "0001_initial")]
        operations = [
            migrations.AddField(model_name="order", name="note", field=None),
            {ops}
        ]
    """)


@pytest.mark.parametrize("op, expected", [
    ('migrations.DeleteModel(name="Legacy")',
     {"op": "DeleteModel", "describe": "Delete model Legacy", "reversible": True}),
    ('migrations.DeleteModel("Legacy")',
     {"op": "DeleteModel", "describe": "Delete model Legacy", "reversible": True}),
    ('migrations.RemoveField(model_name="order", name="old")',
     {"op": "RemoveField", "describe": "Remove field order.old", "reversible": True}),
    ('migrations.RemoveField("order", "old")',
     {"op": "RemoveField", "describe": "Remove field order.old", "reversible": True}),
    ('migrations.RunSQL("DROP TABLE x")',
     {"op": "RunSQL", "describe": "Raw SQL operation", "reversible": False}),
    ('migrations.RunSQL("UPDATE x SET a = 1", reverse_sql=migrations.RunSQL.noop)',
     {"op": "RunSQL", "describe": "Raw SQL operation", "reversible": True}),
    ('migrations.RunSQL("UPDATE x SET a = 1", None)',
     {"op": "RunSQL", "describe": "Raw SQL operation", "reversible": False}),
    ("migrations.RunPython(forwards)", {"op": "RunPython", "describe": "RunPython",
                                        "reversible": False}),
    ("migrations.RunPython(forwards, migrations.RunPython.noop)",
     {"op": "RunPython", "describe": "RunPython", "reversible": True}),
])
def test_source_ops_reads_each_operation_and_its_reversibility(op, expected):
    ops = guards.source_ops(MIGRATION.format(ops=op + ","))
    assert ops[0]["op"] == "AddField"
    assert ops[1] == expected


@pytest.mark.parametrize("text", ["this is not python (", "x = 1\n", ""])
def test_source_ops_of_an_unreadable_file_is_empty(text):
    assert guards.source_ops(text) == []


def entries(*ops, migration="shop.0002_drop"):
    return [{"migration": migration, "backwards": False,
             "ops": [{"op": o, "describe": f"{o} thing", "reversible": r} for o, r in ops]}]


@pytest.mark.parametrize("plan, proj, allow, refused", [
    (entries(("DeleteModel", True)), Project(None), False, True),        # no project at all
    (entries(("RemoveField", True)), Project(None), False, True),
    (entries(("RunSQL", False)), Project(None), False, True),           # irreversible SQL
    (entries(("RunSQL", True)), Project(None), False, False),
    (entries(("RunPython", False), ("AddField", True)), Project(None), False, False),
    (entries(("DeleteModel", True)), Project(None), True, False),        # --allow-unguarded
    (entries(("DeleteModel", True)), Project(None, invariants=[{"name": "x"}]), False, False),
    (entries(("DeleteModel", True)), Project(None, unguarded_ok=["shop.0002_drop"]), False, False),
    (entries(("DeleteModel", True)), Project(None, unguarded_ok=["shop.0003_other"]), False, True),
    ([], Project(None), False, False),
])
def test_unguarded_refuses_destructive_operations_no_invariant_guards(plan, proj, allow, refused):
    message = guards.unguarded(plan, proj, allow)
    assert (message is not None) == refused
    if refused:
        assert message.startswith("shop.0002_drop will ")
        assert "--allow-unguarded" in message and 'unguarded_ok = ["shop.0002_drop"]' in message
        assert "\n" not in message


@pytest.mark.parametrize("line, flagged", [
    ("  Applying accounts.0014_final_sync_before_deletion... OK", False),
    ("=== Profile Sync Complete ===", False),
    ("  Synced: 50 users", False),
    ("  Errors: 0", False),
    ("0 errors", False),
    ("Skipping sync - this is safe", True),
    ("skipped 3 rows", True),
    ("!!! Error during sync: 'Profile' object has no attribute 'x' ... continuing", True),
    ("Traceback (most recent call last):", True),
    ("AttributeError: 'NoneType' object has no attribute 'id'", True),
    ("sync failed for user 7", True),
    ("caught Exception, moving on", True),
    ("@@data-op {\"flags\": [\"Error\"]}", False),        # the tool's own report lines
])
def test_scan_flags_the_signs_of_a_swallowed_failure(line, flagged):
    assert bool(guards.scan(line + "\n")) == flagged


def test_scan_with_the_projects_own_patterns():
    assert guards.scan("WARN: sync incomplete\nall good\n", [r"\bincomplete\b"]) == \
        ["WARN: sync incomplete"]
    assert guards.scan("Traceback (most recent call last):\n", []) == []


def test_reports_reads_the_guards_lines_and_live_output_shows_drops_before_they_run():
    op = {"migration": "a.0002", "op": "RunPython", "written": 0, "flags": []}
    drop = {"migration": "a.0003", "op": "DeleteModel", "target": "a_legacy", "rows": 12}
    col = {"migration": "a.0003", "op": "RemoveField", "target": "a_user.bio", "rows": 3}
    # as the guard writes them: each on a line of its own, though Django's line is still open
    text = (f"  Applying a.0002...\n@@data-op {json.dumps(op)}\n OK\n\n@@drop {json.dumps(drop)}\n"
            f"\n@@drop {json.dumps(col)}\nkept\n\n\n@@guard-stop it wrote nothing\n")
    assert guards.reports(text) == ([op], [drop, col], "it wrote nothing")
    for step in (7, 1, 3, len(text)):   # the stream comes in pieces, each flushed as invoke does
        shown = io.StringIO()
        live = UpTo(guards.LiveReports(shown), "@@after-migrate")
        for i in range(0, len(text), step):
            live.write(text[i:i + step])
            live.flush()
        assert shown.getvalue() == (
            "  Applying a.0002...\n OK\n"
            "    about to drop: a.0003: DeleteModel drops a_legacy: 12 rows\n"
            "    about to drop: a.0003: RemoveField drops a_user.bio: 3 values\n"
            "kept\n\n"), step


def test_the_guard_script_carries_its_parameters_as_data():
    proj = Project(None, red_flags=["it's \"bad\""], no_writes_ok=["a.0002"])
    code, env = guards.script(proj, prior=[{"migration": "a.0001", "written": 5, "flags": []}])
    assert "it's" not in code and "a.0002" not in code      # the code is the file, unformatted
    assert json.loads(env["RB_GUARD"]) == {"flags": ["it's \"bad\""], "no_writes_ok": ["a.0002"],
                                           "prior": [{"migration": "a.0001", "written": 5,
                                                      "flags": []}]}


@pytest.mark.parametrize("migrations, error", [
    ('unguarded_ok = "shop.0002"', "migrations.unguarded_ok: expected a list of strings"),
    ('unguarded_ok = ["0002_drop"]', "migrations.unguarded_ok: '0002_drop' is not app.migration"),
    ('red_flags = ["(unclosed"]', "red flag '(unclosed' is not a regular expression"),
    ('no_writes_ok = [1]', "migrations.no_writes_ok: expected a list of strings"),
    ('unguarded = ["a.b"]', "migrations.unguarded: unknown key"),
])
def test_bad_guard_settings_are_refused_in_one_line(tmp_path, migrations, error):
    path = tmp_path / "deploy.toml"
    path.write_text(f"[migrations]\n{migrations}\n")
    with pytest.raises(ConfigError) as e:
        project.load(path)
    assert error in str(e.value) and "\n" not in str(e.value)


def test_guard_settings_load_with_defaults(tmp_path):
    path = tmp_path / "deploy.toml"
    path.write_text('[migrations]\nunguarded_ok = ["shop.0002_drop"]\n')
    p = project.load(path)
    assert p.unguarded_ok == ["shop.0002_drop"] and p.red_flags == guards.RED_FLAGS
    assert p.no_writes_ok == []


@pytest.mark.parametrize("flags, sent", [
    ([], []),
    (["!!! Error during sync: " + "x" * 5000, "second"], ["!!! Error during sync: " + "x" * 177]),
])
def test_the_guard_gets_earlier_stages_short_on_its_command_line(flags, sent):
    """RB_GUARD rides on the command line: an earlier stage's output lines are cut to the first
    flag's 200 characters, whatever the app printed."""
    prior = [{"migration": "shop.0002_sync", "op": "RunPython", "written": 0, "flags": flags}]
    _, env = guards.script(project.Project(path=None), prior)
    got = json.loads(env["RB_GUARD"])["prior"]
    assert got == [{"migration": "shop.0002_sync", "op": "RunPython", "written": 0, "flags": sent}]
