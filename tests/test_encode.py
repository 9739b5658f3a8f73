"""Tests of rerank_lab.encode: the embeddings are right, cached per text, never trusted if corrupt.

Two models: the real offline MiniLM (loaded once per session) for results that must be right,
and a tiny random BERT (32 dims, built in a fraction of a second) for the cache plumbing. Every
test gets its own empty cache through the ``temp_cache`` fixture, so the real cache of the
checkout is never read or written here, and starts with nothing remembered in memory.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from rerank_lab import encode as enc
from rerank_lab.course import embedding_cache as cache
from rerank_lab.course.embedding_cache import EmbeddingCache, store_key
from rerank_lab.encode import encode

pytestmark = pytest.mark.usefixtures("temp_cache", "empty_memory")

TEXTS = [
    "How do I fix a flat bicycle tyre?",
    "Patch the inner tube, then pump the tyre back up.",
    "Sourdough bread rises thanks to wild yeast.",
    "The Roman town of Pompeii was buried by ash.",
    "Green tea tastes bitter when the water is too hot.",
    "Black holes bend light around them.",
]

OPTIONS = {"normalize": True, "prompt_name": None}


@pytest.fixture
def empty_memory() -> Iterator[None]:
    """Nothing remembered in memory (loaded stores, fingerprints) before or after a test."""
    cache.clear_memory()
    yield
    cache.clear_memory()


class EncodeSpy:
    """Wraps a model's ``encode`` and records the batch size and the texts of every call."""

    def __init__(
        self,
        model: Any,
        monkeypatch: pytest.MonkeyPatch,
        fail: Callable[[int], BaseException | None] = lambda size: None,
    ) -> None:
        self.batch_sizes: list[int] = []
        self.texts: list[list[str]] = []
        original = model.encode

        def spy(texts: Any, *args: Any, **kwargs: Any) -> Any:
            self.batch_sizes.append(kwargs["batch_size"])
            self.texts.append(list(texts))
            error = fail(kwargs["batch_size"])
            if error is not None:
                raise error
            return original(texts, *args, **kwargs)

        monkeypatch.setattr(model, "encode", spy)

    @property
    def calls(self) -> int:
        return len(self.batch_sizes)


def _store(temp_cache: Path, model: Any, **options: Any) -> Path:
    """The folder of the model's store (default options unless given) in the test's cache."""
    return temp_cache / "embeddings" / store_key(model, {**OPTIONS, **options})


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def _shards(folder: Path) -> list[str]:
    """Ids of the complete shards in a store folder, checking each has both of its files."""
    names = _files(folder)
    ids = sorted(name[: -len(".json")] for name in names if name.endswith(".json"))
    assert sorted(names) == sorted([f"{i}.json" for i in ids] + [f"{i}.npy" for i in ids])
    return ids


def _only_shard(folder: Path) -> tuple[Path, Path]:
    """The .npy and .json of the single shard of a store."""
    ids = _shards(folder)
    assert len(ids) == 1, _files(folder)
    return folder / f"{ids[0]}.npy", folder / f"{ids[0]}.json"


def _quiet_encode(model: Any, texts: Any = TEXTS, **kwargs: Any) -> np.ndarray:
    return encode(model, texts, show_progress=False, **kwargs)


# --- the embeddings themselves (real MiniLM) --------------------------------------------------


@pytest.fixture(scope="module")
def minilm_embeddings(minilm: Any) -> np.ndarray:
    """TEXTS encoded once by the real MiniLM, without the cache."""
    return _quiet_encode(minilm, cache=False)


def test_minilm_embeddings_are_unit_float32_rows(
    minilm: Any, minilm_embeddings: np.ndarray
) -> None:
    """One float32 row per text, 384 wide, unit length, the same as the model's own encode."""
    embeddings = minilm_embeddings
    assert embeddings.shape == (len(TEXTS), 384)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    direct = minilm.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(embeddings, direct, atol=1e-5)


def test_minilm_embeddings_carry_meaning(minilm_embeddings: np.ndarray) -> None:
    """The flat-tyre question is closest to the tyre-patching answer."""
    embeddings = minilm_embeddings
    similarities = embeddings[1:] @ embeddings[0]
    assert int(np.argmax(similarities)) == 0  # TEXTS[1]


