"""Augmented SBERT: a cross-encoder trained on a few gold pairs labels many more for a bi-encoder.

A bi-encoder needs many labelled pairs to learn a similarity; a cross-encoder, which reads both
texts at once, learns from far fewer. Augmented SBERT (Thakur et al., 2021) uses that:

1. train a cross-encoder on the small **gold** set;
2. **sample** unlabelled pairs from the same texts (five strategies, below);
3. **label** them with the cross-encoder: the **silver** set;
4. train the bi-encoder on gold + silver, and compare it with the bi-encoder trained on gold
   alone (and the one not fine-tuned at all) by Spearman correlation on held-out gold pairs.

The five sampling strategies of the paper (:data:`STRATEGIES`):

- ``random``: pairs drawn uniformly; mostly dissimilar pairs when similar ones are rare;
- ``kde``: random candidates labelled by the cross-encoder, then kept so that the silver score
  distribution matches the gold one (kernel density estimates of both);
- ``bm25``: each text's lexical nearest neighbours (BM25, bm25s; no Elasticsearch);
- ``semantic``: each text's nearest neighbours by the bi-encoder trained on gold;
- ``bm25+semantic``: both neighbour lists, interleaved.

Every neighbour strategy fills the same budget of silver pairs (``Config.silver_pairs``) by
taking every anchor's first neighbour, then every anchor's second, and so on, so no strategy
wins by having more data. Training uses sentence-transformers' trainers only:
``CrossEncoderTrainer`` (one logit, ``BinaryCrossEntropyLoss`` on 0..1 targets, so scores are
read through a **Sigmoid**) and ``SentenceTransformerTrainer`` (``CoSENTLoss``, which learns the
*order* of the pairs' similarities, exactly what Spearman correlation measures).

:class:`Experiment` runs the whole comparison with seeds fixed and caches what it trains under
``cache_dir()/"augmented_sbert"/<key>`` (the cross-encoder and the gold-only bi-encoder as model
folders, every other step as a JSON result), written atomically and validated on load, so a
second run of notebook 06 reads everything back in seconds. The key hashes the data, the
configuration and :data:`CACHE_VERSION`: change any of them and the steps are trained again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rerank_lab.course import artefacts
from rerank_lab.course.files import write_atomically
from rerank_lab.course.quiet import quiet_libraries
from rerank_lab.course.settings import Scale, cache_dir
from rerank_lab.metrics import bootstrap_interval

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

__all__ = [
    "CACHE_VERSION",
    "CONFIGS",
    "RECORD",
    "STRATEGIES",
    "Config",
    "Experiment",
    "GoldData",
    "StepResult",
    "bm25_neighbours",
    "bootstrap_difference",
    "comparison_table",
    "interleave_neighbours",
    "kde_sample",
    "label_pairs",
    "load_gold",
    "pair_similarities",
    "random_pairs",
    "record_results",
    "semantic_neighbours",
    "spearman",
    "train_bi_encoder",
    "train_cross_encoder",
]

#: The five sampling strategies of the Augmented SBERT paper, in the order the notebook shows.
STRATEGIES = ("random", "kde", "bm25", "semantic", "bm25+semantic")

#: Bump when what a cached step holds, or how it is computed, changes: every step is redone.
CACHE_VERSION = 1

Pair = tuple[int, int]


# --------------------------------------------------------------------------------------------
# Configuration and data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Every knob of one Augmented SBERT comparison; the two scales differ only in these."""

    n_train_documents: int
    """Offline: Lee documents whose pairs form the gold training set."""
    n_test_documents: int
    """Offline: Lee documents whose pairs form the test set (disjoint from the training ones)."""
    n_background: int
    """Offline: background documents added to the pool that silver pairs are sampled from."""
    online_train_pairs: int
    """Online: STS-B training pairs used as gold (the rest of the split only gives sentences)."""
    online_test_pairs: int | None
    """Online: STS-B test pairs (None: all 1,379)."""
    online_pool: int
    """Online: sentences in the pool that silver pairs are sampled from."""
    silver_pairs: int
    """Silver pairs per strategy: the same budget for all five."""
    kde_candidates: int
    """Random pairs the cross-encoder labels before KDE keeps ``silver_pairs`` of them."""
    neighbours: int
    """Neighbours ranked per anchor text by BM25 and by semantic search."""
    ce_max_length: int
    bi_max_seq_length: int
    ce_epochs: int
    bi_epochs: int
    batch_size: int = 16
    ce_learning_rate: float = 1e-4
    """High for a cross-encoder because its head starts untrained and the gold set is tiny."""
    bi_learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    seed: int = 42

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CONFIGS: dict[str, Config] = {
    # Small: the mechanics in a minute or two on 2 CPU cores (tests, CI); numbers are noise.
    "small": Config(
        n_train_documents=8,
        n_test_documents=8,
        n_background=16,
        online_train_pairs=32,
        online_test_pairs=64,
        online_pool=64,
        silver_pairs=16,
        kde_candidates=64,
        neighbours=4,
        ce_max_length=64,
        bi_max_seq_length=64,
        ce_epochs=2,
        bi_epochs=1,
        ce_learning_rate=2e-4,
    ),
    # Full: the 50 scored Lee documents split 25/25 (300 gold and 300 test pairs), all 300
    # background documents in the pool, as many silver pairs as gold ones per strategy.
    "full": Config(
        n_train_documents=25,
        n_test_documents=25,
        n_background=300,
        online_train_pairs=1000,
        online_test_pairs=None,
        online_pool=4000,
        silver_pairs=300,
        kde_candidates=900,
        neighbours=10,
        ce_max_length=128,
        bi_max_seq_length=128,
        ce_epochs=2,
        bi_epochs=1,
    ),
}


