"""Automatic checkers for the exercises notebooks, with hints that teach instead of telling.

A learner writes an answer in an exercises notebook and calls ``check("01.2", mean_pool)``. A
right answer prints a one-line confirmation and returns True; anything else raises an
:class:`ExerciseError` (an AssertionError, so nbval and plain ``assert`` habits both work) whose
message is a hint.

How it is built:

* **A registry.** Each exercise is one checker function decorated with
  ``@exercise("01.2", title=..., question=...)``, which wraps it in an :class:`Exercise` and
  files it in :data:`EXERCISES` under its id. Notebooks print ``EXERCISES[id].question``;
  ``check`` looks the id up (an unknown id raises a KeyError listing the valid ones).
* **Behaviour, not values.** Checkers of functions call the learner's function on fresh random
  inputs (a new random generator each time, never the global seed the notebooks set) and
  compare with a small reference written here, so a hard-coded output cannot pass.
* **Hints name the concept.** When an answer is wrong, the checker recomputes the usual mistakes
  (a dot product instead of a cosine, padding included in a mean, an ideal DCG built from the
  ranking, ...) and, if one of them matches, says which idea is missing without giving the
  right value away.
* **Shared helpers** recognise placeholders (``...``, ``None``, a function that is not written
  yet), turn the forms a learner may return (Python or NumPy numbers, lists, tuples, NumPy
  arrays, torch tensors) into plain values, and call the learner's function so that a crash
  becomes a hint that chains the original error.

torch is imported only inside the checkers that build tensors, and transformers (for the MiniLM
tokenizer of 02.3) only on first use, so importing this module is cheap.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["EXERCISES", "Exercise", "ExerciseError", "check", "exercise"]

TOLERANCE = 1e-4
"""Absolute and relative tolerance when comparing a learner's floats with the reference."""


class ExerciseError(AssertionError):
    """A wrong, missing or unfinished answer; the message is a hint for the learner."""


Checker = Callable[[Any], str]
"""Checks an answer: returns a short confirmation, or raises ExerciseError with a hint."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id, a title and the question a notebook shows, and its checker."""

    id: str
    title: str
    question: str
    checker: Checker

    def __call__(self, answer: Any) -> str:
        """Check ``answer``; return the confirmation, or raise ExerciseError ("✗ id: hint")."""
        try:
            if _is_placeholder(answer):
                shown = "..." if answer is ... else "None"
                raise ExerciseError(f"no answer yet (got {shown}): replace it with your answer.")
            return self.checker(answer)
        except ExerciseError as error:
            # Re-raised with the id in front; a crash of the learner's code stays chained.
            raise ExerciseError(f"✗ {self.id} ({self.title}): {error}") from error.__cause__


class _Registry(dict[str, Exercise]):
    """The exercises by id; an unknown id raises a KeyError that lists the valid ones."""

    def __missing__(self, key: str) -> Exercise:
        raise KeyError(f"Unknown exercise {key!r}. Valid ids: {', '.join(sorted(self))}.")


EXERCISES: dict[str, Exercise] = _Registry()
"""Every exercise of the course by id ("01.1", ...), in the order of the notebooks."""


def exercise(exercise_id: str, *, title: str, question: str) -> Callable[[Checker], Exercise]:
    """Decorator that registers a checker in :data:`EXERCISES` as exercise ``exercise_id``."""

    def register(checker: Checker) -> Exercise:
        if exercise_id in EXERCISES:
            raise ValueError(f"Exercise {exercise_id!r} is registered twice.")
        EXERCISES[exercise_id] = Exercise(exercise_id, title, question, checker)
        return EXERCISES[exercise_id]

    return register


def check(exercise_id: str, answer: Any) -> bool:
    """Check a learner's answer to exercise ``exercise_id``.

    Prints a short confirmation and returns True when the answer is right; raises
    :class:`ExerciseError` with a hint when it is wrong, missing or still a placeholder, and a
    KeyError listing the valid ids when ``exercise_id`` is unknown.
    """
    confirmation = EXERCISES[exercise_id](answer)
    print(f"✓ {exercise_id} correct: {confirmation}")
    return True


