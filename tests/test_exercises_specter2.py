"""The checkers of notebook 05: right answers pass, usual mistakes get their hint.

As in the other exercise tests, checkers draw fresh random inputs on every call, so every answer
is checked several times: a hint must be the specific one on every draw, not on a lucky one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from exercise_checks import accepted, notebook_tests, rejected

NEW_IDS = ["05.1", "05.2", "05.3", "05.4", "05.5", "05.6", "05.7"]

FUNCTION_IDS = ["05.1", "05.2", "05.3", "05.4", "05.5", "05.7"]
(
    test_the_new_exercises_are_registered_in_notebook_order,
    test_placeholders_are_rejected,
    test_unwritten_functions_are_rejected,
) = notebook_tests(NEW_IDS, FUNCTION_IDS)


# --- 05.1 the SPECTER input string ------------------------------------------------------------


def specter_input(title: str, abstract: str | None, sep: str) -> str:
    return title + sep + (abstract or "")


def test_specter_input_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("05.1", specter_input, capsys)
    accepted("05.1", lambda t, a, sep: f"{t}{sep}{a if a is not None else ''}", capsys)

    from rerank_lab.course.specter import paper_text

    accepted("05.1", paper_text, capsys)  # the package's own version (it strips; inputs are clean)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda t, a, sep: t + "[SEP]" + (a or ""), "use the `sep` you are given"),
        (lambda t, a, sep: t + sep + str(a), "the word 'None'"),
        (lambda t, a, sep: t + " " + sep + " " + (a or ""), "extra spaces"),
        (lambda t, a, sep: (a + sep + t) if a else t + sep, "title first"),
        (lambda t, a, sep: t + " " + (a or ""), "separator is missing"),
        (lambda t, a, sep: t + sep + (a or "") + sep, "separator once"),
        (lambda t, a, sep: t + sep + a, "treat it as empty"),
        (lambda t, a, sep: t.lower() + sep + (a or ""), "print your string"),
        (lambda t, a, sep: [t, sep, a], "return one string"),
    ],
)
def test_specter_input_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("05.1", answer, fragment)


# --- 05.2 trainable and total parameters ------------------------------------------------------


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    parameters = list(model.parameters())
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)


def test_count_parameters_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("05.2", count_parameters, capsys)
    accepted("05.2", lambda m: list(map(np.int64, count_parameters(m))), capsys)

    from rerank_lab.course.specter import parameter_counts

    accepted("05.2", parameter_counts, capsys)


def _all(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda m: count_parameters(m)[::-1], "swapped"),
        (lambda m: (_all(m), _all(m)), "includes frozen parameters"),
        (
            lambda m: (sum(p.numel() for p in m.parameters() if not p.requires_grad), _all(m)),
            "frozen parameters as trainable",
        ),
        (
            lambda m: (sum(p.requires_grad for p in m.parameters()), len(list(m.parameters()))),
            "parameter tensors",
        ),
        (lambda m: count_parameters(m)[0], "the pair (trainable, total)"),
        (lambda m: (*count_parameters(m), 0), "two numbers"),
        (lambda m: (1, 2), "sum p.numel()"),
    ],
)
def test_count_parameters_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("05.2", answer, fragment)


# --- 05.3 the size of a bottleneck adapter ----------------------------------------------------


def bottleneck_parameters(hidden: int, factor: int, layers: int) -> int:
    b = hidden // factor
    return layers * (hidden * b + b + b * hidden + hidden)


def test_bottleneck_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("05.3", bottleneck_parameters, capsys)
    accepted("05.3", lambda h, r, n: float(bottleneck_parameters(h, r, n)), capsys)
    assert bottleneck_parameters(384, 16, 6) == 113_040  # what adapters reports for MiniLM


def test_bottleneck_matches_the_adapters_library() -> None:
    """The checker's formula is what `adapters` really builds (seq_bn, a tiny random BERT)."""
    adapters = pytest.importorskip("adapters")
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=100, hidden_size=64, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=37,
    )  # fmt: skip
    model = BertModel(config)
    adapters.init(model)
    model.add_adapter("probe", config="seq_bn")
    model.train_adapter("probe")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == bottleneck_parameters(64, 16, 3)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda h, r, n: n * 2 * h * (h // r), "left out the biases"),
        (lambda h, r, n: n * (2 * h * (h // r) + h // r), "up-projection's bias"),
        (lambda h, r, n: n * (2 * h * (h // r) + h), "down-projection's bias"),
        (lambda h, r, n: bottleneck_parameters(h, r, 1), "every transformer layer"),
        (lambda h, r, n: n * (2 * h * h * r + h * r + h), "not times"),
        (lambda h, r, n: n * (h * (h // r) + h // r), "down-projection only"),
        (lambda h, r, n: 113_040, "one linear layer"),
    ],
)
def test_bottleneck_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("05.3", answer, fragment, forbidden=("113",))


# --- 05.4 a leak-free evaluation split --------------------------------------------------------


def split_pairs(pairs: list, held_out: set) -> tuple[list, list]:
    train = [(a, b) for a, b in pairs if a not in held_out and b not in held_out]
    evaluation = [(a, b) for a, b in pairs if a in held_out and b in held_out]
    return train, evaluation


def test_split_pairs_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("05.4", split_pairs, capsys)

    def with_sets(pairs: list, held_out: set) -> tuple[list, list]:
        train, evaluation = [], []
        for pair in pairs:
            inside = len(set(pair) & held_out)
            (train if inside == 0 else evaluation if inside == 2 else []).append(list(pair))
        return train, evaluation

    accepted("05.4", with_sets, capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda p, h: split_pairs(p, h)[::-1], "swapped"),
        (
            lambda p, h: (
                [(a, b) for a, b in p if not (a in h and b in h)],
                split_pairs(p, h)[1],
            ),
            "training pair contains a held-out paper",
        ),
        (
            lambda p, h: ([(a, b) for a, b in p if a not in h], split_pairs(p, h)[1]),
            "training pair contains a held-out paper",
        ),
        (
            lambda p, h: (split_pairs(p, h)[0], [(a, b) for a, b in p if a in h or b in h]),
            "outside the held-out set",
        ),
        (lambda p, h: tuple(sorted(part) for part in split_pairs(p, h)), "input order"),
        (lambda p, h: (split_pairs(p, h)[0][1:], split_pairs(p, h)[1]), "some pairs are missing"),
        (lambda p, h: split_pairs(p, h)[0], "return two lists"),
        (lambda p, h: ("a", "b"), "(paper, paper) pairs"),
    ],
)
def test_split_pairs_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("05.4", answer, fragment)


# --- 05.5 related papers, the paper itself excluded -------------------------------------------


def related_papers(embeddings: np.ndarray, row: int, k: int) -> list[int]:
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    scores = unit @ unit[row]
    scores[row] = -np.inf
    return np.argsort(-scores)[:k].tolist()


def related_papers_torch(embeddings: np.ndarray, row: int, k: int) -> torch.Tensor:
    vectors = torch.nn.functional.normalize(torch.tensor(embeddings), dim=1)
    scores = vectors @ vectors[row]
    scores[row] = -2
    return torch.topk(scores, k).indices


def test_related_papers_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("05.5", related_papers, capsys)
    accepted("05.5", related_papers_torch, capsys)


def _with_self(embeddings: np.ndarray, row: int, k: int) -> list[int]:
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return np.argsort(-(unit @ unit[row]))[:k].tolist()


def _dot(embeddings: np.ndarray, row: int, k: int) -> list[int]:
    scores = embeddings @ embeddings[row]
    scores[row] = -np.inf
    return np.argsort(-scores)[:k].tolist()


def _ascending(embeddings: np.ndarray, row: int, k: int) -> list[int]:
    return related_papers(embeddings, row, k)[::-1]


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_with_self, "the paper itself is in your list"),
        (_dot, "dot product"),
        (_ascending, "most similar first"),
        (lambda e, r, k: related_papers(e, r, k + 1), "return k="),
        (lambda e, r, k: [(i, 1.0) for i in related_papers(e, r, k)], "not (row, score) pairs"),
        (lambda e, r, k: [(r + 1 + i) % len(e) for i in range(k)], "not the k most similar"),
    ],
)
def test_related_papers_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("05.5", answer, fragment)


# --- 05.6 statements ---------------------------------------------------------------------------


def test_adapter_statements(capsys: pytest.CaptureFixture[str]) -> None:
    accepted("05.6", "abdf", capsys)
    accepted("05.6", set("ABDF"), capsys)
    for answer in ["abd", "abcdf", "c", "e"]:
        rejected("05.6", answer)
    rejected("05.6", "abd", "you missed a true statement")
    rejected("05.6", "abdef", "one of your letters is a false statement")
    rejected("05.6", "az", "use only the letters")
    rejected("05.6", 3, "answer with letters")


# --- 05.7 add, train and switch an adapter (the course's MiniLM, a real training run) ----------


def adapt(
    model: Any,
    pairs: list,
    name: str,
    *,
    freeze: bool = True,
    train: bool = True,
    active: bool = True,
    config: str = "seq_bn",
    call: str | None = None,
) -> Any:
    import tempfile

    import adapters
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    inner = model[0].auto_model
    adapters.init(inner)
    inner.add_adapter(call or name, config=config)
    if freeze:
        inner.train_adapter(call or name)
    if train:
        data = Dataset.from_dict(
            {"anchor": [a for a, _ in pairs], "positive": [b for _, b in pairs]}
        )
        arguments = SentenceTransformerTrainingArguments(
            output_dir=tempfile.mkdtemp(),
            num_train_epochs=1,
            per_device_train_batch_size=4,
            learning_rate=1e-3,
            report_to="none",
            save_strategy="no",
            disable_tqdm=True,
        )
        SentenceTransformerTrainer(
            model=model,
            args=arguments,
            train_dataset=data,
            loss=MultipleNegativesRankingLoss(model),
        ).train()
    if not active:
        inner.set_active_adapters(None)
    return model


@pytest.mark.filterwarnings("ignore")
def test_adapt_right_answer_passes(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("adapters")
    from rerank_lab.exercises import check

    for _ in range(2):  # each check trains for real: two draws, not accepted()'s five
        assert check("05.7", adapt) is True
    assert "✓ 05.7 correct: " in capsys.readouterr().out  # after the trainer's own summary


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"freeze": False}, "call train_adapter(name) before training"),
        ({"train": False}, "never trained"),
        ({"active": False}, "not active"),
        ({"config": "lora"}, 'config="seq_bn"'),
        ({"call": "demo"}, "no adapter called"),
    ],
)
def test_adapt_mistakes_get_hints(options: dict, fragment: str) -> None:
    pytest.importorskip("adapters")
    rejected("05.7", lambda m, p, n: adapt(m, p, n, **options), fragment)


def test_adapt_must_return_the_model() -> None:
    pytest.importorskip("adapters")
    rejected("05.7", lambda m, p, n: m[0].auto_model, "return the model you were given")
