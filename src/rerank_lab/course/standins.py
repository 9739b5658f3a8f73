"""Same-named stand-ins for the online world's assets: a rehearsal cache for CI.

``python -m rerank_lab.course.standins DIR`` writes ``DIR`` as a Hugging Face home (``hub/`` and
``datasets/``) holding every asset of :data:`rerank_lab.course.hub.ASSETS` under its real id, with
the real repository's shape (architecture class, number of labels, activation, tokenizer class,
adapter files, dataset columns, splits and score scales) and content that ships offline:
all-MiniLM-L6-v2's real weights for the MiniLM bi-encoders, the course's release reranker for
the MS MARCO cross-encoder, tiny random models of the real class where nothing ships, PubMed
chunks for the arXiv set and the Lee pairs for STS-B. With ``HF_HOME=DIR`` and
``HF_HUB_OFFLINE=1`` the online branches of every notebook then run; the world report calls it
a rehearsal, and every stand-in carries a card saying what it is, so no number computed with
one passes for the real model's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rerank_lab.course.hub import ASSETS, STANDIN_MARKER, Asset, has_adapters
from rerank_lab.course.offline_models import packaged_minilm

__all__ = ["ARXIV_DOCUMENTS", "ARXIV_ROWS", "build", "save_tiny_bert"]

#: PubMed documents chunked for the arXiv stand-in: about 6,800 distinct chunks.
ARXIV_DOCUMENTS = 3_000

#: Rows of the real ``jamescalam/ai-arxiv-chunked``: the stand-in repeats its chunks up to this
#: many, so that notebook 03's row ids (the sources' chunk ids, such as 17387) exist in it too.
ARXIV_ROWS = 41_584

#: The arXiv set's columns; the PubMed chunks lack the arXiv-only ones (filled with "").
ARXIV_COLUMNS = (
    "doi", "chunk-id", "chunk", "id", "title", "summary", "source", "authors", "categories",
    "comment", "journal_ref", "primary_category", "published", "updated", "references",
)  # fmt: skip

#: Tiny random transformers: a few layers of width 32, enough to exercise every code path.
_TINY = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}


def _revision(asset: Asset) -> str:
    """A fixed 40-hex revision per id, as a Hub commit would be."""
    return hashlib.sha1(f"rerank-lab stand-in {asset.id}".encode()).hexdigest()


def _card(asset: Asset) -> str:
    return (
        f"# Stand-in for `{asset.id}`\n\n"
        f"This is **not** `{asset.id}`. It is a same-named stand-in written by "
        "`python -m rerank_lab.course.standins` so that the course's online code runs without the "
        "Hugging Face Hub (a rehearsal, in CI).\n\n"
        f"- holds: {asset.standin}\n- keeps the real one's shape: {asset.shape}\n\n"
        f"No number computed with it says anything about `{asset.id}` itself.\n"
    )


def _mark(folder: Path, asset: Asset) -> None:
    (folder / "README.md").write_text(_card(asset), encoding="utf-8")
    marker = {"id": asset.id, "standin": asset.standin, "shape": asset.shape}
    (folder / STANDIN_MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")


def _publish_model(root: Path, asset: Asset, write: Callable[[Path], None]) -> Path:
    """Lay ``write``'s folder out as the Hub cache does: refs/main names a snapshot folder."""
    repo = root / "hub" / f"models--{asset.id.replace('/', '--')}"
    revision = _revision(asset)
    snapshot = repo / "snapshots" / revision
    shutil.rmtree(repo, ignore_errors=True)
    snapshot.mkdir(parents=True)
    write(snapshot)
    _mark(snapshot, asset)
    (repo / "refs").mkdir()
    (repo / "refs" / asset.revision).write_text(revision)
    return snapshot


