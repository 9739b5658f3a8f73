"""Checkers of notebook 06 (Augmented SBERT): Spearman correlation, pairs from neighbour lists,
KDE sampling weights, silver labels from a cross-encoder, and what the method can and cannot
do."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rerank_lab.exercises.core import (
    ExerciseError,
    _as_float,
    _call,
    _check_true_statements,
    _close,
    _describe,
    _require_function,
    _statements_question,
    _to_numpy,
    exercise,
)

# --- 06.1 Spearman correlation ----------------------------------------------------------------


def _ranks(values: np.ndarray, *, ties: str = "average") -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values, method=ties)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def _spearman_cases(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Predicted and gold scores with ties on the gold side (ratings are coarse) and on the
    predicted side, a non-linear but monotone relation, and a negative one."""
    cases = []
    for n in (12, 30, 57):
        gold = rng.integers(1, 6, size=n) / 5  # ratings 0.2 .. 1.0: many ties
        noise = rng.normal(scale=0.25, size=n)
        predicted = np.exp(3 * gold + noise)  # monotone, far from linear
        predicted[: n // 4] = np.round(predicted[: n // 4], 0)  # some ties in predictions
        cases.append((predicted, gold))
    gold = rng.random(20)
    cases.append((-gold + rng.normal(scale=0.1, size=20), gold))
    return cases


@exercise(
    "06.1",
    title="Spearman correlation",
    question=(
        "Write `spearman(predicted, gold)`: two equally long lists (or arrays) of scores, one "
        "per pair. Return Spearman's rank correlation as one number: Pearson's correlation of "
        "the two lists' ranks, where tied values share the mean of the ranks they occupy. You "
        "may use numpy and scipy.stats.rankdata (not scipy.stats.spearmanr)."
    ),
)
def _check_spearman(answer: Any) -> str:
    spearman = _require_function(answer, "spearman")
    checked = []
    for predicted, gold in _spearman_cases(np.random.default_rng()):
        result = _call(spearman, predicted.copy(), gold.copy())
        if isinstance(result, tuple) or hasattr(result, "pvalue"):
            raise ExerciseError(
                "return the correlation alone, as one number (not a result object or a tuple "
                "with a p-value)."
            )
        checked.append((predicted, gold, _as_float(result, "spearman(predicted, gold)")))

    def agrees(reference: Callable[[np.ndarray, np.ndarray], float]) -> bool:
        return all(_close(got, reference(p, g)) for p, g, got in checked)

    if agrees(lambda p, g: _pearson(_ranks(p), _ranks(g))):
        return "Pearson's correlation of the ranks, ties sharing their mean rank."
    mistakes: list[tuple[Callable[[np.ndarray, np.ndarray], float], str]] = [
        (
            lambda p, g: _pearson(p, g),
            "you correlate the scores themselves (Pearson). Spearman correlates their *ranks*, "
            "so only the order counts, not how far apart the values are.",
        ),
        (
            lambda p, g: _pearson(_ranks(p, ties="ordinal"), _ranks(g, ties="ordinal")),
            "ties are ranked one after another here. Gold ratings tie often: tied values should "
            "all get the mean of the ranks they occupy.",
        ),
        (
            lambda p, g: _pearson(np.argsort(p), np.argsort(g)),
            "np.argsort gives the positions that would sort the list, not each value's rank "
            "(that takes a second argsort, or rankdata).",
        ),
        (
            lambda p, g: -_pearson(_ranks(p), _ranks(g)),
            "your sign is reversed: pairs ordered the same way should give +1.",
        ),
        (
            lambda p, g: 1 - _pearson(_ranks(p), _ranks(g)),
            "that looks like a distance (1 − correlation); return the correlation itself.",
        ),
    ]
    for reference, hint in mistakes:
        if agrees(reference):
            raise ExerciseError(hint)
    if any(not -1 - 1e-9 <= got <= 1 + 1e-9 for *_, got in checked):
        raise ExerciseError("a correlation lies between −1 and 1; yours does not.")
    raise ExerciseError(
        "not Spearman's correlation yet. Rank each list (1 = smallest, ties get their mean "
        "rank), then take the Pearson correlation of the two rank lists."
    )


# --- 06.2 pairs from neighbour lists ----------------------------------------------------------


def _round_robin(neighbours: Mapping[int, Sequence[int]], k: int) -> list[tuple[int, int]]:
    chosen: dict[tuple[int, int], None] = {}
    depth = max(len(v) for v in neighbours.values())
    for rank in range(depth):
        for anchor, ranked in neighbours.items():
            if rank < len(ranked) and ranked[rank] != anchor:
                chosen.setdefault((min(anchor, ranked[rank]), max(anchor, ranked[rank])))
                if len(chosen) == k:
                    return list(chosen)
    return list(chosen)


def _depth_first(neighbours: Mapping[int, Sequence[int]], k: int) -> list[tuple[int, int]]:
    chosen: dict[tuple[int, int], None] = {}
    for anchor, ranked in neighbours.items():
        for other in ranked:
            if other != anchor:
                chosen.setdefault((min(anchor, other), max(anchor, other)))
    return list(chosen)[:k]


def _neighbour_case(rng: np.random.Generator) -> tuple[dict[int, list[int]], int]:
    """Neighbour lists over a small pool where neighbours are often mutual (a's best is b and
    b's best is a), as BM25 and semantic neighbours are, and one list names its own anchor."""
    n = int(rng.integers(7, 11))
    ids = [int(i) for i in rng.choice(1000, size=n, replace=False)]
    neighbours = {}
    for anchor in ids:
        others = [i for i in ids if i != anchor]
        rng.shuffle(others)
        neighbours[anchor] = others[:4]
    # mutual best neighbours for the first two anchors
    a, b = ids[0], ids[1]
    neighbours[a] = [b] + [i for i in neighbours[a] if i != b][:3]
    neighbours[b] = [a] + [i for i in neighbours[b] if i != a][:3]
    neighbours[ids[2]] = [ids[2]] + neighbours[ids[2]][:3]  # a list that includes its anchor
    k = int(rng.integers(n, 2 * n))
    return neighbours, k


def _as_pairs(result: Any, what: str) -> list[tuple[int, int]]:
    if isinstance(result, np.ndarray):
        result = result.tolist()
    if isinstance(result, (set, frozenset)):
        raise ExerciseError(
            f"{what} is a set: return a list, so the order (best neighbours first) is kept."
        )
    if not isinstance(result, (list, tuple)):
        raise ExerciseError(f"{what} should be a list of (a, b) pairs, not {_describe(result)}.")
    pairs = []
    for item in result:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise ExerciseError(f"{what} should hold (a, b) pairs, but holds {_describe(item)}.")
        try:
            pairs.append((int(item[0]), int(item[1])))
        except (TypeError, ValueError):
            raise ExerciseError("each pair should hold two text indices (ints).") from None
    return pairs


@exercise(
    "06.2",
    title="Silver pairs from neighbour lists",
    question=(
        "BM25 and semantic sampling give each anchor text a ranked list of neighbours. Write "
        "`neighbour_pairs(neighbours, k)`: neighbours is a dict {anchor index: [neighbour "
        "indices, best first]}. Return a list of at most k distinct pairs (a, b) with a < b: "
        "first every anchor's best neighbour (anchors in the dict's order), then every anchor's "
        "second-best, and so on. Skip a pair already taken (b's best neighbour may be a) and a "
        "'neighbour' that is the anchor itself."
    ),
)
def _check_neighbour_pairs(answer: Any) -> str:
    neighbour_pairs = _require_function(answer, "neighbour_pairs")
    rng = np.random.default_rng()
    for _ in range(4):
        neighbours, k = _neighbour_case(rng)
        expected = _round_robin(neighbours, k)
        got = _as_pairs(_call(neighbour_pairs, neighbours, k), "neighbour_pairs(neighbours, k)")
        if got == expected:
            continue
        if any(a == b for a, b in got):
            raise ExerciseError(
                "a pair joins a text with itself: skip a neighbour that is the anchor."
            )
        if any(a > b for a, b in got):
            raise ExerciseError("write each pair with the smaller index first: (a, b), a < b.")
        if len(set(got)) < len(got):
            raise ExerciseError(
                "a pair appears twice (a's best neighbour is b and b's best is a): similarity "
                "has no direction, so keep each pair once."
            )
        if len(got) > k:
            raise ExerciseError(f"return at most k={k} pairs, not {len(got)}.")
        if got == _depth_first(neighbours, k):
            raise ExerciseError(
                "you take all of the first anchor's neighbours before the others' best ones: with "
                "a small budget the pairs would all come from a few anchors. Go round by rank."
            )
        if set(got) == set(expected):
            raise ExerciseError("the right pairs in the wrong order: best neighbours come first.")
        raise ExerciseError(
            "not the expected pairs. Go rank by rank (all anchors' 1st neighbour, then all 2nd, "
            "...), skipping repeats and self-pairs, until you have k."
        )
    return "rank by rank across anchors, each unordered pair once: a fair use of the budget."


# --- 06.3 KDE sampling weights ----------------------------------------------------------------


def _kde(sample: np.ndarray, at: np.ndarray) -> np.ndarray:
    from scipy.stats import gaussian_kde

    return gaussian_kde(sample)(at)


@exercise(
    "06.3",
    title="KDE sampling: which candidates to keep",
    question=(
        "Write `kde_probabilities(candidate_scores, gold_scores)`: the cross-encoder's scores of "
        "many random candidate pairs, and the gold scores. Return one probability per candidate "
        "(summing to 1) of drawing it, proportional to f_gold(s) / f_cand(s), where f_gold and "
        "f_cand are kernel density estimates (scipy.stats.gaussian_kde with its default "
        "bandwidth) of the gold and of the candidate scores, evaluated at the candidate's score "
        "s. Drawing silver pairs with these probabilities makes their scores follow the gold "
        "distribution."
    ),
)
def _check_kde(answer: Any) -> str:
    kde_probabilities = _require_function(answer, "kde_probabilities")
    rng = np.random.default_rng()
    for n in (200, 350):
        candidates = np.clip(rng.beta(1.2, 6, size=n), 0, 1)  # mostly dissimilar pairs
        gold = np.clip(rng.beta(2, 2.5, size=60), 0, 1)  # more similar pairs than random
        got = _to_numpy(
            _call(kde_probabilities, candidates.copy(), gold.copy()),
            "kde_probabilities(candidate_scores, gold_scores)",
        ).astype(float)
        if got.shape != candidates.shape:
            raise ExerciseError(
                f"return one probability per candidate ({n}), not {_describe(got)}."
            )
        f_gold, f_cand = _kde(gold, candidates), _kde(candidates, candidates)
        right = f_gold / f_cand
        right = right / right.sum()
        if np.allclose(got, right, rtol=1e-3, atol=1e-9):
            continue
        if np.allclose(got / got.sum(), right, rtol=1e-3, atol=1e-9):
            raise ExerciseError(
                "proportional to the right weights, but they do not sum to 1: divide by their "
                "total to make probabilities."
            )
        inverse = f_cand / f_gold
        if np.allclose(got / max(got.sum(), 1e-300), inverse / inverse.sum(), rtol=1e-3):
            raise ExerciseError(
                "your ratio is upside down: scores that are *rare* among the candidates but "
                "common in the gold set should be favoured."
            )
        if np.allclose(got / max(got.sum(), 1e-300), f_gold / f_gold.sum(), rtol=1e-3):
            raise ExerciseError(
                "you weight by the gold density alone: the candidates' own density must divide "
                "it, or scores that are common among candidates are drawn far too often."
            )
        if np.allclose(got, 1 / n):
            raise ExerciseError("equal probabilities are random sampling, not KDE sampling.")
        raise ExerciseError(
            "not the KDE weights yet: fit one gaussian_kde on the gold scores and one on the "
            "candidate scores, evaluate both at the candidate scores, divide, normalise."
        )
    return "gold density over candidate density, normalised: silver scores then follow gold."


# --- 06.4 silver labels from a cross-encoder --------------------------------------------------


class _FakeCrossEncoder:
    """Stands in for a CrossEncoder: predict(list of (text, text)) returns logits unless an
    activation_fn is passed (like the course's MS MARCO-style models, whose default is none)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._salt = float(rng.normal())
        self.calls = 0

    def _logit(self, first: str, second: str) -> float:
        words_a, words_b = set(first.split()), set(second.split())
        overlap = len(words_a & words_b) / max(1, len(words_a | words_b))
        return 8 * overlap - 3 + self._salt + 0.01 * (len(first) - len(second))

    def predict(self, inputs: Any, activation_fn: Any = None, **kwargs: Any) -> np.ndarray:
        import torch

        self.calls += 1
        if isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[0], str):
            inputs = [inputs]
        if not isinstance(inputs, list):
            raise TypeError("predict takes a list of (text, text) pairs")
        for item in inputs:
            if not (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and all(isinstance(t, str) for t in item)
            ):
                raise TypeError(f"predict takes (text, text) pairs, got {item!r}")
        logits = torch.tensor([self._logit(a, b) for a, b in inputs], dtype=torch.float32)
        if activation_fn is not None:
            logits = activation_fn(logits)
        return logits.numpy()


_WORDS = (
    "storm rain flood fire bushfire senate vote election bank shares market rates police".split()
)


@exercise(
    "06.4",
    title="Silver labels from the cross-encoder",
    question=(
        "Write `silver_labels(cross_encoder, texts, pairs)`: texts is a list of documents, pairs "
        "a list of (a, b) index pairs. Return one similarity per pair on 0..1, as the course's "
        "cross-encoder estimates it. Its head outputs a logit; the notebook explains which "
        "activation turns it into the 0..1 score. Be explicit: do not rely on the model's "
        "default activation."
    ),
)
def _check_silver_labels(answer: Any) -> str:
    import torch

    silver_labels = _require_function(answer, "silver_labels")
    rng = np.random.default_rng()
    for n_texts, n_pairs in ((8, 10), (12, 25)):
        texts = [" ".join(rng.choice(_WORDS, size=int(rng.integers(4, 9)))) for _ in range(n_texts)]
        pairs = [
            tuple(int(i) for i in rng.choice(n_texts, 2, replace=False)) for _ in range(n_pairs)
        ]
        model = _FakeCrossEncoder(rng)
        logits = np.array([model._logit(texts[a], texts[b]) for a, b in pairs])
        expected = torch.sigmoid(torch.tensor(logits)).numpy()
        result = _call(
            silver_labels,
            model,
            list(texts),
            list(pairs),
            copy_args=False,
            crash_hints={
                TypeError: "predict reads a list of (text, text) pairs: look the texts up by index"
            },
        )
        got = _to_numpy(result, "silver_labels(...)").astype(float).ravel()
        if got.shape != expected.shape:
            raise ExerciseError(f"return one label per pair ({n_pairs}), not {_describe(result)}.")
        if np.allclose(got, expected, atol=1e-4):
            continue
        if np.allclose(got, logits, atol=1e-4):
            raise ExerciseError(
                "these are raw logits (some lie outside 0..1): pass the activation that maps a "
                "logit onto 0..1 to predict, explicitly."
            )
        swapped = np.array([model._logit(texts[b], texts[a]) for a, b in pairs])
        if np.allclose(got, torch.sigmoid(torch.tensor(swapped)).numpy(), atol=1e-4) and not (
            np.allclose(swapped, logits)
        ):
            raise ExerciseError("keep each pair in its order: (texts[a], texts[b]).")
        if np.allclose(got, torch.softmax(torch.tensor(logits), 0).numpy(), atol=1e-4):
            raise ExerciseError(
                "softmax across pairs makes the labels compete (they sum to 1); each pair needs "
                "its own 0..1 score from its own logit."
            )
        raise ExerciseError(
            "not the cross-encoder's 0..1 scores of these pairs: build (texts[a], texts[b]) for "
            "each pair and pass them to predict with the right activation."
        )
    return "the Sigmoid of the logit, asked for explicitly: silver labels on the gold scale."


# --- 06.5 what Augmented SBERT can and cannot do ----------------------------------------------

_AUGSBERT_STATEMENTS = {
    "a": "KDE sampling makes the cross-encoder label more pairs than it finally keeps.",
    "b": "On the Lee documents, most randomly drawn pairs are dissimilar.",
    "c": "Silver pairs may include test documents, since their labels come from the "
    "cross-encoder and not from people.",
    "d": "BM25 sampling finds pairs that say the same thing in entirely different words.",
    "e": "Multiplying every predicted similarity by 2 changes the Spearman correlation.",
    "f": "The semantic-search strategy needs a bi-encoder before the silver set exists; the "
    "course uses the one trained on gold only.",
    "g": "The finished system still runs the cross-encoder for every pair it compares.",
}


@exercise(
    "06.5",
    title="What Augmented SBERT can and cannot do",
    question=_statements_question(
        "Which of these statements about Augmented SBERT are true?", _AUGSBERT_STATEMENTS
    ),
)
def _check_augsbert_statements(answer: Any) -> str:
    return _check_true_statements(
        answer,
        _AUGSBERT_STATEMENTS,
        {"a", "b", "f"},
        nudge="For each, ask what each strategy computes, what the test set must never see, "
        "what Spearman ignores, and which model is left at the end.",
        lesson=(
            "the cross-encoder is a teacher used once, offline; KDE pays for its matched "
            "distribution with extra labelling; test documents stay out of every training "
            "pair, silver ones included; and Spearman only reads the order."
        ),
    )