def test_minilm_cache_round_trip(
    minilm: Any, minilm_embeddings: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the real model too, the second encode is a cache hit with the identical array."""
    spy = EncodeSpy(minilm, monkeypatch)
    first = _quiet_encode(minilm)
    second = _quiet_encode(minilm)
    assert spy.calls == 1
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, minilm_embeddings, atol=1e-6)


def test_minilm_mixed_cached_and_new_texts_match_the_model_in_input_order(
    minilm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows pieced together from the cache and a fresh encode equal the model's own encode
    of the same list: same order, repeats included."""
    _quiet_encode(minilm, texts=TEXTS[:3])
    mixed = [TEXTS[4], TEXTS[0], TEXTS[5], TEXTS[2], TEXTS[0], TEXTS[4], TEXTS[1]]
    direct = minilm.encode(mixed, normalize_embeddings=True, convert_to_numpy=True)
    spy = EncodeSpy(minilm, monkeypatch)
    embeddings = _quiet_encode(minilm, texts=mixed)
    assert spy.texts == [[TEXTS[4], TEXTS[5]]]
    assert embeddings.shape == direct.shape and embeddings.dtype == np.float32
    np.testing.assert_allclose(embeddings, direct, atol=1e-6)
    cache.clear_memory()  # a new kernel: the same rows, read back from disk
    np.testing.assert_array_equal(_quiet_encode(minilm, texts=mixed), embeddings)
    assert spy.calls == 1


# --- the cache (tiny random model) ------------------------------------------------------------


def test_cache_hit_skips_the_model(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """The second identical encode loads the array: the model's encode is not called again."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    first = _quiet_encode(tiny_bi_encoder)
    assert spy.calls == 1
    second = _quiet_encode(tiny_bi_encoder)
    assert spy.calls == 1
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float32
    assert second.shape == (len(TEXTS), 32)


def test_results_are_the_models_own_in_input_order(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cached or not, each row is the model's encode of the text at that position."""
    direct = tiny_bi_encoder.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(_quiet_encode(tiny_bi_encoder), direct, atol=1e-6)
    order = [3, 0, 5, 1, 4, 2]
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    reordered = _quiet_encode(tiny_bi_encoder, texts=[TEXTS[i] for i in order])
    assert spy.calls == 0
    np.testing.assert_allclose(reordered, direct[order], atol=1e-6)


def test_the_result_is_the_callers_to_change(tiny_bi_encoder: Any) -> None:
    """Writing into a returned array does not change what the cache returns next."""
    first = _quiet_encode(tiny_bi_encoder)
    expected = first.copy()
    first[:] = 0
    second = _quiet_encode(tiny_bi_encoder)
    np.testing.assert_array_equal(second, expected)
    second[:] = 0
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder), expected)


def test_a_subset_of_cached_texts_is_not_encoded(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """After the full list, any subset (in any order) comes from the cache alone."""
    full = _quiet_encode(tiny_bi_encoder)
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    subset = _quiet_encode(tiny_bi_encoder, texts=[TEXTS[4], TEXTS[1]])
    assert spy.calls == 0
    np.testing.assert_array_equal(subset, full[[4, 1]])
    assert len(_shards(_store(temp_cache, tiny_bi_encoder))) == 1


def test_a_superset_encodes_only_the_new_texts(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """After a subset, the full list runs the model on the other texts only, as one new shard."""
    direct = tiny_bi_encoder.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    first = _quiet_encode(tiny_bi_encoder, texts=TEXTS[:2])
    full = _quiet_encode(tiny_bi_encoder)
    assert spy.texts == [TEXTS[:2], TEXTS[2:]]
    np.testing.assert_array_equal(full[:2], first)
    np.testing.assert_allclose(full, direct, atol=1e-6)
    assert len(_shards(_store(temp_cache, tiny_bi_encoder))) == 2


def test_an_edited_text_is_the_only_one_encoded(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One changed text in a cached corpus costs one text of encoding, not the corpus."""
    before = _quiet_encode(tiny_bi_encoder)
    edited = [*TEXTS[:3], TEXTS[3] + " It was in 79 AD.", *TEXTS[4:]]
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    after = _quiet_encode(tiny_bi_encoder, texts=edited)
    assert spy.texts == [[edited[3]]]
    np.testing.assert_array_equal(np.delete(after, 3, axis=0), np.delete(before, 3, axis=0))
    assert not np.allclose(after[3], before[3])


def test_repeated_texts_are_encoded_once(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """Duplicates in one call are encoded once and given the same row everywhere."""
    texts = [TEXTS[1], TEXTS[0], TEXTS[1], TEXTS[1], TEXTS[2], TEXTS[0]]
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    embeddings = _quiet_encode(tiny_bi_encoder, texts=texts)
    assert spy.texts == [[TEXTS[1], TEXTS[0], TEXTS[2]]]
    assert embeddings.shape == (6, 32)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(embeddings[i], embeddings[texts.index(text)])
    _, meta_path = _only_shard(_store(temp_cache, tiny_bi_encoder))
    assert json.loads(meta_path.read_text())["hashes"] == cache.text_hashes(
        TEXTS[1::-1] + TEXTS[2:3]
    )


def test_shard_describes_itself(tiny_bi_encoder: Any, temp_cache: Path) -> None:
    """A shard is <id>.npy plus <id>.json: format, shape, dtype, checksum, store, row hashes."""
    embeddings = _quiet_encode(tiny_bi_encoder, normalize=False)
    folder = _store(temp_cache, tiny_bi_encoder, normalize=False)
    array_path, meta_path = _only_shard(folder)
    meta = json.loads(meta_path.read_text())
    assert meta["format"] == cache.CACHE_FORMAT
    assert meta["shape"] == [len(TEXTS), 32]
    assert meta["dtype"] == "float32"
    assert meta["hashes"] == cache.text_hashes(TEXTS)
    assert meta["checksum"] == cache._shard_checksum(meta["hashes"], embeddings)
    assert meta["store"]["options"] == {"normalize": False, "prompt_name": None}
    assert meta["store"]["model"] == cache.model_fingerprint(tiny_bi_encoder)
    assert meta["store"]["max_seq_length"] == 64
    assert store_key(tiny_bi_encoder, {**OPTIONS, "normalize": False}) == folder.name
    np.testing.assert_array_equal(np.load(array_path), embeddings)


def test_text_hashes_are_per_text() -> None:
    """Each text has its own 32-hex-digit hash, equal texts equal hashes."""
    hashes = cache.text_hashes(["ab", "c", "a", "bc", "ab", ""])
    assert all(len(h) == 32 and int(h, 16) >= 0 for h in hashes)
    assert hashes[0] == hashes[4]
    assert len(set(hashes)) == 5
    assert cache.text_hashes(["café"]) != cache.text_hashes(["cafe"])


def test_atomic_writes_leave_no_temporary_files(tiny_bi_encoder: Any, temp_cache: Path) -> None:
    """After encoding only complete shards remain (no '.<name>.*' temp files)."""
    _quiet_encode(tiny_bi_encoder, texts=TEXTS[:3])
    _quiet_encode(tiny_bi_encoder)
    _quiet_encode(tiny_bi_encoder, normalize=False)
    stores = sorted((temp_cache / "embeddings").iterdir())
    assert len(stores) == 2
    names = [name for store in stores for name in _files(store)]
    assert len(names) == 6
    assert not [name for name in names if name.startswith(".")]


def test_a_write_interrupted_between_the_two_files_is_a_silent_miss(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """Killed after the .npy but before the .json: no shard exists, the next call re-encodes
    (without a warning) and overwrites the stray .npy with a complete shard."""
    real_write = cache.write_atomically

    def interrupted(path: Path, write: Any) -> None:
        if path.suffix == ".json":
            raise KeyboardInterrupt
        real_write(path, write)

    monkeypatch.setattr(cache, "write_atomically", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _quiet_encode(tiny_bi_encoder)
    folder = _store(temp_cache, tiny_bi_encoder)
    assert [name[-4:] for name in _files(folder)] == [".npy"]
    monkeypatch.setattr(cache, "write_atomically", real_write)
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _quiet_encode(tiny_bi_encoder)
    assert spy.texts == [TEXTS]
    _only_shard(folder)


def test_cache_false_never_touches_the_cache(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """cache=False encodes every time and writes nothing."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    _quiet_encode(tiny_bi_encoder, cache=False)
    _quiet_encode(tiny_bi_encoder, cache=False)
    assert spy.calls == 2
    assert not (temp_cache / "embeddings").exists()


def test_an_explicit_cache_puts_entries_elsewhere(
    tiny_bi_encoder: Any, tmp_path: Path, temp_cache: Path
) -> None:
    """Passing an EmbeddingCache stores there and not in the default cache; clear() empties it."""
    store = EmbeddingCache(tmp_path / "elsewhere")
    first = _quiet_encode(tiny_bi_encoder, cache=store)
    key = store_key(tiny_bi_encoder, OPTIONS)
    assert _files(store.root) == [key]
    assert len(store.shards(key)) == 1
    assert not (temp_cache / "embeddings").exists()
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder, cache=store), first)
    (store.root / "0123.npy").write_bytes(b"an entry of the old one-file-per-list format")
    assert store.clear() == 3
    assert _files(store.root) == []
    assert store.get(key, cache.text_hashes(TEXTS))[0] is None  # nothing left in memory either


def test_default_cache_lives_under_rerank_lab_cache(temp_cache: Path) -> None:
    """EmbeddingCache.default() follows RERANK_LAB_CACHE (here the test's own folder)."""
    assert EmbeddingCache.default().root == temp_cache / "embeddings"


def test_a_pandas_column_is_a_list_of_texts(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """df['text'] works as well as a list, and hits the same cache entries."""
    frame = pd.DataFrame({"text": TEXTS})
    from_list = _quiet_encode(tiny_bi_encoder)
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder, texts=frame["text"]), from_list)
    assert spy.calls == 0


