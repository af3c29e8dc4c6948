"""Sizes a reader can hold in mind: no module of the package over 400 lines, no function over 60.
Measured with `ast` (a function's lines run from its `def` to its last statement). Scripts run on
the host (runbook/*/scripts/) are not counted."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "runbook"
MAX_MODULE = 400
MAX_FUNCTION = 60
MODULES = sorted(p for p in PKG.rglob("*.py") if "scripts" not in p.relative_to(PKG).parts)


def oversize(source, name):
    """Lines naming each part of `source` over its limit: the module, then each function."""
    out = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE:
        out.append(f"{name}: {lines} lines (max {MAX_MODULE})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            size = node.end_lineno - node.lineno + 1
            if size > MAX_FUNCTION:
                out.append(f"{name}:{node.lineno} {node.name}: {size} lines (max {MAX_FUNCTION})")
    return out


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG.parent)))
def test_module_and_its_functions_are_small(path):
    problems = oversize(path.read_text(), str(path.relative_to(PKG.parent)))
    assert not problems, "split by meaning: " + "; ".join(problems)


def body(n):
    return "".join(f"    x{i} = {i}\n" for i in range(n))


@pytest.mark.parametrize("source, found", [
    ("def f():\n" + body(59), []),
    ("def f():\n" + body(60), ["m.py:1 f: 61 lines (max 60)"]),
    ("class C:\n    async def g(self):\n" + body(60).replace("    ", "        "),
     ["m.py:2 g: 61 lines (max 60)"]),
    ("def outer():\n    def inner():\n" + body(60).replace("    ", "        "),
     ["m.py:1 outer: 62 lines (max 60)", "m.py:2 inner: 61 lines (max 60)"]),
    ("x = 1\n" * 400, []),
    ("x = 1\n" * 401, ["m.py: 401 lines (max 400)"]),
])
def test_the_measure_names_each_offender_with_its_size(source, found):
    assert sorted(oversize(source, "m.py")) == sorted(found)


def test_every_package_module_is_measured():
    names = {p.relative_to(PKG).as_posix() for p in MODULES}
    assert {"engine/runner.py", "host/inventory.py", "postgres/compose_upgrade.py"} <= names
    assert not any("/scripts/" in n for n in names)
