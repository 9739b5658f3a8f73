"""Retrieval past one laptop's comfort: memory, exact-search cost, ANN indexes, compressed vectors.

Notebooks 01 to 06 keep every embedding in memory as float32 and compare each query with every
chunk. That is right for the course corpus (tens of thousands of chunks) and wrong for the
millions a real search system meets. Notebook 07 measures where it breaks and what established
tools do about it; this module holds the parts it reuses, so that the notebook shows the ideas
and the measurements rather than bookkeeping:

* **memory arithmetic** (:func:`embedding_bytes`, :func:`format_bytes`): n vectors of dimension
  d cost n·d·4 bytes in float32, n·d in int8, n·⌈d/8⌉ in binary;
* **exact search** (:func:`exact_search`) and **its cost as the corpus grows**
  (:func:`timed_exact_search`): larger corpora are simulated with *distractor copies* of the
  real embeddings (:func:`distractor_copy`), for timing only;
* **approximate nearest-neighbour indexes** from faiss (:func:`build_index`,
  :func:`set_search_effort`, :func:`index_bytes`, :func:`search_index`) and their **recall
  against exact search** (:func:`recall_at_k`);
* **compressed embeddings**: search over int8 or binary codes made by sentence-transformers'
  ``quantize_embeddings`` (:func:`quantized_search`), then **rescoring** the top candidates with
  float32 vectors (:func:`rescore`), which may stay on disk.

Every search returns two arrays of shape (queries, k): scores (higher is better) and row ids
(``-1`` where an index found fewer than k), best first. Embeddings are expected normalised
(``rl.encode.encode`` does that), so an inner product is a cosine similarity.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from rerank_lab.checks import check_count, check_k

if TYPE_CHECKING:
    import faiss

__all__ = [
    "BITS",
    "IndexKind",
    "build_index",
    "distractor_copies",
    "distractor_copy",
    "embedding_bytes",
    "exact_search",
    "format_bytes",
    "index_bytes",
    "quantized_search",
    "recall_at_k",
    "rescore",
    "search_index",
    "set_search_effort",
    "timed_exact_search",
]

Precision = Literal["float32", "float16", "int8", "uint8", "binary", "ubinary"]
IndexKind = Literal["flat", "hnsw", "ivf"]

BITS: dict[str, int] = {
    "float32": 32,
    "float16": 16,
    "int8": 8,
    "uint8": 8,
    "binary": 1,
    "ubinary": 1,
}
"""Bits per dimension of each precision (sentence-transformers' names; binary packs 8 per byte)."""


# --- checks shared by every function ------------------------------------------------------------


def _float_matrix(array: object, name: str) -> np.ndarray:
    """A non-empty 2-D float32 array (1-D counts as one row); other dtypes are refused, since a
    silent cast would hide int8 codes passed where float vectors belong."""
    if hasattr(array, "detach"):  # a torch tensor
        array = array.detach().cpu().numpy()  # type: ignore[attr-defined]
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}.")
    if array.dtype != np.float32:
        raise TypeError(
            f"{name} must be float32 embeddings, got dtype {array.dtype}"
            + (
                ": these look like quantised codes; use quantized_search for them."
                if array.dtype in (np.int8, np.uint8)
                else " (use .astype(np.float32))."
            )
        )
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {array.shape}.")
    return array


def _same_dimension(queries: np.ndarray, corpus: np.ndarray, corpus_dim: int | None = None) -> None:
    dim = corpus.shape[1] if corpus_dim is None else corpus_dim
    if queries.shape[1] != dim:
        raise ValueError(
            f"queries have dimension {queries.shape[1]} but the corpus {dim}: were they made by "
            "the same model?"
        )


