"""The package's layers point one way: no import circle (function-level imports included), the library
never imports the command line, and no module uses another's private names. `python -m pytest
tests/test_layers.py` is the command that shows it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "streamlid"
# the command-line layer: argparse, printing, exit codes; nothing below it imports these
COMMAND_LINE = {"cli", "options", "serve_command", "__main__"}
# the sans-I/O core and what it needs: no torch, no sockets, no devices
CORE = {"stream", "audio", "vad", "smoothing", "events", "protocol", "languages", "checkpoint"}


def modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.glob("*.py"))}


def imports(tree: ast.Module) -> set[str]:
    """The package's modules `tree` imports, anywhere in it (inside functions too)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                out |= {node.module} if node.module else {a.name for a in node.names}
            elif node.module and node.module.startswith("streamlid."):
                out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("streamlid.")}
    return {m.split(".")[0] for m in out}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])):
            return found
    return None


def test_no_import_circle():
    graph = {name: imports(tree) for name, tree in modules().items()}
    assert cycle(graph) is None, " -> ".join(cycle(graph))
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check itself finds one


def test_the_library_never_imports_the_command_line():
    for name, tree in modules().items():
        if name not in COMMAND_LINE:
            assert not imports(tree) & COMMAND_LINE, f"{name} imports {imports(tree) & COMMAND_LINE}"


def test_the_core_imports_only_the_core():
    for name in CORE:
        assert imports(modules()[name]) <= CORE, f"{name} imports {imports(modules()[name]) - CORE}"


def test_no_module_uses_another_modules_private_names():
    trees = modules()
    private: dict[str, set[str]] = {}
    for name, tree in trees.items():
        defined = {
            n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
        defined |= {
            t.attr
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Attribute)
        }
        defined |= {
            t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
        }
        private[name] = {d for d in defined if d.startswith("_") and not d.startswith("__")}
    for name, tree in trees.items():
        others = set().union(*(p for m, p in private.items() if m != name)) - private[name]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level == 1 or (node.module or "").startswith("streamlid")):
                bad = [a.name for a in node.names if a.name.startswith("_")]
                assert not bad, f"{name} imports private {bad} from {node.module}"
            if isinstance(node, ast.Attribute) and node.attr in others:
                owner = node.value.id if isinstance(node.value, ast.Name) else ast.unparse(node.value)
                assert owner in ("self", "cls"), f"{name}:{node.lineno} reaches into {owner}.{node.attr}"


def test_the_public_api_loads_lazily():
    code = "import sys, streamlid; print('torch' in sys.modules, 'numpy' in sys.modules, sorted(streamlid.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 2)
    assert out[:2] == ["False", "False"]
    assert "'identify'" in out[2] and "'LanguageStream'" in out[2] and "'load_model'" in out[2]
