"""Tests of rerank_lab.search: dense search against sentence-transformers, BM25, RRF, re-ranking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch
from sentence_transformers import util

from rerank_lab.search import (
    BM25Index,
    Hit,
    best_chunk_per_document,
    hits_to_run,
    interpolate,
    reciprocal_rank_fusion,
    rerank,
    semantic_search,
)


def _unit_rows(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    matrix = rng.normal(size=(rows, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _ids(hits: Sequence[Hit]) -> list[int]:
    return [hit["corpus_id"] for hit in hits]


# --- semantic_search --------------------------------------------------------------------------


@pytest.mark.parametrize(("queries", "corpus", "k"), [(5, 50, 10), (3, 200, 1), (2, 7, 7)])
def test_semantic_search_matches_sentence_transformers(queries: int, corpus: int, k: int) -> None:
    """Same ids and scores as sentence_transformers.util.semantic_search on unit vectors."""
    rng = np.random.default_rng(queries * 1000 + corpus)
    query_embeddings, corpus_embeddings = _unit_rows(rng, queries, 16), _unit_rows(rng, corpus, 16)
    ours = semantic_search(query_embeddings, corpus_embeddings, k=k)
    theirs = util.semantic_search(
        torch.from_numpy(query_embeddings), torch.from_numpy(corpus_embeddings), top_k=k
    )
    assert len(ours) == queries
    for our_hits, their_hits in zip(ours, theirs, strict=True):
        assert _ids(our_hits) == _ids(their_hits)
        assert [h["score"] for h in our_hits] == pytest.approx(
            [h["score"] for h in their_hits], abs=1e-5
        )
        assert all(type(h["corpus_id"]) is int and type(h["score"]) is float for h in our_hits)


def test_semantic_search_normalises_both_sides() -> None:
    """Scores are cosines even for unnormalised embeddings; a 1-D query counts as one query."""
    corpus = np.array([[3.0, 0.0], [0.0, 0.5], [1.0, 1.0]], dtype=np.float32)
    hits = semantic_search(np.array([10.0, 0.0]), corpus, k=3)
    assert len(hits) == 1
    assert _ids(hits[0]) == [0, 2, 1]
    assert [h["score"] for h in hits[0]] == pytest.approx([1.0, 2**-0.5, 0.0], abs=1e-6)


def test_semantic_search_accepts_torch_tensors() -> None:
    """Tensors (any float dtype, e.g. fp16 from a GPU) give the same hits as numpy arrays."""
    rng = np.random.default_rng(1)
    query_embeddings, corpus_embeddings = _unit_rows(rng, 2, 8), _unit_rows(rng, 20, 8)
    from_numpy = semantic_search(query_embeddings, corpus_embeddings, k=5)
    from_torch = semantic_search(
        torch.from_numpy(query_embeddings).double(), torch.from_numpy(corpus_embeddings), k=5
    )
    assert [_ids(h) for h in from_torch] == [_ids(h) for h in from_numpy]


def test_semantic_search_ties_keep_the_lower_id_first() -> None:
    """Equal scores are ordered by corpus id, inside the top-k and at its cut alike."""
    a, b = [1.0, 0.0], [0.0, 1.0]
    corpus = np.array([b, a, b, a, b, a, a], dtype=np.float32)
    for _ in range(3):  # deterministic, not a lucky draw
        assert _ids(semantic_search(np.array(a), corpus, k=7)[0]) == [1, 3, 5, 6, 0, 2, 4]
        assert _ids(semantic_search(np.array(a), corpus, k=2)[0]) == [1, 3]
        assert _ids(semantic_search(np.array(a), corpus, k=5)[0]) == [1, 3, 5, 6, 0]


def test_semantic_search_ties_at_the_cut_on_many_random_cases() -> None:
    """With heavily tied scores the top-k is exactly the first k of a stable sort."""
    rng = np.random.default_rng(7)
    # Unit vectors whose cosines with the query are exact (1, 0.5, 0), so ties are exact ties.
    directions = np.array([[1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], [0, 1, 0, 0]], dtype=np.float32)
    query = directions[0]
    for _ in range(50):
        n = int(rng.integers(2, 60))
        k = int(rng.integers(1, n + 1))
        kinds = rng.integers(0, 3, n)
        corpus = directions[kinds]
        expected = sorted(range(n), key=lambda i: (kinds[i], i))[:k]
        assert _ids(semantic_search(query, corpus, k=k)[0]) == expected


@pytest.mark.parametrize(
    ("k", "error", "message"),
    [
        (0, ValueError, "k must be at least 1, got 0"),
        (-3, ValueError, "k must be at least 1, got -3"),
        (11, ValueError, r"k=11 is larger than the corpus \(10 documents\); ask for at most 10"),
        (2.0, TypeError, "k must be an int, got float"),
        (True, TypeError, "k must be an int, got bool"),
        ("5", TypeError, "k must be an int, got str"),
    ],
)
def test_semantic_search_rejects_bad_k(k: Any, error: type[Exception], message: str) -> None:
    """k is a positive int no larger than the corpus, and the error says which bound broke."""
    rng = np.random.default_rng(0)
    with pytest.raises(error, match=message):
        semantic_search(_unit_rows(rng, 1, 4), _unit_rows(rng, 10, 4), k=k)


def test_semantic_search_accepts_numpy_int_k() -> None:
    """k computed with numpy (e.g. np.int64) is fine."""
    rng = np.random.default_rng(0)
    assert (
        len(semantic_search(_unit_rows(rng, 1, 4), _unit_rows(rng, 10, 4), k=np.int64(3))[0]) == 3
    )


def test_semantic_search_rejects_mismatched_dimensions() -> None:
    """Embeddings of different widths come from different models, and the error says so."""
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"differ in dimension \(8 vs 4\): were they made by the"):
        semantic_search(_unit_rows(rng, 2, 8), _unit_rows(rng, 10, 4), k=3)


def test_semantic_search_rejects_an_empty_corpus() -> None:
    """An empty corpus is refused before any arithmetic."""
    with pytest.raises(ValueError, match=r"corpus_embeddings must be a non-empty 2-D array"):
        semantic_search(np.ones((1, 4)), np.zeros((0, 4)), k=1)


def test_semantic_search_rejects_3d_arrays() -> None:
    """A batch of matrices is not a list of embeddings."""
    with pytest.raises(ValueError, match=r"query_embeddings must be a non-empty 2-D array"):
        semantic_search(np.ones((2, 3, 4)), np.ones((5, 4)), k=1)


@pytest.mark.parametrize("bad", [[[0.1, 0.2]], "embeddings", None])
def test_semantic_search_rejects_wrong_types(bad: object) -> None:
    """Lists and other objects are refused with the types that work."""
    with pytest.raises(TypeError, match="query_embeddings must be a numpy array or torch tensor"):
        semantic_search(bad, np.ones((5, 2)), k=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_semantic_search_rejects_nan_embeddings(bad_value: float) -> None:
    """NaN or infinite embeddings (e.g. an fp16 overflow) are refused with what to do."""
    corpus = np.ones((5, 4), dtype=np.float32)
    corpus[3, 1] = bad_value
    with pytest.raises(ValueError, match=r"corpus_embeddings contain NaN or infinite.*re-encode"):
        semantic_search(np.ones(4), corpus, k=2)


# --- BM25Index --------------------------------------------------------------------------------

DOCS = [
    "I ride my bike to work every day.",
    "The cat sleeps on the sofa all afternoon.",
    "Cheap flights to Rome leave every morning.",
    "Dogs bark at night when they hear foxes.",
    "The weather in Rome is warm in spring.",
]


@pytest.fixture(scope="module")
def bm25() -> BM25Index:
    """A BM25 index over five short documents."""
    return BM25Index(DOCS)


def test_bm25_ranks_the_exact_keyword_match_first(bm25: BM25Index) -> None:
    """The document sharing the query's rare words wins."""
    hits = bm25.search("cheap flights Rome", k=3)[0]
    assert _ids(hits) == [2, 4]  # 4 shares only "Rome"
    assert hits[0]["score"] > hits[1]["score"] > 0


