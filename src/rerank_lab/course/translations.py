"""Translated editions of the notebooks, generated from the English ones and a catalog per notebook.

A translation that is edited by hand beside its original drifts: a cell changes in English and
nobody notices that the other edition still says the old thing. So the translated notebooks
are never edited. Each is *generated* from its English notebook and one catalog,
``i18n/<language>/notebooks/<notebook>.json``, keyed by cell id::

    {"source": "notebooks/01_bi_encoders.ipynb",
     "cells": {"cell-03": {"en_sha": "…", "en": "<the English it translates>", "zh": "…"}}}

``en_sha`` is the hash of the English markdown the entry translates (Colab links normalised,
so that pointing the course at a fork changes nothing). When an English cell changes, its hash
no longer matches and ``python -m rerank_lab.course.translations check`` (and the test suite)
names the cell; ``skeleton`` adds the new English beside the old (``en_new``) for the
translator, who updates ``zh``, ``en`` and ``en_sha`` together.

What the generator does to each English notebook:

- markdown cells: the catalog's translation, with the Colab badge pointed at the translated copy
  and relative links that leave ``notebooks/`` one level longer (the copy sits one folder deeper);
- code cells: the English ones byte for byte, but for the set-up call, which names the language
  (``rl.notebook.setup(..., language="zh")``): a kernel cannot know which notebook runs it (Colab
  opens a copy), so the exercises' checkers learn the language there;
- outputs: the English ones, with the checkers' stored messages translated the way the checkers
  translate them at run time (``rerank_lab.exercises.language``).

``python -m rerank_lab.course.translations build`` (``make translations``) writes
``notebooks/<language>/``; ``check`` lists what is missing or stale; ``coverage`` counts cells
and words.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

import nbformat

from rerank_lab.course.settings import REPO_ROOT, shown_path
from rerank_lab.exercises import language as checker_language

__all__ = [
    "LANGUAGES",
    "build",
    "catalog_path",
    "coverage",
    "english_notebooks",
    "problems",
    "render",
    "source_hash",
    "translated_path",
]

LANGUAGES = ("zh",)
NOTEBOOKS = REPO_ROOT / "notebooks"
I18N = REPO_ROOT / "i18n"

_COLAB = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"']+?/blob/[^/)\s\"']+/")
_SETUP = re.compile(r"(rl\.notebook\.setup\([^()\n]*)\)")
_LINK = re.compile(r"(\]\(|<img src=\")([^)\"\s#]+)")


def english_notebooks() -> list[Path]:
    """Every English notebook (main, exercises, solutions), as paths under ``notebooks/``."""
    return sorted(
        path.relative_to(NOTEBOOKS)
        for path in NOTEBOOKS.rglob("*.ipynb")
        if path.relative_to(NOTEBOOKS).parts[0] not in LANGUAGES
        and ".ipynb_checkpoints" not in path.parts
    )


def catalog_path(notebook: Path, language: str) -> Path:
    return I18N / language / "notebooks" / notebook.with_suffix(".json")


def translated_path(notebook: Path, language: str) -> Path:
    return NOTEBOOKS / language / notebook


def source_hash(text: str) -> str:
    """The hash an entry records: of the English text, its Colab links' repository ignored."""
    return hashlib.sha256(_COLAB.sub("COLAB/", text).encode("utf-8")).hexdigest()[:16]


