"""Online or offline: which world this process runs in, decided once and said out loud.

Online (Colab, a laptop with internet) the course uses the Hugging Face Hub models and data of
its sources. Offline (CI, air-gapped classrooms) it uses models and data that pip packages ship
or that the course builds itself. The choice is made once per process:

1. ``RERANK_LAB_OFFLINE=1`` forces offline, ``RERANK_LAB_OFFLINE=0`` forces online;
2. otherwise ``HF_HUB_OFFLINE=1`` means offline;
3. otherwise the Hub is asked once, with a hard deadline of about a second (DNS included, so a
   machine without network never hangs for a minute on timeouts).

Offline, ``HF_HUB_OFFLINE`` is switched on for this process too, so that no library behind the
course tries the network and waits on its own retries.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal

WorldName = Literal["online", "offline"]

#: Seconds the Hub has to answer before the course decides it is offline.
PROBE_DEADLINE_S = 1.0

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class World:
    """The decided world and why it was chosen (shown to learners in every notebook)."""

    name: WorldName
    reason: str

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


def hub_answers(deadline_s: float = PROBE_DEADLINE_S) -> bool:
    """True when the Hugging Face Hub answers an HTTP request within ``deadline_s`` seconds.

    The request runs in a daemon thread so the deadline also bounds DNS look-ups, which socket
    time-outs do not cover.
    """
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/models/sentence-transformers/all-MiniLM-L6-v2"
    answered = threading.Event()

    def probe() -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=deadline_s) as response:
                if response.status < 500:
                    answered.set()
        except urllib.error.HTTPError as error:  # urllib raises on 4xx: the Hub still answered
            if error.code < 500:
                answered.set()
        except Exception:  # noqa: BLE001 - any failure simply means "not online"
            pass

    thread = threading.Thread(target=probe, name="rerank-lab-hub-probe", daemon=True)
    thread.start()
    thread.join(deadline_s)
    return answered.is_set()


def _decide() -> World:
    forced = _env_flag("RERANK_LAB_OFFLINE")
    if forced is True:
        return World("offline", "RERANK_LAB_OFFLINE=1")
    if forced is False:
        return World("online", "RERANK_LAB_OFFLINE=0")
    if _env_flag("HF_HUB_OFFLINE"):
        return World("offline", "HF_HUB_OFFLINE=1")
    if hub_answers():
        return World("online", "the Hugging Face Hub answered")
    return World("offline", f"the Hugging Face Hub did not answer within {PROBE_DEADLINE_S:g} s")


def _silence_hub() -> None:
    """Keep huggingface_hub, transformers and datasets from trying the network offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # already imported: it read the variable at import time
        constants.HF_HUB_OFFLINE = True


def current() -> World:
    """The world of this process, decided on first call and then remembered."""
    global _current
    with _lock:
        if _current is None:
            _current = _decide()
            if not _current.online:
                _silence_hub()
        return _current


def reset() -> None:
    """Forget the decision (tests, or a learner who just changed ``RERANK_LAB_OFFLINE``)."""
    global _current
    with _lock:
        _current = None


def is_online() -> bool:
    return current().online
