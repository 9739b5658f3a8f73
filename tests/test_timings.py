"""The timing of notebooks' default paths: a cold cache holds what make lab leaves, nothing more."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from rerank_lab import timings


def _source_cache(root: Path) -> Path:
    source = root / "cache"
    for part, name in (
        ("downloads", "wheel.whl"),
        ("pubmed", "documents.jsonl"),
        ("embeddings", "x.npy"),
    ):
        (source / part).mkdir(parents=True)
        (source / part / name).write_text(part)
    return source


def test_a_cold_cache_holds_the_downloads_and_the_corpus_only(tmp_path: Path) -> None:
    source = _source_cache(tmp_path)
    target = tmp_path / "cold"
    (target / "embeddings").mkdir(parents=True)  # left over from an earlier run: removed
    timings.prepare_cold_cache(source, target)
    assert sorted(p.name for p in target.iterdir()) == ["downloads", "pubmed"]
    assert (target / "downloads" / "wheel.whl").read_text() == "downloads"


def test_a_cold_cache_needs_make_data_first(tmp_path: Path) -> None:
    (tmp_path / "cache" / "downloads").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="make data"):
        timings.prepare_cold_cache(tmp_path / "cache", tmp_path / "cold")


def test_a_notebook_is_timed_cell_by_cell_in_its_own_kernel(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# a title"),
        nbformat.v4.new_code_cell("import os, time\ntime.sleep(0.5)"),
        nbformat.v4.new_code_cell("assert os.environ['RERANK_LAB_SCALE'] == 'small'"),
    ]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, path)
    record = timings.time_notebook(path, scale="small", cache=tmp_path / "cache")
    assert record["seconds"] >= 0.5
    slowest = record["slowest cells"][0]
    assert slowest["cell"] == 1 and slowest["seconds"] >= 0.4
    assert slowest["first line"] == "import os, time"