# --- Shared helpers ----------------------------------------------------------------------------


def _is_placeholder(value: Any) -> bool:
    """True for what an exercise cell holds before it is answered: ``...`` or None."""
    return value is ... or value is None


def _is_tensor(value: Any) -> bool:
    """True for a torch tensor, recognised without importing torch."""
    return hasattr(value, "detach") and hasattr(value, "numpy")


def _describe(value: Any) -> str:
    """A short description of a value for a hint: its kind and shape, not its content."""
    if _is_tensor(value) or isinstance(value, np.ndarray):
        kind = "a tensor" if _is_tensor(value) else "an array"
        return f"{kind} of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return f"the {type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _to_numpy(value: Any, what: str) -> np.ndarray:
    """Numbers, nested lists/tuples, NumPy arrays or torch tensors as one numeric NumPy array."""
    if isinstance(value, (list, tuple)):
        items = [_to_numpy(item, what) for item in value]
        if not items:
            return np.empty(0)
        if len({item.shape for item in items}) > 1:
            raise ExerciseError(f"{what} has rows of different lengths ({_describe(value)}).")
        return np.stack(items)
    if _is_tensor(value):
        tensor = value.detach().cpu()
        array = (tensor.double() if tensor.is_floating_point() else tensor).numpy()
    else:
        array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.number):
        raise ExerciseError(f"{what} should be made of numbers, but it is {_describe(value)}.")
    return array


def _as_float(value: Any, what: str) -> float:
    """One number (Python, NumPy, or a tensor/array holding a single element) as a float."""
    array = _to_numpy(value, what)
    if array.size != 1:
        raise ExerciseError(f"{what} should be a single number, but it is {_describe(value)}.")
    return float(array.reshape(()))


def _as_int_list(value: Any, what: str) -> list[int]:
    """A 1-D list/tuple/array/tensor of whole numbers (indices) as a list of ints."""
    array = _to_numpy(value, what)
    if array.ndim != 1:
        raise ExerciseError(f"{what} should be a flat list of indices, not {_describe(value)}.")
    if not np.all(np.mod(array, 1) == 0):
        raise ExerciseError(
            f"{what} should hold document indices (whole numbers), but holds values such as "
            f"{array[np.mod(array, 1) != 0][0]:.3f}: scores, perhaps, rather than positions?"
        )
    return [int(item) for item in array]


def _as_count(answer: Any) -> float:
    """A count given as a number (Python, NumPy, 0-d tensor) or a string such as "30,000"."""
    if isinstance(answer, str):
        try:
            return float(re.sub(r"[,_\s]", "", answer))
        except ValueError:
            raise ExerciseError(f"answer with a number, not {answer!r}.") from None
    return _as_float(answer, "your answer")


