"""Online or offline: which world this process runs in, decided once and said out loud.

Online (Colab, a laptop with internet) the course uses the Hugging Face Hub models and data of
its sources. Offline (CI, air-gapped classrooms) it uses models and data that pip packages ship
or that the course builds itself. The choice is made once per process:

1. ``RERANK_LAB_OFFLINE=1`` forces offline, ``RERANK_LAB_OFFLINE=0`` forces online;
2. otherwise, unless ``HF_HUB_OFFLINE=1``, the Hub is asked once, with a hard deadline
   (:data:`rerank_lab.course.hub.PROBE_DEADLINE_S`, DNS included, so a machine without network
   never hangs for a minute on timeouts); an answer means online;
3. without the Hub (``HF_HUB_OFFLINE=1`` or no answer), the online world still runs **from the
   local Hugging Face cache** when it holds every asset the notebook needs (a classroom's copy
   made by ``python -m rerank_lab.course.hub prefetch``; CI's same-named stand-ins, reported as a
   rehearsal). A cache holding only some of them is named, with the command that fetches the
   rest, and the offline world runs.

Without the Hub, ``HF_HUB_OFFLINE`` is switched on for this process too, so that no library
behind the course tries the network and waits on its own retries.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Literal

from rerank_lab.course import hub
from rerank_lab.course.hub import PROBE_DEADLINE_S

WorldName = Literal["online", "offline"]


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class World:
    """The decided world and why it was chosen (shown to learners in every notebook)."""

    name: WorldName
    reason: str
    rehearsal: bool = False
    """Online from same-named stand-ins (CI): the code paths are the online ones, the numbers
    are not the real models'."""

    @property
    def online(self) -> bool:
        return self.name == "online"

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


_current: World | None = None
_lock = threading.Lock()


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def _decide(notebook: str | None) -> World:
    forced = _env_flag("RERANK_LAB_OFFLINE")
    if forced is True:
        return World("offline", "RERANK_LAB_OFFLINE=1")
    if forced is False:
        return World("online", "RERANK_LAB_OFFLINE=0", rehearsal=_stand_ins(notebook))
    if _env_flag("HF_HUB_OFFLINE"):
        why = "HF_HUB_OFFLINE=1"
    elif hub.hub_answers():
        return World("online", "the Hugging Face Hub answered")
    else:
        why = f"the Hugging Face Hub did not answer within {PROBE_DEADLINE_S:g} s"
    return _from_local_cache(notebook, why)


def _stand_ins(notebook: str | None) -> bool:
    """Whether any asset the notebook needs is one of the rehearsal's stand-ins."""
    return any(hub.is_standin(asset) for asset in hub.needed(notebook))


def _from_local_cache(notebook: str | None, why: str) -> World:
    """Online from the local Hugging Face cache when it holds what the notebook needs."""
    needed, lacking = hub.needed(notebook), hub.missing(notebook)
    if needed and not lacking:
        _silence_hub()  # the Hub is off or silent: libraries must read the cache, not retry
        if _stand_ins(notebook):
            return World(
                "online",
                f"{why}; from the local Hugging Face cache: a rehearsal with same-named "
                "stand-ins, not the real models",
                rehearsal=True,
            )
        return World("online", f"{why}; from the local Hugging Face cache")
    if len(lacking) < len(needed):
        which = f"notebook {notebook}" if notebook else "the course"
        option = f" --notebook {notebook}" if notebook else ""
        print(
            f"The local Hugging Face cache holds {len(needed) - len(lacking)} of the "
            f"{len(needed)} online assets {which} needs; missing: "
            f"{', '.join(asset.id for asset in lacking)}. Fetch them where the Hub answers "
            f"with `python -m rerank_lab.course.hub prefetch{option}` and copy that HF_HOME here."
        )
        why += f"; the local Hugging Face cache lacks {len(lacking)} of {which}'s assets"
    return World("offline", why)


def _silence_hub() -> None:
    """Keep huggingface_hub, transformers and datasets from trying the network offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # already imported: it read the variable at import time
        constants.HF_HUB_OFFLINE = True


def current(notebook: str | None = None) -> World:
    """The world of this process, decided on first call and then remembered.

    ``notebook`` ("01" ... "07") narrows the local-cache check to what that notebook needs
    (all the course's assets when None); only the first call's counts.
    """
    global _current
    with _lock:
        if _current is None:
            _current = _decide(notebook)
            if not _current.online:
                _silence_hub()
        return _current


def reset() -> None:
    """Forget the decision (tests, or a learner who just changed ``RERANK_LAB_OFFLINE``)."""
    global _current
    with _lock:
        _current = None
