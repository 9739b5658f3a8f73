"""The encoding benchmark of notebook 07, section 5: one process, a process pool, Ray Data.

``python -m rerank_lab.course.bench_parallel [--chunks N] [--json]``

The same first ``N`` chunks of the full-scale test corpus (2,048 by default) are encoded by the
course bi-encoder in plain float32 torch, four ways, and each way's *start-up* (what it pays
once: loading the model, starting processes or actors) is kept apart from its *steady rate*
(chunks per second once it runs):

* one process, torch using every core (start-up: loading the model);
* sentence-transformers' multi-process pool, one process per core with one thread each
  (start-up: starting the pool and a first small encode, which loads the model in each);
* Ray Data with 1 and with 2 one-CPU actors on a local cluster (``rerank_lab.course.cluster``), the
  notebook's pipeline: blocks from pandas, a callable class per actor, Parquet shards out. The
  cluster's own start is timed once; each run's start-up is the time until its first batch
  starts encoding, and its rate counts from there to the last batch's end (each batch records
  both times).

Then the faiss HNSW build (M=32, as in the notebook) over a corpus of the full corpus's size,
made of the encoded vectors and distractor copies (``rl.course.scaling.distractor_copies``), for the
arithmetic of a larger cluster. Run it alone on the machine: every number is a wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BATCH_SIZE = 32
BLOCKS = 8


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _one_process(model_path: str, texts: list[str]) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(model_path, device="cpu")
    model.encode(texts[:BATCH_SIZE], batch_size=BATCH_SIZE)  # warm-up
    start_up = time.perf_counter() - started
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True)
    seconds = time.perf_counter() - started
    return {"start_up_s": start_up, "chunks_per_s": len(texts) / seconds, "vectors": vectors}


def _process_pool(model_path: str, texts: list[str], workers: int) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    model = SentenceTransformer(model_path, device="cpu")
    started = time.perf_counter()
    pool = model.start_multi_process_pool(["cpu"] * workers)
    try:
        model.encode(texts[:BATCH_SIZE], pool=pool, batch_size=BATCH_SIZE)  # loads the model
        start_up = time.perf_counter() - started
        started = time.perf_counter()
        vectors = model.encode(texts, pool=pool, batch_size=BATCH_SIZE, normalize_embeddings=True)
        seconds = time.perf_counter() - started
    finally:
        model.stop_multi_process_pool(pool)
        if threads is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = threads
    return {"start_up_s": start_up, "chunks_per_s": len(texts) / seconds, "vectors": vectors}


def _timed_encoder(model_path: str) -> type:
    """The notebook's callable class, with each batch's start and end time as extra columns."""

    class TimedEncodeChunks:
        def __init__(self) -> None:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(model_path, device="cpu")

        def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            started = time.time()
            vectors = self.model.encode(
                list(batch["text"]), batch_size=BATCH_SIZE, normalize_embeddings=True
            )
            size = len(vectors)
            return {
                "row": batch["row"],
                "embedding": list(vectors.astype(np.float32)),
                "started": np.full(size, started),
                "ended": np.full(size, time.time()),
            }

    return TimedEncodeChunks


def _ray_data(model_path: str, texts: list[str], actors: int, folder: Path) -> dict[str, Any]:
    import ray

    rows = np.arange(len(texts))
    blocks = [
        pd.DataFrame({"row": part, "text": [texts[i] for i in part]})
        for part in np.array_split(rows, BLOCKS)
    ]
    began = time.time()
    (
        ray.data.from_pandas(blocks)
        .map_batches(
            _timed_encoder(model_path),
            batch_size=BATCH_SIZE,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        )
        .write_parquet(folder)
    )
    total = time.time() - began
    shards = pd.read_parquet(folder).sort_values("row")
    first, last = shards["started"].min(), shards["ended"].max()
    return {
        "start_up_s": first - began,
        "chunks_per_s": len(texts) / (last - first),
        "total_s": total,
        "vectors": np.stack(shards["embedding"].to_numpy()),
    }


def _hnsw_build_seconds(vectors: np.ndarray, size: int) -> dict[str, float]:
    from rerank_lab.course import scaling

    copies = max(1, round(size / len(vectors)))
    corpus = scaling.distractor_copies(vectors.astype(np.float32), copies)
    started = time.perf_counter()
    scaling.build_index(corpus, "hnsw")
    return {"vectors": len(corpus), "seconds": time.perf_counter() - started}


def run(chunks: int) -> dict[str, Any]:
    """Encode the first ``chunks`` chunks four ways and time the HNSW build (see the module)."""
    from rerank_lab import models
    from rerank_lab.course import cluster, collection

    corpus = collection.load_collection("full").judged("test").passages
    texts = corpus["text"].tolist()[:chunks]
    model_path = models.resolve("bi-encoder", kind="bi-encoder").load_from
    workers = os.cpu_count() or 1
    result: dict[str, Any] = {"chunks": len(texts), "corpus_chunks": len(corpus), "cores": workers}
    load = os.getloadavg()[0]

    _log(f"one process, {len(texts)} chunks")
    single = _one_process(model_path, texts)
    _log(f"process pool of {workers}")
    pool = _process_pool(model_path, texts, workers)
    _log("local Ray cluster")
    started = time.perf_counter()
    cluster.start_local_cluster(cores=workers)
    result["ray_cluster_start_s"] = time.perf_counter() - started
    runs = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for actors in (1, 2):
                _log(f"Ray Data, {actors} actor(s)")
                runs[actors] = _ray_data(model_path, texts, actors, Path(folder) / str(actors))
    finally:
        cluster.stop_local_cluster()
    _log("faiss HNSW build")
    result["hnsw_build"] = _hnsw_build_seconds(single["vectors"], len(corpus))

    reference = single["vectors"]
    ways = {"one process": single, f"pool of {workers} processes": pool}
    ways.update({f"Ray Data, {n} actor{'s' * (n > 1)}": runs[n] for n in runs})
    result["ways"] = {
        name: {
            "start_up_s": round(way["start_up_s"], 2),
            "chunks_per_s": round(way["chunks_per_s"], 2),
            "max_difference": float(np.abs(way["vectors"] - reference).max()),
        }
        for name, way in ways.items()
    }
    result["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    return result


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table, with the whole corpus's time at each steady rate."""
    lines = [
        f"| way ({result['cores']} cores) | start-up s | chunks/s | "
        f"{result['corpus_chunks']:,} chunks, min | max difference |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, way in result["ways"].items():
        minutes = result["corpus_chunks"] / way["chunks_per_s"] / 60
        lines.append(
            f"| {name} | {way['start_up_s']:.1f} | {way['chunks_per_s']:.1f} | {minutes:.1f} | "
            f"{way['max_difference']:.1e} |"
        )
    build = result["hnsw_build"]
    lines.append("")
    lines.append(f"Ray cluster start: {result['ray_cluster_start_s']:.1f} s. HNSW (M=32) build "
                 f"over {build['vectors']:,} vectors: {build['seconds']:.1f} s.")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2_048, help="chunks encoded each way")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    options = parser.parse_args(argv)
    if options.chunks < BATCH_SIZE * BLOCKS:
        parser.error(f"--chunks must be at least {BATCH_SIZE * BLOCKS} (a batch per block)")
    result = run(options.chunks)
    if options.json:
        options.json.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
