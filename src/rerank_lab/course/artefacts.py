"""Models the course trains or exports into its cache: which library line made them, and what
to do with one that cannot be loaded.

A model folder saved by one sentence-transformers or transformers release can name module paths
and config fields that another release does not have (a student saved by sentence-transformers 6
names ``sentence_transformers.base.modules.normalize``, which 5.x cannot import). Learners meet
that when they upgrade, when Colab's image moves on under a kept cache, or when notebook 05's
install cell changes the libraries in a session that already ran 06. So every cached artefact
records the versions that matter for loading it (:func:`versions`), its validity check compares
them with the running ones (:func:`version_problem`, on the *line*: major.minor, since patch
releases keep their save format), and a folder that still fails to load is set aside and built
again (:func:`set_aside`), never trusted and never left to raise from inside a library.

Each artefact chooses, with its reason beside it, between two policies:

* **keyed per line** (:func:`line`): the folder name carries the line, so two lines keep their
  own copies side by side and switching back costs nothing (models that take minutes to hours
  to train: the small reranker, the Augmented SBERT teacher and students, the adapter);
* **rebuilt on a change of line**: one folder, rebuilt with a one-line message (artefacts that
  take seconds to make: the int8 ONNX twins).
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path

from rerank_lab.course.files import checksum, safetensors_header

__all__ = [
    "LINE_CHANGED",
    "LOADING",
    "folder_problem",
    "line",
    "set_aside",
    "version_problem",
    "versions",
]

#: The packages whose release decides whether a saved sentence-transformers model loads.
LOADING = ("sentence-transformers", "transformers")

#: How :func:`version_problem` starts, so callers can tell a change of line from damage.
LINE_CHANGED = "saved by another library line"

_SHORT = {"sentence-transformers": "st", "transformers": "tf", "adapters": "ad"}


def versions(packages: Iterable[str] = LOADING) -> dict[str, str]:
    """The installed version of each package ("missing" when it is not installed)."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def _major_minor(version: str) -> str:
    match = re.match(r"(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else version


def line(packages: Iterable[str] = LOADING) -> str:
    """The running library line as a folder-name part, e.g. ``st5.7-tf4.57``."""
    return "-".join(
        f"{_SHORT.get(name, name)}{_major_minor(version)}"
        for name, version in versions(packages).items()
    )


def version_problem(
    recorded: Mapping[str, str] | None, packages: Iterable[str] = LOADING
) -> str | None:
    """Why an artefact saved with ``recorded`` versions is not for the running line (None when
    its major.minor of every package in ``packages`` matches), in one line."""
    running = versions(packages)
    if not isinstance(recorded, Mapping):
        return f"{LINE_CHANGED} or before versions were recorded"
    differ = [
        f"{name} {recorded.get(name, 'unknown')} (running {version})"
        for name, version in running.items()
        if _major_minor(str(recorded.get(name, ""))) != _major_minor(version)
    ]
    return f"{LINE_CHANGED}: {', '.join(differ)}" if differ else None


def folder_problem(
    folder: Path,
    *,
    card: str,
    required: Sequence[str] = (),
    key: object = None,
    loading: Iterable[str] | None = LOADING,
    checksummed: bool = False,
) -> str | None:
    """Why a folder the course saved cannot be used (None when it can), without loading it.

    One check for every saved model and adapter, in the order that finds damage cheapest: the
    folder and its files exist (``card``, a JSON file written last, and ``required``); every
    ``.safetensors`` header and ``.json`` file of ``required`` and the card parse (an
    interrupted save, a git checkout holding an LFS pointer); with ``checksummed``, each file
    the card's ``files`` lists matches its checksum; the card's ``key`` equals ``key`` (unless
    None: the same recipe, data and backbone); and the library line of ``loading`` (unless
    None) is the running one.
    """
    if not folder.is_dir():
        return "missing"
    absent = [name for name in (*required, card) if not (folder / name).is_file()]
    if absent:
        return f"lacks {', '.join(absent)}"
    try:
        for name in required:
            if name.endswith(".safetensors"):
                safetensors_header(folder / name)
            elif name.endswith(".json"):
                json.loads((folder / name).read_text(encoding="utf-8"))
        content = json.loads((folder / card).read_text(encoding="utf-8"))
        files = dict(content["files"]) if checksummed else {}
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"corrupt ({type(error).__name__}: {error})"
    for name, digest in files.items():
        if not (folder / name).is_file():
            return f"lacks {name}"
        if checksum(folder / name) != digest:
            return f"{name} does not match its checksum"
    if key is not None and content.get("key") != key:
        return "trained with other data, settings or backbone"
    return None if loading is None else version_problem(content.get("versions"), loading)


def set_aside(folder: Path, error: BaseException, what: str) -> Path:
    """Move a cached ``folder`` that failed to load out of the way, saying so in one line.

    Why moved, not deleted: a teacher can still look at what failed (the folder ends in
    ``.damaged``; one is kept per artefact, the previous one replaced). The caller builds the
    artefact again. Returns where the folder went.
    """
    aside = folder.with_name(f"{folder.name}.damaged")
    shutil.rmtree(aside, ignore_errors=True)
    folder.rename(aside)
    message = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    warnings.warn(
        f"The cached {what} in {folder.name} looked valid but does not load ({message}); "
        f"moved it aside to {aside.name} and building it again.",
        stacklevel=3,
    )
    return aside
