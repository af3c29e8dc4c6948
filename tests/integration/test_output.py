"""How runs print, against the sandbox: --quiet, --verbose (commands masked), progress lines on
a long backup, and colour only on a terminal."""
import os
import pty
import re
import subprocess

import pytest

from tests.support.sandbox import FAB, ROOT

pytestmark = pytest.mark.integration


def test_quiet_prints_each_steps_result_and_the_summary_only(sfab):
    r = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    results = [x for x in r.stdout.splitlines() if re.match(r"^\[\d+/14\] ", x)]
    assert len(results) == 14 and all(" ok (" in x for x in results), r.stdout
    assert "Summary of deploy.consolidate" in r.stdout and "downtime (maintenance ON->OFF)" in r.stdout
    for detail in ("preflight ...", "Applying accounts.0014", "invariant ok", "users: 10001"):
        assert detail not in r.stdout        # shown without --quiet
    bad = sfab("-H", "sandbox", "deploy.history", "--quiet", "--verbose")
    assert bad.returncode == 2 and "--quiet and --verbose contradict" in bad.stderr


def test_verbose_shows_every_command_masked_and_a_long_backup_shows_progress(sfab, secrets):
    env = {"FABRIC_DEPLOY_PROGRESS_EVERY": "0.05"}
    r = sfab("-H", "sandbox", "backup.create", "--no-json", "--verbose", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^    \$ (?:(?!\n    [$|] ).)*?[\s;&|]bash -s\b[^\n]*\n    \| ",
                     r.stdout, re.M | re.S), r.stdout
    assert "    | set -eo pipefail" in r.stdout
    progress = re.findall(r"^    backup: (\d+\.\d) MB written \((\d+)s\)$", r.stdout, re.M)
    assert progress, r.stdout                # the dump takes longer than 0.05 s
    assert float(progress[-1][0]) >= float(progress[0][0])
    for value in secrets.values():
        assert value not in r.stdout + r.stderr
    quiet = sfab("-H", "sandbox", "backup.create", "--no-json", "--quiet", env=env)
    assert quiet.returncode == 0 and "MB written" not in quiet.stdout and "$ " not in quiet.stdout


def run_on_a_terminal(argv, env):
    """argv with its stdout on a pseudo-terminal; what it printed."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:   # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=120), out.decode(errors="replace")


def test_colour_only_on_a_terminal(sfab, home):
    argv = [str(FAB), "-H", "sandbox", "backup.create", "--no-json", "--hosts-file", str(sfab.hosts_file)]
    env = {**os.environ, "HOME": str(home), "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    code, out = run_on_a_terminal(argv, env)
    assert code == 0, out
    assert "[1/1] backup \x1b[32mok\x1b[0m (" in out
    code, out = run_on_a_terminal(argv, {**env, "NO_COLOR": "1"})
    assert code == 0 and "\x1b[" not in out and "[1/1] backup ok (" in out
    piped = sfab("-H", "sandbox", "backup.create", "--no-json")
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout and "[1/1] backup ok (" in piped.stdout
