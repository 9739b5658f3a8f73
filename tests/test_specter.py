"""rerank_lab.course.specter: the SPECTER input format, related-paper pairs without leaks, adapters
added, trained, saved, loaded and switched inside a SentenceTransformer, the cached course
adapter, and related-paper evaluation. Tiny models and tables: the whole file runs in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rerank_lab.course import artefacts, specter

pytest.importorskip("adapters")

TINY_RECIPE = specter.AdapterRecipe(epochs=1, batch_size=4, learning_rate=1e-2, max_seq_length=32)


# --- input format -----------------------------------------------------------------------------


def test_paper_text_is_title_separator_abstract() -> None:
    assert (
        specter.paper_text("BERT", "We introduce BERT.", "[SEP]") == "BERT[SEP]We introduce BERT."
    )
    assert specter.paper_text(" A title ", None, "</s>") == "A title</s>"
    with pytest.raises(TypeError, match="title"):
        specter.paper_text(None, "x", "[SEP]")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sep_token"):
        specter.paper_text("t", "a", "")


def test_paper_texts_title_only_or_with_abstract() -> None:
    papers = pd.DataFrame({"title": ["T1", "T2"], "abstract": ["A1", ""]})
    assert specter.paper_texts(papers, "[SEP]") == ["T1[SEP]A1", "T2[SEP]"]
    assert specter.paper_texts(papers, "[SEP]", "title") == ["T1", "T2"]
    with pytest.raises(ValueError, match="fields"):
        specter.paper_texts(papers, "[SEP]", "abstract")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="abstract"):
        specter.paper_texts(papers[["title"]], "[SEP]")


# --- related-paper pairs ----------------------------------------------------------------------


def _fresh_bi_encoder(tiny_bert_dir: Path) -> Any:
    """A tiny SentenceTransformer without adapters, loaded afresh from the tiny BERT."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    return SentenceTransformer(
        modules=[Transformer(str(tiny_bert_dir), max_seq_length=64), Pooling(32, "mean")],
        device="cpu",
    )


def _documents(n_groups: int = 30, n_loners: int = 40) -> pd.DataFrame:
    """Groups of three papers sharing two group-specific keywords, a few citations, one
    keyword everyone carries (too common to relate anything), an erratum, and loners."""
    rows = []
    for group in range(n_groups):
        for member in range(3):
            keywords = [f"topic {group}", f"method {group}", "Common"]
            if member == 2:
                keywords = keywords[:1] + ["Common"]  # shares one specific term: grade 1 only
            rows.append(
                {
                    "pmid": f"{100 + 3 * group + member}",
                    "title": f"Paper {group}-{member} on topic {group}",
                    "abstract": f"Abstract of paper {group}-{member}.",
                    "keywords": keywords,
                    "mesh_major": [],
                    "references": [],
                }
            )
    if n_groups > 1:
        rows[5]["references"] = ["100"]  # a citation across groups 0 and 1: grade 2
    for number in range(n_loners):
        rows.append(
            {
                "pmid": f"{900 + number}",
                "title": f"Unrelated paper {number}",
                "abstract": "Nothing in common.",
                "keywords": ["common"],
                "mesh_major": [],
                "references": [],
            }
        )
    rows.append(
        {
            "pmid": "999",
            "title": "Erratum: Paper 3-0 on topic 3",
            "abstract": "A correction.",
            "keywords": [],
            "mesh_major": [],
            "references": ["109"],
        }
    )
    return pd.DataFrame(rows)


def test_pairs_are_graded_by_citations_and_specific_shared_terms() -> None:
    data = specter.build_related_papers(_documents(), "full")
    pairs = data.pairs
    assert specter.relatedness(data, "100", "101")["grade"] == 2  # two specific terms
    assert specter.relatedness(data, "102", "100")["grade"] == 1  # one specific term
    citation = specter.relatedness(data, "105", "100")
    assert citation["grade"] == 2 and citation["kind"] == "citation"
    assert specter.relatedness(data, "999", "109") is None  # an erratum relates nothing
    assert specter.relatedness(data, "900", "901") is None  # "common" is carried by too many
    assert not any("common" in terms for terms in pairs["shared"])


