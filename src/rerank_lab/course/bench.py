"""The benchmark: the fast paths against the plain ones, measured side by side in one process.

``python -m rerank_lab.course.bench [--scale small|full] [--json]``

What it measures (all on the same device, in this one process, on the same texts; every timed
model call is preceded by an untimed warm-up, and every time is the median of several runs):

* ``docs_per_s_plain``, ``docs_per_s_fast``, ``encode_speedup``: throughput of plain
  ``SentenceTransformer.encode`` (torch fp32, its default batch of 32) and of the fast path (on
  CPU the int8 ONNX twin of ``rerank_lab.course.fast_encode`` as it loads, with its measured layout
  of sessions and threads and its default batch of 1; on CUDA torch fp16), on a fixed random
  sample of the corpus chunks (``--sample``, 256 at the small scale, 1,024 at full),
  ``--repeats`` runs each, interleaved plain/fast so that a burst of load elsewhere hits both
  alike. The speed-up is their ratio.
* ``fast_ndcg_rel_loss``: (plain - fast) / plain of the mean nDCG@10 of dense retrieval on the
  collection's *test* split, each side embedding every chunk and every query with its own model
  (chunks ranked by cosine, each document counted once at its best chunk, as the leaderboard
  does). The plain corpus embeddings come through the course's embedding cache (encoded if not
  cached yet); the fast side's are encoded cold into a private, temporary cache (next point).
* ``cache_ratio``: the fast path's cached re-encode of the whole test corpus (after forgetting
  everything in memory, so read back and validated from disk as a new session would) divided
  by its cold encode of it into the empty temporary cache. ``corpus_encode_s`` is that cold
  encode, the time a learner waits the first time.
* ``rerank_top25_s``: seconds per query to re-rank the fast first stage's top 25 documents with
  the course cross-encoder on its fast path (int8 ONNX on CPU), median over the test queries;
  ``rerank_top25_s_plain`` the same with torch fp32 (on CUDA the fast side is the loader's
  fp16 model), and ``rerank_ndcg_rel_loss`` the relative nDCG@10 loss of the re-ranked runs.
  Every re-ranking call goes through ``search.rerank`` (at each model's own batch size: 32,
  so one batch of 25 pairs, for torch; 1 for the int8 twin, whose sessions share them), at the
  cross-encoder's own ``max_length``. Offline at the full scale
  the release reranker is used, or, while it does not exist, the small one (``cross_encoder``
  says which).
* ``encode_cpu_seconds`` and ``rerank_top25_cpu_s``: the CPU time (all threads of this
  process) of the same runs. On a machine shared with other jobs the wall-clock numbers above
  rise with the load; CPU time much less so, which helps to read a loaded run.
* ``device``, ``backend_plain``, ``backend_fast``, ``machine`` (CPU model, count, VNNI),
  ``load_average`` at start and end (on a shared machine every time above depends on it),
  ``peak_rss_mb``: the peak resident memory of the whole process, and ``peak_rss_mb_encode``
  the same up to the end of the full corpus encode (both bi-encoders loaded, nothing of the
  re-ranking yet).

The printed table marks each number against the targets of the course's performance issue.
Timing lives here and never in the unit tests, which check the pieces on tiny inputs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rerank_lab import metrics, search

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from rerank_lab.data import JudgedSet

__all__ = [
    "KEYS",
    "TARGETS",
    "encode_speed",
    "first_stage",
    "machine",
    "peak_rss_mb",
    "rerank_cost",
    "run_bench",
]

KEYS = (
    "encode_speedup",
    "fast_ndcg_rel_loss",
    "cache_ratio",
    "rerank_top25_s",
    "docs_per_s_plain",
    "docs_per_s_fast",
    "device",
    "peak_rss_mb",
)
"""The keys the benchmark always reports (the interface of the performance issue)."""

TARGETS: dict[str, tuple[str, float]] = {
    "encode_speedup": (">=", 3.0),
    "fast_ndcg_rel_loss": ("<=", 0.01),
    "cache_ratio": ("<=", 0.02),
    "rerank_top25_s": ("<=", 0.3),
    "peak_rss_mb": ("<=", 3072.0),
}
"""Targets on a 2-core CPU (peak memory: of the full-scale run)."""

SAMPLE = {"small": 256, "full": 1024}
REPEATS = 3
RERANK_DEPTH = 25
FIRST_STAGE_DEPTH = 100
SEED = 2026


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else KiB


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU model and count, VNNI, the quantisation config."""
    from rerank_lab.course import fast_encode

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = fast_encode.cpu_flags()
    return {
        "cpu": name,
        "cpus": os.cpu_count(),
        "vnni": "avx512_vnni" in flags or "avx512vnni" in flags,
        "quantization_config": fast_encode.quantization_config(),
        "python": platform.python_version(),
    }


