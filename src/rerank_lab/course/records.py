"""Committed results of the course's long runs, so a notebook can show them without the wait.

Some work is too long for a notebook's default path on a laptop CPU: Augmented SBERT's seven
trainings at the full scale (notebook 06), the full-scale SPECTER2-style adapter (notebook 05).
Their module's own command runs it and writes a small JSON *record* into ``data/records/``;
the notebook reads the record, shows it beside a live run that fits in minutes, and offers the
full run as an explicit opt-in. Each record carries the command that reproduces it, when and on
what it was measured, and the library versions, so a number in a notebook always has a source.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rerank_lab.course import artefacts
from rerank_lab.course.files import write_atomically
from rerank_lab.course.settings import data_dir, shown_path

__all__ = ["machine", "read_record", "record_path", "write_record"]

#: The fields every record holds besides its own results.
REQUIRED = ("command", "world", "measured", "machine", "versions", "results")


def record_path(name: str) -> Path:
    """Where the record ``name`` lives: ``data/records/<name>.json`` in the checkout."""
    return data_dir() / "records" / f"{name}.json"


def machine(device: str) -> dict[str, Any]:
    """What a time was measured on: cores, threads torch used, the device and the platform."""
    import torch

    return {
        "cpus": os.cpu_count(),
        "torch threads": torch.get_num_threads(),
        "device": device,
        "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
    }


def write_record(
    path: Path, command: str, results: dict[str, Any], *, packages: tuple[str, ...]
) -> Path:
    """Write ``results`` as a record at ``path`` (atomically), with the command that made them,
    the world this process runs in (online models or the offline ones), the date, the machine
    (the device the course picks here) and the versions of ``packages``. Returns ``path``."""
    from rerank_lab.course import world
    from rerank_lab.device import pick_device

    record = {
        "command": command,
        "world": world.current().name,
        "measured": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(pick_device()),
        "versions": artefacts.versions(packages),
        "results": results,
    }
    payload = (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda handle: handle.write(payload))
    return path


def read_record(name: str) -> dict[str, Any]:
    """The committed record ``name``, checked to hold what every record holds.

    A missing or damaged record is a broken checkout, not something to compute around: the
    error names the command that writes it again.
    """
    path = record_path(name)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{shown_path(path)} is missing: restore it with `git checkout -- {shown_path(path)}`."
        ) from None
    except ValueError as error:
        raise ValueError(
            f"{shown_path(path)} is not valid JSON ({error}): restore it with git."
        ) from None
    missing = [field for field in REQUIRED if field not in record]
    if missing:
        raise ValueError(
            f"{shown_path(path)} lacks {', '.join(missing)}: rewrite it with its command, "
            f"{record.get('command', 'named in the notebook')}."
        )
    return record
