"""The fab command lines the tool prints: the inventory named when not the default, the
options a task needs, values quoted (the shell gets back exactly the words)."""
import shlex
from types import SimpleNamespace

import pytest

from runbook.engine import fabcmd
from runbook.engine.errors import CheckpointFailed
from runbook.engine.runner import Run, Step, fail
from runbook.host import inventory
from tests.support.host import FakeHost
from tests.support.sites import MINIMAL


def conn(tmp_path, dirname="my inv"):
    d = tmp_path / dirname
    d.mkdir()
    (d / "hosts.toml").write_text(MINIMAL)
    return FakeHost(inventory.load(d / "hosts.toml").site("web"))


def test_a_non_default_inventory_is_named_quoted(tmp_path):
    c = conn(tmp_path)
    line = fabcmd.fab(c, "rollback.code --ref abc --yes")
    path = str((tmp_path / "my inv" / "hosts.toml").resolve())
    assert shlex.split(line) == ["fab", "-H", "web", "rollback.code", "--ref", "abc", "--yes",
                                 "--hosts-file", path]


def test_the_default_inventory_is_not_named(tmp_path, monkeypatch):
    c = conn(tmp_path, "inv")
    monkeypatch.chdir(tmp_path / "inv")   # ./hosts.toml: what a bare fab loads
    assert fabcmd.fab(c, "maintenance.off") == "fab -H web maintenance.off"
    c.config = SimpleNamespace(deploy=SimpleNamespace(hosts_file="other.toml"))
    assert "--hosts-file" in fabcmd.fab(c, "maintenance.off")


def test_rerun_carries_the_tasks_options_and_yes(tmp_path, monkeypatch):
    c = conn(tmp_path, "inv")
    monkeypatch.chdir(tmp_path / "inv")
    assert fabcmd.rerun(c, "rollback.code", {"ref": "v1 x"}) == \
        "fab -H web rollback.code --ref='v1 x' --yes"
    # arguments the task does not take are not options (pg_upgrade.rollback records its run)
    assert fabcmd.rerun(c, "pg_upgrade.rollback", {"upgrade": "20261121-074618-5ec9"}) == \
        "fab -H web pg_upgrade.rollback --yes"
    # a bool option given as a value (--resume's run id) is a flag; defaults are left out
    line = fabcmd.rerun(c, "deploy.consolidate", {"ref": "v2", "no_json": True, "expect": "",
                                                  "auto_rollback": False, "batch": 1,
                                                  "resume": "20261121-074618-5ec9"}, host="prod")
    assert line == "fab -H prod deploy.consolidate --ref=v2 --no-json --batch=1 --resume"
    assert fabcmd.rerun(c, "deploy.pg_upgrade", {"to": "15", "soak_minutes": 0.0}) == \
        "fab -H web deploy.pg_upgrade --to=15 --yes"


def test_a_failed_run_prints_its_rerun_with_the_runs_options(c, capsys):
    """rollback.code stopped: the rerun keeps --ref (the runner printed the bare task)."""
    with pytest.raises(CheckpointFailed):
        Run(c, "rollback.code", {"ref": "v1"}, take_lock=False).execute(
            [Step("code to ref", lambda c, run: fail("no"))])
    path = shlex.quote(str(c.site.inventory.path.resolve()))
    assert f"rerun: fab -H web rollback.code --ref=v1 --yes --hosts-file {path}\n" in \
        capsys.readouterr().out
