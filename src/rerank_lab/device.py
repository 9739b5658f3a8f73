"""Which accelerator to run on, and how to survive running out of its memory.

The course runs on whatever a learner has: a CUDA GPU in Colab, Apple's MPS on a Mac, or the
CPU (CI, classrooms). ``pick_device`` chooses in that order unless ``RERANK_LAB_DEVICE`` or an
argument says otherwise; ``use_fp16`` says when half precision pays (CUDA only: on CPU it is
slower, on MPS not reliably faster); ``with_oom_backoff`` halves the batch size when a batch no
longer fits in GPU memory instead of crashing a long encode.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import torch

__all__ = [
    "KNOWN_DEVICES",
    "describe_device",
    "free_accelerator_memory",
    "is_out_of_memory",
    "pick_device",
    "use_fp16",
    "with_oom_backoff",
]

T = TypeVar("T")

KNOWN_DEVICES = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(prefer: str | None = None) -> str:
    """Return ``"cuda"``, ``"mps"`` or ``"cpu"``: the argument, else ``RERANK_LAB_DEVICE``, else the
    best available in the order CUDA → MPS → CPU.

    Asking for a device that is not there raises a ValueError that says what is available,
    rather than failing later deep inside torch.
    """
    wanted = (prefer or os.environ.get("RERANK_LAB_DEVICE", "")).strip().lower()
    if not wanted:
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        return "cpu"
    kind = wanted.split(":", 1)[0]
    if kind not in KNOWN_DEVICES:
        raise ValueError(f"Unknown device {wanted!r}; use one of {KNOWN_DEVICES} (e.g. 'cuda:0').")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA GPU is visible; use 'cpu' or unset it.")
    if kind == "mps" and not _mps_available():
        raise ValueError("MPS was asked for but is not available here; use 'cpu' or unset it.")
    return wanted


def use_fp16(device: str) -> bool:
    """Half precision only on CUDA, where it roughly doubles throughput at no quality cost.

    ``RERANK_LAB_FP16=0`` switches it off (e.g. to compare against fp32 on a GPU).
    """
    if os.environ.get("RERANK_LAB_FP16", "1").strip() in {"0", "false", "no", "off"}:
        return False
    return device.startswith("cuda")


def describe_device(device: str) -> str:
    """A one-line, human description of the device, for the set-up report of each notebook."""
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        memory_gib = props.total_memory / 2**30
        half = "on" if use_fp16(device) else "off"
        return f"{device} ({props.name}, {memory_gib:.0f} GiB, fp16 {half})"
    if device == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} torch threads)"


def is_out_of_memory(error: BaseException) -> bool:
    """True for the errors torch raises when an accelerator runs out of memory."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def free_accelerator_memory() -> None:
    """Return cached blocks to the driver so that a smaller retry can fit."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if _mps_available() and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def with_oom_backoff(
    run: Callable[[int], T],
    batch_size: int,
    *,
    min_batch_size: int = 1,
    on_backoff: Callable[[int, int], None] | None = None,
) -> T:
    """Call ``run(batch_size)``; on out-of-memory halve the batch size and try again.

    ``on_backoff(old, new)`` is told about each retry (the encoder prints it). When even
    ``min_batch_size`` does not fit, the last out-of-memory error is raised with a hint.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    size = batch_size
    while True:
        try:
            return run(size)
        except Exception as error:  # noqa: BLE001 - re-raised below unless it is an OOM
            if not is_out_of_memory(error):
                raise
            free_accelerator_memory()
            if size <= min_batch_size:
                raise RuntimeError(
                    f"Out of accelerator memory even at batch size {size}. Free GPU memory "
                    "(restart the kernel, close other notebooks) or run on the CPU with "
                    "RERANK_LAB_DEVICE=cpu."
                ) from error
            new_size = max(min_batch_size, size // 2)
            if on_backoff is not None:
                on_backoff(size, new_size)
            size = new_size