def test_held_out_papers_never_train() -> None:
    data = specter.build_related_papers(_documents(), "full")
    train_papers = set(data.train_pairs["a"]) | set(data.train_pairs["b"])
    assert train_papers and data.queries
    assert not train_papers & set(data.corpus)
    assert (data.train_pairs["grade"] == 2).all()
    for query in data.queries:
        grades = data.qrels[query]
        assert query not in grades and 2 in grades.values()
        assert set(grades) <= set(data.corpus)
    assert any(pmid.startswith("9") for pmid in data.corpus)  # distractors
    assert "queries" in data.describe() or "query papers" in data.describe()


def test_small_scale_caps_the_sizes_and_the_split_is_seeded() -> None:
    documents = _documents(n_groups=200)
    small = specter.build_related_papers(documents, "small")
    assert len(small.train_pairs) <= specter.SIZES["small"]["train_pairs"]
    assert len(small.queries) <= specter.SIZES["small"]["queries"]
    again = specter.build_related_papers(documents, "small")
    assert again.queries == small.queries and again.corpus == small.corpus
    other = specter.build_related_papers(documents, "small", seed=1)
    assert other.queries != small.queries


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(KeyError, match="references"):
        specter.build_related_papers(_documents().drop(columns="references"), "small")
    with pytest.raises(ValueError, match="scale"):
        specter.build_related_papers(_documents(), "huge")  # type: ignore[arg-type]
    lonely = _documents(n_groups=0, n_loners=5)
    with pytest.raises(ValueError, match="nothing to train"):
        specter.build_related_papers(lonely, "small")


# --- adapters ---------------------------------------------------------------------------------


def _weights(model: object, adapter: bool) -> dict[str, np.ndarray]:
    return {
        name: tensor.detach().clone().numpy()
        for name, tensor in model.state_dict().items()  # type: ignore[attr-defined]
        if ("adapters." in name) == adapter
    }


def test_add_adapter_trains_only_the_adapter(tiny_bi_encoder: object) -> None:
    _, total_before = specter.parameter_counts(tiny_bi_encoder)
    trainable = specter.add_adapter(tiny_bi_encoder, "probe")
    # seq_bn, reduction factor 16: hidden 32 -> bottleneck 2, one layer.
    assert trainable == 2 * 32 * 2 + 2 + 32
    assert specter.parameter_counts(tiny_bi_encoder) == (trainable, total_before + trainable)
    assert specter.active_adapter(tiny_bi_encoder) == "Stack[probe]"
    with pytest.raises(ValueError, match="already has an adapter"):
        specter.add_adapter(tiny_bi_encoder, "probe")


def test_training_changes_the_adapter_and_nothing_else(tiny_bi_encoder: object) -> None:
    specter.add_adapter(tiny_bi_encoder, "probe")
    base, adapter = _weights(tiny_bi_encoder, False), _weights(tiny_bi_encoder, True)
    pairs = [(f"paper {i} about topic {i}", f"another paper on topic {i}") for i in range(8)]
    summary = specter.train_adapter(
        tiny_bi_encoder, pairs, "probe", TINY_RECIPE, show_progress=False
    )
    assert summary["steps"] == 2 and summary["trainable_parameters"] == 162
    after_base, after_adapter = _weights(tiny_bi_encoder, False), _weights(tiny_bi_encoder, True)
    assert all(np.array_equal(base[name], after_base[name]) for name in base)
    assert any(not np.array_equal(adapter[name], after_adapter[name]) for name in adapter)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        specter.train_adapter(tiny_bi_encoder, pairs[:1], "probe", TINY_RECIPE)
    with pytest.raises(KeyError, match="add_adapter"):
        specter.train_adapter(tiny_bi_encoder, pairs, "missing", TINY_RECIPE)


