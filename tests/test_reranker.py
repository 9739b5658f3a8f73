"""Tests of rerank_lab.course.reranker: training pairs, the training path, saving, resuming, errors.

Everything runs on a hand-made collection of 36 abstracts (12 topics, three abstracts each)
with a tiny random BERT as the cross-encoder backbone and as the bi-encoder, so the whole
training path (pairs, mining, CrossEncoderTrainer, dev evaluation, fp16 save, training card,
checkpoints) runs in seconds. What the real recipe achieves is measured by
``python -m rerank_lab.course.reranker``, not here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rerank_lab.course import artefacts, offline_models, pubmed, reranker
from rerank_lab.course.collection import Collection

TOPICS = [
    ("malaria", "mosquito nets", "parasite"),
    ("asthma", "inhaled steroids", "airway"),
    ("glaucoma", "eye pressure", "optic nerve"),
    ("dementia", "memory clinics", "cognition"),
    ("scoliosis", "spinal bracing", "curvature"),
    ("anaemia", "iron tablets", "haemoglobin"),
    ("migraine", "triptan therapy", "headache"),
    ("psoriasis", "biologic drugs", "plaques"),
    ("rabies", "dog vaccination", "bites"),
    ("gout", "uric acid", "joints"),
    ("cholera", "clean water", "diarrhoea"),
    ("tinnitus", "sound therapy", "ringing"),
]

#: Small negative ranks and budgets: the tiny corpus has about 30 usable chunks.
TINY = {
    "max_length": 64,
    "batch_size": 4,
    "micro_batch_size": 2,  # two anchors per pass, gradients accumulated over two passes
    "max_steps": 4,
    "time_budget_s": None,
    "negative_ranks": (2, 20),
    "bi_encoder_negatives": 1,
    "bm25_negatives": 1,
    "in_batch_negatives": 2,
    "random_negatives": 2,
    "self_supervised": {"title": 6, "sentence": 6, "keyword": 6},
    "eval_steps": 2,
    "save_steps": 2,
    "logging_steps": 1,
    "eval_at_start": True,
    "eval_queries_per_family": 1,
    "rerank_depth": 10,
}


def _abstract(topic: str, treatment: str, sign: str, n: int) -> list[dict[str, str]]:
    return [
        {
            "label": "BACKGROUND",
            "category": "BACKGROUND",
            "text": f"Patients with {topic} often report {sign} problems in study {n}. "
            f"We asked whether {treatment} change the course of {topic} in village {n}.",
        },
        {
            "label": "METHODS",
            "category": "METHODS",
            "text": f"We followed {20 + n} adults with {topic} for two years in cohort {n}. "
            f"Outcomes were measured by nurses who did not know the allocation.",
        },
        {
            "label": "CONCLUSIONS",
            "category": "CONCLUSIONS",
            "text": f"In this cohort {treatment} reduced {sign} complaints among people with "
            f"{topic} by a third. Larger trials of {treatment} should follow soon.",
        },
    ]


def tiny_collection() -> Collection:
    """36 abstracts and judged queries of all four families in train, dev and test."""
    rows = []
    for t, (topic, treatment, sign) in enumerate(TOPICS):
        for n in range(3):
            sections = _abstract(topic, treatment, sign, 3 * t + n)
            rows.append(
                {
                    "pmid": str(1000 + 3 * t + n),
                    "title": f"Effect of {treatment} on {topic} in cohort {3 * t + n}",
                    "abstract": " ".join(s["text"] for s in sections),
                    "sections": sections,
                    "keywords": [topic, treatment],
                    "mesh": [],
                    "mesh_major": [],
                    "journal": "J Tiny",
                    "year": 2021,
                    "doi": "",
                    "references": [],
                }
            )
    documents = pd.DataFrame(rows)
    documents["year"] = documents["year"].astype("Int64")
    queries, qrels = [], {}

    def add(family: str, split: str, text: str, relevant: dict[str, int]) -> None:
        query_id = f"{family[0].upper()}{len(queries):03d}-{split}"
        queries.append({"id": query_id, "family": family, "split": split, "text": text})
        qrels[query_id] = relevant

    split_of_topic = ["dev", "test"] + ["train"] * 10
    for t, (topic, treatment, sign) in enumerate(TOPICS):
        split = split_of_topic[t]
        first = str(1000 + 3 * t)
        add("title", split, documents.loc[3 * t, "title"], {first: 1})
        add("keyword", split, topic, {str(1000 + 3 * t + n): 2 for n in range(3)})
        add("question", split, f"does {treatment} help people with {sign} trouble", {first: 2})
        add("conclusion", split, f"{treatment} reduced {sign} complaints", {first: 1})
    return Collection(
        "small", documents, pubmed.chunk_documents(documents), pd.DataFrame(queries), qrels
    )


@pytest.fixture(scope="module")
def collection() -> Collection:
    return tiny_collection()


@pytest.fixture
def fake_encode() -> Any:
    """Bag-of-words vectors (hashed words, unit length): fast, deterministic, and sensible."""

    def encode(texts: list[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), 256), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                matrix[i, sum(map(ord, word.strip(".,"))) % 256] += 1.0
        return matrix / np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9, None)

    return encode


def _data(collection: Collection, encode: Any, **overrides: Any) -> reranker.TrainingData:
    recipe = reranker._recipe("small", {**TINY, **overrides})
    return reranker.build_training_data(collection, None, recipe, seed=3, encode_texts=encode)


# --- training pairs ---------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["mnrl", "listnet"])
def test_no_protected_document_in_any_pair(
    collection: Collection, fake_encode: Any, loss: str
) -> None:
    """Dev/test abstracts appear nowhere in training: not as positive, not as negative."""
    protected = collection.protected_documents()
    assert protected == {str(1000 + n) for n in range(6)}
    data = _data(collection, fake_encode, loss=loss)
    pmids = list(collection.chunks["id"])
    assert data.anchors
    for i, anchor in enumerate(data.anchors):
        used = [anchor.positive, *data.negatives[i], *data.random_negatives[i]]
        assert not {pmids[row] for row in used} & protected, anchor
        assert protected.isdisjoint(pmids[row] for row in data.negatives[i])
    dataset = data.to_dataset(loss)  # type: ignore[arg-type]
    texts = {text for column in dataset.column_names for text in _flatten(dataset[column])}
    protected_chunks = {c for c, p in zip(data.chunk_texts, pmids, strict=True) if p in protected}
    assert not texts & protected_chunks


def _flatten(values: list) -> list:
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def test_no_held_out_query_is_trained_on(collection: Collection, fake_encode: Any) -> None:
    """Dev and test queries never appear as training queries, whatever source made them."""
    held_out = set(collection.select("dev")["text"]) | set(collection.select("test")["text"])
    data = _data(collection, fake_encode)
    assert held_out.isdisjoint(a.query for a in data.anchors)
    sources = data.counts["by_source"]
    assert set(sources) == {
        "train:title",
        "train:keyword",
        "train:question",
        "train:conclusion",
        "self:title",
        "self:sentence",
        "self:keyword",
    }
    assert sum(sources.values()) == data.counts["anchors"] == len(data.anchors)


def test_negatives_differ_from_positives(collection: Collection, fake_encode: Any) -> None:
    """A negative is never the positive, never relevant to its query, and never repeated."""
    data = _data(collection, fake_encode)
    pmids = list(collection.chunks["id"])
    for i, anchor in enumerate(data.anchors):
        negatives = data.negatives[i] + data.random_negatives[i]
        assert len(negatives) == len(set(negatives))
        assert len(data.negatives[i]) == 2
        assert anchor.positive not in negatives
        assert all(pmids[row] not in anchor.exclude for row in negatives)
        texts = {data.chunk_texts[row] for row in negatives}
        assert data.positive_text(i) not in texts
        if anchor.source == "train:keyword" or anchor.source == "self:keyword":
            # Every abstract carrying the keyword is relevant: none of them is a negative.
            documents = collection.documents
            carrying = documents["keywords"].map(lambda ks, q=anchor.query: q in ks)
            carriers = set(documents.loc[carrying, "pmid"])
            assert carriers <= anchor.exclude


def test_sentence_pairs_remove_the_sentence(collection: Collection, fake_encode: Any) -> None:
    """A sentence anchor's positive is its abstract without that sentence (no word-for-word hit)."""
    data = _data(collection, fake_encode)
    sentences = [i for i, a in enumerate(data.anchors) if a.source == "self:sentence"]
    assert sentences
    for i in sentences:
        assert data.anchors[i].query not in data.positive_text(i)


