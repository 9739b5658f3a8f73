"""Checkers of notebook 01 (bi-encoders): cosine, max pooling, top-k, MRR@k, costs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    _raise_first_mistake,
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
    title="Max pooling",
    question=(
        "Notebook 01 wrote mean pooling. Some models pool differently: write "
        "`max_pool(token_embeddings, attention_mask)`. token_embeddings has shape (batch, seq, "
        "dim), attention_mask shape (batch, seq) with 1 for real tokens and 0 for padding. "
        "Return one vector per sentence, shape (batch, dim): in each dimension, the largest "
        "value over that sentence's real tokens. Padding must never win, whatever it holds."
    ),
)
def _check_max_pool(answer: Any) -> str:
    max_pool = _require_function(answer, "max_pool")
    rng = np.random.default_rng()
    for batch, seq, dim in ((4, 7, 5), (3, 4, 16)):
        lengths = rng.integers(1, seq + 1, size=batch)
        lengths[:2] = (seq, 1)  # one full sentence, one with a single real token
        rng.shuffle(lengths)
        mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
        tokens = rng.standard_normal((batch, seq, dim)) - 1.0  # mostly negative values
        tokens[mask == 0] += 3.0  # padding holds large vectors: it wins if it is not masked
        masked = np.where(mask[..., None] == 1, tokens, -np.inf)
        expected = masked.max(axis=1)
        got = _to_numpy(
            _call(max_pool, _tensor(tokens), _tensor(mask)), "max_pool(token_embeddings, mask)"
        )
        if got.shape != expected.shape:
            raise ExerciseError(
                f"for {batch} sentences of {seq} tokens with {dim}-d token vectors, max_pool "
                f"should return shape {expected.shape} (one vector per sentence), not {got.shape}."
            )
        if np.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE):
            continue
        zeroed = (tokens * mask[..., None]).max(axis=1)
        mistakes = [
            (
                tokens.max(axis=1),
                "padding wins some dimensions: take the maximum over the real tokens only (the "
                "attention mask says which they are).",
            ),
            (
                zeroed,
                "you set padding to 0 before the maximum, but real tokens can be negative, so a "
                "0 from padding still wins. Give padding a value that can never win (-inf, or "
                "the smallest float).",
            ),
            (
                (tokens * mask[..., None]).sum(axis=1) / lengths[:, None],
                "this is mean pooling; max pooling keeps each dimension's largest value.",
            ),
            (
                tokens[:, 0],
                "this is only the first ([CLS]) token's vector; max pooling uses all of a "
                "sentence's real tokens.",
            ),
        ]
        for wrong, hint in mistakes:
            if np.allclose(got, wrong, rtol=TOLERANCE, atol=TOLERANCE):
                raise ExerciseError(hint)
        raise ExerciseError(
            "the result is not each dimension's largest value over a sentence's real tokens "
            "(checked on a batch whose sentences have different amounts of padding)."
        )
    return "max pooling over the real tokens: padding masked with a value that never wins."


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


def _mrr_reference(
    runs: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    k: int,
    *,
    first_rank: int = 1,
    cut: bool = True,
    judged_is_relevant: bool = False,
    only_found: bool = False,
    every_relevant: bool = False,
) -> float:
    """MRR@k as trec_eval's recip_rank cut at k; the keywords switch on the usual mistakes."""
    values = []
    for query, ranked in runs.items():
        grades = qrels.get(query, {})
        retrieved = list(ranked[:k] if cut else ranked)
        ranks = [
            rank
            for rank, doc in enumerate(retrieved, start=first_rank)
            if (doc in grades if judged_is_relevant else grades.get(doc, 0) >= 1)
        ]
        if every_relevant:
            values.append(sum(1 / rank for rank in ranks))
        elif ranks:
            values.append(1 / ranks[0])
        elif not only_found:
            values.append(0.0)
    return float(np.mean(values)) if values else 0.0