def _read_catalog(notebook: Path, language: str) -> dict[str, Any]:
    path = catalog_path(notebook, language)
    if not path.is_file():
        return {"source": f"notebooks/{notebook.as_posix()}", "cells": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def _markdown_cells(notebook: Path) -> dict[str, str]:
    english = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    return {cell.id: cell.source for cell in english.cells if cell.cell_type == "markdown"}


def _entry_problem(entry: dict[str, str] | None, source: str, language: str) -> str | None:
    """Why a catalog entry is not a current translation of the English ``source`` (None when
    it is): absent, empty, translating an older English, or a hash that is not its English's."""
    if entry is None:
        return "has no translation"
    if not entry.get(language, "").strip():
        return "has an empty translation"
    if entry.get("en_sha") != source_hash(source):
        return "changed in English since it was translated"
    if source_hash(entry.get("en", "")) != entry["en_sha"]:
        return "has an en_sha that is not the hash of its en"
    return None


def problems(language: str) -> list[str]:
    """What keeps the ``language`` edition from being generated: cells without a translation,
    translations of an older English, entries for cells that are gone, empty translations."""
    found = []
    for notebook in english_notebooks():
        cells = _read_catalog(notebook, language)["cells"]
        where = shown_path(catalog_path(notebook, language))
        markdown = _markdown_cells(notebook)
        for cell_id, source in markdown.items():
            problem = _entry_problem(cells.get(cell_id), source, language)
            if problem:
                found.append(f"{where}: {cell_id} {problem}")
        found += [
            f"{where}: {cell_id} is not a markdown cell any more"
            for cell_id in cells.keys() - markdown.keys()
        ]
    return found


def _relocate_link(match: re.Match[str], notebook: Path) -> str:
    """A relative link of a notebook as seen from its translated copy, one folder deeper."""
    opener, target = match.groups()
    if re.match(r"[a-z]+:", target) or target.startswith("/"):
        return match.group(0)
    resolved = posixpath.normpath(posixpath.join(notebook.parent.as_posix(), target))
    if resolved.startswith("../"):  # leaves notebooks/: one level further from the copy
        target = "../" + target
    return opener + target


def _translated_markdown(text: str, english: str, notebook: Path, language: str) -> str:
    prefix = _COLAB.search(english)
    if prefix:
        text = _COLAB.sub(prefix.group(0), text)
        text = text.replace(
            f"{prefix.group(0)}notebooks/", f"{prefix.group(0)}notebooks/{language}/"
        )
    return _LINK.sub(lambda match: _relocate_link(match, notebook), text)


def _translated_outputs(outputs: list[Any], language: str) -> list[Any]:
    translated = copy.deepcopy(outputs)
    for output in translated:
        if output.get("output_type") == "error":
            output["evalue"] = checker_language.translate_message(output["evalue"], language)
        elif output.get("output_type") == "stream" and "✓" in output.get("text", ""):
            text = output["text"].rstrip("\n")
            output["text"] = checker_language.translate_message(text, language) + "\n"
    return translated


def render(notebook: Path, language: str) -> nbformat.NotebookNode:
    """The ``language`` edition of ``notebook`` (a path under ``notebooks/``), from its catalog."""
    english = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    cells = _read_catalog(notebook, language)["cells"]
    edition = copy.deepcopy(english)
    for cell in edition.cells:
        if cell.cell_type == "markdown":
            entry = cells.get(cell.id)
            problem = _entry_problem(entry, cell.source, language)
            if problem:
                raise ValueError(
                    f"{notebook} cell {cell.id} {problem}: run "
                    "`python -m rerank_lab.course.translations check`."
                )
            assert entry is not None
            cell.source = _translated_markdown(entry[language], cell.source, notebook, language)
        elif cell.cell_type == "code":
            cell.source = _SETUP.sub(rf'\1, language="{language}")', cell.source)
            cell.outputs = _translated_outputs(cell.outputs, language)
    edition.metadata["rerank_lab"] = {
        "language": language,
        "generated_from": f"notebooks/{notebook.as_posix()}",
        "by": "python -m rerank_lab.course.translations build",
    }
    return edition


def _serialised(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def build(language: str, *, check_only: bool = False) -> list[Path]:
    """Write (or, with ``check_only``, compare) every translated notebook; returns the paths
    that were written (or that are out of date)."""
    changed = []
    for notebook in english_notebooks():
        text = _serialised(render(notebook, language))
        path = translated_path(notebook, language)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            changed.append(path)
            if not check_only:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    return changed


def coverage(language: str) -> dict[str, int]:
    """How much is translated: markdown cells, and the words of their English."""
    cells = words = translated = 0
    for notebook in english_notebooks():
        entries = _read_catalog(notebook, language)["cells"]
        for cell_id, source in _markdown_cells(notebook).items():
            cells += 1
            words += len(source.split())
            translated += _entry_problem(entries.get(cell_id), source, language) is None
    return {"cells": cells, "translated cells": translated, "english words": words}


def skeleton(language: str) -> None:
    """Add an entry for every untranslated markdown cell (empty translation, the English
    beside it) and the new English of every stale one (``en_new``), for the translator."""
    for notebook in english_notebooks():
        catalog = _read_catalog(notebook, language)
        for cell_id, source in _markdown_cells(notebook).items():
            entry = catalog["cells"].setdefault(
                cell_id, {"en_sha": source_hash(source), "en": source, language: ""}
            )
            if entry["en_sha"] != source_hash(source):
                entry["en_new"] = source
        path = catalog_path(notebook, language)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(catalog, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    path = exercise_catalog_path(language)
    messages = json.loads(path.read_text(encoding="utf-8"))["messages"] if path.is_file() else {}
    messages = {text: messages.get(text, "") for text in sorted(exercise_templates())}
    catalog = {"language": language, "messages": messages}
    path.write_text(json.dumps(catalog, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


EXERCISES = REPO_ROOT / "src" / "rerank_lab" / "exercises"


def _template(node: ast.AST) -> str | None:
    """A string literal as itself, an f-string with ``{0}``, ``{1}`` ... for its values."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}")
    if isinstance(node, ast.JoinedStr):
        parts, count = [], 0
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
            else:
                parts.append(f"{{{count}}}")
                count += 1
        return "".join(parts)
    return None


def exercise_templates() -> set[str]:
    """Every text the checkers can show: the string literals and f-strings of the exercises
    package that read as prose (a space and a word; not docstrings) and the two frames of
    their messages (``language.FAILED``, ``language.PASSED``), as catalog templates."""
    found = set()
    for path in sorted(EXERCISES.glob("*.py")):
        if path.name == "language.py":  # the translator itself: its errors are for tests
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Docstrings, of modules, functions and attributes alike: bare string statements.
        skip = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                skip |= {id(value) for value in node.values}
            text = None if id(node) in skip else _template(node)
            words = re.findall(r"[A-Za-z]{2,}", checker_language.PLACEHOLDER.sub("", text or ""))
            if text and " " in text and words:
                found.add(text)
    return found | {checker_language.FAILED, checker_language.PASSED}


def exercise_catalog_path(language: str) -> Path:
    return EXERCISES / f"{language}.json"


def exercise_problems(language: str) -> list[str]:
    """Checker texts without a translation, translations whose values differ from the
    English template's, and entries for texts the checkers no longer have."""
    messages = json.loads(exercise_catalog_path(language).read_text(encoding="utf-8"))["messages"]
    templates = exercise_templates()
    found = [
        f"no {language} translation: {text!r}"
        for text in sorted(templates)
        if not messages.get(text)
    ]
    found += [
        f"values differ between {text!r} and its translation"
        for text, translated in messages.items()
        if translated
        and sorted(checker_language.PLACEHOLDER.findall(text))
        != sorted(checker_language.PLACEHOLDER.findall(translated))
    ]
    found += [
        f"not a checker text any more: {text!r}" for text in sorted(messages.keys() - templates)
    ]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rerank_lab.course.translations")
    parser.add_argument("command", choices=("build", "check", "skeleton", "coverage"))
    parser.add_argument("--language", default="zh", choices=LANGUAGES)
    options = parser.parse_args(argv)
    if options.command == "skeleton":
        skeleton(options.language)
        return 0
    if options.command == "coverage":
        print(json.dumps(coverage(options.language)))
        return 0
    found = problems(options.language) + exercise_problems(options.language)
    if found:
        print("\n".join(found), file=sys.stderr)
        return 1
    changed = build(options.language, check_only=options.command == "check")
    verb = "out of date" if options.command == "check" else "written"
    print(f"{len(changed)} {options.language} notebooks {verb}")
    return 1 if options.command == "check" and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
