"""hosts.toml validation: every bad inventory is one line naming file, key and fix."""
import pytest

from fabfile import inventory
from fabfile.errors import ConfigError

MINIMAL = """
[hosts.web]
hostname = "10.0.0.1"
[hosts.web.app]
dir = "/srv/app"
venv = "/srv/venv"
[hosts.web.database]
name = "app"
[hosts.web.service]
manager = "systemd"
app = "gunicorn"
[hosts.web.maintenance]
snippet = "/etc/nginx/snippets/m.conf"
flag = "/srv/m/on"
page = "/srv/m/page.html"
[hosts.web.health]
url = "http://127.0.0.1/healthz"
[hosts.web.backup]
dir = "/srv/backups"
"""


def test_example_file_is_valid_and_documents_every_key(example_text, write_inventory):
    inv = inventory.load(write_inventory(example_text))
    assert set(inv.hosts) == {"prod", "staging"}
    assert inv.default == "staging"
    assert inv.site("staging").database.name == "recordered_staging"
    assert inv.site("prod").database.name == "recordered_db"  # from [defaults]
    for key, _default, _help in inventory.schema_lines():
        assert key.rsplit(".", 1)[-1] in example_text, f"{key} is not documented"


def test_minimal_gets_defaults(write_inventory):
    site = inventory.load(write_inventory(MINIMAL)).site("web")
    assert site.port is None and site.database.access == "local" and site.health.timeout == 30
    assert site.app.manage_py == "manage.py" and site.accept_new_host_key is False


@pytest.mark.parametrize("mutate, key, fix", [
    (lambda t: t + "\n[oops", "malformed TOML", "fix the syntax"),
    (lambda t: t.replace('hostname = "10.0.0.1"', ""), "hosts.web.hostname: missing", "add hostname ="),
    (lambda t: t.replace('hostname = "10.0.0.1"', 'hostname = "10.0.0.1"\nprot = 22'),
     "hosts.web.prot: unknown key", "remove it"),
    (lambda t: t.replace('hostname = "10.0.0.1"', 'hostname = "10.0.0.1"\nport = "22"'),
     "hosts.web.port: expected an integer", "port = 22"),
    (lambda t: t.replace('hostname = "10.0.0.1"', 'hostname = "10.0.0.1"\nport = 0'),
     "hosts.web.port: 0 must be a positive number", "above 0"),
    (lambda t: t.replace('manager = "systemd"', 'manager = "upstart"'),
     "hosts.web.service.manager: 'upstart' is not one of", "systemd"),
    (lambda t: t.replace('url = "http://127.0.0.1/healthz"', 'url = "localhost/healthz"'),
     "hosts.web.health.url: 'localhost/healthz' is not an http(s) URL", "http://"),
    (lambda t: t.replace('dir = "/srv/backups"', 'dir = "backups"'),
     "hosts.web.backup.dir: 'backups' is not an absolute path", "full path"),
    (lambda t: t.replace('hostname = "10.0.0.1"', 'hostname = "10.0.0.1"\naccept_new_host_key = "yes"'),
     "accept_new_host_key: expected true or false", "false"),
    (lambda t: "default = \"nope\"\n" + t, "default: names 'nope'", "use one of: web"),
    (lambda t: "colour = 1\n" + t, "colour: unknown top-level key", "use one of"),
    (lambda t: "", "hosts: no hosts defined", "[hosts.NAME]"),
])
def test_bad_inventory_is_one_line(write_inventory, mutate, key, fix):
    path = write_inventory(mutate(MINIMAL))
    with pytest.raises(ConfigError) as e:
        inventory.load(path)
    msg = e.value.text
    assert "\n" not in msg
    assert str(path) in msg and key in msg and fix in msg


def test_unknown_host_lists_known(write_inventory):
    inv = inventory.load(write_inventory(MINIMAL))
    with pytest.raises(ConfigError, match=r"unknown host 'prod' \(hosts: web\)"):
        inv.site("prod")


def test_no_default_and_no_host_says_how(write_inventory):
    inv = inventory.load(write_inventory(MINIMAL))
    with pytest.raises(ConfigError, match=r"no host given .* run with -H NAME \(hosts: web\)"):
        inv.default_site()


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such inventory; copy hosts.example.toml"):
        inventory.load(tmp_path / "hosts.toml")


def test_secrets_come_from_dotenv_then_environment(write_inventory, monkeypatch):
    text = MINIMAL.replace('page = "/srv/m/page.html"',
                           'page = "/srv/m/page.html"\nbypass_secret_env = "BYPASS"')
    site = inventory.load(write_inventory(text, env="BYPASS=from-dotenv\n")).site("web")
    monkeypatch.delenv("BYPASS", raising=False)
    assert site.secret(site.maintenance.bypass_secret_env) == "from-dotenv"
    monkeypatch.setenv("BYPASS", "from-env")
    assert site.secret("BYPASS") == "from-env"
    monkeypatch.delenv("BYPASS")
    with pytest.raises(ConfigError, match=r"secret MISSING is not set; add MISSING=\.\.\. to .*\.env"):
        site.secret("MISSING")
