"""The checkers of notebook 01 (bi-encoders): right answers pass in every form, wrong ones
get their specific hint on every random draw, never the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_checks import accepted, rejected

from rerank_lab.exercises.bi_encoders import _mrr_reference

IDS = ["01.1", "01.2", "01.3", "01.4", "01.5", "01.6"]
IDS += ["02.1", "02.2", "02.3", "02.4", "02.5", "02.6", "02.7", "02.8"]
FUNCTION_IDS = ["01.1", "01.2", "01.3", "01.4", "02.1", "02.2", "02.3", "02.8"]


# --- 01.1 cosine similarity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "cosine",
    [
        lambda a, b: a @ b / (a.norm() * b.norm()),
        lambda a, b: (torch.dot(a, b) / (torch.linalg.norm(a) * torch.linalg.norm(b))).item(),
        lambda a, b: F.cosine_similarity(a, b, dim=0),
        lambda a, b: F.cosine_similarity(a.unsqueeze(0), b.unsqueeze(0)),  # shape (1,)
        lambda a, b: F.normalize(a, dim=0) @ F.normalize(b, dim=0),
        lambda a, b: np.dot(a.numpy(), b.numpy()) / np.linalg.norm(a) / np.linalg.norm(b),
    ],
)
def test_cosine_right_answers_pass(cosine: Callable, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("01.1", cosine, capsys)


@pytest.mark.parametrize(
    ("cosine", "fragment"),
    [
        (lambda a, b: a @ b, "lengths"),
        (lambda a, b: torch.dot(a, b).item(), "lengths"),
        (lambda a, b: a * b, "single number"),
        (lambda a, b: F.cosine_similarity(a[None], b[None], dim=0), "single number"),
        (lambda a, b: a @ b / a.norm(), "angle"),
        (lambda a, b: 1 - a @ b / (a.norm() * b.norm()), "angle"),
        (lambda a, b: 1.0, "angle"),
        (lambda a, b: "0.5", "numbers"),
    ],
)
def test_cosine_wrong_answers_get_hints(cosine: Callable, fragment: str) -> None:
    rejected("01.1", cosine, fragment)


# --- 01.2 max pooling ---------------------------------------------------------------------------


def _max_pool(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return tokens.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).max(dim=1).values


def _max_pool_loop(tokens: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    return [s[: int(n)].max(0).values for s, n in zip(tokens, mask.sum(1), strict=True)]


def _max_pool_smallest_float(tokens: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    values = np.where(mask.numpy()[..., None] == 1, tokens.numpy(), np.finfo(np.float64).min)
    return values.max(axis=1)


@pytest.mark.parametrize(
    "max_pool",
    [
        _max_pool,
        lambda t, m: _max_pool(t, m).numpy(),
        lambda t, m: _max_pool(t, m).tolist(),
        _max_pool_loop,
        _max_pool_smallest_float,
        lambda t, m: (t - 1e9 * (1 - m[..., None])).max(1).values,
    ],
)
def test_max_pool_right_answers_pass(
    max_pool: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("01.2", max_pool, capsys)


@pytest.mark.parametrize(
    ("max_pool", "fragment"),
    [
        (lambda t, m: t.max(1).values, "padding wins"),
        (lambda t, m: (t * m[..., None]).max(1).values, "real tokens can be negative"),
        (lambda t, m: (t * m[..., None]).sum(1) / m.sum(1, keepdim=True), "mean pooling"),
        (lambda t, m: t[:, 0], "first ([CLS]) token"),
        (lambda t, m: t.max(0).values, "one vector per sentence"),
        (lambda t, m: t.max(2).values, "one vector per sentence"),
        (lambda t, m: _max_pool(t, m) + 1, "largest value over a sentence's real tokens"),
    ],
)
def test_max_pool_wrong_answers_get_hints(max_pool: Callable, fragment: str) -> None:
    rejected("01.2", max_pool, fragment)


# --- 01.3 top-k ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "top_k",
    [
        lambda scores, k: torch.topk(scores, k, dim=1).indices,
        lambda scores, k: scores.topk(k).indices.tolist(),
        lambda scores, k: torch.argsort(scores, dim=1, descending=True)[:, :k],
        lambda scores, k: np.argsort(-scores.numpy(), axis=1)[:, :k],
        lambda scores, k: [row.topk(k).indices for row in scores],
        lambda scores, k: tuple(tuple(row.argsort(descending=True)[:k].tolist()) for row in scores),
        lambda scores, k: [np.argsort(row.numpy())[::-1][:k] for row in scores],
        lambda scores, k: scores.topk(k).indices.double(),  # whole numbers, even as floats
    ],
)
def test_top_k_right_answers_pass(top_k: Callable, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("01.3", top_k, capsys)


@pytest.mark.parametrize(
    ("top_k", "fragment"),
    [
        (lambda scores, k: scores.topk(k, largest=False).indices, "ascending"),
        (lambda scores, k: scores.argsort(dim=1)[:, -k:], "ascending"),
        (lambda scores, k: scores.argsort(dim=1)[:, :k], "ascending"),
        (lambda scores, k: scores.argsort(dim=1, descending=True)[:, : k + 1], "off by one"),
        (lambda scores, k: scores.argsort(dim=1, descending=True)[:, : k - 1], "off by one"),
        (lambda scores, k: scores.argsort(dim=1, descending=True), "exactly k"),
        (lambda scores, k: scores.topk(k, dim=0).indices, "rows are queries"),
        (lambda scores, k: scores.T.topk(k).indices, "rows are queries"),
        (lambda scores, k: scores.topk(k).values, "scores, perhaps"),
        (lambda scores, k: scores.topk(k), "both the scores and the indices"),
        (lambda scores, k: scores.topk(k).indices.flatten(), "one list of k indices per query"),
        (lambda scores, k: [[0] * k for _ in scores], "highest-scoring"),
        (lambda scores, k: [sorted(row.tolist()) for row in scores.topk(k).indices], "first"),
        (lambda scores, k: scores.topk(k).indices[:-1], "one per query"),
    ],
)
def test_top_k_wrong_answers_get_hints(top_k: Callable, fragment: str) -> None:
    rejected("01.3", top_k, fragment)


# --- 01.4 MRR@k --------------------------------------------------------------------------------


def _mrr(runs: dict, qrels: dict, k: int) -> float:
    total = 0.0
    for query, ranked in runs.items():
        for rank, doc in enumerate(ranked[:k], start=1):
            if qrels[query].get(doc, 0) >= 1:
                total += 1 / rank
                break
    return total / len(runs)


def _mrr_wrong(
    *,
    start: int = 1,
    cut: bool = True,
    relevant: Callable[[int], bool] = lambda grade: grade >= 1,
    only_found: bool = False,
    every: bool = False,
) -> Callable[[dict, dict, int], float]:
    """A learner's MRR written independently of the checker's, with one mistake switched on."""

    def mrr(runs: dict, qrels: dict, k: int) -> float:
        scores = []
        for query, ranked in runs.items():
            grades = qrels[query]
            found = [
                1 / rank
                for rank, doc in enumerate(ranked[:k] if cut else ranked, start=start)
                if doc in grades and relevant(grades[doc])
            ]
            if found:
                scores.append(sum(found) if every else found[0])
            elif not only_found:
                scores.append(0.0)
        return sum(scores) / len(scores)

    return mrr


def _mrr_per_query(runs: dict, qrels: dict, k: int) -> dict:
    return {query: _mrr({query: ranked}, qrels, k) for query, ranked in runs.items()}


def test_the_reference_agrees_with_trec_eval() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = np.random.default_rng(0)
    for case in range(30):
        runs, qrels = {}, {}
        ids = [f"doc{n}" for n in rng.choice(500, size=40, replace=False)]
        for number in range(5):
            runs[f"q{number}"] = list(rng.choice(ids, size=15, replace=False))
            qrels[f"q{number}"] = {d: int(rng.integers(0, 3)) for d in rng.choice(ids, 8)}
        k = int(rng.choice([3, 5, 10]))
        trec_runs = {
            q: {d: float(len(r) - i) for i, d in enumerate(r[:k])} for q, r in runs.items()
        }
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
        per_query = evaluator.evaluate(trec_runs)
        expected = np.mean([per_query[q]["recip_rank"] for q in runs])
        assert _mrr_reference(runs, qrels, k) == pytest.approx(expected), case


@pytest.mark.parametrize(
    "mrr_at_k",
    [
        _mrr,
        _mrr_wrong(),  # the mistake-free version of the learner-style implementation
        lambda runs, qrels, k: torch.tensor(_mrr(runs, qrels, k)),
        lambda runs, qrels, k: np.float32(_mrr(runs, qrels, k)),
    ],
)
def test_mrr_right_answers_pass(mrr_at_k: Callable, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("01.4", mrr_at_k, capsys)


@pytest.mark.parametrize(
    ("mrr_at_k", "fragment"),
    [
        (_mrr_wrong(start=0), "ranks count from 1"),
        (_mrr_wrong(start=2), "the top document is rank 1"),
        (_mrr_wrong(cut=False), "only the top k"),
        (_mrr_wrong(relevant=lambda grade: True), "judged 0 is not relevant"),
        (_mrr_wrong(only_found=True), "still counts in the mean"),
        (_mrr_wrong(every=True), "the first one only"),
        (lambda runs, qrels, k: 0.5, "not MRR@k yet"),
        (_mrr_per_query, "return their mean"),
        (lambda runs, qrels, k: _mrr(runs, {q: {} for q in runs} | qrels, k) * 2, "MRR@k yet"),
    ],
)
def test_mrr_wrong_answers_get_hints(mrr_at_k: Callable, fragment: str) -> None:
    rejected("01.4", mrr_at_k, fragment)


# --- 01.5 the cost of a bi-encoder --------------------------------------------------------------

RIGHT_COUNT_SPELLINGS = ("30000", "30,000", "30 000", "30_000", "30.000")


@pytest.mark.parametrize(
    "answer",
    [30000, 30_000, 30000.0, np.int64(30000), torch.tensor(30000), "30000", "30,000", " 30 000 "],
)
def test_bi_encoder_cost_right_answers_pass(
    answer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("01.5", answer, capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (449985000, "counts pairs"),
        (899970000, "counts pairs"),
        (900000000, "counts pairs"),
        ("900,000,000", "counts pairs"),
        (9e8, "counts pairs"),
        (60000, "count the model runs"),
        (1, "count the model runs"),
        (30000.5, "count the model runs"),
        ("thirty thousand", "with a number"),
        (True, "numbers"),
        ([30000, 1], "single number"),
    ],
)
def test_bi_encoder_cost_wrong_answers_get_hints(answer: Any, fragment: str) -> None:
    rejected("01.5", answer, fragment, forbidden=RIGHT_COUNT_SPELLINGS)


# --- 01.6 symmetric or asymmetric ---------------------------------------------------------------


@pytest.mark.parametrize("answer", ["a", "A", " a ", "a)", "(a)", "a."])
def test_asymmetric_right_answers_pass(answer: str, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("01.6", answer, capsys)


@pytest.mark.parametrize("answer", ["b", "c", "B)", " c "])
def test_asymmetric_wrong_choices_get_a_hint(answer: str) -> None:
    rejected("01.6", answer, "same kind of text", forbidden=("'a'", "a)", "(a", "answer is"))


@pytest.mark.parametrize("answer", ["d", "", "ab", 1, ["a"]])
def test_asymmetric_answers_that_are_no_choice_list_the_choices(answer: Any) -> None:
    rejected("01.6", answer, "one of the letters a, b, c")