@dataclass(frozen=True)
class GoldData:
    """Texts, gold training pairs, test pairs, and the pool that silver pairs come from.

    ``train`` and ``test`` have columns ``a``, ``b`` (indices into ``texts``, a < b) and
    ``score`` (0..1). No text of a test pair appears in a training pair or in the ``pool``.
    """

    name: str
    texts: list[str]
    train: pd.DataFrame
    test: pd.DataFrame
    pool: list[int]
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            frame = getattr(self, split)
            missing = {"a", "b", "score"} - set(frame.columns)
            if missing:
                raise ValueError(f"{split} pairs lack the columns {sorted(missing)}.")
            if len(frame) < 3:
                raise ValueError(f"{split} needs at least 3 pairs, got {len(frame)}.")
        test_texts = set(self.test["a"]) | set(self.test["b"])
        train_texts = set(self.train["a"]) | set(self.train["b"])
        leaked = test_texts & (train_texts | set(self.pool))
        if leaked:
            raise ValueError(
                f"{len(leaked)} texts of test pairs also appear in training pairs or the pool "
                f"(e.g. text {min(leaked)}): the test would measure memory, not similarity."
            )

    def pairs(self, split: str) -> list[Pair]:
        frame = getattr(self, split)
        return [(int(a), int(b)) for a, b in zip(frame["a"], frame["b"], strict=True)]

    def fingerprint(self) -> str:
        """A hash of the texts and pairs: any change to the data invalidates cached steps."""
        digest = hashlib.blake2b(digest_size=12)
        digest.update(json.dumps([self.name, self.texts, self.pool]).encode())
        for frame in (self.train, self.test):
            digest.update(frame[["a", "b", "score"]].to_csv(index=False).encode())
        return digest.hexdigest()

    def __repr__(self) -> str:
        return (
            f"GoldData({self.name!r}: {len(self.train)} gold training pairs, {len(self.test)} "
            f"test pairs, a pool of {len(self.pool)} texts for silver pairs)"
        )


def _lee_gold(config: Config, seed: int) -> GoldData:
    from rerank_lab.course import lee

    corpus = lee.load()
    pairs = lee.scored_pairs(corpus)
    train_docs, test_docs = lee.split_by_document(
        len(corpus.documents), config.n_test_documents, seed=seed, n_train=config.n_train_documents
    )
    offset = len(corpus.documents)
    rng = np.random.default_rng(seed)
    n_background = min(config.n_background, len(corpus.background))
    background = sorted(
        int(i) for i in rng.choice(len(corpus.background), n_background, replace=False)
    )
    texts = corpus.documents + corpus.background
    columns = ["a", "b", "score"]
    return GoldData(
        name="lee",
        texts=texts,
        train=lee.pairs_within(pairs, train_docs)[columns],
        test=lee.pairs_within(pairs, test_docs)[columns],
        pool=train_docs + [offset + i for i in background],
        description=(
            f"Lee news documents: {len(train_docs)} for gold training pairs, {len(test_docs)} "
            f"for test pairs (no document shared), {n_background} background documents"
        ),
        extra={"train_documents": train_docs, "test_documents": test_docs},
    )


def _stsb_gold(config: Config, seed: int) -> GoldData:
    from datasets import load_dataset

    stsb = load_dataset("sentence-transformers/stsb")
    train, test = stsb["train"].to_pandas(), stsb["test"].to_pandas()
    if config.online_test_pairs is not None:
        test = test.sample(n=min(config.online_test_pairs, len(test)), random_state=seed)
    test_sentences = set(test["sentence1"]) | set(test["sentence2"])
    # Training pairs that reuse a test sentence are dropped: the test stays unseen.
    clean = train[
        ~train["sentence1"].isin(test_sentences) & ~train["sentence2"].isin(test_sentences)
    ]
    clean = clean.sample(frac=1.0, random_state=seed)
    gold = clean.iloc[: config.online_train_pairs]
    rest = clean.iloc[config.online_train_pairs :]
    texts: list[str] = []
    index: dict[str, int] = {}

    def ids(column: Iterable[str]) -> list[int]:
        out = []
        for text in column:
            if text not in index:
                index[text] = len(texts)
                texts.append(text)
            out.append(index[text])
        return out

    def frame(rows: pd.DataFrame) -> pd.DataFrame:
        a, b = ids(rows["sentence1"]), ids(rows["sentence2"])
        out = pd.DataFrame({"a": a, "b": b, "score": rows["score"].to_numpy(dtype=float)})
        swap = out["a"] > out["b"]
        out.loc[swap, ["a", "b"]] = out.loc[swap, ["b", "a"]].to_numpy()
        return out[out["a"] != out["b"]].drop_duplicates(["a", "b"]).reset_index(drop=True)

    gold_frame, test_frame = frame(gold), frame(test)
    gold_texts = sorted(set(gold_frame["a"]) | set(gold_frame["b"]))
    extra_texts = ids(pd.concat([rest["sentence1"], rest["sentence2"]]))
    pool = list(dict.fromkeys(gold_texts + extra_texts))[: max(config.online_pool, len(gold_texts))]
    return GoldData(
        name="stsb",
        texts=texts,
        train=gold_frame,
        test=test_frame,
        pool=pool,
        description=(
            f"STS-B: {len(gold_frame)} gold training pairs, {len(test_frame)} test pairs, "
            f"{len(pool)} training sentences as the pool (labels of the unused pairs ignored)"
        ),
    )