def test_bm25_returns_only_matching_documents(bm25: BM25Index) -> None:
    """Documents sharing no query term score 0 and are left out, so a list may be shorter than k."""
    assert _ids(bm25.search("cheap flights", k=5)[0]) == [2]


def test_bm25_stems_words(bm25: BM25Index) -> None:
    """'bikes' finds 'bike', 'barking dog' finds 'Dogs bark': both sides are stemmed."""
    assert bm25.search("bikes", k=1)[0][0]["corpus_id"] == 0
    assert bm25.search("barking dog", k=1)[0][0]["corpus_id"] == 3
    assert bm25.search("bikes", k=1)[0][0]["score"] > 0


def test_bm25_takes_one_or_many_queries(bm25: BM25Index) -> None:
    """A string is one query; a list gives one ranking per query, each of length k."""
    hits = bm25.search(["Rome weather", "sleeping cats"], k=2)
    assert [_ids(h)[0] for h in hits] == [4, 1]
    assert all(1 <= len(h) <= 2 for h in hits)
    assert len(bm25.search("Rome", k=5)) == 1
    assert set(_ids(bm25.search("Rome", k=5)[0])[:2]) == {2, 4}


def test_bm25_ignores_stop_words(bm25: BM25Index) -> None:
    """A query of stop words (or of unknown words) matches nothing."""
    assert bm25.search(["the to in on", "zyzzyva"], k=5) == [[], []]