def _close(got: float, expected: float) -> bool:
    return math.isclose(got, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def _require_function(answer: Any, name: str) -> Callable[..., Any]:
    """The learner's function itself; a hint if they passed a value (e.g. its result) instead."""
    if not callable(answer):
        raise ExerciseError(
            f"pass your function `{name}` itself (without parentheses), not {_describe(answer)}."
        )
    return answer


def _call(
    function: Callable[..., Any],
    *args: Any,
    crash_hints: Mapping[type[Exception], str] | None = None,
    copy_args: bool = True,
) -> Any:
    """Call the learner's function on copies of ``args``; turn every way it can fail into a hint.

    A function that is not written yet (raises NotImplementedError, returns ``...`` or None)
    gets a "not written yet" hint; one that raises gets "your function raised X: msg", chained
    to the original error, plus the hint of ``crash_hints`` for that kind of error if any.
    ``copy_args=False`` passes the arguments themselves, for ones that are costly to copy (a
    tokenizer) and that the checker has finished using before the call.
    """
    try:
        result = function(*(copy.deepcopy(args) if copy_args else args))
    except NotImplementedError as error:
        raise ExerciseError(
            "your function is not written yet (it raises NotImplementedError)."
        ) from error
    except Exception as error:
        extra = next(
            (hint for kind, hint in (crash_hints or {}).items() if isinstance(error, kind)), ""
        )
        message = f"your function raised {type(error).__name__}: {error}"
        raise ExerciseError(f"{message} ({extra})" if extra else message) from error
    if result is ...:
        raise ExerciseError("your function still returns `...`: write its body.")
    if result is None:
        raise ExerciseError("your function returned None: is a `return` missing?")
    return result


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A float32 (or int64 for integer arrays) torch tensor, without touching torch's global RNG."""
    import torch

    return torch.from_numpy(array.astype(np.int64 if array.dtype.kind in "iub" else np.float32))


# --- Notebook 01: bi-encoders ------------------------------------------------------------------


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


# --- Notebook 02: cross-encoders ---------------------------------------------------------------


@exercise(
    "02.1",
    title="Probabilities from logits",
    question=(
        "An MS MARCO cross-encoder gives each (query, passage) pair a logit: any real number, "
        "higher meaning more relevant. Write `to_probability(logits)`: logits is a 1-D NumPy "
        "array of floats (what CrossEncoder.predict returns). Return one probability between 0 "
        "and 1 per logit, computed with the logistic sigmoid (a list, a NumPy array or a torch "
        "tensor of the same length)."
    ),
)
def _check_to_probability(answer: Any) -> str:
    to_probability = _require_function(answer, "to_probability")
    rng = np.random.default_rng()
    spread = rng.uniform(-10.0, 10.0, size=7)
    spread[:2] = rng.uniform(2.0, 10.0), rng.uniform(-10.0, -2.0)  # clearly relevant, and not
    opposite = float(rng.uniform(0.5, 4.0))
    cases = [
        ("seven logits between -10 and 10", spread),
        ("the logits (x, 0, -x)", np.array([opposite, 0.0, -opposite])),
        ("a single logit", rng.uniform(-3.0, 3.0, size=1)),
    ]
    for description, logits in cases:
        logits = logits.astype(np.float32)  # CrossEncoder.predict returns float32
        x = logits.astype(np.float64)
        expected = 1.0 / (1.0 + np.exp(-x))
        result = _call(
            to_probability,
            logits,
            crash_hints={
                TypeError: "logits arrives as a NumPy array: torch functions need it turned into "
                "a tensor first (torch.from_numpy), and math.exp takes one number at a time"
            },
        )
        got = _to_numpy(result, "to_probability(logits)")
        if got.size != len(x) or max(got.shape, default=1) != got.size:
            raise ExerciseError(
                f"for {len(x)} logits, to_probability should return {len(x)} probabilities (one "
                f"per logit, in the same order), not {_describe(result)}."
            )
        got = got.reshape(-1).astype(np.float64)
        if np.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE):
            continue
        mistakes = [
            (
                x,
                "these are the logits themselves, unchanged. A logit can be any real number; a "
                "probability lies between 0 and 1: squash each logit with the logistic sigmoid.",
            ),
            (
                np.exp(x),
                "exp alone makes a logit positive, but not at most 1: large logits give values "
                "far above 1. The logistic sigmoid squashes every real number into (0, 1).",
            ),
            (
                1.0 / (1.0 + np.exp(x)),
                "your probabilities go the wrong way: a higher logit (more relevant) must give a "
                "higher probability. Check the sign inside your function.",
            ),
        ]
        for wrong, hint in mistakes:
            if np.allclose(got, wrong, rtol=TOLERANCE, atol=TOLERANCE):
                raise ExerciseError(hint)
        # Outside [0, 1] first: saturated values (tanh) can sum to 1 by chance.
        if np.any((got < 0.0) | (got > 1.0)) or not np.all(np.isfinite(got)):
            raise ExerciseError(
                f"for {description}, some of your values are not between 0 and 1, so they "
                "cannot be probabilities."
            )
        if math.isclose(got.sum(), 1.0, abs_tol=TOLERANCE) and not math.isclose(
            expected.sum(), 1.0, abs_tol=TOLERANCE
        ):
            raise ExerciseError(
                "your probabilities sum to 1 over the whole list: that is a softmax, which makes "
                "the passages compete with each other. Each logit is a separate yes/no judgement "
                "of one (query, passage) pair: turn each into a probability on its own."
            )
        raise ExerciseError(
            f"for {description}, your values are between 0 and 1 but are not the logistic "
            "sigmoid of each logit (a logit of 0 means 50/50, and the sigmoid of -x is 1 minus "
            "the sigmoid of x)."
        )
    return "the sigmoid turns each pair's logit into its own probability; the order is unchanged."


