"""The fast CPU path: int8 ONNX twins, their on-disk cache, the automatic choice, the cache keys.

The real MiniLM is exported once per session (about ten seconds) into a session cache, to check
on real text that the int8 embeddings agree with torch's; the cache mechanics (rebuild on
corruption, interrupted builds, thread measurement) use the tiny random models of conftest,
which export in about a second. Speed is measured by ``python -m rerank_lab.course.bench``, not
here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rerank_lab import encode as enc
from rerank_lab import models
from rerank_lab.course import embedding_cache as cache
from rerank_lab.course import fast_encode, offline_models
from rerank_lab.data import load_mini

pytestmark = pytest.mark.skipif(
    not fast_encode.onnx_available(), reason="the onnx extra is not installed"
)


@pytest.fixture(scope="session")
def fast_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the session's exported models (built once, reused read-only)."""
    return tmp_path_factory.mktemp("fast-cache")


@pytest.fixture(scope="session")
def minilm_fast(minilm: Any, fast_cache: Path) -> Any:
    """The offline MiniLM's int8 twin, exported into the session cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RERANK_LAB_CACHE", str(fast_cache))
        patch.setenv(fast_encode.THREADS_ENV, "1")
        return fast_encode.to_fast(minilm, name="all-MiniLM-L6-v2")


@pytest.fixture
def fast_env(monkeypatch: pytest.MonkeyPatch, fast_cache: Path) -> pytest.MonkeyPatch:
    """The session cache, one onnxruntime thread, and the automatic choice left on."""
    monkeypatch.setenv("RERANK_LAB_CACHE", str(fast_cache))
    monkeypatch.setenv(fast_encode.THREADS_ENV, "1")
    monkeypatch.delenv(fast_encode.FAST_ENV, raising=False)
    monkeypatch.delenv(fast_encode.CONFIG_ENV, raising=False)
    return monkeypatch


@pytest.fixture
def private_cache(temp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache for one test; one onnxruntime thread (no measuring) unless unset."""
    monkeypatch.setenv(fast_encode.THREADS_ENV, "1")
    return temp_cache


def _folders(cache: Path) -> list[Path]:
    root = cache / "models" / "onnx"
    return sorted(root.iterdir()) if root.is_dir() else []


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --- agreement on real text --------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_embeddings(minilm: Any, minilm_fast: Any) -> dict[str, np.ndarray]:
    """Plain and fast embeddings of the real texts of data/mini (60 passages, 24 queries)."""
    mini = load_mini()
    texts = {"passages": mini.passages["text"].tolist(), "queries": mini.queries["text"].tolist()}
    return {
        f"{side}_{part}": model.encode(part_texts, normalize_embeddings=True)
        for side, model in (("plain", minilm), ("fast", minilm_fast))
        for part, part_texts in texts.items()
    }


def test_fast_embeddings_agree_with_plain_on_real_text(
    mini_embeddings: dict[str, np.ndarray],
) -> None:
    """int8 ONNX vs torch fp32 on the 84 real texts of data/mini: cosine >= 0.99 on average."""
    for part in ("passages", "queries"):
        plain, fast = mini_embeddings[f"plain_{part}"], mini_embeddings[f"fast_{part}"]
        assert fast.shape == plain.shape and plain.shape[1] == 384
        cosines = _cosines(plain, fast)
        assert cosines.mean() >= 0.99, (part, cosines.mean())
        assert cosines.min() >= 0.97, (part, cosines.min())


def test_fast_search_finds_what_plain_finds(mini_embeddings: dict[str, np.ndarray]) -> None:
    """On the mini set the two paths put the same passage first for nearly every query."""
    from rerank_lab import search

    tops = []
    for side in ("plain", "fast"):
        hits = search.semantic_search(
            mini_embeddings[f"{side}_queries"], mini_embeddings[f"{side}_passages"], k=1
        )
        tops.append([query_hits[0]["corpus_id"] for query_hits in hits])
    agree = np.mean(np.array(tops[0]) == np.array(tops[1]))
    assert agree >= 0.9, agree


def test_the_fast_model_says_what_it_is(minilm: Any, minilm_fast: Any) -> None:
    config = fast_encode.quantization_config()
    assert fast_encode.backend_of(minilm_fast) == f"onnx int8 ({config}, 1 thread)"
    assert fast_encode.backend_of(minilm) == "torch fp32"
    assert minilm_fast.backend == "onnx"
    assert minilm_fast.max_seq_length == minilm.max_seq_length
    folder = Path(minilm_fast.rerank_lab_source)
    manifest = json.loads((folder / fast_encode.MANIFEST).read_text())
    assert manifest["onnx_file"] == f"onnx/model_int8_{config}.onnx"
    assert not (folder / "model.safetensors").exists()  # only what the int8 model needs
    assert not (folder / "onnx" / "model.onnx").exists()