def test_store_api_get_and_add(tiny_bi_encoder: Any, tmp_path: Path) -> None:
    """get() reports found rows (zeros elsewhere); add() checks what it is given."""
    store = EmbeddingCache(tmp_path / "cache")
    description = cache.store_description(tiny_bi_encoder, OPTIONS)
    key = store_key(tiny_bi_encoder, OPTIONS)
    hashes = cache.text_hashes(TEXTS)
    assert store.get(key, hashes)[0] is None
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    store.add(key, hashes[:3], vectors, description)
    got, found = store.get(key, [hashes[2], hashes[4], hashes[0]])
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(got, [vectors[2], np.zeros(4), vectors[0]])
    with pytest.raises(ValueError, match="one row per hash"):
        store.add(key, hashes[:2], vectors, description)
    with pytest.raises(ValueError, match="key is not the hash of description"):
        store.add("0" * 32, hashes[:3], vectors, description)


# --- shards in memory and compaction -----------------------------------------------------------


def test_a_repeated_call_reads_nothing_from_disk(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one session, a store whose files did not change is served from memory."""
    first = _quiet_encode(tiny_bi_encoder)
    monkeypatch.setattr(np, "load", lambda *args, **kwargs: pytest.fail("read from disk"))
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder), first)


def test_a_shard_written_by_another_process_is_picked_up(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """The in-memory index notices a shard that appeared on disk since it was loaded."""
    first = _quiet_encode(tiny_bi_encoder, texts=TEXTS[:3])
    description = cache.store_description(tiny_bi_encoder, OPTIONS)
    key = store_key(tiny_bi_encoder, OPTIONS)
    others = np.full((3, 32), 0.5, dtype=np.float32)
    EmbeddingCache.default()._write_shard(key, cache.text_hashes(TEXTS[3:]), others, description)
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    embeddings = _quiet_encode(tiny_bi_encoder)
    assert spy.calls == 0
    np.testing.assert_array_equal(embeddings, np.concatenate([first, others]))


def test_a_shard_removed_while_loading_is_not_corrupt(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard listed but gone when read (merged away by another process) is silently skipped
    and the folder listed again."""
    first = _quiet_encode(tiny_bi_encoder)
    cache.clear_memory()
    real_scan = EmbeddingCache._scan
    calls: list[int] = []

    def scan(folder: Path) -> dict[str, Any]:
        calls.append(1)
        listing = real_scan(folder)
        if len(calls) == 1:
            listing["f" * 32] = ((1, 1, 1), (1, 1, 1))
        return listing

    monkeypatch.setattr(EmbeddingCache, "_scan", staticmethod(scan))
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder), first)
    assert spy.calls == 0
    assert len(calls) == 2


