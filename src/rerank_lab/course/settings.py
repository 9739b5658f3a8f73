"""Course-wide settings read from the environment: where caches live and which scale to run.

Everything a learner may want to change is an environment variable, so the same notebooks run
unchanged in JupyterLab, in Colab and under pytest:

- ``RERANK_LAB_CACHE``: folder for downloads, parsed corpora and embeddings
  (default: ``data/cache`` inside the course checkout, else ``~/.cache/rerank_lab``).
- ``RERANK_LAB_SCALE``: ``small`` (tests and CI, every notebook in about two minutes) or
  ``full`` (the default for people). Under pytest the default is ``small``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

Scale = Literal["small", "full"]
SCALES: tuple[Scale, ...] = ("small", "full")

#: The course checkout this package was installed from (editable install), if any.
REPO_ROOT = Path(__file__).resolve().parents[3]


def _in_checkout() -> bool:
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir()


def shown_path(path: Path) -> str:
    """A path relative to the course checkout where it lies inside it, so that logs, training
    cards and notebook outputs hold no machine's absolute paths; other paths unchanged."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def data_dir() -> Path:
    """The shipped ``data/`` folder (labelled queries, notes on sources, the course models)."""
    if _in_checkout():
        return REPO_ROOT / "data"
    raise FileNotFoundError(
        "The course's data/ folder was not found next to the rerank_lab package. "
        "Install the package from a checkout of the course (pip install -e .), or in Colab "
        "run the notebook's first cell, which clones the course."
    )


def cache_dir() -> Path:
    """Folder for downloads, parsed corpora and embedding caches (created on demand)."""
    configured = os.environ.get("RERANK_LAB_CACHE")
    if configured:
        path = Path(configured).expanduser()
    elif _in_checkout():
        path = REPO_ROOT / "data" / "cache"
    else:
        path = Path.home() / ".cache" / "rerank_lab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def scale() -> Scale:
    """The run scale: ``small`` for tests and CI, ``full`` for people working through the course."""
    value = os.environ.get("RERANK_LAB_SCALE", "").strip().lower()
    if not value:
        return "small" if "pytest" in sys.modules or os.environ.get("CI") else "full"
    if value not in SCALES:
        raise ValueError(f"RERANK_LAB_SCALE={value!r} is not a scale; use one of {SCALES}.")
    return value  # type: ignore[return-value]
