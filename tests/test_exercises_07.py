"""The checkers of notebook 07: right answers pass, usual mistakes get their hint.

As in test_exercises_03_04.py, checkers draw fresh random inputs on every call, so every answer
is checked several times: a hint must be the specific one on every draw, not on a lucky one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from exercise_checks import accepted, registered_in_order, rejected, unwritten_functions_rejected

from rerank_lab.exercises import EXERCISES

NEW_IDS = ["07.1", "07.2", "07.3", "07.4", "07.5"]


def test_the_new_exercises_are_registered_in_notebook_order() -> None:
    registered_in_order(NEW_IDS)
    assert list(EXERCISES)[-len(NEW_IDS) :] == NEW_IDS  # notebook 07 is the last one


@pytest.mark.parametrize("exercise_id", NEW_IDS)
@pytest.mark.parametrize("placeholder", [..., None])
def test_placeholders_are_rejected(exercise_id: str, placeholder: Any) -> None:
    rejected(exercise_id, placeholder, "no answer yet")


FUNCTION_IDS = ["07.1", "07.2", "07.3", "07.4"]


@pytest.mark.parametrize("exercise_id", FUNCTION_IDS)
def test_unwritten_functions_are_rejected(exercise_id: str) -> None:
    unwritten_functions_rejected(exercise_id)


# --- 07.1 memory ------------------------------------------------------------------------------


def embedding_memory(n: int, d: int) -> dict[str, int]:
    return {"float32": 4 * n * d, "int8": n * d, "binary": n * math.ceil(d / 8)}


def test_embedding_memory_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("07.1", embedding_memory, capsys)
    accepted(
        "07.1",
        lambda n, d: {
            "float32": np.int64(n * d * 32 // 8),
            "int8": float(n * d),
            "binary": n * -(-d // 8),
        },
        capsys,
    )


def _with(**changes: Callable[[int, int], float]) -> Callable[[int, int], dict]:
    return lambda n, d: embedding_memory(n, d) | {key: f(n, d) for key, f in changes.items()}


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_with(float32=lambda n, d: n * d), "4 bytes"),
        (_with(float32=lambda n, d: 32 * n * d, int8=lambda n, d: 8 * n * d), "bits, not bytes"),
        (_with(binary=lambda n, d: n * d), "one *bit* per"),
        (_with(binary=lambda n, d: n * d / 8), "round its bytes up"),
        (_with(binary=lambda n, d: n * (d // 8)), "round up, not down"),
        (_with(int8=lambda n, d: 2 * n * d), "the 'int8' size is not right"),
        (lambda n, d: [4 * n * d, n * d, n * d // 8], "return a dict"),
        (lambda n, d: {"float32": 4 * n * d, "int8": n * d}, "no 'binary' key"),
    ],
)
def test_embedding_memory_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("07.1", answer, fragment)


# --- 07.2 recall@k ----------------------------------------------------------------------------


def ann_recall(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    hits = [len(set(f[:k]) & set(e[:k]) - {-1}) for f, e in zip(found, exact, strict=True)]
    return sum(hits) / (k * len(hits))


def ann_recall_numpy(found: np.ndarray, exact: np.ndarray, k: int) -> Any:
    return np.mean([np.isin(e[:k], f[:k]).sum() / k for f, e in zip(found, exact, strict=True)])


def test_ann_recall_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("07.2", ann_recall, capsys)
    accepted("07.2", ann_recall_numpy, capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (
            lambda f, e, k: np.mean(
                [len(set(r) & set(s[:k]) - {-1}) / k for r, s in zip(f, e, strict=True)]
            ),
            "only its top k count",
        ),
        (lambda f, e, k: float(np.mean(f[:, :k] == e[:, :k])), "position by position"),
        (lambda f, e, k: ann_recall(f, e, k) * k, "between 0 and 1"),
        (lambda f, e, k: ann_recall(f, e, k) * 0.9, "not recall@k yet"),
    ],
)
def test_ann_recall_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("07.2", answer, fragment)


# --- 07.3 fastest setting ---------------------------------------------------------------------


def fastest_setting(results: pd.DataFrame, target: float) -> str | None:
    good = results[results["recall@10"] >= target]
    if good.empty:
        return None
    return good.sort_values("qps").iloc[-1]["setting"]


def test_fastest_setting_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("07.3", fastest_setting, capsys)

    def with_query(results: pd.DataFrame, target: float) -> str | None:
        good = results.query("`recall@10` >= @target")
        return None if good.empty else good.set_index("setting")["qps"].idxmax()

    accepted("07.3", with_query, capsys)


def _strictly(results: pd.DataFrame, target: float) -> str | None:
    good = results[results["recall@10"] > target]
    return None if good.empty else good.sort_values("qps").iloc[-1]["setting"]


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_strictly, "use >="),
        (lambda r, t: r.sort_values("recall@10").iloc[-1]["setting"], "most accurate setting"),
        (lambda r, t: r.sort_values("qps").iloc[-1]["setting"], "misses the target"),
        (
            lambda r, t: r[r["recall@10"] >= t].sort_values("qps").iloc[-1]["setting"],
            "return None instead",
        ),
        (
            lambda r, t: (
                None
                if (r["recall@10"] < t).all()
                else r[r["recall@10"] >= t].sort_values("qps").iloc[-1]
            ),
            "return the setting's name",
        ),
        (lambda r, t: "HNSW efSearch=512", "not one of the settings"),
    ],
)
def test_fastest_setting_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("07.3", answer, fragment)


# --- 07.4 rescoring ---------------------------------------------------------------------------


def rescore(query: np.ndarray, candidates: list[int], corpus: np.ndarray, k: int) -> list[int]:
    scores = corpus[candidates] @ query
    return [candidates[i] for i in np.argsort(-scores)[:k]]


def test_rescore_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("07.4", rescore, capsys)
    accepted(
        "07.4",
        lambda q, c, x, k: np.array(c)[np.argsort(-(x[c] @ q))][:k],
        capsys,
    )
    accepted("07.4", lambda q, c, x, k: sorted(c, key=lambda i: -float(x[i] @ q))[:k], capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda q, c, x, k: list(np.argsort(-(x @ q))[:k]), "whole corpus"),
        (lambda q, c, x, k: list(np.argsort(-(x[c] @ q))[:k]), "positions in the candidate list"),
        (lambda q, c, x, k: rescore(q, c, x, len(c))[::-1][:k], "ascending"),
        (lambda q, c, x, k: rescore(q, c, x, len(c)), "only the best k"),
        (lambda q, c, x, k: c[:k], "compressed search's order"),
        (lambda q, c, x, k: np.sort(x[c] @ q)[::-1][:k], "scores"),
        (lambda q, c, x, k: [(i, 1.0) for i in rescore(q, c, x, k)], "ids only"),
        (lambda q, c, x, k: rescore(q, c, x, k)[: k - 1], "return k ="),
    ],
)
def test_rescore_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("07.4", answer, fragment)


# --- 07.5 statements --------------------------------------------------------------------------


def test_scale_statements(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("07.5", "acd", capsys)
    accepted("07.5", {"A", "C", "D"}, capsys)
    for wrong in ["ac", "acde", "b", "abcdef"]:
        rejected("07.5", wrong)
    rejected("07.5", "acf", "one of your letters is a false statement")
    rejected("07.5", "az", "use only the letters")
