"""The embedding cache behind ``rerank_lab.encode``: per text, on disk, validated, reused.

Encoding a corpus is the slow step of every retrieval notebook, and learners re-run cells all
the time, encode a subset first and the full corpus later, or edit a few texts. So the cache is
kept **per text**, not per list:

- A *store* holds every embedding made under one setting: the model's weights (a fine-tuned
  copy keeps its name, not its embeddings; for a model running on onnxruntime, such as the int8
  twin of ``rerank_lab.course.fast_encode``, the bytes of its ONNX file), its architecture and
  ``max_seq_length``, and the options ``normalize`` and ``prompt_name`` (with the prompt text
  they resolve to). Each store is a folder ``<cache>/embeddings/<store key>/``, the key being
  a hash of all of these.
- A store is a handful of *shards*. A shard is ``<id>.npy`` (float32 vectors, one row per
  text) plus ``<id>.json`` (format, the hash of each row's text in row order, shape, dtype and
  a checksum of hashes and vectors together, and the setting of its store).
- ``encode`` hashes each text (blake2b, 16 bytes), looks the hashes up in the store, runs the
  model only on the texts not found (each distinct text once, however often it repeats) and
  writes those as **one new shard**; the result is assembled in input order. A subset of
  cached texts, a reordered list or a repeat costs no encoding at all; a superset or an edited
  corpus encodes only what is new.
- Small shards pile up (every batch of queries adds one), so when a store has more than
  ``MAX_SHARDS`` the smaller shards are merged into one, leaving the largest (typically the
  corpus) untouched so that a few new queries never rewrite 64 MB; :meth:`EmbeddingCache.compact`
  merges everything. The merged shard is written before the old ones are deleted.

Every file is written atomically (``files.write_atomically``: temporary file, then rename), the
``.npy`` before the ``.json``: the JSON file is what makes a shard exist, so an interrupted write
leaves at most a stray ``.npy`` that is ignored (and overwritten if the same texts are encoded
again, shard ids being a hash of their text hashes). Shards are validated on load (format,
shape, dtype, checksum, store): a corrupt one is deleted with a warning naming it, and its texts
are simply encoded again, never trusted.

In-process memory keeps repeated calls instant: a store's validated shards are kept in memory
(the few most recently used stores) together with the identity of their files (inode, size,
modification time), so a call only lists the folder, and reads just the shards that appeared
or changed since (written by another process, say). The model's fingerprint (a hash of every
weight) is remembered per model object together with the version counter and memory address of
every weight tensor: training steps, ``load_state_dict``, ``.to()`` and in-place changes under
``torch.no_grad()`` all bump those, so a fine-tuned model gets a new fingerprint. The one blind
spot is a write that bypasses PyTorch's version counter (``param.data.add_(...)``, editing a
tensor through a NumPy view): after such a change call :func:`clear_memory`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rerank_lab.course.files import write_atomically
from rerank_lab.course.settings import cache_dir

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

__all__ = [
    "CACHE_FORMAT",
    "MAX_SHARDS",
    "EmbeddingCache",
    "clear_memory",
    "embed_with_cache",
    "model_fingerprint",
    "onnx_digests",
    "store_description",
    "store_key",
    "text_hashes",
]

#: Version of the on-disk layout; shards of another version are corrupt (rebuilt).
CACHE_FORMAT = 2

#: A store with more shards than this has its smaller shards merged after a write.
MAX_SHARDS = 16

#: How many stores keep their vectors in memory (the most recently used ones).
MEMORY_STORES = 4

_HASH_BYTES = 16


# --- what a cached embedding depends on -------------------------------------------------------

_FINGERPRINTS: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], str]] = (
    weakref.WeakKeyDictionary()
)


def _weights_signature(state: dict[str, Any], onnx: Sequence[tuple[str, str]]) -> tuple[Any, ...]:
    """Cheap identity of the weights: changes whenever PyTorch sees a weight change (or the
    model runs other ONNX content)."""
    import torch

    weights = tuple(
        (name, tensor.data_ptr(), tensor._version, str(tensor.dtype), tuple(tensor.shape))
        if isinstance(tensor, torch.Tensor)
        else (name, repr(tensor))
        for name, tensor in state.items()
    )
    return weights + tuple(onnx)


_ONNX_DIGESTS: weakref.WeakKeyDictionary[Any, tuple[int, list[tuple[str, str]]]] = (
    weakref.WeakKeyDictionary()
)


def onnx_digests(model: Any) -> list[tuple[str, str]]:
    """(file name, content hash) of each ONNX file an onnxruntime-backed model runs; [] for torch.

    Such a model (``backend="onnx"``) has no torch weights to hash, its ``state_dict`` is empty,
    so its ONNX files stand for them in :func:`model_fingerprint`; external-data files
    (``<name>_data``) count too. A session holds its graph in memory from the moment it is
    created, so each file is hashed once per session (23 MB for the int8 MiniLM: a few
    hundredths of a second), not whenever the file on disk changes.
    """
    import sys

    if "optimum.onnxruntime" not in sys.modules or not hasattr(model, "modules"):
        return []  # nothing can run on onnxruntime before optimum's support is imported
    from optimum.onnxruntime import ORTModel

    from rerank_lab.course.files import checksum

    # An ORTModel is no torch module: it sits in a plain attribute (e.g. Transformer.model).
    runners = [
        value
        for module in model.modules()
        for value in vars(module).values()
        if isinstance(value, ORTModel)
    ]
    digests: list[tuple[str, str]] = []
    for runner in runners:
        session = id(getattr(runner, "session", None))
        remembered = _ONNX_DIGESTS.get(runner)
        if remembered is None or remembered[0] != session:
            path = Path(runner.path)
            files = [path, *sorted(path.parent.glob(f"{glob.escape(path.name)}_data*"))]
            remembered = (session, [(file.name, checksum(file)) for file in files])
            _ONNX_DIGESTS[runner] = remembered
        digests.extend(remembered[1])
    return digests


def model_fingerprint(model: torch.nn.Module) -> str:
    """A hash of every weight of ``model``: two models share it only if they compute the same.

    Names are not enough: a model fine-tuned in a notebook keeps its name but not its
    embeddings. Hashing the 22M MiniLM weights takes about a tenth of a second, so the result is
    remembered per model object and reused while no weight tensor has changed (see the module
    docstring for the one kind of change that goes unnoticed).

    A model running on onnxruntime (``backend="onnx"``, e.g. the int8 twin of
    ``rerank_lab.course.fast_encode``) has no torch weights: the bytes of its ONNX files are hashed
    instead, so two ONNX models never share a fingerprint unless they run the same file content,
    and the same file gives the same fingerprint in every process.
    """
    import torch

    state = model.state_dict(keep_vars=True)
    onnx = onnx_digests(model)
    signature = _weights_signature(state, onnx)
    remembered = _FINGERPRINTS.get(model)
    if remembered is not None and remembered[0] == signature:
        return remembered[1]
    digest = hashlib.blake2b(digest_size=_HASH_BYTES)
    for name, tensor in state.items():
        digest.update(name.encode())
        if not isinstance(tensor, torch.Tensor):
            digest.update(repr(tensor).encode())
            continue
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    for name, content in onnx:  # by content: where the file lives changes nothing
        digest.update(f"onnx:{name}:{content}".encode())
    fingerprint = digest.hexdigest()
    try:
        _FINGERPRINTS[model] = (signature, fingerprint)
    except TypeError:  # not weak-referenceable: just not remembered
        pass
    return fingerprint


def text_hashes(texts: Sequence[str]) -> list[str]:
    """The hash of each text (blake2b, 16 bytes, hex): the per-text cache key within a store.

    About 0.1 s for the 41,730 corpus chunks. ``surrogatepass`` so that any str can be hashed.
    """
    blake2b = hashlib.blake2b
    return [
        blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_HASH_BYTES).hexdigest()
        for text in texts
    ]


def store_description(model: SentenceTransformer, options: dict[str, Any]) -> dict[str, Any]:
    """Everything but the text that decides an embedding: the weights, the model's layout,
    ``max_seq_length``, ``truncate_dim``, the prompt actually used and the encoding options."""
    prompt_name = options.get("prompt_name")
    prompts = getattr(model, "prompts", None) or {}
    used = prompt_name if prompt_name is not None else getattr(model, "default_prompt_name", None)
    return {
        "format": CACHE_FORMAT,
        "model": model_fingerprint(model),
        "architecture": str(model),
        "max_seq_length": getattr(model, "max_seq_length", None),
        "truncate_dim": getattr(model, "truncate_dim", None),
        "prompt": prompts.get(used) if used is not None else None,
        "options": dict(sorted(options.items())),
    }


def _description_key(description: dict[str, Any]) -> str:
    data = json.dumps(description, sort_keys=True).encode()
    return hashlib.blake2b(data, digest_size=_HASH_BYTES).hexdigest()


def store_key(model: SentenceTransformer, options: dict[str, Any]) -> str:
    """The name of the store (folder) for ``model`` with ``options``: a hash of its description."""
    return _description_key(store_description(model, options))


def _shard_checksum(hashes: Sequence[str], vectors: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=_HASH_BYTES)
    digest.update("\n".join(hashes).encode())
    digest.update(np.ascontiguousarray(vectors).tobytes())
    return digest.hexdigest()


def _shard_id(hashes: Sequence[str]) -> str:
    return hashlib.blake2b("\n".join(hashes).encode(), digest_size=_HASH_BYTES).hexdigest()


# --- the cache on disk, and its in-memory index -----------------------------------------------

#: Identity of a shard's two files: (inode, size, mtime in ns) of its .json, then its .npy.
_FileStat = tuple[int, int, int]
_ShardStat = tuple[_FileStat, _FileStat | None]


@dataclass
class _Index:
    """A store's valid shards, loaded: ``matrix`` holds their rows one shard after another."""

    shards: dict[str, tuple[_ShardStat, int, int]]  # shard id -> (files, first row, end row)
    hashes: list[str]  # text hash of each row of matrix
    matrix: np.ndarray | None
    lookup: dict[str, int]  # text hash -> row (its first occurrence)

    @property
    def signature(self) -> tuple[tuple[str, _ShardStat], ...]:
        return tuple(sorted((shard_id, stat) for shard_id, (stat, _, _) in self.shards.items()))


