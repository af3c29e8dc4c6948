"""The changed-host-key message: its removal command, run as printed, removes the right entry."""
import re
import subprocess

import pytest
from paramiko import ECDSAKey
from paramiko.ssh_exception import BadHostKeyException

from runbook.host import hostkeys


@pytest.mark.parametrize("port, entry", [(2222, "[127.0.0.1]:2222"), (22, "127.0.0.1")])
def test_changed_key_message_removes_the_stored_entry(tmp_path, port, entry):
    old, new = ECDSAKey.generate(), ECDSAKey.generate()
    kh = tmp_path / "known hosts"   # a space: the path must be quoted too
    other = f"[127.0.0.1]:2223 {old.get_name()} {old.get_base64()}\n"
    kh.write_text(f"{entry} {old.get_name()} {old.get_base64()}\n" + other)
    err = hostkeys.changed_key_error("web", BadHostKeyException("127.0.0.1", new, old), kh, port)
    assert err.code == 3 and "CHANGED" in err.text and "\n" not in err.text
    cmd = re.search(r"\((ssh-keygen -R [^)]*)\)", err.text).group(1)
    subprocess.run(cmd, shell=True, check=True, capture_output=True)
    assert kh.read_text() == other   # only this host's entry went
