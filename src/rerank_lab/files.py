"""Writing cache files so that a reader never sees half of one.

Caches (embeddings, the parsed corpus, training checkpoints) are read back by later runs,
other notebooks and other machines a teacher copies them to. A write interrupted by a kernel
restart must leave either the old file or none, never a truncated one: so every cache file is
written to a temporary file beside it, flushed to disk, then renamed over the target, which the
operating system does in one step.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["write_atomically"]


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``.

    The file is made readable by everyone (temporary files start private) so that a cache
    filled by one user can be copied to and read on classroom machines.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