def _load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


# --- the pieces --------------------------------------------------------------------------------


def encode_speed(
    plain: SentenceTransformer,
    fast: SentenceTransformer,
    texts: Sequence[str],
    *,
    repeats: int = REPEATS,
) -> dict[str, float]:
    """Throughput (texts/s) of plain and fast ``encode`` on the same texts, and their ratio.

    Each model encodes at its own default batch size (see ``encode.default_batch_size``).
    Each first encodes a few texts untimed (warm-up: allocation, onnxruntime's first run);
    then the two alternate, ``repeats`` timed runs each, and the median run counts.
    """
    from rerank_lab.encode import default_batch_size

    texts = list(texts)
    timings: dict[str, list[float]] = {"plain": [], "fast": []}
    models = {"plain": plain, "fast": fast}

    def run(model: SentenceTransformer, chosen: list[str]) -> None:
        model.encode(
            chosen,
            batch_size=default_batch_size(model),
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    for model in models.values():
        run(model, texts[:32])
    cpu: dict[str, list[float]] = {"plain": [], "fast": []}
    for _ in range(repeats):
        for name, model in models.items():
            cpu_started = time.process_time()
            timings[name].append(_timed(lambda model=model: run(model, texts))[1])
            cpu[name].append(time.process_time() - cpu_started)
    plain_rate = len(texts) / statistics.median(timings["plain"])
    fast_rate = len(texts) / statistics.median(timings["fast"])
    return {
        "docs_per_s_plain": plain_rate,
        "docs_per_s_fast": fast_rate,
        "encode_speedup": fast_rate / plain_rate,
        "encode_seconds_plain": timings["plain"],
        "encode_seconds_fast": timings["fast"],
        "encode_cpu_seconds_plain": cpu["plain"],
        "encode_cpu_seconds_fast": cpu["fast"],
    }


def cached_encode(
    model: SentenceTransformer, texts: Sequence[str], root: Path, *, repeats: int = REPEATS
) -> tuple[np.ndarray, dict[str, float]]:
    """Encode ``texts`` cold into an empty cache at ``root``, then again from that cache.

    Before each cached run the process forgets what it remembers
    (``embedding_cache.clear_memory``), so the shards are read back and validated from disk, as
    in a new session. Returns the cold
    embeddings and the timings (``cold_s``, ``cached_s`` median, ``cache_ratio``).
    """
    from rerank_lab.course.embedding_cache import EmbeddingCache, clear_memory
    from rerank_lab.encode import encode

    store = EmbeddingCache(Path(root))
    embeddings, cold = _timed(lambda: encode(model, texts, cache=store, show_progress=False))
    cached: list[float] = []
    for _ in range(repeats):
        clear_memory()
        again, seconds = _timed(lambda: encode(model, texts, cache=store, show_progress=False))
        cached.append(seconds)
        if not np.array_equal(again, embeddings):
            raise AssertionError("The cache returned other embeddings than it stored.")
    return embeddings, {
        "cold_s": cold,
        "cached_s": statistics.median(cached),
        "cache_ratio": statistics.median(cached) / cold,
    }


def first_stage(
    judged: JudgedSet, corpus_embeddings: np.ndarray, query_embeddings: np.ndarray
) -> tuple[list[list[search.Hit]], float, Any]:
    """Dense retrieval of every judged query: hits, mean nDCG@10 and the per-query table."""
    depth = min(FIRST_STAGE_DEPTH, len(corpus_embeddings))
    hits = search.semantic_search(query_embeddings, corpus_embeddings, k=depth)
    run = search.hits_to_run(judged.queries["id"].tolist(), hits, judged.doc_ids)
    per_query = metrics.evaluate(run, judged.qrels, ks=(10,))
    return hits, float(per_query["ndcg@10"].mean()), per_query


def rerank_cost(
    cross_encoder: CrossEncoder,
    judged: JudgedSet,
    hits_per_query: Sequence[Sequence[search.Hit]],
) -> tuple[float, float, float]:
    """Median seconds per query to re-rank its top 25 documents, the re-ranked nDCG@10, and the
    median CPU seconds per query (all threads of the process: less sensitive to other load).

    Each query's top 25 *documents* (its best chunk each) are re-ranked, the rest of the list
    kept, as in the leaderboard. The first query is re-ranked once untimed (warm-up).
    """
    texts = judged.passages["text"].tolist()
    doc_ids = judged.doc_ids
    queries = judged.queries["text"].tolist()
    documents = [search.best_chunk_per_document(hits, doc_ids) for hits in hits_per_query]
    search.rerank(cross_encoder, queries[0], documents[0][:RERANK_DEPTH], texts)
    seconds, cpu_seconds, reranked = [], [], []
    for query, ranked in zip(queries, documents, strict=True):
        cpu_started = time.process_time()
        top, took = _timed(
            lambda query=query, ranked=ranked: search.rerank(
                cross_encoder, query, ranked[:RERANK_DEPTH], texts
            )
        )
        cpu_seconds.append(time.process_time() - cpu_started)
        seconds.append(took)
        reranked.append(top + list(ranked[RERANK_DEPTH:]))
    run = search.hits_to_run(judged.queries["id"].tolist(), reranked, doc_ids)
    ndcg = float(metrics.evaluate(run, judged.qrels, ks=(10,))["ndcg@10"].mean())
    return statistics.median(seconds), ndcg, statistics.median(cpu_seconds)


def _relative_loss(plain: float, fast: float) -> float:
    return (plain - fast) / plain if plain else 0.0


# --- the whole run -----------------------------------------------------------------------------


def run_bench(
    judged: JudgedSet,
    *,
    plain: SentenceTransformer,
    fast: SentenceTransformer,
    device: str,
    cross_encoder: CrossEncoder | None = None,
    fast_cross_encoder: CrossEncoder | None = None,
    sample: int = SAMPLE["small"],
    repeats: int = REPEATS,
    plain_cache: Any = True,
    scratch: Path | None = None,
) -> dict[str, Any]:
    """Measure everything on ``judged`` (passages: the corpus; queries and qrels: the test split).

    ``plain_cache`` is what the plain side encodes the corpus through (the course's cache by
    default: it is not what is timed); ``scratch`` a folder for the fast side's private cache
    (a temporary one by default). Without cross-encoders the re-ranking keys are None.
    """
    from rerank_lab.course import fast_encode
    from rerank_lab.device import describe_device
    from rerank_lab.encode import encode

    if repeats < 1 or sample < 1:
        raise ValueError("repeats and sample must be at least 1.")
    started = time.perf_counter()
    load_start = _load_average()
    texts = judged.passages["text"].tolist()
    queries = judged.queries["text"].tolist()
    rng = np.random.default_rng(SEED)
    chosen = sorted(rng.choice(len(texts), size=min(sample, len(texts)), replace=False).tolist())
    speed_texts = [texts[i] for i in chosen]

    _log(f"encode speed: {len(speed_texts)} chunks x {repeats} runs, plain and fast")
    speed = encode_speed(plain, fast, speed_texts, repeats=repeats)

    _log(f"fast path: cold encode of the {len(texts):,} corpus chunks into an empty cache")
    with tempfile.TemporaryDirectory(dir=scratch, prefix="rerank-lab-bench-") as folder:
        fast_corpus, cache = cached_encode(fast, texts, Path(folder), repeats=repeats)
    peak_after_encode = peak_rss_mb()
    _log("plain path: corpus embeddings (through the course's cache)")
    plain_corpus, plain_corpus_s = _timed(
        lambda: encode(plain, texts, cache=plain_cache, show_progress=False)
    )
    plain_queries = encode(plain, queries, cache=False, show_progress=False)
    fast_queries = encode(fast, queries, cache=False, show_progress=False)
    _, ndcg_plain, _ = first_stage(judged, plain_corpus, plain_queries)
    fast_hits, ndcg_fast, _ = first_stage(judged, fast_corpus, fast_queries)
    cosines = np.sum(plain_corpus * fast_corpus, axis=1)

    result: dict[str, Any] = {
        "encode_speedup": speed["encode_speedup"],
        "fast_ndcg_rel_loss": _relative_loss(ndcg_plain, ndcg_fast),
        "cache_ratio": cache["cache_ratio"],
        "rerank_top25_s": None,
        "docs_per_s_plain": speed["docs_per_s_plain"],
        "docs_per_s_fast": speed["docs_per_s_fast"],
        "device": describe_device(device),
        "peak_rss_mb": None,
        "peak_rss_mb_encode": peak_after_encode,
        "backend_plain": fast_encode.backend_of(plain),
        "backend_fast": fast_encode.backend_of(fast),
        "ndcg@10_plain": ndcg_plain,
        "ndcg@10_fast": ndcg_fast,
        "cosine_fast_vs_plain": {
            "mean": float(cosines.mean()),
            "min": float(cosines.min()),
            "p01": float(np.percentile(cosines, 1)),
        },
        "corpus_chunks": len(texts),
        "test_queries": len(queries),
        "speed_sample": len(speed_texts),
        "repeats": repeats,
        "encode_seconds": {
            "plain": speed["encode_seconds_plain"],
            "fast": speed["encode_seconds_fast"],
        },
        "encode_cpu_seconds": {
            "plain": speed["encode_cpu_seconds_plain"],
            "fast": speed["encode_cpu_seconds_fast"],
        },
        "corpus_encode_s": cache["cold_s"],
        "corpus_cached_s": cache["cached_s"],
        "plain_corpus_s": plain_corpus_s,
        "cross_encoder": None,
        "rerank_top25_s_plain": None,
        "rerank_ndcg_rel_loss": None,
    }
    if cross_encoder is not None:
        fast_ce = fast_cross_encoder if fast_cross_encoder is not None else cross_encoder
        _log(f"re-ranking the top {RERANK_DEPTH} of {len(queries)} queries, fast then plain")
        fast_s, fast_ndcg, fast_cpu = rerank_cost(fast_ce, judged, fast_hits)
        plain_s, plain_ndcg, plain_cpu = rerank_cost(cross_encoder, judged, fast_hits)
        result.update(
            {
                "rerank_top25_s": fast_s,
                "rerank_top25_s_plain": plain_s,
                "rerank_ndcg_rel_loss": _relative_loss(plain_ndcg, fast_ndcg),
                "rerank_ndcg@10_plain": plain_ndcg,
                "rerank_ndcg@10_fast": fast_ndcg,
                "rerank_top25_cpu_s": {"plain": plain_cpu, "fast": fast_cpu},
                "rerank_backend_fast": fast_encode.backend_of(fast_ce),
                "rerank_max_length": getattr(fast_ce, "max_seq_length", None),
            }
        )
    result["peak_rss_mb"] = peak_rss_mb()
    result["machine"] = machine()
    result["load_average"] = {"start": load_start, "end": _load_average()}
    result["seconds"] = time.perf_counter() - started
    return result


def _meets(key: str, value: Any) -> str:
    if key not in TARGETS or value is None:
        return ""
    op, target = TARGETS[key]
    ok = value >= target if op == ">=" else value <= target
    return f"{'ok  ' if ok else 'MISS'} (target {op} {target:g})"


def table(result: dict[str, Any]) -> str:
    """The result as aligned lines: each key, its value and whether it meets its target."""
    lines = []
    for key in (
        *KEYS,
        "peak_rss_mb_encode",
        "rerank_top25_s_plain",
        "rerank_ndcg_rel_loss",
        "corpus_encode_s",
    ):
        value = result.get(key)
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<22} {shown:<34} {_meets(key, value)}".rstrip())
    extra = {
        "backends": f"{result.get('backend_plain')} vs {result.get('backend_fast')}",
        "nDCG@10 plain/fast": f"{result['ndcg@10_plain']:.4f} / {result['ndcg@10_fast']:.4f}",
        "cross-encoder": result.get("cross_encoder"),
        "corpus / queries": f"{result.get('corpus_chunks')} chunks / {result.get('test_queries')}",
        "machine": result.get("machine"),
        "load average": result.get("load_average"),
    }
    lines.extend(f"{key:<22} {value}" for key, value in extra.items())
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------------


