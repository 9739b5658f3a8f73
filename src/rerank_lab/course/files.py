"""Cache files: written so that a reader never sees half of one, and checked by checksum.

Caches (embeddings, the parsed corpus, training checkpoints) are read back by later runs,
other notebooks and other machines a teacher copies them to. A write interrupted by a kernel
restart must leave either the old file or none, never a truncated one: so every cache file is
written to a temporary file beside it, flushed to disk, then renamed over the target, which the
operating system does in one step. Files read back from a cache are checked against the
checksum recorded when they were written (:func:`checksum`), so a damaged one is rebuilt
instead of trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["checksum", "safetensors_header", "write_atomically"]

_CHECKSUMS: dict[tuple[str, str], tuple[tuple[int, int, int], str]] = {}


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


def checksum(path: Path | str, algorithm: str = "blake2b") -> str:
    """The hex digest of a file's bytes: ``blake2b`` (16 bytes, for the course's own caches) or
    ``sha256`` (what package indexes publish for downloads).

    Remembered while the file's inode, size and modification time hold, so that checking a
    23 MB model on every load costs a few hundredths of a second once per process.
    """
    if algorithm not in ("blake2b", "sha256"):
        raise ValueError(f"algorithm must be 'blake2b' or 'sha256', not {algorithm!r}.")
    path = Path(path)
    stat = path.stat()
    identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    remembered = _CHECKSUMS.get((str(path), algorithm))
    if remembered is not None and remembered[0] == identity:
        return remembered[1]
    digest = hashlib.blake2b(digest_size=16) if algorithm == "blake2b" else hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    _CHECKSUMS[(str(path), algorithm)] = (identity, digest.hexdigest())
    return digest.hexdigest()


#: A safetensors header is a JSON table of tensor names, shapes and offsets; far below this.
_MAX_HEADER_BYTES = 10_000_000


def safetensors_header(path: Path | str) -> dict[str, object]:
    """The JSON header of a ``.safetensors`` file, read without loading the weights.

    Why: a model folder can look complete and still be useless: a save cut short, or a git
    checkout holding a Git LFS pointer instead of the weights. Reading the header (8 bytes of
    length, then that much JSON) catches both in microseconds. Raises ``OSError`` when the file
    cannot be read and ``ValueError`` when it is not a safetensors file.
    """
    with Path(path).open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if not 0 < size < _MAX_HEADER_BYTES:
            raise ValueError(f"bad safetensors header size {size}")
        header = json.loads(handle.read(size))
    if not isinstance(header, dict):
        raise ValueError("the safetensors header is not a JSON object")
    return header
