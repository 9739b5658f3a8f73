"""The fast CPU path: a course model as int8 ONNX, built once, cached on disk, checked on load.

Why: plain ``SentenceTransformer.encode`` of all-MiniLM-L6-v2 on a laptop CPU takes most of a
quarter of an hour for the notebook-03 corpus. The same network exported to ONNX and quantised
*dynamically* to int8 (weights stored as 8-bit integers per channel, activations quantised on
the fly; no calibration data) does several times the work per core on CPUs with VNNI
instructions and changes the embeddings very little. The benchmark, ``python -m
rerank_lab.course.bench``, measures speed and nDCG loss side by side (docs/measured.md).

:func:`to_fast` turns a loaded torch model (a ``SentenceTransformer`` or a ``CrossEncoder``)
into its int8 ONNX twin:

1. The cache folder is ``<cache>/models/onnx/<name>-<config>-<key>``, the key a hash of the
   torch model's weights (:func:`rerank_lab.course.embedding_cache.model_fingerprint`), layout,
   sequence length and the quantisation config. A model fine-tuned in a notebook therefore gets
   its own.
2. If the folder is there and valid (its ``fast_model.json`` names this key, the ONNX file's
   size and hash, and the library line that exported it: :data:`TWIN_LOADING`), it is loaded.
   A folder that fails the check is deleted with a warning and built again; one that passes
   but does not load is moved aside (``rerank_lab.course.artefacts.set_aside``) and built again.
3. Otherwise it is built in a temporary sibling folder and renamed into place in one step, so an
   interrupted build leaves nothing that looks finished: the torch model is saved there (out of
   ``site-packages``, which may be read-only, and in fp32: fp16 weights do not quantise),
   exported to ONNX by optimum, quantised with sentence-transformers'
   ``export_dynamic_quantized_onnx_model``, and everything the int8 model does not need (the
   fp32 ONNX graph, the torch weights) is removed, in seconds.

The quantisation config follows the CPU: ``avx512_vnni`` when ``/proc/cpuinfo`` lists the
``avx512_vnni`` flag, ``arm64`` on ARM, else ``avx2`` (slower: the benchmark measures by how
much); ``RERANK_LAB_ONNX_CONFIG`` overrides it.

How the CPU's cores are used is measured, not assumed. A twin is one onnxruntime session or
several (:mod:`rerank_lab.course.onnx_workers`: the model and its helpers, each session working on
its own batches), each with some intra-op threads. Which layout is fastest depends on the
machine and on how busy it is (docs/measured.md has the course machine's figures), so the
first load in each
situation (idle or busy, from the load average) times the layouts on a few texts and remembers
the fastest for this number of CPUs in ``threads.json``; ``RERANK_LAB_ONNX_SESSIONS`` and
``RERANK_LAB_ONNX_THREADS`` override it. Twins run one text (or pair) per batch by default
(:data:`BATCH_SIZE`): nothing is padded, and on a CPU the int8 kernels lose less to the
smaller batches than they gain from that.

The embedding cache keeps the fast path's vectors apart from the plain ones: an ONNX model's
fingerprint is the hash of its ONNX file (it has no torch weights), and its layout differs.

``rerank_lab.models.load_bi_encoder(fast=None)`` picks this path by itself on CPU when the
``onnx`` extra is installed (:func:`choose_fast` says why or why not); ``fast=False`` or
``RERANK_LAB_FAST=0`` keeps plain torch. GPUs keep torch (fp16), where ONNX int8 does not pay.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from rerank_lab.course import artefacts
from rerank_lab.course.files import checksum, write_atomically
from rerank_lab.course.quiet import quiet_libraries
from rerank_lab.course.settings import cache_dir

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

__all__ = [
    "BATCH_SIZE",
    "CONFIG_ENV",
    "FAST_ENV",
    "FORMAT",
    "SESSIONS_ENV",
    "THREADS_ENV",
    "Layout",
    "FastModelUnavailable",
    "backend_of",
    "choose_fast",
    "cpu_flags",
    "fast_folder",
    "load_class",
    "onnx_available",
    "quantization_config",
    "to_fast",
]

FAST_ENV = "RERANK_LAB_FAST"
"""``0`` (or false/no/off) keeps the plain torch path wherever the fast one would be chosen."""

THREADS_ENV = "RERANK_LAB_ONNX_THREADS"
"""A positive int: onnxruntime's intra-op threads per session, instead of measuring the fastest
layout (with one session unless ``RERANK_LAB_ONNX_SESSIONS`` says otherwise)."""

SESSIONS_ENV = "RERANK_LAB_ONNX_SESSIONS"
"""A positive int: onnxruntime sessions sharing each call's batches, instead of measuring the
fastest layout (one thread each unless ``RERANK_LAB_ONNX_THREADS`` says otherwise)."""

CONFIG_ENV = "RERANK_LAB_ONNX_CONFIG"
"""``avx512_vnni``, ``avx512``, ``avx2`` or ``arm64``: the quantisation config, instead of the
one chosen from the CPU's flags."""

