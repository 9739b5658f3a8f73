"""Tests of rerank_lab.device: device choice, half precision, and the out-of-memory back-off.

Accelerators are simulated by monkeypatching torch's availability checks, and out-of-memory
errors by run functions that raise them, so every path runs on a CPU-only machine.
"""

from __future__ import annotations

import pytest
import torch

from rerank_lab import device as dev


@pytest.fixture
def accelerators(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Simulated availability of CUDA and MPS; tests flip the entries. RERANK_LAB_DEVICE unset."""
    available = {"cuda": False, "mps": False}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available["cuda"])
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: available["mps"])
    monkeypatch.delenv("RERANK_LAB_DEVICE", raising=False)
    monkeypatch.delenv("RERANK_LAB_FP16", raising=False)
    return available


def oom() -> torch.OutOfMemoryError:
    """The error torch raises when a CUDA allocation fails (no GPU needed to create one)."""
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


# --- pick_device -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [
        (True, True, "cuda"),
        (True, False, "cuda"),
        (False, True, "mps"),
        (False, False, "cpu"),
    ],
)
def test_pick_device_prefers_cuda_then_mps_then_cpu(
    accelerators: dict[str, bool], cuda: bool, mps: bool, expected: str
) -> None:
    """Without a preference the best available device wins, in the order CUDA, MPS, CPU."""
    accelerators.update(cuda=cuda, mps=mps)
    assert dev.pick_device() == expected


def test_environment_overrides_the_automatic_choice(
    accelerators: dict[str, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RERANK_LAB_DEVICE=cpu keeps a GPU machine on the CPU; the argument beats the variable."""
    accelerators.update(cuda=True, mps=True)
    monkeypatch.setenv("RERANK_LAB_DEVICE", " CPU ")
    assert dev.pick_device() == "cpu"
    assert dev.pick_device("mps") == "mps"
    assert dev.pick_device("cuda:1") == "cuda:1"


@pytest.mark.parametrize("name", ["gpu", "tpu", "cuda0", "xla:0"])
def test_unknown_device_lists_the_known_ones(accelerators: dict[str, bool], name: str) -> None:
    """A device torch does not have here is refused up front, with the valid names."""
    with pytest.raises(ValueError, match=r"Unknown device .*use one of \('cuda', 'mps', 'cpu'\)"):
        dev.pick_device(name)


def test_unknown_device_from_the_environment(
    accelerators: dict[str, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in RERANK_LAB_DEVICE gets the same clear error."""
    monkeypatch.setenv("RERANK_LAB_DEVICE", "gpu")
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        dev.pick_device()


def test_missing_cuda_says_to_use_the_cpu(accelerators: dict[str, bool]) -> None:
    """Asking for CUDA on a machine without it says so and what to do instead."""
    with pytest.raises(ValueError, match="no CUDA GPU is visible; use 'cpu' or unset it"):
        dev.pick_device("cuda:0")


def test_missing_mps_says_to_use_the_cpu(accelerators: dict[str, bool]) -> None:
    """Asking for MPS where it is not available says so and what to do instead."""
    with pytest.raises(ValueError, match="MPS was asked for but is not available here; use 'cpu'"):
        dev.pick_device("mps")


# --- use_fp16 and describe_device --------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "expected"), [("cuda", True), ("cuda:1", True), ("mps", False), ("cpu", False)]
)
def test_fp16_only_on_cuda(accelerators: dict[str, bool], device: str, expected: bool) -> None:
    """Half precision pays on CUDA only."""
    assert dev.use_fp16(device) is expected


@pytest.mark.parametrize("value", ["0", "false", "no", "off"])
def test_fp16_can_be_switched_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """RERANK_LAB_FP16=0 keeps a GPU in fp32."""
    monkeypatch.setenv("RERANK_LAB_FP16", value)
    assert dev.use_fp16("cuda") is False


def test_describe_cpu_and_mps() -> None:
    """The set-up report names the device in words."""
    assert dev.describe_device("cpu") == f"cpu ({torch.get_num_threads()} torch threads)"
    assert dev.describe_device("mps") == "mps (Apple GPU)"


# --- is_out_of_memory --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory."),
        torch.cuda.OutOfMemoryError("whatever the message"),
        RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"),
        RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"),
    ],
)
def test_out_of_memory_errors_are_recognised(error: BaseException) -> None:
    """torch's OOM type and the RuntimeErrors older torch and MPS raise all count."""
    assert dev.is_out_of_memory(error)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("shape mismatch"),
        ValueError("out of memory"),  # not a RuntimeError: not torch's
        MemoryError(),
        KeyboardInterrupt(),
    ],
)
def test_other_errors_are_not_out_of_memory(error: BaseException) -> None:
    """Anything else is a real error, not a reason to retry."""
    assert not dev.is_out_of_memory(error)


# --- with_oom_backoff --------------------------------------------------------------------------


class FitsUpTo:
    """A run function that, like a GPU with little memory, fails above a batch size."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sizes: list[int] = []

    def __call__(self, batch_size: int) -> str:
        self.sizes.append(batch_size)
        if batch_size > self.limit:
            raise oom()
        return f"done at {batch_size}"


def test_backoff_halves_until_the_batch_fits() -> None:
    """64 → 32 → 16 → 8: each retry is reported, and the first size that fits returns."""
    run = FitsUpTo(8)
    reports: list[tuple[int, int]] = []
    result = dev.with_oom_backoff(run, 64, on_backoff=lambda old, new: reports.append((old, new)))
    assert result == "done at 8"
    assert run.sizes == [64, 32, 16, 8]
    assert reports == [(64, 32), (32, 16), (16, 8)]


def test_backoff_without_oom_runs_once() -> None:
    """A batch that fits is run exactly once, with no report."""
    run = FitsUpTo(8)
    reports: list[tuple[int, int]] = []
    assert dev.with_oom_backoff(run, 8, on_backoff=lambda *sizes: reports.append(sizes)) == (
        "done at 8"
    )
    assert run.sizes == [8]
    assert reports == []


def test_backoff_recognises_runtime_error_oom() -> None:
    """The plain RuntimeError("CUDA out of memory") of older torch also triggers a retry."""
    sizes: list[int] = []

    def run(batch_size: int) -> int:
        sizes.append(batch_size)
        if batch_size > 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return batch_size

    assert dev.with_oom_backoff(run, 10) == 2
    assert sizes == [10, 5, 2]


def test_backoff_stops_at_min_batch_size_with_a_hint() -> None:
    """When even min_batch_size does not fit, a clear error says what to do; the OOM is chained."""
    run = FitsUpTo(2)
    reports: list[tuple[int, int]] = []
    with pytest.raises(RuntimeError, match=r"even at batch size 4.*RERANK_LAB_DEVICE=cpu") as info:
        dev.with_oom_backoff(
            run, 30, min_batch_size=4, on_backoff=lambda old, new: reports.append((old, new))
        )
    assert run.sizes == [30, 15, 7, 4]  # the last halving is clamped to min_batch_size
    assert reports == [(30, 15), (15, 7), (7, 4)]
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)


def test_backoff_gives_up_at_one_by_default() -> None:
    """With the default min_batch_size of 1 the helper tries down to a single item."""
    run = FitsUpTo(0)
    with pytest.raises(RuntimeError, match="Out of accelerator memory even at batch size 1"):
        dev.with_oom_backoff(run, 8)
    assert run.sizes == [8, 4, 2, 1]


def test_non_oom_errors_propagate_untouched() -> None:
    """A real bug is not retried and reaches the caller as itself."""
    sizes: list[int] = []
    bug = KeyError("text")

    def run(batch_size: int) -> None:
        sizes.append(batch_size)
        raise bug

    with pytest.raises(KeyError) as info:
        dev.with_oom_backoff(run, 64, on_backoff=lambda *sizes: pytest.fail("no back-off"))
    assert info.value is bug
    assert sizes == [64]


def test_non_oom_error_after_a_backoff_propagates() -> None:
    """An error that is not an OOM stops the retries even midway."""

    def run(batch_size: int) -> None:
        if batch_size > 8:
            raise oom()
        raise ValueError(f"bad input at {batch_size}")

    with pytest.raises(ValueError, match="bad input at 8"):
        dev.with_oom_backoff(run, 16)


@pytest.mark.parametrize("batch_size", [0, -4, 2.5, "32", None])
def test_backoff_rejects_bad_batch_sizes(batch_size: object) -> None:
    """The batch size must be a positive int, and the error says so."""
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        dev.with_oom_backoff(lambda size: size, batch_size)  # type: ignore[arg-type]


def test_free_accelerator_memory_is_safe_on_cpu(accelerators: dict[str, bool]) -> None:
    """Freeing memory where there is no accelerator does nothing and does not fail."""
    dev.free_accelerator_memory()
