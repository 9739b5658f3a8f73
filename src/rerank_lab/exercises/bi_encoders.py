"""Checkers of notebook 01 (bi-encoders): cosine, mean pooling, top-k, nDCG@k, costs."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rerank_lab.exercises.core import (
    TOLERANCE,
    ExerciseError,
    _as_count,
    _as_float,
    _as_int_list,
    _call,
    _close,
    _describe,
    _require_function,
    _tensor,
    _to_numpy,
    exercise,
)


@exercise(
    "01.1",
    title="Cosine similarity",
    question=(
        "Write `cosine(a, b)`: the cosine similarity of two 1-D torch tensors (two embeddings), "
        "returned as one number (a float or a 0-d tensor). It compares the directions of the "
        "vectors: 1 when they point the same way, 0 when orthogonal, -1 when opposite."
    ),
)
def _check_cosine(answer: Any) -> str:
    cosine = _require_function(answer, "cosine")
    rng = np.random.default_rng()
    a, b = rng.standard_normal(384) * 4.0, rng.standard_normal(384) * 0.3
    u = rng.standard_normal(8) * 2.5
    w = rng.standard_normal(8)
    orthogonal = w - (w @ u) / (u @ u) * u
    cases = [
        ("two random 384-d vectors of different lengths", a, b),
        ("two random 8-d vectors", u, w * 5.0),
        ("two vectors pointing the same way (b = 3·a)", u, 3.0 * u),
        ("two vectors pointing opposite ways (b = -2·a)", u, -2.0 * u),
        ("two orthogonal vectors", u, orthogonal),
    ]
    for description, x, y in cases:
        result = _call(cosine, _tensor(x), _tensor(y))
        got = _as_float(result, "cosine(a, b) of one pair of vectors")
        expected = float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
        if _close(got, expected):
            continue
        if _close(got, float(x @ y)) and not _close(expected, float(x @ y)):
            raise ExerciseError(
                "your value depends on the vectors' lengths (it behaves like a plain dot "
                "product). Cosine similarity compares directions only: stretching a vector must "
                "not change it."
            )
        raise ExerciseError(
            f"wrong value for {description}: got {got:.4f}. Think of the angle between the two "
            "vectors, whatever their lengths."
        )
    return "cosine similarity compares directions, not lengths."


@exercise(
    "01.2",
    title="Mean pooling",
    question=(
        "Write `mean_pool(token_embeddings, attention_mask)`: token_embeddings has shape "
        "(batch, seq, dim), attention_mask shape (batch, seq) with 1 for real tokens and 0 for "
        "padding. Return one sentence embedding per sentence, shape (batch, dim): the average of "
        "that sentence's real token vectors."
    ),
)
def _check_mean_pool(answer: Any) -> str:
    mean_pool = _require_function(answer, "mean_pool")
    rng = np.random.default_rng()
    for batch, seq, dim in ((4, 7, 5), (3, 4, 16)):
        lengths = rng.integers(1, seq + 1, size=batch)
        lengths[:2] = (seq, 1)  # one full sentence, one with a single real token
        rng.shuffle(lengths)
        mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
        tokens = rng.standard_normal((batch, seq, dim))  # padding positions hold vectors too
        masked_sum = (tokens * mask[..., None]).sum(axis=1)
        expected = masked_sum / lengths[:, None]
        got = _to_numpy(
            _call(mean_pool, _tensor(tokens), _tensor(mask)), "mean_pool(token_embeddings, mask)"
        )
        if got.shape != expected.shape:
            raise ExerciseError(
                f"for {batch} sentences of {seq} tokens with {dim}-d token vectors, mean_pool "
                f"should return shape {expected.shape} (one vector per sentence), not {got.shape}."
            )
        if np.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE):
            continue
        mistakes = [
            (
                tokens.mean(axis=1),
                "your average includes the padding tokens. Padding positions hold vectors too, "
                "but they are not part of the sentence: the attention mask says which count.",
            ),
            (
                masked_sum / seq,
                "you leave out the padding vectors but still divide by the padded length, so "
                "short sentences get shrunk vectors: average over the real tokens only.",
            ),
            (
                masked_sum,
                "this is a sum, not an average: a sentence's vector would grow with its length.",
            ),
            (
                tokens.sum(axis=1),
                "this is a sum over every position, padding included: neither an average nor "
                "restricted to the real tokens.",
            ),
            (
                tokens[:, 0],
                "this is only the first ([CLS]) token's vector; mean pooling uses all of a "
                "sentence's real tokens.",
            ),
        ]
        for wrong, hint in mistakes:
            if np.allclose(got, wrong, rtol=TOLERANCE, atol=TOLERANCE):
                raise ExerciseError(hint)
        raise ExerciseError(
            "the result is not the average of each sentence's real token vectors (checked on a "
            "batch whose sentences have different amounts of padding)."
        )
    return "mean pooling averages the real tokens and ignores padding."


@exercise(
    "01.3",
    title="Top-k from a similarity matrix",
    question=(
        "Write `top_k(scores, k)`: scores is a torch tensor of shape (n_queries, n_docs) whose "
        "row i holds query i's similarity to every document. Return, for each query, the "
        "indices of its k most similar documents, best first (a list of lists, or a 2-D "
        "tensor/array of shape (n_queries, k))."
    ),
)
def _check_top_k(answer: Any) -> str:
    top_k = _require_function(answer, "top_k")
    rng = np.random.default_rng()
    # First a case where ranking the wrong axis still runs (k < n_queries < n_docs).
    for n_queries, n_docs, k in ((6, 10, 4), (5, 7, 1), (2, 6, 6), (4, 12, 3)):
        scores = rng.standard_normal((n_queries, n_docs))  # continuous: no ties
        best_first = np.argsort(-scores, axis=1)
        result = _call(top_k, _tensor(scores), k)
        if isinstance(result, tuple) and hasattr(result, "indices"):  # torch.topk's whole result
            raise ExerciseError("you return both the scores and the indices: return the indices.")
        if not isinstance(result, (list, tuple)):
            array = _to_numpy(result, "top_k(scores, k)")
            if array.ndim != 2:
                raise ExerciseError(
                    f"top_k should give one list of k indices per query, not {_describe(result)}."
                )
            result = list(array)
        rows = [_as_int_list(row, f"the list of query {i}") for i, row in enumerate(result)]
        if len(rows) != n_queries:
            shape = (len(rows), len(rows[0]) if rows else 0)
            if shape in ((k, n_docs), (n_docs, k)):
                raise ExerciseError(
                    "you ranked along the wrong axis: rows are queries, columns are documents. "
                    "Each query's top k comes from its own row."
                )
            raise ExerciseError(
                f"with {n_queries} queries, top_k should return {n_queries} lists (one per "
                f"query), not {len(rows)}."
            )
        for query, row in enumerate(rows):
            if len(row) != k:
                raise ExerciseError(
                    f"each query's list should hold exactly k indices; with k={k} one held "
                    f"{len(row)}{' (off by one?)' if abs(len(row) - k) == 1 else ''}."
                )
            wanted = [int(index) for index in best_first[query, :k]]
            if row == wanted:
                continue
            lowest = [int(index) for index in best_first[query, ::-1][:k]]
            if row in (wanted[::-1], lowest):
                raise ExerciseError(
                    "your order is ascending. A search result lists the most similar document "
                    "first: the highest score wins."
                )
            if sorted(row) == sorted(wanted):
                raise ExerciseError("the right documents, but not best first: sort them by score.")
            raise ExerciseError(
                f"the list of query {query} does not hold that query's {k} highest-scoring "
                "documents (remember: row i of scores belongs to query i)."
            )
    return "each query's k best documents, best first."


def _ndcg_reference(
    ranked: Sequence[str],
    grades: Mapping[str, int],
    k: int,
    *,
    gain: Callable[[int], float] = float,
    discount: Callable[[int], float] = lambda rank: math.log2(rank + 1),
    ideal_from_ranking: bool = False,
    cut_ranking: bool = True,
    cut_ideal: bool = True,
    normalise: bool = True,
) -> float:
    """nDCG@k as trec_eval's ndcg_cut computes it; the keywords switch on the usual mistakes."""
    retrieved = list(ranked[:k] if cut_ranking else ranked)
    dcg = sum(
        gain(grades.get(doc, 0)) / discount(rank) for rank, doc in enumerate(retrieved, start=1)
    )
    if not normalise:
        return dcg
    pool = [grades.get(doc, 0) for doc in retrieved] if ideal_from_ranking else grades.values()
    ideal = sorted(pool, reverse=True)[:k] if cut_ideal else sorted(pool, reverse=True)
    ideal_dcg = sum(gain(grade) / discount(rank) for rank, grade in enumerate(ideal, start=1))
    return dcg / ideal_dcg if ideal_dcg > 0 else 0.0