FORMAT = 1
"""Version of a fast model folder's layout; another version is rebuilt."""

CONFIGS = ("avx512_vnni", "avx512", "avx2", "arm64")
MANIFEST = "fast_model.json"
#: What loading a twin depends on. A twin takes seconds to export, so it is not kept per line:
#: one folder per model, exported again (with a one-line warning) when the line changes.
TWIN_LOADING = (*artefacts.LOADING, "optimum-onnx", "onnxruntime")
THREADS_FILE = "threads.json"
LAYOUT_FORMAT = 2
"""Version of ``threads.json``; a record of another version is measured again."""

BATCH_SIZE = 1
"""A twin's default batch size: one text (or pair) per batch, so nothing is padded: on a CPU
the int8 kernels gain more from that than they lose to small batches (docs/measured.md). Each
text's int8 activations are then scaled by its own range, so its embedding no longer depends
on its batch-mates."""
_OFF = {"0", "false", "no", "off"}

M = TypeVar("M", "SentenceTransformer", "CrossEncoder")


class Layout(NamedTuple):
    """How a twin uses the CPU: ``sessions`` sessions sharing the batches, ``threads`` each."""

    sessions: int
    threads: int

    def __str__(self) -> str:
        thread_word = f"{self.threads} thread" + "s" * (self.threads > 1)
        if self.sessions == 1:
            return thread_word
        return f"{self.sessions} sessions x {thread_word}"


class FastModelUnavailable(RuntimeError):
    """The fast path was asked for explicitly but cannot run here; the message says why."""


# --- choosing -----------------------------------------------------------------------------------


def onnx_available() -> bool:
    """Whether the ``onnx`` extra (onnxruntime and optimum's onnxruntime support) is installed."""
    try:
        return (
            importlib.util.find_spec("onnxruntime") is not None
            and importlib.util.find_spec("optimum.onnxruntime") is not None
        )
    except (ImportError, ValueError):  # a parent package missing or half-installed
        return False


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def quantization_config() -> str:
    """The dynamic-quantisation config for this CPU (``RERANK_LAB_ONNX_CONFIG`` overrides it).

    ``avx512_vnni`` (int8 dot products in one instruction: the 3-4x config) when the CPU has
    VNNI, ``arm64`` on ARM, else ``avx2``, which every x86-64 CPU of the last decade runs.
    """
    wanted = os.environ.get(CONFIG_ENV, "").strip().lower()
    if wanted:
        if wanted not in CONFIGS:
            raise ValueError(f"{CONFIG_ENV}={wanted!r} is not a config; use one of {CONFIGS}.")
        return wanted
    if platform.machine().lower() in {"arm64", "aarch64"}:
        return "arm64"
    flags = cpu_flags()
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    return "avx2"


