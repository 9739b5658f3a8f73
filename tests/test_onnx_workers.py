"""Several onnxruntime sessions sharing one call: same numbers as one session, in input order.

``run_batches`` is checked with stand-in workers (which batch went where, errors); the twins
with the tiny random models of conftest, exported to int8 ONNX in about a second. Whether
sharing is faster is measured by ``python -m rerank_lab.course.bench``, never here.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rerank_lab.course import fast_encode, onnx_workers
from rerank_lab.course.onnx_workers import run_batches

pytestmark = pytest.mark.skipif(
    not fast_encode.onnx_available(), reason="the onnx extra is not installed"
)

TEXTS = [
    "a cat sat on the mat",
    "dogs bark",
    "the stock market fell sharply today after the announcement of new tariffs on imports",
    "rain",
    "blood pressure in adults with mild hypertension fell after twelve weeks of walking",
    "a short one",
    "proteins fold into shapes that decide what they do in the cell",
    "x",
    "what is a cat",
    "the quick brown fox jumps over the lazy dog again and again",
    "gene expression",
]


@pytest.fixture
def layout_env(temp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache; the layout comes from the arguments, never measured."""
    monkeypatch.delenv(fast_encode.THREADS_ENV, raising=False)
    monkeypatch.delenv(fast_encode.SESSIONS_ENV, raising=False)
    monkeypatch.setattr(fast_encode, "_layout_candidates", lambda: pytest.fail("measured"))
    return temp_cache


# --- run_batches -------------------------------------------------------------------------------


class _Recorder:
    """A stand-in worker: returns each text's length, remembers its batches and its thread.

    With a ``barrier``, its first batch waits until the other worker holds one too, so both
    work whatever the machine's load.
    """

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[int] = set()
        self.barrier = barrier

    def __call__(self, batch: list[str]) -> np.ndarray:
        self.batches.append(batch)
        self.threads.add(threading.get_ident())
        if self.barrier is not None and len(self.batches) == 1:
            self.barrier.wait(timeout=30)
        return np.array([[len(text), 1.0] for text in batch])


def test_results_come_back_in_input_order() -> None:
    workers = [_Recorder(), _Recorder()]
    out = run_batches(workers, TEXTS, 3, lambda worker, batch: worker(batch))
    np.testing.assert_array_equal(out[:, 0], [len(text) for text in TEXTS])
    assert out.shape == (len(TEXTS), 2)


def test_batches_are_length_sorted_and_shared() -> None:
    barrier = threading.Barrier(2)
    workers = [_Recorder(barrier), _Recorder(barrier)]
    run_batches(workers, TEXTS, 3, lambda worker, batch: worker(batch))
    batches = [batch for worker in workers for batch in worker.batches]
    assert sorted(len(batch) for batch in batches) == [2, 3, 3, 3]
    longest_first = sorted(TEXTS, key=len, reverse=True)
    expected = [longest_first[i : i + 3] for i in range(0, len(TEXTS), 3)]
    assert sorted(batches) == sorted(expected)  # each batch holds texts of similar length
    assert all(worker.batches for worker in workers)  # both worked...
    assert workers[0].threads != workers[1].threads  # ...each in a thread of its own


def test_batches_follow_the_given_length() -> None:
    workers = [_Recorder()]
    run_batches(workers, TEXTS, 4, lambda worker, batch: worker(batch), length=lambda t: -len(t))
    assert workers[0].batches[0] == sorted(TEXTS, key=len)[:4]  # shortest first, as asked


def test_a_workers_error_reaches_the_caller() -> None:
    def run(worker: Any, batch: list[str]) -> np.ndarray:
        if "x" in batch:
            raise RuntimeError("this batch is broken")
        return np.zeros((len(batch), 1))

    with pytest.raises(RuntimeError, match="this batch is broken"):
        run_batches([object(), object()], TEXTS, 2, run)


# --- the twins ---------------------------------------------------------------------------------


def test_two_sessions_encode_exactly_what_one_does(tiny_bi_encoder: Any, layout_env: Path) -> None:
    one = fast_encode.to_fast(tiny_bi_encoder, name="tiny", sessions=1)
    two = fast_encode.to_fast(tiny_bi_encoder, name="tiny", sessions=2)
    assert type(two).__name__ == "ParallelSentenceTransformer" and len(two.helpers) == 1
    assert two.batch_size == fast_encode.BATCH_SIZE
    for size in (2, 3, 32):
        alone = one.encode(TEXTS, batch_size=size, normalize_embeddings=True)
        shared = two.encode(TEXTS, batch_size=size, normalize_embeddings=True)
        np.testing.assert_array_equal(shared, alone)
    plain = tiny_bi_encoder.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(two.encode(TEXTS, normalize_embeddings=True), plain, atol=0.1)


