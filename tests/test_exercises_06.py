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
from exercise_checks import accepted, registered_in_order, rejected, unwritten_functions_rejected
from scipy.stats import gaussian_kde, rankdata, spearmanr

NEW_IDS = ["06.1", "06.2", "06.3", "06.4", "06.5"]
FUNCTION_IDS = ["06.1", "06.2", "06.3", "06.4"]


def test_the_new_exercises_are_registered_in_notebook_order() -> None:
    registered_in_order(NEW_IDS)


@pytest.mark.parametrize("exercise_id", NEW_IDS)
@pytest.mark.parametrize("placeholder", [..., None])
def test_placeholders_are_rejected(exercise_id: str, placeholder: Any) -> None:
    rejected(exercise_id, placeholder, "no answer yet")


@pytest.mark.parametrize("exercise_id", FUNCTION_IDS)
def test_unwritten_functions_are_rejected(exercise_id: str) -> None:
    unwritten_functions_rejected(exercise_id)


# --- 06.1 Spearman -----------------------------------------------------------------------------


def spearman(predicted: Any, gold: Any) -> float:
    return float(np.corrcoef(rankdata(predicted), rankdata(gold))[0, 1])


def spearman_by_hand(predicted: Any, gold: Any) -> float:
    def ranks(values: Any) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        order = np.argsort(values, kind="stable")
        out = np.empty(len(values))
        out[order] = np.arange(1, len(values) + 1)
        for value in np.unique(values):  # ties share their mean rank
            out[values == value] = out[values == value].mean()
        return out

    rx, ry = ranks(predicted), ranks(gold)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / np.sqrt((rx**2).sum() * (ry**2).sum()))


def test_spearman_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("06.1", spearman, capsys)
    accepted("06.1", spearman_by_hand, capsys)
    accepted("06.1", lambda p, g: torch.tensor(spearmanr(p, g).statistic), capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda p, g: float(np.corrcoef(p, g)[0, 1]), "*ranks*"),
        (
            lambda p, g: float(
                np.corrcoef(rankdata(p, method="ordinal"), rankdata(g, method="ordinal"))[0, 1]
            ),
            "mean of the ranks",
        ),
        (lambda p, g: float(np.corrcoef(np.argsort(p), np.argsort(g))[0, 1]), "np.argsort"),
        (lambda p, g: -spearman(p, g), "sign is reversed"),
        (lambda p, g: 1 - spearman(p, g), "distance"),
        (lambda p, g: spearmanr(p, g), "p-value"),
        (lambda p, g: 3.0, "between −1 and 1"),
        (lambda p, g: 0.5, "Rank each list"),
    ],
)
def test_spearman_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("06.1", answer, fragment)


# --- 06.2 neighbour pairs ----------------------------------------------------------------------


def neighbour_pairs(neighbours: dict, k: int) -> list:
    pairs: list[tuple[int, int]] = []
    depth = max(len(ranked) for ranked in neighbours.values())
    for rank in range(depth):
        for anchor, ranked in neighbours.items():
            if rank >= len(ranked) or ranked[rank] == anchor:
                continue
            pair = (min(anchor, ranked[rank]), max(anchor, ranked[rank]))
            if pair not in pairs:
                pairs.append(pair)
            if len(pairs) == k:
                return pairs
    return pairs


def test_neighbour_pairs_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("06.2", neighbour_pairs, capsys)
    accepted("06.2", lambda n, k: np.array(neighbour_pairs(n, k)), capsys)
    accepted("06.2", lambda n, k: [list(p) for p in neighbour_pairs(n, k)], capsys)


def _no_dedup(neighbours: dict, k: int) -> list:
    pairs = []
    for rank in range(4):
        for anchor, ranked in neighbours.items():
            if rank < len(ranked) and ranked[rank] != anchor:
                pairs.append((min(anchor, ranked[rank]), max(anchor, ranked[rank])))
    return pairs[:k]


def _depth_first(neighbours: dict, k: int) -> list:
    pairs: list = []
    for anchor, ranked in neighbours.items():
        for other in ranked:
            pair = (min(anchor, other), max(anchor, other))
            if other != anchor and pair not in pairs:
                pairs.append(pair)
    return pairs[:k]


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_no_dedup, "appears twice"),
        (_depth_first, "Go round by rank"),
        (lambda n, k: [(max(p), min(p)) for p in neighbour_pairs(n, k)], "smaller index first"),
        (
            lambda n, k: [(a, r) for a, ranked in n.items() for r in ranked[:1] if a < r or a == r],
            "with itself",
        ),
        (lambda n, k: neighbour_pairs(n, k) + [(10_001, 10_002), (10_003, 10_004)], "at most k"),
        (lambda n, k: sorted(neighbour_pairs(n, k)), "wrong order"),
        (lambda n, k: set(neighbour_pairs(n, k)), "is a set"),
        (lambda n, k: {"pairs": 1}, "list of (a, b) pairs"),
    ],
)
def test_neighbour_pairs_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("06.2", answer, fragment)


# --- 06.3 KDE ----------------------------------------------------------------------------------


def kde_probabilities(candidates: Any, gold: Any) -> np.ndarray:
    weights = gaussian_kde(gold)(candidates) / gaussian_kde(candidates)(candidates)
    return weights / weights.sum()


def _kde_inverse(candidates: Any, gold: Any) -> np.ndarray:
    weights = gaussian_kde(candidates)(candidates) / gaussian_kde(gold)(candidates)
    return weights / weights.sum()


def test_kde_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("06.3", kde_probabilities, capsys)
    accepted("06.3", lambda c, g: list(kde_probabilities(c, g)), capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda c, g: gaussian_kde(g)(c) / gaussian_kde(c)(c), "sum to 1"),
        (_kde_inverse, "upside down"),
        (lambda c, g: gaussian_kde(g)(c) / gaussian_kde(g)(c).sum(), "gold density alone"),
        (lambda c, g: np.full(len(c), 1 / len(c)), "random sampling"),
        (lambda c, g: kde_probabilities(c, g)[:-1], "one probability per candidate"),
        (lambda c, g: np.sort(kde_probabilities(c, g)), "not the KDE weights"),
    ],
)
def test_kde_mistakes_get_hints(answer: Callable, fragment: str) -> None:
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
