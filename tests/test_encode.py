"""Tests of rerank_lab.encode: the embeddings are right, cached once, and never trusted if corrupt.

Two models: the real offline MiniLM (loaded once per session) for results that must be right,
and a tiny random BERT (32 dims, built in a fraction of a second) for the cache plumbing. Every
test gets its own empty cache through the ``temp_cache`` fixture, so the real cache of the
checkout is never read or written here.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from rerank_lab import encode as enc
from rerank_lab.encode import EmbeddingCache, cache_key, encode

pytestmark = pytest.mark.usefixtures("temp_cache")

TEXTS = [
    "How do I fix a flat bicycle tyre?",
    "Patch the inner tube, then pump the tyre back up.",
    "Sourdough bread rises thanks to wild yeast.",
    "The Roman town of Pompeii was buried by ash.",
    "Green tea tastes bitter when the water is too hot.",
    "Black holes bend light around them.",
]


class EncodeSpy:
    """Wraps a model's ``encode`` and records the batch size of every call."""

    def __init__(
        self,
        model: Any,
        monkeypatch: pytest.MonkeyPatch,
        fail: Callable[[int], BaseException | None] = lambda size: None,
    ) -> None:
        self.batch_sizes: list[int] = []
        original = model.encode

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.batch_sizes.append(kwargs["batch_size"])
            error = fail(kwargs["batch_size"])
            if error is not None:
                raise error
            return original(*args, **kwargs)

        monkeypatch.setattr(model, "encode", spy)

    @property
    def calls(self) -> int:
        return len(self.batch_sizes)


def _entries(cache_root: Path) -> list[str]:
    return sorted(path.name for path in cache_root.iterdir()) if cache_root.is_dir() else []


def _only_entry(temp_cache: Path) -> tuple[Path, Path]:
    """The .npy and .json of the single entry in the test's cache."""
    root = temp_cache / "embeddings"
    arrays, metas = sorted(root.glob("*.npy")), sorted(root.glob("*.json"))
    assert len(arrays) == len(metas) == 1, _entries(root)
    return arrays[0], metas[0]


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


def test_cache_entry_describes_itself(tiny_bi_encoder: Any, temp_cache: Path) -> None:
    """An entry is <key>.npy plus <key>.json holding format, shape, dtype, checksum and options."""
    embeddings = _quiet_encode(tiny_bi_encoder, normalize=False)
    array_path, meta_path = _only_entry(temp_cache)
    assert array_path.stem == meta_path.stem
    meta = json.loads(meta_path.read_text())
    assert meta["format"] == enc.CACHE_FORMAT
    assert meta["shape"] == [len(TEXTS), 32]
    assert meta["dtype"] == "float32"
    assert meta["rows"] == len(TEXTS)
    assert meta["options"] == {"normalize": False, "prompt_name": None}
    np.testing.assert_array_equal(np.load(array_path), embeddings)


def test_atomic_writes_leave_no_temporary_files(tiny_bi_encoder: Any, temp_cache: Path) -> None:
    """After encoding only the two entry files remain (no '.<name>.*' temp files)."""
    _quiet_encode(tiny_bi_encoder)
    _quiet_encode(tiny_bi_encoder, texts=TEXTS[:3])
    names = _entries(temp_cache / "embeddings")
    assert len(names) == 4
    assert not [name for name in names if name.startswith(".")]


def test_cache_false_never_touches_the_cache(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """cache=False encodes every time and writes nothing."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    _quiet_encode(tiny_bi_encoder, cache=False)
    _quiet_encode(tiny_bi_encoder, cache=False)
    assert spy.calls == 2
    assert _entries(temp_cache / "embeddings") == []


def test_an_explicit_cache_puts_entries_elsewhere(
    tiny_bi_encoder: Any, tmp_path: Path, temp_cache: Path
) -> None:
    """Passing an EmbeddingCache stores there and not in the default cache."""
    store = EmbeddingCache(tmp_path / "elsewhere")
    first = _quiet_encode(tiny_bi_encoder, cache=store)
    assert len(_entries(store.root)) == 2
    assert _entries(temp_cache / "embeddings") == []
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder, cache=store), first)
    assert store.clear() == 2
    assert _entries(store.root) == []


def test_default_cache_lives_under_rerank_lab_cache(temp_cache: Path) -> None:
    """EmbeddingCache.default() follows RERANK_LAB_CACHE (here the test's own folder)."""
    assert EmbeddingCache.default().root == temp_cache / "embeddings"


def test_a_pandas_column_is_a_list_of_texts(tiny_bi_encoder: Any) -> None:
    """df['text'] works as well as a list, and hits the same cache entry."""
    frame = pd.DataFrame({"text": TEXTS})
    from_list = _quiet_encode(tiny_bi_encoder)
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder, texts=frame["text"]), from_list)


