"""Checkers of notebook 06 (Augmented SBERT): the CoSENT loss, a paired bootstrap of a Spearman
difference, silver labels in both orders and from a cross-encoder, and what the method can and
cannot do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rerank_lab.exercises.core import (
    ExerciseError,
    _as_float,
    _call,
    _check_true_statements,
    _describe,
    _raise_first_mistake,
    _require_function,
    _statements_question,
    _to_numpy,
    exercise,
)

# --- 06.1 the CoSENT loss ---------------------------------------------------------------------


def _cosent(
    cosines: np.ndarray,
    scores: np.ndarray,
    scale: float,
    *,
    reversed_order: bool = False,
    with_one: bool = True,
    ties: bool = False,
    use_scale: bool = True,
) -> float:
    """CoSENT as sentence-transformers computes it; the keywords switch on the usual mistakes:
    log(1 + sum over pairs (i, j) with scores[i] > scores[j] of exp(s·(cos[j] − cos[i])))."""
    s = cosines * (scale if use_scale else 1.0)
    terms = []
    for i in range(len(s)):
        for j in range(len(s)):
            ordered = scores[i] >= scores[j] if ties else scores[i] > scores[j]
            if i != j and ordered:
                terms.append(s[i] - s[j] if reversed_order else s[j] - s[i])
    if with_one:
        terms.append(0.0)
    return float(np.logaddexp.reduce(terms)) if terms else 0.0


def _cosent_case(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch of pair cosines and gold scores with ties (gold ratings are coarse), the cosines
    loosely following the scores."""
    scores = rng.integers(0, 5, size=n) / 4
    cosines = np.clip(0.3 * scores + rng.normal(scale=0.15, size=n) + 0.4, -1, 1)
    return cosines, scores


@exercise(
    "06.1",
    title="The CoSENT loss",
    question=(
        "Section 5 trains the students with CoSENT. Write `cosent_loss(cosines, scores, "
        "scale=20.0)`: the cosine similarity of each pair in a batch, and its gold score. For "
        "every two pairs i, j where pair i's gold score is higher than pair j's, the model "
        "should give i the higher cosine; CoSENT penalises each such two by exp(scale · "
        "(cos_j − cos_i)) and returns log(1 + the sum of those penalties), one number. Pairs "
        "with equal scores set no order. (sentence-transformers' CoSENTLoss computes exactly "
        "this; use numpy or torch, and mind large exponents: np.logaddexp or torch.logsumexp.)"
    ),
)
def _check_cosent(answer: Any) -> str:
    cosent_loss = _require_function(answer, "cosent_loss")
    rng = np.random.default_rng()
    checked = []
    for n, scale in ((6, 20.0), (16, 20.0), (9, 5.0)):
        cosines, scores = _cosent_case(rng, n)
        value = _call(cosent_loss, cosines.copy(), scores.copy(), scale)
        checked.append(((cosines, scores, scale), _as_float(value, "cosent_loss(...)")))
    cosines = np.array([0.9, -0.9, 0.9])  # badly ordered: penalties of exp(36)
    scores = np.array([0.0, 1.0, 0.0])
    value = _call(cosent_loss, cosines.copy(), scores.copy(), 20.0)
    checked.append(((cosines, scores, 20.0), _as_float(value, "cosent_loss(...)")))

    def agrees(**options: Any) -> bool:
        return all(
            np.isclose(got, _cosent(*case, **options), rtol=1e-4, atol=1e-4)
            for case, got in checked
        )

    if agrees():
        return (
            "log(1 + Σ exp(s·(cos_j − cos_i))) over the ordered pairs: the ranking Spearman reads."
        )
    if any(not np.isfinite(got) for _, got in checked):
        raise ExerciseError(
            "your loss is not a finite number on a badly ordered batch: add the terms in log "
            "space, with np.logaddexp.reduce or torch.logsumexp, a 0 term standing for the 1."
        )
    mistakes: list[tuple[dict[str, Any], str]] = [
        (
            {"reversed_order": True},
            "your penalty grows when the pairs are in the *right* order: for scores[i] > "
            "scores[j] the penalty is exp(scale · (cos_j − cos_i)).",
        ),
        ({"with_one": False}, "the 1 inside the log is missing: log(1 + Σ ...)."),
        (
            {"ties": True},
            "pairs with equal gold scores set no order: leave them out (and a pair with itself).",
        ),
        ({"use_scale": False}, "multiply the cosine differences by `scale` before exp."),
    ]
    _raise_first_mistake(agrees, mistakes)
    raise ExerciseError(
        "not CoSENT yet: over every two pairs (i, j) with scores[i] > scores[j], add "
        "exp(scale · (cos_j − cos_i)); return log(1 + that sum)."
    )


