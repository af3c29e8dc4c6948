"""Output: colour only on a terminal, progress lines parsed out of a script's output, and the
backup script's progress loop (command construction, no SSH)."""
import io

import pytest

from runbook.engine import output
from tests.support.host import FakeHost


class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("tty, env, coloured", [
    (True, {"TERM": "xterm"}, True),
    (False, {"TERM": "xterm"}, False),
    (True, {"TERM": "xterm", "NO_COLOR": "1"}, False),
    (True, {"TERM": "dumb"}, False),
])
def test_colour_only_on_a_terminal(monkeypatch, tty, env, coloured):
    monkeypatch.delenv("NO_COLOR", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr("sys.stdout", Tty() if tty else io.StringIO())
    assert (output.paint("FAILED") == "\x1b[31mFAILED\x1b[0m") is coloured
    assert output.paint("unknown-word") == "unknown-word"


def test_progress_shows_only_its_lines_and_they_leave_the_sections_intact(capsys):
    text = "@@tables\nusers|3|abc\n@@progress 2500000\n@@files\n1 x f\n@@progress nope\n"
    p = output.Progress(FakeHost(), "backup")
    p.write(text[:20])
    p.write(text[20:])
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) == 1 and shown[0].startswith("    backup: 2.5 MB written (")
    assert output.without_progress(text).splitlines() == ["@@tables", "users|3|abc", "@@files",
                                                          "1 x f"]


def test_quiet_reads_the_deploy_config_and_defaults_to_off():
    class C:
        class config:
            class deploy:
                quiet = True
    assert output.quiet(C()) is True
    assert output.quiet(FakeHost()) is False
