"""A local Ray cluster that a notebook starts, uses and stops, with no process left behind.

Notebook 07 runs Ray Data (the ``scale`` extra) on a cluster of one machine: the same code runs
on a real cluster, where only ``ray.init``'s ``address`` changes. Three things make a local
cluster fit a notebook and a test run, and they are what this module adds to ``ray.init``:
it takes only the cores it is given, Ray Data's console output is cut to its progress and
its one-line summaries (the rest still goes to the session's log files), and stopping it
waits until every process it started is gone, and says so if one is not.
"""

from __future__ import annotations

import logging
import os
import time

__all__ = ["ray_processes", "start_local_cluster", "stop_local_cluster"]

_SHOWN_LOGGERS = (
    "ray.data._internal.progress",  # Ray Data's own progress (logged, in a notebook)
    "ray.data._internal.execution.streaming_executor",  # "Dataset ... finished in N seconds"
    "ray.data.dataset",  # "Data sink Parquet finished. N rows ... written."
)


_KNOWN_NOISE = (
    "Progress bars for operators disabled",  # our own choice, below
    # An actor pool that holds every core of a small machine (notebook 07 explains it): the job
    # does not hang, since the pool frees its cores when its input ends.
    "Warning: The Ray cluster currently does not have any available CPUs",
)


class _ProgressAndSummaries(logging.Filter):
    """Lets warnings through, and of the information only Ray Data's progress and summaries."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(_KNOWN_NOISE):
            return False
        return record.levelno >= logging.WARNING or record.name.startswith(_SHOWN_LOGGERS)


def _require_ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "Ray is not installed: it comes with the course's `scale` extra. Install it with "
            "`pip install -e '.[scale]'` (make setup does), or `pip install 'ray[data]'`."
        ) from error
    return ray


def start_local_cluster(cores: int | None = None) -> dict[str, float]:
    """Start Ray on this machine with ``cores`` CPUs (default: all) and return its resources.

    Ray schedules by the CPUs it is told about, not by the machine's: ``cores`` caps what
    its tasks and actors may ask for, and each actor's torch threads follow its share (Ray
    sets ``OMP_NUM_THREADS`` to the CPUs an actor asks for). The dashboard is not started,
    worker output stays in the session's log files, and Ray Data shows only its progress.
    """
    ray = _require_ray()
    available = os.cpu_count() or 1
    if cores is not None and (isinstance(cores, bool) or not isinstance(cores, int)):
        raise TypeError(f"cores must be a whole number, not {type(cores).__name__}.")
    if cores is not None and not 1 <= cores <= available:
        raise ValueError(f"cores must be between 1 and this machine's {available}, not {cores}.")
    if ray.is_initialized():
        raise RuntimeError(
            "Ray is already running in this Python process: stop it first with "
            "rl.course.cluster.stop_local_cluster() (or ray.shutdown())."
        )
    # Ray's C++ core logs notes meant for its developers on this process's stderr (one per
    # actor pool: "constructor arguments in the object store"); errors still raise in Python.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    ray.init(
        num_cpus=cores or available,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    context = ray.data.DataContext.get_current()
    context.enable_operator_progress_bars = False  # the dataset's progress, not each step's
    context.print_on_execution_start = False
    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.addFilter(_ProgressAndSummaries())
    return {name: value for name, value in ray.cluster_resources().items() if "node" not in name}


def ray_processes() -> list:
    """The processes that Ray started below this Python process (empty when it is stopped)."""
    import psutil

    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "ray" in " ".join(process.cmdline()) or process.name().startswith("ray::"):
                found.append(process)
        except psutil.NoSuchProcess:  # ended while we looked: not left behind
            continue
    return found


def stop_local_cluster(timeout_s: float = 30.0) -> None:
    """Stop Ray and wait until its processes are gone; raise if any is left after ``timeout_s``."""
    ray = _require_ray()
    ray.shutdown()
    deadline = time.monotonic() + timeout_s
    while (left := ray_processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        names = ", ".join(sorted({process.name() for process in left}))
        raise RuntimeError(
            f"{len(left)} Ray process(es) still run {timeout_s:.0f} s after ray.shutdown(): "
            f"{names}. Restart the kernel to end them."
        )
