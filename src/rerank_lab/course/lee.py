"""The offline gold set of notebook 06: the Lee corpus of human-scored document pairs.

Lee, Pincombe and Welsh (2005) asked people to rate how similar 50 short news documents (from
the Australian Broadcasting Corporation) are, pair by pair, on a scale of 1 to 5; the mean
ratings of all 1,225 pairs are a classic test of document similarity. gensim ships them as test
data, with 300 further news documents of the same source for "background" use:

- ``lee.cor``: the 50 scored documents, one per line (latin-1);
- ``similarities0-1.txt``: a 50 × 50 matrix whose upper triangle holds each pair's mean rating
  divided by 5 (so 0.2 = "unrelated" … 1.0 = "the same");
- ``lee_background.cor``: the 300 background documents, one per line, never scored.

They are read straight out of **one pinned gensim wheel**, fetched with ``pip download
--no-deps`` and never installed (:mod:`rerank_lab.course.downloads`). gensim wheels are compiled per
platform, so the pin names one fixed platform (CPython 3.11, manylinux x86_64) with pip's
``--platform``/``--python-version``/``--only-binary`` options: pip then downloads exactly that
file on any machine (Windows, macOS, ARM, any Python), because nothing is installed. The sdist
would also carry the data, but ``pip download`` of an sdist builds its metadata, which for
gensim means compiling build requirements: slow and fragile on a classroom machine.

Public API: :func:`fetch_wheel`, :func:`read_wheel` (any wheel laid out like gensim's; tests use
a tiny fake one), :func:`load` (the :class:`LeeCorpus`, memoised), :func:`scored_pairs` and
:func:`split_by_document` (train and test pairs that share no document).
"""

from __future__ import annotations

import functools
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rerank_lab.course import downloads
from rerank_lab.course.downloads import PinnedFile

__all__ = [
    "LeeCorpus",
    "LeeUnavailable",
    "fetch_wheel",
    "load",
    "read_wheel",
    "scored_pairs",
    "split_by_document",
]

#: The one gensim file the course reads: fixed release, fixed platform, checked by size and hash.
WHEEL = PinnedFile(
    requirement="gensim==4.3.3",
    filename="gensim-4.3.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    size=26_662_669,
    sha256="d662bf96e3d741b6ab61a54be842a7cbf5e45193008b2f4225c758cafd7f9cdc",
    description="the Lee corpus (gensim's test data)",
    pip_options=(
        "--only-binary=:all:",
        "--platform",
        "manylinux_2_17_x86_64",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
    ),
    shown_size="27 MB",
)

DATA_FOLDER = "gensim/test/test_data/"
DOCUMENTS_MEMBER = DATA_FOLDER + "lee.cor"
SIMILARITIES_MEMBER = DATA_FOLDER + "similarities0-1.txt"
BACKGROUND_MEMBER = DATA_FOLDER + "lee_background.cor"
#: The files' encoding (gensim's own test reads them as latin-1 too).
ENCODING = "latin-1"

_ADVICE = (
    "Run `python -m rerank_lab.course.lee` once on a machine that can reach PyPI, or copy a filled "
    "data/cache/ folder (its downloads/ subfolder holds the wheel) from such a machine into this "
    "checkout (or point RERANK_LAB_CACHE at a copy of it)."
)


class LeeUnavailable(downloads.DownloadUnavailable):
    """The Lee corpus can neither be read from the cache nor fetched from PyPI."""


@dataclass(frozen=True)
class LeeCorpus:
    """The 50 scored documents, their 50 × 50 similarity matrix, and 300 background documents."""

    documents: list[str]
    similarities: np.ndarray
    """``similarities[i, j]`` for i < j: mean human rating of documents i and j, divided by 5."""
    background: list[str]

    def __repr__(self) -> str:
        return (
            f"LeeCorpus({len(self.documents)} scored documents, "
            f"{len(self.documents) * (len(self.documents) - 1) // 2} scored pairs, "
            f"{len(self.background)} background documents)"
        )


def fetch_wheel() -> Path:
    """The checked gensim wheel in ``cache_dir()/"downloads"`` (downloaded once, never installed).

    Raises :class:`LeeUnavailable` with pip's last words and what to do when it cannot be had.
    """
    return downloads.fetch(WHEEL, advice=_ADVICE, error=LeeUnavailable)


def _lines(archive: zipfile.ZipFile, member: str) -> list[str]:
    try:
        raw = archive.read(member)
    except KeyError as error:
        raise LeeUnavailable(f"{archive.filename} has no member {member}.") from error
    return [line.strip() for line in raw.decode(ENCODING).splitlines() if line.strip()]


