"""The checkpoint runner (steps.Run) with a fake connection: order, first failure stops the run,
state and recovery printed, exit codes, and the journal (local, and the remote append it sends).

The fake host (tests/support/host.py) has what the runner uses of a DeployConnection: a real
inventory `.site` (from a temp hosts.toml), `.run`, `.mask` and `.recorder`. No SSH; `take_lock=False`.
"""
import json
import re

import pytest
from invoke import Result
from invoke.exceptions import CommandTimedOut

from runbook.engine.errors import CheckpointFailed, ConfigError, DeployError, Interrupted, SudoDenied
from runbook.engine.runner import Failed, Run, Step, fail
from tests.support.host import FakeHost, local_records
from tests.support.sites import SECRET


def three_steps(calls, middle):
    """s1 runs a command; s2 is `middle`; s3 must never run when s2 fails."""
    def s1(c, run):
        calls.append("s1")
        c.run("echo one", hide=True)
        return "one done"

    def s2(c, run):
        calls.append("s2")
        return middle(c, run)

    def s3(c, run):
        calls.append("s3")
        c.run("echo three")

    return [Step("first", s1), Step("second", s2, recovery="fab -H web maintenance.off"),
            Step("third", s3)]


# --- the first failed checkpoint stops the run ----------------------------------------------
def test_stops_at_the_first_failed_step_and_says_state_and_recovery(c, site, capsys):
    calls = []

    def middle(c, run):
        run.state["maintenance"] = "maintenance is ON"
        run.state["backup"] = "backup 20261121-101500 is verified"
        c.run("touch /srv/m/on")
        fail("health check returned 502", recovery="fab -H web rollback.restore --backup=X\n"
                                                   "fab -H web maintenance.off")

    run = Run(c, "deploy.test", {"ref": "v2"}, take_lock=False)
    with pytest.raises(CheckpointFailed) as e:
        run.execute(three_steps(calls, middle))
    assert calls == ["s1", "s2"]
    assert e.value.code == 1
    assert e.value.message == "error: deploy.test stopped at second: health check returned 502"

    out = capsys.readouterr().out
    expected = [
        f"deploy.test on web (run {run.run_id})",
        "[1/3] first ...",
        re.compile(r"\[1/3\] first ok \(\d+\.\ds\) - one done"),
        "[2/3] second ...",
        "[2/3] second FAILED: health check returned 502",
        "",
        "Stopped at checkpoint 'second'. Host state:",
        "  - maintenance is ON",
        "  - backup 20261121-101500 is verified",
        "Recover with:",
        "  fab -H web rollback.restore --backup=X",
        "  fab -H web maintenance.off",
    ]
    lines = out.splitlines()
    assert len(lines) == len(expected), out
    for line, want in zip(lines, expected, strict=True):
        assert want.fullmatch(line) if isinstance(want, re.Pattern) else line == want, line
    assert "third" not in out and "echo three" not in c.commands
    assert not any("deploy.lock" in cmd for cmd in c.commands)  # take_lock=False

    records = local_records(site)
    assert {r["run"] for r in records} == {run.run_id} and {r["host"] for r in records} == {"web"}
    assert records[0] == {**records[0], "kind": "run", "event": "start", "task": "deploy.test",
                          "args": {"ref": "v2"}}
    assert [(r["step"], r["outcome"]) for r in records if r["kind"] == "step"] == [
        ("first", "ok"), ("second", "failed")]
    assert [(r["step"], r["command"], r["exit"]) for r in records if r["kind"] == "command"] == [
        ("first", "echo one", 0), ("second", "touch /srv/m/on", 0)]
    end = records[-1]
    assert end["kind"] == "run" and end["event"] == "end" and end["outcome"] == "failed"
    assert end["failed_step"] == "second" and end["reason"] == "health check returned 502"
    assert end["recovery"] == "fab -H web rollback.restore --backup=X\nfab -H web maintenance.off"
    assert end["state"] == ["maintenance is ON", "backup 20261121-101500 is verified"]
    assert all(isinstance(r["duration"], float) for r in records if r["kind"] == "step")

    # the same lines went to the host's journal, in one append beside the backups, but the
    # recovery records a killed run would leave (the end record says it all)
    appends = c.remote_appends()
    assert len(appends) == 1
    assert [r["kind"] for r in records].count("recovery") >= 2
    assert [json.loads(line) for line in appends[0].splitlines()] == [
        r for r in records if r["kind"] != "recovery"]
    flush = [cmd for cmd in c.commands if "journal.jsonl" in cmd][0]
    assert "/srv/backups/journal.jsonl" in flush and "mkdir -p /srv/backups" in flush


