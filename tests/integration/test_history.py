"""deploy.history and deploy.show against the sandbox: the runs, read back from the host's journal."""
import re


def test_history_lists_runs_and_show_prints_one(sfab):
    ok = sfab("-H", "sandbox", "backup.create", "--no-json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = sfab("-H", "sandbox", "deploy.consolidate", "--no-json", "--ref", "v9-nowhere")
    assert bad.returncode == 1
    ok_id = re.search(r"\(run (\S+)\)", ok.stdout).group(1)
    bad_id = re.search(r"\(run (\S+)\)", bad.stdout).group(1)

    r = sfab("-H", "sandbox", "deploy.history")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {line.split()[1]: line for line in r.stdout.splitlines()[2:]}
    assert "backup.create" in rows[ok_id] and " ok " in rows[ok_id] and ok_id in rows[ok_id].split()[-1]
    assert "deploy.consolidate" in rows[bad_id] and "failed at preflight" in rows[bad_id]

    r = sfab("-H", "sandbox", "deploy.show", "--run", bad_id)
    assert r.returncode == 0, r.stdout + r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith(f"run {bad_id}: deploy.consolidate ") and "--ref=v9-nowhere" in first
    assert "--no-json" in first
    assert "stopped at preflight: ref 'v9-nowhere' does not exist" in r.stdout
    # a script is journaled with its commands (masked)
    assert re.search(r"\[preflight\] exit 0 [^\n]*\$ [^\n]*RB_APP_DIR=/srv/recorder/app [^\n]*bash -s\b"
                     r"[^\n]*\n(?:      \|[^\n]*\n)*?      \| git -C \"\$app\" fetch", r.stdout), r.stdout

    r = sfab("-H", "sandbox", "deploy.show", "--run", "20990101-000000-beef")
    assert r.returncode == 1 and "no run 20990101-000000-beef in sandbox's journal" in r.stderr
    r = sfab("-H", "sandbox", "deploy.show", "--run", "../x")
    assert r.returncode == 2 and "is not a run id" in r.stderr
