"""Every import points down the layers, and no module imports itself back through others.

The layer order is written once, here (docs/architecture.md explains it). Imports are read from the source, not
run: `import x`, `from x import y` anywhere in a module (inside functions too) and `importlib.import_module("x")`
with a constant string. A module may import its own layer and those below; a cycle of modules is refused."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: bottom to top
LAYERS = (
    ("common",),
    ("data", "losses", "metrics", "tasks"),
    ("models",),
    ("training",),
    ("reproduce", "benchmarks"),
)
LAYER_OF = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def _module_name(path):
    relative = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    return ".".join(relative[:-1] if relative[-1] == "__init__" else relative)


def _is_module(name):
    path = os.path.join(ROOT, *name.split("."))
    return os.path.isfile(path + ".py") or os.path.isfile(os.path.join(path, "__init__.py"))


def _imports(path):
    """Library modules `path` imports (the most specific existing module of each import)."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    own = _module_name(path)
    package = own if path.endswith("__init__.py") else own.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(part for part in [*parent, base] if part)
            names = [f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        for name in names:
            while name and not _is_module(name):
                name = name.rpartition(".")[0]
            if name and name.split(".")[0] in LAYER_OF and name != own:
                found.add(name)
    return found


def _graph():
    graph = {}
    for package in LAYER_OF:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for file in files:
                if file.endswith(".py"):
                    path = os.path.join(folder, file)
                    graph[_module_name(path)] = _imports(path)
    return graph


def _layer(module):
    return LAYER_OF[module.split(".")[0]]


def test_every_import_points_down():
    graph = _graph()
    upward = {(module, target) for module, targets in graph.items() for target in targets
              if _layer(target) > _layer(module)}
    assert not upward, "imports from a higher layer (see LAYERS): " + ", ".join(
        f"{a} -> {b}" for a, b in sorted(upward))


def _cycles(graph):
    """Each strongly connected set of two or more modules (Tarjan), as a sorted tuple."""
    index, low, stack, on_stack, found = {}, {}, [], set(), set()

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_there_are_no_import_circles():
    cycles = _cycles(_graph())
    assert not cycles, "modules that import each other (directly or through others): " + "; ".join(
        " <-> ".join(cycle) for cycle in sorted(cycles))


def test_the_checker_sees_lazy_and_string_imports(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text("import importlib\n\ndef later():\n    from models import builders\n"
                      "    return importlib.import_module('reproduce.runner')\n")
    assert _imports(str(module)) >= {"models.builders", "reproduce.runner"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {("a", "b", "c")}
