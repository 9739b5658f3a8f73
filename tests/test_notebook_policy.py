"""The notebooks follow the course's conventions: checked here so a slip fails in CI, not class.

nbval proves the notebooks *run*; these tests prove they are *shipped* right: valid JSON,
outputs stripped except the cells whose output nbval checks, a Colab badge pointing at the
notebook itself, the set-up cell first, a header whose run time is the measured one, links that
resolve, no machine's absolute paths, and an exercises and a solutions notebook beside every
main notebook, with every exercise check cell storing the ExerciseError its stub must raise.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from rerank_lab.course import publish, timings

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ALL = sorted(NOTEBOOKS.rglob("*.ipynb"))
MAIN = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
CHECKED = "nbval-check-output"
PUBLISHED = publish.published(ROOT)
LINK = re.compile(r"\]\(([^)#\s]+\.ipynb|[^)#\s]+\.md)\)")
ABSOLUTE = re.compile(r"(/work/|/home/|/tmp/|/Users/|C:\\\\)")


def _name(path: Path) -> str:
    return str(path.relative_to(NOTEBOOKS))


def _read(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_there_are_notebooks() -> None:
    assert MAIN, "no main notebooks found"


@pytest.mark.parametrize("path", MAIN, ids=_name)
def test_the_header_states_the_measured_run_time(path: Path) -> None:
    """The run time a header gives is the one `make timings` measured (docs/timings.json):
    remeasure, then paste `timings.header_line` into the header, never a guess."""
    measured = json.loads((ROOT / "docs" / "timings.json").read_text(encoding="utf-8"))
    record = measured.get(f"notebooks/{path.name}")
    assert record is not None, f"no timing for {path.name}: run `make timings TIMED={path}`"
    assert record["scale"] == "full" and "cold" in record
    header = _read(path).cells[0].source
    assert timings.header_line(record) in header, "the header's run time is not the measured one"


@pytest.mark.parametrize("path", ALL, ids=_name)
def test_outputs_are_stripped_except_checked_cells(path: Path) -> None:
    for number, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code" or CHECKED in cell.metadata.get("tags", []):
            continue
        assert not cell.outputs, f"cell {number} has outputs: strip them before committing"
        assert cell.execution_count is None, f"cell {number} has an execution count"


@pytest.mark.parametrize("path", ALL, ids=_name)
def test_badge_points_at_this_notebook_and_setup_comes_first(path: Path) -> None:
    notebook = _read(path)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert publish.colab_url(PUBLISHED, str(path.relative_to(ROOT))) in first.source
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert 'find_spec("rerank_lab")' in code[0].source, "the Colab set-up cell must come first"
    clone = f'COURSE_REPO = "{publish.clone_url(PUBLISHED)}"'
    assert clone in code[0].source, "the clone URL must be pyproject's Repository"
    assert "rl.notebook.setup(" in code[1].source, "the second code cell reports world and device"


@pytest.mark.parametrize("path", ALL, ids=_name)
def test_links_resolve_and_no_absolute_paths(path: Path) -> None:
    for number, cell in enumerate(_read(path).cells):
        if cell.cell_type == "markdown":
            for target in LINK.findall(cell.source):
                if not target.startswith("http"):
                    assert (path.parent / target).is_file(), f"cell {number} links to {target}"
        texts = [cell.source] + [str(output) for output in cell.get("outputs", [])]
        for text in texts:
            assert not ABSOLUTE.search(text), f"cell {number} holds an absolute path"


@pytest.mark.parametrize("path", MAIN, ids=_name)
def test_every_main_notebook_has_exercises_and_solutions(path: Path) -> None:
    stem = path.stem
    assert (NOTEBOOKS / "exercises" / f"{stem}_exercises.ipynb").is_file()
    assert (NOTEBOOKS / "solutions" / f"{stem}_solutions.ipynb").is_file()
    last = _read(path).cells[-1]
    assert f"exercises/{stem}_exercises.ipynb" in last.source, "end with a link to the exercises"


@pytest.mark.parametrize("path", sorted((NOTEBOOKS / "exercises").glob("*.ipynb")), ids=_name)
def test_exercise_checks_store_the_error_their_stub_raises(path: Path) -> None:
    checks = [
        cell
        for cell in _read(path).cells
        if cell.cell_type == "code" and cell.source.startswith("check(")
    ]
    assert len(checks) >= 4, "at least four exercises per notebook"
    for cell in checks:
        tags = cell.metadata.get("tags", [])
        assert "raises-exception" in tags and CHECKED in tags, cell.source
        errors = [output for output in cell.outputs if output.output_type == "error"]
        assert errors and errors[0].ename == "ExerciseError", cell.source


def test_one_command_points_every_notebook_at_a_fork(tmp_path: Path) -> None:
    """`python -m rerank_lab.course.publish URL --branch B` rewrites the badges and clone cells of
    every notebook and pyproject's URL, and the policy above then holds for the fork."""
    import shutil

    copy = tmp_path / "course"
    shutil.copytree(NOTEBOOKS, copy / "notebooks")
    for name in ("pyproject.toml", "README.md", "README.zh.md"):
        shutil.copy2(ROOT / name, copy / name)
    changed = publish.republish("https://github.com/a-teacher/rerank-fork.git", "spring", copy)
    # pyproject, every notebook and the Chinese README's badges; the English README has none
    assert len(changed) == 2 + len(ALL)
    fork = publish.published(copy)
    assert fork == publish.Published("a-teacher/rerank-fork", "spring")
    for path in sorted((copy / "notebooks").rglob("*.ipynb")):
        notebook = _read(path)  # still valid JSON and a valid notebook
        text = path.read_text()
        assert "rerank-lab/retrieve-and-rerank-lab" not in text
        badge = publish.colab_url(fork, str(path.relative_to(copy)))
        assert badge in notebook.cells[0].source
        code = next(cell for cell in notebook.cells if cell.cell_type == "code")
        assert 'COURSE_REPO = "https://github.com/a-teacher/rerank-fork.git"' in code.source
    assert publish.republish("https://github.com/a-teacher/rerank-fork", "spring", copy) == []
    with pytest.raises(ValueError, match="not a GitHub repository URL"):
        publish.republish("https://gitlab.com/a/b", root=copy)


