"""The one tested dependency set stays one: pyproject ranges, constraints.txt and environment.yml.

pyproject.toml holds compatible ranges (so the package installs beside Colab's torch),
constraints.txt the exact versions `make` installs, environment.yml the same versions for conda.
These tests fail as soon as one of the three is edited without the others.
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)\s*", line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


#: The two tested sets: the pinned line (every extra) and the newest line (the extras its
#: header names); ``make test-latest`` says which one runs through RERANK_LAB_CONSTRAINTS.
SETS = ("constraints.txt", "constraints-latest.txt")


def _extras(constraints_file: str) -> list[str] | None:
    """The extras a set installs: its ``# extras:`` header line, or all of them (None)."""
    for line in (ROOT / constraints_file).read_text().splitlines():
        if line.startswith("# extras:"):
            return [extra.strip() for extra in line.split(":", 1)[1].split(",")]
    return None


def _direct_requirements(constraints_file: str = "constraints.txt") -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    extras = _extras(constraints_file)
    for name, extra in project.get("optional-dependencies", {}).items():
        if extras is None or name in extras:
            listed.extend(extra)
    return [Requirement(item) for item in listed]


def _set_pins(constraints_file: str) -> dict[str, str]:
    return _pins((ROOT / constraints_file).read_text().splitlines())


@pytest.fixture(scope="module")
def constraints() -> dict[str, str]:
    return _set_pins("constraints.txt")


@pytest.fixture(scope="module")
def conda_pins() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(
        item["pip"] for item in environment["dependencies"] if isinstance(item, dict)
    )
    return _pins(pip_section)


@pytest.mark.parametrize("constraints_file", SETS)
def test_every_direct_dependency_is_pinned_within_its_range(constraints_file: str) -> None:
    constraints = _set_pins(constraints_file)
    for requirement in _direct_requirements(constraints_file):
        name = canonicalize_name(requirement.name)
        assert name in constraints, (
            f"{requirement.name} is in pyproject.toml but not constraints.txt"
        )
        version = Version(constraints[name])
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{constraints_file} pins {requirement.name}=={version}, outside pyproject's "
            f"'{requirement.specifier}'"
        )


def test_environment_yml_pins_the_same_versions(
    constraints: dict[str, str], conda_pins: dict[str, str]
) -> None:
    direct = {canonicalize_name(r.name) for r in _direct_requirements()}
    assert direct <= set(conda_pins), (
        f"missing from environment.yml: {sorted(direct - set(conda_pins))}"
    )
    for name, version in conda_pins.items():
        assert constraints.get(name) == version, (
            f"environment.yml pins {name}=={version}, constraints.txt {constraints.get(name)}"
        )


def test_the_running_environment_is_the_tested_set() -> None:
    running = os.environ.get("RERANK_LAB_CONSTRAINTS", "constraints.txt")
    assert running in SETS, f"RERANK_LAB_CONSTRAINTS must name one of {SETS}, not {running!r}"
    constraints = _set_pins(running)
    setup = "make setup" if running == "constraints.txt" else "make setup-latest"
    for requirement in _direct_requirements(running):
        name = canonicalize_name(requirement.name)
        installed = Version(metadata.version(requirement.name)).public
        assert installed == Version(constraints[name]).public, (
            f"{requirement.name} {installed} is installed but {running} tests "
            f"{constraints[name]}: run `{setup}`"
        )


def test_the_latest_set_is_the_newest_hugging_face_line() -> None:
    """What Colab moves towards: the majors the pinned set cannot reach, at least these."""
    latest = _set_pins("constraints-latest.txt")
    floors = {
        "sentence-transformers": "6.3",
        "transformers": "5.25",
        "huggingface-hub": "2.0",
        "datasets": "5.0",
    }
    for name, floor in floors.items():
        assert Version(latest[name]) >= Version(floor), f"{name} {latest[name]} < {floor}"
    assert _extras("constraints-latest.txt") == ["dev", "lab", "scale"]
