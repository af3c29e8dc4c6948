"""Integration helpers for the sandbox's second app, ledger (src/manage.py, poetry, a worker)."""
import subprocess

from .sandbox import ROOT, STATE, Fab, make_inventory

APP = "/srv/ledger/app"
ORIGIN = "/srv/git/ledger.git"
PROJECT = 'project = "../sandbox/ledger/deploy.toml"'
# deploy.toml has no invariants, so the tool's guard refuses the DeleteModel without consent;
# and deploy.release runs `check --deploy --fail-level WARNING`, which ledger fails by default
# (no HSTS, no X-Frame-Options, CSRF cookie not secure) as real apps do: the release tests consent
# and name the three.
RELEASE = ('[migrations]\nunguarded_ok = ["people.0004_delete_legacyprofile"]',
           '\n[checks]\nsilence = ["security.W002", "security.W004", "security.W016"]\n')


def ledger_fab(home, tmp_path, release=False, installer="poetry"):
    """`fab` on the ledger host, with a copy of its deploy.toml (`release`: the consents above)."""
    project = tmp_path / "deploy.toml"
    text = (ROOT / "sandbox" / "ledger" / "deploy.toml").read_text()
    if release:
        text = text.replace("[migrations]", RELEASE[0]) + RELEASE[1]
    project.write_text(text)
    inv = make_inventory(tmp_path / "inv", text=(STATE / "ledger.toml").read_text(),
                         **{PROJECT: f'project = "{project}"',
                            'installer = "poetry"': f'installer = "{installer}"'})
    return Fab(home, inv)


def git(*args, repo=APP):
    # the trees belong to deploy: git refuses them to another user unless told they are safe
    return subprocess.run(["git", "-c", "safe.directory=*", "-C", repo, *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def tag(name):
    return git("rev-parse", f"{name}^{{commit}}", repo=ORIGIN)


def rows(conn, sql):
    return conn.execute(sql).fetchall()
