"""Resolve every notebook's install cell as Colab's own pip would: Python 3.13, pip 24.1.

Colab's August 2026 snapshot (googlecolab/backend-info) has Python 3.13 and pip 24.1, older than
the pip this course is tested with. This script builds that situation and asks pip, without
installing anything of the course (``--dry-run``), what each install cell would do:

1. a venv on Python 3.13 (``--python``, default: pyenv's 3.13) with pip 24.1;
2. torch 2.11.0 as a metadata-only stand-in distribution (a real one is a multi-GB CUDA build;
   pip only needs to see it installed), then Colab's Hugging Face set (``COLAB_2026_08``);
3. for that set and for the same set moved to sentence-transformers 6.3 / transformers 5.25
   (what Colab is about to ship), the dry runs of
   - the first cell of notebooks 01-04, 06, 07: ``pip install -e ./rerank-lab``;
   - notebook 05's first cell: ``pip install -e "./rerank-lab[adapters]"``;
   - notebook 05's other branch, where the course is installed already: the extra's
     requirements (read from pyproject.toml);
   - notebook 07's first cell and its other branch, the same for the ``scale`` extra (Ray).

It fails when a resolution fails, when torch would change, when the base install or the scale
extra would downgrade anything, or when notebook 05 would leave sentence-transformers 6 beside
transformers 4.57. Needs PyPI; about two minutes. ``make colab-resolve`` runs it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from check_colab_install import course_copy  # noqa: E402

COLAB_2026_08 = [
    "transformers==5.15.*",
    "sentence-transformers==5.7.0",
    "huggingface_hub==1.27.*",
    "datasets==4.0.*",
    "accelerate",
    "numpy",
    "pandas",
    "matplotlib",
    "scipy",
    "scikit-learn",
    "tqdm",
]
NEXT = ["sentence-transformers==6.3.0", "transformers==5.25.0"]


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, text=True, capture_output=True, **kwargs)


def stub_torch(folder: Path, version: str = "2.11.0") -> Path:
    """A wheel that installs only torch's metadata: pip sees torch installed, nothing runs."""
    wheel = folder / f"torch-{version}-py3-none-any.whl"
    info = f"torch-{version}.dist-info"
    files = {
        "torch/__init__.py": "",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def would_install(python: Path, *requirements: str, cwd: Path) -> dict[str, str]:
    """What ``pip install --dry-run`` would install: {name: version}; raises on failure."""
    started = time.monotonic()
    done = run([str(python), "-m", "pip", "install", "--dry-run", *requirements], cwd=cwd)
    if done.returncode:
        raise RuntimeError(f"pip could not resolve {requirements}:\n{done.stderr[-3000:]}")
    line = next((x for x in done.stdout.splitlines() if x.startswith("Would install")), "")
    found = dict(re.findall(r"(\S+)-(\d[^\s]*)", line.removeprefix("Would install")))
    print(f"  {' '.join(requirements)}: {time.monotonic() - started:.1f} s -> "
          + (", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "nothing"))  # fmt: skip
    return {name.lower().replace("_", "-"): version for name, version in found.items()}


def installed(python: Path) -> dict[str, str]:
    out = run([str(python), "-m", "pip", "list", "--format=freeze"]).stdout
    return {
        name.lower().replace("_", "-"): version
        for name, version in (line.split("==", 1) for line in out.splitlines() if "==" in line)
    }


def check(python: Path, clone: Path, label: str) -> list[str]:
    from packaging.version import Version

    problems = []
    before = installed(python)
    print(f"{label}: torch {before['torch']}, transformers {before['transformers']}, "
          f"sentence-transformers {before['sentence-transformers']}")  # fmt: skip
    base = would_install(python, "-e", f"./{clone.name}", cwd=clone.parent)
    for name, version in base.items():
        if name in before and Version(version) < Version(before[name]):
            problems.append(f"{label}: the base install downgrades {name}")
    extra = tomllib.loads((clone / "pyproject.toml").read_text())["project"]
    extra = extra["optional-dependencies"]["adapters"]
    for requirements in ([f"./{clone.name}[adapters]"], extra):
        editable = ["-e"] if requirements[0].startswith("./") else []
        result = would_install(python, *editable, *requirements, cwd=clone.parent)
        after = {**before, **result}
        if "torch" in result:
            problems.append(f"{label}: {requirements} changes torch")
        if Version(after["sentence-transformers"]) >= Version("6") and Version(
            after["transformers"]
        ) < Version("5"):
            problems.append(f"{label}: {requirements} leaves sentence-transformers 6 on 4.x")
    scale = tomllib.loads((clone / "pyproject.toml").read_text())["project"]
    scale = scale["optional-dependencies"]["scale"]
    for requirements in ([f"./{clone.name}[scale]"], scale):
        editable = ["-e"] if requirements[0].startswith("./") else []
        result = would_install(python, *editable, *requirements, cwd=clone.parent)
        for name, version in result.items():
            if name in before and Version(version) < Version(before[name]):
                problems.append(f"{label}: {requirements} downgrades {name}")
        if "torch" in result:
            problems.append(f"{label}: {requirements} changes torch")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path.home() / ".pyenv" / "versions" / "3.13.0" / "bin" / "python"
    parser.add_argument("--python", type=Path, default=default, help="a Python 3.13")
    parser.add_argument("--pip", default="24.1", help="Colab's pip version")
    options = parser.parse_args()
    if not options.python.exists():
        print(f"No Python at {options.python}: pass --python /path/to/python3.13.")
        return 2
    work = Path(tempfile.mkdtemp(prefix="colab-resolve-"))
    try:
        venv = work / "venv"
        run([str(options.python), "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        run([str(python), "-m", "pip", "install", "-q", f"pip=={options.pip}"], check=True)
        run([str(python), "-m", "pip", "install", "-q", str(stub_torch(work))], check=True)
        run([str(python), "-m", "pip", "install", "-q", *COLAB_2026_08], check=True)
        clone = course_copy(work / "rerank-lab")
        problems = check(python, clone, "Colab 2026-08")
        run([str(python), "-m", "pip", "install", "-q", *NEXT], check=True)
        problems += check(python, clone, "Colab with sentence-transformers 6.3")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print("OK: every install cell resolves with pip", options.pip, "and leaves torch alone.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
