"""The package's layers: each module imports only its own layer and the ones below, and no
module imports itself back through others (a cycle). Read from the source with `ast`, so an
import inside a function counts too."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "runbook"
LAYERS = ["engine", "host", "postgres", "django", "ops", "runbooks", "tasks"]   # bottom first


def module_name(path, root=PKG):
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path, root=PKG):
    """The runbook modules `path` imports (absolute names), wherever the import stands."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "runbook"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "runbook":
                continue
            for a in node.names:   # `from runbook.ops import backup` imports runbook.ops.backup
                sub = f"{mod}.{a.name}"
                out.add(sub if (root.parent / (sub.replace(".", "/") + ".py")).exists() else mod)
    return out - {me}


def layer(mod):
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else None


GRAPH = {module_name(p): imports(p) for p in sorted(PKG.rglob("*.py"))
         if "scripts" not in p.parts}


def test_every_module_is_in_a_layer():
    assert {layer(m) for m in GRAPH} - {None} == set(LAYERS)


@pytest.mark.parametrize("mod", sorted(m for m in GRAPH if layer(m)))
def test_no_upward_import(mod):
    up = upward(mod, GRAPH[mod])
    assert not up, f"{mod} ({layer(mod)}) imports a layer above it: {up}"


def test_no_import_cycle():
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(GRAPH.get(m, ())):
            if d in GRAPH and state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d in GRAPH and d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def upward(mod, deps):
    mine = LAYERS.index(layer(mod))
    return sorted(d for d in deps if layer(d) and LAYERS.index(layer(d)) > mine)


@pytest.mark.parametrize("source, found", [
    ("from ..tasks import deploy", ["runbook.tasks.deploy"]),
    ("def f():\n    from runbook.ops.backup import create", ["runbook.ops.backup"]),
    ("import runbook.runbooks.plan", ["runbook.runbooks.plan"]),
    ("from . import journal", []),
    ("from runbook.engine.errors import DeployError", []),
])
def test_the_walk_finds_upward_imports_anywhere(tmp_path, source, found):
    root = tmp_path / "runbook"
    for d in ("engine", "ops", "runbooks", "tasks"):
        (root / d).mkdir(parents=True)
    for f in ("tasks/deploy.py", "ops/backup.py", "engine/journal.py", "engine/errors.py"):
        (root / f).write_text("")
    mod = root / "engine" / "lock.py"
    mod.write_text(source + "\n")
    assert upward("runbook.engine.lock", imports(mod, root)) == found
