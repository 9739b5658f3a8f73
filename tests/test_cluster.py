"""The local Ray cluster of notebook 07: it takes the cores it is given, leaves nothing behind."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from rerank_lab.course import cluster


def test_a_local_cluster_runs_an_actor_pool_and_stops_without_a_process_left() -> None:
    import ray

    class Double:  # defined here, so that Ray ships it by value (workers cannot import tests)
        """A callable class as map_batches takes it: state made once per actor, used per batch."""

        def __init__(self) -> None:
            self.factor = 2

        def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"id": batch["id"], "doubled": batch["id"] * self.factor}

    resources = cluster.start_local_cluster(cores=1)
    try:
        assert resources["CPU"] == 1.0
        with pytest.raises(RuntimeError, match="already running"):
            cluster.start_local_cluster(cores=1)
        rows = (
            ray.data.from_items([{"id": i} for i in range(20)])
            .map_batches(Double, batch_size=4, compute=ray.data.ActorPoolStrategy(size=1))
            .take_all()
        )
        assert sorted(row["doubled"] for row in rows) == [2 * i for i in range(20)]
        assert cluster.ray_processes(), "a running cluster has processes"
    finally:
        cluster.stop_local_cluster()
    assert not ray.is_initialized()
    assert cluster.ray_processes() == []


@pytest.mark.parametrize(
    ("cores", "error", "message"),
    [
        (0, ValueError, "between 1 and"),
        (10_000, ValueError, "between 1 and"),
        ("2", TypeError, "whole number"),
        (1.5, TypeError, "whole number"),
        (True, TypeError, "whole number"),
    ],
)
def test_wrong_core_counts_are_refused_before_anything_starts(cores, error, message) -> None:
    with pytest.raises(error, match=message):
        cluster.start_local_cluster(cores=cores)
    assert cluster.ray_processes() == []


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"\[scale\]"):
        cluster.start_local_cluster()


def test_a_process_left_after_shutdown_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    class Stuck:
        def name(self) -> str:
            return "raylet"

    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(cluster, "ray_processes", lambda: [Stuck()])
    with pytest.raises(RuntimeError, match="raylet.*Restart the kernel"):
        cluster.stop_local_cluster(timeout_s=0.2)
