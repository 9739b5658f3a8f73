"""Several single-thread onnxruntime sessions sharing one ``encode`` or ``predict`` call.

Why: on a small CPU, onnxruntime's int8 kernels do not split one batch over two threads well,
while two one-thread sessions each working on its own batches nearly double one thread (the
course machine's figures are in docs/measured.md). Small batches help too: int8 work grows
with the padded length, and the twins' default batch of one text pads nothing at all.

So the fast twins of :mod:`rerank_lab.course.fast_encode` are a :class:`ParallelSentenceTransformer`
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

Pairs skip most of sentence-transformers' per-batch Python: the whole call is tokenised once
(its own ``preprocess``, unpadded) and each batch goes straight to a session as numpy arrays;
the scores are made from the logits as ``predict`` makes them (bitwise the same at batch 1).
Texts are encoded batch by batch with ``encode`` itself, which also pools and normalises.

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
    length: Callable[[Any], int] = _length,
) -> np.ndarray:
    """``run(worker, batch)`` over length-sorted batches of ``items``, spread over ``workers``.

    Each worker runs in its own thread and takes the next batch (longest first, by ``length``)
    until none is left; each batch's rows are put back at their items' positions. The first
    error raised by any worker is raised here once the others have stopped.
    """
    order = np.argsort([-length(item) for item in items], kind="stable")
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


#: How a spread-out call is run: ``shared(model, items, batch_size, show_progress, kwargs)``.
Shared = Callable[[Any, list[Any], int, bool, dict[str, Any]], np.ndarray]


def _shared_call(
    model: Any,
    unshared: Callable[..., Any],
    shared: Shared,
    inputs: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    allowed: set[str],
    required: dict[str, bool],
) -> Any:
    """``shared(...)`` when the call may be spread over the model and its helpers (only
    ``allowed`` keywords, each of ``required`` (the output options) at its default), else
    ``unshared(model, inputs, ...)``: sentence-transformers' own method."""
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
    return shared(model, list(inputs), size, show, kwargs)


def _shared_per_batch(unshared: Callable[..., Any]) -> Shared:
    """Each worker runs ``unshared`` (sentence-transformers' own method) on its batches."""

    def shared(
        model: Any, items: list[Any], size: int, show: bool, kwargs: dict[str, Any]
    ) -> np.ndarray:
        def run(worker: Any, batch: list[Any]) -> np.ndarray:
            return unshared(worker, batch, batch_size=size, show_progress_bar=False, **kwargs)

        workers = [model, *getattr(model, "helpers", [])]
        return run_batches(workers, items, size, run, show_progress=show)

    return shared


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
        shared = _shared_per_batch(encode)
        return _shared_call(self, encode, shared, inputs, args, kwargs, _ENCODE_KEYWORDS, required)


# --- scoring pairs straight through the sessions -----------------------------------------------

#: sentence-transformers' own tokenisation of pairs, without padding and as plain lists: the
#: pairs of a whole call are tokenised at once, and each batch is padded when it is run.
_UNPADDED = {"text": {"padding": False}, "common": {"return_tensors": None}}


def _session_of(model: Any) -> Any | None:
    """The onnxruntime session under an ONNX ``CrossEncoder`` (optimum keeps it as
    ``model.model``), or None when there is none to call directly."""
    import onnxruntime

    session = getattr(getattr(model, "model", None), "model", None)
    return session if isinstance(session, onnxruntime.InferenceSession) else None


def _padded(rows: list[list[int]], pad: int) -> np.ndarray:
    """Token rows as one int64 array, padded on the right with ``pad`` to the longest."""
    out = np.full((len(rows), max(len(row) for row in rows)), pad, dtype=np.int64)
    for number, row in enumerate(rows):
        out[number, : len(row)] = row
    return out


def _rows_per_pair(rows: Any, count: int) -> bool:
    """Whether ``rows`` is what an unpadded tokenisation gives: a list of ``count`` token lists."""
    return isinstance(rows, list) and len(rows) == count and all(isinstance(r, list) for r in rows)


