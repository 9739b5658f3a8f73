"""Tests of rerank_lab.course.augmented_sbert: hand-checked sampling and Spearman, and the whole
experiment with tiny random models (seconds), its cache and its guards against test leakage."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from rerank_lab.course import artefacts
from rerank_lab.course import augmented_sbert as asb

# ----------------------------------------------------------------------------------- Spearman


def test_spearman_hand_checked() -> None:
    assert asb.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert asb.spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # monotone but not linear: Pearson would be below 1, Spearman is exactly 1
    assert asb.spearman([1, 2, 3, 4, 5], np.exp([1, 2, 3, 4, 5])) == pytest.approx(1.0)
    # ties share their mean rank: x ranks (1, 2.5, 2.5, 4), y ranks (1, 2, 3, 4);
    # centred: (-1.5, 0, 0, 1.5) and (-1.5, -0.5, 0.5, 1.5) -> 4.5 / sqrt(4.5 * 5)
    assert asb.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / np.sqrt(4.5 * 5))
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 40), rng.random(40)
    assert asb.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([1, 2, 3], [1, 2], "one per pair"),
        ([1, 2], [1, 2], "at least 3"),
        ([1, 1, 1], [1, 2, 3], "constant"),
        ([1, np.nan, 3], [1, 2, 3], "NaN"),
    ],
)
def test_spearman_rejects_bad_input(x: list, y: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        asb.spearman(x, y)


def test_bootstrap_difference_is_zero_for_identical_systems_and_brackets_a_real_gap() -> None:
    rng = np.random.default_rng(1)
    gold = rng.random(80)
    noisy = gold + rng.normal(scale=0.5, size=80)
    better = gold + rng.normal(scale=0.05, size=80)
    difference, low, high = asb.bootstrap_difference(gold, noisy, noisy, resamples=200)
    assert difference == low == high == 0.0
    difference, low, high = asb.bootstrap_difference(gold, noisy, better, resamples=300)
    assert low <= difference <= high and low > 0


# ----------------------------------------------------------------------------------- sampling


def test_random_pairs_are_distinct_new_and_from_the_pool() -> None:
    pool = [3, 5, 8, 13, 21, 34]
    exclude = [(5, 3), (8, 13)]
    pairs = asb.random_pairs(pool, 12, seed=1, exclude=exclude)
    assert len(pairs) == len(set(pairs)) == 12
    assert all(a < b and a in pool and b in pool for a, b in pairs)
    assert not {(3, 5), (8, 13)} & set(pairs)
    assert pairs == asb.random_pairs(pool, 12, seed=1, exclude=exclude)
    # all 15 - 2 = 13 new pairs can be had, not 14
    assert len(asb.random_pairs(pool, 13, seed=2, exclude=exclude)) == 13
    with pytest.raises(ValueError, match="only 13"):
        asb.random_pairs(pool, 14, exclude=exclude)
    with pytest.raises(ValueError, match="twice"):
        asb.random_pairs([1, 1, 2], 1)


def test_kde_sample_follows_the_gold_distribution() -> None:
    rng = np.random.default_rng(0)
    # candidates: 90 dissimilar pairs near 0.1, 10 similar ones near 0.9
    candidates = np.concatenate([rng.normal(0.1, 0.03, 90), rng.normal(0.9, 0.03, 10)])
    gold_high = rng.normal(0.9, 0.03, 50)
    kept = asb.kde_sample(candidates, gold_high, 10, seed=0)
    assert len(set(kept.tolist())) == 10
    assert (candidates[kept] > 0.5).sum() >= 9  # random would keep about 1 of 10
    # gold like the candidates: the weights are nearly equal, so a draw is nearly random
    mixed = asb.kde_sample(candidates, candidates, 50, seed=0)
    assert 25 <= (candidates[mixed] < 0.5).sum() <= 50
    with pytest.raises(ValueError, match="vary"):
        asb.kde_sample(candidates, np.full(10, 0.5), 5)
    with pytest.raises(ValueError, match="Cannot keep"):
        asb.kde_sample(candidates, gold_high, 101)


TEXTS = [
    "apple banana fruit salad",  # 0
    "banana apple smoothie",  # 1
    "dog cat pets at home",  # 2
    "cat dog friends",  # 3
    "stock market shares fall",  # 4
    "shares market rally stock",  # 5
]


def test_bm25_neighbours_hand_checked() -> None:
    neighbours = asb.bm25_neighbours(TEXTS, [0, 1, 2, 3, 4, 5], depth=1)
    assert neighbours == {0: [1], 1: [0], 2: [3], 3: [2], 4: [5], 5: [4]}
    # pool indices map back to text indices, and the anchor itself is never a neighbour
    neighbours = asb.bm25_neighbours(TEXTS, [5, 2, 4, 3], depth=3)
    assert neighbours[5][0] == 4 and neighbours[2][0] == 3
    assert all(anchor not in ranked for anchor, ranked in neighbours.items())


def test_semantic_neighbours_hand_checked() -> None:
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    neighbours = asb.semantic_neighbours(embeddings, [10, 11, 12, 13], depth=2)
    assert neighbours == {10: [11, 13], 11: [10, 13], 12: [13, 11], 13: [12, 11]}
    with pytest.raises(ValueError, match="embeddings for a pool"):
        asb.semantic_neighbours(embeddings, [10, 11], depth=1)


def test_interleave_neighbours_goes_rank_by_rank_and_skips_repeats() -> None:
    bm25 = {1: [2, 3], 2: [1, 4], 3: [4, 1], 4: [3, 2]}
    # round 1: (1,2) (1,2 again: skipped) (3,4) (3,4 again); round 2: (1,3) (2,4) ...
    pairs = asb.interleave_neighbours([bm25], 10, seed=0)
    assert set(pairs[:2]) == {(1, 2), (3, 4)}
    assert set(pairs[2:]) == {(1, 3), (2, 4)}
    assert asb.interleave_neighbours([bm25], 3, exclude=[(2, 1)], seed=0)[0] == (3, 4)
    semantic = {1: [4], 2: [3], 3: [2], 4: [1]}
    both = asb.interleave_neighbours([bm25, semantic], 4, seed=0)
    assert set(both) == {(1, 2), (1, 4), (3, 4), (2, 3)}  # every first neighbour of each
    assert len(asb.interleave_neighbours([bm25, semantic], 100)) == 6  # all distinct pairs
    with pytest.raises(ValueError):
        asb.interleave_neighbours([], 3)


# --------------------------------------------------------------------------------- gold data


def _gold(**changes: object) -> asb.GoldData:
    texts = [
        f"text number {i} about " + " ".join(["storms", "rates", "fires"][: i % 3 + 1])
        for i in range(14)
    ]
    rng = np.random.default_rng(3)

    def within(ids: list[int]) -> pd.DataFrame:
        pairs = [(a, b) for a in ids for b in ids if a < b]
        return pd.DataFrame(
            {
                "a": [a for a, _ in pairs],
                "b": [b for _, b in pairs],
                "score": rng.random(len(pairs)),
            }
        )

    fields = {
        "name": "tiny",
        "texts": texts,
        "train": within([0, 1, 2, 3, 4]),
        "test": within([5, 6, 7, 8]),
        "pool": [0, 1, 2, 3, 4, 9, 10, 11, 12, 13],
    }
    fields.update(changes)
    return asb.GoldData(**fields)  # type: ignore[arg-type]


def test_gold_data_refuses_test_texts_in_training_or_pool() -> None:
    gold = _gold()
    assert "10 gold training pairs, 6 test pairs" in repr(gold)
    with pytest.raises(ValueError, match="test pairs also appear"):
        _gold(pool=[0, 1, 2, 5])
    leaky = gold.train.copy()
    leaky.loc[0, "b"] = 6
    with pytest.raises(ValueError, match="test pairs also appear"):
        _gold(train=leaky)
    with pytest.raises(ValueError, match="lack the columns"):
        _gold(test=gold.test.drop(columns="score"))
    assert _gold().fingerprint() == gold.fingerprint() != _gold(name="other").fingerprint()


# ---------------------------------------------------------------------- experiment (tiny models)

TINY = asb.Config(
    n_train_documents=5,
    n_test_documents=4,
    n_background=5,
    online_train_pairs=10,
    online_test_pairs=6,
    online_pool=10,
    silver_pairs=4,
    kde_candidates=12,
    neighbours=2,
    ce_max_length=32,
    bi_max_seq_length=32,
    ce_epochs=1,
    bi_epochs=1,
    batch_size=4,
)


@pytest.fixture
def tiny_backbone(tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(asb, "_backbone", lambda: str(tiny_bert_dir))
    return tiny_bert_dir


def test_label_pairs_reads_the_logit_through_a_sigmoid(tiny_backbone: Path) -> None:
    import torch

    gold = _gold()
    model = asb.train_cross_encoder(gold.texts, gold.train, TINY, device="cpu", progress=False)
    pairs = [(0, 1), (2, 9), (3, 4)]
    labels = asb.label_pairs(model, gold.texts, pairs)
    logits = model.predict(
        [(gold.texts[a], gold.texts[b]) for a, b in pairs], activation_fn=torch.nn.Identity()
    )
    np.testing.assert_allclose(labels, 1 / (1 + np.exp(-logits)), atol=1e-5)
    assert ((labels > 0) & (labels < 1)).all()
    assert asb.label_pairs(model, gold.texts, []).shape == (0,)


def test_experiment_runs_caches_and_never_touches_test_texts(
    tiny_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gold = _gold()
    experiment = asb.Experiment(gold, TINY, device="cpu", progress=False, root=tmp_path)
    table = experiment.table()
    assert list(table.index) == [
        "untrained",
        "gold-only",
        *[f"gold + silver ({name})" for name in asb.STRATEGIES],
    ]
    assert table["spearman"].between(-1, 1).all()
    test_texts = set(gold.test["a"]) | set(gold.test["b"])
    gold_pairs = set(gold.pairs("train"))
    results = experiment.results()
    for name in asb.STRATEGIES:
        result = results[name]
        assert len(result.silver_pairs) == TINY.silver_pairs
        assert not {i for pair in result.silver_pairs for i in pair} & test_texts
        assert not set(result.silver_pairs) & gold_pairs
        assert ((result.silver_labels >= 0) & (result.silver_labels <= 1)).all()
        assert set(result.seconds) == {"sample", "label", "train", "evaluate", "total"}
    assert len(results["kde"].extra["candidates"]) == TINY.kde_candidates

    # A second run reads every step from the cache: no training at all.
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again instead of reading the cache")

    monkeypatch.setattr(asb, "train_bi_encoder", refuse)
    monkeypatch.setattr(asb, "train_cross_encoder", refuse)
    again = asb.Experiment(gold, TINY, device="cpu", progress=False, root=tmp_path)
    pd.testing.assert_frame_equal(again.table(), table)
    assert again.cross_encoder_result().name == "cross-encoder"

    # The record of notebook 06 comes from the cache too, and says what the table says.
    record = asb.record_results(again, resamples=50)
    assert set(record["models"]) == {"untrained", "gold-only", *asb.STRATEGIES}
    for name, row in record["models"].items():
        assert row["spearman"] == pytest.approx(results[name].spearman, abs=1e-4)
    assert record["models"]["gold-only"]["vs gold only"] == [0.0, 0.0, 0.0]
    assert record["gold pairs"] == len(gold.train) and record["test pairs"] == len(gold.test)
    # The compute minutes are the recorded seconds added up (a tiny run may round to 0.0 min).
    seconds = record["teacher"]["train seconds"] + record["gold-only train seconds"]
    seconds += sum(
        row["seconds"].get("total", row["seconds"].get("evaluate", 0.0))
        for row in record["models"].values()
    )
    assert seconds > 0
    assert record["compute minutes"] == pytest.approx(seconds / 60, abs=0.06)

    # A corrupt result is recomputed with a warning (here: from the cached models, no training).
    path = again._result_path("untrained")
    path.write_text("{not json")
    with pytest.warns(UserWarning, match="Ignoring the cached"):
        assert again.baseline().spearman == pytest.approx(table.loc["untrained", "spearman"])
    assert json.loads(path.read_text())["key"] == again.key

    # Other settings, other key, other folder: nothing stale is reused.
    other = asb.Experiment(
        gold, dataclasses.replace(TINY, seed=7), device="cpu", progress=False, root=tmp_path
    )
    assert other.folder != again.folder


def test_a_cached_model_for_other_settings_is_not_trusted(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    assert asb._model_problem(folder, "k") == "missing"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert "lacks" in asb._model_problem(folder, "k")
    header = json.dumps({"__metadata__": {}}).encode()
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    (folder / "augsbert.json").write_text(json.dumps({"key": "other"}))
    assert asb._model_problem(folder, "k") == "trained with other data, settings or backbone"
    assert artefacts.LINE_CHANGED in asb._model_problem(folder, "other")  # no versions recorded
    card = {"key": "other", "versions": artefacts.versions()}
    (folder / "augsbert.json").write_text(json.dumps(card))
    assert asb._model_problem(folder, "other") is None
    card["versions"] = {**card["versions"], "transformers": "99.0.0"}
    (folder / "augsbert.json").write_text(json.dumps(card))
    assert "transformers 99.0.0" in asb._model_problem(folder, "other")
    card["versions"] = artefacts.versions()
    (folder / "augsbert.json").write_text(json.dumps(card))
    (folder / "model.safetensors").write_bytes(b"\xff" * 16)
    assert "corrupt" in asb._model_problem(folder, "other")


def test_models_are_kept_per_library_line_and_one_that_does_not_load_is_rebuilt(
    tiny_backbone: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    library_line: Callable[[str], None],
    break_modules_json: Callable[[Path], None],
) -> None:
    """Switching lines trains each line's own teacher and student once, never on switching back;
    a student that passes every check but raises on load (a module path this line lacks, as
    sentence-transformers 6.3 saves for 5.7) is set aside and trained again."""
    trained: list[str] = []
    real_bi, real_ce = asb.train_bi_encoder, asb.train_cross_encoder

    def counted(name: str, train: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            trained.append(name)
            return train(*args, **kwargs)

        return run

    monkeypatch.setattr(asb, "train_bi_encoder", counted("student", real_bi))
    monkeypatch.setattr(asb, "train_cross_encoder", counted("teacher", real_ce))
    gold = _gold()

    def models() -> tuple[Any, Any]:
        experiment = asb.Experiment(gold, TINY, device="cpu", progress=False, root=tmp_path)
        return experiment.cross_encoder(), experiment.gold_only_model()

    models()
    assert trained == ["teacher", "student"]
    running = {path.name for path in asb.Experiment(gold, TINY, root=tmp_path).folder.iterdir()}
    library_line("other")
    models()
    assert trained == ["teacher", "student"] * 2
    library_line("running")
    models()  # switching back: both read from the running line's folders
    assert trained == ["teacher", "student"] * 2
    folder = asb.Experiment(gold, TINY, root=tmp_path).folder
    assert running < {path.name for path in folder.iterdir()}

    student = folder / f"gold-only-{artefacts.line()}"
    break_modules_json(student)
    assert asb._model_problem(student, asb.Experiment(gold, TINY, root=tmp_path).key) is None
    with pytest.warns(UserWarning, match="gold-only model .* does not load .*building it again"):
        _, rebuilt = models()
    assert trained == ["teacher", "student"] * 2 + ["student"]
    assert rebuilt.encode(["a sentence"]).shape == (1, 32)
    assert (folder / f"{student.name}.damaged" / "modules.json").is_file()
    models()  # the rebuilt one loads
    assert len(trained) == 5


def test_unknown_strategy_is_refused(tmp_path: Path) -> None:
    experiment = asb.Experiment(_gold(), TINY, device="cpu", progress=False, root=tmp_path)
    with pytest.raises(ValueError, match="Unknown strategy"):
        experiment.sample("elasticsearch")


def test_online_gold_from_a_stand_in_stsb_keeps_test_sentences_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The STS-B loader (online world) on a stand-in for the Hub dataset: test sentences never
    reach gold pairs or the pool, pairs are (a < b) with 0..1 scores, sizes follow the config."""
    import datasets

    def split(prefix: str, n: int, shared: str | None = None) -> datasets.Dataset:
        first = [f"{prefix} sentence {i}" for i in range(n)]
        second = [f"{prefix} other {i}" for i in range(n)]
        if shared is not None:
            second[0] = shared  # a training pair that reuses a test sentence
        return datasets.Dataset.from_dict(
            {"sentence1": first, "sentence2": second, "score": np.linspace(0, 1, n)}
        )

    fake = datasets.DatasetDict(
        {"train": split("train", 40, shared="test sentence 3"), "test": split("test", 12)}
    )
    monkeypatch.setattr(datasets, "load_dataset", lambda name: fake)
    config = dataclasses.replace(TINY, online_train_pairs=10, online_test_pairs=8, online_pool=30)
    gold = asb.load_gold("small", online=True, config=config)
    assert gold.name == "stsb" and len(gold.train) == 10 and len(gold.test) == 8
    test_texts = {gold.texts[i] for pair in gold.pairs("test") for i in pair}
    used = {gold.texts[i] for i in gold.pool} | {
        gold.texts[i] for pair in gold.pairs("train") for i in pair
    }
    assert not test_texts & used
    assert all(a < b for a, b in gold.pairs("train") + gold.pairs("test"))
    assert len(gold.pool) == 30 and gold.train["score"].between(0, 1).all()