def _passage_texts(result: Any, what: str) -> list[str]:
    """The passages a learner returned as a list of strings; a hint for the usual other forms."""
    if isinstance(result, str):
        raise ExerciseError(f"{what} should be a list of passages, not one string.")
    if isinstance(result, np.ndarray) and result.dtype.kind in "UO":
        result = result.tolist()
    if isinstance(result, (list, tuple)):
        if all(isinstance(item, str) for item in result):
            return list(result)
        if all(isinstance(item, Mapping) for item in result):
            raise ExerciseError(
                f"{what} holds dictionaries (like CrossEncoder.rank's results); return the "
                "passages' texts themselves."
            )
        if all(
            isinstance(item, (list, tuple)) and any(isinstance(part, str) for part in item)
            for item in result
        ):
            raise ExerciseError(
                f"{what} holds (passage, score) pairs; return the passages' texts only."
            )
    try:
        numbers = _to_numpy(result, what)
    except ExerciseError:
        raise ExerciseError(
            f"{what} should be a list of passage texts (strings), not {_describe(result)}."
        ) from None
    if numbers.size and np.all(np.mod(numbers, 1) == 0):
        raise ExerciseError(
            f"{what} holds numbers such as {numbers.reshape(-1)[0]:g}: positions in the list "
            "rather than passages? Return the passages' texts themselves."
        )
    raise ExerciseError(
        f"{what} holds numbers such as {numbers.reshape(-1)[0]:.3f}: scores, perhaps? Return "
        "the passages' texts."
    )


@exercise(
    "02.2",
    title="Rank passages by cross-encoder score",
    question=(
        "Write `rank_by_scores(passages, scores, k)`: passages is a list of texts and scores a "
        "1-D NumPy array of their cross-encoder scores (scores[i] belongs to passages[i]). "
        "Return the texts of the k highest-scoring passages, best first (a list of strings)."
    ),
)
def _check_rank_by_scores(answer: Any) -> str:
    rank_by_scores = _require_function(answer, "rank_by_scores")
    rng = np.random.default_rng()
    # First a case with k < n, so that ignoring k shows.
    for n, k in ((9, 4), (6, 1), (5, 5), (12, 3)):
        passages = [f"passage #{number}" for number in rng.choice(1000, size=n, replace=False)]
        scores = rng.uniform(-10.0, 10.0, size=n).astype(np.float32)  # continuous: no ties
        order = [passages[index] for index in np.argsort(-scores.astype(np.float64))]
        expected = order[:k]
        result = _call(
            rank_by_scores,
            passages,
            scores,
            k,
            crash_hints={
                TypeError: "passages is a Python list: it takes one whole-number index at a time"
            },
        )
        got = _passage_texts(result, "rank_by_scores(passages, scores, k)")
        if got == expected:
            continue
        if len(got) == n and k < n:
            if got in (order, order[::-1]):
                raise ExerciseError(
                    f"you return all {n} passages: with k={k}, return only the k best."
                )
            raise ExerciseError(f"you return all {n} passages, but k={k}: return the k best.")
        if len(got) != k:
            raise ExerciseError(
                f"with k={k}, return exactly k passages, not {len(got)}"
                f"{' (off by one?)' if abs(len(got) - k) == 1 else ''}."
            )
        if got in (expected[::-1], order[::-1][:k]):
            raise ExerciseError(
                "your order is ascending. A ranking lists the most relevant passage first: the "
                "highest cross-encoder score wins."
            )
        if sorted(got) == sorted(expected):
            raise ExerciseError("the right passages, but not best first: sort them by score.")
        raise ExerciseError(
            f"these are not the {k} highest-scoring passages (remember: scores[i] belongs to "
            "passages[i], and the passages come back as texts)."
        )
    return "the k passages with the highest cross-encoder scores, best first."


