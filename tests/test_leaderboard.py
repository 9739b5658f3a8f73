"""The leaderboard: every system scored per query, families reported, deltas with intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pytest

from rerank_lab.course import leaderboard
from rerank_lab.course.collection import Collection

TEXTS = {
    "d1": ["Aspirin lowers the risk of a second heart attack.", "It thins the blood."],
    "d2": ["Coffee drinkers sleep less on average.", "Caffeine blocks adenosine."],
    "d3": ["Running improves mood in older adults."],
    "d4": ["Salt raises blood pressure in many people.", "Cutting salt lowers it."],
}


def _collection() -> Collection:
    rows = [
        {"doc_id": f"{doc}#{n}", "id": doc, "chunk": text, "title": f"Title of {doc}"}
        for doc, chunks in TEXTS.items()
        for n, text in enumerate(chunks)
    ]
    queries = pd.DataFrame(
        [
            {"id": "T1-test", "family": "title", "split": "test", "text": "heart attack aspirin"},
            {"id": "K1-test", "family": "keyword", "split": "test", "text": "salt"},
            {"id": "Q1-test", "family": "question", "split": "test", "text": "Does coffee?"},
            {"id": "Q2-dev", "family": "question", "split": "dev", "text": "jogging mood"},
        ]
    )
    qrels = {
        "T1-test": {"d1": 1},
        "K1-test": {"d4": 2, "d1": 1},
        "Q1-test": {"d2": 2},
        "Q2-dev": {"d3": 2},
    }
    documents = pd.DataFrame({"pmid": list(TEXTS)})
    return Collection("small", documents, datasets.Dataset.from_list(rows), queries, qrels)


@pytest.fixture
def runs(tiny_bi_encoder: Any, tiny_cross_encoder: Any, temp_cache: Path) -> list:
    return leaderboard.run_leaderboard(
        _collection(), "test", tiny_bi_encoder, tiny_cross_encoder, show_progress=False
    )


def test_every_system_scores_every_test_query(runs: list) -> None:
    names = [run.name for run in runs]
    assert names == [
        "bm25",
        "bi-encoder",
        "hybrid",
        "bi-encoder + cross-encoder",
        "hybrid + cross-encoder",
    ]
    for run in runs:
        assert sorted(run.per_query.index) == ["K1-test", "Q1-test", "T1-test"]
        assert run.seconds >= 0
    assert runs[3].reranks == "bi-encoder" and runs[4].reranks == "hybrid"


def test_reranking_keeps_the_first_stage_recall(runs: list) -> None:
    by_name = {run.name: run.per_query for run in runs}
    for first in ("bi-encoder", "hybrid"):
        pd.testing.assert_series_equal(
            by_name[first]["recall@25"], by_name[f"{first} + cross-encoder"]["recall@25"]
        )


def test_records_have_the_documented_keys(runs: list) -> None:
    records = leaderboard.to_records(runs, _collection(), "test")
    families = {r["family"] for r in records}
    assert families == {"title", "keyword", "question", "all"}
    for record in records:
        assert {"system", "family", "ndcg@10", "mrr@10", "recall@25", "queries"} <= set(record)
        assert {"ms_per_query", "world"} <= set(record)
        assert ("delta_ndcg@10" in record) == record["system"].endswith("+ cross-encoder")
    everything = [r for r in records if r["family"] == "all" and r["system"] == "bm25"][0]
    per_family = [r["ndcg@10"] for r in records if r["system"] == "bm25" and r["family"] != "all"]
    assert everything["ndcg@10"] == pytest.approx(sum(per_family) / 3, abs=1e-3)  # macro mean
    assert everything["queries"] == 3


def test_bm25_finds_the_keyword_document_first(runs: list) -> None:
    bm25 = runs[0].per_query
    assert bm25.loc["K1-test", "mrr@10"] == 1.0


def test_the_command_line_uses_plain_torch_models(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The leaderboard's numbers are the reference ones: both models load with fast=False
    (plain torch), never the int8 ONNX twins a CPU would otherwise pick by itself."""
    from rerank_lab import models

    calls: dict[str, dict[str, Any]] = {}
    monkeypatch.setattr(leaderboard, "load_collection", lambda scale: _collection())
    monkeypatch.setattr(
        models,
        "load_bi_encoder",
        lambda *args, **kwargs: calls.setdefault("bi-encoder", kwargs) and "bi",
    )
    monkeypatch.setattr(
        models,
        "load_cross_encoder_for_scale",
        lambda *args, **kwargs: calls.setdefault("cross-encoder", kwargs) and "ce",
    )
    seen: list[tuple[Any, Any]] = []

    def fake_run(collection: Any, split: str, bi: Any, ce: Any, **kwargs: Any) -> list:
        seen.append((bi, ce))
        return []

    def fake_tune(collection: Any, bi: Any, ce: Any, **kwargs: Any) -> tuple[dict, None]:
        assert kwargs["split"] == "dev"
        return {"bi-encoder": 0.3}, None

    monkeypatch.setattr(leaderboard, "run_leaderboard", fake_run)
    monkeypatch.setattr(leaderboard, "tune_weights", fake_tune)
    monkeypatch.setattr(leaderboard, "to_records", lambda *args: [])
    assert leaderboard.main(["--split", "test", "--scale", "small", "--json"]) == 0
    assert calls["bi-encoder"]["fast"] is False
    assert calls["cross-encoder"]["fast"] is False
    assert calls["bi-encoder"]["quiet"] is True and calls["cross-encoder"]["quiet"] is True
    assert seen == [("bi", "ce")]
    assert capsys.readouterr().out.strip() == "[]"


