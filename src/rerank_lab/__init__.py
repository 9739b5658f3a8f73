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


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'rerank_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
