"""The checkers of notebook 06 (Augmented SBERT): right answers pass, usual mistakes get their
hint, placeholders and unwritten functions are rejected.

As in the other exercise tests, checkers draw fresh random inputs on every call, so every answer
is checked several times: a hint must be the specific one on every draw, not on a lucky one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from exercise_checks import accepted, notebook_tests, rejected
from scipy.stats import spearmanr

NEW_IDS = ["06.1", "06.2", "06.3", "06.4", "06.5"]
FUNCTION_IDS = ["06.1", "06.2", "06.3", "06.4"]
(
    test_the_new_exercises_are_registered_in_notebook_order,
    test_placeholders_are_rejected,
    test_unwritten_functions_are_rejected,
) = notebook_tests(NEW_IDS, FUNCTION_IDS)


# --- 06.1 the CoSENT loss ---------------------------------------------------------------------


def cosent_loss(cosines: Any, scores: Any, scale: float = 20.0) -> float:
    s = np.asarray(cosines) * scale
    higher = np.asarray(scores)[:, None] > np.asarray(scores)[None, :]
    return float(np.logaddexp.reduce(np.append((s[None, :] - s[:, None])[higher], 0.0)))


def cosent_torch(cosines: Any, scores: Any, scale: float = 20.0) -> torch.Tensor:
    # sentence-transformers' CoSENTLoss, line for line
    x = torch.tensor(cosines) * scale
    x = x[:, None] - x[None, :]
    labels = torch.tensor(scores)
    labels = labels[:, None] < labels[None, :]
    x = x - (1 - labels.double()) * 1e12
    return torch.logsumexp(torch.cat((torch.zeros(1, dtype=x.dtype), x.view(-1))), dim=0)


def _cosent_loops(cosines: Any, scores: Any, scale: float = 20.0) -> float:
    total = 1.0
    for i in range(len(scores)):
        for j in range(len(scores)):
            if scores[i] > scores[j]:
                total += np.exp(scale * (cosines[j] - cosines[i]))
    return float(np.log(total))


def test_cosent_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("06.1", cosent_loss, capsys)
    accepted("06.1", cosent_torch, capsys)
    accepted("06.1", _cosent_loops, capsys)


def _wrong(**options: Any) -> Callable:
    from rerank_lab.exercises.augmented_sbert import _cosent

    return lambda c, s, scale=20.0: _cosent(np.asarray(c), np.asarray(s), scale, **options)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_wrong(reversed_order=True), "*right* order"),
        (_wrong(with_one=False), "the 1 inside the log"),
        (_wrong(ties=True), "equal gold scores"),
        (_wrong(use_scale=False), "multiply the cosine differences by `scale`"),
        (lambda c, s, scale=20.0: float("inf"), "not a finite number"),
        (lambda c, s, scale=20.0: 1.0, "not CoSENT yet"),
        (lambda c, s, scale=20.0: [1.0, 2.0], "single number"),
    ],
)
def test_cosent_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("06.1", answer, fragment)


# --- 06.2 a paired bootstrap -------------------------------------------------------------------


def _bootstrap(
    gold: Any,
    baseline: Any,
    system: Any,
    resamples: Any,
    *,
    percentiles: tuple[float, float] = (2.5, 97.5),
    mean_gap: bool = False,
    pearson: bool = False,
) -> tuple[float, float, float]:
    def correlation(x: Any, y: Any) -> float:
        return float(np.corrcoef(x, y)[0, 1]) if pearson else spearmanr(x, y).statistic

    def gap(rows: Any) -> float:
        return correlation(system[rows], gold[rows]) - correlation(baseline[rows], gold[rows])

    differences = [gap(rows) for rows in resamples]
    low, high = np.percentile(differences, percentiles)
    whole = float(np.mean(differences)) if mean_gap else gap(np.arange(len(gold)))
    return whole, float(low), float(high)


def test_bootstrap_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("06.2", _bootstrap, capsys)
    accepted("06.2", lambda *args: list(_bootstrap(*args)), capsys)
    accepted("06.2", lambda *args: torch.tensor(_bootstrap(*args)), capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda *a: (lambda d, lo, hi: (-d, -hi, -lo))(*_bootstrap(*a)), "reversed"),
        (lambda *a: (lambda d, lo, hi: (d, hi, lo))(*_bootstrap(*a)), "swapped"),
        (lambda *a: _bootstrap(*a, percentiles=(5, 95)), "covers 90%"),
        (lambda *a: _bootstrap(*a, mean_gap=True), "measured once, on all the pairs"),
        (lambda *a: _bootstrap(*a, pearson=True), "Pearson"),
        (lambda *a: (_bootstrap(*a)[0], -1.0, 1.0), "the interval is not"),
        (lambda *a: (0.5, -1.0, 1.0), "the difference on all the pairs should be"),
        (lambda *a: _bootstrap(*a)[:2], "three numbers"),
    ],
)
def test_bootstrap_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("06.2", answer, fragment)


# --- 06.3 silver labels in both orders ---------------------------------------------------------


def symmetric_labels(cross_encoder: Any, texts: list, pairs: list) -> Any:
    forward = [(texts[a], texts[b]) for a, b in pairs]
    backward = [(texts[b], texts[a]) for a, b in pairs]
    scores = cross_encoder.predict(forward + backward, activation_fn=torch.nn.Sigmoid())
    return (scores[: len(pairs)] + scores[len(pairs) :]) / 2


def _one_order(cross_encoder: Any, texts: list, pairs: list) -> Any:
    return cross_encoder.predict(
        [(texts[a], texts[b]) for a, b in pairs], activation_fn=torch.nn.Sigmoid()
    )


def _mean_logits(cross_encoder: Any, texts: list, pairs: list) -> Any:
    forward = cross_encoder.predict([(texts[a], texts[b]) for a, b in pairs])
    backward = cross_encoder.predict([(texts[b], texts[a]) for a, b in pairs])
    return torch.sigmoid(torch.tensor((forward + backward) / 2)).numpy()


def _per_pair(cross_encoder: Any, texts: list, pairs: list) -> list:
    return [float(symmetric_labels(cross_encoder, texts, [pair])[0]) for pair in pairs]


def test_symmetric_labels_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("06.3", symmetric_labels, capsys)
    accepted("06.3", lambda m, t, p: list(symmetric_labels(m, t, p)), capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_one_order, "one order only"),
        (_mean_logits, "average the two 0..1 scores"),
        (_per_pair, "predict was called"),
        (
            lambda m, t, p: m.predict([(t[a], t[b]) for a, b in p] + [(t[b], t[a]) for a, b in p]),
            "*and order*",
        ),
        (
            lambda m, t, p: (
                (m.predict([(t[a], t[b]) for a, b in p]) + m.predict([(t[b], t[a]) for a, b in p]))
                / 2
            ),
            "these are logits",
        ),
        (lambda m, t, p: np.full(len(p), 0.5), "not the mean of the two orders"),
        (lambda m, t, p: m.predict(p), "(text, text) pairs"),
    ],
)
def test_symmetric_labels_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("06.3", answer, fragment)


# --- 06.4 silver labels ------------------------------------------------------------------------


def silver_labels(cross_encoder: Any, texts: list, pairs: list) -> Any:
    inputs = [(texts[a], texts[b]) for a, b in pairs]
    return cross_encoder.predict(inputs, activation_fn=torch.nn.Sigmoid())


def test_silver_labels_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("06.4", silver_labels, capsys)

    def manual_sigmoid(cross_encoder: Any, texts: list, pairs: list) -> Any:
        logits = cross_encoder.predict([(texts[a], texts[b]) for a, b in pairs])
        return torch.sigmoid(torch.as_tensor(logits))

    accepted("06.4", manual_sigmoid, capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda ce, t, p: ce.predict([(t[a], t[b]) for a, b in p]), "raw logits"),
        (lambda ce, t, p: ce.predict(p, activation_fn=torch.nn.Sigmoid()), "look the texts up"),
        (
            lambda ce, t, p: ce.predict(
                [(t[b], t[a]) for a, b in p], activation_fn=torch.nn.Sigmoid()
            ),
            "its order",
        ),
        (
            lambda ce, t, p: torch.softmax(
                torch.as_tensor(ce.predict([(t[a], t[b]) for a, b in p])), 0
            ),
            "softmax",
        ),
        (lambda ce, t, p: silver_labels(ce, t, p)[:-1], "one label per pair"),
        (
            lambda ce, t, p: ce.predict(
                [(t[a], t[b]) for a, b in p], activation_fn=torch.nn.Tanh()
            ),
            "not the cross-encoder's 0..1 scores",
        ),
    ],
)
def test_silver_labels_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("06.4", answer, fragment)


# --- 06.5 statements ---------------------------------------------------------------------------


def test_statements(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("06.5", "abf", capsys)
    accepted("06.5", {"F", "a", "b"}, capsys)
    for wrong in ("ab", "abcf", "c", "abdefg"):
        rejected("06.5", wrong)
    rejected("06.5", "ab", "you missed a true statement")
    rejected("06.5", "abfg", "one of your letters is a false statement")
    rejected("06.5", "az", "use only the letters")
