"""The tests' own layout: no test module imports another test module or a conftest (what they
share lives in tests/support/, which pytest gets through tests/conftest.py), and the one fake
host is tests/support's: no class named Fake* anywhere else."""
import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = TESTS / "support"


def imported_modules(tree):
    """The last part of each module name an import statement names (`from . import x` gives x)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.rsplit(".", 1)[-1] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                yield node.module.rsplit(".", 1)[-1]
            if not node.module or node.module in ("tests", "tests.unit", "tests.integration"):
                yield from (alias.name for alias in node.names)   # `from . import test_x`


def problems(relpath, source):
    """What is wrong with one module of tests/, as lines naming the file and the fix."""
    tree = ast.parse(source, filename=str(relpath))
    out = [f"{relpath} imports {name}: move what it shares to tests/support/"
           for name in sorted(set(imported_modules(tree)))
           if name.startswith("test_") or name == "conftest"]
    if relpath.parts[0] != "support":
        out += [f"{relpath}:{node.lineno} defines {node.name}: the fake host is "
                "tests/support/host.py's FakeHost (subclass it, or name the class for what it does)"
                for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                and node.name.startswith("Fake")]
    return out


CASES = [
    # path under tests/, source, the problems found
    ("unit/test_a.py", "from .test_commands import make_site\n",
     ["unit/test_a.py imports test_commands: move what it shares to tests/support/"]),
    ("integration/test_a.py", "from .conftest import Fab\n",
     ["integration/test_a.py imports conftest: move what it shares to tests/support/"]),
    ("unit/test_a.py", "from . import test_runner\n",
     ["unit/test_a.py imports test_runner: move what it shares to tests/support/"]),
    ("unit/test_a.py", "def f():\n    import tests.integration.test_ledger\n",
     ["unit/test_a.py imports test_ledger: move what it shares to tests/support/"]),
    ("unit/test_a.py", "from tests.integration import conftest\n",
     ["unit/test_a.py imports conftest: move what it shares to tests/support/"]),
    ("unit/test_a.py", "class FakeConnection:\n    pass\n",
     ["unit/test_a.py:1 defines FakeConnection: the fake host is tests/support/host.py's FakeHost "
      "(subclass it, or name the class for what it does)"]),
    ("support/host.py", "class FakeHost:\n    pass\n", []),
    ("unit/test_a.py", "from tests.support.host import FakeHost\n\n\nclass Host(FakeHost):\n    pass\n",
     []),
    ("unit/test_a.py", "import pytest\nfrom runbook.engine import output\n", []),
    ("integration/test_a.py", "from tests.support.sandbox import Fab, make_inventory\n", []),
]


@pytest.mark.parametrize("relpath, source, expected", CASES)
def test_problems_are_found(relpath, source, expected):
    assert problems(Path(relpath), source) == expected


def test_no_test_module_imports_another_and_the_fake_host_is_in_support():
    found = [p for path in sorted(TESTS.rglob("*.py")) if "__pycache__" not in path.parts
             for p in problems(path.relative_to(TESTS), path.read_text())]
    assert found == []
    assert (SUPPORT / "host.py").exists() and (SUPPORT / "__init__.py").exists()