_EMPTY = _Index(shards={}, hashes=[], matrix=None, lookup={})
_MEMORY: OrderedDict[str, _Index] = OrderedDict()
_VANISHED = object()


def clear_memory() -> None:
    """Forget what this process remembers (loaded stores, model fingerprints); disk is untouched.

    Needed only after changing a model's weights behind PyTorch's back (``param.data``).
    """
    _MEMORY.clear()
    _FINGERPRINTS.clear()


@dataclass(frozen=True)
class EmbeddingCache:
    """Embeddings on disk, per text: ``<root>/<store key>/<shard id>.npy`` + ``.json``.

    A store holds every text ever encoded under one setting (see :func:`store_description`);
    its shards are what single ``encode`` calls (or merges) added. ``<id>.json`` names the text
    hash of each row of ``<id>.npy`` and what the array must be (shape, dtype, checksum); it is
    written last, so a shard without it (an interrupted write) does not exist. Loaded stores
    are remembered in memory, keyed by the identity of their files, so repeated calls in one
    session read nothing but the folder listing.
    """

    root: Path

    @classmethod
    def default(cls) -> EmbeddingCache:
        return cls(cache_dir() / "embeddings")

    def store_path(self, key: str) -> Path:
        return self.root / key

    def shards(self, key: str) -> list[str]:
        """The ids of the complete shards of a store (those with a .json), sorted."""
        return sorted(self._scan(self.store_path(key)))

    def get(self, key: str, hashes: Sequence[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """The cached vectors of ``hashes`` (rows of zeros where missing) and a found mask.

        The array is a fresh float32 copy (None when the store is empty); corrupt shards are
        deleted with a warning and their texts reported missing.
        """
        index = self._index(key)
        lookup = index.lookup
        rows = np.fromiter((lookup.get(h, -1) for h in hashes), dtype=np.int64, count=len(hashes))
        found = rows >= 0
        if index.matrix is None:
            return None, found
        vectors = index.matrix[np.where(found, rows, 0)]
        vectors[~found] = 0
        return vectors, found

    def add(
        self, key: str, hashes: Sequence[str], vectors: np.ndarray, description: dict[str, Any]
    ) -> str:
        """Write ``vectors`` (row i = text hash i) as one new shard; merge shards if too many.

        ``description`` is the store's :func:`store_description`; ``key`` must be its hash.
        Returns the shard id.
        """
        hashes = list(hashes)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(hashes) or not hashes:
            raise ValueError(
                f"add() needs one row per hash, got {vectors.shape} for {len(hashes)} hashes."
            )
        if _description_key(description) != key:
            raise ValueError("add(): key is not the hash of description (see store_key).")
        shard_id = self._write_shard(key, hashes, vectors, description)
        index = self._index(key)
        if len(index.shards) > MAX_SHARDS:
            self._merge(key, index, description, keep_largest=True)
        return shard_id

    def compact(self, key: str) -> bool:
        """Merge all shards of a store into one (keeping each text once); False if nothing to do."""
        index = self._index(key)
        if len(index.shards) < 2:
            return False
        meta = json.loads((self.store_path(key) / f"{next(iter(index.shards))}.json").read_text())
        return self._merge(key, index, meta["store"], keep_largest=False)

    def clear(self) -> int:
        """Delete every store (and any old-format entry); returns how many files were removed."""
        removed = 0
        if self.root.is_dir():
            for path in sorted(self.root.iterdir()):
                if path.is_dir():
                    for file in path.iterdir():
                        file.unlink()
                        removed += 1
                    path.rmdir()
                else:
                    path.unlink()
                    removed += 1
        root = os.path.abspath(self.root)
        for folder in [folder for folder in _MEMORY if os.path.dirname(folder) == root]:
            del _MEMORY[folder]
        return removed

    # --- internals ----------------------------------------------------------------------------

    @staticmethod
    def _scan(folder: Path) -> dict[str, _ShardStat]:
        """Shard id -> identity of its files, for every shard with a .json (temp files skipped)."""
        try:
            entries = {entry.name: entry for entry in os.scandir(folder)}
        except FileNotFoundError:
            return {}
        shards: dict[str, _ShardStat] = {}
        for name, entry in entries.items():
            if name.startswith(".") or not name.endswith(".json"):
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            shard_id = name[: -len(".json")]
            array = entries.get(f"{shard_id}.npy")
            array_stat = None
            if array is not None:
                try:
                    astat = array.stat()
                    array_stat = (astat.st_ino, astat.st_size, astat.st_mtime_ns)
                except FileNotFoundError:
                    pass
            shards[shard_id] = ((stat.st_ino, stat.st_size, stat.st_mtime_ns), array_stat)
        return shards

    def _index(self, key: str) -> _Index:
        """The store's valid shards, from memory when no shard file changed since last time."""
        folder = self.store_path(key)
        memory_key = os.path.abspath(folder)
        index = _MEMORY.get(memory_key, _EMPTY)
        for _attempt in range(3):
            listing = self._scan(folder)
            if tuple(sorted(listing.items())) == index.signature:
                break
            index, vanished = self._reload(folder, key, listing, index)
            if not vanished:
                break
        _MEMORY[memory_key] = index
        _MEMORY.move_to_end(memory_key)
        while len(_MEMORY) > MEMORY_STORES:
            _MEMORY.popitem(last=False)
        return index

    def _reload(
        self, folder: Path, key: str, listing: dict[str, _ShardStat], old: _Index
    ) -> tuple[_Index, bool]:
        """Build the index of ``listing``, reusing the unchanged shards of ``old``.

        Returns the index and whether a shard vanished while loading (removed by a merge in
        another process: the caller lists the folder again).
        """
        parts: list[tuple[str, _ShardStat, list[str], np.ndarray]] = []
        vanished = False
        for shard_id, stat in sorted(listing.items()):
            known = old.shards.get(shard_id)
            if known is not None and known[0] == stat and old.matrix is not None:
                _, start, stop = known
                parts.append((shard_id, stat, old.hashes[start:stop], old.matrix[start:stop]))
                continue
            loaded = self._load_shard(folder, shard_id, key)
            if loaded is _VANISHED:
                vanished = True
            elif loaded is not None:
                hashes, vectors = loaded  # type: ignore[misc]
                parts.append((shard_id, stat, hashes, vectors))
        if parts:
            width = max(parts, key=lambda part: len(part[2]))[3].shape[1]
            for part in [part for part in parts if part[3].shape[1] != width]:
                self._discard(folder / f"{part[0]}.json", [f"width {part[3].shape[1]} != {width}"])
                parts.remove(part)
        if not parts:
            return _Index(shards={}, hashes=[], matrix=None, lookup={}), vanished
        shards: dict[str, tuple[_ShardStat, int, int]] = {}
        hashes: list[str] = []
        for shard_id, stat, shard_hashes, _ in parts:
            shards[shard_id] = (stat, len(hashes), len(hashes) + len(shard_hashes))
            hashes.extend(shard_hashes)
        matrix = parts[0][3] if len(parts) == 1 else np.concatenate([part[3] for part in parts])
        lookup: dict[str, int] = {}
        for row, text_hash in enumerate(hashes):
            lookup.setdefault(text_hash, row)
        return _Index(shards=shards, hashes=hashes, matrix=matrix, lookup=lookup), vanished

    def _load_shard(self, folder: Path, shard_id: str, key: str) -> Any:
        """(hashes, vectors) of a valid shard; None if corrupt (warned, deleted); or _VANISHED."""
        meta_path, array_path = folder / f"{shard_id}.json", folder / f"{shard_id}.npy"
        try:
            meta = json.loads(meta_path.read_text())
            array = np.load(array_path, allow_pickle=False)
            hashes = meta["hashes"]
            hashes_ok = isinstance(hashes, list) and all(
                isinstance(h, str) and len(h) == 2 * _HASH_BYTES for h in hashes
            )
            problems = [
                name
                for name, ok in (
                    ("format", meta.get("format") == CACHE_FORMAT),
                    ("store", _description_key(meta["store"]) == key),
                    ("hashes", hashes_ok),
                    (
                        "shape",
                        array.ndim == 2
                        and list(array.shape) == meta["shape"]
                        and hashes_ok
                        and array.shape[0] == len(hashes),
                    ),
                    ("dtype", array.dtype == np.float32 and str(array.dtype) == meta["dtype"]),
                    ("checksum", hashes_ok and _shard_checksum(hashes, array) == meta["checksum"]),
                )
                if not ok
            ]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError) as error:
            if not meta_path.exists():
                return _VANISHED  # deleted under our feet by a merge elsewhere: not corrupt
            problems = [f"unreadable ({type(error).__name__})"]
        if problems:
            self._discard(meta_path, problems)
            return None
        return hashes, array

    @staticmethod
    def _discard(meta_path: Path, problems: list[str]) -> None:
        warnings.warn(
            f"Embedding cache shard {meta_path.with_suffix('.npy')} is corrupt "
            f"({', '.join(problems)}); deleting it, its texts will be encoded again (rebuilt).",
            stacklevel=7,  # the caller of encode()
        )
        meta_path.unlink(missing_ok=True)
        meta_path.with_suffix(".npy").unlink(missing_ok=True)

    def _write_shard(
        self, key: str, hashes: list[str], vectors: np.ndarray, description: dict[str, Any]
    ) -> str:
        """Write the .npy then the .json of a shard, each atomically; returns the shard id."""
        folder = self.store_path(key)
        shard_id = _shard_id(hashes)
        meta = {
            "format": CACHE_FORMAT,
            "shape": list(vectors.shape),
            "dtype": str(vectors.dtype),
            "checksum": _shard_checksum(hashes, vectors),
            "store": description,
            "hashes": hashes,
        }
        write_atomically(
            folder / f"{shard_id}.npy", lambda handle: np.save(handle, vectors, allow_pickle=False)
        )
        meta_bytes = json.dumps(meta, indent=0).encode()
        write_atomically(folder / f"{shard_id}.json", lambda handle: handle.write(meta_bytes))
        return shard_id

    def _merge(
        self, key: str, index: _Index, description: dict[str, Any], *, keep_largest: bool
    ) -> bool:
        """Write the (chosen) shards as one, each text once, then delete them (.json first)."""
        chosen = sorted(index.shards)
        kept: set[str] = set()
        if keep_largest:
            largest = max(chosen, key=lambda s: index.shards[s][2] - index.shards[s][1])
            chosen.remove(largest)
            _, start, stop = index.shards[largest]
            kept = set(index.hashes[start:stop])
        if len(chosen) < 2 or index.matrix is None:
            return False
        rows: dict[str, int] = {}
        for shard_id in chosen:
            _, start, stop = index.shards[shard_id]
            for row in range(start, stop):
                if index.hashes[row] not in kept:
                    rows.setdefault(index.hashes[row], row)
        if not rows:  # everything is in the largest shard already
            self._delete_shards(key, chosen)
            self._index(key)
            return True
        merged = self._write_shard(
            key, list(rows), index.matrix[np.fromiter(rows.values(), dtype=np.int64)], description
        )
        self._delete_shards(key, [shard_id for shard_id in chosen if shard_id != merged])
        self._index(key)
        return True

    def _delete_shards(self, key: str, shard_ids: Sequence[str]) -> None:
        """Delete shards, each .json first: a shard never looks complete with its .npy gone."""
        folder = self.store_path(key)
        for shard_id in shard_ids:
            (folder / f"{shard_id}.json").unlink(missing_ok=True)
            (folder / f"{shard_id}.npy").unlink(missing_ok=True)


# --- the cached encode ------------------------------------------------------------------


def _add_quietly(
    store: EmbeddingCache,
    key: str,
    hashes: list[str],
    vectors: np.ndarray,
    description: dict[str, Any],
) -> None:
    """Cache new vectors; a disk that refuses (full, read-only) costs the cache, not the result."""
    try:
        store.add(key, hashes, vectors, description)
    except OSError as error:
        warnings.warn(
            f"Could not write to the embedding cache in {store.root} ({error}); the embeddings "
            "are returned but not cached.",
            stacklevel=3,
        )


def embed_with_cache(
    store: EmbeddingCache,
    model: SentenceTransformer,
    texts: list[str],
    options: dict[str, Any],
    run_model: Callable[[list[str]], np.ndarray],
) -> np.ndarray:
    """``texts`` embedded through ``store``: cached rows read, each distinct missing text run
    through ``run_model`` once and written as one new shard, rows returned in input order."""
    description = store_description(model, options)
    key = _description_key(description)
    hashes = text_hashes(texts)
    embeddings, found = store.get(key, hashes)
    missing = np.flatnonzero(~found)
    if missing.size == 0:
        assert embeddings is not None
        return embeddings

    slot_of: dict[str, int] = {}  # each distinct missing text once, in first-seen order
    todo: list[str] = []
    slots = np.empty(missing.size, dtype=np.int64)
    for j, position in enumerate(missing.tolist()):
        slot = slot_of.setdefault(hashes[position], len(todo))
        if slot == len(todo):
            todo.append(texts[position])
        slots[j] = slot
    fresh = run_model(todo)
    _add_quietly(store, key, list(slot_of), fresh, description)
    if embeddings is None:
        embeddings = np.empty((len(texts), fresh.shape[1]), dtype=np.float32)
    embeddings[missing] = fresh[slots]
    return embeddings
