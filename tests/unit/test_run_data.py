"""Run data is typed (runbook/engine/rundata.py): the layering of a group's data per host, what
the runner reports from it (Facts), and no string-keyed `.data[...]` left in the package."""
import ast
import dataclasses
from pathlib import Path

import pytest

import runbook
from runbook.engine.fleet import Fleet
from runbook.engine.rundata import RunData
from runbook.engine.runner import Facts, Run
from tests.support.host import FakeHost

OLD, NEW = "850f5b3f1b2f" + "0" * 28, "c4ed614a17b0" + "0" * 28
BACKUP = "20261121-101500-ab12"


def group_run(c, hosts, data=None):
    """A run on `c` alone (hosts=1) or on `c` (the primary) and web2."""
    if hosts == 1:
        return Run(c, "deploy.test", take_lock=False, **({"data": data} if data else {}))
    other = FakeHost(dataclasses.replace(c.site, name="web2"))
    return Run(Fleet("prod", [c, other], c), "deploy.test", take_lock=False,
               **({"data": data} if data else {}))


def other_host(run):
    return run.fleet.members[-1]


# --- which writes go where ---------------------------------------------------------------------
# a step writes through its view: "once" (shared=True) or on all hosts / rolling (shared=False);
# then: the run's shared value, the primary's own, what a step on the other host reads
WRITES = [
    (1, True, (BACKUP, BACKUP, BACKUP)),   # one host: the run's data is the host's
    (1, False, (BACKUP, BACKUP, BACKUP)),
    (2, True, (BACKUP, "", BACKUP)),       # a "once" step writes the shared: every host sees it
    (2, False, ("", BACKUP, "")),          # a step per host writes that host's own
]


@pytest.mark.parametrize("hosts, once, expected", WRITES)
def test_a_write_goes_to_the_shared_data_or_the_hosts_own(c, hosts, once, expected):
    run = group_run(c, hosts)
    run.view(c, shared=once).data.backup = BACKUP
    seen = run.view(other_host(run)).data.backup
    assert (run.data.backup, run.host_data["web"].backup, seen) == expected


@pytest.mark.parametrize("hosts, once, expected", [
    (1, True, (["a"], ["a"])), (1, False, (["a"], ["a"])),
    (2, True, (["a"], [])),   # appended where neither had lines: to the layer written
    (2, False, ([], ["a"])),
])
def test_appending_to_an_unset_list_lands_in_the_written_layer(c, hosts, once, expected):
    run = group_run(c, hosts)
    run.view(c, shared=once).data.summary_lines.append("a")
    assert (run.data.summary_lines, run.host_data["web"].summary_lines) == expected
    assert run.view(c, shared=once).data.summary_lines == ["a"]   # and is read back


# on a group: (the shared value, the host's own, a "once" view?) -> what the step reads
READS = [
    ("S", "O", True, "S"),    # a "once" step: the shared over the primary's
    ("S", "O", False, "O"),   # a step per host: its own over the shared
    ("", "O", True, "O"),     # unset in the layer on top: the one below shows through
    ("S", "", False, "S"),    # a field at its default counts as unset
    ("", "", False, ""),
]


@pytest.mark.parametrize("shared, own, once, expected", READS)
def test_a_read_takes_the_top_layer_that_is_set(c, shared, own, once, expected):
    run = group_run(c, 2)
    run.data.before, run.host_data["web"].before = shared, own
    assert run.view(c, shared=once).data.before == expected


def test_a_misspelt_field_is_an_error_not_a_new_key(c):
    run = group_run(c, 2)
    view = run.view(c).data
    for target in (run.data, view):
        with pytest.raises(AttributeError):
            target.bakup = BACKUP
    with pytest.raises(AttributeError, match="RunData has no field 'bakup'"):
        _ = view.bakup


@dataclasses.dataclass(slots=True)
class ProjectData(RunData):
    """A project's runbook with a value of its own."""
    profiles: int = 0