def test_many_small_shards_are_merged_but_the_largest_is_kept(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """Past MAX_SHARDS the smaller shards become one; results stay identical, nothing re-encoded."""
    monkeypatch.setattr(cache, "MAX_SHARDS", 3)
    folder = _store(temp_cache, tiny_bi_encoder)
    corpus = [f"document number {i}" for i in range(20)]
    expected = {"corpus": _quiet_encode(tiny_bi_encoder, texts=corpus)}
    (largest,) = _shards(folder)
    for i in range(2):
        expected[TEXTS[i]] = _quiet_encode(tiny_bi_encoder, texts=[TEXTS[i]])
    assert len(_shards(folder)) == 3
    expected[TEXTS[2]] = _quiet_encode(tiny_bi_encoder, texts=[TEXTS[2]])
    shards = _shards(folder)  # 4 > MAX_SHARDS: the three small ones were merged
    assert len(shards) == 2 and largest in shards
    expected[TEXTS[3]] = _quiet_encode(tiny_bi_encoder, texts=[TEXTS[3]])
    assert len(_shards(folder)) == 3
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    cache.clear_memory()
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder, texts=corpus), expected["corpus"])
    for i in range(4):
        np.testing.assert_array_equal(
            _quiet_encode(tiny_bi_encoder, texts=[TEXTS[i]]), expected[TEXTS[i]]
        )
    assert spy.calls == 0


def test_compact_merges_everything_into_one_shard(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """compact() leaves one shard holding each text once, with the same vectors."""
    for i in range(len(TEXTS)):
        _quiet_encode(tiny_bi_encoder, texts=TEXTS[: i + 1])
    folder = _store(temp_cache, tiny_bi_encoder)
    assert len(_shards(folder)) == len(TEXTS)
    before = _quiet_encode(tiny_bi_encoder)
    store, key = EmbeddingCache.default(), folder.name
    assert store.compact(key)
    _, meta_path = _only_shard(folder)
    assert sorted(json.loads(meta_path.read_text())["hashes"]) == sorted(cache.text_hashes(TEXTS))
    assert not store.compact(key)  # one shard: nothing to do
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    cache.clear_memory()
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder), before)
    assert spy.calls == 0


def test_texts_cached_twice_are_kept_once_by_a_merge(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """Two processes may each cache the same text; a merge keeps the row that was served."""
    _quiet_encode(tiny_bi_encoder, texts=TEXTS[:4])
    description = cache.store_description(tiny_bi_encoder, OPTIONS)
    key = store_key(tiny_bi_encoder, OPTIONS)
    store = EmbeddingCache.default()
    store._write_shard(key, cache.text_hashes(TEXTS[2:]), np.ones((4, 32), np.float32), description)
    served = _quiet_encode(tiny_bi_encoder)
    assert store.compact(key)
    _, meta_path = _only_shard(_store(temp_cache, tiny_bi_encoder))
    assert sorted(json.loads(meta_path.read_text())["hashes"]) == sorted(cache.text_hashes(TEXTS))
    cache.clear_memory()
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder), served)


