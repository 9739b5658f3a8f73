"""SPECTER2-style paper embeddings with task adapters: pairs, adapters, training, evaluation.

Notebook 05 teaches scientific-document embeddings. Online it uses SPECTER2 itself
(``allenai/specter2_base`` plus its task adapters, through the ``adapters`` library); offline
no SPECTER2 weights ship in a pip package, so the notebook repeats the *same adapter mechanics*
on the course's MiniLM backbone: add a bottleneck adapter, train only it on related-paper
pairs of the PubMed corpus, save, load, activate and switch it, and measure what it changes.
Everything the notebook would otherwise repeat lives here, once:

* **Input format** (:func:`paper_text`): SPECTER feeds a paper as its title, the tokenizer's
  separator, then its abstract, so the model sees where the title ends.
* **Related-paper pairs** (:func:`build_related_papers`): PubMed gives no co-citation graph
  for this corpus, but it gives three weaker signals of "these two papers are related": a
  citation or link between two papers of the file, shared *specific* author keywords and
  shared MeSH major topics (a term is specific when 2 to ``MAX_TERM_DOCUMENTS`` papers carry
  it; "covid-19" on 674 papers relates nothing). Grade 2 (strongly related): a citation, or
  two or more shared specific terms; grade 1: one shared specific term.
* **Held-out papers** never train: papers linked by grade-2 pairs form connected groups, and
  whole groups go either to training or to the held-out evaluation, so no evaluation paper
  (query or answer) was ever seen in a training pair.
* **Adapters** (:func:`add_adapter`, :func:`train_adapter`, :func:`save_adapter`,
  :func:`load_adapter`, :func:`active_adapter`): the ``adapters`` library inside a
  SentenceTransformer (``adapters.init`` on its transformer), trained with
  sentence-transformers' own ``SentenceTransformerTrainer`` and
  ``MultipleNegativesRankingLoss``: no hand-written adapter layer or training loop.
* **A cached course adapter** (:func:`course_adapter`): trained once per scale into the cache,
  written atomically with a card, validated on load (a corrupt one is trained again).
* **Evaluation** (:func:`embed_papers`, :func:`evaluate_related`): related-paper retrieval on
  the held-out pairs, nDCG@10 with the course's ``metrics.evaluate``. Embeddings are cached
  per active adapter setup, since switching an adapter off changes the output but no weight.
* **SPECTER2 online** (:func:`load_specter2`, :func:`specter2_embed`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rerank_lab.course import artefacts
from rerank_lab.course.files import checksum, write_atomically
from rerank_lab.course.pubmed import folded
from rerank_lab.course.quiet import quiet_libraries
from rerank_lab.course.settings import Scale, cache_dir
from rerank_lab.course.settings import scale as current_scale

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

__all__ = [
    "ADAPTER_NAME",
    "INPUTS",
    "RECIPES",
    "RECORD",
    "SIZES",
    "SPECTER2_ADAPTERS",
    "SPECTER2_BASE",
    "AdapterRecipe",
    "RelatedPapers",
    "active_adapter",
    "adapter_problem",
    "adapter_size",
    "add_adapter",
    "build_related_papers",
    "comparisons",
    "course_adapter",
    "embed_papers",
    "evaluate_related",
    "load_adapter",
    "load_specter2",
    "main",
    "measure",
    "paper_text",
    "paper_texts",
    "parameter_counts",
    "quiet_inactive_warning",
    "recipe_for",
    "record_results",
    "relatedness",
    "save_adapter",
    "set_active",
    "specter2_embed",
    "train_adapter",
]

#: The SPECTER2 base model and its task adapters on the Hub (online world).
SPECTER2_BASE = "allenai/specter2_base"
SPECTER2_ADAPTERS = {
    "proximity": "allenai/specter2",  # paper to paper: related-paper search, recommendations
    "adhoc_query": "allenai/specter2_adhoc_query",  # short query to paper: search
}

#: Name of the course's offline proximity adapter.
ADAPTER_NAME = "pubmed_proximity"

#: A term (keyword or MeSH major topic) carried by more papers than this relates nothing.
MAX_TERM_DOCUMENTS = 20

#: Seed of the train/held-out split and of every sample drawn here.
SEED = 2026

#: Share of the strongly related papers (by group) held out for evaluation.
HELD_OUT_SHARE = 0.3

#: Titles of PubMed records that are notices about other papers, not papers: their links are
#: errata and retractions, not relatedness.
NOTICE = re.compile(
    r"^\W*(erratum|corrigendum|correction|retraction|retracted|expression of concern)", re.I
)

Fields = Literal["title", "title+abstract"]


# --------------------------------------------------------------------------------------------
# Input format
# --------------------------------------------------------------------------------------------


def paper_text(title: str, abstract: str | None, sep: str) -> str:
    """One paper as SPECTER reads it: ``title + sep + abstract`` (abstract may be missing).

    The separator is the tokenizer's own (``tokenizer.sep_token``, "[SEP]" for BERT-style
    models), so the model sees the title end exactly as it saw it in training. Neither part is
    padded with spaces: the tokenizer splits "[SEP]" off by itself.
    """
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}.")
    if abstract is not None and not isinstance(abstract, str):
        raise TypeError(f"abstract must be a str or None, got {type(abstract).__name__}.")
    if not isinstance(sep, str) or not sep:
        raise ValueError("sep must be the tokenizer's separator token, e.g. tokenizer.sep_token.")
    return title.strip() + sep + (abstract or "").strip()


def paper_texts(papers: pd.DataFrame, sep: str, fields: Fields = "title+abstract") -> list[str]:
    """The input text of every paper of a table with ``title`` and ``abstract`` columns.

    ``fields="title"`` gives the title alone, the input a title-only index would have: the
    comparison of both inputs is one of notebook 05's measurements.
    """
    missing = {"title", "abstract"} - set(papers.columns)
    if missing:
        raise KeyError(f"papers needs the columns title and abstract; missing {sorted(missing)}.")
    if fields == "title":
        return [str(title).strip() for title in papers["title"]]
    if fields != "title+abstract":
        raise ValueError(f"fields must be 'title' or 'title+abstract', not {fields!r}.")
    return [
        paper_text(str(title), abstract, sep)
        for title, abstract in zip(papers["title"], papers["abstract"], strict=True)
    ]


# --------------------------------------------------------------------------------------------
# Related-paper pairs
# --------------------------------------------------------------------------------------------

#: Sizes per scale: training pairs (None: all), held-out query papers (None: all), and papers
#: that relate to none of the evaluation papers, added to the evaluation corpus as distractors.
SIZES: dict[str, dict[str, int | None]] = {
    "small": {"train_pairs": 96, "queries": 40, "distractors": 160},
    "full": {"train_pairs": None, "queries": None, "distractors": 2000},
}


@dataclass(frozen=True)
class RelatedPapers:
    """Related-paper pairs of the PubMed corpus, split so that evaluation papers never train.

    ``papers``: every paper used (pmid index; title, abstract, the specific terms it carries).
    ``pairs``: every related pair among them (columns ``a``, ``b``, ``grade``, ``kind``:
    "citation" or "shared terms", ``shared``: the terms in common), ``a < b``.
    ``train_pairs``: grade-2 pairs among training papers only. ``corpus``: the pmids of the
    evaluation corpus (held-out papers and distractors). ``queries``: the held-out papers used as
    queries (each has a grade-2 partner in the corpus). ``qrels``: query → {related pmid: grade}
    within the corpus, the query itself excluded.
    """

    papers: pd.DataFrame
    pairs: pd.DataFrame
    train_pairs: pd.DataFrame
    corpus: list[str]
    queries: list[str]
    qrels: dict[str, dict[str, int]]
    scale: str

    def describe(self) -> str:
        """A few lines of counts, for a notebook to print."""
        kinds = self.pairs.groupby(["kind", "grade"]).size()
        train_papers = set(self.train_pairs["a"]) | set(self.train_pairs["b"])
        lines = [
            f"{len(self.pairs):,} related pairs among {len(self.papers):,} papers "
            + "("
            + ", ".join(f"{kind} grade {grade}: {n:,}" for (kind, grade), n in kinds.items())
            + ")",
            f"training: {len(self.train_pairs):,} grade-2 pairs of {len(train_papers):,} papers",
            f"held out: {len(self.queries):,} query papers, a corpus of {len(self.corpus):,} "
            f"papers, {sum(len(g) for g in self.qrels.values()):,} judged related papers",
        ]
        return "\n".join(lines)


def _terms(keywords: Sequence[str], mesh_major: Sequence[str]) -> set[str]:
    return {folded(k) for k in keywords if k.strip()} | {
        f"mesh: {folded(m)}" for m in mesh_major if m.strip()
    }


def _related_pairs(documents: pd.DataFrame) -> pd.DataFrame:
    """Every related pair of the table (row positions ``a < b``) with grade, kind and terms."""
    import pandas as pd

    terms = [
        _terms(keywords, mesh)
        for keywords, mesh in zip(documents["keywords"], documents["mesh_major"], strict=True)
    ]
    frequency = Counter(term for carried in terms for term in carried)
    carriers: dict[str, list[int]] = defaultdict(list)
    for row, carried in enumerate(terms):
        for term in sorted(carried):
            if 2 <= frequency[term] <= MAX_TERM_DOCUMENTS:
                carriers[term].append(row)
    shared: dict[tuple[int, int], list[str]] = defaultdict(list)
    for term, rows in carriers.items():
        for a, b in itertools.combinations(rows, 2):
            shared[(a, b)].append(term)

    row_of = {pmid: row for row, pmid in enumerate(documents["pmid"])}
    notice = [bool(NOTICE.match(title)) for title in documents["title"]]
    cited: set[tuple[int, int]] = set()
    for row, references in enumerate(documents["references"]):
        for reference in references:
            other = row_of.get(reference)
            if other is not None and other != row and not (notice[row] or notice[other]):
                cited.add((min(row, other), max(row, other)))

    records = []
    for pair in sorted(set(shared) | cited):
        terms_in_common = sorted(shared.get(pair, []))
        strong = pair in cited or len(terms_in_common) >= 2
        kind = "citation" if pair in cited else "shared terms"
        records.append((pair[0], pair[1], 2 if strong else 1, kind, terms_in_common))
    return pd.DataFrame.from_records(records, columns=["a", "b", "grade", "kind", "shared"])


def _groups(pairs: pd.DataFrame) -> list[list[int]]:
    """Connected groups of papers linked by the given pairs (union-find), each sorted."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(pairs["a"], pairs["b"], strict=True):
        parent[root(a)] = root(b)
    members: dict[int, list[int]] = defaultdict(list)
    for x in list(parent):
        members[root(x)].append(x)
    return sorted((sorted(group) for group in members.values()), key=lambda g: g[0])


