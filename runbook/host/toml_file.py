"""Reading a config file of ours (hosts.toml, deploy.toml): parsed, or one line naming the file."""
import tomllib
from pathlib import Path

from runbook.engine.errors import ConfigError


def read(path: Path, missing: str) -> dict:
    """The parsed TOML of `path`; a missing file is a ConfigError saying `missing` (the fix), a
    malformed one names the line to fix."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: {missing}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML ({e}); fix the syntax at that line") from None
