"""The course's three diagrams, drawn by matplotlib so that they render anywhere a plot does.

The sources explain bi- versus cross-encoders, the retrieve-and-rerank pipeline and Augmented
SBERT with pictures. Drawing them in code (boxes and arrows, no image file) keeps them in the
notebook's own output in JupyterLab, Colab and a static export alike, with no image to fetch,
and lets each picture carry the notebook's own numbers (the corpus size, the depths).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

__all__ = ["augmented_sbert", "bi_vs_cross_encoder", "retrieve_and_rerank"]

_MODEL = "#cfe2f3"  # a transformer
_TEXT = "#f4f4f4"  # text going in
_VECTOR = "#d9ead3"  # embeddings and scores
_DATA = "#fff2cc"  # data sets


def _box(ax: Axes, x: float, y: float, text: str, colour: str, width: float = 2.2) -> None:
    """A rounded box centred on (x, y), 0.8 high, with its label."""
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - 0.4),
            width,
            0.8,
            boxstyle="round,pad=0.05,rounding_size=0.15",
            facecolor=colour,
            edgecolor="#444444",
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], label: str = "") -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "#444444"})
    if label:
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(middle[0] + 0.1, middle[1], label, fontsize=8, color="#444444", va="center")


def _canvas(ax: Axes, width: float, height: float, title: str) -> None:
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=11)


def bi_vs_cross_encoder() -> Figure:
    """Two sentences through a bi-encoder (one vector each, compared by cosine) and through a
    cross-encoder (one pass over both, one score)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6))
    _canvas(left, 6, 6.4, "Bi-encoder: each text alone, then compare")
    for x, name, vector in ((1.5, "sentence A", "u"), (4.5, "sentence B", "v")):
        _box(left, x, 0.7, name, _TEXT)
        _box(left, x, 2.2, "transformer", _MODEL)
        _box(left, x, 3.6, f"pooling → {vector}", _VECTOR)
        _arrow(left, (x, 1.1), (x, 1.8))
        _arrow(left, (x, 2.6), (x, 3.2))
        _arrow(left, (x, 4.0), (3 + (x - 3) * 0.3, 4.8))
    _box(left, 3, 5.2, "cosine(u, v)", _VECTOR)
    left.text(3, 6.05, "same weights for A and B; vectors can be stored", ha="center", fontsize=8)

    _canvas(right, 6, 6.4, "Cross-encoder: both texts in one pass")
    _box(right, 3, 0.7, "sentence A [SEP] sentence B", _TEXT, width=4.4)
    _box(right, 3, 2.2, "transformer", _MODEL, width=4.4)
    _box(right, 3, 3.6, "classifier head", _MODEL)
    _box(right, 3, 5.2, "one score", _VECTOR)
    _arrow(right, (3, 1.1), (3, 1.8), "attention across A and B")
    _arrow(right, (3, 2.6), (3, 3.2))
    _arrow(right, (3, 4.0), (3, 4.8))
    right.text(3, 6.05, "nothing to store: every pair is a new pass", ha="center", fontsize=8)
    fig.tight_layout()
    return fig


def retrieve_and_rerank(
    corpus_size: int, retrieve: int, rerank: int, shown: int = 3, unit: str = "documents"
) -> Figure:
    """The two-stage pipeline with the notebook's own numbers: a bi-encoder retrieves
    ``retrieve`` of ``corpus_size`` texts (``unit``: documents, chunks), a cross-encoder
    re-orders the best ``rerank``."""
    if not 0 < shown <= rerank <= retrieve <= corpus_size:
        raise ValueError(
            "Need 0 < shown <= rerank <= retrieve <= corpus_size, got "
            f"{shown}, {rerank}, {retrieve}, {corpus_size}."
        )
    fig, ax = plt.subplots(figsize=(11, 3.4))
    _canvas(ax, 17, 4.6, "Retrieve, then re-rank")
    _box(ax, 1.3, 3.4, "query", _TEXT, width=1.8)
    _box(ax, 1.3, 1.2, f"corpus\n{corpus_size:,} {unit}", _DATA, width=2.2)
    _box(ax, 4.6, 3.4, "bi-encoder", _MODEL, width=2.2)
    _box(ax, 4.6, 1.2, "embeddings,\nencoded once", _VECTOR, width=2.2)
    _box(ax, 8.0, 2.3, f"semantic search:\ntop {retrieve:,}", _VECTOR, width=2.6)
    _box(ax, 11.5, 2.3, f"cross-encoder on\n{rerank:,} (query, doc) pairs", _MODEL, width=3.0)
    _box(ax, 15.2, 2.3, f"re-ranked:\nshow the top {shown}", _VECTOR, width=2.6)
    _arrow(ax, (2.2, 3.4), (3.5, 3.4))
    _arrow(ax, (2.4, 1.2), (3.5, 1.2))
    _arrow(ax, (5.7, 3.2), (6.7, 2.5), "query vector")
    _arrow(ax, (5.7, 1.4), (6.7, 2.1))
    _arrow(ax, (9.3, 2.3), (10.0, 2.3))
    _arrow(ax, (13.0, 2.3), (13.9, 2.3))
    ax.text(4.6, 0.15, "fast: one pass per text, reused by every query", ha="center", fontsize=8)
    ax.text(11.5, 1.15, f"slow: {rerank:,} passes per query", ha="center", fontsize=8)
    fig.tight_layout()
    return fig


def augmented_sbert(strategies: Sequence[str] = ("random", "BM25", "semantic search")) -> Figure:
    """Augmented SBERT: a cross-encoder trained on gold pairs labels sampled silver pairs, and
    the bi-encoder trains on gold and silver together."""
    fig, ax = plt.subplots(figsize=(11, 3.8))
    _canvas(ax, 17, 5.2, "Augmented SBERT: a cross-encoder labels data for a bi-encoder")
    _box(ax, 1.6, 4.0, "gold pairs\n(human scores)", _DATA, width=2.6)
    _box(ax, 5.4, 4.0, "train a\ncross-encoder", _MODEL, width=2.4)
    _box(ax, 1.6, 1.3, "unlabelled\nsentences", _DATA, width=2.6)
    sampling = textwrap.fill(", ".join(strategies), width=26)
    _box(ax, 5.4, 1.3, f"sample pairs:\n{sampling}", _VECTOR, width=3.4)
    _box(ax, 9.4, 2.6, "cross-encoder\nscores each pair", _MODEL, width=2.6)
    _box(ax, 12.6, 2.6, "silver pairs\n(model scores)", _DATA, width=2.4)
    _box(ax, 15.6, 2.6, "train the\nbi-encoder\non gold + silver", _MODEL, width=2.4)
    _arrow(ax, (2.9, 4.0), (4.2, 4.0))
    _arrow(ax, (2.9, 1.3), (3.7, 1.3))
    _arrow(ax, (6.6, 3.8), (8.3, 2.9))
    _arrow(ax, (7.1, 1.5), (8.3, 2.3))
    _arrow(ax, (10.7, 2.6), (11.4, 2.6))
    _arrow(ax, (13.8, 2.6), (14.4, 2.6))
    ax.annotate(
        "",
        xy=(15.6, 3.4),
        xytext=(2.9, 4.6),
        arrowprops={"arrowstyle": "-|>", "color": "#444444", "connectionstyle": "arc3,rad=-0.12"},
    )
    fig.tight_layout()
    return fig