def _cross_encoders(scale: str, device: str) -> tuple[Any, Any, str | None]:
    """The course cross-encoder at this scale (plain, fast) and its name; Nones if none exists.

    Online: the role's Hub model. Offline: the release reranker; while it does not exist, the
    small one (trained first at the small scale, as the leaderboard does; at the full scale it
    stands in only when already built, as training it is not what the benchmark measures).
    """
    from rerank_lab import models
    from rerank_lab.course import fast_encode, reranker, world
    from rerank_lab.device import use_fp16

    if world.current().online:
        plain = models.load_cross_encoder("cross-encoder", device=device, quiet=True, fast=False)
        name = label = models.ROLES["cross-encoder"].online
    else:
        try:
            path = reranker.release_reranker_path()
            name = f"release course reranker ({path})"
        except reranker.RerankerUnavailable as error:
            try:
                path = reranker.small_reranker_path(train_if_missing=scale == "small")
            except reranker.RerankerUnavailable:
                _log(f"no cross-encoder to time ({error}); the re-ranking keys stay empty")
                return None, None, None
            name = f"small course reranker ({path}; the release model is not built)"
        plain = models.load_cross_encoder(str(path), device=device, quiet=True, fast=False)
        label = path.name  # the folder name the loader gives it too: one cached int8 twin
    use, _why = fast_encode.choose_fast(device, None)
    if use:
        fast = fast_encode.to_fast(plain, name=label)
    elif device.startswith("cuda") and use_fp16(device):
        # The loader's fp16 model is the fast path on CUDA; the plain side is fp32, as for encode.
        fast, plain = plain, copy.deepcopy(plain)
        plain.model.float()
    else:
        fast = plain
    return plain, fast, name


