"""The exercise checkers: right answers pass in every form, wrong ones get a hint, not the answer.

Checkers draw fresh random inputs on every call, so each wrong answer is checked several times:
its hint must be the specific one every time, not only on a lucky draw.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_checks import accepted, rejected

from rerank_lab import exercises
from rerank_lab.exercises import EXERCISES, ExerciseError, check

IDS = ["01.1", "01.2", "01.3", "01.4", "01.5", "01.6"]
IDS += ["02.1", "02.2", "02.3", "02.4", "02.5", "02.6", "02.7", "02.8"]
FUNCTION_IDS = ["01.1", "01.2", "01.3", "01.4", "02.1", "02.2", "02.3", "02.8"]


# --- The registry and the shared behaviour ------------------------------------------------------


def test_every_exercise_is_registered_with_a_title_and_a_question() -> None:
    assert [exercise_id for exercise_id in EXERCISES if exercise_id < "03"] == IDS  # 03+: own file
    for exercise_id, exercise in EXERCISES.items():
        assert exercise.id == exercise_id
        assert callable(exercise)
        assert exercise.title.strip() and exercise.question.strip()


def test_an_unknown_id_raises_a_key_error_listing_the_valid_ids() -> None:
    for lookup in (lambda: check("01.9", 1), lambda: EXERCISES["1.1"]):
        with pytest.raises(KeyError) as caught:
            lookup()
        assert all(exercise_id in str(caught.value) for exercise_id in IDS)


def test_exercise_error_is_an_assertion_error() -> None:
    assert issubclass(ExerciseError, AssertionError)


def test_registering_an_id_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        exercises.exercise("01.1", title="again", question="?")(lambda answer: "ok")


def test_importing_the_module_does_not_import_torch() -> None:
    code = "import sys, rerank_lab.exercises; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("exercise_id", IDS)
@pytest.mark.parametrize("placeholder", [..., None])
def test_placeholders_fail(exercise_id: str, placeholder: Any) -> None:
    rejected(exercise_id, placeholder, "no answer yet")


def _returns_nothing(*args: Any) -> None: ...


def _returns_ellipsis(*args: Any) -> Any:
    return ...


def _not_implemented(*args: Any) -> Any:
    raise NotImplementedError


@pytest.mark.parametrize("exercise_id", FUNCTION_IDS)
@pytest.mark.parametrize(
    ("unfinished", "fragment"),
    [
        (_returns_nothing, "returned None"),
        (_returns_ellipsis, "still returns `...`"),
        (_not_implemented, "not written yet"),
    ],
)
def test_unfinished_functions_fail(
    exercise_id: str, unfinished: Callable[..., Any], fragment: str
) -> None:
    rejected(exercise_id, unfinished, fragment)


@pytest.mark.parametrize("exercise_id", FUNCTION_IDS)
def test_a_crashing_function_fails_with_its_error_chained(exercise_id: str) -> None:
    def crashes(*args: Any) -> Any:
        raise ValueError("boom")

    with pytest.raises(ExerciseError, match="your function raised ValueError: boom") as caught:
        check(exercise_id, crashes)
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize("exercise_id", FUNCTION_IDS)
def test_a_value_instead_of_a_function_fails(exercise_id: str) -> None:
    rejected(exercise_id, 0.5, "itself")


# --- 01.1 cosine similarity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "cosine",
    [
        lambda a, b: a @ b / (a.norm() * b.norm()),
        lambda a, b: (torch.dot(a, b) / (torch.linalg.norm(a) * torch.linalg.norm(b))).item(),
        lambda a, b: F.cosine_similarity(a, b, dim=0),
        lambda a, b: F.cosine_similarity(a.unsqueeze(0), b.unsqueeze(0)),  # shape (1,)
        lambda a, b: F.normalize(a, dim=0) @ F.normalize(b, dim=0),
        lambda a, b: np.dot(a.numpy(), b.numpy()) / np.linalg.norm(a) / np.linalg.norm(b),
    ],
)
def test_cosine_right_answers_pass(cosine: Callable, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("01.1", cosine, capsys)


@pytest.mark.parametrize(
    ("cosine", "fragment"),
    [
        (lambda a, b: a @ b, "lengths"),
        (lambda a, b: torch.dot(a, b).item(), "lengths"),
        (lambda a, b: a * b, "single number"),
        (lambda a, b: F.cosine_similarity(a[None], b[None], dim=0), "single number"),
        (lambda a, b: a @ b / a.norm(), "angle"),
        (lambda a, b: 1 - a @ b / (a.norm() * b.norm()), "angle"),
        (lambda a, b: 1.0, "angle"),
        (lambda a, b: "0.5", "numbers"),
    ],
)
def test_cosine_wrong_answers_get_hints(cosine: Callable, fragment: str) -> None:
    rejected("01.1", cosine, fragment)


# --- 01.2 max pooling ---------------------------------------------------------------------------


def _max_pool(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return tokens.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).max(dim=1).values


def _max_pool_loop(tokens: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    return [s[: int(n)].max(0).values for s, n in zip(tokens, mask.sum(1), strict=True)]


def _max_pool_smallest_float(tokens: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    values = np.where(mask.numpy()[..., None] == 1, tokens.numpy(), np.finfo(np.float64).min)
    return values.max(axis=1)


@pytest.mark.parametrize(
    "max_pool",
    [
        _max_pool,
        lambda t, m: _max_pool(t, m).numpy(),
        lambda t, m: _max_pool(t, m).tolist(),
        _max_pool_loop,
        _max_pool_smallest_float,
        lambda t, m: (t - 1e9 * (1 - m[..., None])).max(1).values,
    ],
)
def test_max_pool_right_answers_pass(
    max_pool: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("01.2", max_pool, capsys)


@pytest.mark.parametrize(
    ("max_pool", "fragment"),
    [
        (lambda t, m: t.max(1).values, "padding wins"),
        (lambda t, m: (t * m[..., None]).max(1).values, "real tokens can be negative"),
        (lambda t, m: (t * m[..., None]).sum(1) / m.sum(1, keepdim=True), "mean pooling"),
        (lambda t, m: t[:, 0], "first ([CLS]) token"),
        (lambda t, m: t.max(0).values, "one vector per sentence"),
        (lambda t, m: t.max(2).values, "one vector per sentence"),
        (lambda t, m: _max_pool(t, m) + 1, "largest value over a sentence's real tokens"),
    ],
)
def test_max_pool_wrong_answers_get_hints(max_pool: Callable, fragment: str) -> None:
    rejected("01.2", max_pool, fragment)


# --- 01.3 top-k ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "top_k",
    [
        lambda scores, k: torch.topk(scores, k, dim=1).indices,
        lambda scores, k: scores.topk(k).indices.tolist(),
        lambda scores, k: torch.argsort(scores, dim=1, descending=True)[:, :k],
        lambda scores, k: np.argsort(-scores.numpy(), axis=1)[:, :k],
        lambda scores, k: [row.topk(k).indices for row in scores],
        lambda scores, k: tuple(tuple(row.argsort(descending=True)[:k].tolist()) for row in scores),
        lambda scores, k: [np.argsort(row.numpy())[::-1][:k] for row in scores],
        lambda scores, k: scores.topk(k).indices.double(),  # whole numbers, even as floats
    ],
)
def test_top_k_right_answers_pass(top_k: Callable, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("01.3", top_k, capsys)


@pytest.mark.parametrize(
    ("top_k", "fragment"),
    [
        (lambda scores, k: scores.topk(k, largest=False).indices, "ascending"),
        (lambda scores, k: scores.argsort(dim=1)[:, -k:], "ascending"),
        (lambda scores, k: scores.argsort(dim=1)[:, :k], "ascending"),
        (lambda scores, k: scores.argsort(dim=1, descending=True)[:, : k + 1], "off by one"),
        (lambda scores, k: scores.argsort(dim=1, descending=True)[:, : k - 1], "off by one"),
        (lambda scores, k: scores.argsort(dim=1, descending=True), "exactly k"),
        (lambda scores, k: scores.topk(k, dim=0).indices, "rows are queries"),
        (lambda scores, k: scores.T.topk(k).indices, "rows are queries"),
        (lambda scores, k: scores.topk(k).values, "scores, perhaps"),
        (lambda scores, k: scores.topk(k), "both the scores and the indices"),
        (lambda scores, k: scores.topk(k).indices.flatten(), "one list of k indices per query"),
        (lambda scores, k: [[0] * k for _ in scores], "highest-scoring"),
        (lambda scores, k: [sorted(row.tolist()) for row in scores.topk(k).indices], "first"),
        (lambda scores, k: scores.topk(k).indices[:-1], "one per query"),
    ],
)
def test_top_k_wrong_answers_get_hints(top_k: Callable, fragment: str) -> None:
    rejected("01.3", top_k, fragment)


# --- 01.4 MRR@k --------------------------------------------------------------------------------


def _mrr(runs: dict, qrels: dict, k: int) -> float:
    total = 0.0
    for query, ranked in runs.items():
        for rank, doc in enumerate(ranked[:k], start=1):
            if qrels[query].get(doc, 0) >= 1:
                total += 1 / rank
                break
    return total / len(runs)


def _mrr_wrong(
    *,
    start: int = 1,
    cut: bool = True,
    relevant: Callable[[int], bool] = lambda grade: grade >= 1,
    only_found: bool = False,
    every: bool = False,
) -> Callable[[dict, dict, int], float]:
    """A learner's MRR written independently of the checker's, with one mistake switched on."""

    def mrr(runs: dict, qrels: dict, k: int) -> float:
        scores = []
        for query, ranked in runs.items():
            grades = qrels[query]
            found = [
                1 / rank
                for rank, doc in enumerate(ranked[:k] if cut else ranked, start=start)
                if doc in grades and relevant(grades[doc])
            ]
            if found:
                scores.append(sum(found) if every else found[0])
            elif not only_found:
                scores.append(0.0)
        return sum(scores) / len(scores)

    return mrr


def _mrr_per_query(runs: dict, qrels: dict, k: int) -> dict:
    return {query: _mrr({query: ranked}, qrels, k) for query, ranked in runs.items()}


def test_the_reference_agrees_with_trec_eval() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = np.random.default_rng(0)
    for case in range(30):
        runs, qrels = {}, {}
        ids = [f"doc{n}" for n in rng.choice(500, size=40, replace=False)]
        for number in range(5):
            runs[f"q{number}"] = list(rng.choice(ids, size=15, replace=False))
            qrels[f"q{number}"] = {d: int(rng.integers(0, 3)) for d in rng.choice(ids, 8)}
        k = int(rng.choice([3, 5, 10]))
        trec_runs = {
            q: {d: float(len(r) - i) for i, d in enumerate(r[:k])} for q, r in runs.items()
        }
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
        per_query = evaluator.evaluate(trec_runs)
        expected = np.mean([per_query[q]["recip_rank"] for q in runs])
        assert exercises._mrr_reference(runs, qrels, k) == pytest.approx(expected), case


@pytest.mark.parametrize(
    "mrr_at_k",
    [
        _mrr,
        _mrr_wrong(),  # the mistake-free version of the learner-style implementation
        lambda runs, qrels, k: torch.tensor(_mrr(runs, qrels, k)),
        lambda runs, qrels, k: np.float32(_mrr(runs, qrels, k)),
    ],
)
def test_mrr_right_answers_pass(mrr_at_k: Callable, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("01.4", mrr_at_k, capsys)


@pytest.mark.parametrize(
    ("mrr_at_k", "fragment"),
    [
        (_mrr_wrong(start=0), "ranks count from 1"),
        (_mrr_wrong(start=2), "the top document is rank 1"),
        (_mrr_wrong(cut=False), "only the top k"),
        (_mrr_wrong(relevant=lambda grade: True), "judged 0 is not relevant"),
        (_mrr_wrong(only_found=True), "still counts in the mean"),
        (_mrr_wrong(every=True), "the first one only"),
        (lambda runs, qrels, k: 0.5, "not MRR@k yet"),
        (_mrr_per_query, "return their mean"),
        (lambda runs, qrels, k: _mrr(runs, {q: {} for q in runs} | qrels, k) * 2, "MRR@k yet"),
    ],
)
def test_mrr_wrong_answers_get_hints(mrr_at_k: Callable, fragment: str) -> None:
    rejected("01.4", mrr_at_k, fragment)


# --- 01.5 the cost of a bi-encoder --------------------------------------------------------------

RIGHT_COUNT_SPELLINGS = ("30000", "30,000", "30 000", "30_000", "30.000")


@pytest.mark.parametrize(
    "answer",
    [30000, 30_000, 30000.0, np.int64(30000), torch.tensor(30000), "30000", "30,000", " 30 000 "],
)
def test_bi_encoder_cost_right_answers_pass(
    answer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted("01.5", answer, capsys)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (449985000, "counts pairs"),
        (899970000, "counts pairs"),
        (900000000, "counts pairs"),
        ("900,000,000", "counts pairs"),
        (9e8, "counts pairs"),
        (60000, "count the model runs"),
        (1, "count the model runs"),
        (30000.5, "count the model runs"),
        ("thirty thousand", "with a number"),
        (True, "numbers"),
        ([30000, 1], "single number"),
    ],
)
def test_bi_encoder_cost_wrong_answers_get_hints(answer: Any, fragment: str) -> None:
    rejected("01.5", answer, fragment, forbidden=RIGHT_COUNT_SPELLINGS)


# --- 01.6 symmetric or asymmetric ---------------------------------------------------------------


@pytest.mark.parametrize("answer", ["a", "A", " a ", "a)", "(a)", "a."])
def test_asymmetric_right_answers_pass(answer: str, capsys: pytest.CaptureFixture[str]) -> None:
    accepted("01.6", answer, capsys)


@pytest.mark.parametrize("answer", ["b", "c", "B)", " c "])
def test_asymmetric_wrong_choices_get_a_hint(answer: str) -> None:
    rejected("01.6", answer, "same kind of text", forbidden=("'a'", "a)", "(a", "answer is"))


@pytest.mark.parametrize("answer", ["d", "", "ab", 1, ["a"]])
def test_asymmetric_answers_that_are_no_choice_list_the_choices(answer: Any) -> None:
    rejected("01.6", answer, "one of the letters a, b, c")


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
    assert exercises._minilm_tokenizer.cache_info().misses == 1


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
