"""Encode texts with a bi-encoder, once: embeddings are cached on disk and reused.

Encoding a corpus is the slow step of every retrieval notebook, and learners re-run cells all
the time. ``encode`` therefore keys each result by *what could change it* — the model's
weights, the encoding options and the exact texts — and stores it under the course cache. A
re-run with the same inputs loads the array in a fraction of a second; any change (another
model, a fine-tuned copy, ``max_seq_length``, one edited text) misses the cache and encodes
afresh. Files are written atomically (temporary file, then rename) and validated on load
(shape, dtype, checksum): a truncated or corrupt entry is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rerank_lab.device import with_oom_backoff
from rerank_lab.files import write_atomically
from rerank_lab.settings import cache_dir

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

CACHE_FORMAT = 1


def model_fingerprint(model: torch.nn.Module) -> str:
    """A hash of every weight of ``model``: two models share it only if they compute the same.

    Names are not enough: a model fine-tuned in a notebook keeps its name but not its
    embeddings. Hashing the 22M MiniLM weights takes about a tenth of a second.
    """
    import torch

    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def texts_fingerprint(texts: Sequence[str]) -> str:
    """A hash of the texts in order (lengths included, so no two lists can collide by joining)."""
    digest = hashlib.blake2b(digest_size=16)
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def _array_checksum(array: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class EmbeddingCache:
    """Embeddings on disk: ``<key>.npy`` holds the array, ``<key>.json`` says what it must be.

    The JSON file is written last, so an entry without it (an interrupted write) is simply a
    miss.
    """

    root: Path

    @classmethod
    def default(cls) -> EmbeddingCache:
        return cls(cache_dir() / "embeddings")

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.npy", self.root / f"{key}.json"

    def load(self, key: str, expected_rows: int) -> np.ndarray | None:
        """The cached array, or None when absent; a corrupt entry is removed with a warning."""
        array_path, meta_path = self._paths(key)
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            array = np.load(array_path, allow_pickle=False)
            problems = [
                name
                for name, ok in (
                    ("format", meta.get("format") == CACHE_FORMAT),
                    (
                        "shape",
                        list(array.shape) == meta["shape"] and array.shape[0] == expected_rows,
                    ),
                    ("dtype", str(array.dtype) == meta["dtype"]),
                    ("checksum", _array_checksum(array) == meta["checksum"]),
                )
                if not ok
            ]
        except (OSError, ValueError, KeyError, EOFError) as error:
            problems = [f"unreadable ({type(error).__name__})"]
        if problems:
            warnings.warn(
                f"Embedding cache entry {key} is corrupt ({', '.join(problems)}); rebuilding it.",
                stacklevel=3,
            )
            self.remove(key)
            return None
        return array

    def store(self, key: str, array: np.ndarray, description: dict[str, Any]) -> None:
        """Write array then metadata, each atomically, so readers never see half an entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        array_path, meta_path = self._paths(key)
        meta = {
            "format": CACHE_FORMAT,
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "checksum": _array_checksum(array),
            **description,
        }
        write_atomically(array_path, lambda handle: np.save(handle, array, allow_pickle=False))
        meta_bytes = json.dumps(meta, indent=1).encode()
        write_atomically(meta_path, lambda handle: handle.write(meta_bytes))

    def remove(self, key: str) -> None:
        for path in self._paths(key):
            path.unlink(missing_ok=True)

    def clear(self) -> int:
        """Delete every entry; returns how many files were removed."""
        removed = 0
        if self.root.is_dir():
            for path in self.root.glob("*.*"):
                path.unlink()
                removed += 1
        return removed


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts; wrap a single text as [text].")
    texts = list(texts)
    if not texts:
        raise ValueError("encode() got no texts: the corpus is empty.")
    bad = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
    if bad is not None:
        raise TypeError(
            f"Text {bad} is a {type(texts[bad]).__name__}, not a str: pass the text column, "
            "e.g. df['text'].tolist()."
        )
    return texts


def cache_key(model: SentenceTransformer, texts: Sequence[str], options: dict[str, Any]) -> str:
    """The cache key: model weights, options and texts, hashed together."""
    parts = {
        "model": model_fingerprint(model),
        "texts": texts_fingerprint(texts),
        "max_seq_length": model.max_seq_length,
        **options,
    }
    return hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=16).hexdigest()


def encode(
    model: SentenceTransformer,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    normalize: bool = True,
    prompt_name: str | None = None,
    cache: bool | EmbeddingCache = True,
    show_progress: bool = True,
) -> np.ndarray:
    """Embed ``texts`` with ``model`` as a float32 array of shape (len(texts), dim).

    ``normalize=True`` returns unit vectors, so a dot product is the cosine similarity.
    ``prompt_name`` selects one of the model's prompts (e.g. "query" for models that have one).
    ``cache=False`` always encodes; an ``EmbeddingCache`` puts entries elsewhere. On a GPU that
    runs out of memory the batch size is halved and the encode retried.
    """
    texts = _check_texts(texts)
    store = EmbeddingCache.default() if cache is True else cache or None
    options = {"normalize": normalize, "prompt_name": prompt_name}
    key = cache_key(model, texts, options) if store else ""
    if store:
        cached = store.load(key, expected_rows=len(texts))
        if cached is not None:
            return cached

    def run(size: int) -> np.ndarray:
        return model.encode(
            texts,
            batch_size=size,
            normalize_embeddings=normalize,
            prompt_name=prompt_name,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )

    def report(old: int, new: int) -> None:
        print(f"Out of GPU memory at batch size {old}; retrying with {new}.")

    embeddings = with_oom_backoff(run, batch_size, on_backoff=report).astype(np.float32, copy=False)
    if store:
        store.store(key, embeddings, {"rows": len(texts), "options": options})
    return embeddings