@pytest.mark.parametrize("corpus", [[], "a single string is not a corpus"])
def test_bm25_needs_a_list_of_documents(corpus: Any) -> None:
    """An empty corpus or a lone string is refused."""
    with pytest.raises(ValueError, match="BM25Index needs a non-empty list of documents"):
        BM25Index(corpus)


def test_bm25_rejects_non_string_documents() -> None:
    """A non-text document is named by position, with how to pass the text column."""
    with pytest.raises(TypeError, match=r"Document 1 is a float, not a str.*df\['text'\]"):
        BM25Index(["fine", float("nan"), "also fine"])


@pytest.mark.parametrize(
    ("k", "message"),
    [(0, "k must be at least 1"), (6, r"k=6 is larger than the corpus \(5 documents\)")],
)
def test_bm25_rejects_bad_k(bm25: BM25Index, k: int, message: str) -> None:
    """The same k checks as dense search."""
    with pytest.raises(ValueError, match=message):
        bm25.search("bike", k=k)


def test_bm25_rejects_empty_or_non_string_queries(bm25: BM25Index) -> None:
    """No queries, or a query that is not text, fail with what to pass instead."""
    with pytest.raises(ValueError, match="search\\(\\) got no queries"):
        bm25.search([], k=1)
    with pytest.raises(TypeError, match="Query 1 is a int, not a str"):
        bm25.search(["bike", 42], k=1)  # type: ignore[list-item]


# --- reciprocal_rank_fusion -------------------------------------------------------------------


def _ranking(*ids: int) -> list[Hit]:
    return [{"corpus_id": i, "score": 1.0 / (rank + 1)} for rank, i in enumerate(ids)]


def test_rrf_hand_computed() -> None:
    """dense [3, 1, 2] and BM25 [1, 4] with k=60, each document scoring sum 1/(60 + rank).

    1: 1/62 + 1/61 = 0.0325224...   3: 1/61 = 0.0163934...
    4: 1/62 = 0.0161290...           2: 1/63 = 0.0158730...
    """
    fused = reciprocal_rank_fusion([_ranking(3, 1, 2), _ranking(1, 4)], k=60)
    assert _ids(fused) == [1, 3, 4, 2]
    assert [h["score"] for h in fused] == pytest.approx([1 / 62 + 1 / 61, 1 / 61, 1 / 62, 1 / 63])


def test_rrf_default_k_is_60() -> None:
    """The constant of the original paper is the default."""
    assert reciprocal_rank_fusion([_ranking(5)])[0]["score"] == pytest.approx(1 / 61)


def test_rrf_ties_keep_the_lower_id_first() -> None:
    """Mirror-image rankings tie every document; ids break the tie."""
    fused = reciprocal_rank_fusion([_ranking(9, 2), _ranking(2, 9)], k=60)
    assert _ids(fused) == [2, 9]
    assert fused[0]["score"] == fused[1]["score"]


def test_rrf_ignores_the_input_scores() -> None:
    """Only ranks matter: BM25's unbounded scores need no calibration."""
    loud = [{"corpus_id": 0, "score": 1e9}, {"corpus_id": 1, "score": 5e8}]
    quiet = [{"corpus_id": 1, "score": 0.9}, {"corpus_id": 0, "score": 0.1}]
    fused = reciprocal_rank_fusion([loud, quiet], k=0)
    assert [h["score"] for h in fused] == pytest.approx([1.5, 1.5])


