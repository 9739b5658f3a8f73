"""Where the course is published: one repository URL, written into every notebook by one command.

Each notebook's first code cell clones the course in Colab (``COURSE_REPO = "..."``) and its
title cell carries an "Open in Colab" badge pointing at the same repository: 42 places that must
name one repository and branch. Their source of truth is ``[project.urls] Repository`` in
``pyproject.toml`` (the branch: ``[tool.rerank-lab] branch``); ``tests/test_notebook_policy.py``
fails when a notebook disagrees with it. A teacher who publishes a fork or a mirror runs::

    python -m rerank_lab.course.publish https://github.com/ORG/REPO [--branch BRANCH]

which rewrites ``pyproject.toml``, every notebook and the READMEs in place, and nothing else.
Only GitHub repositories get Colab badges (Colab opens notebooks from GitHub by URL).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from rerank_lab.course.settings import REPO_ROOT as ROOT

__all__ = ["Published", "clone_url", "colab_url", "published", "republish"]

_GITHUB = re.compile(r"https://github\.com/(?P<slug>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_CLONE_LINE = re.compile(r'COURSE_REPO = \\?"[^"\\]*\\?"')
_REPOSITORY = re.compile(r'(?m)^Repository = "([^"]*)"$')
_BRANCH = re.compile(r'(?m)^branch = "([^"]*)"$')
_BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/[^/\s]+/")


@dataclass(frozen=True)
class Published:
    """A GitHub repository (``org/name``) and the branch learners open."""

    slug: str
    branch: str = "main"

    @classmethod
    def parse(cls, url: str, branch: str = "main") -> Published:
        match = _GITHUB.match(url.strip())
        if not match:
            raise ValueError(
                f"{url!r} is not a GitHub repository URL (https://github.com/ORG/REPO): Colab's "
                "badges open notebooks from GitHub only."
            )
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", branch):
            raise ValueError(f"{branch!r} is not a branch name.")
        return cls(match["slug"], branch)

    @property
    def url(self) -> str:
        return f"https://github.com/{self.slug}"


def published(root: Path = ROOT) -> Published:
    """The repository and branch that ``pyproject.toml`` names."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")  # tomllib needs Python 3.11
    repository = re.search(_REPOSITORY, text)
    if repository is None:
        raise ValueError(f"{root / 'pyproject.toml'} names no Repository under [project.urls].")
    branch = re.search(_BRANCH, text)
    return Published.parse(repository[1], branch[1] if branch else "main")


def clone_url(where: Published) -> str:
    """What a notebook's first cell clones."""
    return f"{where.url}.git"


def colab_url(where: Published, notebook: str) -> str:
    """The "Open in Colab" link of ``notebook`` (a path relative to the repository root)."""
    return f"https://colab.research.google.com/github/{where.slug}/blob/{where.branch}/{notebook}"


def _rewrite_notebook(text: str, where: Published) -> str:
    """The notebook's JSON text with its clone URL and badge prefix set (outputs untouched)."""
    text = _CLONE_LINE.sub(f'COURSE_REPO = \\\\"{clone_url(where)}\\\\"', text)
    return _BADGE.sub(colab_url(where, ""), text)


def republish(url: str, branch: str = "main", root: Path = ROOT) -> list[Path]:
    """Point pyproject.toml, every notebook and the READMEs at ``url``; returns changed files."""
    where = Published.parse(url, branch)
    changed = []
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    new = re.sub(_REPOSITORY, f'Repository = "{where.url}"', text)
    new = re.sub(_BRANCH, f'branch = "{where.branch}"', new)
    readmes = [root / "README.md", root / "README.zh.md"]
    files = [pyproject, *sorted((root / "notebooks").rglob("*.ipynb")), *readmes]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path != pyproject:
            new = _rewrite_notebook(text, where)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m rerank_lab.course.publish URL [--branch BRANCH]``."""
    parser = argparse.ArgumentParser(
        prog="python -m rerank_lab.course.publish", description=__doc__
    )
    parser.add_argument("url", help="the GitHub repository, e.g. https://github.com/ORG/REPO")
    parser.add_argument("--branch", default="main", help="the branch learners open (main)")
    options = parser.parse_args(argv)
    try:
        changed = republish(options.url, options.branch)
    except ValueError as error:
        parser.error(str(error))
    where = published()
    print(f"{len(changed)} files now point at {where.url} (branch {where.branch}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