def _top_k_rows(scores: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The k best columns of each row of ``scores``, best first, ties to the lower id."""
    n = scores.shape[1]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        # argpartition keeps an arbitrary one of several columns tied at the cut: where a row
        # has more columns at or above its k-th best score than k, redo it with all of them.
        kth_best = np.take_along_axis(scores, part, axis=1).min(axis=1)
        for row in np.flatnonzero((scores >= kth_best[:, None]).sum(axis=1) > k):
            tied = np.flatnonzero(scores[row] >= kth_best[row])
            part[row] = tied[np.lexsort((tied, -scores[row, tied]))][:k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    chosen = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -chosen), axis=1)
    ids = np.take_along_axis(part, order, axis=1)
    return np.take_along_axis(chosen, order, axis=1), ids + offset


def _merge(
    best: tuple[np.ndarray, np.ndarray] | None, new: tuple[np.ndarray, np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two top-k lists per query (scores, ids) into one, ties to the lower id."""
    if best is None:
        return new
    scores = np.concatenate([best[0], new[0]], axis=1)
    ids = np.concatenate([best[1], new[1]], axis=1)
    order = np.lexsort((ids, -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


# --- memory -----------------------------------------------------------------------------------


def embedding_bytes(n: int, dim: int, precision: Precision = "float32") -> int:
    """Bytes that ``n`` embeddings of dimension ``dim`` take at ``precision``, vectors only.

    float32 is 4 bytes per dimension, float16 2, int8/uint8 1; binary keeps one bit per
    dimension, packed 8 to a byte, so a vector takes ⌈dim/8⌉ bytes (``np.packbits`` pads the
    last byte, as ``quantize_embeddings`` does). An index adds its own structures on top (graph
    links, lists, ids): :func:`index_bytes` measures those.
    """
    n = check_count(n, "n", minimum=0)
    dim = check_count(dim, "dim")
    if precision not in BITS:
        raise ValueError(f"Unknown precision {precision!r}; use one of {', '.join(BITS)}.")
    if BITS[precision] == 1:
        return n * math.ceil(dim / 8)
    return n * dim * BITS[precision] // 8


def format_bytes(size: float) -> str:
    """A byte count for people, in decimal units (1 MB = 10⁶ bytes, as disk makers count)."""
    if size < 0 or not math.isfinite(size):
        raise ValueError(f"A size in bytes must be a finite number of at least 0, got {size}.")
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


# --- exact search and its cost as the corpus grows ---------------------------------------------


def exact_search(
    queries: np.ndarray, corpus: np.ndarray, k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-k rows of ``corpus`` by inner product for each query: the reference that
    every approximate index is judged against. Returns (scores, ids), each (queries, k)."""
    queries = _float_matrix(queries, "queries")
    corpus = _float_matrix(corpus, "corpus")
    _same_dimension(queries, corpus)
    k = check_k(k, corpus.shape[0])
    return _top_k_rows(queries @ corpus.T, k)


def distractor_copy(embeddings: np.ndarray, number: int, *, seed: int = 0) -> np.ndarray:
    """Copy ``number`` of a corpus, for timing larger corpora: copy 0 is the corpus itself.

    Copy *i* > 0 applies one random signed permutation of the dimensions (swap coordinates,
    flip some signs) to every vector. That is a rotation, so the copy keeps the corpus's
    structure exactly (same norms, same similarities between its own vectors: clusters stay
    clusters, which is what an index's speed depends on), while pointing in other directions:
    its vectors are unlikely to compete with the real ones for a query's top hits. They stand
    for *more documents*, so the time and memory of search at 10× or 100× the corpus are
    measured honestly; the quality of search is measured on the real corpus only.
    """
    corpus = _float_matrix(embeddings, "embeddings")
    number = check_count(number, "number", minimum=0)
    if number == 0:
        return corpus
    rng = np.random.default_rng([seed, number])
    dim = corpus.shape[1]
    permutation = rng.permutation(dim)
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=dim)
    return np.ascontiguousarray(corpus[:, permutation] * signs)


def distractor_copies(embeddings: np.ndarray, copies: int, *, seed: int = 0) -> np.ndarray:
    """The corpus and ``copies - 1`` distractor copies stacked: ``copies`` times as many rows.

    Row ``r`` is a copy of row ``r % len(embeddings)``; rows from ``len(embeddings)`` on are
    distractors (see :func:`distractor_copy`). Holds everything in memory: for very large
    multiples use :func:`timed_exact_search`, which scans one copy at a time.
    """
    corpus = _float_matrix(embeddings, "embeddings")
    copies = check_count(copies, "copies")
    return np.concatenate([distractor_copy(corpus, i, seed=seed) for i in range(copies)])


def timed_exact_search(
    queries: np.ndarray, corpus: np.ndarray, k: int = 10, *, copies: int = 1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact top-k over the corpus and ``copies - 1`` distractor copies, and the seconds it took.

    The copies are scanned one at a time and the running top-k merged, so memory stays at one
    copy however large the simulated corpus (a brute-force scan of a corpus kept on disk works
    the same way). Only the scan and the merge are timed, not the making of the copies. Ids
    index :func:`distractor_copies` (``id % len(corpus)`` is the original row).
    """
    queries = _float_matrix(queries, "queries")
    corpus = _float_matrix(corpus, "corpus")
    _same_dimension(queries, corpus)
    copies = check_count(copies, "copies")
    k = check_k(k, corpus.shape[0] * copies, "the corpus with its copies")
    best: tuple[np.ndarray, np.ndarray] | None = None
    seconds = 0.0
    for number in range(copies):
        block = distractor_copy(corpus, number, seed=seed)
        started = time.perf_counter()
        found = _top_k_rows(queries @ block.T, min(k, len(block)), offset=number * len(block))
        best = _merge(best, found, k)
        seconds += time.perf_counter() - started
    assert best is not None
    return best[0], best[1], seconds


def recall_at_k(found_ids: np.ndarray, exact_ids: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top k that the approximate top k also found (order ignored).

    This is the usual "recall@k" of ANN benchmarks: it measures the index against exact search,
    not against relevance judgements. Ids of ``-1`` (faiss's "nothing found") count as misses.
    """
    found = np.asarray(found_ids)
    exact = np.asarray(exact_ids)
    if found.ndim != 2 or exact.ndim != 2:
        raise ValueError(
            f"found_ids and exact_ids must be 2-D (queries, k), got {found.shape} and "
            f"{exact.shape}."
        )
    if found.shape[0] != exact.shape[0] or found.shape[0] == 0:
        raise ValueError(
            f"found_ids and exact_ids must hold the same queries (one row each), got "
            f"{found.shape[0]} and {exact.shape[0]} rows."
        )
    k = check_count(k, "k")
    if k > exact.shape[1] or k > found.shape[1]:
        raise ValueError(
            f"k={k} but the results hold only {min(exact.shape[1], found.shape[1])} ids per "
            "query: search at least k deep."
        )
    hits = [
        len(set(row_found[:k].tolist()) & set(row_exact[:k].tolist()) - {-1})
        for row_found, row_exact in zip(found, exact, strict=True)
    ]
    return float(np.mean(hits) / k)


# --- approximate nearest-neighbour indexes (faiss) ---------------------------------------------


def _faiss() -> faiss:
    try:
        import faiss
    except ImportError as error:  # pragma: no cover - faiss-cpu is a base dependency
        raise ImportError(
            "faiss is not installed: `pip install faiss-cpu` (a dependency of the course)."
        ) from error
    return faiss


def build_index(
    embeddings: np.ndarray,
    kind: IndexKind = "hnsw",
    *,
    m: int = 32,
    ef_construction: int = 40,
    nlist: int | None = None,
    seed: int = 0,
) -> faiss.Index:
    """Build a faiss index over ``embeddings`` (inner product, so cosine on unit vectors).

    * ``"flat"``: exact search, every vector compared (the baseline; no build work at all);
    * ``"hnsw"``: a graph where each vector links to about ``m`` near neighbours over several
      layers; a search walks the graph greedily. No training, fast and accurate, but the links
      cost memory (about ``2·m`` ids per vector) and the build is the slowest of the three;
      ``ef_construction`` is how widely the build looks for neighbours;
    * ``"ivf"``: k-means cuts the space into ``nlist`` cells (trained on a sample of at most
      64 vectors per cell), each vector is stored in its cell's list, and a search scans the
      ``nprobe`` cells nearest the query only. ``nlist`` defaults to about 4·√n, faiss's rule
      of thumb.

    How hard a search tries is set afterwards with :func:`set_search_effort`.
    """
    faiss = _faiss()
    corpus = np.ascontiguousarray(_float_matrix(embeddings, "embeddings"))
    n, dim = corpus.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, check_count(m, "m", minimum=2), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = check_count(ef_construction, "ef_construction")
    elif kind == "ivf":
        cells = max(1, round(4 * math.sqrt(n))) if nlist is None else check_count(nlist, "nlist")
        if cells > n:
            raise ValueError(f"nlist={cells} cells for {n} vectors: use at most one per vector.")
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, cells, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        sample_size = min(n, 64 * cells)
        sample = corpus[np.random.default_rng(seed).choice(n, size=sample_size, replace=False)]
        index.cp.min_points_per_centroid = 1  # a small sample is a choice here, not an accident
        index.train(sample)
    else:
        raise ValueError(f"Unknown index kind {kind!r}; use 'flat', 'hnsw' or 'ivf'.")
    index.add(corpus)
    return index


def set_search_effort(index: faiss.Index, effort: int) -> str:
    """Set how hard ``index`` searches; returns the parameter's name.

    HNSW: ``efSearch``, the number of candidates the graph walk keeps (at least k is useful).
    IVF: ``nprobe``, the number of cells scanned. More effort: higher recall, fewer queries per
    second. A flat index is exact and has nothing to set.
    """
    faiss = _faiss()
    effort = check_count(effort, "effort")
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = effort
        return "efSearch"
    if isinstance(index, faiss.IndexIVF):
        if effort > index.nlist:
            raise ValueError(f"nprobe={effort} but the index has only {index.nlist} cells.")
        index.nprobe = effort
        return "nprobe"
    raise TypeError(f"{type(index).__name__} has no search effort to set (it is exact).")


def search_index(
    index: faiss.Index, queries: np.ndarray, k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Search a faiss index: (scores, ids), each (queries, k), best first; -1 ids = not found."""
    queries = np.ascontiguousarray(_float_matrix(queries, "queries"))
    if queries.shape[1] != index.d:
        raise ValueError(
            f"queries have dimension {queries.shape[1]} but the index {index.d}: were they made "
            "by the same model?"
        )
    k = check_k(k, index.ntotal, "the index")
    scores, ids = index.search(queries, k)
    return scores, ids


def index_bytes(index: faiss.Index) -> int:
    """Bytes of ``index`` as faiss serialises it: vectors plus graph links, lists and ids.

    The serialised size is what a saved index takes on disk and, within a few percent, what it
    takes in memory once loaded.
    """
    faiss = _faiss()
    return int(faiss.serialize_index(index).nbytes)


# --- compressed embeddings --------------------------------------------------------------------


def quantized_search(
    queries: np.ndarray,
    codes: np.ndarray,
    precision: Literal["int8", "uint8", "binary", "ubinary"],
    k: int = 10,
    *,
    ranges: np.ndarray | None = None,
    block_rows: int = 65_536,
) -> tuple[np.ndarray, np.ndarray]:
    """Search document codes made by ``sentence_transformers.quantize_embeddings``.

    * int8/uint8 (``ranges`` required: the (2, dim) minimum and maximum per dimension used for
      quantising, e.g. ``np.stack([corpus.min(0), corpus.max(0)])``): the float32 query is
      scored against each document as its codes decode back to floats, without ever making a
      float copy of the corpus (the query absorbs the per-dimension step; documents are read
      in blocks of ``block_rows``). Scores approximate the float32 inner products.
    * binary/ubinary: the query is binarised too (sign of each dimension) and documents are
      ranked by Hamming distance, the number of differing bits, with faiss's binary index
      (XOR and popcount: the fastest comparison a CPU has). Scores are ``-distance``; many
      documents tie, which is why binary search is followed by rescoring.

    Returns (scores, ids), each (queries, k), best first.
    """
    queries = _float_matrix(queries, "queries")
    if not isinstance(codes, np.ndarray) or codes.ndim != 2 or codes.shape[0] == 0:
        raise ValueError("codes must be a non-empty 2-D array made by quantize_embeddings.")
    k = check_k(k, codes.shape[0])
    if precision in ("int8", "uint8"):
        expected = np.int8 if precision == "int8" else np.uint8
        if codes.dtype != expected:
            raise TypeError(
                f"{precision} codes must have dtype {np.dtype(expected)}, not {codes.dtype}."
            )
        if ranges is None:
            raise ValueError(
                f"{precision} search needs the ranges the codes were made with (shape (2, dim))."
            )
        ranges = np.asarray(ranges, dtype=np.float32)
        if ranges.shape != (2, codes.shape[1]):
            raise ValueError(f"ranges must have shape (2, {codes.shape[1]}), got {ranges.shape}.")
        _same_dimension(queries, codes)
        # quantize_embeddings stores floor((x - start) / step) - 128 (int8): decode to the
        # middle of the bucket, x ≈ start + step * (code + 128 + 0.5); uint8 has no -128.
        start, step = ranges[0], (ranges[1] - ranges[0]) / 255
        step = np.where(step == 0, 1, step).astype(np.float32)
        shift = 128.5 if precision == "int8" else 0.5
        weighted = (queries * step).astype(np.float32)
        constant = queries @ (start + step * shift)
        best: tuple[np.ndarray, np.ndarray] | None = None
        for first in range(0, codes.shape[0], block_rows):
            block = codes[first : first + block_rows].astype(np.float32)
            scores = weighted @ block.T + constant[:, None]
            best = _merge(best, _top_k_rows(scores, min(k, len(block)), offset=first), k)
        assert best is not None
        return best[0], best[1]
    if precision in ("binary", "ubinary"):
        expected = np.int8 if precision == "binary" else np.uint8
        if codes.dtype != expected:
            raise TypeError(
                f"{precision} codes must have dtype {np.dtype(expected)}, not {codes.dtype}."
            )
        bits = codes.shape[1] * 8
        if not bits - 8 < queries.shape[1] <= bits:
            raise ValueError(
                f"queries have dimension {queries.shape[1]} but the codes hold {bits} bits: were "
                "they made by the same model?"
            )
        faiss = _faiss()
        packed = codes.view(np.uint8) ^ 128 if precision == "binary" else codes  # undo -128
        index = faiss.IndexBinaryFlat(bits)
        index.add(np.ascontiguousarray(packed))
        query_bits = np.packbits(queries > 0, axis=-1).reshape(len(queries), -1)
        distances, ids = index.search(np.ascontiguousarray(query_bits), k)
        return -distances.astype(np.float32), ids
    raise ValueError(f"Unknown precision {precision!r}; use int8, uint8, binary or ubinary.")


def rescore(
    queries: np.ndarray,
    candidate_ids: np.ndarray | Sequence[Sequence[int]],
    corpus: np.ndarray,
    k: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-order each query's candidates by the float32 inner product; keep the best ``k``.

    Compressed codes find the candidates cheaply but order them coarsely (binary codes tie
    often). Rescoring reads only the candidates' full vectors: ``corpus`` may be a memory-mapped
    ``.npy`` file (``np.load(path, mmap_mode="r")``), so the float32 vectors stay on disk and a
    query touches a few hundred rows of them. Ids of ``-1`` are skipped; ties keep the lower id.
    """
    queries = _float_matrix(queries, "queries")
    if not isinstance(corpus, np.ndarray) or corpus.ndim != 2 or corpus.dtype != np.float32:
        raise TypeError(
            "corpus must be the float32 embeddings (a numpy array or np.load(..., "
            "mmap_mode='r')), the vectors the codes were made from."
        )
    _same_dimension(queries, corpus)
    rows = [np.asarray(row, dtype=np.int64) for row in candidate_ids]
    if len(rows) != len(queries):
        raise ValueError(f"{len(queries)} queries but {len(rows)} candidate lists: one per query.")
    k = check_count(k, "k")
    all_scores, all_ids = [], []
    for query, row in zip(queries, rows, strict=True):
        row = row[row >= 0]
        if np.any(row >= len(corpus)):
            raise ValueError(f"candidate ids point outside the corpus of {len(corpus)} rows.")
        unique = np.unique(row)
        check_k(k, len(unique), "the candidates")
        scores = np.asarray(corpus[np.sort(unique)], dtype=np.float32) @ query
        order = np.lexsort((np.sort(unique), -scores))[:k]
        all_scores.append(scores[order])
        all_ids.append(np.sort(unique)[order])
    return np.stack(all_scores), np.stack(all_ids)