def _scores(
    logits: np.ndarray, activation_fn: Any, apply_softmax: bool, num_labels: int
) -> np.ndarray:
    """One batch's logits as ``CrossEncoder.predict`` turns them into scores: the activation,
    the optional softmax over labels, one score per pair for one label."""
    import torch

    with torch.inference_mode():
        scores = torch.from_numpy(logits)
        if activation_fn is not None:
            scores = activation_fn(scores)
        if apply_softmax and scores.ndim > 1:
            scores = torch.nn.functional.softmax(scores, dim=1)
        if num_labels == 1 and scores.ndim > 1:
            scores = scores.squeeze(-1)
        return scores.float().numpy()


def _score_directly(
    model: Any, pairs: list[Any], size: int, show: bool, kwargs: dict[str, Any]
) -> np.ndarray | None:
    """The scores of ``pairs`` from the workers' onnxruntime sessions, fed numpy arrays; None
    when this model cannot be scored so (no session, left padding, inputs it does not make).

    Why: ``predict`` spends time in Python around onnxruntime on every pair (mostly the
    tokenizer's wrapper, once per call), and two threads wait on each other for it. Tokenising
    the whole call once (sentence-transformers' ``preprocess``, so the same tokens) and calling
    the sessions directly does that work once (docs/measured.md: the saving).
    """
    workers = [model, *getattr(model, "helpers", [])]
    sessions = [_session_of(worker) for worker in workers]
    tokenizer = getattr(model, "tokenizer", None)
    if any(session is None for session in sessions) or tokenizer is None:
        return None
    if tokenizer.padding_side != "right":
        return None
    names = [node.name for node in sessions[0].get_inputs()]
    if "logits" not in [node.name for node in sessions[0].get_outputs()]:
        return None
    try:
        features = model.preprocess(pairs, processing_kwargs=_UNPADDED)
    except TypeError:  # a sentence-transformers without per-call tokenizer options
        return None
    if not all(_rows_per_pair(features.get(name), len(pairs)) for name in names):
        return None
    pads = {"input_ids": tokenizer.pad_token_id or 0}
    activation_fn = kwargs.get("activation_fn")
    apply_softmax = bool(kwargs.get("apply_softmax", False))

    def run(session: Any, batch: list[int]) -> np.ndarray:
        feed = {
            name: _padded([features[name][i] for i in batch], pads.get(name, 0)) for name in names
        }
        (logits,) = session.run(["logits"], feed)
        return _scores(logits, activation_fn, apply_softmax, model.num_labels)

    tokens = features["input_ids"]
    return run_batches(
        sessions, range(len(pairs)), size, run, show_progress=show, length=lambda i: len(tokens[i])
    )


def _shared_predict(
    model: Any, pairs: list[Any], size: int, show: bool, kwargs: dict[str, Any]
) -> np.ndarray:
    """Pairs scored straight through the sessions, or else batch by batch with ``predict``."""
    scores = _score_directly(model, pairs, size, show, kwargs)
    if scores is None:
        scores = _shared_per_batch(CrossEncoder.predict)(model, pairs, size, show, kwargs)
    return scores


class ParallelCrossEncoder(CrossEncoder):
    """An ONNX ``CrossEncoder`` whose ``predict`` shares its batches with ``helpers``.

    ``batch_size`` is the default batch size of ``predict`` (sentence-transformers' is 32).
    """

    helpers: list[CrossEncoder]
    batch_size: int = 32

    def predict(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """As ``CrossEncoder.predict``; plain calls are spread over the helpers, and every
        session's logits get this model's activation (it may have changed since they loaded)."""
        required = {"convert_to_numpy": True, "convert_to_tensor": False}
        if not args and kwargs.get("activation_fn") is None:
            kwargs["activation_fn"] = self.activation_fn
        predict = CrossEncoder.predict
        return _shared_call(
            self, predict, _shared_predict, inputs, args, kwargs, _PREDICT_KEYWORDS, required
        )
