"""Checkers of notebook 04 (comparing models): reciprocal rank fusion, a paired sign test,
reading a bootstrap interval, choosing a system under a latency budget, the cost of a query,
and the blend's weight chosen on dev with the course's interpolate and evaluate."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rerank_lab.exercises.core import (
    ExerciseError,
    _as_count,
    _as_float,
    _call,
    _check_true_statements,
    _close,
    _describe,
    _raise_first_mistake,
    _require_function,
    _statements_question,
    exercise,
)

# --- 04.1 reciprocal rank fusion --------------------------------------------------------------


def _rrf(
    rankings: Sequence[Sequence[str]],
    k: float,
    *,
    first_rank: int = 1,
    only_common: bool = False,
    mean: bool = False,
) -> dict[str, float]:
    """RRF scores; the keywords switch on the usual mistakes."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=first_rank):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    if only_common:
        common = set.intersection(*(set(ranking) for ranking in rankings))
        scores = {doc: score for doc, score in scores.items() if doc in common}
    if mean:
        scores = {doc: score / len(rankings) for doc, score in scores.items()}
    return scores


@exercise(
    "04.1",
    title="Reciprocal rank fusion by hand",
    question=(
        "Write `rrf_scores(rankings, k=60)`: rankings is a list of rankings of one query (each a "
        "list of document ids, best first), e.g. [bm25_ranking, dense_ranking]. Return a dict "
        "{document id: fused score} over every document that appears in any ranking, where "
        "each ranking adds 1 / (k + rank) for the document, ranks counted from 1."
    ),
)
def _check_rrf(answer: Any) -> str:
    rrf_scores = _require_function(answer, "rrf_scores")
    rng = np.random.default_rng()
    checked = []
    for n_lists, k in ((2, 60), (3, 60), (2, 1)):
        ids = [f"doc{number}" for number in rng.choice(10_000, size=30, replace=False)]
        rankings = [
            [str(doc) for doc in rng.choice(ids, size=int(rng.integers(6, 15)), replace=False)]
            for _ in range(n_lists)
        ]
        result = _call(rrf_scores, rankings, k)
        if hasattr(result, "to_dict") and not isinstance(result, Mapping):
            result = result.to_dict()
        if isinstance(result, (list, tuple)):
            raise ExerciseError(
                f"return a dict {{document id: fused score}}, not {_describe(result)}: the "
                "scores are what this exercise checks (sorting them is the easy last step)."
            )
        if not isinstance(result, Mapping):
            raise ExerciseError(
                f"return a dict {{document id: fused score}}, not {_describe(result)}."
            )
        try:
            got = {doc: float(score) for doc, score in result.items()}
        except (TypeError, ValueError):
            raise ExerciseError("each value of your dict should be a number.") from None
        checked.append(((rankings, k), got))

    def agrees(**options: Any) -> bool:
        for (rankings, k), got in checked:
            expected = _rrf(rankings, k, **options)
            if set(got) != set(expected):
                return False
            if not all(_close(got[doc], expected[doc]) for doc in expected):
                return False
        return True

    if agrees():
        return "every ranking votes 1/(k + rank); no score calibration needed."
    everyone = set().union(*(set(r) for (rankings, _), _ in checked for r in rankings))
    mistakes = [
        (
            {"first_rank": 0},
            "your ranks start at 0 (Python's enumerate): the best document has rank 1.",
        ),
        (
            {"only_common": True},
            "you keep only documents found by every ranking: a document that one ranking alone "
            "retrieves still gets that ranking's vote.",
        ),
        (
            {"mean": True},
            "you average the votes: RRF sums them, so a document found by both rankings beats "
            "one found by a single ranking at the same rank.",
        ),
    ]
    _raise_first_mistake(agrees, mistakes)
    if all(
        set(got) == set(_rrf(rankings, k))
        and all(_close(got[d], _rrf(rankings, 0)[d]) for d in got)
        for (rankings, k), got in checked
    ):
        raise ExerciseError(
            "your scores ignore the constant k: 1/rank gives the top ranks far more weight than "
            "1/(k + rank) does. Use the k you are given."
        )
    for (rankings, k), got in checked:
        expected = _rrf(rankings, k)
        if set(got) != set(expected):
            missing = len(set(expected) - set(got))
            extra = len(set(got) - set(expected) - everyone)
            tail = f" and {extra} are not in any ranking" if extra else ""
            raise ExerciseError(
                f"your dict should hold every document of any ranking ({len(expected)} here); "
                f"{missing} are missing{tail}."
            )
    raise ExerciseError(
        "the scores are not sum(1 / (k + rank)) over the rankings: work out one document "
        "that appears in both rankings by hand."
    )