def main(argv: list[str] | None = None) -> int:
    """``python -m rerank_lab.course.bench``: print the table (or, with ``--json``, one JSON
    object)."""
    parser = argparse.ArgumentParser(
        prog="python -m rerank_lab.course.bench",
        description="Measure the fast encode path, the embedding cache and re-ranking cost "
        "against the plain paths, on the judged PubMed collection's test split.",
    )
    parser.add_argument("--scale", choices=("small", "full"), default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs (median)")
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        help="chunks timed for throughput (256 small, 1024 full)",
    )
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: best)")
    args = parser.parse_args(argv)

    from rerank_lab import models
    from rerank_lab.course import world
    from rerank_lab.course.collection import load_collection
    from rerank_lab.course.settings import scale as current_scale
    from rerank_lab.device import pick_device

    scale = args.scale or current_scale()
    device = pick_device(args.device)
    _log(f"{scale} scale on {device}, {world.current()}, load average {_load_average()}")
    collection = load_collection(scale)  # type: ignore[arg-type]
    judged = collection.judged("test")
    plain = models.load_bi_encoder("bi-encoder", device=device, quiet=True, fast=False)
    if device.startswith("cuda"):
        plain = plain.float()  # the plain side is fp32; the loader's fp16 is the fast path
    fast = models.load_bi_encoder("bi-encoder", device=device, quiet=True)
    cross_encoder, fast_cross_encoder, name = _cross_encoders(scale, device)
    result = run_bench(
        judged,
        plain=plain,
        fast=fast,
        device=device,
        cross_encoder=cross_encoder,
        fast_cross_encoder=fast_cross_encoder,
        sample=args.sample or SAMPLE[scale],
        repeats=args.repeats,
    )
    result["cross_encoder"] = name
    result["scale"] = scale
    result["world"] = str(world.current())
    if args.json:
        json.dump(result, sys.stdout, indent=1, default=str)
        print()
    else:
        print(f"rerank_lab.course.bench: {scale} scale, test split, {world.current()}")
        print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