def choose_fast(device: str, fast: bool | None = None) -> tuple[bool, str]:
    """Whether to use the fast path for a model on ``device``, and a few words saying why.

    ``fast=None`` decides automatically: yes on CPU with the ``onnx`` extra installed unless
    ``RERANK_LAB_FAST=0``. ``fast=True`` insists (a FastModelUnavailable names what is missing);
    ``fast=False`` never.
    """
    if fast is False:
        return False, "fast=False"
    on_cpu = device == "cpu" or device.startswith("cpu:")
    if fast is True:
        if not on_cpu:
            raise FastModelUnavailable(
                f"The fast path is int8 ONNX for CPUs; this model is on {device}, where torch "
                "in half precision is the fast path. Load it with device='cpu' or fast=None."
            )
        if not onnx_available():
            raise FastModelUnavailable(
                "The fast path needs the onnx extra: pip install -e '.[onnx]' (make setup "
                "installs it)."
            )
        return True, "fast=True"
    if os.environ.get(FAST_ENV, "").strip().lower() in _OFF:
        return False, f"{FAST_ENV}=0"
    if not on_cpu:
        return False, f"on {device}"
    if not onnx_available():
        return False, "onnx extra not installed"
    return True, "CPU"


def backend_of(model: Any) -> str:
    """How a loaded model runs, in a few words: ``torch fp32``, ``onnx int8 (avx2, 1 thread)``."""
    described = getattr(model, "rerank_lab_backend", None)
    if described:
        return str(described)
    backend = getattr(model, "backend", "torch")
    if backend != "torch":
        return str(backend)
    try:
        dtype = next(model.parameters()).dtype
    except (StopIteration, AttributeError, TypeError):
        return "torch"
    return f"torch {str(dtype).replace('torch.float', 'fp').replace('torch.bfloat16', 'bf16')}"


# --- the folder -----------------------------------------------------------------------------------


def _kind(model: Any) -> str:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    if isinstance(model, CrossEncoder):
        return "cross-encoder"
    if isinstance(model, SentenceTransformer):
        return "bi-encoder"
    raise TypeError(
        f"to_fast() takes a SentenceTransformer or a CrossEncoder, got {type(model).__name__}."
    )


def _source(model: Any, kind: str, config: str) -> dict[str, Any]:
    """What the int8 model is built from: everything that changes the ONNX file."""
    from rerank_lab.course.embedding_cache import model_fingerprint

    length = getattr(model, "max_seq_length", None)
    return {
        "format": FORMAT,
        "kind": kind,
        "weights": model_fingerprint(model),
        "architecture": str(model),
        "max_length": length,
        "quantization": config,
    }


def _key(source: dict[str, Any]) -> str:
    data = json.dumps(source, sort_keys=True).encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def fast_folder(model: Any, *, name: str = "model", config: str | None = None) -> Path:
    """The cache folder of ``model``'s int8 twin (which need not exist yet)."""
    config = config or quantization_config()
    source = _source(model, _kind(model), config)
    return _folder(name, config, _key(source))


