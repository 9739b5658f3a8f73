"""Ranking metrics at a cut-off k: how good is the top of a ranked list?

Every metric looks only at the first ``k`` documents, because that is all a reader (or a
re-ranker, or an LLM's context window) ever sees. Each rewards something different:

* ``accuracy@k`` (a.k.a. success or hit rate): is there at least one relevant document in the top
  k? Rewards "the answer is somewhere on the first page".
* ``precision@k``: which share of the k slots hold relevant documents? Rewards not wasting slots;
  it divides by k even when the ranking is shorter, since empty slots are wasted too.
* ``recall@k``: which share of all relevant documents made it into the top k? Rewards finding
  everything, which matters when a later stage (a re-ranker) can only fix what it is given.
* ``mrr@k``: one over the rank of the first relevant document (0 if none in the top k). Rewards
  putting *a* right answer first, as question answering needs.
* ``ndcg@k``: graded gains discounted by position, ``grade / log2(rank + 1)``, divided by the same
  sum for the ideal ordering of the judged documents. Rewards putting the *most* relevant
  documents highest; 1.0 means no reordering could do better. This is trec_eval's ``ndcg_cut``.

Relevance judgements ("qrels") map a query id to ``{doc id: grade}``: a grade above 0 is
relevant, 0 or below is judged not relevant, and a document without a judgement counts as not
relevant (gain 0). ``evaluate`` scores a whole run, ``compute_metrics`` a single ranking; both go
through ``_score_query``, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "METRICS",
    "bootstrap_interval",
    "compute_metrics",
    "evaluate",
    "paired_bootstrap",
    "summarize",
]

METRICS = ("accuracy", "precision", "recall", "ndcg", "mrr")
"""The metric names, in the column order of ``evaluate``'s table."""

Ranking = Sequence[Hashable] | np.ndarray
Grades = Mapping[Hashable, int]


def evaluate(
    run: Mapping[Hashable, Ranking],
    qrels: Mapping[Hashable, Grades],
    ks: Iterable[int] = (1, 3, 5, 10),
) -> pd.DataFrame:
    """Score every query of ``run`` against ``qrels``: one row per query, one column per metric@k.

    ``run`` maps a query id to its ranked doc ids (best first; a list, tuple or numpy array).
    ``qrels`` maps a query id to ``{doc id: grade}``. Keeping one row per query, rather than only
    the mean, shows *which* queries a change helped or hurt; ``summarize`` gives the mean.

    Every query of ``run`` must have at least one relevant (grade > 0) document in ``qrels``:
    recall and nDCG are undefined otherwise, and silently scoring such a query 0 would drag the
    mean down for a reason that has nothing to do with the ranking.
    """
    ks = _check_ks(ks)
    _check_mapping(run, "run", "query id -> ranked list of doc ids")
    _check_mapping(qrels, "qrels", "query id -> {doc id: grade}")
    if not run:
        raise ValueError("run is empty: it needs at least one query id -> ranked list of doc ids.")
    rows = {}
    for query_id, ranked in run.items():
        if query_id not in qrels:
            raise ValueError(f"Query {query_id!r} of the run has no judgements in qrels.")
        rows[query_id] = _score_query(ranked, qrels[query_id], ks, f"Query {query_id!r}")
    table = pd.DataFrame.from_dict(rows, orient="index", columns=_columns(ks), dtype=float)
    table.index.name = "query_id"
    return table


def summarize(per_query: pd.DataFrame) -> pd.Series:
    """The mean of each metric over the queries of an ``evaluate`` table: one number per column."""
    if not isinstance(per_query, pd.DataFrame):
        raise TypeError(f"summarize takes evaluate's DataFrame, got {type(per_query).__name__}.")
    if per_query.empty:
        raise ValueError("summarize got an empty table: there is nothing to average.")
    return per_query.mean()


