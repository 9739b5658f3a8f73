"""The package's two layers: what a learner reads, and the machinery that builds the course.

``rerank_lab.*`` holds the helpers a learner calls and may read (device, models, data, encode,
search, metrics, notebook set-up, argument checks, the exercise checkers); ``rerank_lab.course``
holds the machinery. The learner layer reaches the machinery only through the doors listed in
``DOORS``, each for a stated reason: a new import across the layers fails here until it is
argued for. No module may import another that imports it back, directly or through others
(imports inside functions count too: they are how cycles hide).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rerank_lab"

#: Every import from the learner layer into the machinery, and why it is there.
DOORS: dict[tuple[str, str], str] = {
    ("models", "course.world"): "model loading picks the online or the offline model",
    ("models", "course.offline_models"): "where the packaged MiniLM and the course reranker live",
    ("models", "course.fast_encode"): "a CPU load picks the int8 ONNX twin",
    ("models", "course.reranker"): "the small reranker is trained on first use at the small scale",
    ("models", "course.settings"): "which scale runs",
    ("encode", "course.embedding_cache"): "the per-text cache's internals",
    ("data", "course.settings"): "where data/ is",
    ("notebook", "course.settings"): "set-up reports the scale and the cache folder",
    ("notebook", "course.world"): "set-up says which world runs, out loud",
    ("exercises.comparing_models", "course.leaderboard"): "04.6 checks on the leaderboard's grid",
    ("exercises.scaling_up", "course.cluster"): "07.6 runs the learner's class on a local cluster",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Each module (named without ``rerank_lab.``) and the package modules it imports."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package[: len(package) - (node.level - 1)]
                    base = ".".join([*parent, base] if base else parent)
                elif base == "rerank_lab" or base.startswith("rerank_lab."):
                    base = base.removeprefix("rerank_lab").removeprefix(".")
                else:
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}" if base else alias.name
                    found.add(full if full in paths else base)
            elif isinstance(node, ast.Import):
                found |= {
                    alias.name.removeprefix("rerank_lab.")
                    for alias in node.names
                    if alias.name.startswith("rerank_lab.")
                }
        # A package's own __init__ (and the root, "") is where submodules live, not a dependency.
        graph[name] = {dep for dep in found if dep in paths and not name.startswith(dep)} - {name}
    return graph


def _is_machinery(name: str) -> bool:
    return name == "course" or name.startswith("course.")


def test_the_learner_layer_reaches_the_machinery_only_through_its_doors() -> None:
    crossings = {
        (module, dep)
        for module, deps in _imports().items()
        if not _is_machinery(module) and module
        for dep in deps
        if _is_machinery(dep)
    }
    assert crossings == set(DOORS), (
        f"new crossings: {sorted(crossings - set(DOORS))}; "
        f"listed but gone: {sorted(set(DOORS) - crossings)}"
    )


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = _imports()
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                cycle = [*path[path.index(dep) :], dep]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_learner_layer_is_short_enough_to_read() -> None:
    """The helpers a learner reads, without the checkers, stay near 2,500 lines (issue #19)."""
    learner = [
        path
        for path in PACKAGE.glob("*.py")
        if path.name != "__init__.py" or path.parent == PACKAGE
    ]
    lines = sum(len(path.read_text(encoding="utf-8").splitlines()) for path in learner)
    assert lines <= 2500, f"the learner layer has {lines} lines"


def test_every_learner_module_says_what_it_exports() -> None:
    for path in PACKAGE.glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assigned = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert "__all__" in assigned, f"{path.name} has no __all__"
        assert ast.get_docstring(tree), f"{path.name} has no docstring"


def test_every_import_of_a_package_name_resolves() -> None:
    """Imports inside functions run only when the function does: check each name exists now."""
    import importlib
    import importlib.util

    missing = []
    for path in [*PACKAGE.rglob("*.py"), *PACKAGE.parents[1].joinpath("tests").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rerank_lab"):
                module = importlib.import_module(node.module)  # type: ignore[arg-type]
                missing += [
                    f"{path.name}: {node.module}.{alias.name}"
                    for alias in node.names
                    if not hasattr(module, alias.name)
                    and not (
                        hasattr(module, "__path__")
                        and importlib.util.find_spec(f"{node.module}.{alias.name}")
                    )
                ]
    assert not missing, missing