def _publish_dataset(root: Path, asset: Asset, splits: dict[str, Any]) -> Path:
    """Prepare ``splits`` as ``datasets`` prepares a Hub dataset, under the real id.

    With ``HF_HUB_OFFLINE=1``, ``load_dataset("org/name")`` reads only that prepared cache
    (``datasets/org___name/default/0.0.0/<hash>/``: ``dataset_info.json`` and one
    ``name-<split>.arrow`` per split), so the splits are prepared by the parquet builder and
    renamed into place.
    """
    import datasets

    name = asset.id.split("/", 1)[1]
    home = root / "datasets" / asset.id.replace("/", "___")
    shutil.rmtree(home, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=root) as work:
        files = {}
        for split, table in splits.items():
            files[split] = str(Path(work) / f"{split}.parquet")
            table.to_parquet(files[split])
        builder = datasets.load_dataset_builder(
            "parquet", data_files=files, cache_dir=str(Path(work) / "prepared")
        )
        builder.download_and_prepare()
        prepared = Path(builder.cache_dir)
        target = home / "default" / "0.0.0" / prepared.name
        shutil.copytree(prepared, target, ignore=shutil.ignore_patterns("*.lock"))
    for arrow in target.glob("parquet-*.arrow"):
        arrow.rename(target / arrow.name.replace("parquet-", f"{name}-", 1))
    info = json.loads((target / "dataset_info.json").read_text(encoding="utf-8"))
    info.update(dataset_name=name, config_name="default")
    (target / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    _mark(home, asset)
    return home


# --- the models --------------------------------------------------------------------------------


def _minilm(snapshot: Path) -> None:
    shutil.copytree(packaged_minilm(), snapshot, dirs_exist_ok=True)


def _with_activation(snapshot: Path, activation: str) -> None:
    """Record a cross-encoder's activation where the Hub's cross-encoder repos keep it."""
    path = snapshot / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["sentence_transformers"] = {"activation_fn": activation}
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def _ms_marco(snapshot: Path) -> None:
    from rerank_lab.course import reranker

    try:
        source = reranker.release_reranker_path()
    except reranker.RerankerUnavailable:
        source = reranker.small_reranker_path()
    for name in ("config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
                 "tokenizer_config.json", "vocab.txt"):  # fmt: skip
        shutil.copy2(source / name, snapshot / name)
    _with_activation(snapshot, "torch.nn.modules.linear.Identity")  # MS MARCO: logits


def save_tiny_bert(
    folder: Path, tokenizer_source: Path, *, num_labels: int | None = None, **config: Any
) -> Path:
    """A random BERT of the given ``config`` sizes (a ``BertModel``, or a classifier with
    ``num_labels``) with the tokenizer of ``tokenizer_source``, saved in ``folder``; seeded, so
    the same call writes the same weights. Unit tests use it too."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
    bert = BertConfig(vocab_size=tokenizer.vocab_size, **config)
    torch.manual_seed(0)
    if num_labels is None:
        model = BertModel(bert)
    else:
        bert.num_labels = num_labels
        model = BertForSequenceClassification(bert)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def _tiny_bert(snapshot: Path, *, layers: int, num_labels: int | None) -> None:
    save_tiny_bert(
        snapshot, packaged_minilm(), num_labels=num_labels, num_hidden_layers=layers, **_TINY
    )


def _stsb_cross_encoder(snapshot: Path) -> None:
    _tiny_bert(snapshot, layers=4, num_labels=1)
    _with_activation(snapshot, "torch.nn.modules.activation.Sigmoid")  # similarity in 0..1


def _xlm_roberta_reranker(snapshot: Path, texts: list[str]) -> None:
    """A tiny XLM-RoBERTa classifier with a small SentencePiece-style (Unigram) tokenizer
    trained on ``texts``."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import UnigramTrainer

    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's ids 0-4
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = UnigramTrainer(vocab_size=4_000, special_tokens=special, unk_token="<unk>")
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    fast_class = getattr(transformers, "XLMRobertaTokenizerFast", transformers.XLMRobertaTokenizer)
    wrapped = fast_class(
        tokenizer_object=tokenizer,
        bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512,
    )  # fmt: skip
    wrapped.save_pretrained(str(snapshot))
    config = transformers.XLMRobertaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        num_hidden_layers=2,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=1,
        **_TINY,
    )
    torch.manual_seed(0)
    transformers.XLMRobertaForSequenceClassification(config).save_pretrained(str(snapshot))


