"""What a notebook's first cell changes in Colab: run it in a Colab-like virtual environment.

Colab preinstalls torch (a CUDA build), transformers, sentence-transformers, datasets and most of
the scientific stack. Every notebook's first code cell, where `rerank_lab` is missing, clones the
course and runs `%pip install -e ./rerank-lab`: pip must then add only what Colab lacks and keep
Colab's torch (a changed torch means a multi-GB download and a runtime restart), and it must not
pull `adapters` (an extra; only notebook 05 installs it).

This script rebuilds that situation on any machine with PyPI access and reports it:

1. a fresh venv (default build/colab-venv) with the COLAB set below preinstalled;
2. a copy of the course's working tree, as the cell's `git clone` would give it;
3. the cell's install command, then `pip freeze` before and after, compared.

It exits non-zero when torch changed, when any preinstalled package was downgraded or removed,
or when adapters was installed. `--smoke` then also runs notebooks 01 to 04 in that venv
(offline world, small scale) through nbval, to prove the course works with Colab's versions and
not only installs beside them. `--scale` then replays notebook 07's cell, which adds the `scale`
extra (Ray Data; it must move nothing Colab has), and `--adapters` notebook 05's, which adds the
`adapters` extra (last, because it changes the venv; a run without `--keep` starts afresh).
Run it with `make colab-check` (needs PyPI, ~2 GB of disk).

The Hugging Face versions are those of the last public snapshot of Colab's environment
(googlecolab/backend-info, August 2026: Python 3.13, pip 24.1, torch 2.11.0, transformers
5.15, sentence-transformers 5.7, huggingface_hub 1.27, datasets 4.0). torch stays 2.13.0, the
CPU build this machine's pip finds locally: Colab's own is a CUDA build of several GB, and
"do not touch torch" holds whichever it is. The venv uses the Python that runs this script
(3.11 here). Override the set with --preset FILE (one requirement per line) to replay a real
Colab `pip freeze`; docs/online-world.md has the pip 24.1 / Python 3.13 replay of notebook 05.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Colab's runtime as its August 2026 snapshot lists it (see the module docstring).
COLAB = [
    "torch==2.13.0",
    "transformers==5.15.1",
    "sentence-transformers==5.7.0",
    "huggingface_hub==1.27.0",
    "tokenizers==0.22.2",
    "datasets==4.0.0",
    "accelerate==1.15.0",
    "numpy==2.3.5",
    "pandas==2.2.2",
    "matplotlib==3.10.8",
    "scikit-learn==1.8.0",
    "scipy==1.16.3",
    "tqdm==4.67.1",
    "ipykernel",
    "ipywidgets",
]

# What a learner's Colab session has to run to check the smoke notebooks (Colab has its own).
SMOKE_TOOLS = ["pytest>=8", "nbval>=0.11", "ipykernel>=6.29"]
SMOKE_NOTEBOOKS = [
    "notebooks/01_bi_encoders.ipynb",
    "notebooks/02_cross_encoders.ipynb",
    "notebooks/03_arxiv_retrieve_and_rerank.ipynb",
    "notebooks/04_comparing_models.ipynb",
]


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, text=True, check=True, **kwargs)


def freeze(python: Path) -> dict[str, str]:
    out = run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True).stdout
    pins = {}
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.lower().replace("_", "-")] = version
        elif " @ " in line or line.startswith("-e "):
            pins[line.split(" @ ")[0].removeprefix("-e ").strip().lower()] = "(editable/url)"
    return pins


def course_copy(target: Path) -> Path:
    """The working tree as `git clone` gives it: tracked and new files, no ignored ones."""
    listed = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True,
    ).stdout.split("\0")  # fmt: skip
    shutil.rmtree(target, ignore_errors=True)
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def compare(
    before: dict[str, str], after: dict[str, str], *, allowed: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    from packaging.version import InvalidVersion, Version

    lines, problems = [], []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if old is None:
            lines.append(f"  + {name} {new}")
            continue
        if new is None:
            lines.append(f"  - {name} {old} (removed)")
            problems.append(f"{name} {old} was removed")
            continue
        try:
            down = Version(new) < Version(old)
        except InvalidVersion:
            down = False
        lines.append(f"  {'v' if down else '^'} {name} {old} -> {new}")
        if down and name not in allowed:
            problems.append(f"{name} downgraded {old} -> {new}")
    if before.get("torch") != after.get("torch"):
        problems.append(f"torch changed: {before.get('torch')} -> {after.get('torch')}")
    if "adapters" in after and "adapters" not in before and "adapters" not in allowed:
        problems.append("adapters was installed by the base install (it belongs to an extra)")
    return lines, problems


# Notebook 05's first cell adds the `adapters` extra. adapters 1.3 pins transformers ~4.57, so
# where Colab ships transformers 5 pip must move it (and whatever needs transformers 5) back:
# that is reported, and accepted for these packages only; torch must still not move.
ADAPTERS_MAY_DOWNGRADE = frozenset(
    {
        "transformers",
        "sentence-transformers",
        "tokenizers",
        "huggingface-hub",
        "datasets",
        "fsspec",
        "adapters",
    }
)


# What each notebook's extra may move where Colab ships newer versions, and what its notebook
# imports afterwards (in a fresh process: the cell runs before anything imports them).
EXTRA_CELLS = {
    "adapters": (
        "05",
        ADAPTERS_MAY_DOWNGRADE,
        "adapters, sentence_transformers, transformers, torch",
    ),
    "scale": ("07", frozenset(), "ray, ray.data, psutil, sentence_transformers, torch"),
}


def extra_cell(python: Path, clone: Path, extra: str) -> int:
    """Replay a notebook's install of an extra (`pip install -e ./rerank-lab[extra]`) after the
    base install, report what it changed, and import the notebook's stack in a fresh process:
    the cell runs before anything imports transformers, so a session needs no restart."""
    notebook, allowed, modules = EXTRA_CELLS[extra]
    before = freeze(python)
    started = time.monotonic()
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-e", f"./{clone.name}[{extra}]"],
        cwd=clone.parent, text=True, capture_output=True,
    )  # fmt: skip
    if install.returncode:
        print(install.stdout[-3000:], install.stderr[-3000:], sep="\n")
        print(f"FAIL: notebook {notebook}'s install failed ({install.returncode})")
        return 1
    print(f"notebook {notebook}'s install ({extra} extra): {time.monotonic() - started:.0f} s")
    after = freeze(python)
    lines, problems = compare(before, after, allowed=allowed)
    print(f"pip freeze, before -> after notebook {notebook}'s cell:")
    print("\n".join(lines) or "  (nothing changed)")
    imports = subprocess.run(
        [str(python), "-c", f"import {modules}; print('imports: {modules}')"],
        capture_output=True, text=True,
    )  # fmt: skip
    print(imports.stdout.strip() or imports.stderr[-2000:])
    if imports.returncode:
        problems.append(f"notebook {notebook}'s imports fail after the {extra} install")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print(f"OK: torch untouched; only what the {extra} extra needs moved.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=ROOT / "build" / "colab-venv")
    parser.add_argument("--preset", type=Path, help="requirements file replacing the COLAB set")
    parser.add_argument("--keep", action="store_true", help="reuse an existing venv's preset")
    parser.add_argument("--smoke", action="store_true", help="then run notebooks 01-04 there")
    parser.add_argument(
        "--adapters", action="store_true", help="then replay notebook 05's adapters install"
    )
    parser.add_argument(
        "--scale", action="store_true", help="then replay notebook 07's scale (Ray) install"
    )
    args = parser.parse_args()

    python = args.venv / "bin" / "python"
    preset = args.preset.read_text().split() if args.preset else COLAB
    started = time.monotonic()
    if not (args.keep and python.exists()):
        shutil.rmtree(args.venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(args.venv)])
        run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        run([str(python), "-m", "pip", "install", "--quiet", *preset])
    before = freeze(python)
    print(f"Colab-like preset ready ({time.monotonic() - started:.0f} s): "
          + ", ".join(f"{n} {before.get(n)}" for n in
                      ("torch", "transformers", "sentence-transformers", "huggingface-hub",
                       "datasets", "tokenizers", "accelerate", "numpy", "pandas")))  # fmt: skip

    clone = course_copy(args.venv.parent / "colab-clone" / "rerank-lab")
    # Exactly what the notebooks' first cell runs (without --quiet, to show what pip does).
    started = time.monotonic()
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-e", f"./{clone.name}"],
        cwd=clone.parent, text=True, capture_output=True,
    )  # fmt: skip
    print(install.stdout[-6000:], install.stderr[-3000:], sep="\n")
    if install.returncode:
        print(f"FAIL: the first cell's pip install failed ({install.returncode})")
        return 1
    print(f"first cell's install: {time.monotonic() - started:.0f} s")
    after = freeze(python)
    lines, problems = compare(before, after)
    print("pip freeze, before -> after the first cell (+ added, ^ upgraded, v downgraded):")
    print("\n".join(lines) or "  (nothing changed)")
    (args.venv.parent / "colab-freeze-before.txt").write_text(
        "".join(f"{n}=={v}\n" for n, v in sorted(before.items())))  # fmt: skip
    (args.venv.parent / "colab-freeze-after.txt").write_text(
        "".join(f"{n}=={v}\n" for n, v in sorted(after.items())))  # fmt: skip
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
    print("pip check:", check.stdout.strip() or check.stderr.strip())
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print("OK: torch untouched, nothing downgraded or removed, adapters not installed.")
    rc = 0
    if args.smoke:
        rc = smoke_notebooks(python, clone)
    if args.scale:  # moves nothing Colab has: before the adapters extra, which does
        rc = extra_cell(python, clone, "scale") or rc
    if args.adapters:  # after the smoke notebooks, which need Colab's own versions
        rc = extra_cell(python, clone, "adapters") or rc
    return rc


def smoke_notebooks(python: Path, clone: Path) -> int:
    """Run notebooks 01-04 in the Colab-like venv (offline world, small scale) through nbval."""
    run([str(python), "-m", "pip", "install", "--quiet", *SMOKE_TOOLS])
    # A copy of the course's cache (corpus, small reranker, embeddings): nothing that runs
    # with Colab's versions can write into the cache that `make test` uses.
    cache = clone.parent.parent / "colab-cache"
    if not cache.exists() and (ROOT / "data" / "cache").is_dir():
        shutil.copytree(ROOT / "data" / "cache", cache, symlinks=True)
    env = dict(os.environ, RERANK_LAB_OFFLINE="1", RERANK_LAB_SCALE="small")
    env["RERANK_LAB_CACHE"] = str(cache)
    started = time.monotonic()
    smoke = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", *SMOKE_NOTEBOOKS],
        cwd=clone, env=env, text=True,
    )  # fmt: skip
    print(f"smoke notebooks: rc {smoke.returncode}, {time.monotonic() - started:.0f} s")
    return smoke.returncode


if __name__ == "__main__":
    sys.exit(main())