def test_notebook_05_installs_exactly_the_adapters_extra() -> None:
    """Both install paths of 05's first cell bring the same caps: the extra when the course is
    cloned, and the extra's requirements spelled out where the course is already installed
    (adapters alone would move transformers back under Colab's sentence-transformers 6)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["adapters"]
    cell = next(c for c in _read(NOTEBOOKS / "05_specter2.ipynb").cells if c.cell_type == "code")
    assert '%pip install --quiet -e "./rerank-lab[adapters]"' in cell.source
    line = next(line for line in cell.source.splitlines() if '%pip install --quiet "' in line)
    assert re.findall(r'"([^"]+)"', line) == extra


@pytest.mark.parametrize(
    "path",
    [
        NOTEBOOKS / "07_scaling_up.ipynb",
        NOTEBOOKS / "exercises" / "07_scaling_up_exercises.ipynb",
        NOTEBOOKS / "solutions" / "07_scaling_up_solutions.ipynb",
    ],
    ids=lambda path: path.stem,
)
def test_notebook_07_installs_exactly_the_scale_extra(path: Path) -> None:
    """Ray (section 5, exercise 07.6) comes with the `scale` extra on both install paths of the
    first cell: the clone's extra, or its requirements spelled out where the course is in."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["scale"]
    cell = next(c for c in _read(path).cells if c.cell_type == "code")
    assert '%pip install --quiet -e "./rerank-lab[scale]"' in cell.source
    line = next(line for line in cell.source.splitlines() if '%pip install --quiet "' in line)
    assert re.findall(r'"([^"]+)"', line) == extra
