"""The machinery that builds the course: what a learner may use but need not read.

The learner-facing helpers live one level up (``rerank_lab.device``, ``encode``, ``search``,
``metrics``, ``models``, ``data``, ``notebook``, ``exercises``). This subpackage holds what
makes the two worlds and the long runs possible: the offline corpus and its downloads, the
reranker the course trains, the SPECTER2 and Augmented SBERT experiments, the fast int8 path
and its workers, the scaling helpers of notebook 07, the benchmark, and the settings and files
they share. Modules load on first use, like the package above.
"""

from __future__ import annotations

from rerank_lab import lazy_submodules

_SUBMODULES = (
    "settings",
    "files",
    "artefacts",
    "world",
    "hub",
    "standins",
    "downloads",
    "pubmed",
    "lee",
    "collection",
    "embedding_cache",
    "fast_encode",
    "onnx_workers",
    "reranker",
    "leaderboard",
    "specter",
    "augmented_sbert",
    "scaling",
    "cluster",
    "figures",
    "records",
    "timings",
    "bench",
    "bench_parallel",
    "publish",
)

__all__ = list(_SUBMODULES)

__getattr__, __dir__ = lazy_submodules(__name__, _SUBMODULES)