def test_training_data_is_deterministic(collection: Collection, fake_encode: Any) -> None:
    """Same seed, same pairs: resuming a run depends on it."""
    first, second = _data(collection, fake_encode), _data(collection, fake_encode)
    assert first.fingerprint() == second.fingerprint()
    other = reranker.build_training_data(
        collection, None, reranker._recipe("small", TINY), seed=4, encode_texts=fake_encode
    )
    assert other.fingerprint() != first.fingerprint()


# --- training end to end ------------------------------------------------------------------------


def _train(
    tmp: Path, collection: Collection, tiny_bert_dir: Path, encode: Any, **kwargs: Any
) -> Path:
    overrides = {**TINY, **kwargs.pop("overrides", {})}
    return reranker.train_reranker(
        "small",
        tmp,
        backbone=tiny_bert_dir,
        bi_encoder=None,
        collection=collection,
        overrides=overrides,
        encode_texts=encode,
        threads=1,  # a tiny model only loses from a second thread
        **kwargs,
    )


def test_train_saves_fp16_model_card_and_curve(
    tmp_path: Path, collection: Collection, tiny_bert_dir: Path, fake_encode: Any
) -> None:
    """The same function path as the real scales, with a tiny backbone, end to end."""
    from sentence_transformers import CrossEncoder

    output = _train(tmp_path / "model", collection, tiny_bert_dir, fake_encode)
    assert reranker.model_problem(output) is None
    assert not (output / reranker.CHECKPOINTS).exists()
    with (output / "model.safetensors").open("rb") as handle:
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes == {"F16"}

    card = json.loads((output / "training.json").read_text())
    assert card["steps"] == 4 and card["seed"] == 13 and card["stopped_by"] == "max_steps"
    assert card["data"]["anchors"] > 0 and card["fp16_max_abs_score_difference"] <= 1e-2
    assert set(card["dev"]["reranked_ndcg@10"]) == {
        "title",
        "conclusion",
        "keyword",
        "question",
        "macro",
    }
    assert {"torch", "transformers", "sentence-transformers"} <= set(card["versions"])
    assert "Dev nDCG@10" in (output / "TRAINING.md").read_text()
    assert "step 4/4" in (output / "training.log").read_text()

    lines = (output / reranker.LEARNING_CURVE).read_text().splitlines()
    curve = [json.loads(line) for line in lines]
    assert [point["step"] for point in curve] == [0, 2, 4, 4]
    assert curve[-1]["final"] is True and curve[-1]["dev_queries"] == 4
    assert all(0.0 <= point["ndcg@10"]["macro"] <= 1.0 for point in curve)
    assert all(point["elapsed_s"] >= 0 for point in curve)

    loaded = CrossEncoder(str(output), device="cpu")
    scores = loaded.predict([("malaria nets", "Mosquito nets prevent malaria.")])
    assert np.isfinite(scores).all()

    # A finished model is returned as it is when resuming.
    assert _train(tmp_path / "model", collection, tiny_bert_dir, fake_encode) == output
    assert json.loads((output / "training.json").read_text())["finished"] == card["finished"]