@lru_cache(maxsize=1)
def _minilm_tokenizer() -> tuple[Any, tuple[str, ...]]:
    """The course bi-encoder's (MiniLM, BERT uncased) tokenizer, and whole words of its vocabulary.

    Loaded on first use only (importing transformers takes seconds) and kept for the process.
    """
    from transformers import AutoTokenizer

    from rerank_lab.models import resolve

    tokenizer = AutoTokenizer.from_pretrained(resolve("bi-encoder").load_from)
    words = tuple(
        sorted(
            word
            for word in tokenizer.get_vocab()
            if word.isascii() and word.isalpha() and len(word) >= 3
        )
    )
    return tokenizer, words


def _token_ids(result: Any, what: str) -> list[int]:
    """Token ids a learner returned: a flat list/array/tensor, or a batch of one; else a hint."""
    if isinstance(result, Mapping):
        raise ExerciseError(
            f"{what} returns the tokenizer's whole encoding ({', '.join(map(str, result))}); "
            "return only its token ids."
        )
    if isinstance(result, (list, tuple)) and result and all(isinstance(t, str) for t in result):
        raise ExerciseError(
            f"{what} returns tokens (strings such as {result[0]!r}); the model reads their ids "
            "(numbers from the vocabulary)."
        )
    rows = (
        list(result)
        if isinstance(result, (list, tuple)) and result and not np.isscalar(result[0])
        else None
    )
    if rows is not None and all(np.ndim(row) == 0 for row in rows):
        rows = None  # a flat list of 0-d tensors or NumPy ints
    if rows is None:
        array = _to_numpy(result, what)
        rows = list(array) if array.ndim == 2 else None
        if rows is None:
            if array.ndim != 1:
                raise ExerciseError(
                    f"{what} should be a flat list of token ids, not {_describe(result)}."
                )
            return _as_int_list(array, what)
    if len(rows) == 1:
        return _as_int_list(rows[0], what)
    if len(rows) == 2:
        raise ExerciseError(
            f"{what} returns two sequences: the query and the passage encoded as two separate "
            "inputs (a batch of two). A cross-encoder reads one sequence that holds both texts."
        )
    raise ExerciseError(f"{what} should be one flat list of token ids, not {_describe(result)}.")


