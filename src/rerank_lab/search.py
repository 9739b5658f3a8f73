"""Find and re-order documents: dense search, BM25, rank fusion and cross-encoder re-ranking.

Every function returns hits in one shape, the shape of
``sentence_transformers.util.semantic_search``: for each query a list of
``{"corpus_id": int, "score": float}``, best first. Notebooks can therefore swap a first stage
(dense, BM25, hybrid) or add a re-ranker without touching the code around it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from rerank_lab.checks import check_k, check_texts

if TYPE_CHECKING:
    import torch
    from sentence_transformers import CrossEncoder

__all__ = [
    "BM25Index",
    "Hit",
    "best_chunk_per_document",
    "hits_to_run",
    "interpolate",
    "reciprocal_rank_fusion",
    "rerank",
    "semantic_search",
]


class Hit(TypedDict):
    corpus_id: int
    score: float


def _as_matrix(embeddings: object, name: str) -> np.ndarray:
    if hasattr(embeddings, "detach"):  # a torch tensor
        embeddings = embeddings.detach().float().cpu().numpy()  # type: ignore[attr-defined]
    if not isinstance(embeddings, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array or torch tensor, got {type(embeddings).__name__}."
        )
    if embeddings.ndim == 1:
        embeddings = embeddings[None, :]
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {embeddings.shape}.")
    embeddings = embeddings.astype(np.float32, copy=False)
    if not np.isfinite(embeddings).all():
        raise ValueError(
            f"{name} contain NaN or infinite values: re-encode the texts (in fp32, e.g. with "
            "RERANK_LAB_FP16=0, if they came from a half-precision GPU run)."
        )
    return embeddings


def semantic_search(
    query_embeddings: np.ndarray, corpus_embeddings: np.ndarray, k: int = 10
) -> list[list[Hit]]:
    """Exact top-k by cosine similarity, for each query (a 1-D array counts as one query).

    Embeddings need not be normalised: both sides are normalised here, so scores are cosines
    whatever the encoder did. Ties keep the lower corpus id first, as a stable sort would.
    """
    queries = _as_matrix(query_embeddings, "query_embeddings")
    corpus = _as_matrix(corpus_embeddings, "corpus_embeddings")
    if queries.shape[1] != corpus.shape[1]:
        raise ValueError(
            f"Query and corpus embeddings differ in dimension ({queries.shape[1]} vs "
            f"{corpus.shape[1]}): were they made by the same model?"
        )
    check_k(k, corpus.shape[0])
    queries = queries / np.clip(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12, None)
    corpus = corpus / np.clip(np.linalg.norm(corpus, axis=1, keepdims=True), 1e-12, None)
    scores = queries @ corpus.T
    return [_top_k(row, k) for row in scores]


def _top_k(scores: np.ndarray, k: int) -> list[Hit]:
    if k < len(scores):
        # Every document scoring at least the k-th best: ties at the cut all compete, so the
        # lower ids win them (argpartition alone would keep an arbitrary one of the tied).
        kth_best = np.partition(-scores, k - 1)[k - 1]
        candidates = np.flatnonzero(-scores <= kth_best)
    else:
        candidates = np.arange(len(scores))
    order = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
    return [{"corpus_id": int(i), "score": float(scores[i])} for i in order]


class BM25Index:
    """Lexical search with BM25 (bm25s), English stop words removed and words stemmed.

    BM25 rewards documents that share a query's rare words: strong when queries reuse the
    documents' own terms, blind to paraphrase. That contrast with dense search is a lesson of
    the course, so both live side by side here.
    """

    def __init__(self, corpus: Sequence[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        import bm25s
        import Stemmer
        from bm25s.tokenization import Tokenizer

        if isinstance(corpus, str) or not len(corpus):
            raise ValueError("BM25Index needs a non-empty list of documents.")
        corpus = check_texts(corpus, "Document")
        self._tokenizer = Tokenizer(stemmer=Stemmer.Stemmer("english"), stopwords="en")
        tokens = self._tokenizer.tokenize(corpus, update_vocab=True, show_progress=False)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self._bm25.index(tokens, show_progress=False)
        self.size = len(corpus)

    def search(self, queries: str | Sequence[str], k: int = 10) -> list[list[Hit]]:
        """Top-k documents by BM25 score for each query (a single string counts as one query).

        Only documents sharing at least one query term are returned, so a list can be shorter
        than k: documents scoring 0 are not ranked by BM25 at all, and padding the list with them
        in an arbitrary order would hand out credit by chance.
        """
        if isinstance(queries, str):
            queries = [queries]
        queries = check_texts(queries, "Query")
        if not queries:
            raise ValueError("search() got no queries; pass a query string or a list of them.")
        check_k(k, self.size)
        tokens = self._tokenizer.tokenize(queries, update_vocab=False, show_progress=False)
        ids, scores = self._bm25.retrieve(tokens, k=k, show_progress=False)
        return [
            [
                {"corpus_id": int(i), "score": float(s)}
                for i, s in zip(row_ids, row_scores, strict=True)
                if s > 0
            ]
            for row_ids, row_scores in zip(ids, scores, strict=True)
        ]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hit]], *, k: int = 60) -> list[Hit]:
    """Fuse several rankings of one query: each document scores sum(1 / (k + rank)).

    RRF needs no score calibration, which is why it is the usual way to combine BM25 (unbounded
    scores) with cosine similarities. ``k=60`` is the constant of the original paper.
    """
    if not rankings:
        raise ValueError("reciprocal_rank_fusion needs at least one ranking.")
    if isinstance(rankings[0], dict):
        raise TypeError(
            "reciprocal_rank_fusion takes a list of rankings of one query, e.g. "
            "[dense_hits[0], bm25_hits[0]], not a single ranking."
        )
    if k < 0:
        raise ValueError(f"The RRF constant k must be 0 or more (60 is usual), got {k}.")
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit["corpus_id"]] = fused.get(hit["corpus_id"], 0.0) + 1.0 / (k + rank)
    order = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return [{"corpus_id": doc, "score": score} for doc, score in order]


def rerank(
    cross_encoder: CrossEncoder,
    query: str,
    hits: Sequence[Hit],
    corpus: Sequence[str],
    *,
    top_k: int | None = None,
    activation_fn: torch.nn.Module | None = None,
    batch_size: int | None = None,
) -> list[Hit]:
    """Score each (query, hit text) pair with a cross-encoder and sort by that score.

    ``activation_fn`` is explicit because it changes what the scores mean: ``None`` keeps the
    model's own (MS MARCO cross-encoders output logits); ``torch.nn.Sigmoid()`` gives
    probabilities. The order is the same either way. ``top_k`` keeps only the best ones.
    ``batch_size=None`` is the model's own: 32 for torch, 1 for the int8 twins (whose
    sessions share the pairs; measured fastest for 25 pairs on CPU). On a GPU that runs out
    of memory the batch size is halved and the scoring retried.
    """
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}.")
    if isinstance(corpus, str):
        raise TypeError("corpus must be the list of texts the hits point into, not a single str.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None (keep all), got {top_k!r}.")
    if not hits:
        return []
    bad = [h["corpus_id"] for h in hits if not 0 <= h["corpus_id"] < len(corpus)]
    if bad:
        raise ValueError(f"Hits point outside the corpus of {len(corpus)} texts: {bad[:5]}.")
    from rerank_lab.device import with_oom_backoff
    from rerank_lab.encode import default_batch_size

    pairs = [(query, corpus[h["corpus_id"]]) for h in hits]
    kwargs = {"activation_fn": activation_fn} if activation_fn is not None else {}

    def score(size: int) -> np.ndarray:
        return cross_encoder.predict(
            pairs, batch_size=size, show_progress_bar=False, convert_to_numpy=True, **kwargs
        )

    def report(old: int, new: int) -> None:
        print(f"Out of GPU memory re-ranking at batch size {old}; retrying with {new}.")

    size = default_batch_size(cross_encoder) if batch_size is None else batch_size
    scores = with_oom_backoff(score, size, on_backoff=report)
    order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), hits[i]["corpus_id"]))
    reranked: list[Hit] = [
        {"corpus_id": hits[i]["corpus_id"], "score": float(scores[i])} for i in order
    ]
    return reranked[:top_k] if top_k is not None else reranked


def interpolate(first_stage: Sequence[Hit], reranked: Sequence[Hit], weight: float) -> list[Hit]:
    """Blend a re-ranker's scores with the first stage's, for the same documents of one query.

    A cross-encoder sees each pair alone and can throw away what the first stage knew (a
    domain-tuned bi-encoder's similarity, BM25's exact matches). Interpolation keeps both:
    each list's scores are min-max scaled to [0, 1] within the query (cosines, BM25 scores,
    RRF scores and logits live on different scales) and combined as
    ``weight * reranker + (1 - weight) * first_stage``. ``weight=1`` is the re-ranker's order,
    ``weight=0`` the first stage's. Choose the weight on a dev split, never on the test split.
    Ties keep the lower corpus id first.
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
        raise ValueError(f"weight must be a number from 0 to 1, got {weight!r}.")
    first_ids = {hit["corpus_id"] for hit in first_stage}
    reranked_ids = {hit["corpus_id"] for hit in reranked}
    if first_ids != reranked_ids or len(first_ids) != len(first_stage):
        raise ValueError(
            "interpolate needs the same documents, each once, in both lists: pass the first "
            "stage's hits that were re-ranked (e.g. the top 25) and the re-ranker's output."
        )

    def scaled(hits: Sequence[Hit]) -> dict[int, float]:
        scores = np.array([hit["score"] for hit in hits], dtype=np.float64)
        spread = scores.max() - scores.min() if len(scores) else 0.0
        values = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
        return {hit["corpus_id"]: float(v) for hit, v in zip(hits, values, strict=True)}

    first, second = scaled(first_stage), scaled(reranked)
    blended = {doc: weight * second[doc] + (1 - weight) * first[doc] for doc in first}
    order = sorted(blended.items(), key=lambda item: (-item[1], item[0]))
    return [{"corpus_id": doc, "score": score} for doc, score in order]