def test_other_calls_run_as_sentence_transformers_runs_them(
    tiny_bi_encoder: Any, layout_env: Path
) -> None:
    two = fast_encode.to_fast(tiny_bi_encoder, name="tiny", sessions=2)
    shared = two.encode(TEXTS, batch_size=2)
    single = two.encode(TEXTS[0])
    assert single.shape == shared[0].shape
    np.testing.assert_allclose(single, shared[0], atol=0.05)
    as_tensor = two.encode(TEXTS, batch_size=2, convert_to_tensor=True)
    assert isinstance(as_tensor, torch.Tensor) and tuple(as_tensor.shape) == shared.shape
    assert two.encode(TEXTS, batch_size=2, precision="int8").dtype == np.int8
    with pytest.raises(ValueError, match="batch_size"):
        two.encode(TEXTS, batch_size=0)


def test_two_sessions_score_pairs_exactly_as_one(tiny_cross_encoder: Any, layout_env: Path) -> None:
    pairs = [("what is a cat", text) for text in TEXTS]
    one = fast_encode.to_fast(tiny_cross_encoder, name="tiny-ce", sessions=1)
    two = fast_encode.to_fast(tiny_cross_encoder, name="tiny-ce", sessions=2)
    assert type(two).__name__ == "ParallelCrossEncoder" and len(two.helpers) == 1
    assert two.batch_size == fast_encode.BATCH_SIZE
    np.testing.assert_array_equal(two.predict(pairs), one.predict(pairs))
    np.testing.assert_array_equal(
        two.predict(pairs, batch_size=5), one.predict(pairs, batch_size=5)
    )
    logits = two.predict(pairs, activation_fn=torch.nn.Identity())
    probabilities = two.predict(pairs, activation_fn=torch.nn.Sigmoid())
    assert np.all((probabilities > 0) & (probabilities < 1))
    np.testing.assert_allclose(probabilities, torch.sigmoid(torch.tensor(logits)), rtol=1e-6)
    ranked = two.rank("what is a cat", TEXTS)  # rank() goes through predict as well
    assert sorted(entry["corpus_id"] for entry in ranked) == list(range(len(TEXTS)))
    as_tensor = two.predict(pairs, convert_to_tensor=True)
    assert isinstance(as_tensor, torch.Tensor)


def test_pairs_are_scored_as_predict_scores_them_one_by_one(
    tiny_cross_encoder: Any, layout_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sessions are called directly with the call's pairs tokenised at once: the same
    tokens (a pair longer than max_length is cut the same way) and the same scores, bitwise,
    as sentence-transformers' own predict on one pair at a time."""
    from sentence_transformers import CrossEncoder

    too_long = " ".join(TEXTS * 10)
    pairs = [("what is a cat", text) for text in [*TEXTS, too_long]]
    two = fast_encode.to_fast(tiny_cross_encoder, name="tiny-ce", sessions=2)
    assert len(two.tokenizer(*pairs[-1])["input_ids"]) > two.max_seq_length
    monkeypatch.setattr(onnx_workers, "_shared_per_batch", lambda *a: pytest.fail("not direct"))
    for activation in (torch.nn.Identity(), torch.nn.Sigmoid()):
        own = CrossEncoder.predict(two, pairs, batch_size=1, activation_fn=activation)
        np.testing.assert_array_equal(two.predict(pairs, activation_fn=activation), own)
    assert two.predict(pairs).dtype == np.float32
    padded = two.predict(pairs, batch_size=4)  # batches padded here, as predict pads them
    np.testing.assert_allclose(padded, CrossEncoder.predict(two, pairs, batch_size=4), atol=0.05)


def test_pairs_are_scored_batch_by_batch_without_a_session(
    tiny_cross_encoder: Any, layout_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = [("what is a cat", text) for text in TEXTS]
    two = fast_encode.to_fast(tiny_cross_encoder, name="tiny-ce", sessions=2)
    direct = two.predict(pairs)
    with monkeypatch.context() as patch:
        patch.setattr(onnx_workers, "_session_of", lambda model: None)
        np.testing.assert_array_equal(two.predict(pairs), direct)

    def without_options(inputs: Any, **kwargs: Any) -> Any:
        if "processing_kwargs" in kwargs:
            raise TypeError("preprocess() got an unexpected keyword argument 'processing_kwargs'")
        return type(two).preprocess(two, inputs, **kwargs)

    monkeypatch.setattr(two, "preprocess", without_options)  # an older sentence-transformers
    np.testing.assert_array_equal(two.predict(pairs), direct)
