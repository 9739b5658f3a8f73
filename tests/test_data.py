"""Tests of rerank_lab.data: load_mini on constructed files (each failure mode) and on the real set.

The constructed sets live in a temp data/ folder that replaces ``data_dir`` for the loader;
the last tests read the shipped files in data/mini of this checkout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rerank_lab import data
from rerank_lab.course import settings

PASSAGES = [
    {"id": "p1", "topic": "bikes", "text": "Oil the chain of a bike every few hundred km."},
    {"id": "p2", "topic": "bikes", "text": "Tyre pressure depends on the rider's weight."},
    {"id": "p3", "topic": "tea", "text": "Green tea brews best below the boiling point."},
]
QUERIES = [
    {"id": "q1", "text": "bike chain care", "relevant": {"p1": 2, "p2": 1}},
    {"id": "q2", "text": "green tea temperature", "relevant": {"p3": "2"}},
]


def _write_jsonl(path: Path, rows: list[dict[str, Any]], extra_lines: tuple[str, ...] = ()) -> None:
    lines = [json.dumps(row) for row in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def mini_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp data/mini with a small valid set; the loader reads it instead of the real one."""
    root = tmp_path / "data"
    folder = root / "mini"
    folder.mkdir(parents=True)
    _write_jsonl(folder / "passages.jsonl", PASSAGES)
    _write_jsonl(folder / "queries.jsonl", QUERIES)
    monkeypatch.setattr(data, "data_dir", lambda: root)
    return folder


def test_load_mini_returns_a_judged_set(mini_dir: Path) -> None:
    """Passages and queries come back as tables, qrels as {query: {doc: int grade}}."""
    judged = data.load_mini()
    assert isinstance(judged, data.JudgedSet)
    assert judged.name == "mini"
    assert isinstance(judged.passages, pd.DataFrame)
    assert judged.passages["id"].tolist() == ["p1", "p2", "p3"]
    assert {"id", "text", "topic"} <= set(judged.passages.columns)
    assert judged.queries.to_dict("records") == [
        {"id": "q1", "text": "bike chain care"},
        {"id": "q2", "text": "green tea temperature"},
    ]
    assert judged.qrels == {"q1": {"p1": 2, "p2": 1}, "q2": {"p3": 2}}
    assert all(
        isinstance(g, int) for judged_docs in judged.qrels.values() for g in judged_docs.values()
    )
    assert repr(judged) == "JudgedSet('mini': 3 passages, 2 queries, 3 judgements)"


def test_blank_lines_are_skipped(mini_dir: Path) -> None:
    """Empty and whitespace-only lines (e.g. a trailing newline) are not rows."""
    _write_jsonl(mini_dir / "passages.jsonl", PASSAGES, extra_lines=("", "   "))
    assert len(data.load_mini().passages) == 3


def test_bad_json_line_names_file_and_line(mini_dir: Path) -> None:
    """A broken line is reported as path:line, so it can be found and fixed."""
    path = mini_dir / "passages.jsonl"
    lines = [json.dumps(row) for row in PASSAGES]
    lines.insert(1, '{"id": "p9", "text": "unterminated')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}:2 is not valid JSON \(Unterminated string"):
        data.load_mini()


def test_bad_json_line_number_counts_blank_lines(mini_dir: Path) -> None:
    """Line numbers are those of the file, blank lines included."""
    path = mini_dir / "queries.jsonl"
    _write_jsonl(path, QUERIES, extra_lines=("", "not json"))
    with pytest.raises(ValueError, match=rf"{path}:4 is not valid JSON"):
        data.load_mini()


def test_unknown_judged_passage_is_named(mini_dir: Path) -> None:
    """A judgement of a passage that does not exist is an error naming the unknown ids."""
    queries = [*QUERIES, {"id": "q3", "text": "x", "relevant": {"p404": 2, "p1": 1, "p0": 1}}]
    _write_jsonl(mini_dir / "queries.jsonl", queries)
    with pytest.raises(ValueError, match=r"judges passages that do not exist: \['p0', 'p404'\]"):
        data.load_mini()


@pytest.mark.parametrize("name", ["passages.jsonl", "queries.jsonl"])
def test_missing_file_says_to_restore_it(mini_dir: Path, name: str) -> None:
    """A deleted file is named, with how to get it back."""
    (mini_dir / name).unlink()
    with pytest.raises(FileNotFoundError, match=rf"{name} is missing: .*restore it with git"):
        data.load_mini()


# --- the shipped files ------------------------------------------------------------------------
# These read data/mini of this checkout (written with the course), not a constructed copy.

REAL_MINI = settings.REPO_ROOT / "data" / "mini"


def test_real_mini_set_has_60_passages_and_24_queries() -> None:
    """REAL FILES: the shipped mini set loads with its documented size and valid judgements."""
    assert (REAL_MINI / "passages.jsonl").is_file(), f"{REAL_MINI} is missing"
    judged = data.load_mini()
    assert len(judged.passages) == 60
    assert len(judged.queries) == 24
    assert judged.passages["id"].is_unique
    assert judged.queries["id"].is_unique
    assert set(judged.qrels) == set(judged.queries["id"])
    assert all(judged.passages["text"].map(lambda text: isinstance(text, str) and text.strip()))
    assert all(judged.queries["text"].map(lambda text: isinstance(text, str) and text.strip()))
    grades = [grade for docs in judged.qrels.values() for grade in docs.values()]
    assert set(grades) <= {1, 2}
    assert all(docs for docs in judged.qrels.values())  # every query has a relevant passage


def test_real_mini_set_has_ten_topics() -> None:
    """REAL FILES: 60 passages on 10 topics, as the loader's docstring says."""
    passages = data.load_mini().passages
    assert passages["topic"].nunique() == 10