def test_a_projects_subclass_is_every_hosts_data_and_layers_the_same(c):
    run = group_run(c, 2, data=ProjectData())
    assert {type(d) for d in run.host_data.values()} == {ProjectData}
    run.view(c).data.profiles = 3
    assert (run.data.profiles, run.view(c, shared=True).data.profiles) == (0, 3)
    run.view(c, shared=True).data.profiles = 5
    assert (run.data.profiles, run.view(c).data.profiles) == (5, 3)
    with pytest.raises(AttributeError):
        run.view(c).data.profile = 1


# --- what the runner reports (the end record, deploy.history) -----------------------------------
FACTS = [
    (Facts(), dict(before=OLD, target=("v2", NEW), backup=BACKUP, downtime=12.644),
     {"before": OLD, "after": NEW, "backup": BACKUP, "downtime": 12.64}),
    (Facts(after=OLD), dict(target=("v2", NEW)), {"after": OLD}),   # the composite's own wins
    (Facts(backup=BACKUP), dict(downtime=0.0), {"backup": BACKUP, "downtime": 0.0}),
    (Facts(), {}, {}),
]


@pytest.mark.parametrize("facts, data, record", FACTS)
def test_facts_are_the_runs_gaps_filled_from_its_data(facts, data, record):
    assert facts.merged(RunData(**data)).record() == record


def test_a_groups_facts_read_the_shared_data_over_the_primarys(c):
    run = group_run(c, 2)
    run.data.before = OLD                                    # step_hosts_agree: one commit
    run.host_data["web"].before, run.host_data["web"].backup = NEW, BACKUP
    run.host_data["web2"].downtime = 9.0                     # not the primary: not reported
    assert Facts().merged(run.overview().data).record() == {"before": OLD, "backup": BACKUP}


def test_an_old_end_record_with_another_shape_reads_as_unset():
    """pg_upgrade.run once kept fingerprints under `before` (the crash this module ends)."""
    assert Facts.read({"before": {"app": {"t": [5, "ab"]}}, "downtime": True,
                       "backup": BACKUP}) == Facts(backup=BACKUP)


# --- the dict cannot come back ---------------------------------------------------------------
def string_keyed_data(tree):
    """`x.data["k"]`, `x.host_data[h]["k"]`, `x.data.get/setdefault/pop/update(...)`."""
    def is_data(node):
        return (isinstance(node, ast.Attribute) and node.attr == "data") or (
            isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "host_data")
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Subscript) and is_data(n.value) and isinstance(n.slice, ast.Constant) \
                and isinstance(n.slice.value, str):
            found.append(n.lineno)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and is_data(n.func.value) \
                and n.func.attr in ("get", "setdefault", "pop", "update"):
            found.append(n.lineno)
    return found


@pytest.mark.parametrize("code", [
    'run.data["backup"]', "run.data.get('before', '')", 'run.data.setdefault("x", [])',
    'run.host_data[c.site.name]["summary_lines"]', "run.data.update(backup=1)",
    "run.host_data[name].pop('x')"])
def test_the_scan_finds_a_string_keyed_access(code):
    assert string_keyed_data(ast.parse(code))


def test_no_module_indexes_run_data_by_a_string():
    package = Path(runbook.__file__).parent
    found = [f"{p.relative_to(package.parent)}:{line}" for p in sorted(package.rglob("*.py"))
             for line in string_keyed_data(ast.parse(p.read_text(), str(p)))]
    assert found == []


@pytest.mark.parametrize("hosts", [1, 2])
def test_a_plan_which_writes_no_journal_still_gives_the_overview(c, hosts):
    """A failed plan check ends the task through the same except path as a failed step, which
    reads run.overview(): without journals (a plan writes none) it must not raise KeyError."""
    run = group_run(c, hosts)
    run.journals = {}   # what Run sets up when it is planning
    run.state["maintenance"] = "maintenance ON"
    view = run.overview()
    assert view.journal is None and view.state == {"maintenance": "maintenance ON"}
