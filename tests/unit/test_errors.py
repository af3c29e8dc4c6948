"""The one error tree (runbook.engine.errors): each class's exit code and the one line it renders,
masking without rebuilding, and what `fab` (invoke's Program) does with each: the line on stderr,
the code, no traceback."""
import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Collection, Program, task

import runbook
from runbook.engine import errors
from runbook.engine.runner import Failed as RunnerFailed
from runbook.engine.runner import fail

ROOT = Path(__file__).resolve().parents[2]

CLASSES = [
    # class, exit code, line fab prints for text "bad thing; fix it" (None: nothing printed)
    (errors.DeployError, 1, "error: bad thing; fix it"),
    (errors.ConfigError, 2, "error: bad thing; fix it"),
    (errors.HostKeyError, 3, "error: bad thing; fix it"),
    (errors.LockHeld, 4, "error: bad thing; fix it"),
    (errors.SudoDenied, 5, "error: bad thing; fix it"),
    (errors.ConnectionLost, 6, "error: bad thing; fix it"),
    (errors.ConnectionFailed, 6, "error: bad thing; fix it"),
    (errors.Failed, 1, "error: bad thing; fix it"),
    (errors.CheckpointFailed, 1, "error: bad thing; fix it"),
    (errors.Interrupted, 130, "error: bad thing; fix it"),
    (errors.PlanShown, 0, "bad thing; fix it"),
    (errors.Stop, 0, "bad thing; fix it"),
]
IDS = [c[0].__name__ for c in CLASSES]


def test_the_table_covers_every_class_and_they_form_one_tree():
    defined = {obj for _n, obj in inspect.getmembers(errors, inspect.isclass)
               if obj.__module__ == errors.__name__}
    assert defined == {c[0] for c in CLASSES}
    assert all(issubclass(cls, errors.Stop) for cls in defined)
    assert RunnerFailed is errors.Failed   # steps keep importing it from the runner


@pytest.mark.parametrize("cls, code, line", CLASSES, ids=IDS)
def test_each_class_knows_its_code_and_renders_one_line(cls, code, line, capsys):
    e = cls("bad thing; fix it")
    assert (e.code, e.format_message(), e.message, str(e), e.text) == (
        code, line, line, "bad thing; fix it", "bad thing; fix it")
    e.show()
    assert capsys.readouterr() == ("", line + "\n")


def test_a_stop_without_text_prints_nothing(capsys):
    e = errors.PlanShown()
    assert (e.code, e.message) == (0, None)
    e.show()
    assert capsys.readouterr() == ("", "")


def test_code_given_overrides_the_class_code_of_that_error_only():
    assert errors.LockHeld("held", code=9).code == 9
    assert errors.LockHeld("held").code == 4


def test_failed_carries_reason_and_recovery():
    with pytest.raises(errors.Failed) as e:
        fail("health 502", recovery="fab -H web maintenance.off")
    assert (e.value.reason, e.value.text, e.value.recovery) == (
        "health 502", "health 502", "fab -H web maintenance.off")
    assert isinstance(e.value, errors.DeployError) and e.value.code == 1


def hide(text):
    return text.replace("s3cret", "*****")


@pytest.mark.parametrize("cls, code, _line", CLASSES, ids=IDS)
def test_masked_is_a_copy_with_the_secret_out_of_the_line(cls, code, _line):
    e = cls("token s3cret refused", recovery="rerun", code=code + 7)
    m = e.masked(hide)
    assert type(m) is cls and m is not e
    assert (m.text, str(m), m.code, m.recovery) == ("token ***** refused", "token ***** refused",
                                                    code + 7, "rerun")
    assert "s3cret" not in m.message
    assert e.text == "token s3cret refused"   # the original is left as it was


def _calls_of_type_result(tree):
    """Calls like `type(e)(...)`: an error rebuilt by its class."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Call)
            and isinstance(n.func.func, ast.Name) and n.func.func.id == "type"]


def test_the_scan_finds_a_rebuild():
    assert _calls_of_type_result(ast.parse("raise type(e)(mask(e.text), code=e.code)"))


def test_no_module_rebuilds_an_error_by_its_type():
    package = Path(runbook.__file__).parent
    found = [f"{p.relative_to(ROOT)}:{n.lineno}" for p in sorted(package.rglob("*.py"))
             for n in _calls_of_type_result(ast.parse(p.read_text(), str(p)))]
    assert found == []


def _raises(cls):
    @task(name="go")
    def go(c):
        raise cls("bad thing; fix it")
    return go


@pytest.mark.parametrize("cls, code, line", CLASSES, ids=IDS)
def test_fab_prints_the_line_and_exits_with_the_code(cls, code, line, capsys):
    program = Program(namespace=Collection(_raises(cls)), name="fab", binary="fab")
    with pytest.raises(SystemExit) as e:
        program.run(["fab", "go"])
    assert e.value.code == code
    assert capsys.readouterr().err == line + "\n"   # the line only: no traceback


def test_fab_reports_a_bad_host_as_a_config_error(tmp_path):
    example = ROOT / "hosts.example.toml"   # tracked; hosts.toml is each checkout's own
    p = subprocess.run([str(Path(sys.executable).parent / "fab"), "-r", str(ROOT), "-H", "nosuchhost",
                        "verify.status", "--hosts-file", str(example)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.startswith(f"error: {example}: unknown host 'nosuchhost'")
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
