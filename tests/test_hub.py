"""The online world's asset list, the classroom prefetch and the rehearsal's stand-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants as hub_constants
import pytest

from rerank_lab.course import hub, standins


def test_every_asset_is_listed_once_with_what_the_course_uses_it_for() -> None:
    ids = [asset.id for asset in hub.ASSETS]
    assert len(ids) == len(set(ids)) == 10
    for asset in hub.ASSETS:
        assert asset.kind in ("model", "adapter", "dataset") and "/" in asset.id
        assert asset.notebooks and asset.used_for and asset.standin and asset.size_mb > 0
    assert {a.id for a in hub.for_notebook("03")} == {
        "sentence-transformers/multi-qa-MiniLM-L6-cos-v1",
        "cross-encoder/ms-marco-MiniLM-L6-v2",
        "BAAI/bge-reranker-base",
        "jamescalam/ai-arxiv-chunked",
    }
    assert hub.for_notebook(None) == hub.ASSETS
    with pytest.raises(KeyError, match="Unknown notebook '08'"):
        hub.for_notebook("08")


def test_the_models_the_course_loads_are_all_listed() -> None:
    from rerank_lab import models
    from rerank_lab.course import augmented_sbert, specter

    listed = {asset.id for asset in hub.ASSETS}
    assert {role.online for role in models.ROLES.values()} <= listed
    assert {specter.SPECTER2_BASE, *specter.SPECTER2_ADAPTERS.values()} <= listed
    assert "sentence-transformers/stsb" in listed and augmented_sbert  # 06's gold set


def test_dry_run_lists_sizes_and_answers_at_once_without_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    probes = []
    monkeypatch.setattr(hub, "hub_answers", lambda: probes.append(1) or False)
    assert hub.main(["prefetch", "--dry-run", "--notebook", "02"]) == 0
    said = capsys.readouterr().out
    assert "cross-encoder/stsb-TinyBERT-L4" in said and "BAAI" not in said
    assert "Dry run: nothing downloaded. This machine does not reach the Hugging Face Hub." in said
    assert f"into {tmp_path} (HF_HOME)" in said and probes == [1]
    assert not list(tmp_path.iterdir())


def test_prefetch_without_the_hub_says_where_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert hub.prefetch(hub.for_notebook("06"), reachable=False) == 1
    assert "run this command where it does, then copy that HF_HOME" in capsys.readouterr().err


def test_prefetch_downloads_each_asset_and_writes_a_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    fetched = []

    def download(asset: hub.Asset) -> tuple[str, Path]:
        fetched.append(asset.id)
        return "f" * 40, tmp_path / asset.id

    monkeypatch.setattr(hub, "_download", download)
    assets = hub.for_notebook("02")
    assert hub.prefetch(assets, reachable=True) == 0
    manifest = json.loads((tmp_path / "rerank-lab-hub-manifest.json").read_text())
    assert [entry["id"] for entry in manifest["assets"]] == fetched == [a.id for a in assets]
    assert {entry["revision"] for entry in manifest["assets"]} == {"f" * 40}


def test_bad_notebook_on_the_command_line_is_an_error_not_a_traceback() -> None:
    with pytest.raises(SystemExit) as exit_info:
        hub.main(["prefetch", "--notebook", "99"])
    assert exit_info.value.code == 2


# --- the stand-ins (built once: about 15 s) ----------------------------------------------------


@pytest.fixture(scope="module")
def stand_in_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hf-standins")
    standins.build(home, documents=2_300)
    return home


@pytest.fixture
def offline_home(stand_in_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in home as the Hugging Face libraries' cache, with the Hub switched off."""
    import datasets

    monkeypatch.setenv("HF_HOME", str(stand_in_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return stand_in_home


def test_every_stand_in_is_cached_under_its_real_id_and_says_what_it_is(
    offline_home: Path,
) -> None:
    for asset in hub.needed(None):
        assert hub.is_cached(asset) and hub.is_standin(asset), asset.id
        folder = (
            hub.dataset_folder(asset) if asset.kind == "dataset" else hub.snapshot_folder(asset)
        )
        card = (folder / "README.md").read_text()
        assert f"This is **not** `{asset.id}`" in card and asset.standin in card
    assert hub.missing(None) == []


def test_stand_in_models_have_the_real_class_labels_and_activation(offline_home: Path) -> None:
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer

    cache = str(offline_home / "hub")
    bi = SentenceTransformer("sentence-transformers/multi-qa-MiniLM-L6-cos-v1", cache_folder=cache)
    assert bi.encode(["what is rlhf?"]).shape == (1, 384)
    pair = [("what is rlhf?", "reinforcement learning from human feedback")]
    expected = {
        "cross-encoder/ms-marco-MiniLM-L6-v2": ("BertForSequenceClassification", torch.nn.Identity),
        "BAAI/bge-reranker-base": ("XLMRobertaForSequenceClassification", torch.nn.Sigmoid),
        "cross-encoder/stsb-TinyBERT-L4": ("BertForSequenceClassification", torch.nn.Sigmoid),
    }
    for model_id, (architecture, activation) in expected.items():
        model = CrossEncoder(model_id, cache_folder=cache, device="cpu")
        assert type(model.model).__name__ == architecture and model.config.num_labels == 1
        assert isinstance(model.activation_fn, activation), model_id
        assert model.predict(pair).shape == (1,)
    bge = CrossEncoder("BAAI/bge-reranker-base", cache_folder=cache, device="cpu")
    ids = bge.tokenizer("what is rlhf?", "a passage")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and ids.count(2) == 3  # <s> A </s></s> B </s>


def test_stand_in_datasets_have_the_real_columns_splits_and_scales(offline_home: Path) -> None:
    import datasets

    cache = str(offline_home / "datasets")
    arxiv = datasets.load_dataset("jamescalam/ai-arxiv-chunked", split="train", cache_dir=cache)
    assert arxiv.column_names == list(standins.ARXIV_COLUMNS) and len(arxiv) == standins.ARXIV_ROWS
    stsb = datasets.load_dataset("sentence-transformers/stsb", cache_dir=cache)
    assert set(stsb) == {"train", "validation", "test"}
    frames = {split: stsb[split].to_pandas() for split in stsb}
    for frame in frames.values():
        assert list(frame.columns) == ["sentence1", "sentence2", "score"]
        assert frame["score"].between(0, 1).all()
    test_sentences = set(frames["test"]["sentence1"]) | set(frames["test"]["sentence2"])
    train_sentences = set(frames["train"]["sentence1"]) | set(frames["train"]["sentence2"])
    assert not test_sentences & train_sentences  # notebook 06 drops shared ones: none to drop


def test_specter2_stand_ins_load_through_the_adapters_library(stand_in_home: Path) -> None:
    """In a fresh process (the Hugging Face libraries read HF_HOME once, at import)."""
    pytest.importorskip("adapters", reason="notebook 05's extra is not installed")
    code = (
        "from rerank_lab.course import specter\n"
        "model, tokenizer = specter.load_specter2(('proximity', 'adhoc_query'))\n"
        "print(sorted(model.adapters_config.adapters))\n"
        "print(specter.specter2_embed(model, tokenizer, ['a title [SEP] abstract'], 'proximity')"
        ".shape)\n"
    )
    env = {**os.environ, "HF_HOME": str(stand_in_home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-2:] == ["['adhoc_query', 'proximity']", "(1, 32)"]