def _dev_collection() -> Collection:
    """The test collection with its test queries moved to dev (tuning refuses the test split)."""
    collection = _collection()
    queries = collection.queries.assign(split="dev")
    return Collection("small", collection.documents, collection.chunks, queries, collection.qrels)


def test_interpolated_systems_use_the_given_weights(
    tiny_bi_encoder: Any, tiny_cross_encoder: Any, temp_cache: Path
) -> None:
    runs = leaderboard.run_leaderboard(
        _collection(),
        "test",
        tiny_bi_encoder,
        tiny_cross_encoder,
        weights={"bi-encoder": 0.0},
        show_progress=False,
    )
    by_name = {run.name: run for run in runs}
    assert "hybrid + cross-encoder (interpolated)" not in by_name
    blended = by_name["bi-encoder + cross-encoder (interpolated)"]
    assert blended.weight == 0.0 and blended.reranks == "bi-encoder"
    # weight 0 keeps the first stage's order: the same metrics as the bi-encoder alone
    pd.testing.assert_frame_equal(blended.per_query, by_name["bi-encoder"].per_query)
    records = leaderboard.to_records([by_name["bi-encoder"], blended], _collection(), "test")
    assert {r["weight"] for r in records if "weight" in r} == {0.0}


def test_tune_weights_picks_the_best_dev_weight(
    tiny_bi_encoder: Any, tiny_cross_encoder: Any, temp_cache: Path
) -> None:
    weights, curve = leaderboard.tune_weights(
        _dev_collection(), tiny_bi_encoder, tiny_cross_encoder, show_progress=False
    )
    assert set(weights) == {"bi-encoder", "hybrid"}
    assert len(curve) == 2 * len(leaderboard.WEIGHT_GRID)
    for first, group in curve.groupby("first_stage"):
        best = group["ndcg@10"].max()
        smallest_best = group.loc[group["ndcg@10"] == best, "weight"].min()
        assert weights[first] == smallest_best


def test_tune_weights_refuses_the_test_split(tiny_bi_encoder: Any, tiny_cross_encoder: Any) -> None:
    with pytest.raises(ValueError, match="dev split"):
        leaderboard.tune_weights(_collection(), tiny_bi_encoder, tiny_cross_encoder, split="test")


def test_the_command_line_fast_option_lets_the_loader_choose(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rerank_lab import models

    calls: dict[str, dict[str, Any]] = {}
    monkeypatch.setattr(leaderboard, "load_collection", lambda scale: _collection())
    monkeypatch.setattr(
        models, "load_bi_encoder", lambda *a, **kw: calls.setdefault("bi", kw) and "bi"
    )
    monkeypatch.setattr(
        models, "load_cross_encoder_for_scale", lambda *a, **kw: calls.setdefault("ce", kw) and "ce"
    )
    monkeypatch.setattr(leaderboard, "tune_weights", lambda *a, **kw: ({}, None))
    monkeypatch.setattr(leaderboard, "run_leaderboard", lambda *a, **kw: [])
    monkeypatch.setattr(leaderboard, "to_records", lambda *args: [])
    assert leaderboard.main(["--split", "test", "--json", "--fast"]) == 0
    assert calls["bi"]["fast"] is None and calls["ce"]["fast"] is None


def test_rerankers_are_scored_in_logits_whatever_their_default_activation(
    tiny_bi_encoder: Any,
    tiny_cross_encoder_dir: Path,
    temp_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bge-reranker-base keeps a Sigmoid by default; the leaderboard (and its blend, which
    min-max scales scores) must see logits, as the notebooks do."""
    import torch
    from sentence_transformers import CrossEncoder

    from rerank_lab import search

    model = CrossEncoder(
        str(tiny_cross_encoder_dir), device="cpu", activation_fn=torch.nn.Sigmoid()
    )
    real_rerank = search.rerank
    scores: list[float] = []

    def recorded(*args: Any, **kwargs: Any) -> list:
        assert isinstance(kwargs.get("activation_fn"), torch.nn.Identity)
        hits = real_rerank(*args, **kwargs)
        scores.extend(hit["score"] for hit in hits)
        return hits

    monkeypatch.setattr(search, "rerank", recorded)
    leaderboard.run_leaderboard(_collection(), "test", tiny_bi_encoder, model, show_progress=False)
    assert scores and not all(0 < score < 1 for score in scores)  # logits, not probabilities
