"""The offline test collection: the PubMed corpus, four families of judged queries, and splits.

Re-ranking is only worth teaching on queries that leave the first stage room to improve, and
only worth measuring on queries the reranker never trained on. So the collection has four
*families*, reported separately because they behave differently (the leaderboard shows it):

* ``title`` (known item): a paper's title finds its own abstract. BM25 and the bi-encoder both
  score near 1.0; a sanity check with no headroom.
* ``conclusion``: the first sentence of a structured abstract's conclusion finds the rest of
  that abstract. The sentence is *held out*: it is removed from the corpus copy of the
  abstract, otherwise it would find itself word for word.
* ``keyword``: an author keyword finds the abstracts whose authors chose it (grade 2) or a
  longer keyword containing it (grade 1, e.g. "sepsis" in "neonatal sepsis").
* ``question``: natural questions in lay words, written for the course with judged abstracts
  (``data/pubmed_questions/``): the family where paraphrase matters most.

Each family is split into train/dev/test with a fixed seed. Nothing relevant to a dev or test
query may be used for training: :meth:`Collection.protected_documents` names those abstracts,
train queries that would touch them are dropped, and the trainer excludes them from every
training pair (as positives and as negatives).

Scales: ``full`` is the whole corpus (18,440 abstracts, about 41,700 chunks) with every query;
``small`` keeps the first queries of each split and family and a fixed 1,000-abstract corpus
that contains all their relevant abstracts, so tests and CI run in seconds on the same code.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from rerank_lab.course import pubmed
from rerank_lab.course.settings import Scale, cache_dir, data_dir
from rerank_lab.course.settings import scale as current_scale
from rerank_lab.data import JudgedSet

if TYPE_CHECKING:
    import datasets

__all__ = [
    "FAMILIES",
    "SPLITS",
    "Collection",
    "build_collection",
    "load_collection",
]

Family = Literal["title", "conclusion", "keyword", "question"]
Split = Literal["train", "dev", "test"]
FAMILIES: tuple[Family, ...] = ("title", "conclusion", "keyword", "question")
SPLITS: tuple[Split, ...] = ("train", "dev", "test")

SEED = 2026
"""One seed for every random choice of the collection: the same queries and splits everywhere."""

GENERATED_PER_FAMILY = 300
"""Queries drawn for each generated family (title, conclusion, keyword)."""

SPLIT_SIZES = {"test": 60, "dev": 40}
"""Test and dev queries per generated family; the rest of the family is training data."""

QUESTION_SPLIT_SHARES = {"test": 0.4, "dev": 0.15}
"""Shares of the written questions held out: most of them, as they are few and precious."""

SMALL_QUERIES = {"test": 10, "dev": 6, "train": 20}
"""Queries per family and split kept at the small scale."""

SMALL_DOCUMENTS = 1000
"""Corpus size at the small scale: every relevant abstract plus a fixed sample of others."""

KEYWORD_DOCUMENT_FREQUENCY = (3, 20)
"""Abstracts carrying a query keyword: fewer makes a known item, more a vague topic."""

QUESTIONS_FILE = Path("pubmed_questions") / "questions.jsonl"


@dataclass(frozen=True)
class Collection:
    """The corpus, its judged queries and their splits, at one scale.

    ``documents`` has one row per PMID (conclusion queries' sentences removed), ``chunks`` is
    what systems rank (``doc_id`` "<pmid>#<n>", ``id`` the PMID, ``chunk`` the text),
    ``queries`` has columns id, family, split, text, and ``qrels`` judges *documents* (PMIDs):
    rank chunks, then let each document count once, at the rank of its best chunk
    (``rerank_lab.search.hits_to_run`` does that).
    """

    scale: Scale
    documents: pd.DataFrame
    chunks: datasets.Dataset
    queries: pd.DataFrame
    qrels: dict[str, dict[str, int]]

    def select(self, split: Split | None = None, family: Family | None = None) -> pd.DataFrame:
        """The queries of one split and/or family (all of them when both are None)."""
        if split is not None and split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; use one of {SPLITS}.")
        if family is not None and family not in FAMILIES:
            raise ValueError(f"Unknown family {family!r}; use one of {FAMILIES}.")
        chosen = self.queries
        if split is not None:
            chosen = chosen[chosen["split"] == split]
        if family is not None:
            chosen = chosen[chosen["family"] == family]
        return chosen.reset_index(drop=True)

    def judged(self, split: Split, family: Family | None = None) -> JudgedSet:
        """One split (optionally one family) as a JudgedSet whose passages are the chunks."""
        queries = self.select(split, family)
        passages = pd.DataFrame(
            {
                "id": self.chunks["doc_id"],
                "doc": self.chunks["id"],
                "title": self.chunks["title"],
                "text": self.chunks["chunk"],
            }
        )
        name = f"pubmed-{self.scale}-{split}" + (f"-{family}" if family else "")
        qrels = {query_id: self.qrels[query_id] for query_id in queries["id"]}
        return JudgedSet(name, passages, queries[["id", "family", "text"]], qrels)

    def protected_documents(self) -> set[str]:
        """PMIDs relevant to any dev or test query: never to be seen in training."""
        held_out = self.queries[self.queries["split"] != "train"]["id"]
        return {pmid for query_id in held_out for pmid in self.qrels[query_id]}

    def __repr__(self) -> str:
        counts = self.queries.groupby(["split", "family"]).size().unstack(fill_value=0)
        return (
            f"Collection({self.scale}: {len(self.documents):,} abstracts, "
            f"{len(self.chunks):,} chunks, {len(self.queries)} queries)\n{counts}"
        )


# --------------------------------------------------------------------------------------------
# The query families
# --------------------------------------------------------------------------------------------


def _title_queries(documents: pd.DataFrame, rng: np.random.Generator, taken: set[str]) -> list:
    words = documents["title"].str.split().str.len()
    candidates = documents[(words >= 6) & (words <= 30) & ~documents["pmid"].isin(taken)]
    chosen = candidates.iloc[rng.permutation(len(candidates))[:GENERATED_PER_FAMILY]]
    taken.update(chosen["pmid"])
    return [
        {"family": "title", "text": row.title, "relevant": {row.pmid: 1}}
        for row in chosen.itertuples()
    ]


def _conclusion_queries(
    documents: pd.DataFrame, rng: np.random.Generator, taken: set[str]
) -> tuple[list, dict[str, list[dict]]]:
    """Conclusion-sentence queries, and the sections of their abstracts without that sentence."""
    candidates = []
    for row in documents.itertuples():
        if row.pmid in taken:
            continue
        for index, section in enumerate(row.sections):
            if pubmed.conclusion([section]):
                sentences = pubmed.split_sentences(section["text"])
                others = sum(
                    len(pubmed.split_sentences(s["text"]))
                    for i, s in enumerate(row.sections)
                    if i != index
                )
                if 12 <= len(sentences[0].split()) <= 45 and others + len(sentences) - 1 >= 3:
                    candidates.append((row.pmid, index, sentences))
                break
    queries, held_out = [], {}
    for position in rng.permutation(len(candidates))[:GENERATED_PER_FAMILY]:
        pmid, index, sentences = candidates[position]
        sections = [dict(s) for s in documents.loc[pmid, "sections"]]
        rest = " ".join(sentences[1:])
        if rest:
            sections[index]["text"] = rest
        else:
            del sections[index]
        held_out[pmid] = sections
        taken.add(pmid)
        queries.append({"family": "conclusion", "text": sentences[0], "relevant": {pmid: 1}})
    return queries, held_out


def _normalise_keyword(keyword: str) -> str:
    return " ".join(keyword.lower().split())


def _keyword_queries(documents: pd.DataFrame, rng: np.random.Generator) -> list:
    spellings: dict[str, Counter] = {}
    carriers: dict[str, set[str]] = {}
    for row in documents.itertuples():
        for keyword in row.keywords:
            key = _normalise_keyword(keyword)
            spellings.setdefault(key, Counter())[keyword.strip()] += 1
            carriers.setdefault(key, set()).add(row.pmid)
    low, high = KEYWORD_DOCUMENT_FREQUENCY
    usable = sorted(
        key
        for key, pmids in carriers.items()
        if low <= len(pmids) <= high and len(key) >= 4 and re.search("[a-z]", key)
    )
    queries = []
    for position in rng.permutation(len(usable))[:GENERATED_PER_FAMILY]:
        key = usable[position]
        pattern = re.compile(rf"(?<![\w-]){re.escape(key)}(?![\w-])")
        relevant = {pmid: 2 for pmid in carriers[key]}
        for longer, pmids in carriers.items():
            if longer != key and pattern.search(longer):
                for pmid in pmids:
                    relevant.setdefault(pmid, 1)
        text = spellings[key].most_common(1)[0][0]
        queries.append(
            {"family": "keyword", "text": text, "relevant": dict(sorted(relevant.items()))}
        )
    return queries


def _question_queries(known: set[str]) -> list:
    path = data_dir() / QUESTIONS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: it ships with the course; restore it with git."
        )
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        relevant = {str(pmid): int(grade) for pmid, grade in row["relevant"].items()}
        unknown = sorted(set(relevant) - known)
        if unknown:
            raise ValueError(f"{path}:{number} judges PMIDs not in the corpus: {unknown}.")
        queries.append({"family": "question", "text": row["text"], "relevant": relevant})
    return queries


def _assign_splits(queries: list, rng: np.random.Generator, family: str) -> None:
    order = rng.permutation(len(queries))
    if family == "question":
        sizes = {name: round(share * len(queries)) for name, share in QUESTION_SPLIT_SHARES.items()}
    else:
        sizes = SPLIT_SIZES
    test, dev = sizes["test"], sizes["dev"]
    for rank, position in enumerate(order):
        queries[position]["split"] = (
            "test" if rank < test else "dev" if rank < test + dev else "train"
        )


# --------------------------------------------------------------------------------------------
# Building and loading
# --------------------------------------------------------------------------------------------


def build_collection(documents: pd.DataFrame, scale: Scale = "full") -> Collection:
    """Draw the query families from ``documents``, split them, and cut the corpus to ``scale``.

    Deterministic: the same documents and questions give the same collection on every machine.
    Train queries that share a relevant abstract with any dev or test query are dropped, so no
    held-out judgement leaks into training.
    """
    documents = documents.set_index("pmid", drop=False).sort_index()
    rng = np.random.default_rng(SEED)
    taken: set[str] = set()
    families = {"title": _title_queries(documents, rng, taken)}
    families["conclusion"], held_out = _conclusion_queries(documents, rng, taken)
    families["keyword"] = _keyword_queries(documents, rng)
    families["question"] = _question_queries(set(documents.index))
    for family, queries in families.items():
        _assign_splits(queries, np.random.default_rng([SEED, FAMILIES.index(family)]), family)

    rows = [dict(query, family=family) for family in FAMILIES for query in families[family]]
    protected = {pmid for row in rows if row["split"] != "train" for pmid in row["relevant"]}
    rows = [row for row in rows if row["split"] != "train" or not protected & set(row["relevant"])]
    if scale == "small":
        rows = _small_queries(rows)

    counters: Counter = Counter()
    for row in rows:
        prefix = row["family"][0].upper()
        counters[prefix] += 1
        row["id"] = f"{prefix}{counters[prefix]:03d}-{row['split']}"
    corpus = documents.copy()
    corpus["sections"] = [
        held_out.get(pmid, sections) for pmid, sections in corpus["sections"].items()
    ]
    corpus["abstract"] = [" ".join(s["text"] for s in sections) for sections in corpus["sections"]]
    if scale == "small":
        corpus = _small_corpus(corpus, rows)
    queries = pd.DataFrame([{k: row[k] for k in ("id", "family", "split", "text")} for row in rows])
    qrels = {row["id"]: row["relevant"] for row in rows}
    corpus = corpus.reset_index(drop=True)
    return Collection(scale, corpus, pubmed.chunk_documents(corpus), queries, qrels)


def _small_queries(rows: list) -> list:
    kept, seen = [], Counter()
    for row in rows:
        key = (row["family"], row["split"])
        if seen[key] < SMALL_QUERIES[row["split"]]:
            seen[key] += 1
            kept.append(row)
    return kept


def _small_corpus(corpus: pd.DataFrame, rows: list) -> pd.DataFrame:
    needed = sorted({pmid for row in rows for pmid in row["relevant"]})
    others = corpus.index.difference(needed)
    rng = np.random.default_rng([SEED, 99])
    extra = max(SMALL_DOCUMENTS - len(needed), 0)
    sample = others[np.sort(rng.permutation(len(others))[:extra])]
    return corpus.loc[sorted([*needed, *sample])]


@functools.lru_cache(maxsize=4)
def _cached(scale: Scale, documents_key: tuple, questions_mtime: float) -> Collection:
    return build_collection(pubmed.load_documents(), scale)


def load_collection(scale: Scale | None = None) -> Collection:
    """The collection at ``scale`` (the run's scale by default), built once per process.

    Needs the parsed corpus (``make data`` fetches it once; see ``rerank_lab.course.pubmed``).
    """
    chosen = scale or current_scale()
    questions = data_dir() / QUESTIONS_FILE
    mtime = questions.stat().st_mtime if questions.is_file() else 0.0
    return _cached(chosen, (str(cache_dir()),), mtime)
