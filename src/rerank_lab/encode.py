"""Encode texts with a bi-encoder, once: the one call every retrieval notebook makes.

``encode(model, texts)`` returns float32 unit vectors, one row per text, so that a dot product
is the cosine similarity. Encoding a corpus is the slow step of every notebook and learners
re-run cells all the time, so embeddings are cached on disk per text and only new texts are
encoded: the cache's design (stores, shards, validation, memory) is in
``rerank_lab.course.embedding_cache``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rerank_lab.checks import check_texts
from rerank_lab.course.embedding_cache import EmbeddingCache, embed_with_cache
from rerank_lab.device import with_oom_backoff

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["default_batch_size", "encode"]


def default_batch_size(model: Any) -> int:
    """A model's own batch size: an int8 twin's ``batch_size`` (small: measured faster on
    CPU), else sentence-transformers' default, 32."""
    size = getattr(model, "batch_size", None)
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 1 else 32


def encode(
    model: SentenceTransformer,
    texts: Sequence[str],
    *,
    batch_size: int | None = None,
    normalize: bool = True,
    prompt_name: str | None = None,
    cache: bool | EmbeddingCache = True,
    show_progress: bool = True,
) -> np.ndarray:
    """Embed ``texts`` with ``model`` as a float32 array of shape (len(texts), dim).

    ``normalize=True`` returns unit vectors, so a dot product is the cosine similarity.
    ``prompt_name`` selects one of the model's prompts (e.g. "query" for models that have one).
    Texts already in the cache are not encoded again, and each distinct text is encoded once;
    ``cache=False`` always encodes everything; an ``EmbeddingCache`` puts the cache elsewhere.
    ``batch_size=None`` is the model's own: 32 for torch, 1 for the int8 twins (measured
    faster: nothing is padded; see ``fast_encode.BATCH_SIZE``). On a GPU that runs out of
    memory the batch size is halved and the encode retried.

    Speed comes from the model and its loader, not from here: ``models.load_bi_encoder`` puts
    the model in fp16 on CUDA and picks the int8 ONNX twin on CPU
    (``rerank_lab.course.fast_encode``), whose embeddings are cached in a store of their own (its
    fingerprint hashes the ONNX file) and whose ``encode`` shares the batches between several
    onnxruntime sessions where that measured faster.
    Batches are length-sorted by sentence-transformers itself: ``SentenceTransformer.encode``
    orders the texts longest first before batching and restores the input order afterwards,
    so each batch is padded only to similar lengths (tests/test_encode.py checks it still does).
    """
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts; wrap a single text as [text].")
    texts = check_texts(texts)
    if not texts:
        raise ValueError("encode() got no texts: the corpus is empty.")
    batch_size = default_batch_size(model) if batch_size is None else batch_size
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}.")
    store = EmbeddingCache.default() if cache is True else cache or None
    options = {"normalize": normalize, "prompt_name": prompt_name}

    def run_model(todo: list[str]) -> np.ndarray:
        def run(size: int) -> np.ndarray:
            return model.encode(
                todo,
                batch_size=size,
                normalize_embeddings=normalize,
                prompt_name=prompt_name,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )

        def report(old: int, new: int) -> None:
            print(f"Out of GPU memory at batch size {old}; retrying with {new}.")

        result = with_oom_backoff(run, batch_size, on_backoff=report)
        return np.asarray(result, dtype=np.float32)

    if not store:
        return run_model(texts)
    return embed_with_cache(store, model, texts, options, run_model)