@exercise(
    "02.3",
    title="The cross-encoder's input",
    question=(
        "Write `pair_input_ids(tokenizer, query, passage)`: tokenizer is a Hugging Face BERT "
        "tokenizer (the course MiniLM's), query and passage are strings. Return the token ids a "
        "BERT-style cross-encoder reads for the pair: one sequence [CLS] query [SEP] passage "
        "[SEP], as a flat list of ints (or a 1-D tensor/array)."
    ),
)
def _check_pair_input_ids(answer: Any) -> str:
    pair_input_ids = _require_function(answer, "pair_input_ids")
    tokenizer, words = _minilm_tokenizer()
    rng = np.random.default_rng()
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    for query_words, passage_words in ((3, 9), (5, 12), (2, 7)):
        query = (
            " ".join(words[i] for i in rng.integers(len(words), size=query_words)).capitalize()
            + "?"
        )
        passage = (
            " ".join(words[i] for i in rng.integers(len(words), size=passage_words)).capitalize()
            + "."
        )
        expected = list(tokenizer(query, passage)["input_ids"])
        q = list(tokenizer(query, add_special_tokens=False)["input_ids"])
        p = list(tokenizer(passage, add_special_tokens=False)["input_ids"])
        result = _call(pair_input_ids, tokenizer, query, passage, copy_args=False)
        got = _token_ids(result, "pair_input_ids")
        if got == expected:
            continue
        shown = f"for query {query!r} and passage {passage!r}"
        while got and got[-1] == pad and len(got) > len(expected):
            got = got[:-1]
        if got == expected:
            raise ExerciseError(
                f"{shown}, your ids end in padding: return the pair's ids alone, unpadded."
            )
        if got and set(got) <= {0, 1}:
            raise ExerciseError(
                f"{shown}, your ids are all 0s and 1s: the token_type_ids or the attention "
                "mask, perhaps? Return the input_ids."
            )
        content = [token for token in got if token not in (cls, sep)]
        if content == p + q:
            raise ExerciseError(
                f"{shown}, your sequence holds the passage before the query. The model was "
                "trained on (query, passage) pairs in that order, and a cross-encoder is not "
                "symmetric: keep the query first."
            )
        if content == q:
            raise ExerciseError(
                f"{shown}, your sequence holds only the query: where is the passage?"
            )
        if content == p:
            raise ExerciseError(
                f"{shown}, your sequence holds only the passage: where is the query?"
            )
        if content == q + p:
            if got.count(cls) == 0 and got.count(sep) == 0:
                raise ExerciseError(
                    f"{shown}, your ids hold the words but no special tokens: the model needs "
                    "[CLS] at the start (its output there becomes the score) and [SEP] to mark "
                    "where each text ends."
                )
            if got.count(cls) > 1:
                raise ExerciseError(
                    f"{shown}, your sequence has {got.count(cls)} [CLS] tokens: two separate "
                    "encodings glued together. The pair is one input with a single [CLS]; "
                    "the tokenizer builds it when it gets both texts in one call."
                )
            if got.count(sep) == 1:
                raise ExerciseError(
                    f"{shown}, your sequence has only one [SEP]: each of the two texts ends "
                    "with its own, so the model can tell where the query stops. (Joining the "
                    "texts into one string loses that boundary.)"
                )
            raise ExerciseError(
                f"{shown}, the words are right but the special tokens are not where the model "
                "expects them: [CLS] query [SEP] passage [SEP]."
            )
        raise ExerciseError(
            f"{shown}, your ids are not the ones the tokenizer gives the pair: the cross-encoder "
            "reads the query's and the passage's tokens in one sequence, with its special tokens."
        )
    return "[CLS] query [SEP] passage [SEP]: one sequence, so attention sees both texts at once."


_PAIR_READINGS = {
    _SENTENCES * (_SENTENCES - 1) // 2: (
        "every unordered pair once, n(n-1)/2: (A, B) and (B, A) counted as one run. (Counting "
        "both orders, since a cross-encoder is not symmetric, gives twice as many; counting "
        "each sentence with itself too gives n².)"
    ),
    _SENTENCES * (_SENTENCES - 1): (
        "every ordered pair, n(n-1): a cross-encoder is not symmetric, so score(A, B) and "
        "score(B, A) are two runs. (One run per unordered pair gives half as many.)"
    ),
    _SENTENCES**2: (
        "n², every sentence with every sentence, both orders and each sentence with itself "
        "too; the 30,000 self-pairs are wasted runs, and one run per unordered pair gives about "
        "half as many."
    ),
}


@exercise(
    "02.4",
    title="How many model runs?",
    question=(
        "A cross-encoder must find the most similar pair among 30,000 sentences. How many times "
        "does it run the model (how many inferences)? Answer with a number."
    ),
)
def _check_cross_encoder_cost(answer: Any) -> str:
    number = _as_count(answer)
    if number.is_integer() and int(number) in _PAIR_READINGS:
        return (
            f"{int(number):,} runs: {_PAIR_READINGS[int(number)]} Against the bi-encoder's "
            "30,000 embeddings, that is why cross-encoders only re-rank a short list."
        )
    if number == _SENTENCES:
        raise ExerciseError(
            "that is the bi-encoder's count: one run per sentence, then cheap comparisons of "
            "embeddings. A cross-encoder makes no embedding to reuse: each run scores two "
            "sentences together."
        )
    if number == _SENTENCES**2 / 2:
        raise ExerciseError(
            "close, but count the pairs exactly: is a sentence paired with itself, and is (A, B) "
            "the same run as (B, A)? Pick one answer to each question and count consistently."
        )
    raise ExerciseError(
        "a cross-encoder runs once for every pair of sentences it compares, and finding the "
        "most similar pair means comparing every sentence with every other. Count those pairs."
    )


