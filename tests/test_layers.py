"""The package's layers point one way. Each module lives in a subpackage named for its concern (core, model,
io, serving, training, evaluation, cli); no import circle (function-level imports included); nothing outside
the command line imports it; the core needs nothing but itself (no torch); the model needs no I/O, serving,
training or evaluation; serving needs no training or evaluation; and no module uses another's private
names. Each rule's checker is tried on a synthetic case too, so a rule that can no longer fail shows.
`python -m pytest tests/test_layers.py` is the command that shows it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "streamlid"
LAYERS = ("core", "model", "io", "serving", "training", "evaluation", "cli")
# what each layer must not import (the command line is forbidden to all of them: see NO_CLI)
FORBIDDEN = {
    # the sans-I/O core: no torch, no sockets, no devices; it runs on any Scorer
    "core": {"model", "io", "serving", "training", "evaluation", "cli"},
    "model": {"io", "serving", "training", "evaluation", "cli"},
    "io": {"serving", "training", "evaluation", "cli"},
    "serving": {"training", "evaluation", "cli"},
    "training": {"cli"},
    "evaluation": {"cli"},
}
NO_TORCH = {"core"}  # layers that load without torch (the event schema, the stream, the audio path)
TOP_LEVEL = {"__init__", "__main__"}  # the lazy public API and `python -m streamlid`


def layer(module: str) -> str:
    return module.split(".")[0]


def modules(root: Path = PACKAGE) -> dict[str, tuple[ast.Module, bool]]:
    """Dotted names under the package (`core.stream`; a subpackage's __init__ is `core`; the package's own
    `__init__`) -> (syntax tree, whether it is a package's __init__)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        if is_package and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = (ast.parse(path.read_text(encoding="utf-8")), is_package)
    return out


def imports(name: str, tree: ast.Module, is_package: bool, known: set[str]) -> set[str]:
    """The package's modules that module `name` imports, anywhere in it (inside functions too), resolving
    relative imports; also a string naming one (`"streamlid.training.train"` for importlib)."""
    package = [] if name in TOP_LEVEL else name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                module = base + (node.module.split(".") if node.module else [])
            elif (node.module or "").split(".")[0] == "streamlid":
                module = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:  # `from ..model import checkpoint` imports the module model.checkpoint
                targets.append(module + [alias.name] if ".".join(module + [alias.name]) in known else module)
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "streamlid"]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("streamlid."):
            named = node.value[len("streamlid.") :]  # a module, not a package (nor a logger's name)
            targets = [named.split(".")] if "." in named and named in known else []
        out |= {".".join(t) if t else "__init__" for t in targets}
    return out - {name}