def best_chunk_per_document(hits: Sequence[Hit], doc_ids: Sequence[Hashable]) -> list[Hit]:
    """Keep each document's best-ranked chunk only, in rank order.

    A re-ranker given "the top 25" should see 25 *documents*, not three chunks of one paper:
    each document is represented by the chunk the first stage ranked highest.
    """
    seen: set[Hashable] = set()
    kept: list[Hit] = []
    for hit in hits:
        doc = doc_ids[hit["corpus_id"]]
        if doc not in seen:
            seen.add(doc)
            kept.append(hit)
    return kept


def hits_to_run(
    query_ids: Sequence[Hashable],
    hits_per_query: Sequence[Sequence[Hit]],
    doc_ids: Sequence[Hashable],
) -> dict[Hashable, list[Hashable]]:
    """Turn search results (positions in the corpus) into a run for ``metrics.evaluate``.

    Search works on row positions; judgements name documents by id. This is the one place the
    two meet, so a notebook cannot evaluate a run against the wrong ids by accident. When the
    corpus holds several chunks of one document (``doc_ids`` repeats), the document is ranked
    once, at the rank of its best chunk, as a reader would see it.
    """
    if len(query_ids) != len(hits_per_query):
        raise ValueError(
            f"{len(query_ids)} query ids but {len(hits_per_query)} result lists: pass one list of "
            "hits per query, in the same order."
        )
    return {
        query_id: list(dict.fromkeys(doc_ids[hit["corpus_id"]] for hit in hits))
        for query_id, hits in zip(query_ids, hits_per_query, strict=True)
    }
