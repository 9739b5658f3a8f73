"""Helper package of the Retrieve & Rerank Lab course.

Notebooks import it as ``import rerank_lab as rl`` and reach each helper through the module
named for its job: ``rl.device``, ``rl.models``, ``rl.encode``, ``rl.search``, ``rl.metrics``,
``rl.data``, ``rl.notebook`` and ``rl.exercises`` are the helpers a learner calls and may read.
``rl.course`` holds the machinery that builds the course (offline data, training, experiments,
the fast path, the benchmark). Submodules are imported on first use so that
``import rerank_lab`` stays instant: torch and sentence-transformers are only loaded by the
modules that need them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = (
    "device",
    "models",
    "data",
    "encode",
    "search",
    "metrics",
    "notebook",
    "exercises",
    "course",
)

__all__ = ["__version__", *_SUBMODULES]


def lazy_submodules(
    package: str, names: tuple[str, ...]
) -> tuple[Callable[[str], ModuleType], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` that import its submodules ``names`` on first
    use (and keep them as attributes), so that importing the package itself stays instant."""
    namespace = importlib.import_module(package).__dict__

    def getattr_(name: str) -> ModuleType:
        if name in names:
            module = importlib.import_module(f"{package}.{name}")
            namespace[name] = module
            return module
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(namespace.get("__all__", names))

    return getattr_, dir_


__getattr__, __dir__ = lazy_submodules(__name__, _SUBMODULES)