def _ndcg_cases(rng: np.random.Generator) -> list[tuple[list[str], dict[str, int], int]]:
    """The workshop's two cases, designed graded cases, and random graded ones (fresh doc ids)."""
    ids = [f"doc{number}" for number in rng.choice(10_000, size=60, replace=False)]
    cases = [
        # One query, two relevant documents: at rank 1 and outside the top 10; at ranks 1 and 6.
        (ids[:20], {ids[0]: 1, ids[13]: 1}, 10),
        (ids[:20], {ids[0]: 1, ids[5]: 1}, 10),
        # More relevant documents than k, some never retrieved, one judged 0, grades 1 to 3.
        (
            ids[:8],
            {ids[1]: 3, ids[3]: 1, ids[2]: 0, ids[6]: 2, ids[40]: 2, ids[41]: 1, ids[42]: 3},
            5,
        ),
        # A ranking shorter than k.
        (ids[20:24], {ids[21]: 2, ids[23]: 1, ids[43]: 1}, 10),
    ]
    for _ in range(3):
        k = int(rng.choice([3, 5, 10]))
        ranked = [str(doc) for doc in rng.choice(ids[:40], size=12, replace=False)]
        grades = {str(doc): int(rng.integers(0, 4)) for doc in rng.choice(ids, 9, replace=False)}
        grades[ranked[int(rng.integers(0, k))]] = 2  # at least one relevant document in the top k
        cases.append((ranked, grades, k))
    return cases


