"""The package's shape: layers that import one way, no import circle, no private name used
across modules, and an `import svlab` that loads no heavy library. Read from the source with
`ast`, function-level imports included, so a circle cannot hide inside a function."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "svlab"

# Lowest first. A module may import modules of its own layer and of the layers below it.
LAYERS = [
    ("ground", ("svlab.errors", "svlab.config", "svlab.records", "svlab.manifest",
                "svlab.bounded", "svlab.text_caps", "svlab.overlap", "svlab.csv_cells",
                "svlab.manifest_check")),
    ("media", ("svlab.processor", "svlab.fallback", "svlab.outputs")),
    ("models", ("svlab.models",)),
    ("memory", ("svlab.memory",)),
    ("run", ("svlab.run", "svlab.distributed")),
    ("render", ("svlab.eval", "svlab.storyboards", "svlab.service")),
    ("work", ("svlab.tasks", "svlab.sweep")),
    ("face", ("svlab.cli", "svlab.ui", "svlab.display", "svlab.reports", "svlab.report_html",
              "svlab.figures", "svlab")),
]
HEAVY = ("torch", "diffusers", "transformers", "cv2", "ipywidgets", "matplotlib", "fastapi",
         "pandas", "skimage", "papermill", "ray")
# Where a function may import svlab's own modules: the command handlers, so that `svlab
# --help` builds its parser without importing what the commands run.
LAZY_ALLOWED = ("svlab.cli",)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The index of the most specific layer prefix that names `module`."""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "svlab" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best[0]


def imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(imported svlab module, names taken from it, inside a function or TYPE_CHECKING?)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, nested: bool):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                if base == "svlab" or base.startswith("svlab."):
                    names = [a.name for a in child.names]
                    submodules = [f"{base}.{n}" for n in names if _is_module(f"{base}.{n}")]
                    found.append((base, names, inner))
                    found.extend((m, [], inner) for m in submodules)
            elif isinstance(child, ast.Import):
                found.extend((a.name, [], inner) for a in child.names
                             if a.name == "svlab" or a.name.startswith("svlab."))
            visit(child, inner)

    visit(tree, False)
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").is_file() or \
        (PACKAGE.parent / relative / "__init__.py").is_file()


SOURCES = sorted(PACKAGE.rglob("*.py"))
GRAPH = {module_name(p): imports(p) for p in SOURCES}


def test_every_module_is_in_a_layer():
    for module in GRAPH:
        layer_of(module)


def test_layers_import_only_downwards():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
        f"({LAYERS[layer_of(target)][0]})"
        for module, found in GRAPH.items() for target, _, _ in found
        if module != "svlab" and layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_import_circles():
    edges = {m: {t for t, _, _ in found if t in GRAPH and t != m} for m, found in GRAPH.items()}
    # a package's __init__ re-exporting its own modules is not a circle of the package
    for module in edges:
        edges[module] = {t for t in edges[module] if not module.startswith(t + ".")}
    assert _circles(edges) == []


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            connect(v)
    return found


def test_no_private_name_crosses_a_module_boundary():
    private = [f"{module} imports {name} from {target}"
               for module, found in GRAPH.items() for target, names, _ in found
               for name in names if name.startswith("_") and not name.startswith("__")]
    assert private == []


def test_svlab_modules_are_imported_at_the_top():
    """Function-level imports hid two circles once; only the command handlers (and the lazy
    public API's TYPE_CHECKING block) import svlab modules inside."""
    nested = [f"{module} imports {target} inside a function"
              for module, found in GRAPH.items() for target, _, inner in found
              if inner and module != "svlab" and not module.startswith(LAZY_ALLOWED)]
    assert nested == []


@pytest.mark.parametrize("code", [
    "import svlab",
    "import svlab; svlab.__version__; dir(svlab)",
    "from svlab.cli import build_parser; build_parser()",
])
def test_import_and_help_load_no_heavy_library(code):
    probe = (f"import sys; {code}; "
             f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == ""


def test_the_lazy_api_resolves_every_name():
    import svlab

    for name in svlab.__all__:
        assert getattr(svlab, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        svlab.nope
