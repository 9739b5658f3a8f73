"""The leaderboard: every retrieval system of the course on the judged PubMed collection.

``python -m rerank_lab.course.leaderboard --split dev|test [--scale small|full] [--json]``

Systems: ``bm25``, ``bi-encoder``, ``hybrid`` (BM25 and dense fused by reciprocal rank), and
each first stage re-ranked by the course's cross-encoder (``bi-encoder + cross-encoder``,
``hybrid + cross-encoder``). The corpus is chunked, the judgements are per abstract, so every
system ranks chunks and each abstract counts once, at the rank of its best chunk. A re-ranker
re-orders the first stage's top 25 *abstracts* (each represented by its best chunk) and leaves
the rest of the list as it was, so recall@25 is the first stage's: re-ranking can reorder what
was retrieved, never retrieve what was missed.

Each re-ranked system also reports ``delta_ndcg@10``: its nDCG@10 minus that of the first stage
it re-ranks, with a paired-bootstrap 95% interval over queries. ``ms_per_query`` counts what a
query costs once the corpus is indexed (query encoding, search, fusion, re-ranking); encoding the
corpus is a one-off cost and cached. The command line runs both models on plain torch (fp32 on a
CPU, fp16 on CUDA), never on the int8 ONNX fast path, so its numbers are the reference ones;
``--fast`` runs them as the notebooks do (int8 ONNX on a CPU) and reproduces notebook 04.

Re-rankers are scored in logits (``activation_fn=torch.nn.Identity()``), whatever activation
a model keeps by default, so that every model's scores mean the same in the blend below.

Each re-ranked system comes twice: the cross-encoder's order alone, and its scores
*interpolated* with the first stage's (``search.interpolate``, ``(interpolated)`` in the name):
a course-trained reranker sees only the pair in front of it, the first stage brings what it
learnt elsewhere, and the blend can beat both. The weight of each blend is chosen on the *dev*
split (:func:`tune_weights`, a grid of 0, 0.1, ..., 1 on macro nDCG@10); the command line tunes
on dev and then reports the test split with those weights (on ``--split dev`` the blend is
scored on the split it was tuned on, which the table says).

Notebook 04 imports :func:`run_leaderboard` rather than repeating any of this.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from rerank_lab import metrics, search
from rerank_lab.course import world
from rerank_lab.course.collection import FAMILIES, Collection, load_collection

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

__all__ = [
    "FIRST_STAGE_DEPTH",
    "RERANK_DEPTH",
    "WEIGHT_GRID",
    "SystemRun",
    "run_leaderboard",
    "to_records",
    "tune_weights",
]

FIRST_STAGE_DEPTH = 100
"""Chunks each first stage retrieves: enough for 25 distinct abstracts and recall@25."""

RERANK_DEPTH = 25
"""Abstracts a cross-encoder re-orders, as in the course sources (top_k 25)."""

KS = (1, 3, 5, 10, 25)

WEIGHT_GRID = tuple(round(0.1 * step, 1) for step in range(11))
"""Interpolation weights tried on dev: 0 is the first stage's order, 1 the cross-encoder's."""


@dataclass(frozen=True)
class SystemRun:
    """One system on one split: per-query metrics, cost, and what it re-ranks (if anything)."""

    name: str
    per_query: pd.DataFrame
    seconds: float
    reranks: str | None = None
    weight: float | None = None
    """Interpolation weight of a blended system (None: not blended)."""


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def _first_stages(
    collection: Collection,
    queries: Sequence[str],
    bi_encoder: SentenceTransformer,
    corpus_embeddings: Any,
    bm25: search.BM25Index,
) -> dict[str, tuple[list[list[search.Hit]], float]]:
    from rerank_lab.encode import encode

    depth = min(FIRST_STAGE_DEPTH, len(collection.chunks))

    def dense() -> list[list[search.Hit]]:
        query_embeddings = encode(bi_encoder, list(queries), cache=False, show_progress=False)
        return search.semantic_search(query_embeddings, corpus_embeddings, k=depth)

    dense_hits, dense_s = _timed(dense)
    bm25_hits, bm25_s = _timed(lambda: bm25.search(list(queries), k=depth))
    fused, fuse_s = _timed(
        lambda: [
            search.reciprocal_rank_fusion([lexical, semantic])[:depth]
            for lexical, semantic in zip(bm25_hits, dense_hits, strict=True)
        ]
    )
    return {
        "bm25": (bm25_hits, bm25_s),
        "bi-encoder": (dense_hits, dense_s),
        "hybrid": (fused, dense_s + bm25_s + fuse_s),
    }


@dataclass(frozen=True)
class _Reranked:
    """One first stage re-ranked: per query its top documents in both orders, and the rest."""

    first: list[list[search.Hit]]
    reranker: list[list[search.Hit]]
    rest: list[list[search.Hit]]

    def ranking(self, weight: float | None = None) -> list[list[search.Hit]]:
        """The re-ranked lists: the cross-encoder's order, or blended with ``weight``."""
        heads = (
            self.reranker
            if weight is None
            else [
                search.interpolate(first, reranker, weight)
                for first, reranker in zip(self.first, self.reranker, strict=True)
            ]
        )
        return [head + rest for head, rest in zip(heads, self.rest, strict=True)]