def read_wheel(wheel: Path | str) -> LeeCorpus:
    """The Lee corpus read out of a wheel laid out like gensim's; its shape is checked.

    The matrix must be square, as large as the document list, with ones on the diagonal and
    every scored pair (upper triangle) between 0 and 1: a wrong member or a garbled file fails
    here, with a message, instead of producing silently wrong pairs.
    """
    with zipfile.ZipFile(wheel) as archive:
        documents = _lines(archive, DOCUMENTS_MEMBER)
        background = _lines(archive, BACKGROUND_MEMBER)
        try:
            text = archive.read(SIMILARITIES_MEMBER).decode(ENCODING)
        except KeyError as error:
            raise LeeUnavailable(f"{wheel} has no member {SIMILARITIES_MEMBER}.") from error
    similarities = np.loadtxt(io.StringIO(text), ndmin=2)
    n = len(documents)
    if similarities.shape != (n, n):
        raise LeeUnavailable(
            f"{SIMILARITIES_MEMBER} is {similarities.shape[0]} × {similarities.shape[1]} but "
            f"{DOCUMENTS_MEMBER} holds {n} documents."
        )
    upper = similarities[np.triu_indices(n, 1)]
    if not (np.allclose(np.diag(similarities), 1.0) and ((upper >= 0) & (upper <= 1)).all()):
        raise LeeUnavailable(f"{SIMILARITIES_MEMBER} is not a 0..1 similarity matrix.")
    return LeeCorpus(documents=documents, similarities=similarities, background=background)


@functools.lru_cache(maxsize=2)
def _load(wheel: Path) -> LeeCorpus:
    return read_wheel(wheel)


def load() -> LeeCorpus:
    """The Lee corpus from the pinned gensim wheel (fetched on first use; memoised)."""
    return _load(fetch_wheel())


def scored_pairs(corpus: LeeCorpus) -> pd.DataFrame:
    """One row per scored pair (a < b): document indices ``a``, ``b``, the file's ``similarity``
    (rating / 5, 0.2 … 1) and ``score``, the same rescaled to 0 … 1 ((rating − 1) / 4).

    The rescaled score is what the models train on: a cosine similarity target between 0 and 1,
    like STS-B's normalised scores online. Spearman correlation, the measure of notebook 06,
    is the same with either column (it only uses the order).
    """
    n = len(corpus.documents)
    a, b = np.triu_indices(n, 1)
    similarity = corpus.similarities[a, b]
    return pd.DataFrame(
        {"a": a, "b": b, "similarity": similarity, "score": (similarity - 0.2) / 0.8}
    )


def split_by_document(
    n_documents: int, n_test: int, *, seed: int = 42, n_train: int | None = None
) -> tuple[list[int], list[int]]:
    """Document indices for training and for testing, disjoint, drawn with a fixed seed.

    Splitting the *pairs* at random would put most test documents into training pairs too: a
    model would then be tested on documents it was trained on and look better than it is.
    Splitting the *documents* first, then keeping the pairs within each side, means no test
    pair shares a document with any training pair (the pairs across the split are left out).
    ``n_train`` defaults to all the documents not in the test set.
    """
    for name, value in (("n_documents", n_documents), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}.")
    if n_train is None:
        n_train = n_documents - n_test
    if n_test < 2 or n_train < 2:
        raise ValueError(
            f"Both sides need at least 2 documents to form a pair (n_train={n_train}, "
            f"n_test={n_test})."
        )
    if n_train + n_test > n_documents:
        raise ValueError(
            f"n_train + n_test = {n_train + n_test} is more than the {n_documents} documents."
        )
    order = np.random.default_rng(seed).permutation(n_documents)
    test = sorted(int(i) for i in order[:n_test])
    train = sorted(int(i) for i in order[n_test : n_test + n_train])
    return train, test


def pairs_within(pairs: pd.DataFrame, documents: list[int]) -> pd.DataFrame:
    """The rows of ``pairs`` whose two documents are both in ``documents``."""
    keep = set(documents)
    mask = pairs["a"].isin(keep) & pairs["b"].isin(keep)
    return pairs[mask].reset_index(drop=True)


def main() -> int:
    """``python -m rerank_lab.course.lee``: fetch the wheel into the cache and print what it
    holds."""
    corpus = load()
    print(corpus)
    pairs = scored_pairs(corpus)
    print(
        f"scores (0..1): median {pairs['score'].median():.3f}, "
        f"{(pairs['score'] >= 0.5).mean():.1%} of pairs at 0.5 or more"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
