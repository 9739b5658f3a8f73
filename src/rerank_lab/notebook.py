"""The set-up every notebook runs first: seeds, versions, world, device and scale, said out loud.

A learner comparing their numbers with the course's (or a teacher debugging a classroom
machine) needs to know exactly what ran: which world, which device, which versions. One call
prints all of it, so no notebook repeats the boilerplate.
"""

from __future__ import annotations

import platform
import random
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from rerank_lab.course import world
from rerank_lab.course.settings import Scale, cache_dir, scale, shown_path
from rerank_lab.device import describe_device, pick_device
from rerank_lab.exercises.language import set_language

__all__ = ["REPORTED_PACKAGES", "Setup", "seed_everything", "setup"]

REPORTED_PACKAGES = ("rerank-lab", "torch", "sentence-transformers", "transformers", "datasets")


@dataclass(frozen=True)
class Setup:
    """What a notebook runs with; notebooks branch on ``world`` and size their work by ``scale``."""

    world: world.World
    device: str
    scale: Scale
    seed: int

    @property
    def online(self) -> bool:
        return self.world.online


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that sampled examples and training runs repeat."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(
    seed: int = 42,
    *,
    notebook: str | None = None,
    device: str | None = None,
    language: str = "en",
) -> Setup:
    """Seed everything, decide world, device and scale, and print a report of them.

    ``notebook`` ("01" ... "07") tells the world what the notebook needs from the Hub, so that
    a local Hugging Face cache holding just that is enough for the online world. ``language``
    is the language of the exercises' questions and hints (the Chinese notebooks pass "zh").
    """
    set_language(language)
    seed_everything(seed)
    chosen = Setup(
        world=world.current(notebook), device=pick_device(device), scale=scale(), seed=seed
    )
    versions = ", ".join(f"{name} {_version(name)}" for name in REPORTED_PACKAGES)
    print(f"Python {platform.python_version()}; {versions}")
    print(f"world:  {chosen.world}")
    print(f"device: {describe_device(chosen.device)}")
    print(f"scale:  {chosen.scale} (set RERANK_LAB_SCALE=small or full to change)")
    print(f"cache:  {shown_path(cache_dir())}")
    return chosen
