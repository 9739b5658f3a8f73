"""The checkers of notebook 07: right answers pass, usual mistakes get their hint.

As in the other exercise tests, checkers draw fresh random inputs on every call, so every answer
is checked several times: a hint must be the specific one on every draw, not on a lucky one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from exercise_checks import accepted, notebook_tests, rejected

from rerank_lab.exercises import EXERCISES, ExerciseError, check

NEW_IDS = ["07.1", "07.2", "07.3", "07.4", "07.5", "07.6", "07.7"]
FUNCTION_IDS = ["07.1", "07.2", "07.3", "07.4", "07.7"]
(
    test_the_new_exercises_are_registered_in_notebook_order,
    test_placeholders_are_rejected,
    test_unwritten_functions_are_rejected,
) = notebook_tests(NEW_IDS, FUNCTION_IDS)


def test_notebook_07_registers_the_last_exercises() -> None:
    assert list(EXERCISES)[-len(NEW_IDS) :] == NEW_IDS


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


# --- 07.6 batch re-ranking on Ray Data ----------------------------------------------------------
# The pairs are fixed and the model is real, so each answer is checked once (a draw would only
# load the model again). The class that must pass the Ray run is written inside its test and
# uses nothing of this module: Ray ships it by value, as it does a class written in a notebook,
# but a module-level helper of a test would be shipped by name, and workers cannot import tests.


def _scorer(score: Callable[[Any, list], Any], *, load_per_call: bool = False) -> type:
    """A ScorePairs whose __call__ returns ``score(model, pairs)`` beside the batch's columns."""
    from sentence_transformers import CrossEncoder

    class ScorePairs:
        def __init__(self, model: str) -> None:
            self.path = model
            self.model = None if load_per_call else CrossEncoder(model)

        def __call__(self, batch: dict) -> dict:
            model = CrossEncoder(self.path) if load_per_call else self.model
            pairs = list(zip(batch["query"], batch["text"], strict=True))
            return {**batch, "score": score(model, pairs)}

    return ScorePairs


def _logits(model: Any, pairs: list) -> Any:
    import torch

    return model.predict(pairs, activation_fn=torch.nn.Identity(), show_progress_bar=False)


def _rejected_once(answer: Any, fragment: str) -> None:
    with pytest.raises(ExerciseError, match="✗ 07.6") as caught:
        check("07.6", answer)
    assert fragment in str(caught.value), str(caught.value)


def test_pair_scorer_right_answer_passes_here_and_in_a_ray_actor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch
    from sentence_transformers import CrossEncoder

    from rerank_lab.course import cluster

    class ScorePairs:  # self-contained: Ray ships it, and what it uses, to the actor by value
        def __init__(self, model: str) -> None:
            self.model = CrossEncoder(model)

        def __call__(self, batch: dict) -> dict:
            pairs = list(zip(batch["query"], batch["text"], strict=True))
            logits = self.model.predict(pairs, activation_fn=torch.nn.Identity())
            return {**batch, "score": logits}

    assert check("07.6", ScorePairs) is True
    assert capsys.readouterr().out.startswith("✓ 07.6 correct: ")
    assert cluster.ray_processes() == [], "the check stops the cluster it started"


def test_pair_scorer_stub_and_wrong_kinds_of_answer_are_rejected() -> None:
    class Stub:
        def __init__(self, model: str) -> None: ...

        def __call__(self, batch: dict) -> None: ...

    _rejected_once(Stub, "loaded no CrossEncoder")
    _rejected_once(_scorer(_logits, load_per_call=True), "loaded no CrossEncoder")
    _rejected_once(lambda batch: batch, "pass the class `ScorePairs` itself")
    from rerank_lab import models

    path = models.resolve("cross-encoder", kind="cross-encoder").load_from
    _rejected_once(_scorer(_logits)(path), "itself")


