"""Fixtures every test gets (tests/conftest.py registers this module as a plugin)."""
from pathlib import Path

import pytest

from .host import FakeHost
from .sites import secret_site

ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture
def site(tmp_path):
    """A real Site `web` (MINIMAL with a bypass secret) from a temp hosts.toml."""
    return secret_site(tmp_path)


@pytest.fixture
def c(site):
    """The fake host on `site`."""
    return FakeHost(site)