def test_a_cache_that_cannot_be_written_still_gives_the_embeddings(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """A full or read-only disk costs the cache (with a warning), never the encoded result."""

    def refuse(path: Path, write: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "write_atomically", refuse)
    with pytest.warns(UserWarning, match=r"Could not write to the embedding cache .*No space"):
        embeddings = _quiet_encode(tiny_bi_encoder)
    direct = tiny_bi_encoder.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(embeddings, direct, atol=1e-6)
    assert _files(_store(temp_cache, tiny_bi_encoder)) == []


# --- what the store key depends on ------------------------------------------------------------


def test_store_key_does_not_depend_on_the_texts(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """Any list of texts encoded with one model and options goes to the same store."""
    _quiet_encode(tiny_bi_encoder, texts=TEXTS[:2])
    _quiet_encode(tiny_bi_encoder, texts=TEXTS[::-1])
    assert _files(temp_cache / "embeddings") == [store_key(tiny_bi_encoder, OPTIONS)]


def test_store_key_depends_on_the_options(tiny_bi_encoder: Any) -> None:
    """Normalisation, the prompt and max_seq_length each change the key."""
    key = store_key(tiny_bi_encoder, OPTIONS)
    assert store_key(tiny_bi_encoder, dict(OPTIONS)) == key
    assert store_key(tiny_bi_encoder, {**OPTIONS, "normalize": False}) != key
    assert store_key(tiny_bi_encoder, {**OPTIONS, "prompt_name": "query"}) != key
    tiny_bi_encoder.max_seq_length = 16
    assert store_key(tiny_bi_encoder, OPTIONS) != key


def test_store_key_depends_on_the_prompt_text(tiny_bi_encoder: Any) -> None:
    """Editing the text of the prompt in use (or the default prompt) changes the key."""
    tiny_bi_encoder.prompts = {"query": "query: "}
    key = store_key(tiny_bi_encoder, {**OPTIONS, "prompt_name": "query"})
    plain = store_key(tiny_bi_encoder, OPTIONS)
    tiny_bi_encoder.prompts = {"query": "search_query: "}
    assert store_key(tiny_bi_encoder, {**OPTIONS, "prompt_name": "query"}) != key
    assert store_key(tiny_bi_encoder, OPTIONS) == plain
    tiny_bi_encoder.default_prompt_name = "query"
    assert store_key(tiny_bi_encoder, OPTIONS) != plain


def test_store_key_depends_on_the_pooling(tiny_bi_encoder: Any, tiny_bert_dir: Path) -> None:
    """The same weights pooled another way (CLS instead of mean) are another store."""
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(str(tiny_bert_dir), max_seq_length=64)
    cls = SentenceTransformer(
        modules=[transformer, models.Pooling(32, pooling_mode="cls")], device="cpu"
    )
    assert cache.model_fingerprint(cls) == cache.model_fingerprint(tiny_bi_encoder)
    assert store_key(cls, OPTIONS) != store_key(tiny_bi_encoder, OPTIONS)


def test_store_key_depends_on_the_weights(tiny_bi_encoder: Any) -> None:
    """A model with the same name but changed weights (fine-tuned) gets another key."""
    key = store_key(tiny_bi_encoder, OPTIONS)
    with torch.no_grad():
        next(tiny_bi_encoder.parameters())[0, 0] += 1e-3
    assert store_key(tiny_bi_encoder, OPTIONS) != key


def test_fingerprint_is_the_same_for_the_same_weights(
    tiny_bi_encoder: Any, tiny_bert_dir: Path
) -> None:
    """Two loads of one model share a fingerprint and a store, so a new kernel hits the cache."""
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(str(tiny_bert_dir), max_seq_length=64)
    again = SentenceTransformer(
        modules=[transformer, models.Pooling(32, pooling_mode="mean")], device="cpu"
    )
    assert cache.model_fingerprint(again) == cache.model_fingerprint(tiny_bi_encoder)
    assert store_key(again, OPTIONS) == store_key(tiny_bi_encoder, OPTIONS)


def test_fingerprint_is_remembered_until_a_weight_changes(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The weights are hashed once per model; an optimiser step makes them hashed again."""
    import hashlib

    fingerprint = cache.model_fingerprint(tiny_bi_encoder)
    real = hashlib.blake2b
    hashed: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        hashed.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache.hashlib, "blake2b", counting)
    assert cache.model_fingerprint(tiny_bi_encoder) == fingerprint
    assert hashed == []
    optimizer = torch.optim.SGD(tiny_bi_encoder.parameters(), lr=0.1)
    features = tiny_bi_encoder.preprocess(TEXTS[:2])
    tiny_bi_encoder(features)["sentence_embedding"].sum().backward()
    optimizer.step()
    assert cache.model_fingerprint(tiny_bi_encoder) != fingerprint
    assert hashed == [1]


def test_a_change_behind_pytorchs_back_needs_clear_memory(tiny_bi_encoder: Any) -> None:
    """param.data.mul_() bypasses the version counter: the documented caveat and its cure."""
    fingerprint = cache.model_fingerprint(tiny_bi_encoder)
    next(tiny_bi_encoder.parameters()).data.mul_(2)
    assert cache.model_fingerprint(tiny_bi_encoder) == fingerprint  # stale, as documented
    cache.clear_memory()
    assert cache.model_fingerprint(tiny_bi_encoder) != fingerprint


def test_normalize_option_misses_the_cache(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """normalize=False is another store, with raw (non-unit) mean-pooled vectors."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    unit = _quiet_encode(tiny_bi_encoder, normalize=True)
    raw = _quiet_encode(tiny_bi_encoder, normalize=False)
    assert spy.calls == 2
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), unit, atol=1e-5)


def test_changed_weights_miss_the_cache(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After 'fine-tuning' (a weight change) the model is run again and the result differs."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    before = _quiet_encode(tiny_bi_encoder)
    with torch.no_grad():
        for parameter in tiny_bi_encoder.parameters():
            parameter.mul_(1.5)
    after = _quiet_encode(tiny_bi_encoder)
    assert spy.calls == 2
    assert spy.texts[1] == TEXTS
    assert not np.allclose(before, after)


# --- corrupt shards are rebuilt, never trusted ------------------------------------------------


def _corrupt_and_reencode(
    tiny_bi_encoder: Any,
    monkeypatch: pytest.MonkeyPatch,
    temp_cache: Path,
    damage: Callable[[Path, Path], None],
    warning: str | None,
) -> None:
    """Encode, damage the shard, and check the re-encode rebuilds it with the same result."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    original = _quiet_encode(tiny_bi_encoder)
    folder = _store(temp_cache, tiny_bi_encoder)
    array_path, meta_path = _only_shard(folder)
    damage(array_path, meta_path)
    cache.clear_memory()  # a new kernel (damage in place may keep a file's size and mtime)
    if warning is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a plain miss is silent
            rebuilt = _quiet_encode(tiny_bi_encoder)
    else:
        with pytest.warns(UserWarning, match=warning) as record:
            rebuilt = _quiet_encode(tiny_bi_encoder)
        assert str(array_path) in str(record[0].message)
    assert spy.texts == [TEXTS, TEXTS]
    np.testing.assert_allclose(rebuilt, original, atol=1e-6)
    _only_shard(folder)  # rebuilt as one complete shard again
    cache.clear_memory()
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder), rebuilt)
    assert spy.calls == 2  # and trusted again


def _truncate(array_path: Path, meta_path: Path) -> None:
    data = array_path.read_bytes()
    array_path.write_bytes(data[: len(data) // 2])


def _truncate_to_header(array_path: Path, meta_path: Path) -> None:
    array_path.write_bytes(array_path.read_bytes()[:20])


def _garble_meta(array_path: Path, meta_path: Path) -> None:
    meta_path.write_text('{"format": 2, "shape": [6, ')


def _empty_meta(array_path: Path, meta_path: Path) -> None:
    meta_path.write_text("{}")


def _list_meta(array_path: Path, meta_path: Path) -> None:
    meta_path.write_text("[]")


def _delete_meta(array_path: Path, meta_path: Path) -> None:
    meta_path.unlink()


def _delete_array(array_path: Path, meta_path: Path) -> None:
    array_path.unlink()


def _wrong_shape(array_path: Path, meta_path: Path) -> None:
    np.save(array_path, np.load(array_path)[:, :-1])


def _rewrite(array_path: Path, meta_path: Path, array: np.ndarray, **changes: Any) -> None:
    """Save ``array`` and metadata that matches it (shape, checksum) except for ``changes``."""
    meta = json.loads(meta_path.read_text())
    meta.update(shape=list(array.shape), **changes)
    meta["checksum"] = cache._shard_checksum(meta["hashes"], array)
    np.save(array_path, array)
    meta_path.write_text(json.dumps(meta))


def _fewer_rows(array_path: Path, meta_path: Path) -> None:
    """A row dropped, metadata rewritten to match: only the row hashes give it away."""
    _rewrite(array_path, meta_path, np.load(array_path)[:-1])


def _bad_hash(array_path: Path, meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text())
    _rewrite(array_path, meta_path, np.load(array_path), hashes=[*meta["hashes"][:-1], "xyz"])


def _swapped_hashes(array_path: Path, meta_path: Path) -> None:
    """Two row hashes swapped: each text would get the other's vector."""
    meta = json.loads(meta_path.read_text())
    hashes = meta["hashes"]
    hashes[0], hashes[1] = hashes[1], hashes[0]
    meta_path.write_text(json.dumps(meta))


def _wrong_dtype(array_path: Path, meta_path: Path) -> None:
    np.save(array_path, np.load(array_path).astype(np.float64))


def _float64_throughout(array_path: Path, meta_path: Path) -> None:
    """A float64 array with matching metadata is still not what the cache writes."""
    _rewrite(array_path, meta_path, np.load(array_path).astype(np.float64), dtype="float64")


def _changed_values(array_path: Path, meta_path: Path) -> None:
    np.save(array_path, np.load(array_path) * 2)


def _old_format(array_path: Path, meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format": 1}))


def _other_store(array_path: Path, meta_path: Path) -> None:
    """A shard that says it was made by other weights (copied into the wrong folder)."""
    meta = json.loads(meta_path.read_text())
    meta["store"]["model"] = "0" * 32
    meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "warning"),
    [
        (_truncate, r"is corrupt \(unreadable \(\w+\)\); deleting it"),
        (_truncate_to_header, r"is corrupt \(unreadable \(\w+\)\); deleting it"),
        (_garble_meta, r"is corrupt \(unreadable \(JSONDecodeError\)\)"),
        (_empty_meta, r"is corrupt \(unreadable \(KeyError\)\)"),
        (_list_meta, r"is corrupt \(unreadable \(TypeError\)\)"),
        (_delete_array, r"is corrupt \(unreadable \(FileNotFoundError\)\)"),
        (_wrong_shape, r"is corrupt \(shape, checksum\)"),
        (_fewer_rows, r"is corrupt \(shape\)"),
        (_bad_hash, r"is corrupt \(hashes, shape, checksum\)"),
        (_swapped_hashes, r"is corrupt \(checksum\)"),
        (_wrong_dtype, r"is corrupt \(dtype, checksum\)"),
        (_float64_throughout, r"is corrupt \(dtype\)"),
        (_changed_values, r"is corrupt \(checksum\)"),
        (_old_format, r"is corrupt \(format\)"),
        (_other_store, r"is corrupt \(store\)"),
        (_delete_meta, None),
    ],
    ids=lambda value: (
        value.__name__.lstrip("_") if callable(value) else "silent" if value is None else "warns"
    ),
)
def test_damaged_shard_is_rebuilt(
    tiny_bi_encoder: Any,
    monkeypatch: pytest.MonkeyPatch,
    temp_cache: Path,
    damage: Callable[[Path, Path], None],
    warning: str | None,
) -> None:
    """Each kind of damage is detected (with a warning naming it) and the shard rebuilt."""
    _corrupt_and_reencode(tiny_bi_encoder, monkeypatch, temp_cache, damage, warning)


def test_damage_is_noticed_within_a_session(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """A shard file that changed on disk is read (and checked) again, even without a restart."""
    original = _quiet_encode(tiny_bi_encoder)
    _truncate(*_only_shard(_store(temp_cache, tiny_bi_encoder)))
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    with pytest.warns(UserWarning, match=r"is corrupt \(unreadable"):
        rebuilt = _quiet_encode(tiny_bi_encoder)
    assert spy.calls == 1
    np.testing.assert_allclose(rebuilt, original, atol=1e-6)


def test_only_the_texts_of_a_corrupt_shard_are_encoded_again(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """With two shards and one damaged, the other shard's texts still come from the cache."""
    _quiet_encode(tiny_bi_encoder, texts=TEXTS[:4])
    original = _quiet_encode(tiny_bi_encoder)
    folder = _store(temp_cache, tiny_bi_encoder)
    newer = cache._shard_id(cache.text_hashes(TEXTS[4:]))
    _changed_values(folder / f"{newer}.npy", folder / f"{newer}.json")
    cache.clear_memory()
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    with pytest.warns(UserWarning, match=rf"{newer}\.npy is corrupt \(checksum\)"):
        rebuilt = _quiet_encode(tiny_bi_encoder)
    assert spy.texts == [TEXTS[4:]]
    np.testing.assert_allclose(rebuilt, original, atol=1e-6)
    assert len(_shards(folder)) == 2


def test_a_shard_of_another_width_is_not_mixed_in(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """A self-consistent shard whose vectors are narrower than the store's is discarded."""
    original = _quiet_encode(tiny_bi_encoder, texts=TEXTS[:4])
    description = cache.store_description(tiny_bi_encoder, OPTIONS)
    key = store_key(tiny_bi_encoder, OPTIONS)
    narrow = np.ones((2, 16), dtype=np.float32)
    shard = EmbeddingCache.default()._write_shard(
        key, cache.text_hashes(TEXTS[4:]), narrow, description
    )
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    with pytest.warns(UserWarning, match=rf"{shard}\.npy is corrupt \(width 16 != 32\)"):
        embeddings = _quiet_encode(tiny_bi_encoder)
    assert spy.texts == [TEXTS[4:]]
    np.testing.assert_array_equal(embeddings[:4], original)
    assert embeddings.shape == (6, 32)


def test_get_of_a_corrupt_shard_removes_it(tiny_bi_encoder: Any, tmp_path: Path) -> None:
    """EmbeddingCache.get itself reports the texts of a corrupt shard missing and deletes it."""
    store = EmbeddingCache(tmp_path)
    key = store_key(tiny_bi_encoder, OPTIONS)
    hashes = cache.text_hashes(TEXTS[:3])
    store.add(
        key,
        hashes,
        np.ones((3, 2), dtype=np.float32),
        cache.store_description(tiny_bi_encoder, OPTIONS),
    )
    vectors, found = store.get(key, hashes)
    assert found.all()
    np.testing.assert_array_equal(vectors, np.ones((3, 2)))
    (shard,) = store.shards(key)
    np.save(tmp_path / key / f"{shard}.npy", np.zeros((3, 2), dtype=np.float32))
    cache.clear_memory()
    with pytest.warns(UserWarning, match=rf"Embedding cache shard .*{shard}\.npy is corrupt"):
        vectors, found = store.get(key, hashes)
    assert vectors is None and not found.any()
    assert _files(tmp_path / key) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not store.get(key, hashes)[1].any()  # absent: a silent miss


# --- bad input --------------------------------------------------------------------------------


def test_a_single_string_must_be_wrapped(tiny_bi_encoder: Any) -> None:
    """A lone string would be encoded character by character; the error says to wrap it."""
    with pytest.raises(TypeError, match=r"takes a list of texts; wrap a single text as \[text\]"):
        _quiet_encode(tiny_bi_encoder, texts="How do I fix a flat tyre?")


@pytest.mark.parametrize("empty", [[], (), pd.Series([], dtype=str)])
def test_an_empty_corpus_is_refused(tiny_bi_encoder: Any, empty: Any) -> None:
    """No texts is an error, not an empty array that fails later."""
    with pytest.raises(ValueError, match="encode\\(\\) got no texts: the corpus is empty"):
        _quiet_encode(tiny_bi_encoder, texts=empty)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["fine", None], "Text 1 is a NoneType, not a str"),
        (["fine", "also fine", float("nan")], "Text 2 is a float, not a str"),
        ([b"bytes"], "Text 0 is a bytes, not a str"),
        ([["nested"]], "Text 0 is a list, not a str"),
    ],
)
def test_non_string_texts_are_named(tiny_bi_encoder: Any, texts: list[Any], message: str) -> None:
    """The first non-text is named by position, with how to pass a list of texts."""
    with pytest.raises(TypeError, match=rf"{message}: pass a list of texts, e\.g\. df\['text'\]"):
        _quiet_encode(tiny_bi_encoder, texts=texts)


@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True])
def test_a_bad_batch_size_is_refused(tiny_bi_encoder: Any, batch_size: Any, cache: bool) -> None:
    """The batch size must be a positive int, even when every text is cached."""
    _quiet_encode(tiny_bi_encoder)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        _quiet_encode(tiny_bi_encoder, cache=cache, batch_size=batch_size)


