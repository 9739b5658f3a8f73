"""Which library line saved a cached model, and what happens to one that does not load."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from rerank_lab.course import artefacts


def test_versions_name_every_package_and_say_missing() -> None:
    found = artefacts.versions(("sentence-transformers", "no-such-package-here"))
    assert found == {
        "sentence-transformers": metadata.version("sentence-transformers"),
        "no-such-package-here": "missing",
    }


def test_the_line_is_major_minor_of_each_package() -> None:
    st = metadata.version("sentence-transformers").split(".")
    tf = metadata.version("transformers").split(".")
    assert artefacts.line() == f"st{st[0]}.{st[1]}-tf{tf[0]}.{tf[1]}"
    assert artefacts.line(("adapters-not-installed",)) == "adapters-not-installedmissing"


def test_a_patch_release_is_the_same_line_a_minor_or_major_one_is_not() -> None:
    running = artefacts.versions()
    assert artefacts.version_problem(running) is None
    patched = {name: f"{version.rsplit('.', 1)[0]}.999" for name, version in running.items()}
    assert artefacts.version_problem(patched) is None
    st = running["sentence-transformers"]
    other = {**running, "sentence-transformers": "6.3.0" if st.startswith("5.") else "5.7.0"}
    problem = artefacts.version_problem(other)
    assert problem == (
        f"{artefacts.LINE_CHANGED}: sentence-transformers {other['sentence-transformers']} "
        f"(running {st})"
    )
    assert artefacts.LINE_CHANGED in artefacts.version_problem(None)
    assert "transformers unknown" in artefacts.version_problem({"sentence-transformers": st})


def test_a_folder_that_does_not_load_is_set_aside_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    error = ModuleNotFoundError("No module named 'x.y'\n  long traceback text")
    with pytest.warns(UserWarning) as caught:
        aside = artefacts.set_aside(folder, error, "gold-only model")
    assert not folder.exists() and (aside / "config.json").is_file()
    assert aside == tmp_path / "student.damaged"
    (message,) = [str(w.message) for w in caught]
    assert "\n" not in message and "ModuleNotFoundError: No module named 'x.y'" in message
    assert "building it again" in message
    folder.mkdir()  # a second failure replaces the first one set aside
    with pytest.warns(UserWarning):
        assert artefacts.set_aside(folder, error, "gold-only model") == aside
    assert not (aside / "config.json").exists()
