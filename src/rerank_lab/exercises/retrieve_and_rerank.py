"""Checkers of notebook 03 (retrieve and re-rank): recall of the first stage, documents from
chunks, rank movements, the retrieve-then-re-rank function, and how deep to re-rank."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rerank_lab.exercises.core import (
    ExerciseError,
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


def _doc_ids(result: Any, what: str) -> list[str]:
    """Document ids a learner returned (a list, tuple or array of strings); else a hint."""
    if isinstance(result, str):
        raise ExerciseError(f"{what} should be a list of document ids, not one string.")
    if isinstance(result, np.ndarray) and result.dtype.kind in "UO":
        result = result.tolist()
    if isinstance(result, Mapping):
        raise ExerciseError(f"{what} should be a list of document ids, not {_describe(result)}.")
    if isinstance(result, (list, tuple)):
        if all(isinstance(item, str) for item in result):
            return list(result)
        if all(isinstance(item, (list, tuple)) and len(item) == 2 for item in result):
            raise ExerciseError(
                f"{what} holds pairs (a document and a score?); return the document ids only."
            )
        if all(isinstance(item, Mapping) for item in result):
            raise ExerciseError(
                f"{what} holds dictionaries (search hits?); return the document ids only."
            )
    raise ExerciseError(
        f"{what} should be a list of document ids (strings), not {_describe(result)}."
    )


def _fresh_ids(rng: np.random.Generator, n: int, prefix: str = "doc") -> list[str]:
    return [f"{prefix}{number}" for number in rng.choice(100_000, size=n, replace=False)]


# --- 03.1 recall@k of the first stage ---------------------------------------------------------


def _recall(
    ranked: Sequence[str],
    grades: Mapping[str, int],
    k: int,
    *,
    cut: bool = True,
    denominator: str = "relevant",
    zero_counts: bool = False,
) -> float:
    """recall@k of one ranking; the keywords switch on the usual mistakes."""
    relevant = {doc for doc, grade in grades.items() if grade > 0 or zero_counts}
    top = ranked[:k] if cut else ranked
    hits = sum(doc in relevant for doc in top)
    if denominator == "k":
        return hits / k
    if denominator == "capped":
        return hits / min(k, len(relevant))
    if denominator == "any":
        return float(hits > 0)
    return hits / len(relevant)


def _recall_cases(rng: np.random.Generator) -> list[tuple[dict, dict, int]]:
    """Runs of several queries with graded judgements, judged-irrelevant (grade 0) documents,
    more relevant documents than k, relevant documents never retrieved, and short rankings."""
    cases = []
    for k in (5, 10, 3):
        ids = _fresh_ids(rng, 80)
        run, qrels = {}, {}
        for number in range(int(rng.integers(4, 7))):
            query = f"q{number}"
            length = int(rng.integers(k + 3, 30)) if number else k - 1  # one short ranking
            ranked = [str(doc) for doc in rng.choice(ids[:40], size=length, replace=False)]
            n_relevant = int(rng.integers(1, 9))
            pool = ranked[: k + 4] + ids[40:]
            relevant = rng.choice(pool, size=n_relevant, replace=False)
            grades = {str(doc): int(rng.integers(1, 4)) for doc in relevant}
            for doc in rng.choice(ranked[:k], size=min(2, len(ranked[:k])), replace=False):
                grades.setdefault(str(doc), 0)  # judged, and judged not relevant
            if not any(doc in grades and grades[doc] > 0 for doc in ranked[:k]):
                grades[ranked[0]] = 1  # at least one hit, so precision and recall differ
            if number == 1:  # more relevant documents than k, all of them retrieved
                grades.update({doc: 1 for doc in ranked[: k + 2]})
            run[query], qrels[query] = ranked, grades
        cases.append((run, qrels, k))
    return cases


@exercise(
    "03.1",
    title="Recall of the first stage",
    question=(
        "Write `mean_recall_at_k(run, qrels, k)`: run maps each query id to its ranked list of "
        "document ids (best first), qrels maps each query id to {document id: grade}, where a "
        "grade above 0 means relevant and 0 means judged not relevant. Return one number: the "
        "mean over the queries of recall@k (the share of the query's relevant documents found in "
        "its top k). It bounds what any re-ranker of the top k can achieve."
    ),
)
def _check_mean_recall(answer: Any) -> str:
    mean_recall_at_k = _require_function(answer, "mean_recall_at_k")
    checked = []
    for run, qrels, k in _recall_cases(np.random.default_rng()):
        result = _call(mean_recall_at_k, run, qrels, k)
        if isinstance(result, (Mapping, list, tuple)) or (
            hasattr(result, "__len__") and not isinstance(result, str) and len(result) > 1
        ):
            raise ExerciseError(
                f"return one number, the mean over the queries, not {_describe(result)}."
            )
        checked.append(((run, qrels, k), _as_float(result, "mean_recall_at_k(run, qrels, k)")))

    def agrees(**options: Any) -> bool:
        return all(
            _close(got, float(np.mean([_recall(run[q], qrels[q], k, **options) for q in run])))
            for (run, qrels, k), got in checked
        )

    if agrees():
        return "recall@k: the share of each query's relevant documents in its top k, averaged."

    def micro(run: dict, qrels: dict, k: int) -> float:
        hits = sum(
            sum(qrels[q].get(doc, 0) > 0 for doc in run[q][:k]) for q in run
        )  # all queries pooled
        return hits / sum(sum(g > 0 for g in qrels[q].values()) for q in run)

    mistakes: list[tuple[dict[str, Any], str]] = [
        (
            {"denominator": "k"},
            "you divide by k: that is precision@k. Recall divides by the number of the query's "
            "relevant documents, found or not.",
        ),
        (
            {"denominator": "capped"},
            "you divide by min(k, relevant documents): a query with more relevant documents "
            "than k could then reach 1. Recall divides by all of the query's relevant documents.",
        ),
        (
            {"zero_counts": True},
            "you count documents judged with grade 0 as relevant. A judgement of 0 means "
            "'looked at, not relevant': only grades above 0 count.",
        ),
        (
            {"cut": False},
            "you count relevant documents anywhere in the ranking; @k means only the top k.",
        ),
        (
            {"denominator": "any"},
            "you score 1 when any relevant document is in the top k: that is accuracy@k (hit "
            "rate). Recall is the share of the relevant documents found.",
        ),
    ]
    _raise_first_mistake(agrees, mistakes)
    if all(_close(got, micro(*case)) for case, got in checked):
        raise ExerciseError(
            "you pool the hits of all queries and divide by all their relevant documents: "
            "queries with many relevant documents then weigh more. Compute recall per query, "
            "then take the mean."
        )
    raise ExerciseError(
        "not the mean recall@k. Work one query by hand: its relevant documents (grade > 0), how "
        "many of them are in its top k, and the share; then average over the queries."
    )


# --- 03.2 documents from chunks ---------------------------------------------------------------


@exercise(
    "03.2",
    title="From chunks to documents",
    question=(
        "The first stage ranks chunks; several chunks can come from one document. Write "
        "`top_documents(chunk_docs, n)`: chunk_docs lists the document id of each retrieved "
        "chunk, best chunk first (an id can repeat). Return the first n distinct documents, each "
        "once, ranked by its best chunk (fewer if there are not n distinct ones). This is the "
        "list a re-ranker of the 'top n' should see."
    ),
)
def _check_top_documents(answer: Any) -> str:
    top_documents = _require_function(answer, "top_documents")
    rng = np.random.default_rng()
    for n_docs, n_chunks, n in ((12, 40, 5), (8, 30, 8), (20, 25, 6), (4, 15, 10)):
        docs = _fresh_ids(rng, n_docs, "pmid")
        chunk_docs = [str(doc) for doc in rng.choice(docs, size=n_chunks)]
        if chunk_docs[1] == chunk_docs[0]:
            chunk_docs[1] = next(doc for doc in docs if doc != chunk_docs[0])
        chunk_docs.insert(2, chunk_docs[0])  # a document's second chunk early in the list
        distinct = list(dict.fromkeys(chunk_docs))
        expected = distinct[:n]
        got = _doc_ids(_call(top_documents, chunk_docs, n), "top_documents(chunk_docs, n)")
        if got == expected:
            continue
        if got == list(dict.fromkeys(chunk_docs[:n])):
            raise ExerciseError(
                "you keep the first n *chunks* and then drop repeats, so the re-ranker would see "
                "fewer than n documents. Take documents until you have n distinct ones."
            )
        if got == chunk_docs[:n]:
            raise ExerciseError(
                "your list repeats documents: a document with two chunks in the top would take "
                "two of the re-ranker's n places. Keep each document once."
            )
        if len(got) != len(set(got)):
            raise ExerciseError("your list repeats documents: keep each document once.")
        last_first = list(dict.fromkeys(reversed(chunk_docs)))[::-1][:n]
        if got == last_first:
            raise ExerciseError(
                "you place each document at its *last* (worst) chunk: a document should count "
                "at its best chunk, the first one in the list."
            )
        if sorted(got) == sorted(expected) or got == sorted(distinct)[:n]:
            raise ExerciseError(
                "documents in the wrong order (a set, or sorting by id, forgets the "
                "ranking): each document's place is that of its best, i.e. first, chunk."
            )
        if len(got) != len(expected):
            raise ExerciseError(
                f"with {len(distinct)} distinct documents and n={n}, return {len(expected)} "
                f"documents, not {len(got)}."
            )
        raise ExerciseError(
            "these are not the first n distinct documents in the order of their best chunk."
        )
    return "each document once, at its best chunk: the re-ranker sees n documents, not n chunks."


# --- 03.3 rank movements ----------------------------------------------------------------------


@exercise(
    "03.3",
    title="How far did each document move?",
    question=(
        "Write `rank_movements(before, after)`: before is the first stage's ranking and after "
        "the re-ranked one, two lists holding the same document ids, best first. Return a dict "
        "mapping each document id to how many places it moved *up* (positive: the re-ranker "
        "promoted it; negative: demoted; 0: stayed)."
    ),
)
def _check_rank_movements(answer: Any) -> str:
    rank_movements = _require_function(answer, "rank_movements")
    rng = np.random.default_rng()
    for n in (8, 25, 5):
        before = _fresh_ids(rng, n)
        after = [before[i] for i in rng.permutation(n)]
        if after == before:
            after[0], after[1] = after[1], after[0]
        expected = {doc: before.index(doc) - after.index(doc) for doc in before}
        result = _call(rank_movements, before, after)
        if hasattr(result, "to_dict") and not isinstance(result, Mapping):
            result = result.to_dict()  # a pandas Series is fine
        if not isinstance(result, Mapping):
            raise ExerciseError(
                "return a dict {document id: places moved up}, not "
                f"{_describe(result)}: a list loses which document moved."
            )
        if set(result) != set(before):
            raise ExerciseError(
                f"your dict should have one entry per document ({n}), keyed by document id; it "
                f"has {len(result)} entries{'' if len(result) == n else ''}."
            )
        try:
            got = {doc: float(value) for doc, value in result.items()}
        except (TypeError, ValueError):
            raise ExerciseError("each value should be a number of places.") from None
        if all(got[doc] == expected[doc] for doc in before):
            continue
        if all(got[doc] == -expected[doc] for doc in before):
            raise ExerciseError(
                "your signs are reversed: a document the re-ranker moved from rank 7 to rank 2 "
                "went *up*, which the exercise counts as positive."
            )
        for offset in (0, 1):
            if all(got[doc] == after.index(doc) + offset for doc in before):
                raise ExerciseError(
                    "these are the new ranks, not the movements: compare each document's rank "
                    "after re-ranking with its rank before."
                )
        raise ExerciseError(
            "not the movements yet: for each document, its rank before minus its rank after."
        )
    return "rank before minus rank after: positive means the re-ranker promoted the document."


# --- 03.4 retrieve, then re-rank --------------------------------------------------------------


@exercise(
    "03.4",
    title="Retrieve, then re-rank",
    question=(
        "Write `retrieve_then_rerank(query, retrieve, score, depth, k)`. retrieve(query, n) "
        "returns the first stage's n best document ids, best first; score(query, docs) returns "
        "a cross-encoder score for each document of the list docs (higher is better). Re-rank "
        "the first stage's top `depth` documents by score and return the k best document ids, "
        "best first (depth >= k)."
    ),
)
def _check_retrieve_then_rerank(answer: Any) -> str:
    retrieve_then_rerank = _require_function(answer, "retrieve_then_rerank")
    rng = np.random.default_rng()
    for depth, k in ((20, 5), (10, 10), (40, 3), (15, 6)):
        corpus = _fresh_ids(rng, 150)  # in the first stage's order
        hidden = {
            doc: float(score) for doc, score in zip(corpus, rng.normal(size=150), strict=True)
        }
        if hidden[corpus[0]] > hidden[corpus[1]]:
            # The first stage's top k must be out of the cross-encoder's order, or "no re-ranking"
            # and "re-ranking only the top k" would give the same answer and the same hint.
            hidden[corpus[0]], hidden[corpus[1]] = hidden[corpus[1]], hidden[corpus[0]]
        asked: list[int] = []
        scored: list[str] = []

        def retrieve(query: str, n: int, corpus: list[str] = corpus, asked: list = asked):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
                raise TypeError(f"retrieve(query, n) needs an int n, got {n!r}")
            asked.append(int(n))
            return list(corpus[: int(n)])

        def score(
            query: str, docs: Sequence[str], hidden: dict = hidden, scored: list = scored
        ) -> list[float]:
            if isinstance(docs, str):
                raise TypeError("score(query, docs) takes a list of document ids, not one id")
            scored.extend(docs)
            return [hidden[doc] for doc in docs]

        result = _call(
            retrieve_then_rerank,
            "what is rlhf?",
            retrieve,
            score,
            depth,
            k,
            crash_hints={KeyError: "score(query, docs) takes document ids from retrieve"},
        )
        got = _doc_ids(result, "retrieve_then_rerank(...)")
        candidates = corpus[:depth]
        order = sorted(candidates, key=lambda doc: -hidden[doc])
        expected = order[:k]
        if got == expected and max(asked, default=0) <= depth and len(scored) <= depth:
            continue
        if got == expected or (asked and max(asked) > depth) or len(scored) > depth:
            raise ExerciseError(
                f"with depth={depth} you scored {len(scored)} pairs (retrieving up to "
                f"{max(asked, default=0)}): the cross-encoder's cost grows with every pair, so "
                "re-rank only the top `depth` candidates, each once."
            )
        if got == corpus[:k]:
            raise ExerciseError(
                "this is the first stage's order: the scores are never used to re-order."
            )
        if got in (order[::-1][:k], expected[::-1]):
            raise ExerciseError(
                "your order is ascending: the highest cross-encoder score should come first."
            )
        if k < depth and got == sorted(corpus[:k], key=lambda doc: -hidden[doc]):
            raise ExerciseError(
                "you re-rank only the first stage's top k: then the re-ranker can never promote "
                "a document from below rank k. Retrieve `depth` candidates, keep the best k."
            )
        if len(got) == depth and k < depth:
            raise ExerciseError(f"you return all {depth} re-ranked candidates; return the k={k}.")
        if len(got) != k:
            raise ExerciseError(f"return exactly k={k} document ids, not {len(got)}.")
        if sorted(got) == sorted(expected):
            raise ExerciseError("the right documents, but not best first: sort them by score.")
        raise ExerciseError(
            "these are not the k best-scoring documents among the first stage's top `depth` "
            "(remember: score returns one score per document, in the order you gave them)."
        )
    return "retrieve `depth` candidates cheaply, score each pair once, keep the k best."


# --- 03.5 how deep to re-rank -----------------------------------------------------------------

_DEPTH_STATEMENTS = {
    "a": "Re-ranking the first stage's top 25 documents cannot change recall@25.",
    "b": "A re-ranker can bring a document into the top 10 only if the first stage retrieved it "
    "within the re-rank depth.",
    "c": "Re-ranking the top 50 instead of the top 25 costs about twice the cross-encoder time "
    "per query.",
    "d": "Re-ranking deeper always gives a higher nDCG@10.",
    "e": "Re-ranking makes the first stage's search faster.",
    "f": "When the first stage already puts the only relevant document first, a re-ranker can "
    "keep that query's nDCG@10 or lower it, never raise it.",
}


@exercise(
    "03.5",
    title="How deep to re-rank?",
    question=_statements_question("Which of these statements are true?", _DEPTH_STATEMENTS),
)
def _check_depth_statements(answer: Any) -> str:
    return _check_true_statements(
        answer,
        _DEPTH_STATEMENTS,
        {"a", "b", "c", "f"},
        nudge="For each, ask what a re-ranker sees (the top `depth` only), what it costs (one "
        "model run per pair), and whether a weaker re-ranker can make things worse.",
        lesson=(
            "a re-ranker only reorders what it is given, at a cost per pair: recall@depth is its "
            "ceiling, deeper costs linearly more, and more candidates also mean more chances "
            "for a weak re-ranker to promote a wrong one, so measure the depth on dev queries."
        ),
    )