def test_pair_scorer_mistakes_get_hints() -> None:
    import torch

    def loads_twice(model: Any, pairs: list) -> Any:
        from sentence_transformers import CrossEncoder

        CrossEncoder(model.model.name_or_path)
        return _logits(model, pairs)

    mistakes = [
        (lambda m, p: m.predict(p, activation_fn=torch.nn.Sigmoid()), "probabilities"),
        (lambda m, p: _logits(m, [(t, q) for q, t in p]), "query first"),
        (lambda m, p: np.sort(_logits(m, p)), "in another order"),
        (lambda m, p: np.zeros(len(p)), "not the cross-encoder's logits"),
        (lambda m, p: _logits(m, p)[:1], "one number per pair"),
        (loads_twice, "loaded 4 times"),  # in __init__ and for each of 3 batches
    ]
    for score, fragment in mistakes:
        _rejected_once(_scorer(score), fragment)


def test_pair_scorer_batches_that_lose_their_columns_get_hints() -> None:
    from sentence_transformers import CrossEncoder

    class ScoresOnly:
        def __init__(self, model: str) -> None:
            self.model = CrossEncoder(model)

        def __call__(self, batch: dict) -> Any:
            return _logits(self.model, list(zip(batch["query"], batch["text"], strict=True)))

    class ScoreColumnOnly(ScoresOnly):
        def __call__(self, batch: dict) -> Any:
            return {"score": super().__call__(batch)}

    _rejected_once(ScoresOnly, "return the batch, a dict of columns")
    _rejected_once(ScoreColumnOnly, "lost its `query` column")


# --- 07.7 efSearch for a recall target --------------------------------------------------------


def _recall(index: Any, queries: np.ndarray, exact_ids: np.ndarray, ef: int) -> float:
    k = exact_ids.shape[1]
    index.hnsw.efSearch = ef
    _, ids = index.search(queries, k)
    return float(np.mean([len(set(f) & set(e)) / k for f, e in zip(ids, exact_ids, strict=True)]))


def ef_search_for(
    index: Any, queries: np.ndarray, exact_ids: np.ndarray, target: float, choices: list[int]
) -> int | None:
    for ef in sorted(choices):
        if _recall(index, queries, exact_ids, ef) >= target:
            return ef
    return None


def test_ef_search_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("07.7", ef_search_for, capsys)

    def with_numpy(index, queries, exact_ids, target, choices):  # type: ignore[no-untyped-def]
        recalls = np.array([_recall(index, queries, exact_ids, ef) for ef in choices])
        reaching = np.array(choices)[recalls >= target]
        return reaching.min() if reaching.size else None  # a NumPy integer is fine

    accepted("07.7", with_numpy, capsys)


def _first_reaching(index, queries, exact_ids, target, choices):  # type: ignore[no-untyped-def]
    return next((ef for ef in choices if _recall(index, queries, exact_ids, ef) >= target), None)


def _never_set(index, queries, exact_ids, target, choices):  # type: ignore[no-untyped-def]
    k = exact_ids.shape[1]
    _, ids = index.search(queries, k)  # efSearch stays where it was
    recall = np.mean([len(set(f) & set(e)) / k for f, e in zip(ids, exact_ids, strict=True)])
    return min(choices) if recall >= target else None


def _k_of_ten(index, queries, exact_ids, target, choices):  # type: ignore[no-untyped-def]
    for ef in sorted(choices):
        index.hnsw.efSearch = ef
        _, ids = index.search(queries, 10)  # k hard-coded; exact_ids may hold fewer
        hits = [len(set(f) & set(e)) / 10 for f, e in zip(ids, exact_ids, strict=True)]
        if np.mean(hits) >= target:
            return ef
    return None


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda index, queries, exact_ids, target, choices: max(choices), "largest efSearch"),
        (_first_reaching, "smaller choice does too"),
        (_never_set, "after setting `index.hnsw.efSearch`"),
        (_k_of_ten, "k = exact_ids.shape[1]"),
        (
            lambda index, queries, exact_ids, target, choices: _recall(
                index, queries, exact_ids, max(choices)
            ),
            "return one of the choices",
        ),
    ],
)
def test_ef_search_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("07.7", answer, fragment)