def third_party(tree: ast.Module) -> set[str]:
    """Top-level names of what `tree` imports from outside the package, anywhere in it."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out - {"streamlid"}


def graph(trees: dict[str, tuple[ast.Module, bool]]) -> dict[str, set[str]]:
    return {name: imports(name, tree, is_package, set(trees)) for name, (tree, is_package) in trees.items()}


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


def breaches(graph: dict[str, set[str]], forbidden: dict[str, set[str]]) -> list[str]:
    """`a imports b` for every import of a layer that `forbidden` rules out."""
    return [
        f"{name} imports {other}"
        for name, imported in sorted(graph.items())
        for other in sorted(imported)
        if layer(other) in forbidden.get(layer(name), ())
    ]


def command_line_users(graph: dict[str, set[str]]) -> list[str]:
    """Modules outside the command line (and `python -m streamlid`) that import it."""
    return [
        f"{name} imports {other}"
        for name, imported in sorted(graph.items())
        if layer(name) != "cli" and name != "__main__"
        for other in sorted(imported)
        if layer(other) == "cli"
    ]


def private_reaches(trees: dict[str, ast.Module]) -> list[str]:
    """Uses of a name with a leading underscore that another module defines: imported, or an attribute."""
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
    found = []
    for name, tree in trees.items():
        others = set().union(*(p for m, p in private.items() if m != name)) - private[name]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("streamlid")):
                bad = [a.name for a in node.names if a.name.startswith("_")]
                if bad:
                    found.append(f"{name} imports private {bad} from {node.module}")
            if isinstance(node, ast.Attribute) and node.attr in others:
                owner = node.value.id if isinstance(node.value, ast.Name) else ast.unparse(node.value)
                if owner not in ("self", "cls"):
                    found.append(f"{name}:{node.lineno} reaches into {owner}.{node.attr}")
    return found


def synthetic(**sources: str) -> dict[str, tuple[ast.Module, bool]]:
    """A made-up package for trying the checkers: dotted name -> source (a name ending in .__init__ is a package)."""
    return {
        name.removesuffix(".__init__"): (ast.parse(source), name.endswith(".__init__"))
        for name, source in sources.items()
    }


def test_every_module_lives_in_a_layer():
    names = set(modules())
    assert {n for n in names if "." not in n} == TOP_LEVEL | set(LAYERS), "a module outside the subpackages"
    assert all(layer(n) in LAYERS for n in names - TOP_LEVEL)


def test_imports_are_resolved_wherever_they_are():
    pkg = synthetic(
        **{
            "core.__init__": "",
            "core.stream": "from .audio import x\nfrom ..model import checkpoint\ndef f():\n    from ..io.sinks import y",
            "core.audio": "import streamlid.model.classifier\nM = 'streamlid.training.train'",
            "model.checkpoint": "",
            "model.classifier": "",
            "io.sinks": "",
            "training.train": "",
        }
    )
    g = graph(pkg)
    assert g["core.stream"] == {"core.audio", "model.checkpoint", "io.sinks"}  # the last one inside a function
    assert g["core.audio"] == {"model.classifier", "training.train"}


def test_no_import_circle():
    g = graph(modules())
    assert cycle(g) is None, " -> ".join(cycle(g))
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check itself finds one
    made_up = synthetic(**{"io.a": "def f():\n    from .b import g", "io.b": "from .a import f"})
    assert cycle(graph(made_up)) == ["io.a", "io.b", "io.a"]  # through a function-level import too


def test_nothing_outside_the_command_line_imports_it():
    assert command_line_users(graph(modules())) == []
    made_up = {"serving.server": {"cli.options"}, "cli.main": {"cli.options"}, "__main__": {"cli.main"}}
    assert command_line_users(made_up) == ["serving.server imports cli.options"]


def test_each_layer_imports_only_the_layers_below_it():
    assert breaches(graph(modules()), FORBIDDEN) == []
    made_up = {
        "core.stream": {"core.audio", "model.classifier"},
        "model.classifier": {"core.audio", "io.sinks"},
        "serving.server": {"model.classifier", "io.sinks", "evaluation.bench", "training.train"},
        "io.offline": {"model.classifier"},
        "evaluation.bench": {"training.manifest", "model.classifier"},
    }
    assert breaches(made_up, FORBIDDEN) == [
        "core.stream imports model.classifier",
        "model.classifier imports io.sinks",
        "serving.server imports evaluation.bench",
        "serving.server imports training.train",
    ]


def test_the_core_needs_no_torch():
    def torch_users(trees: dict[str, tuple[ast.Module, bool]]) -> list[str]:
        return [
            name
            for name, (tree, _) in sorted(trees.items())
            if layer(name) in NO_TORCH and "torch" in third_party(tree)
        ]

    assert torch_users(modules()) == []
    assert torch_users(synthetic(**{"core.vad": "def f():\n    import torch.nn", "model.m": "import torch"})) == [
        "core.vad"
    ]
    # nor the server: it takes any scorer that describes itself
    code = "import sys, streamlid.core.stream, streamlid.serving.server; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_no_module_uses_another_modules_private_names():
    assert private_reaches({name: tree for name, (tree, _) in modules().items()}) == []
    made_up = {
        "model.a": ast.parse("_cache = {}\ndef _helper(): pass\ndef f(self): return self._cache"),
        "io.b": ast.parse("from ..model.a import _helper\nfrom ..model import a\nx = a._cache"),
    }
    assert private_reaches(made_up) == ["io.b imports private ['_helper'] from model.a", "io.b:3 reaches into a._cache"]


def test_the_public_api_loads_lazily():
    code = "import sys, streamlid; print('torch' in sys.modules, 'numpy' in sys.modules, sorted(streamlid.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 2)
    assert out[:2] == ["False", "False"]
    assert "'identify'" in out[2] and "'LanguageStream'" in out[2] and "'load_model'" in out[2]
    import streamlid

    for name in streamlid.__all__:  # every name of it resolves in its new home
        assert getattr(streamlid, name) is not None
