"""hosts.toml validation: every bad inventory is one line naming file, key and fix."""
import pytest

from runbook.engine.errors import ConfigError
from runbook.host import host_settings, inventory
from tests.support.sites import MINIMAL


def test_example_file_is_valid_and_documents_every_key(example_text, write_inventory):
    inv = inventory.load(write_inventory(example_text))
    assert set(inv.hosts) == {"prod", "staging"}
    assert inv.default == "staging"
    assert inv.site("staging").database.name == "recordered_staging"
    assert inv.site("prod").database.name == "recordered_db"  # from [defaults]
    for key, _default, _help in host_settings.schema_lines():
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
    (lambda t: t.replace('app = "gunicorn"', 'app = "gunicorn"\nrestart = "reload"'),
     'hosts.web.service.restart: "reload" needs health.revision_key', 'add revision_key = "revision"'),
    (lambda t: t.replace('app = "gunicorn"', 'app = "gunicorn"\nrestart = "hup"'),
     "hosts.web.service.restart: 'hup' is not one of", "reload"),
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


# --- groups: several hosts, one primary -----------------------------------------------------
def _three_hosts(web2_roles='["web"]', web3_roles='["web"]'):
    """MINIMAL's `web` (default roles web+db) and two more web hosts."""
    extra = MINIMAL.replace("hosts.web", "hosts.web2").replace("10.0.0.1", "10.0.0.2")
    extra = extra.replace('hostname = "10.0.0.2"', f'hostname = "10.0.0.2"\nroles = {web2_roles}')
    more = MINIMAL.replace("hosts.web", "hosts.web3").replace("10.0.0.1", "10.0.0.3")
    more = more.replace('hostname = "10.0.0.3"', f'hostname = "10.0.0.3"\nroles = {web3_roles}')
    return "[groups]\n{GROUPS}\n" + MINIMAL + extra + more


@pytest.mark.parametrize("groups, members, primary", [
    ('prod = ["web", "web2", "web3"]', ("web", "web2", "web3"), "web"),      # the one db host
    ('prod = { hosts = ["web2", "web3"], primary = "web3" }', ("web2", "web3"), "web3"),
    ('prod = { hosts = ["web3", "web"] }', ("web3", "web"), "web"),
])
def test_group_members_and_primary(write_inventory, groups, members, primary):
    inv = inventory.load(write_inventory(_three_hosts().replace("{GROUPS}", groups)))
    g = inv.groups["prod"]
    assert g.members == members and g.primary == primary


@pytest.mark.parametrize("groups, roles, problem, fix", [
    ('prod = []', None, "groups.prod: empty group", 'prod = ["web1", "web2"]'),
    ('prod = ["web", "web9"]', None, "groups.prod: unknown host 'web9'", "add [hosts.web9]"),
    ('prod = ["web", "web"]', None, "'web' is listed twice", "list each host once"),
    ('prod = ["web2", "web3"]', None, "groups.prod: no primary (no member has the db role)",
     'primary = "web2"'),
    ('prod = ["web", "web2"]', '["web", "db"]', "no primary (2 members have the db role: web, web2)",
     'primary = "web"'),
    ('prod = { hosts = ["web", "web2"], primary = "web3" }', None,
     "groups.prod.primary: 'web3' is not a member", "name one of"),
    ('prod = { hosts = ["web"], leader = "web" }', None, "groups.prod.leader: unknown key",
     "hosts and primary"),
    ('web2 = ["web", "web3"]', None, "groups.web2: 'web2' is also a host name", "rename"),
    ('prod = "web"', None, "groups.prod: expected a list of strings", "prod ="),
])
def test_bad_group_is_one_line(write_inventory, groups, roles, problem, fix):
    text = _three_hosts(web2_roles=roles or '["web"]').replace("{GROUPS}", groups)
    with pytest.raises(ConfigError) as e:
        inventory.load(write_inventory(text))
    msg = str(e.value)
    assert problem in msg and fix in msg and "\n" not in msg


def test_unknown_role_is_refused(write_inventory):
    text = _three_hosts(web2_roles='["web", "cache"]').replace("{GROUPS}", "")
    with pytest.raises(ConfigError, match=r"hosts.web2.roles: unknown role 'cache'.*web, worker, db"):
        inventory.load(write_inventory(text))


def test_a_group_given_to_a_one_host_task_names_the_fix(write_inventory):
    inv = inventory.load(write_inventory(_three_hosts().replace("{GROUPS}", 'prod = ["web", "web2"]')))
    with pytest.raises(ConfigError, match=r"'prod' is a group \(web, web2\).*use -H web"):
        inv.site("prod")
    with pytest.raises(ConfigError, match=r"unknown host 'nope'.*groups: prod"):
        inv.site("nope")