_NDCG_DIVISION_HINT = (
    "ranks count from 1 while Python's enumerate starts at 0, and no discount may be zero; "
    "nor is the ideal DCG zero while some document is relevant"
)


@exercise(
    "01.4",
    title="nDCG@k by hand",
    question=(
        "Write `ndcg_at_k(ranked, grades, k)`: ranked is a list of document ids, best first; "
        "grades maps document ids to graded relevance (0 or missing means not relevant). Use "
        "linear gain (gain = grade) and the discount log2(rank + 1) with ranks counted from 1: "
        "DCG@k of the ranking divided by DCG@k of the ideal ranking of all graded documents."
    ),
)
def _check_ndcg(answer: Any) -> str:
    ndcg_at_k = _require_function(answer, "ndcg_at_k")
    checked = []  # (case, the learner's value)
    for ranked, grades, k in _ndcg_cases(np.random.default_rng()):
        value = _call(
            ndcg_at_k,
            ranked,
            grades,
            k,
            crash_hints={
                ZeroDivisionError: _NDCG_DIVISION_HINT,
                IndexError: "the ranking may hold fewer than k documents",
            },
        )
        got = _as_float(value, "ndcg_at_k(ranked, grades, k)")
        if not math.isfinite(got):
            raise ExerciseError(
                f"your function returned {got}, a sign of dividing by zero: {_NDCG_DIVISION_HINT}."
            )
        checked.append(((ranked, grades, k), got))

    def agrees(**options: Any) -> bool:
        return all(_close(got, _ndcg_reference(*case, **options)) for case, got in checked)

    if agrees():
        return "linear gains, log2(rank + 1) discounts, normalised by the ideal ranking."
    off_by_one = (
        "check the discount's ranks: the top document is rank 1, and Python's enumerate "
        "counts from 0."
    )
    mistakes: list[tuple[dict[str, Any], str]] = [
        (
            {"ideal_from_ranking": True},
            "your ideal DCG is built from the documents your ranking retrieved. The ideal "
            "ranking orders every graded document, found or not: missing a relevant document "
            "must cost something.",
        ),
        ({"discount": lambda rank: max(1.0, math.log2(rank))}, off_by_one),
        ({"discount": lambda rank: math.log2(rank + 2)}, off_by_one),
        (
            {"gain": lambda grade: float(grade > 0)},
            "you count every relevant document the same; with graded relevance a document's "
            "gain is its grade.",
        ),
        (
            {"gain": lambda grade: 2.0**grade - 1.0},
            "that is the exponential gain (2^grade - 1); this exercise uses linear gain.",
        ),
        (
            {"normalise": False},
            "this is DCG, not nDCG: normalise by the DCG of the ideal ranking, so that a perfect "
            "ranking scores 1.",
        ),
        (
            {"cut_ranking": False},
            "documents below rank k still count in your DCG; @k means only the top k count.",
        ),
        (
            {"cut_ideal": False},
            "your ideal DCG sums over more than k documents; cut the ideal ranking at k too.",
        ),
    ]
    for options, hint in mistakes:
        if agrees(**options):
            raise ExerciseError(hint)
    (ranked, grades, k), got = next(
        (case, got) for case, got in checked if not _close(got, _ndcg_reference(*case))
    )
    raise ExerciseError(
        f"not right yet for ranked={ranked}, grades={grades}, k={k}: your function returned "
        f"{got:.4f}. Work this case by hand: DCG@k of the ranking, then of the ideal ranking."
    )


