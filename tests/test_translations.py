"""The Chinese edition: complete, current, generated, and the same course as the English.

The Chinese notebooks are generated from the English ones and a catalog per notebook
(``rerank_lab.course.translations``). These tests fail when an English markdown cell changed
and its translation did not, when a cell or a checker text has no translation, when a
generated notebook is out of date, when a code cell differs from the English, or when a
translation strays from the glossary. That the checkers reach the same verdicts in Chinese is
tested with every answer of the exercise tests (``exercise_checks``).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from rerank_lab.course import translations
from rerank_lab.course.settings import REPO_ROOT
from rerank_lab.exercises import EXERCISES
from rerank_lab.exercises.language import translate, translate_message

LANGUAGE = "zh"
ENGLISH = translations.english_notebooks()
CODE_SPAN = re.compile(r"```.*?```|`[^`\n]*`|\]\([^)]*\)|<[^>]+>", re.S)


def _glossary() -> list[dict[str, str]]:
    rows = []
    for line in (REPO_ROOT / "i18n" / LANGUAGE / "glossary.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("English", "---"):
            rows.append(dict(zip(("en", "zh", "avoid", "checked", "note"), cells, strict=True)))
    return rows


def _pairs() -> list[tuple[str, str]]:
    """Every (English, translation) pair of the notebooks' catalogs."""
    pairs = []
    for notebook in ENGLISH:
        catalog = translations._read_catalog(notebook, LANGUAGE)
        pairs += [(entry["en"], entry[LANGUAGE]) for entry in catalog["cells"].values()]
    return pairs


def test_every_markdown_cell_has_a_current_translation() -> None:
    assert translations.problems(LANGUAGE) == []


def test_every_checker_text_has_a_translation() -> None:
    assert translations.exercise_problems(LANGUAGE) == []


def test_every_notebook_has_its_generated_edition_and_it_is_up_to_date() -> None:
    assert translations.build(LANGUAGE, check_only=True) == [], "run `make translations`"
    generated = {
        path.relative_to(REPO_ROOT / "notebooks" / LANGUAGE)
        for path in (REPO_ROOT / "notebooks" / LANGUAGE).rglob("*.ipynb")
    }
    assert generated == set(ENGLISH)


@pytest.mark.parametrize("notebook", ENGLISH, ids=str)
def test_code_cells_are_the_english_ones_but_for_the_language(notebook: Path) -> None:
    english = nbformat.read(REPO_ROOT / "notebooks" / notebook, as_version=4)
    edition = nbformat.read(translations.translated_path(notebook, LANGUAGE), as_version=4)
    assert [cell.id for cell in english.cells] == [cell.id for cell in edition.cells]
    naming = f', language="{LANGUAGE}")'
    named = 0
    for ours, theirs in zip(english.cells, edition.cells, strict=True):
        assert ours.cell_type == theirs.cell_type
        if ours.cell_type == "code":
            named += theirs.source.count(naming)
            assert theirs.source.replace(naming, ")") == ours.source
            assert theirs.metadata == ours.metadata
    assert named == 1, "the set-up call, and only it, names the language"


def test_the_glossary_is_followed() -> None:
    rows = _glossary()
    assert len(rows) > 30
    for english, chinese in _pairs():
        prose = CODE_SPAN.sub(" ", english)
        for row in rows:
            if row["avoid"]:
                assert row["avoid"] not in chinese, f"{row['avoid']!r} instead of {row['zh']!r}"
            term = rf"\b{re.escape(row['en'])}s?\b"
            if row["checked"] == "yes" and re.search(term, prose, re.I):
                assert row["zh"] in chinese, f"{row['en']!r} without {row['zh']!r}: {chinese[:200]}"


def test_every_title_and_question_is_translated() -> None:
    for exercise in EXERCISES.values():
        assert translate(exercise.english_title, LANGUAGE, strict=True)
        assert translate(exercise.english_question, LANGUAGE, strict=True)


def test_translation_keeps_the_values_of_a_message() -> None:
    english = "✗ 01.1 (Cosine similarity): your function returned None: is a `return` missing?"
    chinese = translate_message(english, LANGUAGE, strict=True)
    assert chinese.startswith("✗ 01.1") and "`return`" in chinese and "余弦相似度" in chinese
    assert translate(chinese, "en") == chinese  # English mode changes nothing


def test_coverage_is_complete() -> None:
    counts = translations.coverage(LANGUAGE)
    assert counts["translated cells"] == counts["cells"] > 100