RECOVERY_CASES = [
    # how s2 fails, the recovery lines printed
    ("failed-own-recovery", lambda c, run: fail("x", recovery="fab -H web backup.verify"),
     ["fab -H web backup.verify"]),
    ("failed-step-recovery", lambda c, run: fail("x"), ["fab -H web maintenance.off"]),
]


@pytest.mark.parametrize("middle, recovery", [(m, r) for _, m, r in RECOVERY_CASES],
                         ids=[i for i, _, _ in RECOVERY_CASES])
def test_recovery_comes_from_the_failure_or_the_step(c, capsys, middle, recovery):
    with pytest.raises(CheckpointFailed):
        Run(c, "deploy.test", take_lock=False).execute(three_steps([], middle))
    out = capsys.readouterr().out
    assert out.split("Recover with:\n", 1)[1].splitlines() == [f"  {r}" for r in recovery]


def test_recovery_can_be_computed_from_the_run_and_defaults_to_rerun(c, capsys):
    steps = [Step("backup", lambda c, run: setattr(run.data, "backup", "20261121-101500")),
             Step("restore", lambda c, run: fail("restore drill failed"),
                  recovery=lambda run: f"fab -H web backup.verify --backup={run.data.backup}")]
    with pytest.raises(CheckpointFailed):
        Run(c, "deploy.test", take_lock=False).execute(steps)
    out = capsys.readouterr().out
    assert "Recover with:\n  fab -H web backup.verify --backup=20261121-101500\n" in out

    with pytest.raises(CheckpointFailed):
        Run(c, "deploy.test", take_lock=False).execute([Step("only", lambda c, run: fail("no"))])
    out = capsys.readouterr().out
    assert "  - no change was made to the host by this run\n" in out
    # the inventory is not ./hosts.toml: the rerun names it
    assert ("Recover with:\n  fix the cause above, then rerun: fab -H web deploy.test "
            f"--hosts-file {c.site.inventory.path.resolve()}\n") in out


def _command_fails(c, run):
    c.run("pg_dump -Fc app", hide=True)


def _times_out(c, run):
    raise CommandTimedOut(Result(command="sleep 99", exited=-1), timeout=5)


def _raises(c, run):
    raise ValueError("boom")


def _config(c, run):
    raise ConfigError("secret X is not set; add X=... to .env")


def _interrupted(c, run):
    raise KeyboardInterrupt


STOP_CASES = [
    # id, step body, exception type, exit code, reason in the output, journal outcome
    ("command-exit", _command_fails, CheckpointFailed, 1,
     "command exited 3: pg_dump -Fc app - pg_dump: error: connection refused", "failed"),
    ("timeout", _times_out, CheckpointFailed, 1,
     "command timed out after 5s (it may still be running on the host)", "failed"),
    ("exception", _raises, CheckpointFailed, 1, "ValueError: boom", "failed"),
    ("deploy-error", _config, ConfigError, 2, "secret X is not set; add X=... to .env", "failed"),
    ("ctrl-c", _interrupted, Interrupted, 130, "interrupted by Ctrl-C", "interrupted"),
]


@pytest.mark.parametrize("body, exc, code, reason, outcome", [s[1:] for s in STOP_CASES],
                         ids=[s[0] for s in STOP_CASES])
def test_every_kind_of_failure_stops_with_its_exit_code(site, capsys, body, exc, code, reason,
                                                        outcome):
    stderr = "warning\npg_dump: error: connection refused\n"
    c = FakeHost(site, fail={"pg_dump -Fc app": (3, stderr)})
    calls = []
    with pytest.raises(exc) as e:
        Run(c, "deploy.test", take_lock=False).execute(three_steps(calls, body))
    assert e.value.code == code
    assert calls == ["s1", "s2"]
    out = capsys.readouterr().out
    assert f"[2/3] second FAILED: {reason}" in out
    assert "Stopped at checkpoint 'second'" in out and "Recover with:" in out
    assert "[3/3]" not in out
    records = local_records(site)
    assert [(r["step"], r["outcome"]) for r in records if r["kind"] == "step"] == [
        ("first", "ok"), ("second", outcome)]
    assert records[-1]["failed_step"] == "second"
    assert len(c.remote_appends()) == 1  # the host's journal is written on every stop