def test_listwise_loss_trains(
    tmp_path: Path, collection: Collection, tiny_bert_dir: Path, fake_encode: Any
) -> None:
    """The listwise alternative runs through the same path (query, docs, labels)."""
    overrides = {"loss": "lambda", "max_steps": 2, "eval_steps": None, "eval_at_start": False}
    output = _train(tmp_path / "m", collection, tiny_bert_dir, fake_encode, overrides=overrides)
    card = json.loads((output / "training.json").read_text())
    assert card["recipe"]["loss"] == "lambda" and card["steps"] == 2


class _Interrupted(Exception):
    pass


def test_resume_from_checkpoint(
    tmp_path: Path,
    collection: Collection,
    tiny_bert_dir: Path,
    fake_encode: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run killed after its step-2 checkpoint resumes there and finishes the same schedule."""
    from transformers import TrainerCallback

    original = reranker._callbacks

    class Crash(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.global_step == 3:
                raise _Interrupted

    def with_crash(*args: Any) -> list:
        return [*original(*args), Crash()]

    monkeypatch.setattr(reranker, "_callbacks", with_crash)
    output = tmp_path / "model"
    with pytest.raises(_Interrupted):
        _train(output, collection, tiny_bert_dir, fake_encode)
    checkpoints = output / reranker.CHECKPOINTS
    assert (checkpoints / "checkpoint-2").is_dir()
    assert reranker.model_problem(output) is not None

    with pytest.raises(RuntimeError, match="--no-resume"):
        _train(output, collection, tiny_bert_dir, fake_encode, seed=99)

    monkeypatch.setattr(reranker, "_callbacks", original)
    _train(output, collection, tiny_bert_dir, fake_encode)
    assert "resuming from checkpoint-2" in (output / "training.log").read_text()
    card = json.loads((output / "training.json").read_text())
    assert card["steps"] == 4
    assert [e["step"] for e in card["loss_history"]][-2:] == [3, 4]
    assert not checkpoints.exists()


def test_time_budget_stops_and_saves(
    tmp_path: Path, collection: Collection, tiny_bert_dir: Path, fake_encode: Any
) -> None:
    """Past its time budget a run stops at the next step and still saves a complete model."""
    overrides = {"time_budget_s": 0.0, "eval_steps": None, "eval_at_start": False}
    output = _train(tmp_path / "m", collection, tiny_bert_dir, fake_encode, overrides=overrides)
    card = json.loads((output / "training.json").read_text())
    assert card["stopped_by"] == "time budget" and card["steps"] == 1
    assert reranker.model_problem(output) is None


# --- errors and finding the models ------------------------------------------------------------


def test_unknown_scale_and_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown reranker scale 'huge'.*release"):
        reranker.train_reranker("huge", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown recipe settings \\['epochs'\\]"):
        reranker.train_reranker("small", tmp_path, overrides={"epochs": 3})
    with pytest.raises(ValueError, match="Unknown loss 'bce'"):
        reranker.train_reranker("small", tmp_path, overrides={"loss": "bce"})
    with pytest.raises(ValueError, match="multiple of micro_batch_size 3"):
        reranker.train_reranker("small", tmp_path, overrides={"micro_batch_size": 3})
    with pytest.raises(SystemExit) as exit_info:
        reranker.main(["--scale", "huge"])
    assert exit_info.value.code == 2


def test_release_model_missing_or_corrupt_names_make_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reranker, "data_dir", lambda: tmp_path / "data")
    monkeypatch.setattr(offline_models, "data_dir", lambda: tmp_path / "data")
    with pytest.raises(reranker.RerankerUnavailable, match="make reranker"):
        reranker.release_reranker_path()
    folder = tmp_path / "data" / "models" / "rerank-lab-reranker"
    folder.mkdir(parents=True)
    for name in (*reranker.REQUIRED_FILES, "training.json"):
        (folder / name).write_text("{}")
    (folder / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(reranker.RerankerUnavailable, match="corrupt.*make reranker"):
        reranker.release_reranker_path()


def test_small_model_is_built_on_first_use(
    temp_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_cross_encoder_dir: Path,
    library_line: Callable[[str], None],
) -> None:
    """Missing: a clear error, or (by default) trained once into the cache and then reused; kept
    per library line; a folder that passes the checks but does not load is trained again."""
    splits = {"fingerprint": "today"}
    monkeypatch.setattr(reranker, "load_collection", lambda scale: None)
    monkeypatch.setattr(reranker, "collection_fingerprint", lambda _: splits["fingerprint"])
    with pytest.raises(reranker.RerankerUnavailable, match="--scale small"):
        reranker.small_reranker_path(train_if_missing=False)
    calls = []

    def fake_train(scale: str, output: Path, **kwargs: Any) -> Path:
        calls.append((scale, output))
        shutil.copytree(tiny_cross_encoder_dir, output)
        card = {"collection_fingerprint": splits["fingerprint"], "versions": artefacts.versions()}
        (output / "training.json").write_text(json.dumps(card))
        return output

    monkeypatch.setattr(reranker, "train_reranker", fake_train)
    path = reranker.small_reranker_path()
    assert path == temp_cache / "models" / f"rerank-lab-reranker-small-{artefacts.line()}"
    assert reranker.model_problem(path) is None
    assert reranker.small_reranker_path() == path
    assert len(calls) == 1 and calls[0][0] == "small"
    assert not list(path.parent.glob("*.building-*"))
    splits["fingerprint"] = "new questions"  # a model trained on other splits is stale
    with pytest.raises(reranker.RerankerUnavailable, match="other query splits"):
        reranker.small_reranker_path(train_if_missing=False)
    assert reranker.small_reranker_path() == path
    assert len(calls) == 2

    library_line("other")  # another line trains its own, beside this line's
    with pytest.raises(reranker.RerankerUnavailable, match="not built"):
        reranker.small_reranker_path(train_if_missing=False)
    other = reranker.small_reranker_path()
    assert other != path and other.name.endswith("-st99.0-tf99.0") and len(calls) == 3
    library_line("running")
    assert reranker.small_reranker_path() == path and len(calls) == 3  # no retraining
    card = json.loads((path / "training.json").read_text())
    card["versions"]["sentence-transformers"] = "99.0.0"  # a folder copied from another line
    (path / "training.json").write_text(json.dumps(card))
    with pytest.raises(reranker.RerankerUnavailable, match="another library line"):
        reranker.small_reranker_path(train_if_missing=False)
    assert reranker.small_reranker_path() == path and len(calls) == 4

    # Valid files and card, but transformers cannot build it: set aside, trained again.
    (path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    reranker._LOADED.clear()
    with pytest.warns(UserWarning, match="small reranker .* does not load"):
        assert reranker.small_reranker_path() == path
    assert len(calls) == 5 and (path.parent / f"{path.name}.damaged").is_dir()
    assert reranker.small_reranker_path() == path and len(calls) == 5