# --- what the cache key depends on ------------------------------------------------------------


def test_cache_key_depends_on_texts_and_their_order(tiny_bi_encoder: Any) -> None:
    """One edited text, another order, or one text fewer is another key."""
    options = {"normalize": True, "prompt_name": None}
    key = cache_key(tiny_bi_encoder, TEXTS, options)
    assert cache_key(tiny_bi_encoder, list(TEXTS), options) == key
    edited = [*TEXTS[:-1], TEXTS[-1] + "!"]
    variants = [edited, TEXTS[::-1], TEXTS[:-1]]
    keys = {cache_key(tiny_bi_encoder, texts, options) for texts in variants}
    assert len(keys) == 3
    assert key not in keys


def test_texts_fingerprint_cannot_collide_by_joining() -> None:
    """['ab', 'c'] and ['a', 'bc'] join to the same string but are different corpora."""
    assert enc.texts_fingerprint(["ab", "c"]) != enc.texts_fingerprint(["a", "bc"])
    assert enc.texts_fingerprint(["a", ""]) != enc.texts_fingerprint(["a"])


def test_cache_key_depends_on_the_options(tiny_bi_encoder: Any) -> None:
    """Normalisation, the prompt and max_seq_length each change the key."""
    base = {"normalize": True, "prompt_name": None}
    key = cache_key(tiny_bi_encoder, TEXTS, base)
    assert cache_key(tiny_bi_encoder, TEXTS, {**base, "normalize": False}) != key
    assert cache_key(tiny_bi_encoder, TEXTS, {**base, "prompt_name": "query"}) != key
    tiny_bi_encoder.max_seq_length = 16
    assert cache_key(tiny_bi_encoder, TEXTS, base) != key


def test_cache_key_depends_on_the_weights(tiny_bi_encoder: Any, tiny_bert_dir: Path) -> None:
    """A model with the same name but changed weights (fine-tuned) gets another key."""
    options = {"normalize": True, "prompt_name": None}
    key = cache_key(tiny_bi_encoder, TEXTS, options)
    with torch.no_grad():
        next(tiny_bi_encoder.parameters())[0, 0] += 1e-3
    assert cache_key(tiny_bi_encoder, TEXTS, options) != key


def test_fingerprint_is_the_same_for_the_same_weights(
    tiny_bi_encoder: Any, tiny_bert_dir: Path
) -> None:
    """Two loads of one model share a fingerprint, so a new kernel still hits the cache."""
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(str(tiny_bert_dir), max_seq_length=64)
    again = SentenceTransformer(
        modules=[transformer, models.Pooling(32, pooling_mode="mean")], device="cpu"
    )
    assert enc.model_fingerprint(again) == enc.model_fingerprint(tiny_bi_encoder)


