from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "hosts.example.toml"


@pytest.fixture
def example_text():
    return EXAMPLE.read_text()


@pytest.fixture
def write_inventory(tmp_path):
    def write(text, env=None):
        p = tmp_path / "hosts.toml"
        p.write_text(text)
        if env is not None:
            (tmp_path / ".env").write_text(env)
        return p
    return write
