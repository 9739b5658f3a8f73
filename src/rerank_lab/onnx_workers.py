"""Several single-thread onnxruntime sessions sharing one ``encode`` or ``predict`` call.

Why: on a small CPU, onnxruntime's int8 kernels do not split one batch over two threads well.
Measured on the 2-vCPU course machine (MiniLM, 512 PubMed chunks, idle, batches of 8): one
session with one thread encodes about 37 chunks/s, one session with two threads about 55, and
two one-thread sessions each working on its own batches about 70: nearly twice one thread.
The same holds for the cross-encoder's 25 pairs. Small batches help too: int8 work grows with
the padded length, and the twins' default batch of one text pads nothing at all (two sessions:
97 chunks/s; see ``fast_encode.BATCH_SIZE``).

So the fast twins of :mod:`rerank_lab.fast_encode` are a :class:`ParallelSentenceTransformer`
or :class:`ParallelCrossEncoder`: the model itself plus ``helpers``, more twins of the same
ONNX file, each with its own session *and tokenizer* (a fast tokenizer must not be used from
two threads at once). One call sorts its inputs by length, cuts them into batches, and the
model and its helpers take batches from one queue in threads (onnxruntime and the tokenizers
release the GIL while they work); the results are put back in input order.

The batches are cut here, the same way whether there are helpers or none, and each is scored
exactly as a lone session would score it, so the output does not depend on the number of
sessions. With batches of more than one text it does depend on the batch size, slightly:
dynamic int8 quantisation scales each batch's activations by that batch's own range
(cross-encoder logits moved by up to 0.36 between batch sizes 32 and 8 on 25 PubMed pairs).

Only the plain form of a call is spread out (a list of texts or pairs, numpy output, no
``pool``, ``device`` or ``precision``); any other call runs as sentence-transformers runs it,
on the model alone.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sentence_transformers import CrossEncoder, SentenceTransformer
from tqdm.auto import tqdm

__all__ = ["ParallelCrossEncoder", "ParallelSentenceTransformer", "run_batches"]

#: The keyword arguments a spread-out ``encode`` understands; any other keeps the plain call.
_ENCODE_KEYWORDS = {"batch_size", "show_progress_bar", "normalize_embeddings", "prompt_name"}
#: The same for ``predict``.
_PREDICT_KEYWORDS = {"batch_size", "show_progress_bar", "activation_fn", "apply_softmax"}


def _length(item: Any) -> int:
    """Characters in a text, or in both texts of a pair: the sort key for batching."""
    return len(item) if isinstance(item, str) else sum(len(part) for part in item)


def run_batches(
    workers: Sequence[Any],
    items: Sequence[Any],
    batch_size: int,
    run: Callable[[Any, list[Any]], np.ndarray],
    *,
    show_progress: bool = False,
) -> np.ndarray:
    """``run(worker, batch)`` over length-sorted batches of ``items``, spread over ``workers``.

    Each worker runs in its own thread and takes the next batch (longest first) until none is
    left; each batch's rows are put back at their items' positions. The first error raised by
    any worker is raised here once the others have stopped.
    """
    order = np.argsort([-_length(item) for item in items], kind="stable")
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    results: list[np.ndarray | None] = [None] * len(batches)
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for number in range(len(batches)):
        todo.put(number)
    errors: list[BaseException] = []
    bar = tqdm(total=len(items), desc="Batches", disable=not show_progress, unit="text")
    lock = threading.Lock()

    def work(worker: Any) -> None:
        while not errors:
            try:
                number = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[number] = np.asarray(run(worker, [items[i] for i in batches[number]]))
            except BaseException as error:  # noqa: BLE001 - handed to the caller below
                errors.append(error)
                return
            with lock:
                bar.update(len(batches[number]))

    threads = [threading.Thread(target=work, args=(worker,), daemon=True) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bar.close()
    if errors:
        raise errors[0]
    rows = np.concatenate([result for result in results if result is not None])
    out = np.empty_like(rows)
    out[order] = rows
    return out


def _spread(
    model: Any, inputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any], allowed: set[str]
) -> bool:
    """Whether this call is one to spread over the helpers (see the module docstring)."""
    if args or not set(kwargs) <= allowed:
        return False
    if not isinstance(inputs, (list, tuple)) or not inputs:
        return False
    batch_size = kwargs.get("batch_size", model.batch_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        return False  # let sentence-transformers say what is wrong
    return len(inputs) > batch_size


def _shared_call(
    model: Any,
    unshared: Callable[..., Any],
    inputs: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    allowed: set[str],
    required: dict[str, bool],
) -> Any:
    """``unshared(model, inputs, ...)`` (sentence-transformers' own method), spread over the
    model and its helpers when the call allows it: only ``allowed`` keywords, and each of
    ``required`` (the output options) at its default."""
    if any(kwargs.get(name, default) is not default for name, default in required.items()):
        spread = False
    else:
        kwargs = {name: value for name, value in kwargs.items() if name not in required}
        spread = _spread(model, inputs, args, kwargs, allowed)
    if not args:
        kwargs.setdefault("batch_size", model.batch_size)
    if not spread:
        return unshared(model, inputs, *args, **kwargs)
    size = kwargs.pop("batch_size")
    show = bool(kwargs.pop("show_progress_bar", False))

    def run(worker: Any, batch: list[Any]) -> np.ndarray:
        return unshared(worker, batch, batch_size=size, show_progress_bar=False, **kwargs)

    workers = [model, *getattr(model, "helpers", [])]
    return run_batches(workers, list(inputs), size, run, show_progress=show)


class ParallelSentenceTransformer(SentenceTransformer):
    """An ONNX ``SentenceTransformer`` whose ``encode`` shares its batches with ``helpers``.

    ``batch_size`` is the default batch size of ``encode`` (sentence-transformers' is 32).
    """

    helpers: list[SentenceTransformer]
    batch_size: int = 32

    def encode(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """As ``SentenceTransformer.encode``; plain calls are spread over the helpers."""
        required = {"convert_to_numpy": True}
        encode = SentenceTransformer.encode
        return _shared_call(self, encode, inputs, args, kwargs, _ENCODE_KEYWORDS, required)


class ParallelCrossEncoder(CrossEncoder):
    """An ONNX ``CrossEncoder`` whose ``predict`` shares its batches with ``helpers``.

    ``batch_size`` is the default batch size of ``predict`` (sentence-transformers' is 32).
    """

    helpers: list[CrossEncoder]
    batch_size: int = 32

    def predict(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """As ``CrossEncoder.predict``; plain calls are spread over the helpers (each with
        this model's activation: it may have been changed since they were loaded)."""
        required = {"convert_to_numpy": True, "convert_to_tensor": False}
        if not args and kwargs.get("activation_fn") is None:
            kwargs["activation_fn"] = self.activation_fn
        predict = CrossEncoder.predict
        return _shared_call(self, predict, inputs, args, kwargs, _PREDICT_KEYWORDS, required)