def _rerank_all(
    cross_encoder: CrossEncoder,
    queries: Sequence[str],
    hits_per_query: Sequence[Sequence[search.Hit]],
    texts: Sequence[str],
    doc_ids: Sequence[str],
) -> _Reranked:
    import torch

    # Logits for every model, as the notebooks show them: bge-reranker-base's own default is a
    # Sigmoid, and the blend min-max scales scores, which a Sigmoid would bend.
    logits = torch.nn.Identity()
    first, reranker, rest = [], [], []
    for query, hits in zip(queries, hits_per_query, strict=True):
        documents = search.best_chunk_per_document(hits, doc_ids)
        first.append(documents[:RERANK_DEPTH])
        reranker.append(
            search.rerank(
                cross_encoder, query, documents[:RERANK_DEPTH], texts, activation_fn=logits
            )
        )
        rest.append(documents[RERANK_DEPTH:])
    return _Reranked(first, reranker, rest)


def run_leaderboard(
    collection: Collection,
    split: str,
    bi_encoder: SentenceTransformer,
    cross_encoder: CrossEncoder | None,
    *,
    rerank: Sequence[str] = ("bi-encoder", "hybrid"),
    weights: Mapping[str, float] | None = None,
    show_progress: bool = True,
) -> list[SystemRun]:
    """Run every system on ``split`` of ``collection`` and score each query.

    ``rerank`` names the first stages the cross-encoder re-ranks; ``cross_encoder=None`` runs
    the first stages only (e.g. before a reranker exists). ``weights`` maps a first stage to
    the interpolation weight of its blended system (tuned on dev by :func:`tune_weights`);
    first stages it leaves out get no blended system.
    """
    from rerank_lab.encode import encode

    judged = collection.judged(split)  # type: ignore[arg-type]
    texts = judged.passages["text"].tolist()
    doc_ids = judged.doc_ids
    query_ids = judged.queries["id"].tolist()
    query_texts = judged.queries["text"].tolist()
    corpus_embeddings = encode(bi_encoder, texts, show_progress=show_progress)
    bm25 = search.BM25Index(texts)

    def score(hits: list[list[search.Hit]]) -> pd.DataFrame:
        run = search.hits_to_run(query_ids, hits, doc_ids)
        return metrics.evaluate(run, judged.qrels, ks=KS)

    runs = []
    stages = _first_stages(collection, query_texts, bi_encoder, corpus_embeddings, bm25)
    for name, (hits, seconds) in stages.items():
        runs.append(SystemRun(name, score(hits), seconds))
    if cross_encoder is not None:
        for first in rerank:
            hits, first_seconds = stages[first]
            reranked, seconds = _timed(
                lambda hits=hits: _rerank_all(cross_encoder, query_texts, hits, texts, doc_ids)
            )
            name, cost = f"{first} + cross-encoder", first_seconds + seconds
            runs.append(SystemRun(name, score(reranked.ranking()), cost, first))
            if weights is not None and first in weights:
                blended = score(reranked.ranking(weights[first]))
                runs.append(
                    SystemRun(f"{name} (interpolated)", blended, cost, first, weights[first])
                )
    return runs


