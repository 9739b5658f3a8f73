"""The checkers of notebook 02 (cross-encoders): right answers pass in every form, wrong ones
get their specific hint on every random draw, never the answer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from exercise_checks import accepted, rejected

from rerank_lab.exercises import EXERCISES, ExerciseError, check
from rerank_lab.exercises.cross_encoders import _minilm_tokenizer

IDS = ["01.1", "01.2", "01.3", "01.4", "01.5", "01.6"]
IDS += ["02.1", "02.2", "02.3", "02.4", "02.5", "02.6", "02.7", "02.8"]
FUNCTION_IDS = ["01.1", "01.2", "01.3", "01.4", "02.1", "02.2", "02.3", "02.8"]


# --- 02.1 probabilities from logits -------------------------------------------------------------


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


@pytest.mark.parametrize(
    "to_probability",
    [
        _sigmoid,
        lambda logits: torch.sigmoid(torch.from_numpy(logits)),
        lambda logits: torch.sigmoid(torch.tensor(logits)).tolist(),
        lambda logits: torch.nn.Sigmoid()(torch.from_numpy(logits)).numpy(),
        lambda logits: [1 / (1 + math.exp(-x)) for x in logits],
        lambda logits: tuple(math.exp(x) / (1 + math.exp(x)) for x in logits),
        lambda logits: np.exp(logits) / (1 + np.exp(logits)),
        lambda logits: torch.sigmoid(torch.from_numpy(logits)).unsqueeze(1),  # shape (n, 1)
    ],
)
def test_to_probability_right_answers_pass(
    to_probability: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("02.1", to_probability, capsys)


@pytest.mark.parametrize(
    ("to_probability", "fragment"),
    [
        (lambda logits: np.exp(logits) / np.exp(logits).sum(), "that is a softmax"),
        (lambda logits: torch.softmax(torch.from_numpy(logits), dim=0), "that is a softmax"),
        (np.exp, "exp alone"),
        (lambda logits: torch.exp(torch.from_numpy(logits)).tolist(), "exp alone"),
        (lambda logits: logits, "the logits themselves"),
        (lambda logits: list(logits), "the logits themselves"),
        (lambda logits: 1 / (1 + np.exp(logits)), "the wrong way"),
        (lambda logits: torch.sigmoid(logits), "torch.from_numpy"),
        (lambda logits: math.exp(logits), "one number at a time"),
        (np.tanh, "not between 0 and 1"),
        (lambda logits: (np.tanh(logits) + 1) / 2, "not the logistic sigmoid of each logit"),
        (lambda logits: _sigmoid(logits)[:-1], "one per logit"),
        (lambda logits: float(_sigmoid(logits).mean()), "one per logit"),
        (lambda logits: ["0.5"] * len(logits), "numbers"),
    ],
)
def test_to_probability_wrong_answers_get_hints(to_probability: Callable, fragment: str) -> None:
    rejected("02.1", to_probability, fragment, forbidden=("1 / (1 + ", "exp(-", "1/(1+"))


# --- 02.2 rank passages by score ----------------------------------------------------------------


def _best_first(scores: np.ndarray) -> list[int]:
    return [int(index) for index in np.argsort(-scores)]


@pytest.mark.parametrize(
    "rank_by_scores",
    [
        lambda passages, scores, k: [passages[i] for i in _best_first(scores)[:k]],
        lambda passages, scores, k: [
            text for _, text in sorted(zip(scores, passages, strict=True))
        ][::-1][:k],
        lambda passages, scores, k: tuple(
            passages[int(i)] for i in torch.topk(torch.from_numpy(scores), k).indices
        ),
        lambda passages, scores, k: np.array(passages)[np.argsort(scores)[::-1][:k]],
        lambda passages, scores, k: sorted(
            passages, key=lambda text: scores[passages.index(text)], reverse=True
        )[:k],
    ],
)
def test_rank_by_scores_right_answers_pass(
    rank_by_scores: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("02.2", rank_by_scores, capsys)


def _rotated_best(passages: list[str], scores: np.ndarray, k: int) -> list[str]:
    best = [passages[i] for i in _best_first(scores)[:k]]
    return best[1:] + best[:1]


@pytest.mark.parametrize(
    ("rank_by_scores", "fragment"),
    [
        (lambda p, s, k: [p[i] for i in np.argsort(s)[:k]], "ascending"),
        (lambda p, s, k: [p[i] for i in np.argsort(s)[-k:]], "ascending"),
        (lambda p, s, k: list(np.argsort(-s)[:k]), "positions in the list"),
        (lambda p, s, k: torch.topk(torch.from_numpy(s), k).indices, "positions in the list"),
        (lambda p, s, k: [p[i] for i in _best_first(s)], "only the k best"),
        (lambda p, s, k: sorted(s, reverse=True)[:k], "scores, perhaps"),
        (
            lambda p, s, k: sorted(zip(p, s, strict=True), key=lambda pair: -pair[1])[:k],
            "(passage, score) pairs",
        ),
        (
            lambda p, s, k: [{"corpus_id": i, "score": s[i]} for i in _best_first(s)[:k]],
            "dictionaries",
        ),
        (lambda p, s, k: [p[i] for i in _best_first(s)[: k + 1]], "off by one"),
        (lambda p, s, k: p[int(np.argmax(s))], "not one string"),
        (_rotated_best, "not best first"),
        # scores[i] read as the score of passages[i + 1]: never the right set while k < n
        (lambda p, s, k: [p[(i + 1) % len(p)] for i in _best_first(s)[:k]], "highest-scoring"),
    ],
)
def test_rank_by_scores_wrong_answers_get_hints(rank_by_scores: Callable, fragment: str) -> None:
    rejected("02.2", rank_by_scores, fragment)


# --- 02.3 the cross-encoder's input -------------------------------------------------------------


def _words(tok: Any, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(
    "pair_input_ids",
    [
        lambda tok, q, p: tok(q, p)["input_ids"],
        lambda tok, q, p: tok.encode(q, p),
        lambda tok, q, p: tok(q, p, return_tensors="pt")["input_ids"],  # a batch of one
        lambda tok, q, p: tok(q, p, return_tensors="pt").input_ids[0],
        lambda tok, q, p: tok(q, p, return_tensors="np")["input_ids"],
        lambda tok, q, p: tok([(q, p)])["input_ids"],
        lambda tok, q, p: (
            [tok.cls_token_id, *_words(tok, q), tok.sep_token_id]
            + [*_words(tok, p), tok.sep_token_id]
        ),
        lambda tok, q, p: tok.convert_tokens_to_ids(
            ["[CLS]", *tok.tokenize(q), "[SEP]", *tok.tokenize(p), "[SEP]"]
        ),
        lambda tok, q, p: tok(f"{q} [SEP] {p}")["input_ids"],
    ],
)
def test_pair_input_ids_right_answers_pass(
    pair_input_ids: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("02.3", pair_input_ids, capsys)


@pytest.mark.parametrize(
    ("pair_input_ids", "fragment"),
    [
        (lambda tok, q, p: _words(tok, q) + _words(tok, p), "no special tokens"),
        (lambda tok, q, p: tok(q + " " + p)["input_ids"], "only one [SEP]"),
        (
            lambda tok, q, p: [
                tok.cls_token_id,
                *_words(tok, q),
                tok.sep_token_id,
                *_words(tok, p),
            ],
            "only one [SEP]",
        ),
        (lambda tok, q, p: tok(p, q)["input_ids"], "passage before the query"),
        (lambda tok, q, p: tok.encode(p, q), "passage before the query"),
        (lambda tok, q, p: tok(q)["input_ids"] + tok(p)["input_ids"], "2 [CLS] tokens"),
        (
            lambda tok, q, p: (
                [tok.cls_token_id, *_words(tok, q), *_words(tok, p)] + [tok.sep_token_id] * 2
            ),
            "not where the model expects them",
        ),
        (lambda tok, q, p: tok(q, p), "whole encoding"),
        (lambda tok, q, p: tok.tokenize(q) + tok.tokenize(p), "tokens (strings"),
        (lambda tok, q, p: tok([q, p])["input_ids"], "two sequences"),
        (lambda tok, q, p: tok(q)["input_ids"], "only the query"),
        (lambda tok, q, p: tok(q, p)["token_type_ids"], "token_type_ids"),
        (
            lambda tok, q, p: tok(q, p, padding="max_length", max_length=64)["input_ids"],
            "padding",
        ),
        (lambda tok, q, p: tok(q, p)["input_ids"][::-1], "not the ones the tokenizer gives"),
    ],
)
def test_pair_input_ids_wrong_answers_get_hints(pair_input_ids: Callable, fragment: str) -> None:
    rejected("02.3", pair_input_ids, fragment, forbidden=("tokenizer(query, passage)",))


def test_the_tokenizer_is_loaded_once() -> None:
    check("02.3", lambda tok, q, p: tok(q, p)["input_ids"])
    check("02.3", lambda tok, q, p: tok.encode(q, p))
    assert _minilm_tokenizer.cache_info().misses == 1


# --- 02.4 the cost of a cross-encoder -----------------------------------------------------------

PAIR_COUNTS = {449_985_000: "unordered pair", 899_970_000: "ordered pair", 900_000_000: "itself"}
PAIR_COUNT_SPELLINGS = tuple(
    spelling
    for count in PAIR_COUNTS
    for spelling in (str(count), f"{count:,}", f"{count:_}", f"{count:,}".replace(",", " "))
)


@pytest.mark.parametrize(
    "answer",
    [
        449985000,
        449_985_000,
        "449,985,000",
        "449_985_000",
        4.49985e8,
        np.int64(899970000),
        "899 970 000",
        900000000,
        9e8,
        torch.tensor(900000000),
        np.float64(9e8),
    ],
)
def test_cross_encoder_cost_right_answers_pass(
    answer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("02.4", answer, capsys)


@pytest.mark.parametrize(("count", "reading"), PAIR_COUNTS.items())
def test_cross_encoder_cost_confirmation_names_the_reading(
    count: int, reading: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check("02.4", count)
    assert reading in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (30000, "the bi-encoder's count"),
        ("30,000", "the bi-encoder's count"),
        (450_000_000, "count the pairs exactly"),
        (60000, "Count those pairs"),
        (29999, "Count those pairs"),
        (449985000.5, "Count those pairs"),
        (4_999_950_000, "Count those pairs"),  # the source's 100,000-sentence count
        ("lots", "with a number"),
        (True, "numbers"),
    ],
)
def test_cross_encoder_cost_wrong_answers_get_hints(answer: Any, fragment: str) -> None:
    rejected("02.4", answer, fragment, forbidden=PAIR_COUNT_SPELLINGS)


# --- 02.5 the steps of retrieve and re-rank -----------------------------------------------------

PIPELINE_SPELLINGS = ("bdace", "b, d, a, c, e", "b d a c e")


@pytest.mark.parametrize(
    "answer",
    [
        "bdace",
        "BDACE",
        " b d a c e ",
        "b, d, a, c, e",
        "b -> d -> a -> c -> e",
        "b→d→a→c→e",
        ["b", "d", "a", "c", "e"],
        ("b)", "d)", "A", "c", "E"),
    ],
)
def test_pipeline_right_answers_pass(answer: Any, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("02.5", answer, capsys)


def test_every_wrong_order_is_rejected_without_the_answer() -> None:
    import itertools

    for order in itertools.permutations("abcde"):
        if "".join(order) != "bdace":
            with pytest.raises(ExerciseError) as caught:
                check("02.5", list(order))
            assert not any(spelling in str(caught.value) for spelling in PIPELINE_SPELLINGS)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ("dbace", "already exist when a query arrives"),
        ("badce", "before retrieval"),
        ("abcde", "before retrieval"),
        ("bdcae", "not been computed yet"),
        ("bdaec", "what comes last"),
        ("bdac", "missing e"),
        ("bdacee", "exactly once"),
        ({"b", "d", "a", "c", "e"}, "a set has no order"),
        ("bdacf", "'f' is not one of them"),
        (12345, "answer with letters"),
    ],
)
def test_pipeline_wrong_answers_get_hints(answer: Any, fragment: str) -> None:
    rejected("02.5", answer, fragment, forbidden=PIPELINE_SPELLINGS)


# --- 02.6 and 02.7 which statements are true ----------------------------------------------------


def test_the_choice_questions_list_every_letter() -> None:
    for exercise_id, letters in (("02.5", "abcde"), ("02.6", "abcdef"), ("02.7", "abcdef")):
        question = EXERCISES[exercise_id].question
        assert all(f"  {letter}) " in question for letter in letters), exercise_id


@pytest.mark.parametrize(
    "answer",
    ["ade", "ADE", "a, d, e", "e d a", ["a", "d", "e"], ("e", "a", "d"), {"a", "d", "e"}],
)
def test_encoder_statements_right_answers_pass(
    answer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("02.6", answer, capsys)
    accepted("02.6", frozenset("ade"), capsys)


@pytest.mark.parametrize(
    ("answer", "fragments"),
    [
        ("adeb", ("one of your letters is a false statement",)),
        ("ad", ("you missed a true statement",)),
        ({"a", "b"}, ("one of your letters is a false statement", "you missed 2 true")),
        ("bcf", ("3 of your letters are false statements", "you missed 3 true statements")),
        ("abcdef", ("3 of your letters are false statements",)),
        ("", ("at least one letter",)),
        ("g", ("'g' is not one of them",)),
        (1, ("answer with letters",)),
    ],
)
def test_encoder_statements_wrong_answers_get_hints(answer: Any, fragments: tuple[str]) -> None:
    rejected("02.6", answer, *fragments, forbidden=("ade", "a, d", "'d'", "'e'"))


@pytest.mark.parametrize("answer", ["bde", "B, D, E", ["d", "b", "e"], {"e", "b", "d"}])
def test_improvements_right_answers_pass(answer: Any, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("02.7", answer, capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ("bd", "you missed a technique that does"),
        ("abde", "one of your letters does not improve a bi-encoder"),
        ("acf", "3 of your letters do not improve a bi-encoder"),
        (["b", "x"], "'x' is not one of them"),
    ],
)
def test_improvements_wrong_answers_get_hints(answer: Any, fragment: str) -> None:
    rejected("02.7", answer, fragment, forbidden=("bde", "b, d", "'b'", "'d'"))


# --- 02.8 re-rank with a real cross-encoder ----------------------------------------------------

_LOGITS = torch.nn.Identity()


def rerank_with_predict(model: Any, query: str, passages: list[str], k: int) -> list:
    scores = model.predict([(query, p) for p in passages], activation_fn=_LOGITS)
    order = np.argsort(-scores)[:k]
    return [(passages[i], float(scores[i])) for i in order]


def rerank_with_rank(model: Any, query: str, passages: list[str], k: int) -> list:
    hits = model.rank(query, passages, top_k=k, activation_fn=_LOGITS)
    return [(passages[hit["corpus_id"]], hit["score"]) for hit in hits]


@pytest.mark.parametrize("answer", [rerank_with_predict, rerank_with_rank])
def test_rerank_with_a_model_right_answers_pass(
    answer: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("02.8", answer, capsys)


def _probabilities(model: Any, query: str, passages: list[str], k: int) -> list:
    scores = model.predict([(query, p) for p in passages], activation_fn=torch.nn.Sigmoid())
    return [(passages[i], float(scores[i])) for i in np.argsort(-scores)[:k]]


def _ascending(model: Any, query: str, passages: list[str], k: int) -> list:
    scores = model.predict([(query, p) for p in passages], activation_fn=_LOGITS)
    return [(passages[i], float(scores[i])) for i in np.argsort(scores)[:k]]


def _swapped(model: Any, query: str, passages: list[str], k: int) -> list:
    scores = model.predict([(p, query) for p in passages], activation_fn=_LOGITS)
    return [(passages[i], float(scores[i])) for i in np.argsort(-scores)[:k]]


def _unsorted(model: Any, query: str, passages: list[str], k: int) -> list:
    best = rerank_with_predict(model, query, passages, k)
    return best[::-1]


def _misaligned(model: Any, query: str, passages: list[str], k: int) -> list:
    scores = model.predict([(query, p) for p in passages], activation_fn=_LOGITS)
    order = np.argsort(-scores)[:k]
    return [(passages[i], float(s)) for i, s in zip(order, sorted(scores)[:k], strict=True)]


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (_probabilities, "activation_fn=torch.nn.Identity()"),
        (_ascending, "lowest"),
        (_swapped, "wrong way round"),
        (_unsorted, "wrong order"),
        (_misaligned, "keep each score with its own passage"),
        (lambda model, query, passages, k: passages[:k], "(passage, logit) tuple"),
        (
            lambda model, query, passages, k: rerank_with_predict(model, query, passages, k + 1),
            "exactly",
        ),
        (
            lambda model, query, passages, k: model.rank(query, passages, top_k=k),
            "turn each into a tuple",
        ),
    ],
)
def test_rerank_with_a_model_mistakes_get_hints(answer: Callable, fragment: str) -> None:
    rejected("02.8", answer, fragment)
