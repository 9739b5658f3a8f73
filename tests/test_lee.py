"""Tests of rerank_lab.course.lee (and the shared pinned-download machinery) on a tiny fake gensim
wheel: hermetic, no network, no real cache.

The fake wheel holds the three Lee members at gensim's paths: four documents, a 4 × 4 matrix of
similarities and two background documents, in latin-1 like the real files.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rerank_lab.course import downloads, lee
from rerank_lab.course.files import checksum

DOCUMENTS = [
    "Bushfires threaten homes in the Blue Mountains.",
    "Fires burn near Sydney as winds pick up.",
    "The Reserve Bank leaves interest rates on hold.",
    "Café owners in Brisbane welcome the rate decision.",  # latin-1 é
]
SIMILARITIES = """1\t0.9\t0.2\t0.25
0\t1\t0.2\t0.3
0\t0\t1\t0.8
0\t0\t0\t1
"""
BACKGROUND = ["Storms hit the coast.", "Shares fall on Wall Street."]


def build_wheel(
    path: Path,
    documents: list[str] = DOCUMENTS,
    similarities: str = SIMILARITIES,
    background: list[str] = BACKGROUND,
) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(lee.DOCUMENTS_MEMBER, ("\n".join(documents) + "\n").encode("latin-1"))
        archive.writestr(lee.SIMILARITIES_MEMBER, similarities.encode("latin-1"))
        archive.writestr(lee.BACKGROUND_MEMBER, "\n".join(background).encode("latin-1"))
        archive.writestr("gensim/__init__.py", "")
    return path


@pytest.fixture
def tiny_wheel(tmp_path: Path) -> Path:
    return build_wheel(tmp_path / "fake.whl")


@pytest.fixture
def cache(tmp_path: Path, tiny_wheel: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private course cache whose pinned gensim wheel is the tiny one."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("RERANK_LAB_CACHE", str(folder))
    pinned = downloads.PinnedFile(
        requirement=lee.WHEEL.requirement,
        filename=lee.WHEEL.filename,
        size=tiny_wheel.stat().st_size,
        sha256=hashlib.sha256(tiny_wheel.read_bytes()).hexdigest(),
        description=lee.WHEEL.description,
        pip_options=lee.WHEEL.pip_options,
    )
    monkeypatch.setattr(lee, "WHEEL", pinned)
    lee._load.cache_clear()
    yield folder
    lee._load.cache_clear()


def _fake_pip(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> list[list[str]]:
    commands: list[list[str]] = []

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        commands.append(command)
        shutil.copy(wheel, Path(command[command.index("-d") + 1]) / lee.WHEEL.filename)
        return subprocess.CompletedProcess(command, 0, "Saved", "")

    monkeypatch.setattr(subprocess, "run", run)
    return commands


def test_read_wheel_gives_documents_matrix_and_background(tiny_wheel: Path) -> None:
    corpus = lee.read_wheel(tiny_wheel)
    assert corpus.documents == DOCUMENTS  # latin-1 decoded: "Café"
    assert corpus.background == BACKGROUND
    assert corpus.similarities.shape == (4, 4)
    assert "4 scored documents, 6 scored pairs, 2 background" in repr(corpus)


def test_scored_pairs_are_the_upper_triangle_rescaled() -> None:
    corpus = lee.LeeCorpus(DOCUMENTS, np.loadtxt(SIMILARITIES.splitlines()), BACKGROUND)
    pairs = lee.scored_pairs(corpus)
    assert list(zip(pairs["a"], pairs["b"], strict=True)) == [
        (0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)
    ]  # fmt: skip
    assert pairs["similarity"].tolist() == [0.9, 0.2, 0.25, 0.2, 0.3, 0.8]
    # (rating/5 - 0.2) / 0.8 = (rating - 1) / 4: 0.9 -> 0.875, 0.2 -> 0 (a rating of 1)
    np.testing.assert_allclose(pairs["score"], [0.875, 0.0, 0.0625, 0.0, 0.125, 0.75])


@pytest.mark.parametrize(
    ("similarities", "message"),
    [
        ("1\t0.5\n0\t1\n", "is 2 × 2 but"),
        (SIMILARITIES.replace("0.8", "1.8"), "not a 0..1 similarity matrix"),
        (SIMILARITIES.replace("1\t0.9", "0.5\t0.9"), "not a 0..1 similarity matrix"),
    ],
)
def test_a_garbled_matrix_is_refused(tmp_path: Path, similarities: str, message: str) -> None:
    wheel = build_wheel(tmp_path / "bad.whl", similarities=similarities)
    with pytest.raises(lee.LeeUnavailable, match=message):
        lee.read_wheel(wheel)


def test_a_wheel_without_the_data_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("gensim/__init__.py", "")
    with pytest.raises(lee.LeeUnavailable, match="no member"):
        lee.read_wheel(path)


def test_split_by_document_is_disjoint_seeded_and_complete() -> None:
    train, test = lee.split_by_document(50, 25, seed=42)
    assert len(train) == len(test) == 25
    assert not set(train) & set(test)
    assert sorted(train + test) == list(range(50))
    assert (train, test) == lee.split_by_document(50, 25, seed=42)
    assert (train, test) != lee.split_by_document(50, 25, seed=7)
    small_train, small_test = lee.split_by_document(50, 8, seed=42, n_train=8)
    assert len(small_train) == len(small_test) == 8 and not set(small_train) & set(small_test)


def test_no_test_pair_shares_a_document_with_a_training_pair() -> None:
    rng = np.random.default_rng(0)
    matrix = np.triu(rng.random((12, 12)), 1) + np.eye(12)
    pairs = lee.scored_pairs(lee.LeeCorpus([f"doc {i}" for i in range(12)], matrix, []))
    train_docs, test_docs = lee.split_by_document(12, 5, seed=1)
    train, test = lee.pairs_within(pairs, train_docs), lee.pairs_within(pairs, test_docs)
    assert len(train) == 7 * 6 // 2 and len(test) == 5 * 4 // 2
    assert not (set(train["a"]) | set(train["b"])) & (set(test["a"]) | set(test["b"]))
    assert isinstance(test, pd.DataFrame) and list(test.index) == list(range(len(test)))


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((50, 1), {}, ValueError),
        ((50, 49), {}, ValueError),
        ((50, 30), {"n_train": 30}, ValueError),
        ((50.0, 10), {}, TypeError),
    ],
)
def test_split_by_document_rejects_bad_sizes(args: tuple, kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        lee.split_by_document(*args, **kwargs)


def test_load_fetches_once_with_the_pinned_platform(
    cache: Path, tiny_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _fake_pip(monkeypatch, tiny_wheel)
    corpus = lee.load()
    assert corpus.documents == DOCUMENTS
    [command] = commands
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in command and "install" not in command
    assert lee.WHEEL.requirement in command
    assert command[command.index("--platform") + 1] == "manylinux_2_17_x86_64"
    assert "--only-binary=:all:" in command
    lee._load.cache_clear()
    assert lee.load().documents == DOCUMENTS
    assert len(commands) == 1  # the cached wheel was checked and reused


def test_without_network_the_error_says_what_to_do(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(subprocess, "run", failing)
    with pytest.raises(lee.LeeUnavailable) as raised:
        lee.load()
    message = str(raised.value)
    assert "No matching distribution" in message
    assert "python -m rerank_lab.course.lee" in message and "RERANK_LAB_CACHE" in message
    assert isinstance(raised.value, downloads.DownloadUnavailable)


def test_a_corrupt_cached_wheel_is_fetched_again(
    cache: Path, tiny_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = cache / "downloads" / lee.WHEEL.filename
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * tiny_wheel.stat().st_size)
    commands = _fake_pip(monkeypatch, tiny_wheel)
    with pytest.warns(UserWarning, match="corrupt"):
        assert lee.fetch_wheel() == target
    assert len(commands) == 1 and target.read_bytes() == tiny_wheel.read_bytes()


def test_the_pin_names_one_exact_file() -> None:
    assert lee.WHEEL.requirement.count("==") == 1
    assert lee.WHEEL.filename.startswith("gensim-4.3.3-cp311-cp311-manylinux")
    assert len(lee.WHEEL.sha256) == 64 and lee.WHEEL.size > 20_000_000


def test_problem_checks_size_archive_and_hash(tmp_path: Path, tiny_wheel: Path) -> None:
    pinned = downloads.PinnedFile(
        "x==1", "x.whl", tiny_wheel.stat().st_size, "0" * 64, "a test file"
    )
    assert "instead of" in downloads.problem(tiny_wheel, pinned)  # the hash
    right = downloads.PinnedFile(
        "x==1", "x.whl", pinned.size, checksum(tiny_wheel, "sha256"), "a test file"
    )
    assert downloads.problem(tiny_wheel, right) is None
    other = tmp_path / "other.whl"
    other.write_bytes(b"y" * pinned.size)
    assert downloads.problem(other, right) == "it is not a zip file"
    other.write_bytes(b"y")
    assert "bytes instead of" in downloads.problem(other, right)
