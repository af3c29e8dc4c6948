"""Every composite's plan comes from the step list its run executes: each task is called (on the
fake host, its `--plan` on) up to `Run.execute`, which records the steps it was handed and the
plan the runner derives from them (`Run.plan_lines`). The plan's step lines must be the run's
step names in order, and every step must say what it does and its main commands (or LOCAL)."""
import dataclasses
import re
from types import SimpleNamespace as NS

import pytest

from runbook.engine import runner
from runbook.engine.errors import PlanShown
from runbook.engine.fleet import Fleet
from runbook.postgres import clusters
from runbook.runbooks import plan
from runbook.runbooks.pg_upgrade import run_steps
from runbook.runbooks.release import ReleaseRun
from runbook.tasks import backup, deploy, migrate, pg_upgrade, rollback, verify
from tests.support.host import FakeHost
from tests.support.sites import make_site

STEP_LINE = re.compile(r"^  \d+\. (.+?) \[[^\]]*\]")
BACKUP = "20261203-010203-abcd"
UPGRADE = {"run": "20261203-010203-abcd", "phase": "done", "from": "14", "to": "15",
           "cluster": "main", "port": 5432, "method": "dump", "backup": BACKUP, "before": {},
           "fingerprint_version": 2}
KEPT = "15 main 5433 down postgres /var/lib/postgresql/15/main /var/log/postgresql/x.log"
MANIFEST = {"host": "web", "database": "app", "created": "2026-12-03T01:02:03+00:00",
            "git_commit": "850f5b3f1b2f" + "0" * 28}
MIGRATION = {"migration": "shop.0002_price", "backwards": True,
             "ops": [{"op": "AddField", "describe": "Add field price to item", "kind": "schema",
                      "reversible": True}]}


RESTORE = {"runbook.tasks.rollback.backups.check_name": lambda c, name: name,
           "runbook.tasks.rollback.backups.read_manifest": lambda c, name: MANIFEST}


def patch_state(phase):
    return {"runbook.tasks.pg_upgrade.read_state": lambda c: {**UPGRADE, "phase": phase},
            "runbook.tasks.pg_upgrade.clusters.listing": lambda c: clusters.parse(KEPT)}


# (task, keyword arguments, what the task reads from the host before its run, faked)
COMPOSITES = [
    ("deploy.consolidate", deploy.consolidate, {"ref": "v2"}, {}),
    ("deploy.consolidate --no-json", deploy.consolidate, {"ref": "v2", "no_json": True}, {}),
    ("deploy.release", deploy.release, {"ref": "v2"}, {}),
    ("deploy.restart", deploy.restart, {}, {}),
    ("deploy.pg_upgrade", deploy.deploy_pg_upgrade,
     {"to": "15", "method": "link", "tag": "v1-pre", "soak_minutes": "5", "drop_empty_target": True,
      "yes": True}, {}),
    *[(f"pg_upgrade.run --method {m}", pg_upgrade.run_task, {"to": "15", "method": m, "yes": True},
       {}) for m in ("dump", "copy", "link")],
    ("pg_upgrade.run --drop-empty-target", pg_upgrade.run_task,
     {"to": "15", "drop_empty_target": True, "yes": True}, {}),
    ("pg_upgrade.rollback", pg_upgrade.rollback, {"yes": True}, patch_state("done")),
    ("pg_upgrade.cleanup", pg_upgrade.cleanup, {"yes": True}, patch_state("rolled back")),
    ("pg_upgrade.compose", pg_upgrade.compose,
     {"to": "15", "old_image": "postgres:14", "execute": True, "yes": True},
     {"runbook.postgres.compose_upgrade.switch_for": lambda *a: ""}),
    ("pg_upgrade.compose --rollback", pg_upgrade.compose,
     {"to": "15", "old_image": "postgres:14", "execute": True, "rollback": True, "yes": True}, {}),
    ("rollback.restore", rollback.restore_task, {"backup": BACKUP, "yes": True},
     RESTORE),
    ("rollback.restore --code", rollback.restore_task, {"backup": BACKUP, "code": True, "yes": True},
     RESTORE),
    ("rollback.migrations", rollback.migrations_task, {"to": "shop.0001_initial", "force": True, "yes": True},
     {"runbook.tasks.rollback.migrate.plan": lambda c, target=None: [MIGRATION]}),
    ("rollback.code", rollback.code_task, {"ref": "v1", "yes": True}, {}),
    ("migrate.run", migrate.run_task, {}, {}),
    ("backup.create", backup.create_task, {}, {}),
    ("verify.audit", verify.audit, {}, {}),
    ("verify.post", verify.post, {}, {}),
    ("verify.soak", verify.soak, {"minutes": "2"}, {}),
]


@pytest.fixture
def host(tmp_path):
    site = make_site(tmp_path, compose={"project_dir": "/srv/stack"},
                     service={"manager": "supervisor", "app": "gunicorn", "workers": ["celery"]})
    c = FakeHost(site)
    c.config = NS(deploy=NS(plan=True))   # --plan: the composites' runs plan, not run
    return c