def test_save_load_activate_and_switch(
    tiny_bi_encoder: object, tiny_bert_dir: Path, tmp_path: Path
) -> None:

    texts = ["a paper on kinases", "a paper on asthma in children"]
    plain = tiny_bi_encoder.encode(texts)  # type: ignore[attr-defined]
    specter.add_adapter(tiny_bi_encoder, "probe")
    specter.train_adapter(
        tiny_bi_encoder,
        [(t, t.upper()) for t in texts * 2],
        "probe",
        TINY_RECIPE,
        show_progress=False,
    )
    tuned = tiny_bi_encoder.encode(texts)  # type: ignore[attr-defined]
    assert not np.allclose(plain, tuned)
    folder = specter.save_adapter(tiny_bi_encoder, tmp_path / "probe", "probe")
    assert (folder / "adapter_config.json").is_file()
    assert 0 < specter.adapter_size(folder) < 10_000

    fresh = _fresh_bi_encoder(tiny_bert_dir)
    assert specter.load_adapter(fresh, folder, "loaded") == "loaded"
    assert specter.active_adapter(fresh) == "Stack[loaded]"
    np.testing.assert_allclose(fresh.encode(texts), tuned, atol=1e-5)
    specter.set_active(fresh, None)
    assert specter.active_adapter(fresh) == "none"
    np.testing.assert_allclose(fresh.encode(texts), plain, atol=1e-5)
    with pytest.raises(KeyError, match="no adapter"):
        specter.set_active(fresh, "probe")
    with pytest.raises(FileNotFoundError, match="no saved adapter"):
        specter.load_adapter(fresh, tmp_path)


def test_course_adapter_is_kept_per_library_line_and_rebuilt_when_it_does_not_load(
    tiny_bert_dir: Path,
    temp_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    library_line: Callable[[str], None],
) -> None:
    def fresh() -> Any:
        return _fresh_bi_encoder(tiny_bert_dir)

    trained = []
    real_train = specter.train_adapter

    def counted(*args: object, **kwargs: object) -> dict:
        trained.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(specter, "train_adapter", counted)
    data = specter.build_related_papers(_documents(), "small")

    def adapter() -> tuple[Path, Any]:
        model = fresh()
        folder, _ = specter.course_adapter(model, data, recipe=TINY_RECIPE, show_progress=False)
        assert specter.ADAPTER_NAME in specter.active_adapter(model)
        return folder, model

    folder, _ = adapter()
    card = json.loads((folder / "training.json").read_text())
    assert card["versions"] == artefacts.versions(specter.ADAPTER_LOADING)
    library_line("other")
    other, _ = adapter()
    assert other != folder and other.name.endswith("-ad99.0-tf99.0") and len(trained) == 2
    library_line("running")
    assert adapter()[0] == folder and len(trained) == 2  # switching back trains nothing

    real_load = specter.load_adapter

    def load_failing_once(*args: Any, **kwargs: Any) -> str:
        monkeypatch.setattr(specter, "load_adapter", real_load)
        real_load(*args, **kwargs)  # half loaded, then the library gives up
        raise KeyError("adapter config field this adapters release does not know")

    monkeypatch.setattr(specter, "load_adapter", load_failing_once)
    with pytest.warns(UserWarning, match="adapter in .* does not load .*KeyError"):
        again, model = adapter()
    assert again == folder and len(trained) == 3
    assert (folder.parent / f"{folder.name}.damaged").is_dir()
    assert specter.adapter_problem(folder) is None
    assert adapter()[0] == folder and len(trained) == 3


