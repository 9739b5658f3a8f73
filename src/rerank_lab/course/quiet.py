"""Library chatter silenced around one block, and restored after it.

Building a model the course means to train (a fresh head), exporting it to ONNX or running a
trainer makes transformers and friends log advice meant for other situations ("newly
initialized", tracer warnings). The course silences them in exactly those blocks, one way.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_libraries(*loggers: str, ignore_warnings: bool = False) -> Iterator[None]:
    """Only errors from transformers and ``loggers`` (and no Python warnings when
    ``ignore_warnings``) while the block runs; every level is restored afterwards."""
    chosen = [logging.getLogger(name) for name in ("transformers", *loggers)]
    levels = [logger.level for logger in chosen]
    try:
        for logger in chosen:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            if ignore_warnings:
                warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(chosen, levels, strict=True):
            logger.setLevel(level)
