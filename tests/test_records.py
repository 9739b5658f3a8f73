"""Records of the long runs: written with their provenance, refused when damaged or incomplete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rerank_lab.course import records


@pytest.fixture
def data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(records, "data_dir", lambda: tmp_path)
    return tmp_path


def test_a_record_keeps_its_command_date_machine_and_versions(
    data_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rerank_lab.course import world

    monkeypatch.setenv("RERANK_LAB_OFFLINE", "1")
    monkeypatch.setenv("RERANK_LAB_DEVICE", "cpu")
    world.reset()
    path = records.record_path("demo")
    assert path == data_folder / "records" / "demo.json"
    records.write_record(path, "python -m demo --record x", {"spearman": 0.5}, packages=("torch",))
    world.reset()
    record = records.read_record("demo")
    assert record["command"] == "python -m demo --record x"
    assert record["results"] == {"spearman": 0.5} and record["world"] == "offline"
    assert record["machine"]["device"] == "cpu" and record["machine"]["cpus"] >= 1
    assert record["machine"]["gpu"] is None
    assert set(record["versions"]) == {"torch"}
    assert len(record["measured"]) == len("2026-12-05")


def test_a_missing_record_says_how_to_restore_it(data_folder: Path) -> None:
    with pytest.raises(FileNotFoundError, match="git checkout"):
        records.read_record("absent")


def test_a_damaged_or_incomplete_record_is_refused(data_folder: Path) -> None:
    path = records.record_path("broken")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        records.read_record("broken")
    path.write_text(json.dumps({"command": "python -m demo", "results": {}}))
    with pytest.raises(
        ValueError, match="lacks world, measured, machine, versions.*python -m demo"
    ):
        records.read_record("broken")