_SENTENCES = 30_000


@exercise(
    "01.5",
    title="The cost of a bi-encoder",
    question=(
        "A bi-encoder must find the most similar pair among 30,000 sentences. How many times "
        "does it run the model (how many embeddings does it compute)? Answer with a number."
    ),
)
def _check_bi_encoder_cost(answer: Any) -> str:
    number = _as_count(answer)
    if number == _SENTENCES:
        return "one embedding per sentence; comparing the vectors is cheap."
    pairs = {_SENTENCES * (_SENTENCES - 1) // 2, _SENTENCES * (_SENTENCES - 1), _SENTENCES**2}
    if number in pairs:
        raise ExerciseError(
            "that counts pairs of sentences: the cost of a cross-encoder, which runs the model "
            "on every pair. A bi-encoder's model sees one sentence at a time, and the vectors "
            "are compared afterwards without it. How many runs does that take?"
        )
    raise ExerciseError(
        "count the model runs: each run turns one sentence into one embedding, and finding the "
        "closest pair then only compares embeddings."
    )


_ASYMMETRIC_CHOICES = {
    "a": "a question → the passages that answer it",
    "b": "finding duplicate questions in a forum",
    "c": "finding paraphrases of a sentence",
}


@exercise(
    "01.6",
    title="Symmetric or asymmetric search?",
    question="Which of these searches is asymmetric? Answer with a letter.\n"
    + "\n".join(f"  {letter}) {text}" for letter, text in _ASYMMETRIC_CHOICES.items()),
)
def _check_asymmetric(answer: Any) -> str:
    letter = answer.strip().strip("()[].").strip().lower() if isinstance(answer, str) else None
    if letter not in _ASYMMETRIC_CHOICES:
        raise ExerciseError(
            f"answer with one of the letters {', '.join(_ASYMMETRIC_CHOICES)}, not {answer!r}."
        )
    if letter == "a":
        return "a short question and a long answer passage are different kinds of text."
    raise ExerciseError(
        "in your choice, query and result are the same kind of text: you could swap them. "
        "Asymmetric search matches a short query against a different, longer kind of text."
    )
