"""The README and the docs stay a map that leads somewhere: every link resolves, in the repo.

The README is what a newcomer reads first and points into docs/; the docs point at each other,
at notebooks and at data/. A page renamed or a heading reworded would leave a dead link that no
other test notices, so here every relative link (markdown, reference-style, or an HTML
``src``/``href``) must name a file or folder of this repository, and a ``#anchor`` into a
markdown file must name one of its headings under GitHub's slug rules. Absolute http(s) links
are not fetched (the tests run offline) but must be well-formed. The project cites nothing
outside its repository, and the README stays short enough to be read first.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The README is the first page: everything longer belongs in docs/.
README_MAX_LINES = 150

#: Folders that exist on a working machine but never in a clean clone.
NOT_IN_A_CLONE = ("build", "data/cache", ".venv", ".venv-latest")

#: Documents that live outside this repository and must not be cited (case matters:
#: docs/measured.md is this repository's own page).
OUTSIDE_CITATIONS = ("../shared", "SOURCES.md", "DESIGN.md", "MEASURED.md")

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?")
_HTML_ATTRIBUTE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_HOST = re.compile(r"^(?:localhost|(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})(?::\d+)?$")


def _pages() -> list[Path]:
    """README.md, every docs page, every README under data/ (not the ignored cache), the
    Chinese README and the translators' pages under i18n/."""
    data = [
        path
        for path in sorted((ROOT / "data").rglob("README.md"))
        if "cache" not in path.relative_to(ROOT / "data").parts
    ]
    translated = [ROOT / "README.zh.md", *sorted((ROOT / "i18n").rglob("*.md"))]
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *data, *translated]


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fence = [], ""
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if fence:
            if opening and opening[1][0] == fence[0] and len(opening[1]) >= len(fence):
                fence = ""
            continue
        if opening:
            fence = opening[1]
            continue
        lines.append(line)
    return lines


def links(text: str) -> list[str]:
    """Every link target of a markdown page: inline, reference-style, HTML and autolinks."""
    found = []
    for line in _prose_lines(text):
        line = _CODE_SPAN.sub("code", line)  # `[a](b)` in code is an example, not a link
        for pattern in (_INLINE_LINK, _REFERENCE, _HTML_ATTRIBUTE, _AUTOLINK):
            found += pattern.findall(line)
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lowercased, punctuation but - and _ dropped,
    each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a markdown page: one per heading (repeats get -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for line in _prose_lines(text):
        found.update(_HTML_ANCHOR.findall(line))
        heading = _HEADING.match(line)
        if not heading:
            continue
        base = slug(heading[2])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def _problem(page: Path, target: str) -> str | None:
    """Why ``target``, linked from ``page``, leads nowhere; None when it resolves."""
    parts = urlsplit(target)
    if parts.scheme in ("http", "https"):
        host = parts.netloc.lower().rsplit("@", 1)[-1]
        if not _HOST.match(host) or any(c.isspace() for c in target):
            return "not a well-formed URL"
        return None
    if parts.scheme == "mailto":
        return None if "@" in parts.path else "not a well-formed mailto link"
    if parts.scheme or parts.netloc:
        return f"unexpected scheme {parts.scheme or '//'!r}"
    path, anchor = unquote(parts.path), unquote(parts.fragment)
    if not path:
        resolved = page
    elif path.startswith("/"):
        resolved = (ROOT / path.lstrip("/")).resolve()
    else:
        resolved = (page.parent / path).resolve()
    if not resolved.is_relative_to(ROOT):
        return "points outside the repository"
    relative = resolved.relative_to(ROOT).as_posix()
    if any(relative == folder or relative.startswith(f"{folder}/") for folder in NOT_IN_A_CLONE):
        return f"{relative} is not in a clean clone"
    if not resolved.exists():
        return f"{relative} does not exist"
    if anchor and resolved.suffix == ".md":
        if anchor not in anchors(resolved.read_text(encoding="utf-8")):
            return f"{relative} has no heading with the anchor #{anchor}"
    return None


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_pages_are_found() -> None:
    names = [_name(page) for page in _pages()]
    assert names[0] == "README.md"
    assert {"docs/README.md", "docs/measured.md", "data/records/README.md"} <= set(names)


@pytest.mark.parametrize("page", _pages(), ids=_name)
def test_every_link_resolves(page: Path) -> None:
    problems = [
        f"{target}: {problem}"
        for target in links(page.read_text(encoding="utf-8"))
        if (problem := _problem(page, target)) is not None
    ]
    assert not problems, f"{_name(page)} has dead links:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", _pages(), ids=_name)
def test_nothing_outside_the_repository_is_cited(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    cited = [name for name in OUTSIDE_CITATIONS if name in text]
    assert not cited, f"{_name(page)} cites {cited}, which are not in this repository"


def test_the_readme_is_short_enough_to_read_first() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines; move detail into a docs/ page and link it"
    )


def test_the_docs_index_lists_every_page() -> None:
    index = ROOT / "docs" / "README.md"
    listed = {
        (index.parent / urlsplit(target).path).resolve()
        for target in links(index.read_text(encoding="utf-8"))
    }
    pages = {page.resolve() for page in (ROOT / "docs").glob("*.md") if page != index}
    missing = sorted(page.name for page in pages - listed)
    assert not missing, f"docs/README.md does not list {missing}"
    assert index.resolve() in {
        (ROOT / urlsplit(target).path).resolve()
        for target in links((ROOT / "README.md").read_text(encoding="utf-8"))
    }, "the README links the docs index"


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Start here: two commands", "start-here-two-commands"),
        ("Colab's install cells", "colabs-install-cells"),
        ("Set-up, classroom and check runs", "set-up-classroom-and-check-runs"),
        ("`make test` and [the docs](docs/README.md)", "make-test-and-the-docs"),
        ("rerank_lab.course: the machinery", "rerank_labcourse-the-machinery"),
    ],
)
def test_anchors_follow_githubs_slug_rules(heading: str, expected: str) -> None:
    assert slug(heading) == expected


def test_a_repeated_heading_gets_a_numbered_anchor() -> None:
    text = "# `make timings` (×2)\n## `make timings` (×2)\n```\n# a comment\n```\n"
    assert anchors(text) == {"make-timings-2", "make-timings-2-1"}


def test_links_in_code_are_not_links() -> None:
    text = "see [a](a.md) and `[b](b.md)`\n```\n[c](c.md)\n```\n<img src='d.png'> [e]: e.md\n"
    assert links(text) == ["a.md", "d.png"]
    assert links("[e]: e.md") == ["e.md"]