def test_rrf_needs_rankings() -> None:
    """No rankings, a single ranking passed bare, or a negative k are explained."""
    with pytest.raises(ValueError, match="needs at least one ranking"):
        reciprocal_rank_fusion([])
    with pytest.raises(TypeError, match=r"takes a list of rankings.*\[dense_hits\[0\], bm25_hits"):
        reciprocal_rank_fusion(_ranking(1, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"k must be 0 or more \(60 is usual\), got -1"):
        reciprocal_rank_fusion([_ranking(1, 2)], k=-1)


# --- rerank -----------------------------------------------------------------------------------


class FakeCrossEncoder:
    """Scores a pair by a table of passage scores, and records how predict was called."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.calls: list[tuple[list[tuple[str, str]], dict[str, Any]]] = []

    def predict(self, pairs: list[tuple[str, str]], **kwargs: Any) -> np.ndarray:
        self.calls.append((list(pairs), kwargs))
        raw = np.array([self.scores[text] for _, text in pairs], dtype=np.float32)
        activation = kwargs.get("activation_fn")
        if activation is not None:
            return activation(torch.from_numpy(raw)).numpy()
        return raw


CORPUS = ["alpha", "beta", "gamma", "delta"]


def test_rerank_orders_by_cross_encoder_scores() -> None:
    """The first-stage scores are replaced by the cross-encoder's, and hits re-sorted by them."""
    model = FakeCrossEncoder({"alpha": -1.0, "beta": 3.0, "gamma": 0.5, "delta": 2.0})
    hits = _ranking(0, 1, 2, 3)
    reranked = rerank(model, "greek letters", hits, CORPUS)  # type: ignore[arg-type]
    assert _ids(reranked) == [1, 3, 2, 0]
    assert [h["score"] for h in reranked] == [3.0, 2.0, 0.5, -1.0]
    pairs, kwargs = model.calls[0]
    assert pairs == [("greek letters", text) for text in CORPUS]
    assert "activation_fn" not in kwargs  # None keeps the model's own activation
    assert kwargs["show_progress_bar"] is False


def test_rerank_scores_only_the_hits() -> None:
    """Only the first stage's candidates are scored, by their corpus id."""
    model = FakeCrossEncoder({"gamma": 1.0, "alpha": 2.0})
    reranked = rerank(model, "q", _ranking(2, 0), CORPUS, batch_size=7)  # type: ignore[arg-type]
    assert _ids(reranked) == [0, 2]
    assert model.calls[0][0] == [("q", "gamma"), ("q", "alpha")]
    assert model.calls[0][1]["batch_size"] == 7


def test_rerank_batches_as_the_model_does_by_default() -> None:
    """32 pairs per batch for a torch model; an int8 twin's own (smaller) batch size."""
    model = FakeCrossEncoder({"gamma": 1.0, "alpha": 2.0})
    rerank(model, "q", _ranking(2, 0), CORPUS)  # type: ignore[arg-type]
    model.batch_size = 4  # type: ignore[attr-defined]
    rerank(model, "q", _ranking(2, 0), CORPUS)  # type: ignore[arg-type]
    assert [kwargs["batch_size"] for _, kwargs in model.calls] == [32, 4]


def test_rerank_ties_keep_the_lower_id_first() -> None:
    """Equal cross-encoder scores are ordered by corpus id."""
    model = FakeCrossEncoder(dict.fromkeys(CORPUS, 0.25))
    assert _ids(rerank(model, "q", _ranking(3, 1, 2), CORPUS)) == [1, 2, 3]  # type: ignore[arg-type]


def test_rerank_passes_an_explicit_activation() -> None:
    """activation_fn reaches predict and changes the scale of the scores, never the order."""
    model = FakeCrossEncoder({"alpha": -1.0, "beta": 3.0, "gamma": 0.5, "delta": 2.0})
    sigmoid = torch.nn.Sigmoid()
    logits = rerank(model, "q", _ranking(0, 1, 2, 3), CORPUS)  # type: ignore[arg-type]
    probabilities = rerank(
        model,  # type: ignore[arg-type]
        "q",
        _ranking(0, 1, 2, 3),
        CORPUS,
        activation_fn=sigmoid,
    )
    assert model.calls[1][1]["activation_fn"] is sigmoid
    assert _ids(probabilities) == _ids(logits)
    assert [h["score"] for h in probabilities] == pytest.approx(
        [1 / (1 + np.exp(-h["score"])) for h in logits]
    )


@pytest.mark.parametrize(("top_k", "expected"), [(1, [1]), (3, [1, 3, 2]), (10, [1, 3, 2, 0])])
def test_rerank_top_k_keeps_the_best(top_k: int, expected: list[int]) -> None:
    """top_k cuts the re-ranked list (a top_k beyond the hits keeps them all)."""
    model = FakeCrossEncoder({"alpha": -1.0, "beta": 3.0, "gamma": 0.5, "delta": 2.0})
    reranked = rerank(model, "q", _ranking(0, 1, 2, 3), CORPUS, top_k=top_k)  # type: ignore[arg-type]
    assert _ids(reranked) == expected


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True])
def test_rerank_rejects_bad_top_k(top_k: Any) -> None:
    """top_k must be a positive int: -1 would silently drop the last hit."""
    model = FakeCrossEncoder(dict.fromkeys(CORPUS, 0.0))
    with pytest.raises(ValueError, match="top_k must be a positive int or None"):
        rerank(model, "q", _ranking(0, 1), CORPUS, top_k=top_k)  # type: ignore[arg-type]