def test_course_adapter_is_cached_validated_and_rebuilt(
    tiny_bi_encoder: object, tiny_bert_dir: Path, temp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fresh() -> Any:
        return _fresh_bi_encoder(tiny_bert_dir)

    data = specter.build_related_papers(_documents(), "small")
    folder, card = specter.course_adapter(
        tiny_bi_encoder, data, recipe=TINY_RECIPE, show_progress=False
    )
    assert folder.is_relative_to(temp_cache) and card["pairs"] == len(data.train_pairs)
    assert specter.adapter_problem(folder) is None
    assert not list(folder.parent.glob(".*building*"))  # the staging folder is gone

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached adapter should have been reused")

    monkeypatch.setattr(specter, "train_adapter", no_training)
    reloaded = fresh()
    again, again_card = specter.course_adapter(reloaded, data, recipe=TINY_RECIPE)
    assert again == folder and again_card == card
    assert specter.ADAPTER_NAME in specter.active_adapter(reloaded)  # loaded from the cache
    monkeypatch.undo()
    monkeypatch.setenv("RERANK_LAB_CACHE", str(temp_cache))

    weights = next(path for path in folder.iterdir() if path.suffix == ".safetensors")
    weights.write_bytes(b"corrupt")
    assert "checksum" in specter.adapter_problem(folder)
    _, rebuilt = specter.course_adapter(fresh(), data, recipe=TINY_RECIPE, show_progress=False)
    assert rebuilt["pairs"] == card["pairs"]
    assert specter.adapter_problem(folder) is None
    card_data = json.loads((folder / "training.json").read_text())
    assert card_data["key"]["recipe"]["max_seq_length"] == 32

    with pytest.raises(ValueError, match="without adapters"):
        specter.course_adapter(tiny_bi_encoder, data, recipe=TINY_RECIPE)


def test_a_recipe_with_fewer_pairs_trains_a_seeded_sample_into_its_own_folder(
    tiny_bert_dir: Path, temp_cache: Path
) -> None:
    import dataclasses

    def fresh() -> Any:
        return _fresh_bi_encoder(tiny_bert_dir)

    data = specter.build_related_papers(_documents(), "small")
    sample = dataclasses.replace(TINY_RECIPE, max_pairs=2)
    folder, card = specter.course_adapter(fresh(), data, recipe=sample, show_progress=False)
    assert card["pairs"] == 2 < len(data.train_pairs)
    assert folder.name.startswith(f"{specter.ADAPTER_NAME}-small-2pairs-")
    everything, _ = specter.course_adapter(fresh(), data, recipe=TINY_RECIPE, show_progress=False)
    assert everything != folder  # the two recipes keep their own adapters side by side
    assert specter.recipe_for("small") == specter.RECIPES["small"]
    assert specter.recipe_for("full") == specter.RECIPES["live"]
    assert specter.recipe_for("full", full_run=True) == specter.RECIPES["full"]


# --- encoding and evaluation ------------------------------------------------------------------


def test_embeddings_are_cached_per_adapter_setup(tiny_bi_encoder: object, temp_cache: Path) -> None:
    texts = ["one paper", "another paper"]
    base = specter.embed_papers(tiny_bi_encoder, texts, show_progress=False)
    specter.add_adapter(tiny_bi_encoder, "probe")
    specter.train_adapter(
        tiny_bi_encoder,
        [(t, t + " too") for t in texts * 2],
        "probe",
        TINY_RECIPE,
        show_progress=False,
    )
    tuned = specter.embed_papers(tiny_bi_encoder, texts, show_progress=False)
    specter.set_active(tiny_bi_encoder, None)
    switched_off = specter.embed_papers(tiny_bi_encoder, texts, show_progress=False)
    np.testing.assert_allclose(switched_off, base, atol=1e-5)
    assert not np.allclose(tuned, base)
    folders = {path.name for path in (temp_cache / "adapter-embeddings").iterdir()}
    assert folders == {"base", "Stack_probe_", "none"}


def _evaluation_data() -> specter.RelatedPapers:
    corpus = ["p1", "p2", "p3", "p4"]
    return specter.RelatedPapers(
        papers=pd.DataFrame(index=corpus),
        pairs=pd.DataFrame(columns=["a", "b", "grade", "kind", "shared"]),
        train_pairs=pd.DataFrame(columns=["a", "b"]),
        corpus=corpus,
        queries=["p1", "p3"],
        qrels={"p1": {"p2": 2}, "p3": {"p4": 2}},
        scale="small",
    )


def test_evaluate_related_leaves_the_query_out() -> None:
    data = _evaluation_data()
    # p1 is closest to p2; p3 is closest to p2, then p1, and only then to p4.
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.6], [0.0, 1.0]])
    scores = specter.evaluate_related(embeddings, data)["ndcg@10"]
    assert scores["p1"] == pytest.approx(1.0)
    assert scores["p3"] == pytest.approx(1 / np.log2(4))  # p4 third: rank 3, gain 2 of 2
    with pytest.raises(ValueError, match="one row per corpus paper"):
        specter.evaluate_related(embeddings[:3], data)
