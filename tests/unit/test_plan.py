"""The plan of any composite: checks per host, the steps in order with where they run, what
each does and its main commands, the verdict (host facts faked; the integration test runs the
real checks)."""
from types import SimpleNamespace as NS

import pytest

from runbook.engine.rundata import RunData
from runbook.engine.runner import ALL, LOCAL, ROLLING, Step
from runbook.runbooks import plan


def host(name):
    return NS(site=NS(name=name), mask=lambda text: text.replace("s3cret", "*****"))


def fleet(*names):
    members = [host(n) for n in names]
    return NS(members=members, primary=members[0], multi=len(members) > 1,
              describe=lambda: names[0] if len(names) == 1 else f"g ({', '.join(names)})")


def restore_database(c, run):
    """Restore into a fresh database and swap it in."""


STEPS = [Step("check backup", lambda c, r: None, changes_host=False, about="The backup is usable.",
              commands=[LOCAL]),
         Step("maintenance on", lambda c, r: None, where=ALL, role="web", about="Flag on.",
              commands=lambda c, run: [f"touch /srv/{c.site.name}/flag --password=s3cret"]),
         Step("restore database", restore_database),
         Step("restart", lambda c, r: None, where=ROLLING, role="web")]


@pytest.mark.parametrize("names, failing, expect_lines, verdict_ok", [
    (["web1"], set(), ["  1. check backup [web1] (read-only) - The backup is usable.",
                       "      $ no command (local check)",
                       "  3. restore database [web1] - Restore into a fresh database and swap it in.",
                       "  4. restart [web1]"], True),
    (["web1", "web2"], set(), ["  2. maintenance on [on every host at once, web hosts] - Flag on.",
                               "      $ touch /srv/web1/flag --password=*****",
                               "  3. restore database [on web1] - Restore into a fresh database and swap it in.",
                               "  4. restart [rolling, 1 at a time, web hosts]"], True),
    (["web1", "web2"], {"web2"}, ["  FAIL web2: deploy lock: held by ann@laptop"], False),
])
def test_generic_plan_lists_checks_then_steps(monkeypatch, names, failing, expect_lines, verdict_ok):
    def checks(c):
        bad = c.site.name in failing
        return [(not bad, "deploy lock: " + ("held by ann@laptop" if bad else "free")),
                (None, "maintenance: off")]
    monkeypatch.setattr(plan, "host_checks", checks)
    monkeypatch.setattr(plan, "head", lambda c: "850f5b3f1b2f" + "0" * 28)
    f = fleet(*names)
    run = NS(fleet=f, c=f.primary, task="rollback.restore", batch=1, data=RunData(),
             args={"backup": "B", "code": True, "yes": False, "password": "s3cret"},
             run_facts=lambda: ([], True))
    run.host_facts = lambda m: plan.Run.host_facts(run, m)   # the real one, on faked checks
    lines, ok = plan.generic_plan(run, STEPS)
    assert lines[0] == f"PLAN for rollback.restore on {f.describe()} - nothing below has run"
    assert "Steps that would run, in order (rollback.restore --backup=B --code --password=*****):" in lines
    for line in expect_lines:
        assert line in lines, "\n".join(lines)
    assert ok is verdict_ok
    assert lines[-1].startswith("Verdict: every check passed" if verdict_ok else "Verdict: a check FAILED")