def test_rerank_of_no_hits_is_empty_and_calls_nothing() -> None:
    """A query whose first stage found nothing re-ranks to nothing, without a model call."""
    model = FakeCrossEncoder({})
    assert rerank(model, "q", [], CORPUS) == []  # type: ignore[arg-type]
    assert model.calls == []


def test_rerank_rejects_bad_inputs() -> None:
    """Hits outside the corpus, a non-str query and a str corpus each get a clear error."""
    model = FakeCrossEncoder(dict.fromkeys(CORPUS, 0.0))
    with pytest.raises(ValueError, match=r"Hits point outside the corpus of 4 texts: \[4, -1\]"):
        rerank(model, "q", _ranking(0, 4, -1), CORPUS)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query must be a str, got list"):
        rerank(model, ["q"], _ranking(0), CORPUS)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="corpus must be the list of texts the hits point into"):
        rerank(model, "q", _ranking(0), "alpha beta")  # type: ignore[arg-type]
    assert model.calls == []


class OutOfMemoryAbove(FakeCrossEncoder):
    """A cross-encoder on a GPU with little memory: a batch above ``limit`` pairs fails."""

    def __init__(self, scores: dict[str, float], limit: int) -> None:
        super().__init__(scores)
        self.limit = limit

    def predict(self, pairs: list[tuple[str, str]], **kwargs: Any) -> np.ndarray:
        if kwargs["batch_size"] > self.limit:
            self.calls.append((list(pairs), kwargs))
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().predict(pairs, **kwargs)


def test_rerank_backs_off_on_out_of_memory(capsys: pytest.CaptureFixture[str]) -> None:
    """A batch that does not fit is retried at half the size, and the learner is told."""
    model = OutOfMemoryAbove({"alpha": -1.0, "beta": 3.0, "gamma": 0.5, "delta": 2.0}, limit=5)
    reranked = rerank(model, "q", _ranking(0, 1, 2, 3), CORPUS, batch_size=32)  # type: ignore[arg-type]
    assert _ids(reranked) == [1, 3, 2, 0]
    assert [kwargs["batch_size"] for _, kwargs in model.calls] == [32, 16, 8, 4]
    out = capsys.readouterr().out
    assert "Out of GPU memory re-ranking at batch size 32; retrying with 16." in out


def test_rerank_does_not_retry_other_errors() -> None:
    """A real error in predict reaches the caller at once, without a back-off."""

    class Broken(FakeCrossEncoder):
        def predict(self, pairs: list[tuple[str, str]], **kwargs: Any) -> np.ndarray:
            self.calls.append((list(pairs), kwargs))
            raise RuntimeError("shape mismatch")

    model = Broken({})
    with pytest.raises(RuntimeError, match="shape mismatch"):
        rerank(model, "q", _ranking(0, 1), CORPUS)  # type: ignore[arg-type]
    assert len(model.calls) == 1


def test_rerank_with_a_real_tiny_cross_encoder(tiny_cross_encoder: Any) -> None:
    """With a real CrossEncoder: logits by default, probabilities with Sigmoid, same order."""
    corpus = [
        "Bikes need oiled chains.",
        "Rome is warm in spring.",
        "Cats sleep a lot.",
        "Tea is brewed below boiling.",
        "Dogs bark at foxes.",
    ]
    hits = _ranking(0, 1, 2, 3, 4)
    identity = rerank(
        tiny_cross_encoder, "bike care", hits, corpus, activation_fn=torch.nn.Identity()
    )
    sigmoid = rerank(
        tiny_cross_encoder, "bike care", hits, corpus, activation_fn=torch.nn.Sigmoid()
    )
    assert sorted(_ids(identity)) == [0, 1, 2, 3, 4]
    assert _ids(sigmoid) == _ids(identity)
    assert all(0.0 < h["score"] < 1.0 for h in sigmoid)
    assert [h["score"] for h in sigmoid] == pytest.approx(
        [1 / (1 + np.exp(-h["score"])) for h in identity], abs=1e-5
    )
    scores = [h["score"] for h in identity]
    assert scores == sorted(scores, reverse=True)
    assert len(rerank(tiny_cross_encoder, "bike care", hits, corpus, top_k=2)) == 2