def _folder(name: str, config: str, key: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"
    return cache_dir() / "models" / "onnx" / f"{slug}-{config}-{key}"


def _problems(folder: Path, key: str) -> tuple[list[str], dict[str, Any]]:
    """What is wrong with a built folder (nothing: an empty list) and its manifest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        onnx_file = folder / manifest["onnx_file"]
        problems = [
            name
            for name, ok in (
                ("format", manifest.get("format") == FORMAT),
                ("key", manifest.get("key") == key),
                ("onnx file", onnx_file.is_file()),
                ("size", onnx_file.is_file() and onnx_file.stat().st_size == manifest["bytes"]),
            )
            if not ok
        ]
        if not problems and checksum(onnx_file) != manifest["blake2b"]:
            problems.append("checksum")
        stale = artefacts.version_problem(manifest.get("versions"), TWIN_LOADING)
        if not problems and stale:
            problems.append(stale)
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"unreadable manifest ({type(error).__name__})"], {}
    return problems, manifest


def _onnx_class(kind: str) -> Any:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    return SentenceTransformer if kind == "bi-encoder" else CrossEncoder


def _build(model: Any, folder: Path, source: dict[str, Any], key: str) -> None:
    """Export and quantise ``model`` into a temporary sibling of ``folder``, then rename it."""
    import torch
    from sentence_transformers import export_dynamic_quantized_onnx_model

    kind, config = source["kind"], source["quantization"]
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.building-"))
    started = time.perf_counter()
    try:
        torch_model = model
        if any(p.dtype != torch.float32 for p in model.parameters()) or model.device.type != "cpu":
            torch_model = copy.deepcopy(model).to("cpu").float()
        torch_model.save(str(staging))
        suffix = f"int8_{config}"
        with quiet_libraries("sentence_transformers", "optimum", ignore_warnings=True):
            exported = _onnx_class(kind)(
                str(staging),
                backend="onnx",
                device="cpu",
                model_kwargs={"provider": "CPUExecutionProvider", "export": True},
            )
            export_dynamic_quantized_onnx_model(exported, config, str(staging), file_suffix=suffix)
        del exported
        for leftover in ("model.safetensors", "pytorch_model.bin", "onnx/model.onnx"):
            (staging / leftover).unlink(missing_ok=True)
        onnx_file = Path("onnx") / f"model_{suffix}.onnx"
        manifest = {
            "format": FORMAT,
            "key": key,
            "source": source,
            "onnx_file": onnx_file.as_posix(),
            "bytes": (staging / onnx_file).stat().st_size,
            "blake2b": checksum(staging / onnx_file),
            "build_seconds": round(time.perf_counter() - started, 1),
            "versions": artefacts.versions((*TWIN_LOADING, "optimum", "onnx", "torch")),
        }
        manifest_bytes = json.dumps(manifest, indent=1).encode()
        write_atomically(staging / MANIFEST, lambda handle: handle.write(manifest_bytes))
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a shared cache must be readable
        try:
            staging.rename(folder)
        except OSError:  # another process finished first: theirs is as good as ours
            if _problems(folder, key)[0]:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- loading ------------------------------------------------------------------------------------


def _session(folder: Path, manifest: dict[str, Any], threads: int) -> Any:
    """One twin: the int8 ONNX file in one onnxruntime session with ``threads`` threads."""
    import onnxruntime

    from rerank_lab.course.onnx_workers import ParallelCrossEncoder, ParallelSentenceTransformer

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Memory patterns are planned per input shape; with texts of every length they pile up
    # without making anything faster (docs/measured.md).
    options.enable_mem_pattern = False
    kind = manifest["source"]["kind"]
    kwargs: dict[str, Any] = {}
    if kind == "cross-encoder":
        kwargs["max_length"] = manifest["source"]["max_length"]
    twin_class = ParallelSentenceTransformer if kind == "bi-encoder" else ParallelCrossEncoder
    with quiet_libraries("sentence_transformers", "optimum", ignore_warnings=True):
        model = twin_class(
            str(folder),
            backend="onnx",
            device="cpu",
            model_kwargs={
                "provider": "CPUExecutionProvider",
                "file_name": manifest["onnx_file"],
                "session_options": options,
            },
            **kwargs,
        )
    model.batch_size = BATCH_SIZE
    model.helpers = []
    return model


def _load(folder: Path, manifest: dict[str, Any], layout: Layout) -> Any:
    """The twin with ``layout``: one session, and ``layout.sessions - 1`` helpers beside it."""
    return _compose(_sessions(folder, manifest, [layout]), layout)


def _sessions(
    folder: Path, manifest: dict[str, Any], layouts: list[Layout]
) -> dict[int, list[Any]]:
    """Enough sessions for each of ``layouts``, by thread count; layouts share them (each
    session holds its own copy of the weights and memory for its batches)."""
    needed: dict[int, int] = {}
    for layout in layouts:
        needed[layout.threads] = max(needed.get(layout.threads, 0), layout.sessions)
    return {
        threads: [_session(folder, manifest, threads) for _ in range(count)]
        for threads, count in needed.items()
    }


def _compose(sessions: dict[int, list[Any]], layout: Layout) -> Any:
    """The twin with ``layout`` made of ``sessions``: the first, and the next ones as helpers."""
    model, *helpers = sessions[layout.threads][: layout.sessions]
    model.helpers = helpers
    return model


def _timing_inputs(kind: str, count: int) -> list[Any]:
    """``count`` texts (or query-text pairs) of real prose and varied length, one to four of
    the shipped ``data/mini`` passages each (about 40 to 200 tokens, like the corpus chunks).

    Real prose, because which layout wins depends on the text: on one sentence repeated to
    these lengths the layouts tie where on real chunks they do not.
    """
    from rerank_lab.data import load_mini

    mini = load_mini()
    passages = mini.passages["text"].tolist()
    texts = [
        " ".join(passages[(i + j) % len(passages)] for j in range(1 + i % 4)) for i in range(count)
    ]
    if kind == "cross-encoder":
        queries = mini.queries["text"].tolist()
        return [(queries[i % len(queries)], text) for i, text in enumerate(texts)]
    return texts


def _run(model: Any, kind: str, inputs: list[Any]) -> None:
    if kind == "cross-encoder":
        model.predict(inputs, show_progress_bar=False)
    else:
        model.encode(inputs, show_progress_bar=False)


def _layout_candidates() -> list[Layout]:
    """One session with 1, 2, half or all of the CPUs' threads; 2, half or all one-thread
    sessions. Never more threads in all than CPUs."""
    cpus = os.cpu_count() or 1
    counts = sorted({n for n in (1, 2, cpus // 2, cpus) if 1 <= n <= cpus})
    one_session = [Layout(1, threads) for threads in counts]
    return one_session + [Layout(sessions, 1) for sessions in counts if sessions > 1]


def load_class() -> str:
    """``busy`` when other work keeps at least half of the CPUs occupied (1-minute load
    average), else ``idle``: the best layout differs between the two (see below)."""
    if not hasattr(os, "getloadavg"):
        return "idle"
    cpus = os.cpu_count() or 1
    return "busy" if os.getloadavg()[0] >= cpus / 2 else "idle"


def _measured_layout(folder: Path, manifest: dict[str, Any]) -> tuple[Layout, Any]:
    """The fastest layout here and now, and, if it was timed now, its model.

    The candidates (:func:`_layout_candidates`) are timed interleaved on texts of realistic
    lengths, enough for four batches per session of the largest candidate (at most 128), after
    one untimed run each (every session allocates on its first batches), best of two runs
    each, so a burst of load elsewhere skews them alike. The candidates share sessions (two
    one-thread sessions serve one thread alone and two sessions x one thread), to keep the
    memory of the measurement down. Which one wins depends on what else runs: on an idle
    machine several one-thread sessions win, while another job keeps a core busy one thread is
    fastest (threads then wait for each other; docs/measured.md). So the winner is remembered
    per CPU count *and* per :func:`load_class`: each is measured once, the first time a model
    loads in that situation, and looked up afterwards.
    """
    cpus = os.cpu_count() or 1
    situation = load_class()
    remembered_path = folder / THREADS_FILE
    try:
        remembered = json.loads(remembered_path.read_text())
        if remembered.get("cpus") != cpus or remembered.get("format") != LAYOUT_FORMAT:
            remembered = {}
        known = remembered.get("by_load", {}).get(situation)
        if known is not None:
            layout = Layout(int(known["sessions"]), int(known["threads"]))
            if min(layout) >= 1:
                return layout, None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        remembered = {}
    candidates = _layout_candidates()
    if len(candidates) == 1:
        return candidates[0], None
    kind = manifest["source"]["kind"]
    most = max(layout.sessions for layout in candidates)
    inputs = _timing_inputs(kind, min(128, max(32, 4 * most * BATCH_SIZE)))
    sessions = _sessions(folder, manifest, candidates)
    timings: dict[Layout, list[float]] = {layout: [] for layout in candidates}
    for _round in range(3):  # the first is a warm-up: each session allocates on first use
        for layout in candidates:
            model = _compose(sessions, layout)
            started = time.perf_counter()
            _run(model, kind, inputs)
            if _round:
                timings[layout].append(time.perf_counter() - started)
    best = min(candidates, key=lambda layout: min(timings[layout]))
    by_load = dict(remembered.get("by_load") or {})
    by_load[situation] = {
        "sessions": best.sessions,
        "threads": best.threads,
        "seconds": {str(layout): round(min(s), 4) for layout, s in timings.items()},
        "texts": len(inputs),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }
    record = {"format": LAYOUT_FORMAT, "cpus": cpus, "by_load": by_load}
    data = json.dumps(record, indent=1).encode()
    with contextlib.suppress(OSError):  # a read-only cache: measure again next time
        write_atomically(remembered_path, lambda handle: handle.write(data))
    return best, _compose(sessions, best)


def _positive_int(value: Any, what: str) -> int | None:
    """``value`` as a positive int (None stays None); a clear error for anything else."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        if not value.isdigit():
            raise ValueError(f"{what}={value!r} must be a positive int.")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}.")
    return value