def _mrr_cases(rng: np.random.Generator) -> list[tuple[dict, dict, int]]:
    """Rankings where the first relevant document sits at rank 1, at rank 3 behind a document
    judged 0, just past k, nowhere, and twice in the top k; then random ones (fresh ids)."""
    ids = [f"doc{number}" for number in rng.choice(10_000, size=80, replace=False)]
    k = 5
    runs = {
        "q1": ids[0:8],
        "q2": ids[8:16],
        "q3": ids[16:24],
        "q4": ids[24:32],
        "q5": ids[32:40],
    }
    qrels = {
        "q1": {ids[0]: 2, ids[3]: 1},  # rank 1, and another relevant at rank 4
        "q2": {ids[9]: 0, ids[10]: 1},  # judged 0 at rank 2, relevant at rank 3
        "q3": {ids[22]: 2},  # rank 7: past k
        "q4": {ids[60]: 1},  # never retrieved
        "q5": {ids[33]: 1, ids[35]: 3},  # ranks 2 and 4
    }
    cases = [(runs, qrels, k)]
    for _ in range(2):
        k = int(rng.choice([3, 5, 10]))
        runs, qrels = {}, {}
        for number in range(6):
            ranked = [str(doc) for doc in rng.choice(ids, size=12, replace=False)]
            runs[f"r{number}"] = ranked
            judged = rng.choice(ids, size=6, replace=False)
            qrels[f"r{number}"] = {str(doc): int(rng.integers(0, 3)) for doc in judged}
            if number % 2 == 0:  # half the queries find something relevant in their top k
                qrels[f"r{number}"][ranked[int(rng.integers(0, k))]] = 2
        cases.append((runs, qrels, k))
    return cases


@exercise(
    "01.4",
    title="MRR@k by hand",
    question=(
        "Notebook 01 reported mrr@10 from rl.metrics; write it. `mrr_at_k(runs, qrels, k)`: "
        "runs maps each query id to its ranked list of document ids (best first); qrels maps "
        "each query id to {document id: grade}, where only a grade of 1 or more means relevant. "
        "For each query take 1 / rank of the first relevant document in the top k (ranks count "
        "from 1), or 0 when there is none; return the mean over all the queries in runs."
    ),
)
def _check_mrr(answer: Any) -> str:
    mrr_at_k = _require_function(answer, "mrr_at_k")
    checked = []  # (case, the learner's value)
    for runs, qrels, k in _mrr_cases(np.random.default_rng()):
        value = _call(
            mrr_at_k,
            {query: list(ranked) for query, ranked in runs.items()},
            {query: dict(grades) for query, grades in qrels.items()},
            k,
            crash_hints={
                ZeroDivisionError: "ranks count from 1, while Python's enumerate starts at 0",
                KeyError: "a retrieved document may be missing from the query's qrels: "
                "treat it as not relevant (grades.get(doc, 0))",
            },
        )
        if isinstance(value, Mapping):
            raise ExerciseError(
                "you return one value per query: return their mean, one number for the run."
            )
        checked.append(((runs, qrels, k), _as_float(value, "mrr_at_k(runs, qrels, k)")))

    def agrees(**options: Any) -> bool:
        return all(_close(got, _mrr_reference(*case, **options)) for case, got in checked)

    if agrees():
        return "the first relevant document's reciprocal rank within k, 0 without one, averaged."
    mistakes: list[tuple[dict[str, Any], str]] = [
        (
            {"first_rank": 2},
            "check the ranks: the top document is rank 1, so a relevant first document scores 1.",
        ),
        (
            {"cut": False},
            "a relevant document below rank k still counts in yours; @k means only the top k.",
        ),
        (
            {"judged_is_relevant": True},
            "a document judged 0 is not relevant: only a grade of 1 or more counts.",
        ),
        (
            {"only_found": True},
            "you average only over the queries where something relevant was found: a query "
            "with none in its top k scores 0 and still counts in the mean.",
        ),
        (
            {"every_relevant": True},
            "you add up the reciprocal ranks of every relevant document; MRR uses the first "
            "one only.",
        ),
    ]
    _raise_first_mistake(agrees, mistakes)
    raise ExerciseError(
        "not MRR@k yet. For each query, walk its top k from rank 1; at the first document "
        "whose grade is 1 or more, its score is 1 / rank; 0 if none; then average."
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
