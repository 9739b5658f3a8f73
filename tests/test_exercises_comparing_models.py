"""The checkers of notebook 04 (comparing models): right answers pass, usual mistakes get
their hint on every random draw."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import pytest
from exercise_checks import accepted, notebook_tests, rejected

NEW_IDS = ["04.1", "04.2", "04.3", "04.4", "04.5", "04.6"]

FUNCTION_IDS = ["04.1", "04.2", "04.4", "04.6"]
(
    test_the_new_exercises_are_registered_in_notebook_order,
    test_placeholders_are_rejected,
    test_unwritten_functions_are_rejected,
) = notebook_tests(NEW_IDS, FUNCTION_IDS)


# --- 04.1 RRF ----------------------------------------------------------------------------------


def rrf_scores(rankings: list[list[str]], k: int = 60) -> dict[str, float]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1 / (k + rank)
    return scores


def test_rrf_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("04.1", rrf_scores, capsys)
    accepted("04.1", lambda rankings, k=60: pd.Series(rrf_scores(rankings, k)), capsys)


def _rrf_from_zero(rankings: list[list[str]], k: int = 60) -> dict[str, float]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking):
            scores[doc] = scores.get(doc, 0.0) + 1 / (k + rank)
    return scores


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_rrf_from_zero, "ranks start at 0"),
        (
            lambda rankings, k=60: {
                d: s for d, s in rrf_scores(rankings, k).items() if all(d in r for r in rankings)
            },
            "found by every ranking",
        ),
        (
            lambda rankings, k=60: {
                d: s / len(rankings) for d, s in rrf_scores(rankings, k).items()
            },
            "average the votes",
        ),
        (lambda rankings, k=60: rrf_scores(rankings, 0), "ignore the constant k"),
        (
            lambda rankings, k=60: sorted(rrf_scores(rankings, k), key=rrf_scores(rankings, k).get),
            "return a dict",
        ),
        (lambda rankings, k=60: dict(list(rrf_scores(rankings, k).items())[:3]), "are missing"),
        (
            lambda rankings, k=60: {d: 1 / (k * r) for d, r in _first_ranks(rankings).items()},
            "by hand",
        ),
    ],
)
def test_rrf_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("04.1", answer, fragment)


def _first_ranks(rankings: list[list[str]]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            ranks.setdefault(doc, rank)
    return ranks


# --- 04.2 sign test ----------------------------------------------------------------------------


def sign_test(baseline: pd.Series, system: pd.Series) -> float:
    difference = system - baseline
    wins, losses = int((difference > 0).sum()), int((difference < 0).sum())
    n = wins + losses
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def sign_test_scipy(baseline: pd.Series, system: pd.Series) -> float:
    from scipy.stats import binomtest

    wins, losses = int((system > baseline).sum()), int((system < baseline).sum())
    return binomtest(wins, wins + losses, 0.5).pvalue


def test_sign_test_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("04.2", sign_test, capsys)
    pytest.importorskip("scipy")
    accepted("04.2", sign_test_scipy, capsys)


def _sign_test_ties_as_losses(baseline: pd.Series, system: pd.Series) -> float:
    wins = int((system > baseline).sum())
    losses = len(system) - wins
    tail = sum(math.comb(len(system), i) for i in range(min(wins, losses) + 1)) / 2 ** len(system)
    return min(1.0, 2 * tail)


def _sign_test_one_sided(baseline: pd.Series, system: pd.Series) -> float:
    wins, losses = int((system > baseline).sum()), int((system < baseline).sum())
    n = wins + losses
    return sum(math.comb(n, i) for i in range(wins, n + 1)) / 2**n


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_sign_test_ties_as_losses, "ties as losses"),
        (_sign_test_one_sided, "one-sided"),
        (lambda b, s: float((s > b).mean()), "not the sign test's p-value"),
        (lambda b, s: float((s - b).sum()), "between 0 and 1"),
        (lambda b, s: s - b, "single number"),
    ],
)
def test_sign_test_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("04.2", answer, fragment)


# --- 04.4 best under budget --------------------------------------------------------------------


def best_under_budget(results: pd.DataFrame, budget_ms: float) -> str:
    fits = results[results["ms_per_query"] <= budget_ms]
    return fits.sort_values("ndcg@10").iloc[-1]["system"]


def test_best_under_budget_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("04.4", best_under_budget, capsys)
    accepted(
        "04.4",
        lambda r, b: r.query("ms_per_query <= @b").set_index("system")["ndcg@10"].idxmax(),
        capsys,
    )


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda r, b: r.sort_values("ndcg@10").iloc[-1]["system"], "costs more than the budget"),
        (
            lambda r, b: r[r["ms_per_query"] < b].sort_values("ndcg@10").iloc[-1]["system"],
            "includes equality",
        ),
        (lambda r, b: r.sort_values("ms_per_query").iloc[0]["system"], "cheapest system"),
        (
            lambda r, b: r[r["ms_per_query"] <= b].sort_values("ndcg@10").iloc[-1],
            "return the system's name",
        ),
        (lambda r, b: int(r[r["ms_per_query"] <= b]["ndcg@10"].idxmax()), "row number"),
        (lambda r, b: "colbert", "not one of the systems"),
    ],
)
def test_best_under_budget_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("04.4", answer, fragment)


# --- 04.5 milliseconds per query ---------------------------------------------------------------


def test_ms_per_query(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("04.5", 258, capsys)
    accepted("04.5", "258 ", capsys)
    accepted("04.5", 8 + 50 / 200 * 1000, capsys)
    rejected("04.5", 250, "re-ranking alone")
    rejected("04.5", 0.258, "units")
    rejected("04.5", 10_008, "speed")
    rejected("04.5", 8, "add its time")
    rejected("04.5", 100, "add the first stage's time")
    rejected("04.5", "fast", "answer with a number")


# --- 04.6 the blend's weight, chosen on dev ----------------------------------------------------


def _dev_means(first_stage: dict, reranked: dict, qrels: dict, weights: list) -> dict:
    import rerank_lab as rl

    means = {}
    for weight in weights:
        run = {
            query: [
                hit["corpus_id"] for hit in rl.search.interpolate(first_stage[query], hits, weight)
            ]
            for query, hits in reranked.items()
        }
        means[weight] = rl.metrics.evaluate(run, qrels, ks=(10,))["ndcg@10"].mean()
    return means


def choose_weight(first_stage: dict, reranked: dict, qrels: dict, weights: list) -> float:
    means = _dev_means(first_stage, reranked, qrels, weights)
    return max(sorted(weights), key=lambda weight: means[weight])  # max keeps the first on a tie


def test_choose_weight_right_answer_passes(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("04.6", choose_weight, capsys)


def _largest_of_ties(first_stage: dict, reranked: dict, qrels: dict, weights: list) -> float:
    means = _dev_means(first_stage, reranked, qrels, weights)
    return max(sorted(weights), key=lambda weight: (means[weight], weight))


def _worst(first_stage: dict, reranked: dict, qrels: dict, weights: list) -> float:
    means = _dev_means(first_stage, reranked, qrels, weights)
    return min(sorted(weights), key=lambda weight: means[weight])


def _best_mean(first_stage: dict, reranked: dict, qrels: dict, weights: list) -> float:
    return max(_dev_means(first_stage, reranked, qrels, weights).values())


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_largest_of_ties, "return the smallest"),
        (_worst, "lowest"),
        (_best_mean, "you return an nDCG@10"),
        (lambda first_stage, reranked, qrels, weights: 1.0, "return the smallest"),
        (lambda first_stage, reranked, qrels, weights: 7, "one of the weights given"),
    ],
)
def test_choose_weight_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("04.6", answer, fragment)
