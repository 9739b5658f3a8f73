"""The benchmark's pieces on tiny inputs: every key is reported, the numbers are consistent.

No timing is checked here (this machine's load decides it): ``python -m rerank_lab.course.bench``
measures, these tests only prove that it runs and reports what the performance issue asks for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rerank_lab.course import bench, fast_encode
from rerank_lab.data import JudgedSet, load_mini


@pytest.fixture
def mini() -> JudgedSet:
    """The mini set with its first 8 queries: real texts, few re-rankings."""
    full = load_mini()
    queries = full.queries.head(8).reset_index(drop=True)
    qrels = {query_id: full.qrels[query_id] for query_id in queries["id"]}
    return JudgedSet("mini-8", full.passages, queries, qrels)


@pytest.fixture
def tiny_fast(tiny_bi_encoder: Any, temp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if not fast_encode.onnx_available():
        return tiny_bi_encoder
    monkeypatch.setenv(fast_encode.THREADS_ENV, "1")
    return fast_encode.to_fast(tiny_bi_encoder, name="tiny")


def test_run_bench_reports_every_key(
    mini: JudgedSet,
    tiny_bi_encoder: Any,
    tiny_fast: Any,
    tiny_cross_encoder: Any,
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = bench.run_bench(
        mini,
        plain=tiny_bi_encoder,
        fast=tiny_fast,
        device="cpu",
        cross_encoder=tiny_cross_encoder,
        sample=8,
        repeats=2,
        scratch=scratch,
    )
    assert set(bench.KEYS) <= set(result)
    for key in bench.KEYS:
        assert result[key] is not None, key
    assert result["encode_speedup"] == pytest.approx(
        result["docs_per_s_fast"] / result["docs_per_s_plain"]
    )
    assert 0 < result["cache_ratio"] < 1  # reading 60 vectors back beats encoding them
    assert result["rerank_top25_s"] > 0 and result["rerank_top25_s_plain"] > 0
    assert result["rerank_ndcg_rel_loss"] == 0.0  # the same cross-encoder on both sides
    assert result["device"].startswith("cpu (")
    assert result["peak_rss_mb"] > 50
    assert 50 < result["peak_rss_mb_encode"] <= result["peak_rss_mb"]
    assert result["corpus_chunks"] == len(mini.passages)
    assert result["test_queries"] == len(mini.queries)
    assert result["speed_sample"] == 8
    assert len(result["encode_seconds"]["plain"]) == 2
    assert -1 <= result["fast_ndcg_rel_loss"] <= 1
    assert result["cosine_fast_vs_plain"]["mean"] > 0.9
    assert list(scratch.iterdir()) == []  # the fast side's private cache is gone
    json.loads(json.dumps(result, default=str))
    shown = bench.table(result)
    for key in bench.KEYS:
        assert key in shown


def test_without_a_cross_encoder_the_rerank_keys_are_none(
    mini: JudgedSet, tiny_bi_encoder: Any, temp_cache: Path
) -> None:
    result = bench.run_bench(
        mini, plain=tiny_bi_encoder, fast=tiny_bi_encoder, device="cpu", sample=4, repeats=1
    )
    assert result["rerank_top25_s"] is None
    assert result["fast_ndcg_rel_loss"] == 0.0  # the same model on both sides
    assert "rerank_top25_s" in bench.table(result)


def test_cached_encode_times_a_cold_and_a_cached_run(tiny_bi_encoder: Any, tmp_path: Path) -> None:
    texts = [f"text number {i}" for i in range(20)]
    embeddings, timings = bench.cached_encode(tiny_bi_encoder, texts, tmp_path, repeats=2)
    assert embeddings.shape == (20, 32)
    assert timings["cache_ratio"] == pytest.approx(timings["cached_s"] / timings["cold_s"])


def test_first_stage_scores_the_runs(mini: JudgedSet) -> None:
    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(len(mini.passages), 8)).astype(np.float32)
    queries = rng.normal(size=(len(mini.queries), 8)).astype(np.float32)
    hits, ndcg, per_query = bench.first_stage(mini, corpus, queries)
    assert len(hits) == len(mini.queries) and 0 <= ndcg <= 1
    assert list(per_query.columns) == [
        "accuracy@10",
        "precision@10",
        "recall@10",
        "ndcg@10",
        "mrr@10",
    ]


def test_targets_are_marked() -> None:
    assert bench._meets("encode_speedup", 3.5).startswith("ok")
    assert bench._meets("encode_speedup", 2.0).startswith("MISS")
    assert bench._meets("cache_ratio", 0.01).startswith("ok")
    assert bench._meets("device", "cpu") == ""
    assert bench._meets("rerank_top25_s", None) == ""


def test_bad_arguments_are_refused(mini: JudgedSet, tiny_bi_encoder: Any) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        bench.run_bench(mini, plain=tiny_bi_encoder, fast=tiny_bi_encoder, device="cpu", repeats=0)
    with pytest.raises(SystemExit):
        bench.main(["--scale", "huge"])


def test_machine_names_the_cpu() -> None:
    described = bench.machine()
    assert described["cpus"] >= 1
    assert described["quantization_config"] in fast_encode.CONFIGS