def _specter2_adapter(base: Path, name: str) -> Callable[[Path], None]:
    def write(snapshot: Path) -> None:
        from adapters import AutoAdapterModel

        model = AutoAdapterModel.from_pretrained(str(base))
        model.add_adapter(name, config="seq_bn")
        model.save_adapter(str(snapshot), name)

    return write


# --- the datasets ------------------------------------------------------------------------------


def _arxiv_chunks(documents: int) -> dict[str, Any]:
    from rerank_lab.course import pubmed

    distinct = pubmed.load_chunks(limit=documents).to_pandas()
    rows = [row % len(distinct) for row in range(ARXIV_ROWS)]
    chunks = distinct.iloc[rows].reset_index(drop=True)
    for column in ARXIV_COLUMNS:
        if column not in chunks:
            chunks[column] = ""
    return {"train": chunks[list(ARXIV_COLUMNS)]}


def _stsb_pairs() -> dict[str, Any]:
    """Lee pairs as STS-B: the first half of the documents for test pairs, the second half for
    training pairs (no sentence shared, as notebook 06 needs), pairs across for validation."""
    import pandas as pd

    from rerank_lab.course import lee

    corpus = lee.load()
    pairs = lee.scored_pairs(corpus)
    half = len(corpus.documents) // 2
    first, second = list(range(half)), list(range(half, len(corpus.documents)))
    across = pairs[pairs["a"].isin(first) & pairs["b"].isin(second)].iloc[:200]

    def frame(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "sentence1": [corpus.documents[i] for i in rows["a"]],
                "sentence2": [corpus.documents[i] for i in rows["b"]],
                "score": rows["score"].astype(float).to_numpy(),
            }
        )

    return {
        "train": frame(lee.pairs_within(pairs, second)),
        "validation": frame(across),
        "test": frame(lee.pairs_within(pairs, first)),
    }


# --- all of them -------------------------------------------------------------------------------


def build(root: Path, *, documents: int = ARXIV_DOCUMENTS) -> list[Asset]:
    """Write every stand-in under ``root`` (an ``HF_HOME``); returns the assets written.

    SPECTER2's base and adapters need the ``adapters`` library (notebook 05's extra); without
    it they are left out, as notebook 05 is.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    by_id = {asset.id: asset for asset in ASSETS}
    written = []

    def model(asset_id: str, write: Callable[[Path], None]) -> Path:
        print(f"stand-in for {asset_id}", flush=True)
        written.append(by_id[asset_id])
        return _publish_model(root, by_id[asset_id], write)

    model("sentence-transformers/multi-qa-MiniLM-L6-cos-v1", _minilm)
    model("sentence-transformers/all-MiniLM-L6-v2", _minilm)
    model("cross-encoder/ms-marco-MiniLM-L6-v2", _ms_marco)
    arxiv = _arxiv_chunks(documents)  # also the bge stand-in tokenizer's training text
    chunks = arxiv["train"]["chunk"].drop_duplicates().tolist()
    model("BAAI/bge-reranker-base", lambda folder: _xlm_roberta_reranker(folder, chunks))
    model("cross-encoder/stsb-TinyBERT-L4", _stsb_cross_encoder)
    if has_adapters():
        base = model(
            "allenai/specter2_base", lambda folder: _tiny_bert(folder, layers=2, num_labels=None)
        )
        model("allenai/specter2", _specter2_adapter(base, "specter2"))
        model("allenai/specter2_adhoc_query", _specter2_adapter(base, "specter2_adhoc_query"))
    else:
        print("adapters is not installed: SPECTER2's stand-ins left out (notebook 05 needs it)")
    for asset_id, splits in (
        ("jamescalam/ai-arxiv-chunked", arxiv),
        ("sentence-transformers/stsb", _stsb_pairs()),
    ):
        print(f"stand-in for {asset_id}", flush=True)
        _publish_dataset(root, by_id[asset_id], splits)
        written.append(by_id[asset_id])
    print(f"{len(written)} stand-ins in {root}: use HF_HOME={root} HF_HUB_OFFLINE=1")
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m rerank_lab.course.standins DIR``: write the rehearsal cache into ``DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m rerank_lab.course.standins", description=__doc__
    )
    parser.add_argument("folder", type=Path, help="the HF_HOME folder to write")
    build(parser.parse_args(argv).folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
