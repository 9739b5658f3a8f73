"""Tests of rerank_lab.metrics: hand-computed cases, a cross-check with trec_eval, bad input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rerank_lab.metrics import METRICS, compute_metrics, evaluate, paired_bootstrap, summarize

PASSAGES = [f"p{i}" for i in range(100)]
RELEVANT = {"p7", "p42"}  # the workshop query: 100 passages, 2 relevant


def _ranking_with(relevant_at: dict[str, int]) -> list[str]:
    """All 100 passages, with each relevant one moved to its given 1-based rank."""
    others = iter(p for p in PASSAGES if p not in relevant_at)
    by_rank = {rank: doc for doc, rank in relevant_at.items()}
    return [by_rank.get(rank) or next(others) for rank in range(1, len(PASSAGES) + 1)]


def test_workshop_bi_encoder_ranking() -> None:
    # Relevant docs at ranks 1 and 14: only rank 1 is in the top 10.
    # DCG@10  = 1/log2(1+1) = 1
    # IDCG@10 = 1/log2(2) + 1/log2(3) = 1 + 0.6309297535714575 = 1.6309297535714575
    # nDCG@10 = 1 / 1.6309297535714575 = 0.6131471927654584
    ranked = _ranking_with({"p7": 1, "p42": 14})
    scores = compute_metrics(ranked, RELEVANT, k=10)
    assert scores == pytest.approx(
        {
            "accuracy@10": 1.0,
            "precision@10": 0.1,  # 1 relevant / 10 slots
            "recall@10": 0.5,  # 1 of the 2 relevant
            "ndcg@10": 0.6131471927654584,
            "mrr@10": 1.0,  # first relevant at rank 1
        }
    )
    assert scores["ndcg@10"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert all(type(value) is float for value in scores.values())


def test_workshop_cross_encoder_ranking() -> None:
    # Relevant docs at ranks 1 and 6.
    # DCG@10  = 1/log2(2) + 1/log2(7) = 1 + 0.3562071871080222 = 1.3562071871080221
    # IDCG@10 = 1 + 1/log2(3) = 1.6309297535714575
    # nDCG@10 = 1.3562071871080221 / 1.6309297535714575 = 0.8315546295836225
    ranked = _ranking_with({"p7": 1, "p42": 6})
    scores = compute_metrics(ranked, RELEVANT, k=10)
    assert scores == pytest.approx(
        {
            "accuracy@10": 1.0,
            "precision@10": 0.2,  # 2 relevant / 10 slots
            "recall@10": 1.0,  # both relevant found
            "ndcg@10": 0.8315546295836225,
            "mrr@10": 1.0,
        }
    )


def test_graded_case_in_a_non_ideal_order() -> None:
    # Grades a=3, b=2, c=1; x and y are unjudged (gain 0). Ranking: c, x, a, b, y.
    # Gains by rank: 1, 0, 3, 2, 0.
    # DCG@3  = 1/log2(2) + 0/log2(3) + 3/log2(4) = 1 + 0 + 1.5 = 2.5
    # IDCG@3 = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.261859507142915 + 0.5 = 4.761859507142916
    # nDCG@3 = 2.5 / 4.761859507142916 = 0.5250049893849101
    # DCG@5  = 2.5 + 2/log2(5) + 0/log2(6) = 2.5 + 0.8613531161467861 = 3.361353116146786
    # IDCG@5 = IDCG@3 (only three docs have a positive grade) = 4.761859507142916
    # nDCG@5 = 3.361353116146786 / 4.761859507142916 = 0.7058908628246313
    grades = {"a": 3, "b": 2, "c": 1}
    table = evaluate({"q": ["c", "x", "a", "b", "y"]}, {"q": grades}, ks=(1, 3, 5))
    row = table.loc["q"]
    assert row["ndcg@1"] == pytest.approx(1 / 3)  # gain 1 where the ideal has gain 3
    assert row["ndcg@3"] == pytest.approx(2.5 / (3 + 2 / math.log2(3) + 0.5))
    assert row["ndcg@3"] == pytest.approx(0.5250049893849101)
    assert row["ndcg@5"] == pytest.approx(0.7058908628246313)
    # Binary metrics count any grade > 0: c at rank 1, a at rank 3, b at rank 4.
    assert row["precision@3"] == pytest.approx(2 / 3)
    assert row["recall@3"] == pytest.approx(2 / 3)
    assert row["recall@5"] == pytest.approx(1.0)
    assert row["precision@5"] == pytest.approx(3 / 5)


def test_mrr_is_one_over_the_first_relevant_rank_within_k() -> None:
    # First relevant doc ("r") at rank 3: mrr@1 = mrr@2 = 0 (not within k), mrr@3 = mrr@5 = 1/3.
    row = evaluate({"q": ["x", "y", "r", "z"]}, {"q": {"r": 1}}, ks=(1, 2, 3, 5)).loc["q"]
    assert [row[f"mrr@{k}"] for k in (1, 2, 3, 5)] == pytest.approx([0, 0, 1 / 3, 1 / 3])
    assert [row[f"accuracy@{k}"] for k in (1, 2, 3, 5)] == [0, 0, 1, 1]
    # Only the *first* relevant doc counts: relevant at ranks 2 and 4 -> mrr@5 = 1/2.
    assert compute_metrics(["x", "r", "y", "s"], {"r", "s"}, k=5)["mrr@5"] == pytest.approx(0.5)


def test_precision_divides_by_k_when_the_ranking_is_shorter() -> None:
    # 2 docs retrieved, 1 relevant: precision@5 = 1/5 (3 empty slots are wasted), not 1/2.
    scores = compute_metrics(["a", "b"], {"a"}, k=5)
    assert scores["precision@5"] == pytest.approx(0.2)
    assert scores["recall@5"] == pytest.approx(1.0)
    assert scores["ndcg@5"] == pytest.approx(1.0)


def test_an_empty_ranking_scores_zero() -> None:
    assert compute_metrics([], {"a"}, k=3) == {f"{name}@3": 0.0 for name in METRICS}


def test_grades_of_zero_or_below_are_not_relevant() -> None:
    # n is judged not relevant (-1), m judged 0: gain 0, not a hit. Only r (grade 2) counts.
    # DCG@3 = 2/log2(4) = 1, IDCG@3 = 2/log2(2) = 2, nDCG@3 = 0.5.
    scores = compute_metrics(["n", "m", "r"], {"n": -1, "m": 0, "r": 2}, k=3)
    assert scores == pytest.approx(
        {"accuracy@3": 1.0, "precision@3": 1 / 3, "recall@3": 1.0, "ndcg@3": 0.5, "mrr@3": 1 / 3}
    )


def test_relevant_as_a_set_equals_grade_one() -> None:
    ranked = ["a", "b", "c", "d"]
    assert compute_metrics(ranked, {"b", "d"}, k=3) == compute_metrics(
        ranked, {"b": 1, "d": 1}, k=3
    )
    assert compute_metrics(ranked, np.array(["b", "d"]), k=3) == compute_metrics(
        ranked, ["b", "d"], k=3
    )


def test_evaluate_table_shape() -> None:
    run = {"q2": ["a", "b"], "q1": ["b", "a"], "q3": ["c"]}
    qrels = {"q1": {"a": 1}, "q2": {"a": 2, "b": 1}, "q3": {"a": 1}}
    table = evaluate(run, qrels, ks=(2, 1))
    assert list(table.index) == ["q2", "q1", "q3"]  # run order, not qrels order
    assert table.index.name == "query_id"
    assert list(table.columns) == [f"{name}@{k}" for k in (2, 1) for name in METRICS]
    assert all(dtype == np.float64 for dtype in table.dtypes)
    assert table.loc["q3"].eq(0).all()  # nothing relevant retrieved


def test_default_ks() -> None:
    table = evaluate({"q": ["a"]}, {"q": {"a": 1}})
    assert list(table.columns) == [f"{name}@{k}" for k in (1, 3, 5, 10) for name in METRICS]


def test_numpy_rankings_and_grades() -> None:
    run = {"q": np.array(["x", "a", "b"])}
    qrels = {"q": {"a": np.int64(2), "b": np.int32(1)}}
    expected = evaluate({"q": ["x", "a", "b"]}, {"q": {"a": 2, "b": 1}}, ks=(1, 3))
    pd.testing.assert_frame_equal(evaluate(run, qrels, ks=(np.int64(1), 3)), expected)
    int_ids = compute_metrics(np.arange(5), {3: 1}, k=5)
    assert int_ids["mrr@5"] == pytest.approx(1 / 4)


def test_compute_metrics_matches_evaluate() -> None:
    ranked = ["c", "x", "a", "b"]
    grades = {"a": 3, "b": 2, "c": 1}
    row = evaluate({"q": ranked}, {"q": grades}, ks=(3,)).loc["q"]
    assert compute_metrics(ranked, grades, k=3) == row.to_dict()


def test_summarize_is_the_mean_over_queries() -> None:
    run = {"q1": ["a", "b"], "q2": ["b", "a"]}
    qrels = {"q1": {"a": 1}, "q2": {"a": 1}}
    means = summarize(evaluate(run, qrels, ks=(1, 2)))
    assert isinstance(means, pd.Series)
    assert means["accuracy@1"] == pytest.approx(0.5)  # 1 and 0
    assert means["mrr@2"] == pytest.approx(0.75)  # 1 and 1/2


def _random_case(rng: np.random.Generator, n_queries: int) -> tuple[dict, dict]:
    """Graded qrels (grades -1..3, at least one > 0 per query) and runs of 1..25 distinct docs."""
    run, qrels = {}, {}
    for q in range(n_queries):
        docs = [f"d{n}" for n in rng.choice(200, size=60, replace=False)]
        judged = rng.choice(docs, size=int(rng.integers(1, 20)), replace=False)
        grades = {str(doc): int(rng.integers(-1, 4)) for doc in judged}
        grades[str(judged[0])] = int(rng.integers(1, 4))
        qrels[f"q{q}"] = grades
        run[f"q{q}"] = docs[: int(rng.integers(1, 26))]
    return run, qrels


def test_agrees_with_trec_eval() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    ks = (1, 3, 5, 10)
    run, qrels = _random_case(np.random.default_rng(20240611), n_queries=50)
    # trec_eval ranks by score: give strictly decreasing scores in rank order.
    scored = {
        q: {doc: float(len(docs) - rank) for rank, doc in enumerate(docs)}
        for q, docs in run.items()
    }
    cut = ",".join(map(str, ks))
    measures = {f"ndcg_cut.{cut}", f"P.{cut}", f"recall.{cut}", "recip_rank"}
    expected = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(scored)
    table = evaluate(run, qrels, ks=ks)
    assert set(expected) == set(table.index)
    for q, reference in expected.items():
        first_hit = 1 / reference["recip_rank"] if reference["recip_rank"] else math.inf
        for k in ks:
            got = table.loc[q]
            assert got[f"ndcg@{k}"] == pytest.approx(reference[f"ndcg_cut_{k}"], abs=1e-6), q
            assert got[f"precision@{k}"] == pytest.approx(reference[f"P_{k}"], abs=1e-6), q
            assert got[f"recall@{k}"] == pytest.approx(reference[f"recall_{k}"], abs=1e-6), q
            # trec_eval's recip_rank is not cut at k: it counts only if the first hit is within k.
            mrr = reference["recip_rank"] if first_hit <= k else 0.0
            assert got[f"mrr@{k}"] == pytest.approx(mrr, abs=1e-6), q
            assert got[f"accuracy@{k}"] == float(first_hit <= k), q


def test_the_trec_eval_check_covers_the_interesting_cases() -> None:
    # Guard against a random case too easy to catch mistakes: hits beyond k, short runs, misses.
    run, qrels = _random_case(np.random.default_rng(20240611), n_queries=50)
    table = evaluate(run, qrels, ks=(10,))
    assert (table["mrr@10"] == 0).any() and (table["mrr@10"] == 1).any()
    assert ((table["ndcg@10"] > 0) & (table["ndcg@10"] < 1)).any()
    assert any(len(docs) < 10 for docs in run.values())


@pytest.mark.parametrize(
    ("run", "qrels", "ks", "error", "fragments"),
    [
        ({"q": ["a"]}, {"other": {"a": 1}}, (1,), ValueError, ["'q'", "qrels"]),
        ({"q": ["a"]}, {"q": {"a": 0, "b": -1}}, (1,), ValueError, ["'q'", "relevant"]),
        ({"q": ["a"]}, {"q": {}}, (1,), ValueError, ["'q'", "relevant"]),
        (
            {"q": ["a", "b", "a"]},
            {"q": {"a": 1}},
            (1,),
            ValueError,
            ["'q'", "'a'", "more than once"],
        ),
        ({"q": "abc"}, {"q": {"a": 1}}, (1,), TypeError, ["'q'", "str"]),
        ({"q": {"a", "b"}}, {"q": {"a": 1}}, (1,), TypeError, ["'q'", "set"]),
        ({"q": np.array([["a"]])}, {"q": {"a": 1}}, (1,), ValueError, ["'q'", "1-D"]),
        ({"q": ["a"]}, {"q": ["a"]}, (1,), TypeError, ["'q'", "list"]),
        ({"q": ["a"]}, {"q": {"a": 1.0}}, (1,), TypeError, ["'q'", "'a'", "int"]),
        ({"q": ["a"]}, {"q": {"a": True}}, (1,), TypeError, ["'q'", "'a'", "int"]),
        ([["a"]], {"q": {"a": 1}}, (1,), TypeError, ["run", "mapping"]),
        ({"q": ["a"]}, [("q", {"a": 1})], (1,), TypeError, ["qrels", "mapping"]),
        ({}, {"q": {"a": 1}}, (1,), ValueError, ["run is empty"]),
        ({"q": ["a"]}, {"q": {"a": 1}}, (), ValueError, ["ks is empty"]),
        ({"q": ["a"]}, {"q": {"a": 1}}, (1, 0), ValueError, ["at least 1", "0"]),
        ({"q": ["a"]}, {"q": {"a": 1}}, (-3,), ValueError, ["at least 1", "-3"]),
        ({"q": ["a"]}, {"q": {"a": 1}}, (2.5,), TypeError, ["int", "2.5"]),
        ({"q": ["a"]}, {"q": {"a": 1}}, ("5",), TypeError, ["int", "'5'"]),
        ({"q": ["a"]}, {"q": {"a": 1}}, 5, TypeError, ["ks"]),
        ({"q": ["a"]}, {"q": {"a": 1}}, (1, 1), ValueError, ["repeats"]),
    ],
)
def test_evaluate_rejects_bad_input(
    run: Any, qrels: Any, ks: Any, error: type[Exception], fragments: list[str]
) -> None:
    with pytest.raises(error) as raised:
        evaluate(run, qrels, ks=ks)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_the_bad_query_is_named_among_good_ones() -> None:
    run = {"good": ["a"], "bad one": ["a", "a"]}
    with pytest.raises(ValueError, match="'bad one'.*'a'"):
        evaluate(run, {"good": {"a": 1}, "bad one": {"a": 1}})


@pytest.mark.parametrize(
    ("ranked", "relevant", "k", "error", "match"),
    [
        (["a"], set(), 1, ValueError, "no relevant"),
        (["a"], "a", 1, TypeError, "collection of doc ids"),
        (["a"], 3, 1, TypeError, "collection of doc ids"),
        ("ab", {"a"}, 1, TypeError, "list, tuple or numpy array"),
        (["a", "a"], {"a"}, 1, ValueError, "'a' appears more than once"),
        (["a"], {"a"}, 0, ValueError, "at least 1"),
        (["a"], {"a"}, 1.0, TypeError, "must be an int"),
    ],
)
def test_compute_metrics_rejects_bad_input(
    ranked: Any, relevant: Any, k: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        compute_metrics(ranked, relevant, k=k)


def test_summarize_rejects_what_is_not_a_table() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        summarize({"ndcg@10": [1.0]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        summarize(pd.DataFrame())


# --- paired_bootstrap -------------------------------------------------------------------------


def test_paired_bootstrap_mean_and_interval() -> None:
    baseline = pd.Series([0.5, 0.2, 0.9, 0.1], index=list("abcd"))
    system = pd.Series([0.6, 0.4, 0.9, 0.3], index=list("abcd"))
    result = paired_bootstrap(baseline, system, samples=4000, seed=1)
    assert result["mean"] == pytest.approx(0.125)
    # Every resampled mean lies between the smallest and largest difference (0 and 0.2).
    assert 0.0 <= result["ci_low"] <= 0.125 <= result["ci_high"] <= 0.2


def test_paired_bootstrap_pairs_by_query_id_not_position() -> None:
    baseline = pd.Series([0.1, 0.9], index=["a", "b"])
    system = pd.Series([0.9, 0.1], index=["b", "a"])  # identical scores, other order
    assert paired_bootstrap(baseline, system) == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_paired_bootstrap_rejects_mismatched_queries() -> None:
    with pytest.raises(ValueError, match="same queries"):
        paired_bootstrap(pd.Series([1.0], index=["a"]), pd.Series([1.0], index=["b"]))
    with pytest.raises(TypeError, match="Series"):
        paired_bootstrap([1.0], [1.0])  # type: ignore[arg-type]