def build_related_papers(
    documents: pd.DataFrame | None = None, scale: Scale | None = None, *, seed: int = SEED
) -> RelatedPapers:
    """Related-paper pairs from the PubMed corpus and a leak-free train/held-out split.

    ``documents`` defaults to ``pubmed.load_documents()`` (tests pass tiny tables with the
    columns pmid, title, abstract, keywords, mesh_major, references). Groups of strongly
    related papers are shuffled with ``seed``; whole groups are held out until
    ``HELD_OUT_SHARE`` of those papers are, the rest train. Distractors are papers with no
    related pair at all, so they neither train nor answer a query.
    """

    if documents is None:
        from rerank_lab.course import pubmed

        documents = pubmed.load_documents()
    needed = {"pmid", "title", "abstract", "keywords", "mesh_major", "references"}
    missing = needed - set(documents.columns)
    if missing:
        raise KeyError(
            f"documents lacks the columns {sorted(missing)} (see pubmed.load_documents)."
        )
    chosen_scale = scale or current_scale()
    if chosen_scale not in SIZES:
        raise ValueError(f"scale must be one of {sorted(SIZES)}, not {chosen_scale!r}.")
    sizes = SIZES[chosen_scale]
    documents = documents.reset_index(drop=True)
    pairs = _related_pairs(documents)
    strong = pairs[pairs["grade"] == 2]
    if strong.empty:
        raise ValueError("no strongly related pairs in these documents: nothing to train on.")

    rng = np.random.default_rng(seed)
    groups = _groups(strong)
    order = rng.permutation(len(groups))
    target = HELD_OUT_SHARE * sum(len(group) for group in groups)
    held_out: set[int] = set()
    for index in order:
        if len(held_out) >= target:
            break
        held_out.update(groups[index])
    training = {x for group in groups for x in group} - held_out

    in_train = strong["a"].isin(training) & strong["b"].isin(training)
    train_pairs = strong[in_train]
    if sizes["train_pairs"] is not None and len(train_pairs) > sizes["train_pairs"]:
        keep = rng.choice(len(train_pairs), size=sizes["train_pairs"], replace=False)
        train_pairs = train_pairs.iloc[np.sort(keep)]

    # Queries: held-out papers with a grade-2 partner; their partners are in the corpus anyway.
    held_strong = strong[strong["a"].isin(held_out) & strong["b"].isin(held_out)]
    query_rows = sorted(set(held_strong["a"]) | set(held_strong["b"]))
    if sizes["queries"] is not None and len(query_rows) > sizes["queries"]:
        query_rows = sorted(rng.choice(query_rows, size=sizes["queries"], replace=False).tolist())
    corpus_rows = set(query_rows)
    for a, b in zip(held_strong["a"], held_strong["b"], strict=True):
        if a in corpus_rows or b in corpus_rows:
            corpus_rows.update((a, b))
    related_anywhere = set(pairs["a"]) | set(pairs["b"])
    loners = np.array(sorted(set(range(len(documents))) - related_anywhere), dtype=np.int64)
    n_distractors = min(int(sizes["distractors"] or 0), len(loners))
    corpus_rows.update(rng.choice(loners, size=n_distractors, replace=False).tolist())

    pmids = documents["pmid"].astype(str).tolist()
    qrels: dict[str, dict[str, int]] = {pmids[row]: {} for row in query_rows}
    queries = set(query_rows)
    for a, b, grade in zip(pairs["a"], pairs["b"], pairs["grade"], strict=True):
        if a in corpus_rows and b in corpus_rows:
            for query, other in ((a, b), (b, a)):
                if query in queries:
                    qrels[pmids[query]][pmids[other]] = int(grade)

    used = sorted(set(pairs["a"]) | set(pairs["b"]) | corpus_rows)
    papers = documents.loc[used, ["pmid", "title", "abstract"]].copy()
    papers["pmid"] = papers["pmid"].astype(str)
    papers = papers.set_index("pmid")

    def named(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["a"] = [pmids[row] for row in frame["a"]]
        frame["b"] = [pmids[row] for row in frame["b"]]
        return frame.reset_index(drop=True)

    return RelatedPapers(
        papers=papers,
        pairs=named(pairs),
        train_pairs=named(train_pairs),
        corpus=[pmids[row] for row in sorted(corpus_rows)],
        queries=[pmids[row] for row in query_rows],
        qrels=qrels,
        scale=chosen_scale,
    )


def _pairs_fingerprint(data: RelatedPapers, sep: str) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for a, b in zip(data.train_pairs["a"], data.train_pairs["b"], strict=True):
        digest.update(f"{a}\t{b}\n".encode())
    digest.update(sep.encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Adapters inside a SentenceTransformer
# --------------------------------------------------------------------------------------------


def _transformer(model: SentenceTransformer) -> Any:
    """The Hugging Face model inside a SentenceTransformer, with adapter support switched on."""
    try:
        import adapters
    except ImportError as error:
        raise ImportError(
            "Notebook 05 needs the `adapters` library: pip install -e '.[adapters]' (or "
            "`pip install adapters`), then restart the kernel."
        ) from error
    try:
        inner = model[0].auto_model
    except (TypeError, IndexError, AttributeError) as error:
        raise TypeError(
            "expected a SentenceTransformer whose first module is a Transformer, got "
            f"{type(model).__name__}."
        ) from error
    if not hasattr(inner, "add_adapter") or not hasattr(inner, "adapters_config"):
        adapters.init(inner)  # in place: the same weights, now able to hold adapters
    quiet_inactive_warning()
    return inner


class _DropInactiveWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "none are activated" not in record.getMessage()


def quiet_inactive_warning() -> None:
    """Drop the warning ``adapters`` logs on *every* forward pass with all adapters off.

    Running the base model alone while an adapter is loaded is deliberate here (the
    comparison), and one warning per batch would bury the notebook's output.
    """
    logger = logging.getLogger("adapters.model_mixin")
    if not any(isinstance(f, _DropInactiveWarning) for f in logger.filters):
        logger.addFilter(_DropInactiveWarning())


def add_adapter(
    model: SentenceTransformer, name: str = ADAPTER_NAME, config: str = "seq_bn"
) -> int:
    """Add a fresh bottleneck adapter to ``model`` and prepare to train only it.

    ``config="seq_bn"`` is the sequential bottleneck of Pfeiffer et al. (a down-projection, a
    non-linearity and an up-projection after each layer's feed-forward block, with a residual
    connection). ``train_adapter`` freezes every base weight and activates the adapter, so an
    optimiser sees only the adapter's weights. Returns the number of trainable parameters.
    """
    inner = _transformer(model)
    if name in inner.adapters_config:
        raise ValueError(
            f"the model already has an adapter named {name!r}; pick another name or load a "
            "fresh model."
        )
    inner.add_adapter(name, config=config)
    inner.train_adapter(name)
    return parameter_counts(model)[0]


def parameter_counts(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters: what an optimiser updates vs what the model holds."""
    parameters = list(model.parameters())
    return (
        sum(p.numel() for p in parameters if p.requires_grad),
        sum(p.numel() for p in parameters),
    )


def active_adapter(model: SentenceTransformer) -> str:
    """The adapter setup the model runs ("none", or e.g. "Stack[pubmed_proximity]")."""
    if not _has_adapters(model):
        return "none"
    setup = model[0].auto_model.active_adapters
    return "none" if setup is None else str(setup)


def set_active(model: SentenceTransformer, name: str | None) -> None:
    """Switch the adapter ``name`` on (None: run the base model alone)."""
    inner = _transformer(model)
    if name is not None and name not in inner.adapters_config:
        raise KeyError(f"no adapter {name!r} in this model; it has {list(inner.adapters_config)}.")
    inner.set_active_adapters(name)


def save_adapter(model: SentenceTransformer, folder: Path | str, name: str = ADAPTER_NAME) -> Path:
    """Save only the adapter ``name`` (its config and weights) into ``folder``."""
    inner = _transformer(model)
    if name not in inner.adapters_config:
        raise KeyError(f"no adapter {name!r} in this model; it has {list(inner.adapters_config)}.")
    folder = Path(folder)
    inner.save_adapter(str(folder), name, use_safetensors=True)
    return folder


def load_adapter(
    model: SentenceTransformer,
    folder: Path | str,
    name: str = ADAPTER_NAME,
    *,
    set_active: bool = True,
) -> str:
    """Load a saved adapter into ``model`` as ``name`` (and activate it): the base is untouched."""
    folder = Path(folder)
    if not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no saved adapter (no adapter_config.json).")
    inner = _transformer(model)
    return inner.load_adapter(
        str(folder), load_as=name, set_active=set_active, use_safetensors=True
    )


def adapter_size(folder: Path | str) -> int:
    """Bytes on disk of a saved adapter (or any folder): what sharing it costs."""
    folder = Path(folder)
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


#: Training pairs of the live recipe (see ``RECIPES``).
LIVE_PAIRS = 320


@dataclass(frozen=True)
class AdapterRecipe:
    """How the course trains its proximity adapter (one recipe, two scales)."""

    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    max_seq_length: int = 256
    seed: int = SEED
    max_pairs: int | None = None
    """Train on a seeded sample of this many pairs (None: all the training pairs)."""

    def label(self, scale: str) -> str:
        """The part of the cache folder's name that tells this recipe's adapters apart."""
        return scale if self.max_pairs is None else f"{scale}-{self.max_pairs}pairs"


#: Adapters learn fast with a high learning rate: their weights start near zero and are few.
#: The small scale (tests, CI) reads 128 tokens per paper so that it trains in about a minute.
#: ``live`` is notebook 05's default at the full scale: the full recipe on a sample of the pairs,
#: minutes on a laptop CPU; the full run (all pairs) is an opt-in, its results a record.
RECIPES = {
    "small": AdapterRecipe(max_seq_length=128),
    "live": AdapterRecipe(max_pairs=LIVE_PAIRS),
    "full": AdapterRecipe(),
}


def recipe_for(scale: str, *, full_run: bool = False) -> AdapterRecipe:
    """Notebook 05's recipe: ``small`` at the small scale; at the full scale ``live`` by default,
    ``full`` when the learner opts into the full run."""
    if scale == "small":
        return RECIPES["small"]
    return RECIPES["full" if full_run else "live"]


def train_adapter(
    model: SentenceTransformer,
    pairs: Sequence[tuple[str, str]],
    name: str = ADAPTER_NAME,
    recipe: AdapterRecipe | None = None,
    *,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Train the adapter ``name`` on (paper, related paper) texts; the base weights stay frozen.

    ``SentenceTransformerTrainer`` with ``MultipleNegativesRankingLoss``: each paper must find
    its related paper among the batch's other papers (in-batch negatives), and batches hold no
    paper twice (a duplicate would be a false negative). Returns a summary (steps, seconds,
    final loss, trainable parameters).
    """
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    try:  # sentence-transformers >= 5.7 moved these; older 5.x only has the old paths
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
        from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    except ImportError:  # pragma: no cover - depends on the installed version
        from sentence_transformers.losses import MultipleNegativesRankingLoss
        from sentence_transformers.training_args import BatchSamplers

    recipe = recipe or AdapterRecipe()
    pairs = [(str(a), str(b)) for a, b in pairs]
    if len(pairs) < 2:
        raise ValueError(
            "train_adapter needs at least 2 pairs (the other pairs are the negatives)."
        )
    inner = _transformer(model)
    if name not in inner.adapters_config:
        raise KeyError(f"no adapter {name!r}: call add_adapter(model, {name!r}) first.")
    inner.train_adapter(name)
    trainable, total = parameter_counts(model)
    old_length = model.max_seq_length
    model.max_seq_length = recipe.max_seq_length
    dataset = Dataset.from_dict(
        {"anchor": [a for a, _ in pairs], "positive": [b for _, b in pairs]}
    )
    with tempfile.TemporaryDirectory(prefix="rerank-lab-adapter-") as scratch:
        arguments = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=recipe.epochs,
            per_device_train_batch_size=recipe.batch_size,
            learning_rate=recipe.learning_rate,
            warmup_ratio=recipe.warmup_ratio,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            logging_steps=max(1, len(pairs) // recipe.batch_size // 4),
            report_to="none",
            seed=recipe.seed,
            disable_tqdm=not show_progress,
            use_cpu=not torch.cuda.is_available(),
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=arguments,
            train_dataset=dataset,
            loss=MultipleNegativesRankingLoss(model),
        )
        started = time.perf_counter()
        try:
            with quiet_libraries():
                result = trainer.train()
        finally:
            model.max_seq_length = old_length
        seconds = time.perf_counter() - started
    model.eval()
    return {
        "pairs": len(pairs),
        "steps": int(result.global_step),
        "seconds": round(seconds, 1),
        "final_loss": round(float(result.training_loss), 4),
        "trainable_parameters": trainable,
        "total_parameters": total,
        "recipe": recipe.__dict__,
        "threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------------------------
# The course adapter, cached
# --------------------------------------------------------------------------------------------

CARD = "training.json"
ADAPTER_FORMAT = 1


#: What loading a saved adapter depends on: the adapters library and the transformers beneath it.
ADAPTER_LOADING = ("adapters", "transformers")


def _adapter_folder(label: str) -> Path:
    # Keyed per library line: the full-scale adapter takes most of an hour on two CPU cores, so
    # switching between two lines keeps one copy for each instead of retraining at each switch.
    line = artefacts.line(ADAPTER_LOADING)
    return cache_dir() / "adapters" / f"{ADAPTER_NAME}-{label}-{line}"


def adapter_problem(folder: Path, key: dict[str, Any] | None = None) -> str | None:
    """Why a cached adapter folder cannot be used (None when it can): missing or changed
    files, a card from another recipe, data or backbone (``key``) or another library line."""
    return artefacts.folder_problem(
        folder, card=CARD, key=key, loading=ADAPTER_LOADING, checksummed=True
    )


def course_adapter(
    model: SentenceTransformer,
    data: RelatedPapers,
    *,
    recipe: AdapterRecipe | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """The course's proximity adapter for ``data``: trained once into the cache, then reused.

    Adds the adapter to ``model`` and trains it on ``data.train_pairs`` (title + separator +
    abstract), unless the cache already holds one trained with the same recipe, pairs and
    backbone. The folder is written beside its final place and renamed into it, card last,
    so an interrupted run never leaves a folder that looks complete; a folder whose files no
    longer match the card's checksums, or that does not load, is trained again. Returns the
    folder and its card; the adapter is loaded into ``model`` (and active) either way.
    """
    from rerank_lab.course.embedding_cache import model_fingerprint

    recipe = recipe or RECIPES.get(data.scale, AdapterRecipe())
    sep = model.tokenizer.sep_token or "[SEP]"
    inner = model[0].auto_model
    if hasattr(inner, "adapters_config") and len(inner.adapters_config.adapters):
        raise ValueError("course_adapter needs the base model without adapters (load a fresh one).")
    key = {
        "format": ADAPTER_FORMAT,
        "backbone": model_fingerprint(model),
        "pairs": _pairs_fingerprint(data, sep),
        "recipe": recipe.__dict__,
    }
    folder = _adapter_folder(recipe.label(data.scale))
    problem = adapter_problem(folder, key)
    if problem is None and not force:
        try:
            load_adapter(model, folder)
            return folder, json.loads((folder / CARD).read_text(encoding="utf-8"))
        except Exception as error:  # noqa: BLE001 - any failure means: do not trust it
            loaded = _transformer(model)
            if ADAPTER_NAME in loaded.adapters_config:  # half loaded: make room to train
                loaded.delete_adapter(ADAPTER_NAME)
            artefacts.set_aside(folder, error, "adapter")
    elif folder.exists() and problem is not None:
        print(f"Training the adapter again: the cached one cannot be used ({problem}).")

    texts = {pmid: paper_text(row.title, row.abstract, sep) for pmid, row in data.papers.iterrows()}
    chosen = data.train_pairs
    if recipe.max_pairs is not None and recipe.max_pairs < len(chosen):
        chosen = chosen.sample(n=recipe.max_pairs, random_state=recipe.seed).sort_index()
    pairs = [(texts[a], texts[b]) for a, b in zip(chosen["a"], chosen["b"], strict=True)]
    add_adapter(model, ADAPTER_NAME)
    summary = train_adapter(model, pairs, ADAPTER_NAME, recipe, show_progress=show_progress)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.building-"))
    try:
        save_adapter(model, staging, ADAPTER_NAME)
        files = {path.name: checksum(path) for path in sorted(staging.iterdir()) if path.is_file()}
        versions = artefacts.versions(ADAPTER_LOADING)
        card = {"key": key, "files": files, "scale": data.scale, "versions": versions, **summary}
        payload = json.dumps(card, indent=2).encode()
        write_atomically(staging / CARD, lambda handle: handle.write(payload))
        os.chmod(staging, 0o755)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder, card


# --------------------------------------------------------------------------------------------
# Encoding and evaluation
# --------------------------------------------------------------------------------------------


def embed_papers(
    model: SentenceTransformer,
    texts: Sequence[str],
    *,
    show_progress: bool = True,
    batch_size: int = 32,
) -> np.ndarray:
    """Unit-length embeddings of ``texts``, cached per weights *and* active adapter setup.

    ``encode.encode`` keys its cache by the model's weights; switching an adapter off changes
    the output but no weight, so each adapter setup gets a cache folder of its own.
    """
    from rerank_lab.course.embedding_cache import EmbeddingCache
    from rerank_lab.encode import encode

    setup = (
        re.sub(r"[^A-Za-z0-9_.-]+", "_", active_adapter(model)) if _has_adapters(model) else "base"
    )
    store = EmbeddingCache(cache_dir() / "adapter-embeddings" / setup)
    return encode(
        model, list(texts), cache=store, show_progress=show_progress, batch_size=batch_size
    )


def _has_adapters(model: SentenceTransformer) -> bool:
    try:
        return hasattr(model[0].auto_model, "adapters_config")
    except (TypeError, IndexError, AttributeError):
        return False


def evaluate_related(
    embeddings: np.ndarray, data: RelatedPapers, *, ks: Sequence[int] = (10,)
) -> pd.DataFrame:
    """Per-query metrics of related-paper search over ``data.corpus`` (rows of ``embeddings``).

    Each query paper searches the corpus by cosine similarity, itself excluded (a paper is
    trivially most similar to itself), and is judged by ``data.qrels``. One row per query,
    ``metrics.evaluate``'s columns.
    """
    from rerank_lab.metrics import evaluate

    matrix = np.asarray(embeddings, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(data.corpus):
        raise ValueError(
            f"embeddings must have one row per corpus paper ({len(data.corpus)}), got shape "
            f"{matrix.shape}."
        )
    matrix = matrix / np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)
    position = {pmid: row for row, pmid in enumerate(data.corpus)}
    depth = min(max(ks) + 1, len(data.corpus))
    run = {}
    for query in data.queries:
        scores = matrix @ matrix[position[query]]
        scores[position[query]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:depth]
        run[query] = [data.corpus[row] for row in top if row != position[query]][: max(ks)]
    return evaluate(run, data.qrels, ks=tuple(ks))


# --------------------------------------------------------------------------------------------
# SPECTER2 (online world)
# --------------------------------------------------------------------------------------------


def load_specter2(tasks: Sequence[str] = ("proximity", "adhoc_query")) -> tuple[Any, Any]:
    """``allenai/specter2_base`` with the task adapters ``tasks`` loaded (the first active).

    One base model, several adapters of about 1% of its size each: the base is downloaded
    once and each task adds only its adapter. Needs the Hub (online world).
    """
    from adapters import AutoAdapterModel
    from transformers import AutoTokenizer

    from rerank_lab.device import pick_device

    unknown = [task for task in tasks if task not in SPECTER2_ADAPTERS]
    if unknown or not tasks:
        raise ValueError(f"tasks must be among {sorted(SPECTER2_ADAPTERS)}, got {list(tasks)}.")
    tokenizer = AutoTokenizer.from_pretrained(SPECTER2_BASE)
    model = AutoAdapterModel.from_pretrained(SPECTER2_BASE)
    for number, task in enumerate(tasks):
        model.load_adapter(SPECTER2_ADAPTERS[task], load_as=task, set_active=number == 0)
    model.to(pick_device())
    model.eval()
    return model, tokenizer


def specter2_embed(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    task: str,
    *,
    batch_size: int = 8,
    max_length: int = 512,
) -> np.ndarray:
    """SPECTER2 embeddings of ``texts`` with the adapter ``task`` active: the [CLS] vector.

    Papers go in as :func:`paper_text`; queries (task "adhoc_query") as plain text.
    """
    import torch

    if isinstance(texts, str):
        raise TypeError("specter2_embed takes a list of texts; wrap one text as [text].")
    model.set_active_adapters(task)
    device = next(model.parameters()).device
    vectors = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
                return_token_type_ids=False,
            ).to(device)
            output = model(**batch)
            vectors.append(output.last_hidden_state[:, 0, :].float().cpu().numpy())
    return np.concatenate(vectors)


def relatedness(data: RelatedPapers, a: str, b: str) -> Mapping[str, Any] | None:
    """The pair record of papers ``a`` and ``b`` (grade, kind, shared terms), or None."""
    pairs = data.pairs
    found = pairs[((pairs["a"] == a) & (pairs["b"] == b)) | ((pairs["a"] == b) & (pairs["b"] == a))]
    return None if found.empty else found.iloc[0].to_dict()


# --------------------------------------------------------------------------------------------
# The measurement of notebook 05, and its command line
# --------------------------------------------------------------------------------------------

#: Input variants measured: the title alone, and SPECTER's title + separator + abstract.
INPUTS: tuple[Fields, ...] = ("title", "title+abstract")


def measure(
    model: SentenceTransformer,
    data: RelatedPapers,
    name: str = ADAPTER_NAME,
    *,
    show_progress: bool = True,
) -> pd.DataFrame:
    """nDCG@10 of every held-out query, without and with the adapter ``name``, per input.

    Columns: a MultiIndex (adapter: "none" or ``name``; input: "title" or "title+abstract");
    one row per query paper. The adapter is left active afterwards. ``.mean().unstack()`` is
    the 2×2 table of notebook 05.
    """
    import pandas as pd

    sep = model.tokenizer.sep_token or "[SEP]"
    corpus = data.papers.loc[data.corpus]
    columns = {}
    for setup in (None, name):
        set_active(model, setup)
        for fields in INPUTS:
            texts = paper_texts(corpus, sep, fields)
            embeddings = embed_papers(model, texts, show_progress=show_progress)
            scores = evaluate_related(embeddings, data)["ndcg@10"]
            columns[(setup or "none", fields)] = scores
    set_active(model, name)
    frame = pd.DataFrame(columns)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["adapter", "input"])
    return frame


#: The committed full-scale measurement that notebook 05 shows (``rerank_lab.course.records``).
RECORD = "specter_adapter_full"


def comparisons(per_query: pd.DataFrame, name: str = ADAPTER_NAME) -> dict[str, list[float]]:
    """The three differences notebook 05 reads off :func:`measure`'s table, each the mean over
    query papers with its 95% paired-bootstrap interval: [mean, low, high]."""
    from rerank_lab.metrics import paired_bootstrap

    def gain(before: tuple[str, str], after: tuple[str, str]) -> list[float]:
        found = paired_bootstrap(per_query[before], per_query[after])
        return [round(found[key], 4) for key in ("mean", "ci_low", "ci_high")]

    return {
        "adapter vs none, title+abstract": gain(
            ("none", "title+abstract"), (name, "title+abstract")
        ),
        "adapter vs none, title": gain(("none", "title"), (name, "title")),
        "title+abstract vs title, no adapter": gain(("none", "title"), ("none", "title+abstract")),
    }


def record_results(
    data: RelatedPapers, folder: Path, card: dict[str, Any], per_query: pd.DataFrame
) -> dict[str, Any]:
    """What notebook 05 shows of a trained adapter and its measurement, small enough to commit."""
    table = per_query.mean().unstack()
    return {
        "pairs": card["pairs"],
        "steps": card["steps"],
        "train minutes": round(card["seconds"] / 60, 1),
        "final loss": card["final_loss"],
        "trainable parameters": card["trainable_parameters"],
        "total parameters": card["total_parameters"],
        "adapter KiB": round(adapter_size(folder) / 1024),
        "query papers": len(per_query),
        "papers searched": len(data.corpus),
        "ndcg@10": {
            adapter: {fields: round(float(table.loc[adapter, fields]), 4) for fields in INPUTS}
            for adapter in table.index
        },
        "differences": comparisons(per_query),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m rerank_lab.course.specter [--scale small|full] [--force] [--record FILE]``: train
    (or reuse) the course adapter with the scale's full recipe and print notebook 05's table;
    ``--record`` also writes the record the notebook shows."""
    import argparse

    from rerank_lab import models
    from rerank_lab.course import records

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--scale", choices=sorted(SIZES), default=None)
    parser.add_argument("--force", action="store_true", help="train again even if cached")
    parser.add_argument("--record", type=Path, help="write the results as a record here")
    options = parser.parse_args(argv)
    data = build_related_papers(scale=options.scale)
    print(data.describe(), flush=True)
    model = models.load_bi_encoder("bi-encoder-symmetric", fast=False)
    recipe = recipe_for(data.scale, full_run=True)
    folder, card = course_adapter(model, data, recipe=recipe, force=options.force)
    per_query = measure(model, data)
    results = record_results(data, folder, card, per_query)
    print(
        f"adapter {folder.name}: {card['trainable_parameters']:,} trainable of "
        f"{card['total_parameters']:,} parameters, {results['adapter KiB']} KiB on disk, "
        f"trained {card['steps']} steps in {card['seconds']:.0f} s on {card['pairs']} pairs"
    )
    print(f"nDCG@10 over {len(per_query)} held-out query papers:")
    print(per_query.mean().unstack().round(4).to_string())
    for label, (mean, low, high) in results["differences"].items():
        print(f"{label}: {mean:+.3f} [{low:+.3f}, {high:+.3f}]")
    if options.record:
        command = (
            f"python -m rerank_lab.course.specter --scale {data.scale} --record {options.record}"
        )
        records.write_record(
            options.record,
            command,
            results,
            packages=("adapters", "sentence-transformers", "transformers", "torch"),
        )
        print(f"record written to {options.record}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
