"""Checkers of notebook 07 (scaling up): the memory of embeddings at three precisions, recall@k
of an approximate search against exact search, choosing an index setting for a recall target,
rescoring compressed-search candidates in float32, what holds at scale, the callable class
that batch re-ranking maps over pairs on Ray Data (run in a real actor on a local cluster), and
the efSearch of a real faiss HNSW index for a recall target."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from rerank_lab.exercises.core import (
    ExerciseError,
    _as_float,
    _as_int_list,
    _call,
    _check_true_statements,
    _close,
    _describe,
    _raise_first_mistake,
    _require_function,
    _statements_question,
    _to_numpy,
    exercise,
)

# --- 07.1 memory of embeddings ----------------------------------------------------------------

_PRECISIONS = ("float32", "int8", "binary")


def _memory(n: int, d: int) -> dict[str, int]:
    return {"float32": 4 * n * d, "int8": n * d, "binary": n * math.ceil(d / 8)}


@exercise(
    "07.1",
    title="Memory of N embeddings",
    question=(
        "Write `embedding_memory(n, d)`: the bytes that n embeddings of dimension d take, "
        'vectors only, as a dict {"float32": ..., "int8": ..., "binary": ...}. float32 takes 4 '
        "bytes per dimension and int8 one; binary keeps one bit per dimension, packed 8 to a "
        "byte, and a vector whose d is not a multiple of 8 still fills its last byte (as "
        "numpy.packbits does)."
    ),
)
def _check_embedding_memory(answer: Any) -> str:
    embedding_memory = _require_function(answer, "embedding_memory")
    rng = np.random.default_rng()
    cases = [
        (int(rng.integers(1, 50)) * 1_000_000, int(rng.choice([384, 768, 1024]))),
        (int(rng.integers(1_000, 100_000)), int(rng.choice([128, 256, 512]))),
        (int(rng.integers(10, 1_000)), int(rng.choice([100, 300, 36]))),  # d not a multiple of 8
    ]
    for n, d in cases:
        result = _call(embedding_memory, n, d)
        if not isinstance(result, Mapping):
            raise ExerciseError(
                'return a dict {"float32": bytes, "int8": bytes, "binary": bytes}, not '
                f"{_describe(result)}."
            )
        missing = [name for name in _PRECISIONS if name not in result]
        if missing:
            raise ExerciseError(f"your dict has no {missing[0]!r} key.")
        got = {name: _as_float(result[name], f"your {name!r} value") for name in _PRECISIONS}
        expected = _memory(n, d)
        if all(_close(got[name], expected[name]) for name in _PRECISIONS):
            continue
        if _close(got["float32"], n * d):
            raise ExerciseError(
                "your float32 size counts one byte per dimension: a float32 takes 4 bytes."
            )
        if _close(got["float32"], 32 * n * d) or _close(got["int8"], 8 * n * d):
            raise ExerciseError("you count bits, not bytes: divide by 8.")
        if _close(got["binary"], n * d):
            raise ExerciseError(
                "your binary size keeps a byte per dimension: binary keeps one *bit* per "
                "dimension, eight of them per byte."
            )
        if _close(got["binary"], n * d / 8) and d % 8:
            raise ExerciseError(
                f"for d = {d} your binary size is a fraction of a byte per vector: each vector "
                "fills whole bytes (round its bytes up)."
            )
        if _close(got["binary"], n * (d // 8)) and d % 8:
            raise ExerciseError(
                f"for d = {d} your binary size drops the last, partly filled byte of each vector: "
                "round up, not down."
            )
        for name in _PRECISIONS:
            if not _close(got[name], expected[name]):
                raise ExerciseError(
                    f"the {name!r} size is not right for n = {n:,}, d = {d}: bytes per vector "
                    "times the number of vectors."
                )
    return (
        "float32 : int8 : binary is 32 : 8 : 1, so a million 384-d vectors take about 1.5 GB, "
        "384 MB and 48 MB."
    )


# --- 07.2 recall@k of an approximate search ---------------------------------------------------


def _ann_recall(
    found: np.ndarray, exact: np.ndarray, k: int, *, cut: bool = True, ordered: bool = False
) -> float:
    values = []
    for row_found, row_exact in zip(found, exact, strict=True):
        if ordered:
            values.append(float(np.mean(row_found[:k] == row_exact[:k])))
            continue
        kept = row_found[:k] if cut else row_found
        values.append(len(set(kept.tolist()) & set(row_exact[:k].tolist()) - {-1}) / k)
    return float(np.mean(values))


@exercise(
    "07.2",
    title="Recall@k of an approximate search",
    question=(
        "Write `ann_recall(found, exact, k)`: found and exact are integer arrays of shape "
        "(queries, depth), the row ids an approximate index and exact search returned for each "
        "query, best first (depth >= k). Return recall@k of the index: for each query the "
        "share of the exact top k that the index's top k also contains (in any order), averaged "
        "over the queries. faiss returns -1 where it found nothing: that is no hit."
    ),
)
def _check_ann_recall(answer: Any) -> str:
    ann_recall = _require_function(answer, "ann_recall")
    rng = np.random.default_rng()
    checked = []
    for n_queries, depth, k in ((20, 10, 10), (15, 50, 10), (8, 20, 5)):
        exact = np.stack([rng.choice(5_000, size=depth, replace=False) for _ in range(n_queries)])
        found = exact.copy()
        for row in found:
            # The index swaps neighbours, misses some of the exact ones and finds others.
            swap = rng.choice(depth, size=2, replace=False)
            row[swap] = row[swap[::-1]]
            missed = rng.choice(depth, size=int(rng.integers(1, max(2, depth // 3))), replace=False)
            row[missed] = rng.integers(5_000, 10_000, size=len(missed))
        found[0, -2:] = -1
        found[1, k - 1] = -1
        found[2, :k] = found[2, :k][::-1]
        result = _call(ann_recall, found, exact, k)
        got = _as_float(result, "ann_recall(found, exact, k)")
        checked.append(((found, exact, k), got))

    def agrees(**options: Any) -> bool:
        return all(_close(got, _ann_recall(*case, **options)) for case, got in checked)

    if agrees():
        return "recall@k compares sets: an index may order its top k differently and lose nothing."
    mistakes = [
        (
            {"cut": False},
            "you count hits anywhere in the index's results: only its top k count, as only they "
            "are shown (the results are deeper than k here).",
        ),
        (
            {"ordered": True},
            "you compare position by position: recall@k asks whether the exact neighbours were "
            "found at all within the top k, in any order.",
        ),
    ]
    _raise_first_mistake(agrees, mistakes)
    if any(got > 1 or got < 0 for _, got in checked):
        raise ExerciseError("recall is a share between 0 and 1: divide the hits by k.")
    raise ExerciseError(
        "not recall@k yet: per query, count the ids in both top-k lists (ignoring -1), divide by "
        "k, then average over the queries."
    )


# --- 07.3 an index setting for a recall target ------------------------------------------------

_SETTINGS = (
    "HNSW efSearch=16",
    "HNSW efSearch=32",
    "HNSW efSearch=64",
    "HNSW efSearch=128",
    "IVF nprobe=1",
    "IVF nprobe=4",
    "IVF nprobe=16",
    "IVF nprobe=64",
)


@exercise(
    "07.3",
    title="An index setting for a recall target",
    question=(
        "Write `fastest_setting(results, target)`: results is a pandas DataFrame with one row "
        "per index setting and the columns 'setting', 'recall@10' and 'qps' (queries per "
        "second). Return the name (the 'setting' value) of the fastest setting whose recall@10 "
        "reaches the target (at least target). If no setting reaches it, return None: then "
        "exact search, or a better index, is the answer."
    ),
)
def _check_fastest_setting(answer: Any) -> str:
    import pandas as pd

    fastest_setting = _require_function(answer, "fastest_setting")
    rng = np.random.default_rng()
    for case in range(5):
        # Distinct recalls and speeds: with a tie, a right answer and a wrong one could pick the
        # same row (or two right answers different rows), and the hint would be a coin toss.
        n = len(_SETTINGS)
        recall = np.sort(rng.choice(np.arange(550, 991), size=n, replace=False)) / 1000
        qps = np.sort(rng.choice(np.arange(500, 20_001), size=n, replace=False))[::-1].astype(float)
        recall[[2, 3]] = recall[[3, 2]]  # one fast setting beats a slower one on recall too
        order = rng.permutation(len(_SETTINGS))
        results = pd.DataFrame(
            {"setting": [_SETTINGS[i] for i in order], "recall@10": recall, "qps": qps}
        ).sample(frac=1.0, random_state=int(rng.integers(1 << 31)))
        results = results.reset_index(drop=True)
        if case == 0:  # a setting reaches the target exactly
            target = float(recall[4])
        elif case == 1:
            target = 0.995  # nothing reaches it
        else:
            target = float(rng.uniform(recall[1], recall[-2]))
        good = results[results["recall@10"] >= target]
        expected = None if good.empty else str(good.loc[good["qps"].idxmax(), "setting"])
        if expected is None:
            try:
                result = fastest_setting(results.copy(), target)
            except Exception as error:
                raise ExerciseError(
                    f"when no setting reaches the target your function raised "
                    f"{type(error).__name__}: return None instead."
                ) from error
            if result is None:
                continue
            raise ExerciseError(
                "no setting reaches this target, but your function returned "
                f"{_describe(result)}: return None when nothing qualifies."
            )
        result = _call(fastest_setting, results, target)
        if isinstance(result, (pd.Series, pd.DataFrame)):
            raise ExerciseError("you return a row; return the setting's name (its 'setting').")
        if not isinstance(result, str):
            raise ExerciseError(f"return the setting's name as a string, not {_describe(result)}.")
        if result == expected:
            continue
        if result not in set(results["setting"]):
            raise ExerciseError(f"{result!r} is not one of the settings of the table.")
        row = results.set_index("setting").loc[result]
        if case == 0 and result == str(
            results[results["recall@10"] > target].sort_values("qps").iloc[-1]["setting"]
        ):
            raise ExerciseError("a setting whose recall equals the target reaches it: use >=.")
        if result == str(results.loc[results["recall@10"].idxmax(), "setting"]):
            raise ExerciseError(
                "that is the most accurate setting, not the fastest one that reaches the target: "
                "every setting at or above the target will do, so take the one with most qps."
            )
        if row["recall@10"] < target:
            raise ExerciseError(
                f"{result!r} misses the target (recall@10 {row['recall@10']:.3f}): keep only "
                "the settings that reach it first."
            )
        raise ExerciseError(
            f"{result!r} reaches the target, but another setting that does is faster."
        )
    return "filter by the recall target, then take the most queries per second."


# --- 07.4 rescoring ---------------------------------------------------------------------------


@exercise(
    "07.4",
    title="Rescoring in float32",
    question=(
        "Write `rescore(query, candidates, corpus, k)`: query is a float32 vector of shape (d,), "
        "candidates a list of row ids that a binary search returned for it, corpus the float32 "
        "embeddings of shape (n, d). Return the k candidate ids with the highest inner product "
        "with the query, best first (a list or array of ids, not scores). Only the candidates "
        "are rescored: reading every row would defeat the compression."
    ),
)
def _check_rescore(answer: Any) -> str:
    rescore = _require_function(answer, "rescore")
    rng = np.random.default_rng()
    for n, d, depth, k in ((500, 16, 40, 10), (2_000, 32, 100, 10), (300, 8, 20, 5)):
        corpus = rng.normal(size=(n, d)).astype(np.float32)
        corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
        query = rng.normal(size=d).astype(np.float32)
        query /= np.linalg.norm(query)
        candidates = [int(i) for i in rng.choice(n, size=depth, replace=False)]
        scores = corpus[candidates] @ query
        order = np.argsort(-scores, kind="stable")
        expected = [candidates[i] for i in order[:k]]
        result = _call(rescore, query, candidates, corpus, k)
        array = _to_numpy(result, "your result")
        if array.ndim == 2 and array.shape[-1] == 2:
            raise ExerciseError("return the ids only, best first, not (id, score) pairs.")
        if array.ndim == 1 and array.size and not np.all(np.mod(array, 1) == 0):
            raise ExerciseError(
                "your result holds fractions: these are scores. Return the ids of the candidates."
            )
        got = _as_int_list(result, "your result")
        if got == expected:
            continue
        exact = [int(i) for i in np.argsort(-(corpus @ query), kind="stable")[:k]]
        if got == exact and got != expected:
            raise ExerciseError(
                "you searched the whole corpus: rescoring re-orders only the candidates of the "
                "compressed search (that is what keeps it cheap)."
            )
        if got == [int(order[i]) for i in range(k)]:
            raise ExerciseError(
                "you return positions in the candidate list: map them back to the candidates' "
                "own ids."
            )
        if got == [candidates[i] for i in order[::-1][:k]]:
            raise ExerciseError("your order is ascending: the highest inner product comes first.")
        if got == [candidates[i] for i in order]:
            raise ExerciseError(f"return only the best k = {k}, not every candidate.")
        if got == candidates[:k]:
            raise ExerciseError(
                "you keep the compressed search's order: score each candidate with the float32 "
                "vectors and sort by that."
            )
        if len(got) != k:
            raise ExerciseError(f"return k = {k} ids, not {len(got)}.")
        raise ExerciseError(
            "not the best k candidates by float32 inner product yet: score corpus[candidates] "
            "against the query, sort in descending order, keep the first k."
        )
    return (
        "the compressed codes choose the candidates; float32 vectors, read only for them, "
        "choose the order."
    )


# --- 07.5 what holds at scale -----------------------------------------------------------------

_SCALE_STATEMENTS = {
    "a": "Exact search costs time in proportion to the number of documents: ten times the "
    "corpus, about ten times the milliseconds per query.",
    "b": "An HNSW index returns exactly the same top 10 as exact search, only faster.",
    "c": "Raising HNSW's efSearch (or IVF's nprobe) raises recall and lowers the queries per "
    "second.",
    "d": "Binary embeddings take 32 times less memory than float32 ones; rescoring the top "
    "candidates with float32 vectors recovers most of the quality they lose.",
    "e": "Quantising the embeddings also makes the cross-encoder re-ranking step cheaper.",
    "f": "Recall@10 against exact search measures whether the index finds relevant documents "
    "as judged by people.",
}


@exercise(
    "07.5",
    title="What holds at scale",
    question=_statements_question(
        "About retrieval over millions of documents, which statements are true?",
        _SCALE_STATEMENTS,
    ),
)
def _check_scale_statements(answer: Any) -> str:
    return _check_true_statements(
        answer,
        _SCALE_STATEMENTS,
        {"a", "c", "d"},
        nudge="Ask of each statement which stage it is about (first stage or re-ranker) and what "
        "it is measured against (exact search or judgements).",
        lesson=(
            "exact search grows with the corpus, an index trades recall for speed through one "
            "knob, compression trades memory for quality that rescoring wins back; the "
            "re-ranker's cost depends on the depth, not on the corpus."
        ),
    )


# --- 07.6 batch re-ranking on Ray Data --------------------------------------------------------

_PAIRS = (
    ("what causes scurvy?", "Scurvy results from a lack of vitamin C in the diet."),
    ("what causes scurvy?", "The ship sailed from Plymouth in the spring of 1768."),
    ("what causes scurvy?", "Vitamin C is needed to make collagen; without it wounds reopen."),
    ("insulin resistance in obesity", "Adipose tissue inflammation impairs insulin signalling."),
    ("insulin resistance in obesity", "A guide to planting tomatoes in a small garden."),
    ("insulin resistance in obesity", "Weight loss restores the response of muscle to insulin."),
    ("antibiotic resistance genes", "Plasmids carry genes that let bacteria survive drugs."),
    ("antibiotic resistance genes", "The orchestra tuned before the concert began."),
    ("antibiotic resistance genes", "Beta-lactamases break down penicillin and related drugs."),
    ("sleep and memory", "Slow-wave sleep consolidates newly learned facts."),
)


def _pair_batches(size: int) -> list[dict[str, np.ndarray]]:
    queries = np.array([query for query, _ in _PAIRS], dtype=object)
    texts = np.array([text for _, text in _PAIRS], dtype=object)
    return [
        {"query": queries[start : start + size], "text": texts[start : start + size]}
        for start in range(0, len(_PAIRS), size)
    ]


class _CountLoads:
    """Counts CrossEncoder constructions while it is active (the learner's class makes one)."""

    def __enter__(self) -> _CountLoads:
        from sentence_transformers import CrossEncoder

        self.count = 0
        self._original = CrossEncoder.__init__

        def counting(model: Any, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            self._original(model, *args, **kwargs)

        CrossEncoder.__init__ = counting
        return self

    def __exit__(self, *exc: object) -> None:
        from sentence_transformers import CrossEncoder

        CrossEncoder.__init__ = self._original


def _scores_of(result: Any, batch: dict[str, np.ndarray]) -> np.ndarray:
    if not isinstance(result, Mapping):
        raise ExerciseError(
            f"calling your class on a batch returned {_describe(result)}: return the batch, a "
            "dict of columns, with a `score` column added."
        )
    if "score" not in result:
        raise ExerciseError(f"the returned batch has columns {sorted(result)}: add `score`.")
    for column in ("query", "text"):
        if column not in result:
            raise ExerciseError(
                f"the returned batch lost its `{column}` column: keep the batch's columns and "
                "add `score`, so that each score stays beside its pair."
            )
    scores = _to_numpy(result["score"], "the `score` column").astype(np.float64)
    if scores.shape != (len(batch["query"]),):
        raise ExerciseError(
            f"`score` should hold one number per pair ({len(batch['query'])} in this batch), "
            f"not an array of shape {scores.shape}."
        )
    return scores


def _check_scores(got: np.ndarray, pairs: list[tuple[str, str]], model_path: str) -> None:
    import torch
    from sentence_transformers import CrossEncoder

    reference = CrossEncoder(model_path)
    logits = reference.predict(pairs, activation_fn=torch.nn.Identity(), show_progress_bar=False)
    logits = np.asarray(logits, dtype=np.float64)
    if np.allclose(got, logits, atol=1e-3):
        return
    if np.allclose(got, 1 / (1 + np.exp(-logits)), atol=1e-3):
        raise ExerciseError(
            "these are probabilities (the sigmoid of the logits): ask predict for logits with "
            "activation_fn=torch.nn.Identity()."
        )
    swapped = reference.predict(
        [(text, query) for query, text in pairs],
        activation_fn=torch.nn.Identity(),
        show_progress_bar=False,
    )
    if np.allclose(got, swapped, atol=1e-3):
        raise ExerciseError("each pair goes to the model as (query, text), the query first.")
    if np.allclose(np.sort(got), np.sort(logits), atol=1e-3):
        raise ExerciseError(
            "the right scores in another order: keep the batch's order (score i belongs to "
            "pair i); sorting comes after, within each query."
        )
    raise ExerciseError(
        "not the cross-encoder's logits for these pairs yet: score list(zip(batch['query'], "
        "batch['text'])) with predict(..., activation_fn=torch.nn.Identity())."
    )


def _check_on_ray(scorer: type, model_path: str, expected: np.ndarray) -> None:
    """Run the class as Ray Data runs it: in an actor, over a dataset of pairs."""
    import ray

    from rerank_lab.course import cluster

    started_here = not ray.is_initialized()
    if started_here:
        cluster.start_local_cluster(cores=min(2, os.cpu_count() or 1))
    try:
        rows = (
            ray.data.from_items(
                [{"pair": i, "query": q, "text": t} for i, (q, t) in enumerate(_PAIRS)]
            )
            .map_batches(
                scorer,
                fn_constructor_kwargs={"model": model_path},
                batch_size=4,
                compute=ray.data.ActorPoolStrategy(size=1),
                num_cpus=1,
            )
            .take_all()
        )
    except Exception as error:
        raise ExerciseError(
            f"your class works when called here, but not in a Ray actor: "
            f"{type(error).__name__}: {str(error).splitlines()[0]}"
        ) from error
    finally:
        if started_here:
            cluster.stop_local_cluster()
    got = np.array([row["score"] for row in sorted(rows, key=lambda row: row["pair"])])
    if not np.allclose(got, expected, atol=1e-3):
        raise ExerciseError("in a Ray actor your class gave other scores than when called here.")


@exercise(
    "07.6",
    title="Batch re-ranking on Ray Data",
    question=(
        "Write `ScorePairs`, the callable class that batch re-ranking maps over a Ray dataset "
        "of (query, candidate) pairs. `ScorePairs(model)` loads a sentence-transformers "
        "CrossEncoder from `model` (a Hub id or a folder); calling the instance with a batch (a "
        "dict of NumPy arrays with columns `query` and `text`, one pair per row) returns the "
        "batch with one more column, `score`: the cross-encoder's logit for each pair, in the "
        "batch's order. The check calls your class on a few batches, then runs it in a Ray "
        "actor with map_batches."
    ),
)
def _check_pair_scorer(answer: Any) -> str:
    if not isinstance(answer, type):
        raise ExerciseError(
            f"pass the class `ScorePairs` itself, not {_describe(answer)}: Ray creates the "
            "instances, one per actor."
        )
    from rerank_lab import models

    model_path = models.resolve("cross-encoder", kind="cross-encoder").load_from
    with _CountLoads() as loads:
        scorer = _call(answer, model_path)
        if loads.count == 0:
            raise ExerciseError(
                "creating your class loaded no CrossEncoder: load it in __init__, once per "
                "actor, and keep it on self."
            )
        scores = []
        for batch in _pair_batches(4):
            scores.append(_scores_of(_call(scorer, batch), batch))
        if loads.count > 1:
            raise ExerciseError(
                f"the CrossEncoder was loaded {loads.count} times: load it once in __init__ and "
                "reuse it in __call__ (loading is the expensive part, per actor)."
            )
    got = np.concatenate(scores)
    _check_scores(got, list(_PAIRS), model_path)
    _check_on_ray(answer, model_path, got)
    return (
        "one model per actor, a batch of pairs per call, logits beside their pairs: sort within "
        "each query afterwards, and the same class re-ranks a whole query log on a cluster."
    )


# --- 07.7 efSearch for a recall target, on a real faiss index ---------------------------------

_EF_CHOICES = (1, 2, 4, 8, 16, 32, 64, 128)


def _hnsw_case(seed: int, k: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """A real, deliberately sparse HNSW index over clustered unit vectors (few links, a narrow
    build), so that recall climbs over several efSearch values; its queries and exact top k."""
    import faiss

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, 32))
    vectors = centres[rng.integers(40, size=3_000)] + 0.5 * rng.normal(size=(3_000, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[rng.choice(3_000, size=150, replace=False)] + 0.3 * rng.normal(
        size=(150, 32)
    ).astype(np.float32)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    index = faiss.IndexHNSWFlat(32, 8, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 16
    index.add(vectors)
    exact = faiss.IndexFlatIP(32)
    exact.add(vectors)
    return index, queries, exact.search(queries, k)[1]


def _recalls(index: Any, queries: np.ndarray, exact_ids: np.ndarray) -> dict[int, float]:
    k = exact_ids.shape[1]
    recalls = {}
    for ef in _EF_CHOICES:
        index.hnsw.efSearch = ef
        recalls[ef] = _ann_recall(index.search(queries, k)[1], exact_ids, k)
    return recalls


@exercise(
    "07.7",
    title="efSearch for a recall target",
    question=(
        "Write `ef_search_for(index, queries, exact_ids, target, choices)`: index is a faiss "
        "HNSW index (`faiss.IndexHNSWFlat`), queries a float32 array (queries, d), exact_ids "
        "the exact top k of each query (an int array (queries, k), as `faiss.IndexFlatIP` "
        "returns it), target a recall@k to reach and choices the efSearch values to try (in "
        "any order). Search the index at each setting (`index.hnsw.efSearch = ...`, then "
        "`index.search(queries, k)`) and return the smallest choice whose recall@k against "
        "exact_ids (exercise 07.2) is at least the target; None if no choice reaches it."
    ),
)
def _check_ef_search_for(answer: Any) -> str:
    ef_search_for = _require_function(answer, "ef_search_for")
    rng = np.random.default_rng()
    for k, order in ((10, "shuffled"), (5, "descending"), (10, "few")):
        index, queries, exact_ids = _hnsw_case(seed=int(rng.integers(1 << 31)), k=k)
        recalls = _recalls(index, queries, exact_ids)
        choices = list(_EF_CHOICES)
        if order == "few":  # the sparse graph cannot reach the target with so little effort
            choices = [1, 2]
            target = (max(recalls[1], recalls[2]) + 1.0) / 2
        else:
            levels = sorted(set(recalls.values()))
            middle = len(levels) // 2
            target = (levels[middle - 1] + levels[middle]) / 2 if len(levels) > 1 else levels[0]
            if order == "shuffled":
                rng.shuffle(choices)
            else:
                choices.reverse()
        reaching = [ef for ef in choices if recalls[ef] >= target]
        if order == "shuffled" and len(reaching) >= 3:
            # a reaching choice that is neither the smallest nor the largest comes first, so
            # "the first one that reaches it" is told apart from both right and "the largest"
            first = sorted(reaching)[1]
            choices = [first, *(ef for ef in choices if ef != first)]
        expected = min(reaching) if reaching else None
        index.hnsw.efSearch = 16  # faiss's default, as a learner's index would have it
        arguments = (index, queries.copy(), exact_ids.copy(), target, list(choices))
        try:  # not through _call: None can be the right answer, and an index cannot be copied
            result = ef_search_for(*arguments)
        except NotImplementedError as error:
            raise ExerciseError(
                "your function is not written yet (it raises NotImplementedError)."
            ) from error
        except Exception as error:
            raise ExerciseError(
                f"your function raised {type(error).__name__}: {str(error).splitlines()[0]}"
            ) from error
        if result is ...:
            raise ExerciseError("your function still returns `...`: write its body.")
        if result is None and expected is not None:
            raise ExerciseError(
                "your function returned None, but a choice reaches the target here: is a "
                "`return` missing? Does each search ask for k = exact_ids.shape[1] results, "
                "after setting `index.hnsw.efSearch`?"
            )
        if isinstance(result, (int, np.integer)) and not isinstance(result, bool):
            result = int(result)
        if result == expected:
            continue
        if expected is None:
            raise ExerciseError(
                f"no choice reaches this target, but your function returned {_describe(result)}: "
                "return None when none does."
            )
        if not isinstance(result, int) or result not in choices:
            raise ExerciseError(f"return one of the choices (an efSearch value), not {result!r}.")
        if recalls[result] < target:
            raise ExerciseError(
                f"efSearch={result} reaches recall@{k} {recalls[result]:.3f} here, below the "
                f"target {target:.3f}: search with k = exact_ids.shape[1] after setting "
                "`index.hnsw.efSearch`, and keep the choices whose recall is at least the target."
            )
        if result == max(choices):
            raise ExerciseError(
                "the largest efSearch always reaches a reachable target, but it is the slowest: "
                "return the smallest choice that reaches it."
            )
        raise ExerciseError(
            f"efSearch={result} reaches the target, but a smaller choice does too (the choices "
            "come in any order: sort them)."
        )
    return "the smallest efSearch that meets the target is the fastest setting that does."