def _wanted_layout(sessions: int | None, threads: int | None) -> Layout | None:
    """The layout asked for (arguments first, then the environment), or None: measure it."""
    sessions = _positive_int(sessions, "sessions")
    threads = _positive_int(threads, "threads")
    if sessions is None and threads is None:
        sessions = _positive_int(os.environ.get(SESSIONS_ENV), SESSIONS_ENV)
        threads = _positive_int(os.environ.get(THREADS_ENV), THREADS_ENV)
    if sessions is None and threads is None:
        return None
    return Layout(sessions or 1, threads or 1)


def to_fast(
    model: M,
    *,
    name: str = "model",
    config: str | None = None,
    threads: int | None = None,
    sessions: int | None = None,
) -> M:
    """The int8 ONNX twin of a torch ``SentenceTransformer`` or ``CrossEncoder``, on CPU.

    Built into the cache on first use (about 10 s for MiniLM), loaded from it afterwards; an
    invalid folder is rebuilt with a warning. ``name`` labels the folder, ``config`` overrides
    the quantisation config (see :func:`quantization_config`). ``sessions`` and ``threads``
    fix the layout (onnxruntime sessions sharing each call's batches, intra-op threads each;
    the one not given is 1); by default ``RERANK_LAB_ONNX_SESSIONS`` and
    ``RERANK_LAB_ONNX_THREADS``, else the layout measured once per machine and situation.
    The twin is a :class:`~rerank_lab.course.onnx_workers.ParallelSentenceTransformer` or
    :class:`~rerank_lab.course.onnx_workers.ParallelCrossEncoder` batching :data:`BATCH_SIZE` by
    default; it says what it is in ``model.rerank_lab_backend`` (see :func:`backend_of`).
    """
    if not onnx_available():
        raise FastModelUnavailable(
            "The fast path needs the onnx extra: pip install -e '.[onnx]' (make setup does)."
        )
    kind = _kind(model)
    config = config or quantization_config()
    if config not in CONFIGS:
        raise ValueError(f"Unknown quantisation config {config!r}; use one of {CONFIGS}.")
    wanted = _wanted_layout(sessions, threads)
    source = _source(model, kind, config)
    key = _key(source)
    folder = _folder(name, config, key)
    for attempt in range(2):
        if not folder.is_dir():
            _build(model, folder, source, key)
        problems, manifest = _problems(folder, key)
        if not problems:
            try:
                chosen, measured = wanted, None
                if chosen is None:
                    chosen, measured = _measured_layout(folder, manifest)
                fast = measured if measured is not None else _load(folder, manifest, chosen)
                break
            except Exception as error:  # noqa: BLE001 - e.g. an ONNX file onnxruntime rejects
                if attempt:
                    raise
                artefacts.set_aside(folder, error, "int8 twin")
                continue
        if attempt:
            raise FastModelUnavailable(f"Built {folder}, but it is invalid: {problems}.")
        state = "out of date" if any(artefacts.LINE_CHANGED in p for p in problems) else "corrupt"
        warnings.warn(
            f"Fast model cache {folder} is {state} ({', '.join(problems)}); deleting it and "
            "building it again.",
            stacklevel=2,
        )
        shutil.rmtree(folder, ignore_errors=True)
    if kind == "cross-encoder":
        activation = getattr(model, "activation_fn", None)
        if activation is not None:  # predict applies it to every session's logits
            fast.activation_fn = activation
    # ``model.model.name_or_path`` names where the weights come from (notebooks use it to find a
    # course model's training card or to load its torch classifier); optimum's ORTModel has no
    # such attribute, so the twin gets its source's. Its own folder is ``rerank_lab_source``.
    source_name = getattr(getattr(model[0], "auto_model", None), "name_or_path", None)
    runner = getattr(fast[0], "auto_model", None)
    if source_name and runner is not None and not hasattr(runner, "name_or_path"):
        runner.name_or_path = source_name
    fast.rerank_lab_backend = f"onnx int8 ({config}, {chosen})"
    fast.rerank_lab_source = str(folder)
    return fast
