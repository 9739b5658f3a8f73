"""The one tested dependency set stays one: pyproject ranges, constraints.txt and environment.yml.

pyproject.toml holds compatible ranges (so the package installs beside Colab's torch),
constraints.txt the exact versions `make` installs, environment.yml the same versions for conda.
These tests fail as soon as one of the three is edited without the others.
"""

from __future__ import annotations

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


def _direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        listed.extend(extra)
    return [Requirement(item) for item in listed]


@pytest.fixture(scope="module")
def constraints() -> dict[str, str]:
    return _pins((ROOT / "constraints.txt").read_text().splitlines())


@pytest.fixture(scope="module")
def conda_pins() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(
        item["pip"] for item in environment["dependencies"] if isinstance(item, dict)
    )
    return _pins(pip_section)


def test_every_direct_dependency_is_pinned_within_its_range(constraints: dict[str, str]) -> None:
    for requirement in _direct_requirements():
        name = canonicalize_name(requirement.name)
        assert name in constraints, (
            f"{requirement.name} is in pyproject.toml but not constraints.txt"
        )
        version = Version(constraints[name])
        assert requirement.specifier.contains(version, prereleases=True), (
            f"constraints.txt pins {requirement.name}=={version}, outside pyproject's "
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


def test_the_running_environment_is_the_tested_set(constraints: dict[str, str]) -> None:
    for requirement in _direct_requirements():
        name = canonicalize_name(requirement.name)
        installed = Version(metadata.version(requirement.name)).public
        assert installed == Version(constraints[name]).public, (
            f"{requirement.name} {installed} is installed but constraints.txt tests "
            f"{constraints[name]}: run `make setup`"
        )
