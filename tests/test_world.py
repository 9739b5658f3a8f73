"""Tests of rerank_lab.course.world: forced worlds never touch the network, the probe keeps its
deadline.

Every test runs with the ``fresh_world`` fixture, which forgets the decision before and after,
and restores the HF_*_OFFLINE variables and huggingface_hub's constant that deciding
"offline" writes.
"""

from __future__ import annotations

import http.server
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import huggingface_hub.constants as hub_constants
import pytest

from rerank_lab.course import hub, world

pytestmark = pytest.mark.usefixtures("fresh_world")


@pytest.fixture
def network_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every attempt to reach the network (sockets, DNS, requests, httpx) and the probe.

    Recording (rather than only raising) also catches attempts made in background threads,
    where a raised error would be swallowed.
    """
    calls: list[str] = []

    def blocked(what: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            calls.append(what)
            raise OSError(f"network access attempted in a test: {what}")

        return refuse

    monkeypatch.setattr(socket.socket, "connect", blocked("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", blocked("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", blocked("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", blocked("socket.getaddrinfo"))
    monkeypatch.setattr(urllib.request, "urlopen", blocked("urllib.request.urlopen"))
    monkeypatch.setattr(hub, "hub_answers", blocked("hub.hub_answers"))
    try:
        import requests

        monkeypatch.setattr(requests.Session, "request", blocked("requests"))
    except ImportError:  # pragma: no cover - requests comes with huggingface_hub 0.x
        pass
    try:
        import httpx

        monkeypatch.setattr(httpx.Client, "send", blocked("httpx"))
    except ImportError:  # pragma: no cover - httpx is optional
        pass
    return calls


@pytest.fixture
def local_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A local HTTP server standing in for the Hub; set ``server["status"]`` to its answer."""
    state: dict[str, Any] = {"status": 200, "requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 - the name http.server calls
            state["requests"].append(self.path)
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    for name in ("no_proxy", "NO_PROXY"):  # never send the local request through a proxy
        monkeypatch.setenv(name, "*")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}/")
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hanging_urlopen(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Make the probe's HTTP request hang until the test ends (a network that never answers)."""
    release = threading.Event()

    def hang(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        raise OSError("released at the end of the test")

    monkeypatch.setattr(urllib.request, "urlopen", hang)
    yield release
    release.set()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_forced_offline_never_touches_the_network(
    monkeypatch: pytest.MonkeyPatch, network_calls: list[str], value: str
) -> None:
    """RERANK_LAB_OFFLINE=1 decides offline without a single network attempt."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", value)
    decided = world.current()
    assert decided == world.World("offline", "RERANK_LAB_OFFLINE=1")
    assert not decided.online
    assert network_calls == []


def test_offline_silences_huggingface_hub(
    monkeypatch: pytest.MonkeyPatch, network_calls: list[str]
) -> None:
    """Offline, the HF_*_OFFLINE variables and huggingface_hub's own constant are switched on."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    world.current()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["HF_DATASETS_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert hub_constants.HF_HUB_OFFLINE is True
    assert network_calls == []


@pytest.mark.parametrize("value", ["0", "false", "No", "off"])
def test_forced_online_does_not_probe(
    monkeypatch: pytest.MonkeyPatch, network_calls: list[str], value: str
) -> None:
    """RERANK_LAB_OFFLINE=0 decides online without probing, even over HF_HUB_OFFLINE=1."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    decided = world.current()
    assert decided == world.World("online", "RERANK_LAB_OFFLINE=0")
    assert hub_constants.HF_HUB_OFFLINE is False  # online leaves huggingface_hub alone
    assert network_calls == []


def test_hf_hub_offline_is_respected(
    monkeypatch: pytest.MonkeyPatch, network_calls: list[str]
) -> None:
    """Without RERANK_LAB_OFFLINE, HF_HUB_OFFLINE=1 means offline, again without probing."""
    monkeypatch.delenv("RERANK_LAB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    decided = world.current()
    assert decided == world.World("offline", "HF_HUB_OFFLINE=1")
    assert network_calls == []


def test_unset_flags_ask_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """With neither flag set (or an unrecognised value) the probe decides, and its verdict shows."""
    calls: list[float] = []

    def answers(deadline_s: float = hub.PROBE_DEADLINE_S) -> bool:
        calls.append(deadline_s)
        return len(calls) == 1

    monkeypatch.setattr(hub, "hub_answers", answers)
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "maybe")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert world.current() == world.World("online", "the Hugging Face Hub answered")
    world.reset()
    monkeypatch.delenv("RERANK_LAB_OFFLINE")
    offline = world.current()
    assert offline.name == "offline"
    assert offline.reason == (
        f"the Hugging Face Hub did not answer within {hub.PROBE_DEADLINE_S:g} s"
    )
    assert calls == [hub.PROBE_DEADLINE_S, hub.PROBE_DEADLINE_S]


def test_decision_is_remembered_until_reset(
    monkeypatch: pytest.MonkeyPatch, network_calls: list[str]
) -> None:
    """current() decides once; changing the variable only counts after reset()."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "1")
    first = world.current()
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "0")
    assert world.current() is first
    world.reset()
    assert world.current().online
    assert network_calls == []


def test_world_says_its_reason() -> None:
    """str(World) is what every notebook prints: the world and why."""
    assert str(world.World("offline", "RERANK_LAB_OFFLINE=1")) == "offline (RERANK_LAB_OFFLINE=1)"
    assert world.World("online", "x").online


def test_probe_of_the_real_hub_returns_quickly() -> None:
    """The real probe gives a verdict within its deadline (False on machines without the Hub)."""
    start = time.monotonic()
    verdict = hub.hub_answers()
    assert time.monotonic() - start < 3.0
    assert isinstance(verdict, bool)


def test_probe_of_an_unreachable_endpoint_is_false(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hub that refuses connections means offline, and quickly."""
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    assert hub.hub_answers() is False
    assert time.monotonic() - start < 3.0


def test_hanging_probe_honours_its_deadline(hanging_urlopen: threading.Event) -> None:
    """A request that never returns (e.g. DNS hanging) is cut off at the deadline."""
    start = time.monotonic()
    assert hub.hub_answers(deadline_s=0.2) is False
    assert time.monotonic() - start < 1.5


def test_hanging_probe_decides_offline_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch, hanging_urlopen: threading.Event
) -> None:
    """With no flag set and a Hub that hangs, the world is offline once the deadline passes."""
    monkeypatch.delenv("RERANK_LAB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    decided = world.current()
    assert time.monotonic() - start < hub.PROBE_DEADLINE_S + 2.0
    assert decided.name == "offline"
    assert f"did not answer within {hub.PROBE_DEADLINE_S:g} s" in decided.reason


@pytest.mark.parametrize(("status", "answers"), [(200, True), (404, True), (503, False)])
def test_probe_verdict_follows_the_http_status(
    local_hub: dict[str, Any], status: int, answers: bool
) -> None:
    """Any answer below 500 (a 404 included) means the Hub is reachable; a 5xx does not."""
    local_hub["status"] = status
    assert hub.hub_answers(deadline_s=2.0) is answers
    assert local_hub["requests"] == ["/api/models/sentence-transformers/all-MiniLM-L6-v2"]


def test_answering_hub_decides_online(
    monkeypatch: pytest.MonkeyPatch, local_hub: dict[str, Any]
) -> None:
    """With no flag set and a Hub that answers, the world is online and says why."""
    monkeypatch.delenv("RERANK_LAB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert world.current() == world.World("online", "the Hugging Face Hub answered")


# --- the online world from the local Hugging Face cache ---------------------------------------


def _cache_assets(notebook: str | None, *, stand_in: bool = False, skip: int = 0) -> None:
    """Lay out the notebook's assets (all but the first ``skip``) in $HF_HOME as the Hub cache
    and ``datasets`` do: config and weights files are enough for ``hub.is_cached``."""
    from rerank_lab.course import hub

    for asset in hub.needed(notebook)[skip:]:
        if asset.kind == "dataset":
            folder = hub.dataset_folder(asset) / "default" / "0.0.0" / "abc"
            folder.mkdir(parents=True)
            (folder / "dataset_info.json").write_text("{}")
            marker = hub.dataset_folder(asset) / hub.STANDIN_MARKER
        else:
            repo = hub._hub_cache() / f"models--{asset.id.replace('/', '--')}"
            folder = repo / "snapshots" / ("0" * 40)
            folder.mkdir(parents=True)
            (repo / "refs").mkdir()
            (repo / "refs" / "main").write_text("0" * 40)
            config = "adapter_config.json" if asset.kind == "adapter" else "config.json"
            (folder / config).write_text("{}")
            (folder / "model.safetensors").write_bytes(b"weights")
            marker = folder / hub.STANDIN_MARKER
        if stand_in:
            marker.write_text("{}")


@pytest.mark.parametrize("hub_off", [True, False])
def test_a_complete_local_cache_runs_the_online_world(
    monkeypatch: pytest.MonkeyPatch, hub_off: bool
) -> None:
    """HF_HUB_OFFLINE=1 (or a Hub that does not answer) with every asset of the notebook in
    the local cache: online, from that cache, and the libraries are kept off the network."""
    monkeypatch.delenv("RERANK_LAB_OFFLINE", raising=False)
    if hub_off:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.setattr(hub, "hub_answers", lambda deadline_s=0: False)
    _cache_assets("03")
    decided = world.current("03")
    assert decided.online and not decided.rehearsal
    assert decided.reason.endswith("; from the local Hugging Face cache")
    assert os.environ["HF_HUB_OFFLINE"] == "1" and hub_constants.HF_HUB_OFFLINE is True


def test_stand_ins_in_the_cache_make_a_rehearsal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RERANK_LAB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _cache_assets("02", stand_in=True)
    decided = world.current("02")
    assert decided.online and decided.rehearsal
    assert "rehearsal with same-named stand-ins, not the real models" in str(decided)
    world.reset()
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "0")  # forced online over stand-ins: still said
    assert world.current("02") == world.World("online", "RERANK_LAB_OFFLINE=0", rehearsal=True)


def test_a_partial_cache_names_what_is_missing_then_runs_offline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rerank_lab.course import hub

    monkeypatch.delenv("RERANK_LAB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _cache_assets("03", skip=1)
    first = hub.needed("03")[0]
    decided = world.current("03")
    assert decided.name == "offline"
    assert decided.reason == (
        "HF_HUB_OFFLINE=1; the local Hugging Face cache lacks 1 of notebook 03's assets"
    )
    said = capsys.readouterr().out
    assert f"missing: {first.id}." in said
    assert "`python -m rerank_lab.course.hub prefetch --notebook 03`" in said
    world.reset()
    assert world.current("07").name == "offline"  # 07 needs the same missing bi-encoder
    assert "prefetch --notebook 07" in capsys.readouterr().out


def test_a_cache_for_one_notebook_is_not_enough_for_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RERANK_LAB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _cache_assets("02")
    assert world.current("02").online
    world.reset()
    assert world.current("06").name == "offline"
    world.reset()
    assert world.current().name == "offline"  # the whole course: most of it is missing