def tune_weights(
    collection: Collection,
    bi_encoder: SentenceTransformer,
    cross_encoder: CrossEncoder,
    *,
    split: str = "dev",
    rerank: Sequence[str] = ("bi-encoder", "hybrid"),
    show_progress: bool = True,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Choose each first stage's interpolation weight on ``split`` (dev): the best macro nDCG@10.

    The cross-encoder scores each query's top documents once; every weight of
    :data:`WEIGHT_GRID` then only re-sorts them. Returns the chosen weights and the whole curve
    (one row per first stage and weight: macro nDCG@10 over the families), for a plot. Ties go
    to the smaller weight, the one that trusts the first stage more.
    """
    from rerank_lab.encode import encode

    if split == "test":
        raise ValueError("Tune weights on the dev split; the test split is for reporting only.")
    judged = collection.judged(split)  # type: ignore[arg-type]
    texts = judged.passages["text"].tolist()
    doc_ids = judged.doc_ids
    queries = collection.select(split)  # type: ignore[arg-type]
    family_of = dict(zip(queries["id"], queries["family"], strict=True))
    query_ids = judged.queries["id"].tolist()
    query_texts = judged.queries["text"].tolist()
    corpus_embeddings = encode(bi_encoder, texts, show_progress=show_progress)
    stages = _first_stages(
        collection, query_texts, bi_encoder, corpus_embeddings, search.BM25Index(texts)
    )
    rows = []
    for first in rerank:
        reranked = _rerank_all(cross_encoder, query_texts, stages[first][0], texts, doc_ids)
        for weight in WEIGHT_GRID:
            run = search.hits_to_run(query_ids, reranked.ranking(weight), doc_ids)
            ndcg = metrics.evaluate(run, judged.qrels, ks=(10,))["ndcg@10"]
            by_family = ndcg.groupby(ndcg.index.map(family_of)).mean()
            rows.append({"first_stage": first, "weight": weight, "ndcg@10": by_family.mean()})
    curve = pd.DataFrame(rows)
    chosen = {
        first: float(group.loc[group["ndcg@10"].idxmax(), "weight"])
        for first, group in curve.groupby("first_stage", sort=False)
    }
    return chosen, curve


def to_records(
    runs: Sequence[SystemRun], collection: Collection, split: str
) -> list[dict[str, Any]]:
    """One record per system and family (and ``all``: the mean over the family means)."""
    queries = collection.select(split)  # type: ignore[arg-type]
    family_of = dict(zip(queries["id"], queries["family"], strict=True))
    by_name = {run.name: run for run in runs}
    records = []
    for run in runs:
        table = run.per_query
        families = [f for f in FAMILIES if any(family_of[q] == f for q in table.index)]
        for family in [*families, "all"]:
            rows = (
                table if family == "all" else table[[family_of[q] == family for q in table.index]]
            )
            if family == "all":  # macro average: each family weighs the same
                means = pd.DataFrame(
                    [table[[family_of[q] == f for q in table.index]].mean() for f in families]
                ).mean()
            else:
                means = rows.mean()
            record: dict[str, Any] = {
                "system": run.name,
                "family": family,
                "ndcg@10": round(float(means["ndcg@10"]), 4),
                "mrr@10": round(float(means["mrr@10"]), 4),
                "recall@25": round(float(means["recall@25"]), 4),
                "queries": len(rows),
                "ms_per_query": round(1000 * run.seconds / len(table), 1),
                "world": world.current().name,
            }
            if run.weight is not None:
                record["weight"] = run.weight
            if run.reranks is not None:
                base = by_name[run.reranks].per_query.loc[rows.index, "ndcg@10"]
                delta = metrics.paired_bootstrap(base, rows["ndcg@10"])
                record["delta_ndcg@10"] = {key: round(value, 4) for key, value in delta.items()}
            records.append(record)
    return records


def _table(records: list[dict[str, Any]]) -> str:
    frame = pd.DataFrame(records)
    frame["delta"] = [
        ""
        if not isinstance(d, dict)
        else f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
        for d in frame.get("delta_ndcg@10", [None] * len(frame))
    ]
    columns = ["system", "family", "queries", "ndcg@10", "mrr@10", "recall@25", "delta"]
    frame = frame[columns + ["ms_per_query"]]
    return frame.to_string(index=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m rerank_lab.course.leaderboard``: print the leaderboard (or its JSON)."""
    parser = argparse.ArgumentParser(
        prog="python -m rerank_lab.course.leaderboard",
        description="Evaluate BM25, the bi-encoder, hybrid search and the course's cross-encoder "
        "on the judged PubMed collection.",
    )
    parser.add_argument("--split", choices=("dev", "test"), required=True)
    parser.add_argument("--scale", choices=("small", "full"), default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON list of records")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="run the models as the notebooks do (int8 ONNX on a CPU) instead of plain torch",
    )
    args = parser.parse_args(argv)

    from rerank_lab import models

    collection = load_collection(args.scale)
    # Reference numbers: plain torch (fp32 on CPU), as docs/measured.md's table and the reranker's
    # dev evaluation were made, never the int8 ONNX twins a CPU would pick by itself (their scores
    # differ a little; ``python -m rerank_lab.course.bench`` measures by how much).
    # --json prints nothing but the JSON: the loaders' reports go only to the table's readers.
    # --fast reproduces the notebooks, which take the fast path a CPU picks by itself.
    fast = None if args.fast else False
    bi_encoder = models.load_bi_encoder("bi-encoder", fast=fast, quiet=args.json)
    cross_encoder = models.load_cross_encoder_for_scale(
        collection.scale, fast=fast, quiet=args.json
    )
    weights, _ = tune_weights(
        collection, bi_encoder, cross_encoder, split="dev", show_progress=not args.json
    )
    runs = run_leaderboard(
        collection,
        args.split,
        bi_encoder,
        cross_encoder,
        weights=weights,
        show_progress=not args.json,
    )
    records = to_records(runs, collection, args.split)
    if args.json:
        json.dump(records, sys.stdout, indent=1)
        print()
    else:
        tuned = ", ".join(f"{first} {weight:.1f}" for first, weight in weights.items())
        where = "this split: optimistic" if args.split == "dev" else "dev"
        print(f"{args.split} split, {collection.scale} scale, {world.current()}")
        print(f"interpolation weights (cross-encoder share, tuned on {where}): {tuned}")
        print(_table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