def paired_bootstrap(
    baseline: pd.Series, system: pd.Series, *, samples: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Mean difference ``system - baseline`` over queries, with a 95% paired-bootstrap interval.

    Both series hold one score per query (e.g. a column of ``evaluate``'s table). Queries are
    resampled with replacement, *pairs* kept together, so the interval reflects how much the
    improvement depends on which queries happened to be judged. If ``ci_low`` > 0 the gain is
    unlikely to be luck of the query sample.
    """
    if not isinstance(baseline, pd.Series) or not isinstance(system, pd.Series):
        raise TypeError("paired_bootstrap takes two pandas Series of per-query scores.")
    if set(baseline.index) != set(system.index):
        raise ValueError("paired_bootstrap needs scores for the same queries in both series.")
    if baseline.empty:
        raise ValueError("paired_bootstrap got no queries.")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}.")
    differences = (system - baseline.loc[system.index]).to_numpy(dtype=float)
    low, high = bootstrap_interval(
        lambda rows: differences[rows].mean(), differences.size, samples=samples, seed=seed
    )
    return {"mean": float(differences.mean()), "ci_low": low, "ci_high": high}


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float], size: int, *, samples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """The 95% bootstrap interval of ``statistic(rows)`` over ``samples`` resamples of ``size``
    items with replacement (rows of item positions). A resample on which the statistic is not
    defined (it raises ValueError, e.g. a correlation of constant values) is skipped."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        rows = rng.integers(0, size, size)
        try:
            values.append(statistic(rows))
        except ValueError:
            continue
    if not values:
        raise ValueError("the statistic was not defined on any resample.")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def compute_metrics(
    ranked: Ranking,
    relevant: Collection[Hashable] | Grades,
    k: int = 10,
) -> dict[str, float]:
    """The five metrics at one cut-off ``k`` for a single ranking, e.g. ``{"ndcg@10": 0.83, ...}``.

    ``relevant`` is either a collection of relevant doc ids (every one of grade 1) or a mapping
    ``{doc id: grade}``. A quick way to score one query, with exactly ``evaluate``'s definitions.
    """
    (k,) = _check_ks((k,))
    return _score_query(ranked, _as_grades(relevant), (k,), "compute_metrics")


def _score_query(
    ranked: Ranking, grades: Grades, ks: tuple[int, ...], label: str
) -> dict[str, float]:
    """All metrics at every k for one query, as Python floats: the one place they are computed.

    ``label`` names the query in error messages. Gains are looked up once, to the deepest k.
    """
    ranked = _check_ranking(ranked, label)
    ideal = _ideal_gains(grades, label)
    gains = np.array([max(grades.get(doc, 0), 0) for doc in ranked[: max(ks)]], dtype=float)
    scores: dict[str, float] = {}
    for k in ks:
        scores.update(_metrics_at(gains[:k], ideal[:k], ideal.size, k))
    return scores


def _metrics_at(gains: np.ndarray, ideal: np.ndarray, n_relevant: int, k: int) -> dict[str, float]:
    """The metrics of the top-k ``gains`` (at most k of them), given the ideal top-k gains."""
    hit_ranks = np.flatnonzero(gains > 0) + 1
    return {
        f"accuracy@{k}": float(hit_ranks.size > 0),
        f"precision@{k}": hit_ranks.size / k,
        f"recall@{k}": hit_ranks.size / n_relevant,
        f"ndcg@{k}": _dcg(gains) / _dcg(ideal),
        f"mrr@{k}": 1.0 / int(hit_ranks[0]) if hit_ranks.size else 0.0,
    }


def _dcg(gains: np.ndarray) -> float:
    """Discounted cumulative gain: the gain at rank r counts ``1 / log2(r + 1)``."""
    return float(np.sum(gains / np.log2(np.arange(2, gains.size + 2))))


def _ideal_gains(grades: Grades, label: str) -> np.ndarray:
    """The positive grades, best first: the gains of the best possible ranking."""
    _check_grades(grades, label)
    ideal = np.array(sorted((g for g in grades.values() if g > 0), reverse=True), dtype=float)
    if ideal.size == 0:
        raise ValueError(
            f"{label} has no relevant (grade > 0) document in its judgements, so recall and nDCG "
            "are undefined; drop the query or judge a relevant document."
        )
    return ideal


def _check_grades(grades: Grades, label: str) -> None:
    """Judgements must map doc id -> int grade (numpy ints included)."""
    if not isinstance(grades, Mapping):
        raise TypeError(
            f"{label}: judgements must map doc id -> grade, got {type(grades).__name__}."
        )
    for doc, grade in grades.items():
        if isinstance(grade, bool) or not isinstance(grade, (int, np.integer)):
            raise TypeError(
                f"{label}: the grade of doc {doc!r} must be an int, got {type(grade).__name__}."
            )


def _check_ranking(ranked: Ranking, label: str) -> list[Hashable]:
    """The ranking as a list, after checking its type and that no doc id repeats."""
    if isinstance(ranked, np.ndarray):
        if ranked.ndim != 1:
            raise ValueError(f"{label}: the ranking must be 1-D, got shape {ranked.shape}.")
        ranked = ranked.tolist()
    if not isinstance(ranked, (list, tuple)):
        raise TypeError(
            f"{label}: the ranking must be a list, tuple or numpy array of doc ids, "
            f"got {type(ranked).__name__}."
        )
    seen: set[Hashable] = set()
    for doc in ranked:
        if doc in seen:
            raise ValueError(f"{label}: doc {doc!r} appears more than once in the ranking.")
        seen.add(doc)
    return list(ranked)


def _as_grades(relevant: Collection[Hashable] | Grades) -> Grades:
    """``relevant`` as ``{doc id: grade}``: a plain collection of ids gets grade 1 each."""
    if isinstance(relevant, Mapping):
        return relevant
    if isinstance(relevant, np.ndarray):
        relevant = relevant.tolist()
    if isinstance(relevant, (str, bytes)) or not isinstance(relevant, Collection):
        raise TypeError(
            "compute_metrics: relevant must be a collection of doc ids or a {doc id: grade} "
            f"mapping, got {type(relevant).__name__}."
        )
    return dict.fromkeys(relevant, 1)


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    """``ks`` as a tuple of distinct positive ints."""
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Iterable):
        raise TypeError(f"ks must be a sequence of ints such as (1, 5, 10), got {ks!r}.")
    ks = tuple(ks)
    if not ks:
        raise ValueError("ks is empty: give at least one cut-off, e.g. ks=(10,).")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"Every k must be an int, got {k!r} ({type(k).__name__}).")
        if k <= 0:
            raise ValueError(f"Every k must be at least 1, got {k}.")
    if len(set(ks)) != len(ks):
        raise ValueError(f"ks repeats a cut-off: {ks}.")
    return tuple(int(k) for k in ks)


def _check_mapping(value: object, name: str, shape: str) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping {shape}, got {type(value).__name__}.")


def _columns(ks: tuple[int, ...]) -> list[str]:
    return [f"{name}@{k}" for k in ks for name in METRICS]