# --- the embedding cache keeps the two apart ---------------------------------------------------


def test_onnx_fingerprint_is_the_onnx_files_hash_and_stable(
    minilm: Any, minilm_fast: Any, fast_env: pytest.MonkeyPatch
) -> None:
    """An ONNX model has no torch weights: its fingerprint hashes the ONNX file, so it differs
    from the plain model's and from an empty model's, and a fresh load gives the same one."""
    assert minilm_fast.state_dict() == {}
    (name, digest), *rest = cache.onnx_digests(minilm_fast)
    assert not rest and name.endswith(".onnx")
    folder = Path(minilm_fast.rerank_lab_source)
    manifest = json.loads((folder / fast_encode.MANIFEST).read_text())
    assert digest == manifest["blake2b"]
    again = fast_encode.to_fast(minilm, name="all-MiniLM-L6-v2")
    assert again is not minilm_fast
    assert cache.model_fingerprint(again) == cache.model_fingerprint(minilm_fast)
    assert cache.model_fingerprint(minilm_fast) != cache.model_fingerprint(minilm)
    options = {"normalize": True, "prompt_name": None}
    assert cache.store_key(again, options) == cache.store_key(minilm_fast, options)
    assert cache.store_key(minilm_fast, options) != cache.store_key(minilm, options)


