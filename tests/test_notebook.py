"""Tests of rerank_lab.notebook: the set-up report and reproducible seeding."""

from __future__ import annotations

import platform
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from rerank_lab import notebook
from rerank_lab.course import settings, world

pytestmark = pytest.mark.usefixtures("fresh_world", "temp_cache")


def _draw() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_makes_every_generator_repeat() -> None:
    """Python's random, NumPy's global generator and torch all repeat after the same seed."""
    notebook.seed_everything(123)
    first = _draw()
    notebook.seed_everything(123)
    assert _draw() == first
    notebook.seed_everything(124)
    assert _draw() != first


def test_setup_returns_what_it_decided(monkeypatch: pytest.MonkeyPatch) -> None:
    """setup() hands back world, device, scale and seed for notebooks to branch on."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "1")
    monkeypatch.setenv("RERANK_LAB_SCALE", "small")
    chosen = notebook.setup(7, device="cpu")
    assert isinstance(chosen, notebook.Setup)
    assert chosen.world == world.World("offline", "RERANK_LAB_OFFLINE=1")
    assert chosen.online is False
    assert chosen.device == "cpu"
    assert chosen.scale == "small"
    assert chosen.seed == 7


def test_setup_prints_world_device_scale_and_versions(
    monkeypatch: pytest.MonkeyPatch, temp_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report names Python and package versions, the world and why, device, scale, cache."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "1")
    monkeypatch.setenv("RERANK_LAB_SCALE", "full")
    notebook.setup(device="cpu")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Python {platform.python_version()}; rerank-lab 0.1.0, torch ")
    for package in ("sentence-transformers", "transformers", "datasets"):
        assert f"{package} " in lines[0]
    assert "not installed" not in lines[0]
    assert lines[1] == "world:  offline (RERANK_LAB_OFFLINE=1)"
    assert lines[2].startswith("device: cpu (")
    assert lines[3] == "scale:  full (set RERANK_LAB_SCALE=small or full to change)"
    assert lines[4] == f"cache:  {temp_cache}"


def test_setup_seeds_with_its_seed() -> None:
    """setup(seed) leaves the generators as seed_everything(seed) does."""
    notebook.setup(5, device="cpu")
    after_setup = _draw()
    notebook.seed_everything(5)
    assert _draw() == after_setup


def test_setup_reports_the_world_forced_online(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Forced online, the report and Setup.online say so (no network needed to decide)."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "0")
    chosen = notebook.setup(device="cpu")
    assert chosen.online is True
    assert "world:  online (RERANK_LAB_OFFLINE=0)" in capsys.readouterr().out


def test_setup_rejects_a_bad_device_and_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong device or scale fails in the first cell, with what to use instead."""
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        notebook.setup(device="gpu")
    monkeypatch.setenv("RERANK_LAB_SCALE", "huge")
    with pytest.raises(ValueError, match="is not a scale; use one of"):
        notebook.setup(device="cpu")


def test_cache_path_is_shown_relative_to_the_checkout() -> None:
    """Paths inside the checkout print relative, so committed outputs hold no machine paths."""
    assert settings.shown_path(settings.REPO_ROOT / "data" / "cache") == "data/cache"
    assert settings.shown_path(Path("/elsewhere/cache")) == "/elsewhere/cache"


def test_missing_packages_are_reported_not_fatal() -> None:
    """A package that is not installed is listed as such instead of crashing the set-up."""
    assert notebook._version("no-such-package-rerank-lab") == "not installed"
    assert torch.__version__.startswith(notebook._version("torch").split("+")[0])
