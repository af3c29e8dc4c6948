"""Every task has a one-line summary and every option its help (what fab --list/--help show)."""
import pytest

from runbook.tasks import ns


def tasks(coll=ns, prefix=""):
    for name, t in coll.tasks.items():
        yield prefix + name, t
    for cname, sub in coll.collections.items():
        yield from tasks(sub, prefix + cname.replace("-", "_") + ".")  # fab runs auto_dash_names off


ALL = sorted(tasks(), key=lambda x: x[0])


@pytest.mark.parametrize("name, task", ALL, ids=[n for n, _t in ALL])
def test_every_task_and_option_has_help(name, task):
    doc = (task.__doc__ or task.body.__doc__ or "").strip().splitlines()
    assert doc and doc[0].endswith((".", "?")), f"{name}: the first docstring line is the --list summary"
    missing = [a.name for a in task.get_arguments() if not a.help]
    assert not missing, f"{name}: options without help: {missing}"


def test_composites_offer_a_plan_and_every_host_task_quiet_and_verbose():
    names = {n: {a.name for a in t.get_arguments()} for n, t in ALL}
    for composite in ("deploy.consolidate", "deploy.release", "deploy.restart", "backup.create",
                      "rollback.restore", "rollback.code", "pg_upgrade.run"):
        assert "plan" in names[composite], composite
    assert "resume" in names["deploy.consolidate"]
    assert all({"quiet", "verbose"} <= args for n, args in names.items() if "hosts_file" in args)
