"""The checkers of notebook 03 (retrieve and re-rank; with 04.3, which shares its statements
check): right answers pass, usual mistakes get their hint on every random draw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from exercise_checks import accepted, notebook_tests, rejected

NEW_IDS = ["03.1", "03.2", "03.3", "03.4", "03.5"]

FUNCTION_IDS = ["03.1", "03.2", "03.3", "03.4"]
(
    test_the_new_exercises_are_registered_in_notebook_order,
    test_placeholders_are_rejected,
    test_unwritten_functions_are_rejected,
) = notebook_tests(NEW_IDS, FUNCTION_IDS)


# --- 03.1 mean recall@k -----------------------------------------------------------------------


def mean_recall(run: dict, qrels: dict, k: int) -> float:
    values = []
    for query, ranked in run.items():
        relevant = {doc for doc, grade in qrels[query].items() if grade > 0}
        values.append(len(relevant & set(ranked[:k])) / len(relevant))
    return float(np.mean(values))


def mean_recall_pandas(run: dict, qrels: dict, k: int) -> Any:
    import rerank_lab.metrics as metrics

    return metrics.evaluate(run, qrels, ks=(k,))[f"recall@{k}"].mean()


def test_mean_recall_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("03.1", mean_recall, capsys)
    accepted("03.1", mean_recall_pandas, capsys)


def _recall_variant(
    *, denominator: str = "relevant", zero: bool = False, cut: bool = True, per_query=False
) -> Callable:
    def answer(run: dict, qrels: dict, k: int) -> Any:
        values = {}
        for query, ranked in run.items():
            relevant = {doc for doc, grade in qrels[query].items() if grade > 0 or zero}
            top = ranked[:k] if cut else ranked
            hits = len(relevant & set(top))
            values[query] = {
                "relevant": hits / len(relevant),
                "k": hits / k,
                "capped": hits / min(k, len(relevant)),
                "any": float(hits > 0),
            }[denominator]
        return values if per_query else float(np.mean(list(values.values())))

    return answer


def micro_recall(run: dict, qrels: dict, k: int) -> float:
    hits = total = 0
    for query, ranked in run.items():
        relevant = {doc for doc, grade in qrels[query].items() if grade > 0}
        hits += len(relevant & set(ranked[:k]))
        total += len(relevant)
    return hits / total


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_recall_variant(denominator="k"), "precision@k"),
        (_recall_variant(denominator="capped"), "min(k, relevant documents)"),
        (_recall_variant(zero=True), "grade 0"),
        (_recall_variant(cut=False), "only the top k"),
        (_recall_variant(denominator="any"), "accuracy@k"),
        (micro_recall, "then take the mean"),
        (_recall_variant(per_query=True), "return one number"),
        (lambda run, qrels, k: 0.5, "Work one query by hand"),
    ],
)
def test_mean_recall_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("03.1", answer, fragment)


# --- 03.2 documents from chunks ----------------------------------------------------------------


def test_top_documents_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("03.2", lambda chunk_docs, n: list(dict.fromkeys(chunk_docs))[:n], capsys)

    def loop(chunk_docs: list[str], n: int) -> list[str]:
        seen: list[str] = []
        for doc in chunk_docs:
            if doc not in seen:
                seen.append(doc)
            if len(seen) == n:
                break
        return seen

    accepted("03.2", loop, capsys)
    accepted("03.2", lambda chunk_docs, n: tuple(pd.unique(pd.Series(chunk_docs)))[:n], capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda docs, n: list(dict.fromkeys(docs[:n])), "first n *chunks*"),
        (lambda docs, n: docs[:n], "repeats documents"),
        (lambda docs, n: sorted(dict.fromkeys(docs))[:n], "wrong order"),
        (lambda docs, n: sorted(list(dict.fromkeys(docs))[:n]), "wrong order"),
        (lambda docs, n: list(dict.fromkeys(reversed(docs)))[::-1][:n], "*last* (worst) chunk"),
        (lambda docs, n: "".join(docs[:n]), "not one string"),
        (lambda docs, n: [(d, 1.0) for d in dict.fromkeys(docs)][:n], "pairs"),
    ],
)
def test_top_documents_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("03.2", answer, fragment)


# --- 03.3 rank movements -----------------------------------------------------------------------


def test_rank_movements_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("03.3", lambda b, a: {doc: b.index(doc) - a.index(doc) for doc in b}, capsys)
    accepted(
        "03.3",
        lambda b, a: pd.Series(range(len(b)), index=b) - pd.Series(range(len(a)), index=a),
        capsys,
    )


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda b, a: {doc: a.index(doc) - b.index(doc) for doc in b}, "signs are reversed"),
        (lambda b, a: {doc: a.index(doc) + 1 for doc in b}, "new ranks"),
        (lambda b, a: {doc: a.index(doc) for doc in b}, "new ranks"),
        (lambda b, a: [b.index(doc) - a.index(doc) for doc in b], "return a dict"),
        (lambda b, a: {i: b.index(d) - a.index(d) for i, d in enumerate(b)}, "keyed by document"),
        (lambda b, a: {doc: abs(b.index(doc) - a.index(doc)) for doc in b}, "not the movements"),
    ],
)
def test_rank_movements_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("03.3", answer, fragment)


# --- 03.4 retrieve, then re-rank ---------------------------------------------------------------


def retrieve_then_rerank(query, retrieve, score, depth, k):  # noqa: ANN001, ANN201
    candidates = retrieve(query, depth)
    scores = score(query, candidates)
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    return [candidates[i] for i in order[:k]]


def retrieve_then_rerank_numpy(query, retrieve, score, depth, k):  # noqa: ANN001, ANN201
    candidates = np.array(retrieve(query, depth))
    return candidates[np.argsort(-np.asarray(score(query, list(candidates))))][:k]


def test_retrieve_then_rerank_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("03.4", retrieve_then_rerank, capsys)
    accepted("03.4", retrieve_then_rerank_numpy, capsys)


def _whole_corpus(query, retrieve, score, depth, k):  # noqa: ANN001, ANN201
    candidates = retrieve(query, 150)
    scores = score(query, candidates)
    ranked = [doc for _, doc in sorted(zip(scores, candidates, strict=True), reverse=True)]
    return [doc for doc in ranked if doc in candidates[:depth]][:k]


def _twice(query, retrieve, score, depth, k):  # noqa: ANN001, ANN201
    candidates = retrieve(query, depth)
    return sorted(
        candidates, key=lambda doc: -score(query, [doc])[0] - 0 * len(score(query, [doc]))
    )[:k]


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda q, r, s, depth, k: r(q, k), "first stage's order"),
        (lambda q, r, s, depth, k: retrieve_then_rerank(q, r, s, depth, k)[::-1], "ascending"),
        (
            lambda q, r, s, depth, k: retrieve_then_rerank(q, r, s, k, k),
            "only the first stage's top k",
        ),
        (lambda q, r, s, depth, k: retrieve_then_rerank(q, r, s, depth, depth), "return the k="),
        (_whole_corpus, "grows with every pair"),
        (_twice, "each once"),
        (
            lambda q, r, s, depth, k: [(d, 1.0) for d in retrieve_then_rerank(q, r, s, depth, k)],
            "pairs",
        ),
        (lambda q, r, s, depth, k: s(q, r(q, depth))[:k], "document ids"),
    ],
)
def test_retrieve_then_rerank_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("03.4", answer, fragment)


# --- 03.5 and 04.3: statements -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("exercise_id", "right", "wrong"),
    [("03.5", "abcf", ["abc", "abcdf", "d", "e"]), ("04.3", "acd", ["ac", "acde", "b", "f"])],
)
def test_statement_exercises(
    exercise_id: str, right: str, wrong: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    accepted(exercise_id, right, capsys)
    accepted(exercise_id, set(right.upper()), capsys)
    for answer in wrong:
        rejected(exercise_id, answer)
    rejected(exercise_id, "az", "use only the letters")
    rejected(exercise_id, 3, "answer with letters")


def test_statement_hints_count_without_naming() -> None:
    rejected("03.5", "abc", "you missed a true statement")
    rejected("04.3", "acde", "one of your letters is a false statement")
