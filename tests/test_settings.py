"""Tests of rerank_lab.course.settings: the run scale and the folders, all read from the
environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rerank_lab.course import settings


@pytest.fixture
def fake_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder that looks like a course checkout (pyproject.toml and notebooks/)."""
    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'rerank-lab'\n")
    monkeypatch.setattr(settings, "REPO_ROOT", root)
    monkeypatch.delenv("RERANK_LAB_CACHE", raising=False)
    return root


@pytest.fixture
def no_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The package as if pip-installed outside a checkout, with HOME in a temp folder."""
    monkeypatch.setattr(settings, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RERANK_LAB_CACHE", raising=False)
    return tmp_path / "home"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("small", "small"), ("full", "full"), (" FULL ", "full"), ("Small\n", "small")],
)
def test_scale_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    """Explicit scales are accepted whatever their case and surrounding blanks."""
    monkeypatch.setenv("RERANK_LAB_SCALE", value)
    assert settings.scale() == expected


def test_scale_defaults_to_small_under_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset (or blank), the scale is small while pytest runs."""
    monkeypatch.setenv("RERANK_LAB_SCALE", "  ")
    monkeypatch.delenv("CI", raising=False)
    assert settings.scale() == "small"


def test_scale_defaults_to_full_for_people(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside pytest and CI the default is the full scale; on CI it is small."""
    monkeypatch.delenv("RERANK_LAB_SCALE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delitem(sys.modules, "pytest")
    assert settings.scale() == "full"
    monkeypatch.setenv("CI", "true")
    assert settings.scale() == "small"


@pytest.mark.parametrize("value", ["medium", "tiny", "0"])
def test_unknown_scale_says_which_scales_exist(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A typo in RERANK_LAB_SCALE fails loudly and lists the valid scales."""
    monkeypatch.setenv("RERANK_LAB_SCALE", value)
    with pytest.raises(ValueError, match=rf"RERANK_LAB_SCALE='{value}' is not a scale; use one of"):
        settings.scale()


def test_scales_constant() -> None:
    """The scales the course knows, in the order the docs name them."""
    assert settings.SCALES == ("small", "full")


def test_cache_dir_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RERANK_LAB_CACHE wins and the folder is created on demand."""
    target = tmp_path / "deep" / "cache"
    monkeypatch.setenv("RERANK_LAB_CACHE", str(target))
    assert settings.cache_dir() == target
    assert target.is_dir()


def test_cache_dir_expands_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A '~' in RERANK_LAB_CACHE means the user's home folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RERANK_LAB_CACHE", "~/rl-cache")
    assert settings.cache_dir() == tmp_path / "rl-cache"
    assert (tmp_path / "rl-cache").is_dir()


def test_temp_cache_fixture_points_cache_dir_at_it(temp_cache: Path) -> None:
    """The shared fixture gives this test its own cache folder."""
    assert settings.cache_dir() == temp_cache
    assert temp_cache.is_dir()


def test_cache_dir_defaults_inside_the_checkout(fake_checkout: Path) -> None:
    """In a checkout the cache is data/cache, which .gitignore keeps out of git."""
    assert settings.cache_dir() == fake_checkout / "data" / "cache"
    assert settings.data_dir() == fake_checkout / "data"


def test_cache_dir_defaults_to_the_home_cache_outside_a_checkout(no_checkout: Path) -> None:
    """Installed without a checkout, the cache goes to ~/.cache/rerank_lab."""
    assert settings.cache_dir() == no_checkout / ".cache" / "rerank_lab"


def test_data_dir_outside_a_checkout_says_how_to_get_one(no_checkout: Path) -> None:
    """Without the course's data/ folder the error says how to install from a checkout."""
    with pytest.raises(FileNotFoundError, match=r"data/ folder was not found.*pip install -e \."):
        settings.data_dir()


def test_repo_root_is_the_checkout() -> None:
    """The package is installed editable from this checkout, whose root holds pyproject.toml."""
    assert (settings.REPO_ROOT / "pyproject.toml").is_file()
    assert (settings.REPO_ROOT / "src" / "rerank_lab" / "course" / "settings.py").is_file()