def test_normalize_option_misses_the_cache(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """normalize=False is another entry, with raw (non-unit) mean-pooled vectors."""
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
    assert not np.allclose(before, after)


# --- corrupt entries are rebuilt, never trusted -----------------------------------------------


def _corrupt_and_reencode(
    tiny_bi_encoder: Any,
    monkeypatch: pytest.MonkeyPatch,
    temp_cache: Path,
    damage: Callable[[Path, Path], None],
    warning: str | None,
) -> None:
    """Encode, damage the entry, and check the re-encode rebuilds it with the same result."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch)
    original = _quiet_encode(tiny_bi_encoder)
    damage(*_only_entry(temp_cache))
    if warning is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a plain miss is silent
            rebuilt = _quiet_encode(tiny_bi_encoder)
    else:
        with pytest.warns(UserWarning, match=warning):
            rebuilt = _quiet_encode(tiny_bi_encoder)
    assert spy.calls == 2
    np.testing.assert_array_equal(rebuilt, original)
    _only_entry(temp_cache)  # rebuilt as one complete entry again
    np.testing.assert_array_equal(_quiet_encode(tiny_bi_encoder), original)
    assert spy.calls == 2  # and trusted again


def _truncate(array_path: Path, meta_path: Path) -> None:
    data = array_path.read_bytes()
    array_path.write_bytes(data[: len(data) // 2])


def _truncate_to_header(array_path: Path, meta_path: Path) -> None:
    array_path.write_bytes(array_path.read_bytes()[:20])


def _garble_meta(array_path: Path, meta_path: Path) -> None:
    meta_path.write_text('{"format": 1, "shape": [6, ')


def _empty_meta(array_path: Path, meta_path: Path) -> None:
    meta_path.write_text("{}")


def _delete_meta(array_path: Path, meta_path: Path) -> None:
    meta_path.unlink()


def _delete_array(array_path: Path, meta_path: Path) -> None:
    array_path.unlink()


def _wrong_shape(array_path: Path, meta_path: Path) -> None:
    np.save(array_path, np.load(array_path)[:, :-1])


def _fewer_rows(array_path: Path, meta_path: Path) -> None:
    """Rows dropped, with metadata rewritten to match: only the row count gives it away."""
    array = np.load(array_path)[:-1]
    meta = json.loads(meta_path.read_text())
    meta.update(shape=list(array.shape), checksum=enc._array_checksum(array))
    np.save(array_path, array)
    meta_path.write_text(json.dumps(meta))


def _wrong_dtype(array_path: Path, meta_path: Path) -> None:
    np.save(array_path, np.load(array_path).astype(np.float64))


def _changed_values(array_path: Path, meta_path: Path) -> None:
    np.save(array_path, np.load(array_path) * 2)


def _old_format(array_path: Path, meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format": 0}))


@pytest.mark.parametrize(
    ("damage", "warning"),
    [
        (_truncate, r"corrupt \(unreadable \(\w+\)\); rebuilding it"),
        (_truncate_to_header, r"corrupt \(unreadable \(\w+\)\); rebuilding it"),
        (_garble_meta, r"corrupt \(unreadable \(JSONDecodeError\)\)"),
        (_empty_meta, r"corrupt \(unreadable \(KeyError\)\)"),
        (_delete_array, r"corrupt \(unreadable \(FileNotFoundError\)\)"),
        (_wrong_shape, r"corrupt \(shape, checksum\)"),
        (_fewer_rows, r"corrupt \(shape\)"),
        (_wrong_dtype, r"corrupt \(dtype, checksum\)"),
        (_changed_values, r"corrupt \(checksum\)"),
        (_old_format, r"corrupt \(format\)"),
        (_delete_meta, None),
    ],
    ids=lambda value: (
        value.__name__.lstrip("_") if callable(value) else "silent" if value is None else "warns"
    ),
)
def test_damaged_entry_is_rebuilt(
    tiny_bi_encoder: Any,
    monkeypatch: pytest.MonkeyPatch,
    temp_cache: Path,
    damage: Callable[[Path, Path], None],
    warning: str | None,
) -> None:
    """Each kind of damage is detected (with a warning naming it) and the entry rebuilt."""
    _corrupt_and_reencode(tiny_bi_encoder, monkeypatch, temp_cache, damage, warning)


def test_load_of_a_corrupt_entry_removes_it(tmp_path: Path) -> None:
    """EmbeddingCache.load itself returns None for a corrupt entry and deletes both files."""
    store = EmbeddingCache(tmp_path)
    store.store("k", np.ones((3, 2), dtype=np.float32), {"rows": 3})
    np.testing.assert_array_equal(store.load("k", expected_rows=3), np.ones((3, 2)))
    with pytest.warns(UserWarning, match=r"Embedding cache entry k is corrupt \(shape\)"):
        assert store.load("k", expected_rows=4) is None
    assert list(tmp_path.iterdir()) == []
    assert store.load("k", expected_rows=3) is None  # absent: a silent miss


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
    """The first non-text is named by position, with how to pass a text column."""
    with pytest.raises(TypeError, match=rf"{message}: pass the text column, e\.g\. df\['text'\]"):
        _quiet_encode(tiny_bi_encoder, texts=texts)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_a_bad_batch_size_is_refused(tiny_bi_encoder: Any, batch_size: int) -> None:
    """The batch size must be positive."""
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        _quiet_encode(tiny_bi_encoder, cache=False, batch_size=batch_size)


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
    _only_entry(temp_cache)  # the result of the retry is cached like any other


def test_out_of_memory_at_batch_size_one_fails_clearly_and_caches_nothing(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch, temp_cache: Path
) -> None:
    """When nothing fits, the error says what to do, and no entry is written."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch, fail=_oom_above(0))
    with pytest.raises(RuntimeError, match=r"even at batch size 1.*RERANK_LAB_DEVICE=cpu"):
        _quiet_encode(tiny_bi_encoder, batch_size=4)
    assert spy.batch_sizes == [4, 2, 1]
    assert _entries(temp_cache / "embeddings") == []


def test_other_model_errors_are_not_retried(
    tiny_bi_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error that is not an OOM reaches the learner unchanged after one call."""
    spy = EncodeSpy(tiny_bi_encoder, monkeypatch, fail=lambda size: KeyError("input_ids"))
    with pytest.raises(KeyError, match="input_ids"):
        _quiet_encode(tiny_bi_encoder, batch_size=16)
    assert spy.batch_sizes == [16]
