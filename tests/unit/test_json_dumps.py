"""backup.create's JSON dumps: the Django script (scripts/json_dumps.py) travels inside the bash
script as a quoted here-document (backup.heredoc), so bash hands it over byte for byte whatever
it holds, and it is in no command line."""
import subprocess

import pytest

from runbook.engine.scripts import script
from runbook.ops import backup

TEXTS = [
    ("plain", "print('hi')\n"),
    ("expansions", "x = '$(touch PWNED) `id` $HOME ${X:-y} \\\\ \\n'\n"),
    ("the end marker as a line", "a\nRB_END\nRB_END_\nb\n"),
    ("quotes and a heredoc of its own", "s = \"\"\"it's\n<<'EOF'\nEOF\n\"\"\"\n"),
    ("no final newline", "x = 1"),
    ("the real script", script("runbook.ops", "json_dumps.py")),
]


@pytest.mark.parametrize("text", [t for _, t in TEXTS], ids=[n for n, _ in TEXTS])
def test_heredoc_sets_the_variable_to_the_text(tmp_path, text):
    shell = backup.heredoc("RB_JSON_PY", text) + 'printf "%s" "$RB_JSON_PY"\n'
    r = subprocess.run(["bash", "-s"], input=shell, capture_output=True, text=True, cwd=tmp_path,
                       check=True)
    assert r.stdout == text.rstrip("\n")
    assert not (tmp_path / "PWNED").exists()


def test_the_end_marker_is_a_line_the_text_does_not_hold():
    text = "RB_END\nRB_END_\n"
    marker = backup.heredoc("X", text).splitlines()[-2]
    assert marker == "RB_END__" and marker not in text.splitlines()