# --- success ---------------------------------------------------------------------------------
def test_all_steps_ok_prints_a_summary_and_journals_ok(c, site, capsys):
    calls = []
    run = Run(c, "deploy.test", take_lock=False).execute(three_steps(calls, lambda c, run: "fine"))
    assert calls == ["s1", "s2", "s3"]
    assert [r[:2] for r in run.results] == [("first", "ok"), ("second", "ok"), ("third", "ok")]
    out = capsys.readouterr().out
    assert f"Summary of deploy.test on web (run {run.run_id}):" in out
    assert re.search(r"^  first\s+ok\s+\d+\.\ds\s+one done$", out, re.M)
    assert re.search(r"^  total \d+\.\ds; journal .*web\.jsonl$", out, re.M)
    assert "FAILED" not in out
    records = local_records(site)
    assert [(r["step"], r["outcome"]) for r in records if r["kind"] == "step"] == [
        ("first", "ok"), ("second", "ok"), ("third", "ok")]
    assert records[-1]["event"] == "end" and records[-1]["outcome"] == "ok"
    assert len(c.remote_appends()) == 1


def test_unreachable_host_journal_keeps_the_local_one(site, capsys):
    c = FakeHost(site, fail={"journal.jsonl": OSError("Socket is closed")})
    Run(c, "deploy.test", take_lock=False).execute([Step("one", lambda c, run: None)])
    out = capsys.readouterr().out
    assert "could not write the host's journal" in out
    assert local_records(site)[-1]["outcome"] == "ok"


def test_journal_file_is_private(c, site):
    Run(c, "deploy.test", take_lock=False).execute([Step("one", lambda c, run: None)])
    path = site.inventory.path.parent / ".deploy-journal" / "web.jsonl"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o077 == 0


def test_secrets_are_masked_in_output_journal_and_error(c, site, capsys):
    value = site.secret("WEB_BYPASS")
    assert value == SECRET

    def leak(c, run):
        c.run(f"curl -H 'X-Maintenance-Bypass: {value}' http://127.0.0.1/")
        run.state["maintenance"] = f"maintenance is ON (bypass with {value})"
        raise Failed(f"bypass {value} refused", recovery=f"curl -H 'X-Maintenance-Bypass: {value}'")

    with pytest.raises(CheckpointFailed) as e:
        Run(c, "deploy.test", {"token": value}, take_lock=False).execute(
            [Step("echo", lambda c, run: f"said {value}"), Step("leak", leak)])
    out = capsys.readouterr().out
    text = (site.inventory.path.parent / ".deploy-journal" / "web.jsonl").read_text()
    for where in (out, text, e.value.message, c.remote_appends()[0]):
        assert SECRET not in where
        assert "*****" in where
    assert "said *****" in out and "bypass with *****" in out


ERRORS_IN_A_STEP = [
    # id, raised in the step (SECRET in its text), class and code the run stops with, its line
    ("failed-names-the-step", Failed(f"token {SECRET} refused", recovery="rerun"), CheckpointFailed,
     1, "error: deploy.test stopped at leak: token ***** refused"),
    ("config-keeps-class", ConfigError(f"secret {SECRET} is malformed; fix .env"), ConfigError, 2,
     "error: secret ***** is malformed; fix .env"),
    ("sudo-keeps-class", SudoDenied(f"sudo -n refused {SECRET}; add a rule"), SudoDenied, 5,
     "error: sudo -n refused *****; add a rule"),
    ("given-code-kept", DeployError(f"odd {SECRET}", code=7), DeployError, 7, "error: odd *****"),
]


@pytest.mark.parametrize("raised, cls, code, line", [x[1:] for x in ERRORS_IN_A_STEP],
                         ids=[x[0] for x in ERRORS_IN_A_STEP])
def test_an_error_in_a_step_stops_the_run_masked_with_its_class_and_code(c, site, raised, cls,
                                                                       code, line, capsys):
    assert site.secret("WEB_BYPASS") == SECRET   # read: the host masks it from here on

    def leak(c, run):
        raise raised

    with pytest.raises(cls) as e:
        Run(c, "deploy.test", take_lock=False).execute([Step("leak", leak)])
    assert (type(e.value), e.value.code, e.value.message) == (cls, code, line)
    assert SECRET not in capsys.readouterr().out
