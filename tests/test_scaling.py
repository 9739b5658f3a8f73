"""rerank_lab.course.scaling: memory arithmetic, exact search, distractor copies, faiss indexes,
quantised search and rescoring, on small hand-checked cases (timings are never asserted)."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import quantize_embeddings

from rerank_lab.course import scaling


def _unit(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# --- memory -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "dim", "precision", "expected"),
    [
        (1_000_000, 384, "float32", 1_536_000_000),
        (1_000_000, 384, "float16", 768_000_000),
        (1_000_000, 384, "int8", 384_000_000),
        (1_000_000, 384, "binary", 48_000_000),
        (10, 100, "ubinary", 130),  # 100 bits fill 13 bytes
        (0, 384, "float32", 0),
    ],
)
def test_embedding_bytes(n: int, dim: int, precision: str, expected: int) -> None:
    assert scaling.embedding_bytes(n, dim, precision) == expected


def test_embedding_bytes_matches_quantize_embeddings() -> None:
    vectors = _unit(7, 100)
    for precision in ("float32", "int8", "binary"):
        codes = quantize_embeddings(vectors, precision)
        assert codes.nbytes == scaling.embedding_bytes(7, 100, precision)


def test_embedding_bytes_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="Unknown precision"):
        scaling.embedding_bytes(10, 8, "int4")
    with pytest.raises(ValueError, match="at least 1"):
        scaling.embedding_bytes(10, 0)
    with pytest.raises(TypeError, match="must be an int"):
        scaling.embedding_bytes(1.5, 8)


def test_format_bytes() -> None:
    assert scaling.format_bytes(512) == "512 B"
    assert scaling.format_bytes(1_536_000_000) == "1.5 GB"
    assert scaling.format_bytes(48_000_000) == "48.0 MB"
    with pytest.raises(ValueError):
        scaling.format_bytes(-1)


# --- exact search -----------------------------------------------------------------------------


def test_exact_search_by_hand() -> None:
    corpus = np.array([[1, 0], [0, 1], [0.6, 0.8], [1, 0]], dtype=np.float32)
    query = np.array([[1, 0]], dtype=np.float32)
    scores, ids = scaling.exact_search(query, corpus, k=3)
    assert ids.tolist() == [[0, 3, 2]]  # the tie between rows 0 and 3: lower id first
    assert np.allclose(scores, [[1, 1, 0.6]])


def test_exact_search_rejects_bad_input() -> None:
    corpus = _unit(5, 4)
    with pytest.raises(ValueError, match="larger than the corpus"):
        scaling.exact_search(corpus[:1], corpus, k=6)
    with pytest.raises(TypeError, match="float32"):
        scaling.exact_search(corpus[:1], corpus.astype(np.float64))
    with pytest.raises(TypeError, match="quantised codes"):
        scaling.exact_search(corpus[:1], quantize_embeddings(corpus, "int8"))
    with pytest.raises(ValueError, match="non-empty"):
        scaling.exact_search(corpus[:1], corpus[:0])
    with pytest.raises(ValueError, match="dimension"):
        scaling.exact_search(_unit(1, 3), corpus)


def test_distractor_copies_keep_structure_and_map_back() -> None:
    corpus = _unit(50, 16)
    copies = scaling.distractor_copies(corpus, 3, seed=1)
    assert copies.shape == (150, 16)
    assert np.array_equal(copies[:50], corpus)  # copy 0 is the corpus itself
    for number in (1, 2):
        copy = copies[50 * number : 50 * (number + 1)]
        assert np.array_equal(copy, scaling.distractor_copy(corpus, number, seed=1))
        # A rotation: the copy's own similarities are the corpus's.
        assert np.allclose(copy @ copy.T, corpus @ corpus.T, atol=1e-5)
        assert not np.allclose(copy, corpus)


def test_timed_exact_search_matches_search_over_the_stacked_copies() -> None:
    corpus, queries = _unit(40, 8, seed=2), _unit(6, 8, seed=3)
    scores, ids, seconds = scaling.timed_exact_search(queries, corpus, k=12, copies=4, seed=5)
    expected_scores, expected_ids = scaling.exact_search(
        queries, scaling.distractor_copies(corpus, 4, seed=5), k=12
    )
    assert np.array_equal(ids, expected_ids)
    assert np.allclose(scores, expected_scores)
    assert seconds >= 0
    with pytest.raises(ValueError, match="with its copies"):
        scaling.timed_exact_search(queries, corpus, k=161, copies=4)


# --- recall@k ---------------------------------------------------------------------------------


def test_recall_at_k_by_hand() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[2, 1, 9, 3], [5, -1, 6, 7]])
    # Top 2: {2, 1} vs {1, 2} → 1; {5, -1} vs {5, 6} → 1/2. Mean 0.75.
    assert scaling.recall_at_k(found, exact, k=2) == pytest.approx(0.75)
    # Top 4: {1, 2, 3} of 4 → 3/4; {5, 6, 7} of 4 → 3/4.
    assert scaling.recall_at_k(found, exact, k=4) == pytest.approx(0.75)
    assert scaling.recall_at_k(exact, exact, k=4) == 1.0


def test_recall_at_k_rejects_bad_input() -> None:
    exact = np.array([[1, 2, 3]])
    with pytest.raises(ValueError, match="search at least k deep"):
        scaling.recall_at_k(exact, exact, k=4)
    with pytest.raises(ValueError, match="same queries"):
        scaling.recall_at_k(np.array([[1, 2, 3], [4, 5, 6]]), exact, k=2)
    with pytest.raises(ValueError, match="2-D"):
        scaling.recall_at_k(np.array([1, 2, 3]), exact, k=2)


# --- faiss indexes ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_indexes_find_the_exact_neighbours_when_searching_hard(kind: str) -> None:
    corpus, queries = _unit(400, 16, seed=4), _unit(20, 16, seed=5)
    index = scaling.build_index(corpus, kind, nlist=8)
    if kind == "hnsw":
        assert scaling.set_search_effort(index, 400) == "efSearch"
    elif kind == "ivf":
        assert scaling.set_search_effort(index, 8) == "nprobe"  # every cell: exact
    scores, ids = scaling.search_index(index, queries, k=10)
    _, exact_ids = scaling.exact_search(queries, corpus, k=10)
    assert ids.shape == (20, 10) and scores.shape == (20, 10)
    assert scaling.recall_at_k(ids, exact_ids, k=10) == 1.0
    assert scaling.index_bytes(index) >= scaling.embedding_bytes(400, 16)


def test_ivf_with_one_probe_can_miss_and_effort_is_checked() -> None:
    corpus, queries = _unit(400, 16, seed=6), _unit(30, 16, seed=7)
    index = scaling.build_index(corpus, "ivf", nlist=16)
    scaling.set_search_effort(index, 1)
    _, ids = scaling.search_index(index, queries, k=10)
    _, exact_ids = scaling.exact_search(queries, corpus, k=10)
    assert scaling.recall_at_k(ids, exact_ids, k=10) < 1.0
    with pytest.raises(ValueError, match="only 16 cells"):
        scaling.set_search_effort(index, 17)
    with pytest.raises(TypeError, match="exact"):
        scaling.set_search_effort(scaling.build_index(corpus, "flat"), 4)
    with pytest.raises(ValueError, match="larger than the index"):
        scaling.search_index(index, queries, k=401)
    with pytest.raises(ValueError, match="Unknown index kind"):
        scaling.build_index(corpus, "lsh")  # type: ignore[arg-type]


# --- quantised search and rescoring -----------------------------------------------------------


def test_int8_search_approximates_float32_scores() -> None:
    corpus, queries = _unit(300, 32, seed=8), _unit(5, 32, seed=9)
    ranges = np.stack([corpus.min(axis=0), corpus.max(axis=0)])
    codes = quantize_embeddings(corpus, "int8", ranges=ranges)
    scores, ids = scaling.quantized_search(queries, codes, "int8", k=10, ranges=ranges)
    exact_scores = queries @ corpus.T
    # Each score is the inner product with the decoded vector: within a few steps of float32.
    assert np.allclose(scores, np.take_along_axis(exact_scores, ids, axis=1), atol=0.05)
    _, exact_ids = scaling.exact_search(queries, corpus, k=10)
    assert scaling.recall_at_k(ids, exact_ids, k=10) >= 0.8
    # The same result when the corpus is read in small blocks.
    blocked = scaling.quantized_search(queries, codes, "int8", k=10, ranges=ranges, block_rows=7)
    assert np.array_equal(blocked[1], ids)
    with pytest.raises(ValueError, match="needs the ranges"):
        scaling.quantized_search(queries, codes, "int8")
    with pytest.raises(TypeError, match="dtype int8"):
        scaling.quantized_search(queries, codes.view(np.uint8), "int8", ranges=ranges)


def test_binary_search_ranks_by_hamming_distance() -> None:
    corpus = np.array(
        [[1, 1, 1, 1, 1, 1, 1, 1], [-1, 1, 1, 1, 1, 1, 1, 1], [-1, -1, -1, 1, 1, 1, 1, 1]],
        dtype=np.float32,
    )
    query = np.ones((1, 8), dtype=np.float32)
    for precision in ("binary", "ubinary"):
        codes = quantize_embeddings(corpus, precision)
        scores, ids = scaling.quantized_search(query, codes, precision, k=3)
        assert ids.tolist() == [[0, 1, 2]]
        assert scores.tolist() == [[0, -1, -3]]  # minus the number of differing bits


def test_rescore_orders_candidates_by_float32_inner_product() -> None:
    corpus = np.array([[1, 0], [0.8, 0.6], [0, 1], [0.6, 0.8], [-1, 0]], dtype=np.float32)
    query = np.array([[1, 0]], dtype=np.float32)
    # Candidates from a coarse search, in its order, with a duplicate and faiss's -1 padding.
    scores, ids = scaling.rescore(query, [[2, 3, 1, 3, -1]], corpus, k=2)
    assert ids.tolist() == [[1, 3]]  # row 0 is not a candidate, so it cannot come back
    assert np.allclose(scores, [[0.8, 0.6]])


def test_rescore_reads_a_memory_mapped_file(tmp_path) -> None:  # noqa: ANN001
    corpus, queries = _unit(100, 8, seed=10), _unit(3, 8, seed=11)
    np.save(tmp_path / "corpus.npy", corpus)
    on_disk = np.load(tmp_path / "corpus.npy", mmap_mode="r")
    candidates = np.tile(np.arange(0, 100, 2), (3, 1))
    _, ids = scaling.rescore(queries, candidates, on_disk, k=5)
    even = corpus[::2]
    expected = 2 * np.argsort(-(queries @ even.T), axis=1, kind="stable")[:, :5]
    assert np.array_equal(ids, expected)


def test_rescore_rejects_bad_input() -> None:
    corpus, query = _unit(10, 4), _unit(1, 4)
    with pytest.raises(ValueError, match="larger than the candidates"):
        scaling.rescore(query, [[1, 2]], corpus, k=3)
    with pytest.raises(ValueError, match="one per query"):
        scaling.rescore(query, [[1, 2], [3, 4]], corpus, k=1)
    with pytest.raises(ValueError, match="outside the corpus"):
        scaling.rescore(query, [[1, 20]], corpus, k=1)
    with pytest.raises(TypeError, match="float32 embeddings"):
        scaling.rescore(query, [[1, 2]], quantize_embeddings(corpus, "int8"), k=1)


def test_exact_search_breaks_ties_at_the_cut_towards_the_lower_id() -> None:
    """Scores tied at the k-th place go to the lower ids, as in ``rl.search`` (argpartition
    alone keeps an arbitrary one of them)."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = rng.integers(0, 4, size=(5, 40)).astype(np.float32)  # many ties
        k = int(rng.integers(1, 40))
        top_scores, top_ids = scaling._top_k_rows(scores, k)
        for row in range(scores.shape[0]):
            expected = sorted(range(scores.shape[1]), key=lambda i: (-scores[row, i], i))[:k]
            assert top_ids[row].tolist() == expected
            np.testing.assert_array_equal(top_scores[row], scores[row, expected])