def test_without_a_batch_size_each_model_uses_its_own(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """32 for a torch model; a model that names its batch size (the int8 twins) gets it."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    _quiet_encode(tiny_bi_encoder, cache=False)
    monkeypatch.setattr(tiny_bi_encoder, "batch_size", 8, raising=False)
    _quiet_encode(tiny_bi_encoder, cache=False)
    assert spy.batch_sizes == [32, 8]
    assert enc.default_batch_size(object()) == 32
    for odd in (0, True, 2.5, "8"):
        monkeypatch.setattr(tiny_bi_encoder, "batch_size", odd)
        assert enc.default_batch_size(tiny_bi_encoder) == 32


# --- running out of GPU memory ----------------------------------------------------------------


def _oom_above(limit: int) -> Callable[[int], BaseException | None]:
    def fail(batch_size: int) -> BaseException | None:
        if batch_size > limit:
            return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
        return None

    return fail


def test_out_of_memory_halves_the_batch_and_still_gives_the_embeddings(
    tiny_bi_encoder: Any,
    monkeypatch: pytest.MonkeyPatch,
    temp_cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A simulated OOM above batch size 4: 32 → 16 → 8 → 4, each retry said, result correct."""
    reference = _quiet_encode(tiny_bi_encoder, cache=False, batch_size=2)
    capsys.readouterr()
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch, fail=_oom_above(4))
    embeddings = _quiet_encode(tiny_bi_encoder, batch_size=32)
    assert spy.batch_sizes == [32, 16, 8, 4]
    np.testing.assert_allclose(embeddings, reference, atol=1e-5)
    assert capsys.readouterr().out.splitlines() == [
        "Out of GPU memory at batch size 32; retrying with 16.",
        "Out of GPU memory at batch size 16; retrying with 8.",
        "Out of GPU memory at batch size 8; retrying with 4.",
    ]
    _only_shard(_store(temp_cache, tiny_bi_encoder))  # the retry's result is cached as usual