_PIPELINE_STEPS = {
    "a": "score each (query, candidate) pair with the cross-encoder",
    "b": "encode the whole corpus once with the bi-encoder",
    "c": "sort the candidates by cross-encoder score and keep the best",
    "d": "encode the query and retrieve the top-k candidates by cosine similarity",
    "e": "show the re-ranked results",
}
_LETTER_SEPARATORS = re.compile(r"[\s,;:/|>→()\[\]{}.'\"*+&–—-]+")


def _letters(answer: Any, valid: Sequence[str]) -> list[str]:
    """Letters given as a string ("bdace", "b, d, a") or a list/tuple/set of letter strings."""
    choices = ", ".join(valid)
    if isinstance(answer, str):
        letters = list(_LETTER_SEPARATORS.sub("", answer.lower()))
    elif isinstance(answer, (list, tuple, set, frozenset)) and all(
        isinstance(item, str) for item in answer
    ):
        letters = [_LETTER_SEPARATORS.sub("", item.lower()) for item in answer]
    else:
        raise ExerciseError(f"answer with letters among {choices}, not {_describe(answer)}.")
    unknown = [letter for letter in letters if letter not in valid]
    if unknown:
        raise ExerciseError(f"use only the letters {choices}; {unknown[0]!r} is not one of them.")
    return letters


@exercise(
    "02.5",
    title="The steps of retrieve and re-rank",
    question="Put the steps of a retrieve-and-re-rank search in the order they happen. Answer "
    'with the letters in that order, e.g. "abcde" or ["a", "b", "c", "d", "e"].\n'
    + "\n".join(f"  {letter}) {text}" for letter, text in _PIPELINE_STEPS.items()),
)
def _check_pipeline_order(answer: Any) -> str:
    if isinstance(answer, (set, frozenset)):
        raise ExerciseError("a set has no order: give the letters as a string or a list.")
    letters = _letters(answer, list(_PIPELINE_STEPS))
    if sorted(letters) != sorted(_PIPELINE_STEPS):
        missing = sorted(set(_PIPELINE_STEPS) - set(letters))
        raise ExerciseError(
            f"use each of the five letters exactly once (you gave {len(letters)}"
            f"{', missing ' + ', '.join(missing) if missing else ''})."
        )
    position = {letter: index for index, letter in enumerate(letters)}
    if position["b"] > position["d"]:
        raise ExerciseError(
            "retrieval compares the query's embedding with the corpus embeddings, so those must "
            "already exist when a query arrives. When is the corpus encoded?"
        )
    if position["a"] < position["d"]:
        raise ExerciseError(
            "in your order the cross-encoder scores pairs before retrieval. It re-ranks: it "
            "scores only the candidates the bi-encoder retrieved, which is what keeps it cheap."
        )
    if position["c"] < position["a"]:
        raise ExerciseError(
            "in your order the candidates are sorted by cross-encoder scores that have not "
            "been computed yet."
        )
    if position["e"] != len(letters) - 1:
        raise ExerciseError("results are shown once they are final: what comes last?")
    return (
        "encode the corpus once, retrieve candidates fast with the bi-encoder, re-score them "
        "with the cross-encoder, sort, show."
    )


