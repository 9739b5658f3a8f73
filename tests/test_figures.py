"""The course's diagrams: drawn without error, carrying the numbers they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from rerank_lab.course import figures  # noqa: E402


def _texts(fig: plt.Figure) -> str:
    return " ".join(text.get_text() for ax in fig.axes for text in ax.texts + [ax.title])


def test_bi_vs_cross_encoder_draws_both_architectures() -> None:
    fig = figures.bi_vs_cross_encoder()
    words = _texts(fig)
    assert len(fig.axes) == 2
    assert "cosine(u, v)" in words and "sentence A [SEP] sentence B" in words
    plt.close(fig)


def test_retrieve_and_rerank_shows_the_notebooks_numbers() -> None:
    fig = figures.retrieve_and_rerank(41_730, 100, 25, unit="chunks")
    words = _texts(fig)
    assert "41,730 chunks" in words and "top 100" in words and "25 (query, doc) pairs" in words
    plt.close(fig)


@pytest.mark.parametrize(("corpus", "retrieve", "rerank"), [(10, 100, 25), (1_000, 10, 25)])
def test_retrieve_and_rerank_refuses_impossible_depths(
    corpus: int, retrieve: int, rerank: int
) -> None:
    with pytest.raises(ValueError, match="rerank <= retrieve <= corpus_size"):
        figures.retrieve_and_rerank(corpus, retrieve, rerank)


def test_augmented_sbert_names_the_sampling_strategies() -> None:
    fig = figures.augmented_sbert(("random", "BM25"))
    words = _texts(fig)
    assert "random, BM25" in words and "gold + silver" in words
    plt.close(fig)