def test_out_of_memory_at_batch_size_one_fails_clearly_and_caches_nothing(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """When nothing fits, the error says what to do, and no shard is written."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch, fail=_oom_above(0))
    with pytest.raises(RuntimeError, match=r"even at batch size 1.*RERANK_LAB_DEVICE=cpu"):
        _quiet_encode(tiny_bi_encoder, batch_size=4)
    assert spy.batch_sizes == [4, 2, 1]
    assert _files(_store(temp_cache, tiny_bi_encoder)) == []


def test_other_model_errors_are_not_retried(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error that is not an OOM reaches the learner unchanged after one call."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch, fail=lambda size: KeyError("input_ids"))
    with pytest.raises(KeyError, match="input_ids"):
        _quiet_encode(tiny_bi_encoder, batch_size=16)
    assert spy.batch_sizes == [16]


def test_the_cache_folder_is_readable_by_everyone(tiny_bi_encoder: Any, temp_cache: Path) -> None:
    """Shards are world-readable, so a teacher's cache can be copied to classroom machines."""
    _quiet_encode(tiny_bi_encoder)
    for path in _store(temp_cache, tiny_bi_encoder).iterdir():
        assert os.stat(path).st_mode & 0o044 == 0o044


def test_sentence_transformers_batches_texts_by_length(tiny_bi_encoder: Any) -> None:
    """encode relies on SentenceTransformer.encode sorting texts longest first before batching
    (little padding, on GPU and CPU alike) rather than sorting them itself: check it still does."""
    widths: list[int] = []
    transformer = tiny_bi_encoder[0]
    forward = transformer.forward

    def recording(features: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        widths.append(int(features["attention_mask"].sum(dim=1).max()))
        return forward(features, *args, **kwargs)

    transformer.forward = recording
    texts = [" ".join(["word"] * n) for n in (3, 40, 7, 25, 1, 33, 12, 18)]
    embeddings = encode(tiny_bi_encoder, texts, batch_size=2, cache=False, show_progress=False)
    assert widths == sorted(widths, reverse=True) and len(widths) == 4
    direct = [
        encode(tiny_bi_encoder, [text], cache=False, show_progress=False)[0] for text in texts
    ]
    np.testing.assert_allclose(embeddings, np.stack(direct), atol=1e-5)  # input order restored


def test_encode_backs_off_on_out_of_memory(
    tiny_bi_encoder: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that does not fit in (simulated) GPU memory is retried at half the size, the
    learner is told, and the embeddings are those of a run that fitted at once."""
    texts = [f"text number {i} about sleep and memory" for i in range(12)]
    expected = encode(tiny_bi_encoder, texts, batch_size=4, cache=False, show_progress=False)
    sizes: list[int] = []
    original = type(tiny_bi_encoder).encode

    def small_gpu(self: Any, sentences: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(kwargs["batch_size"])
        if kwargs["batch_size"] > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return original(self, sentences, *args, **kwargs)

    monkeypatch.setattr(type(tiny_bi_encoder), "encode", small_gpu)
    embeddings = encode(tiny_bi_encoder, texts, batch_size=16, show_progress=False)
    assert sizes == [16, 8, 4]
    np.testing.assert_allclose(embeddings, expected, atol=1e-6)
    out = capsys.readouterr().out
    assert "Out of GPU memory at batch size 16; retrying with 8." in out
    assert "batch size 8; retrying with 4." in out
    sizes.clear()
    np.testing.assert_array_equal(  # the cache now serves them: no model call at all
        encode(tiny_bi_encoder, texts, batch_size=16, show_progress=False), embeddings
    )
    assert sizes == []
