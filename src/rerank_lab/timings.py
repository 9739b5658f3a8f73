"""How long a notebook takes on its default path, cold and warm: the numbers in the headers.

``python -m rerank_lab.timings NOTEBOOK [NOTEBOOK ...] [--scale full] [--json FILE]``

*Cold* is a learner's first run after ``make lab``: a fresh cache that holds only what
``make lab`` puts there before JupyterLab opens (the pinned downloads and the parsed PubMed
corpus), so every embedding, ONNX twin and trained adapter is built by the notebook itself.
*Warm* is the second run on that same cache. Each notebook runs in its own kernel through
nbclient, as JupyterLab would run it, with the scale a learner gets by default (``full``), and
the slowest cells are kept so that a header can say where the time goes. The records merge
into one JSON file, one entry per notebook.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["prepare_cold_cache", "time_notebook"]

#: What ``make lab`` leaves in the cache before the first notebook runs.
COLD_CACHE_PARTS = ("downloads", "pubmed")


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def prepare_cold_cache(source: Path, target: Path) -> Path:
    """A fresh cache at ``target`` holding only :data:`COLD_CACHE_PARTS` of ``source``.

    Files are hard-linked where the file system allows it (no copy of the 57 MB wheel), else
    copied. ``target`` is emptied first.
    """
    for part in COLD_CACHE_PARTS:
        if not (source / part).is_dir():
            raise FileNotFoundError(
                f"{source / part} is missing: run `make data` once (it needs PyPI) first."
            )
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for part in COLD_CACHE_PARTS:
        shutil.copytree(source / part, target / part, copy_function=_link_or_copy)
    return target


def time_notebook(path: Path, *, scale: str, cache: Path, slowest: int = 5) -> dict[str, Any]:
    """Run ``path`` top to bottom in a fresh kernel; the wall time and the slowest cells."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    environment = {"RERANK_LAB_SCALE": scale, "RERANK_LAB_CACHE": str(cache.resolve())}
    previous = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)  # the kernel inherits the environment of its parent
    client = NotebookClient(
        notebook,
        timeout=None,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=True,
    )
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    seconds = time.perf_counter() - started
    cells = []
    for number, cell in enumerate(notebook.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type != "code" or "iopub.execute_input" not in timing:
            continue
        begin = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
        first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
        cells.append(
            {
                "cell": number,
                "id": cell.get("id"),
                "seconds": round((end - begin).total_seconds(), 1),
                "first line": first_line[:80],
            }
        )
    cells.sort(key=lambda cell: -cell["seconds"])
    return {"seconds": round(seconds, 1), "slowest cells": cells[:slowest]}


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load average at the start": [round(x, 2) for x in load] if load else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--scale", default="full", choices=("small", "full"))
    parser.add_argument("--source-cache", type=Path, default=Path("data/cache"))
    parser.add_argument("--json", type=Path, help="merge the records into this JSON file")
    parser.add_argument("--warm-only", action="store_true", help="skip the cold run")
    args = parser.parse_args(argv)

    records = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
    for path in args.notebooks:
        record: dict[str, Any] = {
            "scale": args.scale,
            "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            **_machine(),
        }
        with tempfile.TemporaryDirectory(prefix="rerank-lab-cold-") as folder:
            cache = args.source_cache if args.warm_only else Path(folder) / "cache"
            if not args.warm_only:
                prepare_cold_cache(args.source_cache, cache)
                print(f"{path}: cold run (fresh cache) ...", flush=True)
                record["cold"] = time_notebook(path, scale=args.scale, cache=cache)
                print(f"  cold: {record['cold']['seconds']:.0f} s", flush=True)
            print(f"{path}: warm run ...", flush=True)
            record["warm"] = time_notebook(path, scale=args.scale, cache=cache)
            print(f"  warm: {record['warm']['seconds']:.0f} s", flush=True)
        records[str(path)] = record
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