def test_fast_and_plain_embeddings_are_cached_apart(
    minilm: Any, minilm_fast: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["Aspirin and the risk of a first heart attack.", "Sleep and memory in older adults."]
    store = cache.EmbeddingCache(tmp_path / "embeddings")
    plain = enc.encode(minilm, texts, cache=store, show_progress=False)
    fast = enc.encode(minilm_fast, texts, cache=store, show_progress=False)
    assert len([p for p in store.root.iterdir() if p.is_dir()]) == 2
    assert not np.array_equal(plain, fast)
    calls = []
    original = type(minilm_fast).encode
    monkeypatch.setattr(
        type(minilm_fast), "encode", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    np.testing.assert_array_equal(
        enc.encode(minilm_fast, texts, cache=store, show_progress=False), fast
    )
    assert calls == []  # served by the cache


# --- the automatic choice ---------------------------------------------------------------------


def test_choose_fast_on_cpu_with_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fast_encode.FAST_ENV, raising=False)
    assert fast_encode.choose_fast("cpu") == (True, "CPU")
    assert fast_encode.choose_fast("cpu", False) == (False, "fast=False")
    assert fast_encode.choose_fast("cuda:0") == (False, "on cuda:0")
    assert fast_encode.choose_fast("mps") == (False, "on mps")
    monkeypatch.setenv(fast_encode.FAST_ENV, "0")
    assert fast_encode.choose_fast("cpu") == (False, "RERANK_LAB_FAST=0")
    assert fast_encode.choose_fast("cpu", True) == (True, "fast=True")  # explicit wins


def _without_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the onnx extra look uninstalled, the way find_spec sees a missing package."""
    original = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in {"onnxruntime", "optimum"}:
            return None
        return original(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_without_the_extra_the_plain_path_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fast_encode.FAST_ENV, raising=False)
    _without_onnx(monkeypatch)
    assert not fast_encode.onnx_available()
    assert fast_encode.choose_fast("cpu") == (False, "onnx extra not installed")
    with pytest.raises(fast_encode.FastModelUnavailable, match=r"pip install -e '\.\[onnx\]'"):
        fast_encode.choose_fast("cpu", True)
    with pytest.raises(fast_encode.FastModelUnavailable, match="int8 ONNX for CPUs"):
        fast_encode.choose_fast("cuda", True)


@pytest.mark.usefixtures("minilm_fast")
def test_load_bi_encoder_picks_onnx_on_cpu_and_says_so(
    fast_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fast_env.setenv("RERANK_LAB_OFFLINE", "1")
    model = models.load_bi_encoder("bi-encoder", device="cpu")
    out = capsys.readouterr().out
    assert model.backend == "onnx"
    assert out.startswith("bi-encoder: all-MiniLM-L6-v2 (offline) on cpu (")
    assert "backend onnx int8 (" in out and "RERANK_LAB_FAST=0 or fast=False" in out


@pytest.mark.usefixtures("minilm_fast")
@pytest.mark.parametrize("how", ["env", "argument", "extra missing", "build fails"])
def test_load_bi_encoder_falls_back_to_torch(
    how: str, fast_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fast_env.setenv("RERANK_LAB_OFFLINE", "1")
    fast: bool | None = None
    expected = {
        "env": "(RERANK_LAB_FAST=0)",
        "argument": "(fast=False)",
        "extra missing": "(onnx extra not installed)",
        "build fails": "(fast path failed)",
    }[how]
    if how == "env":
        fast_env.setenv(fast_encode.FAST_ENV, "0")
    elif how == "argument":
        fast = False
    elif how == "extra missing":
        _without_onnx(fast_env)
    else:

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("export failed")

        fast_env.setattr(fast_encode, "to_fast", broken)
    with pytest.warns(UserWarning, match="export failed") if how == "build fails" else _nothing():
        model = models.load_bi_encoder("bi-encoder", device="cpu", fast=fast)
    assert model.backend == "torch"
    assert f"backend torch fp32 {expected}" in capsys.readouterr().out


class _nothing:  # noqa: N801 - a do-nothing context manager, read as a phrase
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_only_course_roles_are_switched_automatically(
    tiny_bert_dir: Path, fast_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model folder of one's own stays torch unless fast=True asks for ONNX."""
    fast_env.setenv("RERANK_LAB_OFFLINE", "1")
    model = models.load_bi_encoder(str(tiny_bert_dir), device="cpu")
    assert model.backend == "torch"
    assert "fast=True for int8 ONNX" in capsys.readouterr().out


def test_quantization_config_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fast_encode.CONFIG_ENV, raising=False)
    monkeypatch.setattr(fast_encode.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(fast_encode, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_vnni"})
    assert fast_encode.quantization_config() == "avx512_vnni"
    monkeypatch.setattr(fast_encode, "cpu_flags", lambda: {"sse4_2", "avx2"})
    assert fast_encode.quantization_config() == "avx2"
    monkeypatch.setattr(fast_encode, "cpu_flags", set)
    assert fast_encode.quantization_config() == "avx2"
    monkeypatch.setattr(fast_encode.platform, "machine", lambda: "arm64")
    assert fast_encode.quantization_config() == "arm64"
    monkeypatch.setenv(fast_encode.CONFIG_ENV, "avx2")
    assert fast_encode.quantization_config() == "avx2"
    monkeypatch.setenv(fast_encode.CONFIG_ENV, "sse")
    with pytest.raises(ValueError, match="avx512_vnni"):
        fast_encode.quantization_config()


# --- the on-disk cache of fast models ------------------------------------------------------------


@pytest.fixture
def tiny_built(tiny_bi_encoder: Any, private_cache: Path) -> Iterator[tuple[Any, Path]]:
    """The tiny bi-encoder's int8 twin, built into an empty private cache."""
    fast = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    yield fast, Path(fast.rerank_lab_source)


def test_a_built_model_is_loaded_not_built_again(
    tiny_bi_encoder: Any, tiny_built: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, folder = tiny_built
    monkeypatch.setattr(fast_encode, "_build", lambda *a: pytest.fail("built again"))
    again = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert Path(again.rerank_lab_source) == folder
    assert [p.name for p in _folders(folder.parent.parent.parent)] == [folder.name]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "manifest", "missing file"])
def test_a_corrupt_fast_model_is_rebuilt(
    damage: str, tiny_bi_encoder: Any, tiny_built: tuple[Any, Path]
) -> None:
    fast, folder = tiny_built
    texts = ["a first text", "and a second one"]
    expected = fast.encode(texts)
    manifest = json.loads((folder / fast_encode.MANIFEST).read_text())
    onnx_file = folder / manifest["onnx_file"]
    if damage == "garbage":  # same size, other bytes: only the checksum can tell
        onnx_file.write_bytes(os.urandom(onnx_file.stat().st_size))
    elif damage == "truncated":
        onnx_file.write_bytes(onnx_file.read_bytes()[:1000])
    elif damage == "manifest":
        (folder / fast_encode.MANIFEST).write_text("{not json")
    else:
        onnx_file.unlink()
    with pytest.warns(UserWarning, match="is corrupt .*building it again"):
        rebuilt = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert Path(rebuilt.rerank_lab_source) == folder
    np.testing.assert_allclose(rebuilt.encode(texts), expected, atol=1e-6)


def test_a_model_onnxruntime_cannot_load_is_rebuilt(
    tiny_bi_encoder: Any, tiny_built: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder that passes the checks but fails to load (say, a newer onnxruntime refuses it)."""
    _, folder = tiny_built
    real_load = fast_encode._load
    failures = []

    def load_once_failing(*args: Any) -> Any:
        if not failures:
            failures.append(1)
            raise RuntimeError("[ONNXRuntimeError] INVALID_GRAPH")
        return real_load(*args)

    monkeypatch.setattr(fast_encode, "_load", load_once_failing)
    with pytest.warns(UserWarning, match=r"does not load \(RuntimeError: \[ONNXRuntimeError\]"):
        fast = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert fast.backend == "onnx" and failures == [1]
    assert Path(fast.rerank_lab_source) == folder
    assert (folder.parent / f"{folder.name}.damaged" / fast_encode.MANIFEST).is_file()


def test_a_twin_from_another_library_line_is_exported_again(
    tiny_bi_encoder: Any, tiny_built: tuple[Any, Path], library_line: Any
) -> None:
    """Twins take seconds to export: one folder per model, rebuilt when the line changes."""
    fast, folder = tiny_built
    texts = ["a first text", "and a second one"]
    expected = fast.encode(texts)
    manifest = json.loads((folder / fast_encode.MANIFEST).read_text())
    assert set(fast_encode.TWIN_LOADING) <= set(manifest["versions"])
    library_line("other")
    with pytest.warns(UserWarning, match="is out of date .*another library line.*building it"):
        rebuilt = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert Path(rebuilt.rerank_lab_source) == folder
    manifest = json.loads((folder / fast_encode.MANIFEST).read_text())
    assert manifest["versions"]["sentence-transformers"] == "99.0.0"
    np.testing.assert_allclose(rebuilt.encode(texts), expected, atol=1e-6)
    library_line("running")
    with pytest.warns(UserWarning, match="is out of date"):
        fast_encode.to_fast(tiny_bi_encoder, name="tiny")


def test_an_interrupted_build_leaves_nothing_behind(
    tiny_bi_encoder: Any, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentence_transformers

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sentence_transformers, "export_dynamic_quantized_onnx_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    root = private_cache / "models" / "onnx"
    assert not root.exists() or list(root.iterdir()) == []


def test_other_weights_get_another_folder(
    tiny_bi_encoder: Any, tiny_built: tuple[Any, Path]
) -> None:
    import torch

    fast, folder = tiny_built
    with torch.no_grad():
        next(tiny_bi_encoder.parameters()).add_(0.5)
    other = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert Path(other.rerank_lab_source) != folder
    assert cache.model_fingerprint(other) != cache.model_fingerprint(fast)


def test_the_layout_is_measured_once_per_situation_and_remembered(
    tiny_bi_encoder: Any, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured the first time in each load situation (idle, busy), then looked up."""
    monkeypatch.delenv(fast_encode.THREADS_ENV)
    monkeypatch.delenv(fast_encode.SESSIONS_ENV, raising=False)
    situation = ["idle"]
    candidates = [fast_encode.Layout(1, 1), fast_encode.Layout(1, 2), fast_encode.Layout(2, 1)]
    monkeypatch.setattr(fast_encode, "load_class", lambda: situation[0])
    monkeypatch.setattr(fast_encode, "_layout_candidates", lambda: candidates)
    fast = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    folder = Path(fast.rerank_lab_source)
    record = json.loads((folder / fast_encode.THREADS_FILE).read_text())
    assert record["cpus"] == os.cpu_count() and set(record["by_load"]) == {"idle"}
    assert record["format"] == fast_encode.LAYOUT_FORMAT
    idle = record["by_load"]["idle"]
    chosen = fast_encode.Layout(idle["sessions"], idle["threads"])
    assert chosen in candidates
    assert set(idle["seconds"]) == {"1 thread", "2 threads", "2 sessions x 1 thread"}
    assert fast_encode.backend_of(fast).endswith(f"{chosen})")
    assert len(fast.helpers) == chosen.sessions - 1
    measured = []
    monkeypatch.setattr(fast_encode, "_layout_candidates", lambda: measured.append(1) or candidates)
    again = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert fast_encode.backend_of(again) == fast_encode.backend_of(fast) and measured == []
    situation[0] = "busy"
    fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert measured == [1]  # once for the new situation
    record = json.loads((folder / fast_encode.THREADS_FILE).read_text())
    assert set(record["by_load"]) == {"idle", "busy"}
    # A record of the first format (threads only) is measured again, not misread.
    (folder / fast_encode.THREADS_FILE).write_text(
        json.dumps({"cpus": os.cpu_count(), "by_load": {"busy": {"threads": 2}}})
    )
    fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert measured == [1, 1]


def test_the_environment_and_arguments_fix_the_layout(
    tiny_bi_encoder: Any, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast_encode, "_layout_candidates", lambda: pytest.fail("measured"))
    monkeypatch.setenv(fast_encode.THREADS_ENV, "2")
    fast = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert fast_encode.backend_of(fast).endswith(", 2 threads)") and fast.helpers == []
    monkeypatch.delenv(fast_encode.THREADS_ENV)
    monkeypatch.setenv(fast_encode.SESSIONS_ENV, "2")
    fast = fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    assert fast_encode.backend_of(fast).endswith(", 2 sessions x 1 thread)")
    assert len(fast.helpers) == 1 and fast.helpers[0] is not fast
    # Each session has its own tokenizer: a fast tokenizer must not serve two threads at once.
    assert fast.tokenizer is not fast.helpers[0].tokenizer
    fast = fast_encode.to_fast(tiny_bi_encoder, name="tiny", sessions=3, threads=2)
    assert fast_encode.backend_of(fast).endswith(", 3 sessions x 2 threads)")
    monkeypatch.setenv(fast_encode.SESSIONS_ENV, "many")
    with pytest.raises(ValueError, match="RERANK_LAB_ONNX_SESSIONS='many' must be a positive"):
        fast_encode.to_fast(tiny_bi_encoder, name="tiny")
    with pytest.raises(ValueError, match="sessions must be a positive int"):
        fast_encode.to_fast(tiny_bi_encoder, name="tiny", sessions=0)


def test_load_class_reads_the_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_encode.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(fast_encode.os, "getloadavg", lambda: (0.3, 0.5, 1.0))
    assert fast_encode.load_class() == "idle"
    monkeypatch.setattr(fast_encode.os, "getloadavg", lambda: (1.2, 0.5, 1.0))
    assert fast_encode.load_class() == "busy"


def test_a_cross_encoder_gets_an_int8_twin_too(
    tiny_cross_encoder: Any, private_cache: Path
) -> None:
    pairs = [("what is a cat", "a cat is a small animal"), ("what is a cat", "the stock fell")]
    fast = fast_encode.to_fast(tiny_cross_encoder, name="tiny-ce")
    assert fast.backend == "onnx"
    # Where the weights come from, as for torch (notebook 02 finds the training card by it).
    assert fast.model.name_or_path == tiny_cross_encoder.model.name_or_path
    assert fast.rerank_lab_source != tiny_cross_encoder.model.name_or_path
    assert fast.max_seq_length == tiny_cross_encoder.max_seq_length
    np.testing.assert_allclose(fast.predict(pairs), tiny_cross_encoder.predict(pairs), atol=0.05)
    assert fast_encode.backend_of(fast).startswith("onnx int8")


def test_only_models_are_accepted(private_cache: Path) -> None:
    with pytest.raises(TypeError, match="SentenceTransformer or a CrossEncoder"):
        fast_encode.to_fast(object())  # type: ignore[type-var]


def test_a_read_only_source_folder_is_fine(
    tiny_bert_dir: Path, private_cache: Path, tmp_path: Path
) -> None:
    """Exporting never writes next to the source model (site-packages may be read-only)."""
    from sentence_transformers import SentenceTransformer

    source = tmp_path / "read-only-model"
    shutil.copytree(tiny_bert_dir, source)
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    fast = fast_encode.to_fast(SentenceTransformer(str(source), device="cpu"), name="ro")
    assert fast.backend == "onnx"
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before


def test_the_course_reranker_role_runs_int8_on_cpu(
    tiny_cross_encoder_dir: Path,
    tmp_path: Path,
    private_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The cross-encoder role picks its int8 twin by itself; a folder of one's own asks for it."""
    data = tmp_path / "data"
    target = data / "models" / "rerank-lab-reranker"
    shutil.copytree(tiny_cross_encoder_dir, target)
    (target / "training.json").write_text('{"scale": "test"}')
    monkeypatch.setattr(offline_models, "data_dir", lambda: data)
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "1")
    monkeypatch.delenv(fast_encode.FAST_ENV)
    reranker = models.load_cross_encoder("cross-encoder", device="cpu", max_length=32)
    assert reranker.backend == "onnx" and reranker.max_seq_length == 32
    assert "backend onnx int8" in capsys.readouterr().out
    own = models.load_cross_encoder(str(tiny_cross_encoder_dir), device="cpu", quiet=True)
    assert own.backend == "torch"
    asked = models.load_cross_encoder(str(tiny_cross_encoder_dir), device="cpu", fast=True)
    assert asked.backend == "onnx"