# --- 06.2 a paired bootstrap of a Spearman difference -----------------------------------------


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import rankdata

    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def _bootstrap(
    gold: np.ndarray,
    baseline: np.ndarray,
    system: np.ndarray,
    resamples: np.ndarray,
    *,
    percentiles: tuple[float, float] = (2.5, 97.5),
    correlation: Callable[[np.ndarray, np.ndarray], float] = _spearman,
) -> tuple[float, float, float]:
    def gap(rows: np.ndarray) -> float:
        return correlation(system[rows], gold[rows]) - correlation(baseline[rows], gold[rows])

    differences = [gap(rows) for rows in resamples]
    low, high = np.percentile(differences, percentiles)
    return gap(np.arange(len(gold))), float(low), float(high)


def _bootstrap_case(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Gold scores of test pairs, two systems that err alike (both read the same noisy signal,
    as two fine-tunings of one model do), and the resampled rows."""
    n = 120
    gold = rng.random(n)
    shared = rng.normal(scale=0.35, size=n)
    baseline = gold + shared + rng.normal(scale=0.12, size=n)
    system = gold + shared + rng.normal(scale=0.06, size=n)
    return gold, baseline, system, rng.integers(0, n, size=(300, n))


@exercise(
    "06.2",
    title="Is the difference real? A paired bootstrap",
    question=(
        "Write `bootstrap_difference(gold, baseline, system, resamples)`: gold, baseline and "
        "system are equally long arrays, one entry per test pair (people's scores and two "
        "models' similarities); resamples is a 2-D integer array, one row per bootstrap "
        "resample, each row the indices of the test pairs drawn (with replacement) for it. "
        "Return (difference, low, high): difference = Spearman(system, gold) − "
        "Spearman(baseline, gold) on all the pairs; low and high = the 2.5th and 97.5th "
        "percentiles (np.percentile) of the same difference computed on each resample's rows, "
        "the *same* rows for both models. You may use scipy.stats.spearmanr."
    ),
)
def _check_bootstrap(answer: Any) -> str:
    bootstrap_difference = _require_function(answer, "bootstrap_difference")
    rng = np.random.default_rng()
    for _ in range(2):
        gold, baseline, system, resamples = _bootstrap_case(rng)
        result = _call(bootstrap_difference, gold, baseline, system, resamples)
        values = result if isinstance(result, (tuple, list)) else _to_numpy(result, "the result")
        if len(values) != 3:
            raise ExerciseError(
                f"return three numbers, (difference, low, high), not {_describe(result)}."
            )
        got = np.array([_as_float(v, "each of (difference, low, high)") for v in values])
        expected = np.array(_bootstrap(gold, baseline, system, resamples))
        if np.allclose(got, expected, atol=1e-6):
            continue

        difference, low, high = expected
        mean_gap = float(
            np.mean([_bootstrap(gold, baseline, system, rows[None, :])[1] for rows in resamples])
        )
        mistakes = [
            ((-difference, -high, -low), "your difference is reversed: system minus baseline."),
            ((difference, high, low), "low and high are swapped: the 2.5th percentile first."),
            (
                _bootstrap(gold, baseline, system, resamples, percentiles=(5, 95)),
                "that interval covers 90%, not 95%: take the 2.5th and 97.5th percentiles.",
            ),
            (
                (mean_gap, low, high),
                "the difference is measured once, on all the pairs; the mean over resamples is "
                "not it.",
            ),
            (
                _bootstrap(
                    gold,
                    baseline,
                    system,
                    resamples,
                    correlation=lambda x, y: float(np.corrcoef(x, y)[0, 1]),
                ),
                "that is Pearson's correlation of the scores; the notebook measures Spearman's "
                "(the correlation of the ranks).",
            ),
        ]
        for wrong, hint in mistakes:
            if np.allclose(got, wrong, atol=1e-6):
                raise ExerciseError(hint)
        if not np.isclose(got[0], difference, atol=1e-6):
            raise ExerciseError(
                f"the difference on all the pairs should be {difference:+.4f}, not "
                f"{got[0]:+.4f}: Spearman of each model against gold, system minus baseline."
            )
        raise ExerciseError(
            "the difference is right, the interval is not: for each row of resamples, take "
            "those pairs, compute both Spearman correlations on them and their difference; "
            "then the 2.5th and 97.5th percentiles of those differences."
        )
    return "one set of rows per resample, both models scored on it: the gap, not the noise."


def _labelling_case(
    rng: np.random.Generator, n_texts: int, n_pairs: int
) -> tuple[list[str], list[tuple[int, ...]], _FakeCrossEncoder]:
    """Short texts, index pairs over them and a stand-in cross-encoder: one labelling check."""
    texts = [" ".join(rng.choice(_WORDS, size=int(rng.integers(4, 9)))) for _ in range(n_texts)]
    pairs = [tuple(int(i) for i in rng.choice(n_texts, 2, replace=False)) for _ in range(n_pairs)]
    return texts, pairs, _FakeCrossEncoder(rng)


def _labels_from(
    function: Callable[..., Any], name: str, model: Any, texts: list[str], pairs: list
) -> tuple[Any, np.ndarray]:
    """The learner's labels for ``pairs``: the raw result and its values as a flat array."""
    result = _call(
        function,
        model,
        list(texts),
        list(pairs),
        copy_args=False,
        crash_hints={
            TypeError: "predict reads a list of (text, text) pairs: look the texts up by index"
        },
    )
    return result, _to_numpy(result, f"{name}(...)").astype(float).ravel()


# --- 06.3 silver labels in both orders ---------------------------------------------------------


@exercise(
    "06.3",
    title="Silver labels in both orders",
    question=(
        "The teacher was trained on every gold pair in both orders, yet it reads (A, B) and "
        "(B, A) a little differently. Write `symmetric_labels(cross_encoder, texts, pairs)`: "
        "texts is a list of documents, pairs a list of (a, b) index pairs. Return one label per "
        "pair on 0..1: the mean of the teacher's Sigmoid scores for (texts[a], texts[b]) and "
        "(texts[b], texts[a]). Pass the activation explicitly, and call predict on all the "
        "pairs at once (once or twice in all), not once per pair."
    ),
)
def _check_symmetric_labels(answer: Any) -> str:
    import torch

    symmetric_labels = _require_function(answer, "symmetric_labels")
    rng = np.random.default_rng()
    for n_texts, n_pairs in ((8, 10), (12, 25)):
        texts, pairs, model = _labelling_case(rng, n_texts, n_pairs)
        forward = np.array([model._logit(texts[a], texts[b]) for a, b in pairs])
        backward = np.array([model._logit(texts[b], texts[a]) for a, b in pairs])

        def sigmoid(logits: np.ndarray) -> np.ndarray:
            return torch.sigmoid(torch.tensor(logits)).numpy()

        expected = (sigmoid(forward) + sigmoid(backward)) / 2
        result, got = _labels_from(symmetric_labels, "symmetric_labels", model, texts, pairs)
        if got.shape == (2 * n_pairs,):
            raise ExerciseError(
                "you return a label per pair *and order*: average each pair's two scores into "
                f"one label ({n_pairs} labels)."
            )
        if got.shape != expected.shape:
            raise ExerciseError(f"return one label per pair ({n_pairs}), not {_describe(result)}.")
        if np.allclose(got, expected, atol=1e-4):
            if model.calls > 2:
                raise ExerciseError(
                    f"right labels, but predict was called {model.calls} times: hand it all "
                    "the pairs in one list (a real cross-encoder batches them, far faster)."
                )
            continue
        for one_way in (forward, backward):
            if np.allclose(got, sigmoid(one_way), atol=1e-4):
                raise ExerciseError(
                    "these are the scores of one order only: score (texts[b], texts[a]) too, "
                    "and average the two."
                )
        if np.allclose(got, sigmoid((forward + backward) / 2), atol=1e-4):
            raise ExerciseError(
                "you average the logits, then apply the Sigmoid; average the two 0..1 scores "
                "instead (the question asks for the mean of the Sigmoid scores)."
            )
        if np.allclose(got, (forward + backward) / 2, atol=1e-4):
            raise ExerciseError(
                "these are logits (some lie outside 0..1): pass torch.nn.Sigmoid() to predict "
                "as activation_fn."
            )
        raise ExerciseError(
            "not the mean of the two orders' Sigmoid scores: score (texts[a], texts[b]) and "
            "(texts[b], texts[a]) with activation_fn=torch.nn.Sigmoid(), then average per pair."
        )
    return "both orders scored in one batch, averaged: a label that does not depend on the order."


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
        texts, pairs, model = _labelling_case(rng, n_texts, n_pairs)
        logits = np.array([model._logit(texts[a], texts[b]) for a, b in pairs])
        expected = torch.sigmoid(torch.tensor(logits)).numpy()
        result, got = _labels_from(silver_labels, "silver_labels", model, texts, pairs)
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