def _check_true_statements(
    answer: Any,
    statements: Mapping[str, str],
    true: set[str],
    *,
    nudge: str,
    lesson: str,
    wrong: tuple[str, str] = ("is a false statement", "are false statements"),
    missed: tuple[str, str] = ("a true statement", "true statements"),
) -> str:
    """A "which are true?" answer: confirm, or count the mistakes without naming them.

    ``wrong`` and ``missed`` word the counts: (singular, plural) after "of your letters" and
    after "you missed".
    """
    chosen = set(_letters(answer, list(statements)))
    if not chosen:
        raise ExerciseError("choose at least one letter.")
    if chosen == true:
        return lesson
    problems = []
    n_wrong, n_missed = len(chosen - true), len(true - chosen)
    if n_wrong:
        problems.append(
            f"one of your letters {wrong[0]}"
            if n_wrong == 1
            else f"{n_wrong} of your letters {wrong[1]}"
        )
    if n_missed:
        problems.append(
            f"you missed {missed[0]}" if n_missed == 1 else f"you missed {n_missed} {missed[1]}"
        )
    raise ExerciseError(f"{' and '.join(problems)}. {nudge}")


_ENCODER_STATEMENTS = {
    "a": "A cross-encoder reads the query and the passage together, so attention can compare "
    "their words directly.",
    "b": "A cross-encoder is faster than a bi-encoder for searching a million documents.",
    "c": "Cross-encoder scores are always probabilities between 0 and 1.",
    "d": "Bi-encoder embeddings of the corpus can be computed once and reused for every query.",
    "e": "A cross-encoder gives a score for a pair of texts, not an embedding you can store.",
    "f": "A bi-encoder must be re-run on the whole corpus for every new query.",
}


@exercise(
    "02.6",
    title="Bi-encoder or cross-encoder?",
    question="Which of these statements are true? Answer with all the true letters, e.g. "
    '"ab" or {"a", "b"}.\n'
    + "\n".join(f"  {letter}) {text}" for letter, text in _ENCODER_STATEMENTS.items()),
)
def _check_encoder_statements(answer: Any) -> str:
    return _check_true_statements(
        answer,
        _ENCODER_STATEMENTS,
        {"a", "d", "e"},
        nudge="For each statement, ask what the model computes, and when it has to run.",
        lesson=(
            "a cross-encoder sees both texts at once and returns a score (MS MARCO models a "
            "logit, a probability only after a sigmoid), so it must run per pair: too slow for "
            "a million documents. A bi-encoder embeds the corpus once; a new query needs one run."
        ),
    )


_IMPROVEMENT_STATEMENTS = {
    "a": "Compare the embeddings with Euclidean distance instead of cosine similarity.",
    "b": "Label many unlabelled sentence pairs with a cross-encoder and train the bi-encoder on "
    "them (Augmented SBERT).",
    "c": "Feed the query and the passage to the bi-encoder together, as one input.",
    "d": "Fine-tune the bi-encoder on (query, relevant passage) pairs from your own domain.",
    "e": "Train with hard negatives: passages that look relevant but are not.",
    "f": "Raise max_seq_length above the 512 positions the model was trained with.",
}


@exercise(
    "02.7",
    title="Improving a bi-encoder",
    question="Which of these improve a bi-encoder's retrieval? Answer with all the letters that "
    'do, e.g. "ab" or {"a", "b"}.\n'
    + "\n".join(f"  {letter}) {text}" for letter, text in _IMPROVEMENT_STATEMENTS.items()),
)
def _check_improvements(answer: Any) -> str:
    return _check_true_statements(
        answer,
        _IMPROVEMENT_STATEMENTS,
        {"b", "d", "e"},
        nudge="Ask of each: does it give the model better training signal, or does it only "
        "change something that cannot help (or stops it being a bi-encoder)?",
        wrong=("does not improve a bi-encoder", "do not improve a bi-encoder"),
        missed=("a technique that does", "techniques that do"),
        lesson=(
            "better training data is what improves a bi-encoder: in-domain pairs, hard "
            "negatives, and pairs labelled by a cross-encoder (Augmented SBERT). Euclidean "
            "distance ranks normalised embeddings exactly like cosine, a joint input makes it a "
            "cross-encoder, and positions beyond 512 were never trained."
        ),
    )