# --- 04.2 a paired sign test ------------------------------------------------------------------


def _sign_test(
    baseline: np.ndarray, system: np.ndarray, *, drop_ties: bool = True, two_sided: bool = True
) -> float:
    differences = system - baseline
    wins, losses = int(np.sum(differences > 0)), int(np.sum(differences < 0))
    ties = differences.size - wins - losses
    if not drop_ties:  # the mistake: ties counted as losses of the system
        losses += ties
    n = wins + losses
    if n == 0:
        return 1.0
    if not two_sided:
        return sum(math.comb(n, i) for i in range(wins, n + 1)) / 2**n
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


@exercise(
    "04.2",
    title="A paired sign test",
    question=(
        "Write `sign_test(baseline, system)`: two pandas Series of per-query nDCG@10 with the "
        "same index (the same queries, e.g. the bi-encoder and its re-ranking). Count the "
        "queries where the system wins and where it loses; leave out ties (equal scores). "
        "Return the two-sided p-value of the sign test: the probability, if wins and losses "
        "were equally likely (a fair coin per untied query), of a split at least as lopsided "
        "as the one observed (scipy.stats.binomtest does the arithmetic, or use math.comb)."
    ),
)
def _check_sign_test(answer: Any) -> str:
    import pandas as pd

    sign_test = _require_function(answer, "sign_test")
    rng = np.random.default_rng()
    checked = []
    for n, shift in ((30, 0.08), (12, 0.0), (25, -0.05), (40, 0.15)):
        index = [f"Q{number:03d}-test" for number in rng.choice(1000, size=n, replace=False)]
        baseline = rng.uniform(0, 1, size=n).round(2)
        system = np.clip(baseline + rng.normal(shift, 0.15, size=n), 0, 1).round(2)
        ties = rng.choice(n, size=max(2, n // 5), replace=False)
        system[ties] = baseline[ties]  # untouched queries: common when the top was already right
        result = _call(sign_test, pd.Series(baseline, index=index), pd.Series(system, index=index))
        got = _as_float(result, "sign_test(baseline, system)")
        if not 0.0 <= got <= 1.0:
            raise ExerciseError(f"a p-value is a probability between 0 and 1, not {got:.4g}.")
        checked.append(((baseline, system), got))

    def agrees(**options: Any) -> bool:
        return all(_close(got, _sign_test(*case, **options)) for case, got in checked)

    if agrees():
        return "ties drop out; under no effect each untied query is a fair coin toss."
    mistakes = [
        (
            {"drop_ties": False},
            "you count ties as losses: a query whose score did not change says nothing about "
            "which system is better. Leave ties out of the count.",
        ),
        (
            {"two_sided": False},
            "this is a one-sided p-value (only 'the system wins more'): the question is whether "
            "the split is lopsided in either direction, so count both tails.",
        ),
    ]
    _raise_first_mistake(agrees, mistakes)
    raise ExerciseError(
        "not the sign test's p-value yet: count wins and losses (ties left out); under no "
        "effect the wins follow a binomial distribution with p = 0.5."
    )


# --- 04.3 reading a paired bootstrap interval -------------------------------------------------

_BOOTSTRAP_STATEMENTS = {
    "a": "The interval contains 0, so these test queries cannot tell whether re-ranking helps "
    "on average.",
    "b": "The interval proves that re-ranking has no effect.",
    "c": "Pairing compares each query with itself, so how hard a query is cancels out of the "
    "difference.",
    "d": "With more judged test queries the interval would usually be narrower.",
    "e": "95% of the queries changed by between -0.01 and +0.09.",
    "f": "An interval of [+0.01, +0.05] would mean that every query gained.",
}


@exercise(
    "04.3",
    title="Reading a bootstrap interval",
    question=_statements_question(
        "Re-ranking changes mean nDCG@10 on the test queries by +0.04, with a 95% "
        "paired-bootstrap interval of [-0.01, +0.09]. Which statements are true?",
        _BOOTSTRAP_STATEMENTS,
    ),
)
def _check_bootstrap_statements(answer: Any) -> str:
    return _check_true_statements(
        answer,
        _BOOTSTRAP_STATEMENTS,
        {"a", "c", "d"},
        nudge="The interval is about the *mean* difference over queries, resampled from the "
        "queries you happen to have: ask what it says about single queries, and about certainty.",
        lesson=(
            "a paired bootstrap resamples queries to show how much the mean difference depends "
            "on which queries were judged; an interval containing 0 means 'not shown', not 'no "
            "effect', and more queries narrow it."
        ),
    )


# --- 04.4 a model for a latency budget --------------------------------------------------------

_SYSTEMS = (
    "bm25",
    "bi-encoder",
    "hybrid",
    "bi-encoder + reranker",
    "hybrid + reranker",
    "bi-encoder + large reranker",
    "hybrid + large reranker",
)


@exercise(
    "04.4",
    title="The best system within a latency budget",
    question=(
        "Write `best_under_budget(results, budget_ms)`: results is a pandas DataFrame with one "
        "row per system and the columns 'system', 'ndcg@10' and 'ms_per_query'. Return the name "
        "(the 'system' value) of the system with the highest nDCG@10 among those that cost at "
        "most budget_ms milliseconds per query. At least one system fits the budget."
    ),
)
def _check_best_under_budget(answer: Any) -> str:
    import pandas as pd

    best_under_budget = _require_function(answer, "best_under_budget")
    rng = np.random.default_rng()
    for case in range(4):
        order = rng.permutation(len(_SYSTEMS))
        quality = np.sort(rng.uniform(0.3, 0.9, size=len(_SYSTEMS)))  # distinct, increasing
        cost = np.sort(rng.uniform(2, 400, size=len(_SYSTEMS))).round(1)
        # Mostly the dearer the better, with one cheap system that beats a dearer one.
        quality[[1, 2]] = quality[[2, 1]]
        results = pd.DataFrame(
            {"system": [_SYSTEMS[i] for i in order], "ndcg@10": quality, "ms_per_query": cost}
        ).sample(frac=1.0, random_state=int(rng.integers(1 << 31)))
        results = results.reset_index(drop=True)
        if case == 0:  # the best affordable system costs exactly the budget
            budget = float(cost[4])
        else:
            budget = float(rng.uniform(cost[2], cost[-2]))
        fits = results[results["ms_per_query"] <= budget]
        expected = str(fits.loc[fits["ndcg@10"].idxmax(), "system"])
        result = _call(best_under_budget, results, budget)
        if isinstance(result, (pd.Series, pd.DataFrame)):
            raise ExerciseError(
                "you return a row of the table; return the system's name (its 'system' value)."
            )
        if not isinstance(result, str):
            if isinstance(result, (int, np.integer)):
                raise ExerciseError(
                    "you return a row number; return the system's name (its 'system' value)."
                )
            raise ExerciseError(f"return the system's name as a string, not {_describe(result)}.")
        if result == expected:
            continue
        if result not in set(results["system"]):
            raise ExerciseError(f"{result!r} is not one of the systems of the table.")
        row = results.set_index("system").loc[result]
        if result == str(results.loc[results["ndcg@10"].idxmax(), "system"]):
            raise ExerciseError(
                "that is the best system overall, but it costs more than the budget: keep only "
                "the systems that fit it first."
            )
        if case == 0 and result == str(
            results[results["ms_per_query"] < budget].sort_values("ndcg@10").iloc[-1]["system"]
        ):
            raise ExerciseError(
                "a system that costs exactly the budget fits it: 'at most' includes equality."
            )
        if result == str(results.loc[results["ms_per_query"].idxmin(), "system"]):
            raise ExerciseError(
                "that is the cheapest system, not the best one that fits: among the systems "
                "within budget, pick the highest nDCG@10."
            )
        if row["ms_per_query"] > budget:
            raise ExerciseError(f"{result!r} costs more than the budget of {budget:.1f} ms.")
        raise ExerciseError(
            f"{result!r} fits the budget, but another system that fits has a higher nDCG@10."
        )
    return "filter by cost first, then take the best quality: the usual way to pick a model."


# --- 04.5 what a query costs ------------------------------------------------------------------

_FIRST_STAGE_MS = 8
_PAIRS_PER_S = 200
_DEPTH = 50


@exercise(
    "04.5",
    title="Milliseconds per query",
    question=(
        f"Encoding a query and searching the pre-encoded corpus takes {_FIRST_STAGE_MS} ms. The "
        f"cross-encoder scores {_PAIRS_PER_S} (query, document) pairs per second on this "
        f"machine, and you re-rank the top {_DEPTH} documents. How many milliseconds does one "
        "query cost, end to end? (Encoding the corpus happened once, earlier.) Answer with a "
        "number."
    ),
)
def _check_ms_per_query(answer: Any) -> str:
    number = _as_count(answer)
    rerank_ms = _DEPTH / _PAIRS_PER_S * 1000
    expected = _FIRST_STAGE_MS + rerank_ms
    if _close(number, expected):
        return (
            f"{expected:g} ms: the re-ranker's {rerank_ms:g} ms dwarf the first stage, and they "
            "grow linearly with the depth."
        )
    if _close(number, rerank_ms):
        raise ExerciseError(
            "that is the re-ranking alone: the first stage runs for every query too."
        )
    if _close(number, expected / 1000) or _close(number, rerank_ms / 1000):
        raise ExerciseError("check your units: the answer is asked in milliseconds.")
    if _close(number, _FIRST_STAGE_MS + _DEPTH * _PAIRS_PER_S) or _close(
        number, _FIRST_STAGE_MS + _PAIRS_PER_S / _DEPTH * 1000
    ):
        raise ExerciseError(
            "pairs per second is a speed: the time for n pairs is n divided by the speed."
        )
    if _close(number, _FIRST_STAGE_MS):
        raise ExerciseError("the re-ranker runs once per (query, document) pair: add its time.")
    raise ExerciseError(
        "add the first stage's time to the re-ranker's: how many pairs does one query need, "
        "and how long do they take at that speed?"
    )


# --- 04.6 the blend's weight, chosen on dev ---------------------------------------------------


def _blend_case(rng: np.random.Generator, *, agreeing: bool = False) -> tuple[dict, dict, dict]:
    """Dev queries whose first stage and re-ranker each know part of the truth: 25 candidates
    per query, 1 to 3 of them relevant; both scores are the truth plus noise of their own.
    ``agreeing``: the re-ranker orders exactly as the first stage, so every weight ties."""
    first_stage, reranked, qrels = {}, {}, {}
    for number in range(12):
        query = f"q{number:02d}"
        ids = [int(i) for i in rng.choice(10_000, size=25, replace=False)]
        relevant = {ids[int(i)]: int(rng.integers(1, 3)) for i in rng.choice(25, size=3)}
        truth = np.array([relevant.get(i, 0) for i in ids], dtype=float)
        first = truth + rng.normal(scale=1.2, size=25)
        cross = 2 * first + 1 if agreeing else 3 * truth + rng.normal(scale=4.0, size=25)
        first_stage[query] = [
            {"corpus_id": ids[i], "score": float(first[i])} for i in np.argsort(-first)
        ]
        reranked[query] = [
            {"corpus_id": ids[i], "score": float(cross[i])} for i in np.argsort(-cross)
        ]
        qrels[query] = relevant
    return first_stage, reranked, qrels


def _blend_means(first_stage: dict, reranked: dict, qrels: dict) -> dict[float, float]:
    """Mean nDCG@10 at each weight of the grid the leaderboard tunes over."""
    from rerank_lab.course.leaderboard import WEIGHT_GRID
    from rerank_lab.metrics import evaluate
    from rerank_lab.search import interpolate

    means = {}
    for weight in WEIGHT_GRID:
        run = {
            query: [hit["corpus_id"] for hit in interpolate(first_stage[query], hits, weight)]
            for query, hits in reranked.items()
        }
        means[weight] = float(evaluate(run, qrels, ks=(10,))["ndcg@10"].mean())
    return means


@exercise(
    "04.6",
    title="The blend's weight, chosen on dev",
    question=(
        "Write `choose_weight(first_stage, reranked, qrels, weights)`: first_stage maps each "
        "dev query id to its first-stage hits (a list of {'corpus_id': ..., 'score': ...} "
        "dicts, best first), reranked maps it to the cross-encoder's hits for the same "
        "documents, qrels holds the dev judgements ({query id: {corpus id: grade}}) and "
        "weights the candidate weights, in any order. For each weight, blend every query with "
        "`rl.search.interpolate(first_stage[q], reranked[q], weight)`, score the blended "
        "rankings (lists of corpus ids) with `rl.metrics.evaluate(run, qrels, ks=(10,))`, and "
        "return the weight with the highest mean nDCG@10. On a tie, return the smallest of the "
        "tied weights: it trusts the first stage more."
    ),
)
def _check_choose_weight(answer: Any) -> str:
    choose_weight = _require_function(answer, "choose_weight")
    rng = np.random.default_rng()
    for case in range(3):
        # first a re-ranker that agrees with the first stage: every weight ties, and the
        # smallest (0: keep the first stage, drop the re-ranker's cost) is the answer
        first_stage, reranked, qrels = _blend_case(rng, agreeing=case == 0)
        means = _blend_means(first_stage, reranked, qrels)
        best = max(means.values())
        tied = [w for w, mean in means.items() if math.isclose(mean, best, abs_tol=1e-12)]
        weights = list(means)  # the grid, in a shuffled order
        rng.shuffle(weights)
        result = _call(choose_weight, first_stage, reranked, qrels, weights)
        number = _as_float(result, "choose_weight(...)")
        if number in tied and number == min(tied):
            continue
        if number in tied:
            raise ExerciseError(
                "several weights tie for the best mean nDCG@10 here: return the smallest of "
                "them (keep a weight only when it is strictly better, after sorting them)."
            )
        if any(math.isclose(number, mean, abs_tol=1e-9) for mean in means.values()):
            raise ExerciseError("you return an nDCG@10: return the weight that reaches it.")
        if number not in means:
            raise ExerciseError(f"return one of the weights given, not {_describe(result)}.")
        if math.isclose(means[number], min(means.values()), abs_tol=1e-12):
            raise ExerciseError("that weight has the *lowest* mean nDCG@10: take the highest.")
        raise ExerciseError(
            f"weight {number} is not the best on these queries: blend each query at each weight "
            "with interpolate, evaluate the blended run, compare the mean nDCG@10."
        )
    return "the weight is a choice, so dev chooses it; the test split only reports it."
