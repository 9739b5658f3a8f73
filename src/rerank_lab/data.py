"""The course's data: small judged sets shipped in ``data/`` and the corpora built from them.

Every loader returns plain pandas/dict structures that ``rerank_lab.metrics.evaluate`` and the
search helpers take directly: a passages table with an ``id`` and a ``text`` column, a queries
table, and qrels as ``{query id: {doc id: grade}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rerank_lab.course.settings import data_dir

__all__ = ["JudgedSet", "load_mini"]


@dataclass(frozen=True)
class JudgedSet:
    """A corpus with judged queries: what a retrieval experiment needs, in one object.

    ``passages`` has ``id`` and ``text`` columns, and a ``doc`` column when the passages are
    chunks of judged documents; ``qrels`` maps query ids to ``{judged id: grade}``.
    """

    name: str
    passages: pd.DataFrame
    queries: pd.DataFrame
    qrels: dict[str, dict[str, int]]

    @property
    def doc_ids(self) -> list:
        """The judged id of each passage: its ``doc`` when passages are chunks, else its ``id``."""
        column = "doc" if "doc" in self.passages.columns else "id"
        return self.passages[column].tolist()

    def __repr__(self) -> str:
        return (
            f"JudgedSet({self.name!r}: {len(self.passages)} passages, {len(self.queries)} queries, "
            f"{sum(len(v) for v in self.qrels.values())} judgements)"
        )


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: it ships with the course; restore it with git."
        )
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number} is not valid JSON ({error.msg}).") from error
    return rows


def load_mini() -> JudgedSet:
    """The hand-written set of ``data/mini``: 60 short passages on 10 topics, 24 judged queries.

    Small enough to read in full, which is what the first notebook needs to make semantic search
    and metrics@k concrete. Grades: 2 answers the query, 1 is related and useful.
    """
    folder = data_dir() / "mini"
    passages = pd.DataFrame(_read_jsonl(folder / "passages.jsonl"))
    query_rows = _read_jsonl(folder / "queries.jsonl")
    queries = pd.DataFrame([{"id": row["id"], "text": row["text"]} for row in query_rows])
    qrels = {
        row["id"]: {doc: int(grade) for doc, grade in row["relevant"].items()} for row in query_rows
    }
    known = set(passages["id"])
    unknown = sorted({doc for judged in qrels.values() for doc in judged} - known)
    if unknown:
        raise ValueError(f"data/mini/queries.jsonl judges passages that do not exist: {unknown}.")
    return JudgedSet("mini", passages, queries, qrels)