@pytest.fixture
def planned(monkeypatch):
    """Run.execute records the steps it is handed and the plan derived from them; the
    read-only host checks (remote facts) are left out."""
    seen = {}

    def execute(self, steps):
        seen.update(run=self, steps=list(steps), lines=self.plan_lines(steps)[0])
        raise PlanShown()

    monkeypatch.setattr(runner.Run, "execute", execute)
    for cls in (plan.Run, plan.ConsolidateRun, plan.UpgradeRun, plan.MigrateRun, ReleaseRun):
        monkeypatch.setattr(cls, "host_facts", lambda self, m: [])
        monkeypatch.setattr(cls, "run_facts", lambda self: ([], True))
    return seen


FLEET_TASKS = {"consolidate", "restart", "restore_task", "code_task"}   # @hosttask(fleet=True)
GROUP = [c for c in COMPOSITES if c[1].body.__wrapped__.__name__ in FLEET_TASKS]


@pytest.mark.parametrize("what, task, kwargs, fakes", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_the_plan_is_the_runs_steps_each_described(monkeypatch, host, planned, what, task, kwargs,
                                                    fakes):
    fleet = task.body.__wrapped__.__name__ in FLEET_TASKS
    check_plan(monkeypatch, planned, what, task, kwargs, fakes, Fleet.single(host) if fleet else host)


@pytest.mark.parametrize("what, task, kwargs, fakes", GROUP, ids=[c[0] for c in GROUP])
def test_a_groups_plan_is_its_runs_steps_each_placed(monkeypatch, host, planned, what, task,
                                                     kwargs, fakes):
    other = FakeHost(dataclasses.replace(host.site, name="web2"))
    other.config = host.config
    lines = check_plan(monkeypatch, planned, what, task, kwargs, fakes,
                       Fleet("prod", [host, other], host))
    placed = {runner.ONCE: "[on web", runner.ALL: "[on every host at once",
              runner.ROLLING: f"[rolling, {planned['run'].batch} at a time"}
    step_lines = [line for line in lines if STEP_LINE.match(line)]
    for step, line in zip(planned["steps"], step_lines, strict=True):
        assert placed[step.where] + (f", {step.role} hosts]" if step.role else "]") in line, line
    if what.startswith("deploy.consolidate"):
        assert "  2. hosts agree [on web] (read-only) - Every host resolves the same target and " \
               "runs the same commit now (no mixed fleet)." in lines


def check_plan(monkeypatch, planned, what, task, kwargs, fakes, target):
    """Call the task up to its run; its plan's step lines must be the steps it handed the run."""
    for name, value in fakes.items():
        monkeypatch.setattr(name, value)
    with pytest.raises(PlanShown):
        task.body.__wrapped__(target, **kwargs)
    host = target.primary if isinstance(target, Fleet) else target
    run, steps, lines = planned["run"], planned["steps"], planned["lines"]
    assert steps, what
    assert [m[1] for m in map(STEP_LINE.match, lines) if m] == [s.name for s in steps]
    for step in steps:
        shown = step.main_commands(host, run)
        assert step.about.strip(), f"{what}: step {step.name!r} has no description"
        assert shown and all(cmd.strip() for cmd in shown), \
            f"{what}: step {step.name!r} shows no command (give its commands, or [LOCAL])"
    # each step line carries its description, followed by its commands
    starts = [i for i, line in enumerate(lines) if STEP_LINE.match(line)]
    for i, step in zip(starts, steps, strict=True):
        assert lines[i].endswith(" - " + step.about), lines[i]
        assert lines[i + 1].startswith("      $ "), "\n".join(lines)
    return lines


def test_the_upgrade_plan_names_the_cluster_on_the_apps_port(monkeypatch, host):
    monkeypatch.setattr(plan, "host_checks", lambda m: [])
    monkeypatch.setattr(plan, "head", lambda m: "850f5b3f1b2f" + "0" * 28)
    monkeypatch.setattr(plan.clusters, "listing", lambda m: clusters.parse(
        "14 main 5432 online postgres /var/lib/postgresql/14/main x\n" + KEPT))
    run = plan.UpgradeRun(host, "pg_upgrade.run", {"to": "15", "method": "link"})
    lines, ok = run.plan_lines(run_steps(host, "15", "link", drop_empty_target=True))
    assert ok and "       cluster on port 5432: 14/main (online)" in lines, "\n".join(lines)
    assert "      $ sudo -n pg_ctlcluster 14 main stop" in lines   # link: pg_upgrade --link itself
    assert any(x.startswith("      $ pg_ctl start -w") and x.endswith("pg_ctlcluster 15 main start)")
               for x in lines), "\n".join(lines)
    assert "      $ sudo -n pg_dropcluster 15 main --stop  (only when it holds no data)" in lines


def test_a_step_without_a_description_is_caught():
    def bare(c, run):
        return None

    step = runner.Step("bare", bare)
    assert step.about == "" and step.main_commands(None, None) == []
    described = runner.Step("local", runner.commands([runner.LOCAL])(step_doc))
    assert described.about == "Check what an earlier step found."
    assert described.main_commands(None, None) == ["no command (local check)"]


def step_doc(c, run):
    """Check what an earlier step found. More words on a second sentence.

    And a paragraph the plan does not show."""
