"""The sandbox's client-side pieces that need no host: both apps' origins (build_origin.py), the
secrets file of `invoke sandbox.up`, the ledger inventory it writes."""
import subprocess
import sys

import pytest

import tasks
from runbook.host import inventory

ROOT = tasks.ROOT
BUILD = ROOT / "sandbox" / "build_origin.py"


def build(tmp_path, *args):
    dest = tmp_path / "origin.git"
    r = subprocess.run([sys.executable, str(BUILD), *args, str(dest)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    tags = dict(line.split() for line in r.stdout.splitlines()[1:])
    return dest, tags


def show(dest, rev, path):
    return subprocess.run(["git", "--git-dir", str(dest), "show", f"{rev}:{path}"],
                          capture_output=True, text=True, check=True).stdout


def test_recorder_origin_keeps_its_commit_ids(tmp_path):
    _, tags = build(tmp_path)   # --app recorder is the default
    assert tags["v1"] == "850f5b3f1b2ff94ada2e277205f2c6970996541e"
    assert tags["v2"] == "c4ed614a17b0613c4369b3dc4b6b9a2e403fb2a8" == tags["main"]


def test_ledger_origin_has_its_tags_and_the_swallowing_variants(tmp_path):
    dest, tags = build(tmp_path, "--app", "ledger")
    assert set(tags) == {"v1", "v1.1", "v1.1-index", "v1-rename", "v2", "v2-swallow-loud",
                         "v2-swallow-silent", "v2-badlock", "main"}
    sync = "src/people/migrations/0003_sync_legacy_profiles.py"
    assert "!!! Error during sync: {e} ... continuing" in show(dest, "v2-swallow-loud", sync)
    assert "legacy.phone_number" in show(dest, "v2-swallow-loud", sync)
    silent = show(dest, "v2-swallow-silent", sync)
    assert "legacy.phone_number" in silent and "!!!" not in silent
    assert 'version = "99.0.0"' in show(dest, "v2-badlock", "poetry.lock")
    assert "DJANGO_SETTINGS_MODULE" in show(dest, "v1", "src/manage.py")
    assert "null=True" in show(dest, "v1.1", "src/people/migrations/0002_profile_nickname.py")
    assert "AddIndex" in show(dest, "v1.1-index",
                              "src/people/migrations/0003_profile_people_prof_display_idx.py")
    assert 'EDITABLE = ("name",)' in show(dest, "v1-rename", "src/people/models.py")
    for rev in ("v1.1", "v1.1-index", "v1-rename", "v2-swallow-loud", "v2-badlock"):   # each is one commit on top of v1
        parent = subprocess.run(["git", "--git-dir", str(dest), "rev-parse", f"{rev}^"],
                                capture_output=True, text=True, check=True).stdout.strip()
        assert parent == tags["v1"]


def test_build_origin_refuses_an_unknown_app(tmp_path):
    r = subprocess.run([sys.executable, str(BUILD), "--app", "nope", str(tmp_path / "x.git")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "--app must be one of: recorder, ledger" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x.git").exists()


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "STATE", tmp_path)
    monkeypatch.setattr(tasks, "HOST_SECRETS", tmp_path / "host-client.env")
    return tmp_path


def test_secrets_file_appends_what_an_older_file_lacks_and_keeps_the_rest(state):
    (state / ".env").write_text("SANDBOX_DB_PASSWORD=old\n")
    (state / "host-client.env").write_text("SANDBOX_LEDGER_API_PASSWORD=from-host\n")
    text = tasks._secrets_file().read_text()
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert set(values) == set(tasks.SECRETS)
    assert values["SANDBOX_DB_PASSWORD"] == "old"
    assert values["SANDBOX_LEDGER_API_PASSWORD"] == "from-host"   # the seeded database's
    assert tasks._secrets_file().read_text() == text                # nothing more to add


def test_secrets_file_is_new_and_private_when_there_is_none(state):
    env = tasks._secrets_file()
    assert oct(env.stat().st_mode & 0o777) == "0o600"
    assert all(f"{k}=" in env.read_text() for k in tasks.SECRETS)


def test_ledger_inventory_template_is_a_valid_inventory(tmp_path):
    text = (ROOT / "sandbox" / "ledger-host.template.toml").read_text()
    path = tmp_path / "ledger.toml"
    path.write_text(text.replace("{prefix}", "").replace("{project}", "deploy.toml"))
    site = inventory.load(path).default_site()
    assert site.name == "sandbox-ledger"
    assert (site.app.manage_py, site.app.installer, site.service.workers) == (
        "src/manage.py", "poetry", ["ledger-worker"])
    assert site.health.revision_key is None and site.service.restart == "restart"