# --- hits_to_run ------------------------------------------------------------------------------


def test_hits_to_run_maps_positions_to_ids() -> None:
    """Corpus positions become document ids, per query id, in rank order."""
    run = hits_to_run(["q1", "q2"], [_ranking(2, 0), _ranking(1)], ["p0", "p1", "p2"])
    assert run == {"q1": ["p2", "p0"], "q2": ["p1"]}


def test_hits_to_run_needs_one_result_list_per_query() -> None:
    """Mismatched lengths are an error that says how to pair them."""
    with pytest.raises(ValueError, match="2 query ids but 1 result lists: pass one list of hits"):
        hits_to_run(["q1", "q2"], [_ranking(0)], ["p0"])


def test_hits_to_run_counts_a_document_once_at_its_best_chunk() -> None:
    doc_ids = ["d1", "d1", "d2", "d3"]  # chunks 0 and 1 belong to d1
    hits = [[{"corpus_id": 1, "score": 0.9}, {"corpus_id": 2, "score": 0.8}, _hit(0, 0.7)]]
    assert hits_to_run(["q"], hits, doc_ids) == {"q": ["d1", "d2"]}


def test_best_chunk_per_document_keeps_rank_order() -> None:
    doc_ids = ["d1", "d1", "d2", "d3"]
    hits = [_hit(1, 0.9), _hit(0, 0.8), _hit(3, 0.7), _hit(2, 0.6)]
    kept = best_chunk_per_document(hits, doc_ids)
    assert [h["corpus_id"] for h in kept] == [1, 3, 2]


def _hit(corpus_id: int, score: float) -> dict:
    return {"corpus_id": corpus_id, "score": score}


def test_interpolate_hand_computed() -> None:
    first: list[Hit] = [
        {"corpus_id": 4, "score": 0.9},
        {"corpus_id": 7, "score": 0.7},
        {"corpus_id": 2, "score": 0.5},
    ]
    reranked: list[Hit] = [
        {"corpus_id": 2, "score": 3.0},
        {"corpus_id": 7, "score": 1.0},
        {"corpus_id": 4, "score": -1.0},
    ]
    # scaled first: 4 -> 1, 7 -> 0.5, 2 -> 0; scaled re-ranker: 2 -> 1, 7 -> 0.5, 4 -> 0
    blended = interpolate(first, reranked, 0.25)
    assert _ids(blended) == [4, 7, 2]
    assert [hit["score"] for hit in blended] == pytest.approx([0.75, 0.5, 0.25])


def test_interpolate_ends_are_the_two_orders() -> None:
    first: list[Hit] = [{"corpus_id": i, "score": 1.0 - i / 10} for i in range(5)]
    reranked: list[Hit] = [{"corpus_id": i, "score": float(i * i)} for i in (4, 3, 2, 1, 0)]
    assert _ids(interpolate(first, reranked, 0.0)) == [0, 1, 2, 3, 4]
    assert _ids(interpolate(first, reranked, 1.0)) == [4, 3, 2, 1, 0]


def test_interpolate_constant_scores_do_not_divide_by_zero() -> None:
    first: list[Hit] = [{"corpus_id": 1, "score": 0.5}, {"corpus_id": 0, "score": 0.5}]
    reranked: list[Hit] = [{"corpus_id": 0, "score": 2.0}, {"corpus_id": 1, "score": 1.0}]
    assert _ids(interpolate(first, reranked, 0.5)) == [0, 1]


@pytest.mark.parametrize("weight", [-0.1, 1.5, True, "0.5", float("nan")])
def test_interpolate_rejects_bad_weights(weight: Any) -> None:
    hits: list[Hit] = [{"corpus_id": 0, "score": 1.0}]
    with pytest.raises(ValueError, match="weight"):
        interpolate(hits, hits, weight)


def test_interpolate_needs_the_same_documents() -> None:
    first: list[Hit] = [{"corpus_id": 0, "score": 1.0}, {"corpus_id": 1, "score": 0.5}]
    reranked: list[Hit] = [{"corpus_id": 0, "score": 1.0}, {"corpus_id": 2, "score": 0.5}]
    with pytest.raises(ValueError, match="same documents"):
        interpolate(first, reranked, 0.5)
