"""The timing of notebooks' default paths: a cold cache holds what make lab leaves, nothing more."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from rerank_lab.course import timings


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


def _record(cold: float, warm: float, cells: list[float]) -> dict:
    slowest = [
        {"cell": n, "id": f"c{n}", "seconds": s, "first line": "x = 1"} for n, s in enumerate(cells)
    ]
    return {
        "cold": {"seconds": cold, "slowest cells": slowest},
        "warm": {"seconds": warm, "slowest cells": []},
    }


def test_the_t4_estimate_speeds_up_only_the_slow_model_cells() -> None:
    record = _record(600.0, 100.0, [400.0, 50.0, 20.0])  # 450 s of model work, 150 s the rest
    expected = 150.0 + 450.0 / timings.T4_SPEEDUP
    assert timings.t4_estimate(record) == pytest.approx(expected)
    assert timings.t4_estimate(_record(40.0, 20.0, [10.0])) == pytest.approx(40.0)
    faiss = _record(600.0, 100.0, [400.0, 50.0])
    faiss["cold"]["slowest cells"][1]["id"] = next(iter(timings.CPU_CELLS))  # a faiss build
    assert timings.t4_estimate(faiss) == pytest.approx(200.0 + 400.0 / timings.T4_SPEEDUP)


def test_the_header_line_and_the_table_come_from_the_record() -> None:
    record = _record(600.0, 50.0, [400.0, 50.0])
    line = timings.header_line(record)
    assert "10 min on 2 CPU cores the first time, under 1 min after" in line
    assert f"about {round(timings.t4_estimate(record) / 60)} min on a Colab T4" in line
    table = timings.markdown_table({"notebooks/01_x.ipynb": record})
    assert "| 01_x | 10.0 | 0.8 |" in table and "`c0` 6.7 min" in table
