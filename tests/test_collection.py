"""The judged collection: families, splits, held-out sentences, no leaks into training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rerank_lab.course import collection as col

TOPICS = ["heart", "sleep", "diet", "lungs", "bones", "skin", "eyes", "teeth"]


def _documents(n: int = 240) -> pd.DataFrame:
    """Synthetic abstracts with the columns of pubmed.load_documents()."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        conclusion = (
            f"Patients treated for {topic} problems number {i} improved clearly after the new "
            "care pathway was introduced in all of the study hospitals."
        )
        sections = [
            {"label": "BACKGROUND", "category": "BACKGROUND", "text": f"We studied {topic} {i}."},
            {"label": "METHODS", "category": "METHODS", "text": "We ran a trial. We measured it."},
            {"label": "CONCLUSIONS", "category": "CONCLUSIONS", "text": conclusion + " More work."},
        ]
        keywords = [f"{topic} care", f"{topic} care in children"] if i % 3 else [f"rare {i}"]
        rows.append(
            {
                "pmid": str(1000 + i),
                "title": f"A study of {topic} outcomes in a cohort of adults number {i}",
                "abstract": " ".join(s["text"] for s in sections),
                "sections": sections,
                "keywords": keywords + ([f"extra {rng.integers(3)}"] if i % 2 else []),
                "mesh": [],
                "mesh_major": [],
                "journal": "J",
                "year": 2021,
                "doi": "",
                "references": [],
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def questions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "pubmed_questions"
    folder.mkdir()
    lines = [
        {
            "id": f"Q{i:03d}",
            "text": f"how is {TOPICS[i % 8]} doing?",
            "relevant": {str(1000 + i): 2},
        }
        for i in range(20)
    ]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    monkeypatch.setattr(col, "data_dir", lambda: tmp_path)
    monkeypatch.setattr(col, "GENERATED_PER_FAMILY", 40)
    monkeypatch.setattr(col, "SPLIT_SIZES", {"test": 10, "dev": 5})
    monkeypatch.setattr(col, "KEYWORD_DOCUMENT_FREQUENCY", (2, 40))
    return folder / "questions.jsonl"


def test_families_and_splits(questions: Path) -> None:
    built = col.build_collection(_documents())
    counts = built.queries.groupby(["family", "split"]).size()
    assert set(built.queries["family"]) == set(col.FAMILIES)
    assert counts["title", "test"] == 10 and counts["title", "dev"] == 5
    assert counts["question", "test"] == 8 and counts["question", "dev"] == 3  # 40% and 15% of 20
    assert built.queries["id"].is_unique
    assert set(built.qrels) == set(built.queries["id"])


def test_same_collection_every_time(questions: Path) -> None:
    first = col.build_collection(_documents())
    second = col.build_collection(_documents())
    pd.testing.assert_frame_equal(first.queries, second.queries)
    assert first.qrels == second.qrels


def test_conclusion_sentence_is_held_out_of_the_corpus(questions: Path) -> None:
    built = col.build_collection(_documents())
    abstracts = built.documents.set_index("pmid")["abstract"]
    conclusions = built.select(family="conclusion")
    assert len(conclusions) > 0
    for row in conclusions.itertuples():
        (pmid,) = built.qrels[row.id]
        assert row.text not in abstracts[pmid]
        assert "More work." in abstracts[pmid]  # the rest of the conclusion stays
        assert all(row.text not in chunk for chunk in built.chunks["chunk"])


def test_keyword_grades(questions: Path) -> None:
    built = col.build_collection(_documents())
    documents = built.documents.set_index("pmid")
    for row in built.select(family="keyword").itertuples():
        for pmid, grade in built.qrels[row.id].items():
            keywords = [k.lower() for k in documents.loc[pmid, "keywords"]]
            if grade == 2:
                assert row.text.lower() in keywords
            else:
                assert any(row.text.lower() in k and row.text.lower() != k for k in keywords)


def test_no_training_query_touches_a_held_out_document(questions: Path) -> None:
    built = col.build_collection(_documents())
    protected = built.protected_documents()
    assert protected
    for query_id in built.select("train")["id"]:
        assert not protected & set(built.qrels[query_id])


def test_small_scale_keeps_every_relevant_document(
    questions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(col, "SMALL_DOCUMENTS", 60)
    monkeypatch.setattr(col, "SMALL_QUERIES", {"test": 3, "dev": 2, "train": 4})
    built = col.build_collection(_documents(), "small")
    pmids = set(built.documents["pmid"])
    assert len(pmids) >= 60 or pmids >= {p for r in built.qrels.values() for p in r}
    assert all(set(relevant) <= pmids for relevant in built.qrels.values())
    counts = built.queries.groupby(["family", "split"]).size()
    assert counts.max() <= 4 and counts["title", "test"] == 3


def test_judged_split_is_ready_for_search_and_evaluate(questions: Path) -> None:
    built = col.build_collection(_documents())
    judged = built.judged("test", "title")
    assert list(judged.passages.columns) == ["id", "doc", "title", "text"]
    assert len(judged.doc_ids) == len(built.chunks)
    assert set(judged.qrels) == set(judged.queries["id"])


def test_unknown_split_or_family_is_a_clear_error(questions: Path) -> None:
    built = col.build_collection(_documents())
    with pytest.raises(ValueError, match="Unknown split"):
        built.select("validation")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown family"):
        built.select("test", "abstract")  # type: ignore[arg-type]


def test_questions_judging_unknown_documents_are_rejected(questions: Path) -> None:
    questions.write_text(json.dumps({"id": "Q1", "text": "x?", "relevant": {"999999": 2}}))
    with pytest.raises(ValueError, match="not in the corpus"):
        col.build_collection(_documents())


def test_missing_questions_file_says_how_to_restore_it(questions: Path) -> None:
    questions.unlink()
    with pytest.raises(FileNotFoundError, match="restore it with git"):
        col.build_collection(_documents())