def load_gold(
    scale: Scale | None = None, *, online: bool | None = None, config: Config | None = None
) -> GoldData:
    """The gold data of notebook 06 for this world and scale.

    Online: STS-B from the Hub (``sentence-transformers/stsb``, scores 0..1), a small training
    subset as gold and the test split for testing. Offline: the Lee documents
    (:mod:`rerank_lab.course.lee`), split by document so no test pair shares a document with a
    training pair, with background news documents in the pool.
    """
    from rerank_lab.course import settings, world

    scale = scale or settings.scale()
    config = config or CONFIGS[scale]
    if online is None:
        online = world.current().online
    return _stsb_gold(config, config.seed) if online else _lee_gold(config, config.seed)


# --------------------------------------------------------------------------------------------
# Measuring: Spearman correlation
# --------------------------------------------------------------------------------------------


def spearman(predicted: Sequence[float] | np.ndarray, gold: Sequence[float] | np.ndarray) -> float:
    """Spearman's rank correlation of predicted and gold scores (ties get their mean rank).

    It is Pearson's correlation of the two rankings: 1 when the model orders the pairs exactly
    as people did, 0 when its order is unrelated. Only the order counts, so a cosine that is
    always 0.3 too high, or a score on another scale, is no mistake.
    """
    from scipy.stats import rankdata

    x = np.asarray(predicted, dtype=float).ravel()
    y = np.asarray(gold, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{x.size} predictions for {y.size} gold scores: one per pair, please.")
    if x.size < 3:
        raise ValueError("Spearman correlation needs at least 3 pairs.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("Scores contain NaN or infinite values.")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise ValueError("One side is constant: a correlation with a constant is undefined.")
    rx, ry = rankdata(x), rankdata(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def bootstrap_difference(
    gold: np.ndarray,
    baseline: np.ndarray,
    system: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Spearman(system) − Spearman(baseline) on the test pairs, with a 95% paired bootstrap
    interval (the same resampled pairs for both): (difference, low, high).

    Test pairs that share a document are not independent, so the interval is, if anything,
    too narrow: an interval that crosses zero means "no evidence of a difference".
    """
    gold, baseline, system = (np.asarray(v, dtype=float) for v in (gold, baseline, system))

    def difference(rows: np.ndarray) -> float:
        if np.ptp(gold[rows]) == 0:
            raise ValueError("constant gold scores in this resample")
        return spearman(system[rows], gold[rows]) - spearman(baseline[rows], gold[rows])

    low, high = bootstrap_interval(difference, len(gold), samples=resamples, seed=seed)
    return spearman(system, gold) - spearman(baseline, gold), low, high


def pair_similarities(
    model: SentenceTransformer, texts: Sequence[str], pairs: Sequence[Pair], batch_size: int = 32
) -> np.ndarray:
    """The bi-encoder's cosine similarity of each pair (every text encoded once)."""
    used = sorted({i for pair in pairs for i in pair})
    embeddings = model.encode(
        [texts[i] for i in used],
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    row = {text: number for number, text in enumerate(used)}
    return np.array([float(embeddings[row[a]] @ embeddings[row[b]]) for a, b in pairs])


# --------------------------------------------------------------------------------------------
# Sampling strategies
# --------------------------------------------------------------------------------------------


def _canonical(a: int, b: int) -> Pair:
    return (a, b) if a < b else (b, a)


def _check_pool(pool: Sequence[int]) -> list[int]:
    pool = [int(i) for i in pool]
    if len(set(pool)) != len(pool):
        raise ValueError("The pool lists a text twice.")
    if len(pool) < 2:
        raise ValueError("The pool needs at least 2 texts to form a pair.")
    return pool


def random_pairs(
    pool: Sequence[int], k: int, *, seed: int = 0, exclude: Iterable[Pair] = ()
) -> list[Pair]:
    """``k`` distinct pairs (a < b) of pool texts, uniformly at random, none in ``exclude``.

    The simplest strategy: cheap, but when similar pairs are rare (most pairs of news documents
    are unrelated) nearly all random pairs are dissimilar, and the bi-encoder learns little
    about what makes two texts alike.
    """
    pool = _check_pool(pool)
    excluded = {_canonical(*pair) for pair in exclude}
    possible = len(pool) * (len(pool) - 1) // 2
    available = possible - sum(1 for a, b in excluded if a in set(pool) and b in set(pool))
    if k > available:
        raise ValueError(f"Asked for {k} pairs but the pool offers only {available} new ones.")
    rng = np.random.default_rng(seed)
    chosen: dict[Pair, None] = {}
    while len(chosen) < k:
        a, b = rng.choice(pool, size=2, replace=False)
        pair = _canonical(int(a), int(b))
        if pair not in excluded:
            chosen.setdefault(pair)
    return list(chosen)


def kde_sample(
    candidate_scores: Sequence[float] | np.ndarray,
    gold_scores: Sequence[float] | np.ndarray,
    k: int,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Indices of ``k`` candidates drawn so that their scores follow the gold distribution.

    Kernel density estimates give the density of the gold scores, f_gold, and of the candidates'
    (cross-encoder) scores, f_cand. A candidate with score s is then drawn with probability
    proportional to f_gold(s) / f_cand(s), without replacement: scores that are rarer among the
    candidates than in the gold set are favoured, common ones thinned out (importance weights).
    """
    from scipy.stats import gaussian_kde

    candidates = np.asarray(candidate_scores, dtype=float).ravel()
    gold = np.asarray(gold_scores, dtype=float).ravel()
    if k > len(candidates):
        raise ValueError(f"Cannot keep {k} of {len(candidates)} candidates.")
    if np.ptp(gold) == 0 or np.ptp(candidates) == 0:
        raise ValueError("KDE needs scores that vary (a constant sample has no density).")
    weights = gaussian_kde(gold)(candidates) / np.maximum(
        gaussian_kde(candidates)(candidates), 1e-12
    )
    if (weights > 0).sum() < k:  # far-off scores can underflow to 0: keep them drawable
        weights = np.maximum(weights, 1e-12)
    rng = np.random.default_rng(seed)
    return rng.choice(len(candidates), size=k, replace=False, p=weights / weights.sum())


def bm25_neighbours(texts: Sequence[str], pool: Sequence[int], depth: int) -> dict[int, list[int]]:
    """For each pool text, the other pool texts that BM25 ranks highest for it, best first.

    The whole text is the query: BM25 finds texts sharing its rarer words. Lexical neighbours
    are often truly similar, but BM25 misses a pair that says the same thing in other words.
    """
    from rerank_lab.search import BM25Index

    pool = _check_pool(pool)
    index = BM25Index([texts[i] for i in pool])
    hits = index.search([texts[i] for i in pool], k=min(depth + 1, len(pool)))
    return {
        anchor: [pool[h["corpus_id"]] for h in row if pool[h["corpus_id"]] != anchor][:depth]
        for anchor, row in zip(pool, hits, strict=True)
    }


def semantic_neighbours(
    embeddings: np.ndarray, pool: Sequence[int], depth: int
) -> dict[int, list[int]]:
    """For each pool text, its nearest pool texts by cosine similarity of ``embeddings``
    (one row per pool text, in pool order), best first."""
    from rerank_lab.search import semantic_search

    pool = _check_pool(pool)
    if len(embeddings) != len(pool):
        raise ValueError(f"{len(embeddings)} embeddings for a pool of {len(pool)} texts.")
    hits = semantic_search(embeddings, embeddings, k=min(depth + 1, len(pool)))
    return {
        anchor: [pool[h["corpus_id"]] for h in row if pool[h["corpus_id"]] != anchor][:depth]
        for anchor, row in zip(pool, hits, strict=True)
    }


def interleave_neighbours(
    rankings: Sequence[dict[int, list[int]]],
    k: int,
    *,
    exclude: Iterable[Pair] = (),
    seed: int = 0,
) -> list[Pair]:
    """Up to ``k`` distinct pairs (a < b) taken from neighbour lists, best neighbours first.

    Round r takes every anchor's r-th neighbour from each ranking in turn (anchors in a shuffled
    order, so a budget that runs out mid-round favours no part of the pool); pairs already
    taken or in ``exclude`` are skipped. One ranking gives the BM25 or the semantic strategy;
    two interleaved give BM25 + semantic search.
    """
    if not rankings:
        raise ValueError("interleave_neighbours needs at least one ranking.")
    excluded = {_canonical(*pair) for pair in exclude}
    anchors = sorted(set().union(*[set(r) for r in rankings]))
    order = [anchors[i] for i in np.random.default_rng(seed).permutation(len(anchors))]
    depth = max((len(n) for r in rankings for n in r.values()), default=0)
    chosen: dict[Pair, None] = {}
    for rank in range(depth):
        for anchor in order:
            for ranking in rankings:
                neighbours = ranking.get(anchor, [])
                if rank < len(neighbours) and neighbours[rank] != anchor:
                    pair = _canonical(anchor, neighbours[rank])
                    if pair not in excluded:
                        chosen.setdefault(pair)
                        if len(chosen) == k:
                            return list(chosen)
    return list(chosen)


# --------------------------------------------------------------------------------------------
# Labelling and training
# --------------------------------------------------------------------------------------------


def _sigmoid() -> Any:
    import torch

    return torch.nn.Sigmoid()


def label_pairs(
    cross_encoder: CrossEncoder,
    texts: Sequence[str],
    pairs: Sequence[Pair],
    *,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """The cross-encoder's similarity for each pair, on 0..1: the silver labels.

    The course's cross-encoder has one logit trained with binary cross-entropy against 0..1
    targets, so the logit's Sigmoid is its estimate of the score; the Sigmoid is passed
    explicitly, whatever the model's default activation.
    """
    if not pairs:
        return np.empty(0)
    inputs = [(texts[a], texts[b]) for a, b in pairs]
    scores = cross_encoder.predict(
        inputs, batch_size=batch_size, activation_fn=_sigmoid(), show_progress_bar=progress
    )
    return np.asarray(scores, dtype=float)


def _backbone() -> str:
    from rerank_lab.course.reranker import backbone_path

    return str(backbone_path())


def _training_device(device: str | None) -> str:
    from rerank_lab.device import pick_device

    return pick_device(device)


def _training_arguments(
    output_dir: str, config: Config, epochs: int, learning_rate: float, device: str, progress: bool
) -> dict[str, Any]:
    """The trainer settings the teacher and the students share (the two trainers take the same
    keywords): seeded, nothing saved or logged mid-run, CPU when the device is the CPU."""
    return {
        "output_dir": output_dir,
        "num_train_epochs": epochs,
        "per_device_train_batch_size": config.batch_size,
        "learning_rate": learning_rate,
        "warmup_ratio": config.warmup_ratio,
        "seed": config.seed,
        "data_seed": config.seed,
        "save_strategy": "no",
        "logging_strategy": "no",
        "report_to": "none",
        "use_cpu": device == "cpu",
        "dataloader_num_workers": 0,
        "disable_tqdm": not progress,
    }


def train_cross_encoder(
    texts: Sequence[str],
    train: pd.DataFrame,
    config: Config,
    *,
    device: str | None = None,
    progress: bool = True,
    backbone: str | None = None,
) -> CrossEncoder:
    """A cross-encoder trained on the gold pairs with ``CrossEncoderTrainer``.

    The MiniLM backbone of the course gets a fresh one-logit head. Every pair is shown in both
    orders (the model reads "a [SEP] b" and "b [SEP] a" differently, similarity does not), with
    ``BinaryCrossEntropyLoss`` against the 0..1 score: the Sigmoid of the logit learns the score.
    The saved model's default activation is that Sigmoid.
    """
    import datasets
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import set_seed

    device = _training_device(device)
    set_seed(config.seed)
    with quiet_libraries():
        model = CrossEncoder(
            backbone or _backbone(),
            num_labels=1,
            max_length=config.ce_max_length,
            device=device,
            activation_fn=_sigmoid(),
        )
    first = [texts[a] for a in train["a"]] + [texts[b] for b in train["b"]]
    second = [texts[b] for b in train["b"]] + [texts[a] for a in train["a"]]
    labels = [float(s) for s in train["score"]] * 2
    dataset = datasets.Dataset.from_dict({"text1": first, "text2": second, "label": labels})
    with tempfile.TemporaryDirectory(prefix="augsbert-ce-") as scratch:
        args = CrossEncoderTrainingArguments(
            **_training_arguments(
                scratch, config, config.ce_epochs, config.ce_learning_rate, device, progress
            )
        )
        trainer = CrossEncoderTrainer(
            model=model, args=args, train_dataset=dataset, loss=BinaryCrossEntropyLoss(model)
        )
        trainer.train()
    model.eval()
    return model


def train_bi_encoder(
    texts: Sequence[str],
    train: pd.DataFrame,
    config: Config,
    *,
    device: str | None = None,
    progress: bool = True,
    backbone: str | None = None,
) -> SentenceTransformer:
    """The course bi-encoder fine-tuned on ``train`` (gold, or gold + silver) with
    ``SentenceTransformerTrainer`` and ``CoSENTLoss``.

    CoSENT compares every two pairs of a batch and penalises those whose cosines are in the
    other order than their labels: it learns the ranking that Spearman correlation measures and
    leaves the cosines' absolute level free (``CosineSimilarityLoss`` would instead pull every
    cosine onto its label, a harder target for a model already trained on a billion pairs).
    """
    import datasets
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    try:  # sentence-transformers 5.7 moved the losses; older 5.x only has the old path
        from sentence_transformers.sentence_transformer.losses import CoSENTLoss
    except ImportError:  # pragma: no cover
        from sentence_transformers.losses import CoSENTLoss
    from transformers import set_seed

    device = _training_device(device)
    set_seed(config.seed)
    model = SentenceTransformer(backbone or _backbone(), device=device)
    model.max_seq_length = config.bi_max_seq_length
    dataset = datasets.Dataset.from_dict(
        {
            "sentence1": [texts[a] for a in train["a"]],
            "sentence2": [texts[b] for b in train["b"]],
            "score": [float(s) for s in train["score"]],
        }
    )
    with tempfile.TemporaryDirectory(prefix="augsbert-bi-") as scratch:
        args = SentenceTransformerTrainingArguments(
            **_training_arguments(
                scratch, config, config.bi_epochs, config.bi_learning_rate, device, progress
            )
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=dataset, loss=CoSENTLoss(model)
        )
        trainer.train()
    model.eval()
    return model


def untrained_bi_encoder(config: Config, *, device: str | None = None) -> SentenceTransformer:
    """The course bi-encoder as it comes (all-MiniLM-L6-v2), before any training on gold."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(_backbone(), device=_training_device(device))
    model.max_seq_length = config.bi_max_seq_length
    return model.eval()


# --------------------------------------------------------------------------------------------
# The experiment, cached step by step
# --------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    """One row of the comparison: a bi-encoder's test predictions, Spearman and timings."""

    name: str
    spearman: float
    predictions: np.ndarray
    seconds: dict[str, float]
    silver_pairs: list[Pair] = field(default_factory=list)
    silver_labels: np.ndarray = field(default_factory=lambda: np.empty(0))
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spearman": self.spearman,
            "predictions": [float(x) for x in self.predictions],
            "seconds": self.seconds,
            "silver_pairs": [list(pair) for pair in self.silver_pairs],
            "silver_labels": [float(x) for x in self.silver_labels],
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepResult:
        return cls(
            name=data["name"],
            spearman=float(data["spearman"]),
            predictions=np.asarray(data["predictions"], dtype=float),
            seconds={k: float(v) for k, v in data["seconds"].items()},
            silver_pairs=[(int(a), int(b)) for a, b in data["silver_pairs"]],
            silver_labels=np.asarray(data["silver_labels"], dtype=float),
            extra=data.get("extra", {}),
        )


def _model_problem(folder: Path, key: str) -> str | None:
    """Why ``folder`` is not a complete model saved for ``key`` (None when it is)."""
    return artefacts.folder_problem(
        folder, card="augsbert.json", required=("config.json", "model.safetensors"), key=key
    )


class Experiment:
    """The Augmented SBERT comparison on one gold set, cached step by step.

    ``baseline()`` (the bi-encoder not fine-tuned), ``gold_only()`` and ``strategy(name)`` each
    return a :class:`StepResult`; ``table()`` runs what is missing and returns them all. The
    cross-encoder and the gold-only bi-encoder (which the semantic strategies search with) are
    kept as model folders; the silver-trained bi-encoders are not (seven MiniLM copies would
    take 600 MB): their test predictions, silver pairs, labels and timings are.
    """

    def __init__(
        self,
        gold: GoldData,
        config: Config,
        *,
        device: str | None = None,
        progress: bool = True,
        cache: bool = True,
        root: Path | None = None,
    ) -> None:
        self.gold = gold
        self.config = config
        self.device = device
        self.progress = progress
        self.cache = cache
        self.key = hashlib.blake2b(
            json.dumps(
                [CACHE_VERSION, gold.fingerprint(), config.as_dict(), _backbone_name()]
            ).encode(),
            digest_size=10,
        ).hexdigest()
        self.folder = (root or cache_dir() / "augmented_sbert") / f"{gold.name}-{self.key}"
        self._models: dict[str, Any] = {}
        self._seconds: dict[str, float] = {}
        self.test_pairs = gold.pairs("test")
        self.test_scores = gold.test["score"].to_numpy(dtype=float)

    # ---- cache helpers

    def _result_path(self, name: str) -> Path:
        return self.folder / "results" / f"{name.replace('+', '_plus_')}.json"

    def _load_result(self, name: str) -> StepResult | None:
        path = self._result_path(name)
        if not (self.cache and path.is_file()):
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("key") != self.key:
                raise ValueError("trained for other data or settings")
            result = StepResult.from_json(data["result"])
            if len(result.predictions) != len(self.test_pairs):
                raise ValueError("wrong number of test predictions")
        except (OSError, ValueError, KeyError, TypeError) as error:
            warnings.warn(
                f"Ignoring the cached {path.name} ({error}); computing it again.", stacklevel=3
            )
            return None
        return result

    def _save_result(self, result: StepResult) -> None:
        if not self.cache:
            return
        payload = json.dumps({"key": self.key, "result": result.to_json()}).encode("utf-8")
        write_atomically(self._result_path(result.name), lambda handle: handle.write(payload))

    def _cached_model(self, name: str, build: Callable[[], Any], load: Callable[[str], Any]) -> Any:
        """The model ``name``, loaded from its folder when valid, else built and saved there.

        Keyed per library line (the folder name carries it): the teacher and the gold-only
        student take minutes (small) to an hour (full) to train, so a learner who switches
        between two sentence-transformers lines keeps one copy for each instead of retraining
        at every switch. A folder that passes the checks but raises on load is set aside and
        built again.
        """
        if name in self._models:
            return self._models[name]
        folder = self.folder / f"{name}-{artefacts.line()}"
        model = None
        if self.cache and _model_problem(folder, self.key) is None:
            card = json.loads((folder / "augsbert.json").read_text(encoding="utf-8"))
            try:
                model = load(str(folder))
                self._seconds[name] = float(card["seconds"])
            except Exception as error:  # noqa: BLE001 - any failure means: do not trust it
                artefacts.set_aside(folder, error, f"{name} model")
        if model is None:
            started = time.perf_counter()
            model = build()
            self._seconds[name] = time.perf_counter() - started
            if self.cache:
                staging = folder.with_name(f".{folder.name}.building-{os.getpid()}")
                shutil.rmtree(staging, ignore_errors=True)
                model.save_pretrained(str(staging))
                card = {
                    "key": self.key,
                    "seconds": self._seconds[name],
                    "config": self.config.as_dict(),
                    "versions": artefacts.versions(),
                }
                (staging / "augsbert.json").write_text(json.dumps(card), encoding="utf-8")
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(staging, folder)
        self._models[name] = model
        return model

    # ---- models

    def cross_encoder(self) -> CrossEncoder:
        """The cross-encoder trained on the gold pairs (trained once, then read from the cache)."""
        from sentence_transformers import CrossEncoder

        def build() -> CrossEncoder:
            return train_cross_encoder(
                self.gold.texts,
                self.gold.train,
                self.config,
                device=self.device,
                progress=self.progress,
            )

        def load(path: str) -> CrossEncoder:
            return CrossEncoder(
                path, device=_training_device(self.device), max_length=self.config.ce_max_length
            )

        return self._cached_model("cross-encoder", build, load)

    def gold_only_model(self) -> SentenceTransformer:
        """The bi-encoder fine-tuned on the gold pairs alone (cached)."""
        from sentence_transformers import SentenceTransformer

        def build() -> SentenceTransformer:
            return train_bi_encoder(
                self.gold.texts,
                self.gold.train,
                self.config,
                device=self.device,
                progress=self.progress,
            )

        def load(path: str) -> SentenceTransformer:
            model = SentenceTransformer(path, device=_training_device(self.device))
            model.max_seq_length = self.config.bi_max_seq_length
            return model.eval()

        return self._cached_model("gold-only", build, load)

    def seconds(self, name: str) -> float:
        """Training seconds of a cached model (``cross-encoder`` or ``gold-only``)."""
        if name not in self._seconds:
            {"cross-encoder": self.cross_encoder, "gold-only": self.gold_only_model}[name]()
        return self._seconds[name]

    # ---- steps

    def _scored(
        self,
        name: str,
        model: Callable[[], Any],
        predict: Callable[[Any], np.ndarray],
        trained: str | None = None,
    ) -> StepResult:
        """Step ``name`` from the cache, else: ``model()`` (untimed), ``predict(model)`` on the
        test pairs (timed as ``evaluate``), Spearman against gold, cached. ``trained`` names the
        cached model whose training seconds the step reports."""
        cached = self._load_result(name)
        if cached is not None:
            return cached
        loaded = model()
        started = time.perf_counter()
        predictions = predict(loaded)
        timings = {"evaluate": time.perf_counter() - started}
        if trained is not None:
            timings = {"train": self.seconds(trained), **timings}
        result = StepResult(name, spearman(predictions, self.test_scores), predictions, timings)
        self._save_result(result)
        return result

    def cross_encoder_result(self) -> StepResult:
        """The cross-encoder itself on the test pairs: the teacher the silver labels come from."""
        return self._scored(
            "cross-encoder",
            self.cross_encoder,
            lambda model: label_pairs(model, self.gold.texts, self.test_pairs),
            trained="cross-encoder",
        )

    def baseline(self) -> StepResult:
        """The bi-encoder before any training on gold (its construction is timed too)."""
        return self._scored(
            "untrained",
            lambda: None,
            lambda _: pair_similarities(
                untrained_bi_encoder(self.config, device=self.device),
                self.gold.texts,
                self.test_pairs,
            ),
        )

    def gold_only(self) -> StepResult:
        """The bi-encoder fine-tuned on gold only."""
        return self._scored(
            "gold-only",
            self.gold_only_model,
            lambda model: pair_similarities(model, self.gold.texts, self.test_pairs),
            trained="gold-only",
        )

    def sample(self, strategy: str) -> tuple[list[Pair], dict[str, Any]]:
        """The unlabelled pairs a strategy picks, and what it needed on the way (for KDE: the
        candidates and their cross-encoder labels)."""
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {strategy!r}; use one of {STRATEGIES}.")
        config, gold, seed = self.config, self.gold, self.config.seed
        exclude = gold.pairs("train")
        k = config.silver_pairs
        if strategy == "random":
            return random_pairs(gold.pool, k, seed=seed, exclude=exclude), {}
        if strategy == "kde":
            candidates = random_pairs(
                gold.pool, config.kde_candidates, seed=seed + 1, exclude=exclude
            )
            labels = label_pairs(
                self.cross_encoder(), gold.texts, candidates, progress=self.progress
            )
            keep = kde_sample(labels, gold.train["score"].to_numpy(), k, seed=seed)
            return [candidates[i] for i in keep], {
                "candidates": [list(p) for p in candidates],
                "candidate_labels": [float(x) for x in labels],
                "kept": [int(i) for i in keep],
            }
        rankings = []
        if "bm25" in strategy:
            rankings.append(bm25_neighbours(gold.texts, gold.pool, config.neighbours))
        if "semantic" in strategy:
            model = self.gold_only_model()
            embeddings = model.encode(
                [gold.texts[i] for i in gold.pool],
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=self.progress,
            )
            rankings.append(semantic_neighbours(embeddings, gold.pool, config.neighbours))
        return interleave_neighbours(rankings, k, exclude=exclude, seed=seed), {}

    def strategy(self, strategy: str) -> StepResult:
        """Sample silver pairs, label them with the cross-encoder, train on gold + silver."""
        cached = self._load_result(strategy)
        if cached is not None:
            return cached
        self.cross_encoder()
        if "semantic" in strategy:
            self.gold_only_model()  # trained once, not counted as this strategy's time
        started = time.perf_counter()
        pairs, extra = self.sample(strategy)
        sampled = time.perf_counter()
        labels = label_pairs(self.cross_encoder(), self.gold.texts, pairs, progress=self.progress)
        labelled = time.perf_counter()
        silver = pd.DataFrame(
            {"a": [a for a, _ in pairs], "b": [b for _, b in pairs], "score": labels}
        )
        combined = pd.concat([self.gold.train[["a", "b", "score"]], silver], ignore_index=True)
        model = train_bi_encoder(
            self.gold.texts, combined, self.config, device=self.device, progress=self.progress
        )
        trained = time.perf_counter()
        predictions = pair_similarities(model, self.gold.texts, self.test_pairs)
        done = time.perf_counter()
        result = StepResult(
            strategy,
            spearman(predictions, self.test_scores),
            predictions,
            {
                "sample": sampled - started,
                "label": labelled - sampled,
                "train": trained - labelled,
                "evaluate": done - trained,
                "total": done - started,
            },
            silver_pairs=pairs,
            silver_labels=labels,
            extra=extra,
        )
        self._save_result(result)
        return result

    def results(self, strategies: Sequence[str] = STRATEGIES) -> dict[str, StepResult]:
        """Every step (baseline, gold only, each strategy), run or read from the cache."""
        from tqdm.auto import tqdm

        steps: dict[str, Callable[[], StepResult]] = {
            "untrained": self.baseline,
            "gold-only": self.gold_only,
        }
        steps |= {name: functools.partial(self.strategy, name) for name in strategies}
        out = {}
        for name, step in tqdm(
            steps.items(), desc="Augmented SBERT steps", disable=not self.progress
        ):
            out[name] = step()
        return out

    def table(self, strategies: Sequence[str] = STRATEGIES) -> pd.DataFrame:
        """One row per bi-encoder: Spearman on the test pairs, silver pairs and seconds."""
        rows = []
        for name, result in self.results(strategies).items():
            rows.append(
                {
                    "bi-encoder": name
                    if name in ("untrained", "gold-only")
                    else f"gold + silver ({name})",
                    "spearman": result.spearman,
                    "silver pairs": len(result.silver_pairs),
                    "mean silver label": float(np.mean(result.silver_labels))
                    if len(result.silver_labels)
                    else np.nan,
                    "seconds": result.seconds.get("total", result.seconds.get("train", 0.0)),
                }
            )
        return pd.DataFrame(rows).set_index("bi-encoder")


def _backbone_name() -> str:
    """Names the backbone's weights in the cache key (its config, not its path on this disk)."""
    try:
        return hashlib.blake2b(
            (Path(_backbone()) / "config.json").read_bytes(), digest_size=8
        ).hexdigest()
    except OSError:
        return "unknown"


#: The committed full-scale comparison that notebook 06 shows (``rerank_lab.course.records``).
RECORD = "augmented_sbert_full"


def record_results(experiment: Experiment, *, resamples: int = 500) -> dict[str, Any]:
    """Everything notebook 06 shows of a finished comparison, small enough to commit: the data's
    sizes, the settings, each model's Spearman and seconds, and each bi-encoder's difference to
    gold only with its paired-bootstrap interval (``resamples`` as in the notebook)."""
    teacher = experiment.cross_encoder_result()
    results = experiment.results()
    gold_only = results["gold-only"].predictions
    models = {}
    for name, result in results.items():
        difference, low, high = bootstrap_difference(
            experiment.test_scores, gold_only, result.predictions, resamples=resamples
        )
        models[name] = {
            "spearman": round(result.spearman, 4),
            "seconds": {step: round(value, 1) for step, value in result.seconds.items()},
            "silver pairs": len(result.silver_pairs),
            "vs gold only": [round(difference, 4), round(low, 4), round(high, 4)],
        }
    gold = experiment.gold
    training = experiment.seconds("cross-encoder") + experiment.seconds("gold-only")
    steps = sum(r.seconds.get("total", r.seconds.get("evaluate", 0.0)) for r in results.values())
    return {
        "gold": gold.name,
        "gold pairs": len(gold.train),
        "test pairs": len(gold.test),
        "pool texts": len(gold.pool),
        "config": experiment.config.as_dict(),
        "teacher": {
            "spearman": round(teacher.spearman, 4),
            "train seconds": round(experiment.seconds("cross-encoder"), 1),
        },
        "gold-only train seconds": round(experiment.seconds("gold-only"), 1),
        "models": models,
        "compute minutes": round((training + steps) / 60, 1),
    }


def comparison_table(results: dict[str, Any]) -> pd.DataFrame:
    """One row per bi-encoder of :func:`record_results` (or of a record's ``results``): Spearman,
    the difference to gold only with its 95% interval, and the minutes its own steps took."""
    rows = []
    for name, row in results["models"].items():
        difference, low, high = row["vs gold only"]
        seconds = row["seconds"]
        rows.append(
            {
                "bi-encoder": name if name in ("untrained", "gold-only") else f"+ silver ({name})",
                "spearman": row["spearman"],
                "vs gold only": difference,
                "low": low,
                "high": high,
                "minutes": seconds.get("total", seconds.get("train", seconds["evaluate"])) / 60,
            }
        )
    return pd.DataFrame(rows).set_index("bi-encoder")


def main(argv: list[str] | None = None) -> int:
    """``python -m rerank_lab.course.augmented_sbert [--scale small|full] [--record FILE]``: run the
    comparison and print the table (steps already in the cache are read back); ``--record``
    also writes the record notebook 06 shows."""
    import argparse

    from rerank_lab.course import records, settings

    parser = argparse.ArgumentParser(prog="python -m rerank_lab.course.augmented_sbert")
    parser.add_argument("--scale", choices=("small", "full"), default=None)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--record", type=Path, help="write the results as a record here")
    args = parser.parse_args(argv)
    scale = args.scale or settings.scale()
    gold = load_gold(scale)
    print(gold)
    experiment = Experiment(gold, CONFIGS[scale], progress=not args.no_progress)
    started = time.perf_counter()
    teacher = experiment.cross_encoder_result()
    print(f"cross-encoder (teacher) Spearman on test pairs: {teacher.spearman:.3f}")
    table = experiment.table()
    with pd.option_context("display.width", 120):
        print(table.round(3))
    for name, result in experiment.results().items():
        print(name, {k: round(v, 1) for k, v in result.seconds.items()})
    print(f"cache: {experiment.folder}; this run {time.perf_counter() - started:.0f} s")
    if args.record:
        command = (
            f"python -m rerank_lab.course.augmented_sbert --scale {scale} --record {args.record}"
        )
        records.write_record(
            args.record,
            command,
            record_results(experiment),
            packages=("sentence-transformers", "transformers", "torch"),
        )
        print(f"record written to {args.record}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
