"""Checkers of notebook 02 (cross-encoders): logits, ranking, the pair input, costs, pipeline."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from rerank_lab.exercises.bi_encoders import _SENTENCES
from rerank_lab.exercises.core import (
    TOLERANCE,
    ExerciseError,
    _as_count,
    _as_int_list,
    _call,
    _check_true_statements,
    _describe,
    _letters,
    _require_function,
    _statements_question,
    _to_numpy,
    exercise,
)


@exercise(
    "02.1",
    title="Probabilities from logits",
    question=(
        "An MS MARCO cross-encoder gives each (query, passage) pair a logit: any real number, "
        "higher meaning more relevant. Write `to_probability(logits)`: logits is a 1-D NumPy "
        "array of floats (what CrossEncoder.predict returns). Return one probability between 0 "
        "and 1 per logit, computed with the logistic sigmoid (a list, a NumPy array or a torch "
        "tensor of the same length)."
    ),
)
def _check_to_probability(answer: Any) -> str:
    to_probability = _require_function(answer, "to_probability")
    rng = np.random.default_rng()
    spread = rng.uniform(-10.0, 10.0, size=7)
    spread[:2] = rng.uniform(2.0, 10.0), rng.uniform(-10.0, -2.0)  # clearly relevant, and not
    spread[2] = rng.uniform(-1.0, 1.0)  # a toss-up: no squashing function saturates on it
    opposite = float(rng.uniform(0.5, 4.0))
    cases = [
        ("seven logits between -10 and 10", spread),
        ("the logits (x, 0, -x)", np.array([opposite, 0.0, -opposite])),
        ("a single logit", rng.uniform(-3.0, 3.0, size=1)),
    ]
    for description, logits in cases:
        logits = logits.astype(np.float32)  # CrossEncoder.predict returns float32
        x = logits.astype(np.float64)
        expected = 1.0 / (1.0 + np.exp(-x))
        result = _call(
            to_probability,
            logits,
            crash_hints={
                TypeError: "logits arrives as a NumPy array: torch functions need it turned into "
                "a tensor first (torch.from_numpy), and math.exp takes one number at a time"
            },
        )
        got = _to_numpy(result, "to_probability(logits)")
        if got.size != len(x) or max(got.shape, default=1) != got.size:
            raise ExerciseError(
                f"for {len(x)} logits, to_probability should return {len(x)} probabilities (one "
                f"per logit, in the same order), not {_describe(result)}."
            )
        got = got.reshape(-1).astype(np.float64)
        if np.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE):
            continue
        mistakes = [
            (
                x,
                "these are the logits themselves, unchanged. A logit can be any real number; a "
                "probability lies between 0 and 1: squash each logit with the logistic sigmoid.",
            ),
            (
                np.exp(x),
                "exp alone makes a logit positive, but not at most 1: large logits give values "
                "far above 1. The logistic sigmoid squashes every real number into (0, 1).",
            ),
            (
                1.0 / (1.0 + np.exp(x)),
                "your probabilities go the wrong way: a higher logit (more relevant) must give a "
                "higher probability. Check the sign inside your function.",
            ),
        ]
        for wrong, hint in mistakes:
            if np.allclose(got, wrong, rtol=TOLERANCE, atol=TOLERANCE):
                raise ExerciseError(hint)
        # Outside [0, 1] first: saturated values (tanh) can sum to 1 by chance.
        if np.any((got < 0.0) | (got > 1.0)) or not np.all(np.isfinite(got)):
            raise ExerciseError(
                f"for {description}, some of your values are not between 0 and 1, so they "
                "cannot be probabilities."
            )
        # A softmax sums to 1; so can saturated values of another squashing function, by chance
        # (one logit far above zero, the others far below): compare with the softmax itself.
        softmax = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
        if np.allclose(got, softmax, rtol=TOLERANCE, atol=TOLERANCE) and not math.isclose(
            expected.sum(), 1.0, abs_tol=TOLERANCE
        ):
            raise ExerciseError(
                "your probabilities sum to 1 over the whole list: that is a softmax, which makes "
                "the passages compete with each other. Each logit is a separate yes/no judgement "
                "of one (query, passage) pair: turn each into a probability on its own."
            )
        raise ExerciseError(
            f"for {description}, your values are between 0 and 1 but are not the logistic "
            "sigmoid of each logit (a logit of 0 means 50/50, and the sigmoid of -x is 1 minus "
            "the sigmoid of x)."
        )
    return "the sigmoid turns each pair's logit into its own probability; the order is unchanged."


def _passage_texts(result: Any, what: str) -> list[str]:
    """The passages a learner returned as a list of strings; a hint for the usual other forms."""
    if isinstance(result, str):
        raise ExerciseError(f"{what} should be a list of passages, not one string.")
    if isinstance(result, np.ndarray) and result.dtype.kind in "UO":
        result = result.tolist()
    if isinstance(result, (list, tuple)):
        if all(isinstance(item, str) for item in result):
            return list(result)
        if all(isinstance(item, Mapping) for item in result):
            raise ExerciseError(
                f"{what} holds dictionaries (like CrossEncoder.rank's results); return the "
                "passages' texts themselves."
            )
        if all(
            isinstance(item, (list, tuple)) and any(isinstance(part, str) for part in item)
            for item in result
        ):
            raise ExerciseError(
                f"{what} holds (passage, score) pairs; return the passages' texts only."
            )
    try:
        numbers = _to_numpy(result, what)
    except ExerciseError:
        raise ExerciseError(
            f"{what} should be a list of passage texts (strings), not {_describe(result)}."
        ) from None
    if numbers.size and np.all(np.mod(numbers, 1) == 0):
        raise ExerciseError(
            f"{what} holds numbers such as {numbers.reshape(-1)[0]:g}: positions in the list "
            "rather than passages? Return the passages' texts themselves."
        )
    raise ExerciseError(
        f"{what} holds numbers such as {numbers.reshape(-1)[0]:.3f}: scores, perhaps? Return "
        "the passages' texts."
    )


def _ranking_case(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray, list[str]]:
    """``n`` passages, their scores (continuous: no ties) and the passages best first."""
    passages = [f"passage #{number}" for number in rng.choice(1000, size=n, replace=False)]
    scores = rng.uniform(-10.0, 10.0, size=n).astype(np.float32)
    order = [passages[index] for index in np.argsort(-scores.astype(np.float64))]
    return passages, scores, order


def _ascending_again(rank_by_scores: Any, n: int, k: int, rng: np.random.Generator) -> bool:
    """Whether the answer is ascending on a second draw too: a wrong answer of another kind can
    look ascending on one draw by chance, and then deserves its own hint."""
    passages, scores, order = _ranking_case(rng, n)
    got = _passage_texts(_call(rank_by_scores, passages, scores, k), "rank_by_scores")
    return got in (order[:k][::-1], order[::-1][:k])


@exercise(
    "02.2",
    title="Rank passages by cross-encoder score",
    question=(
        "Write `rank_by_scores(passages, scores, k)`: passages is a list of texts and scores a "
        "1-D NumPy array of their cross-encoder scores (scores[i] belongs to passages[i]). "
        "Return the texts of the k highest-scoring passages, best first (a list of strings)."
    ),
)
def _check_rank_by_scores(answer: Any) -> str:
    rank_by_scores = _require_function(answer, "rank_by_scores")
    rng = np.random.default_rng()
    # First a case with k < n, so that ignoring k shows.
    for n, k in ((9, 4), (6, 1), (5, 5), (12, 3)):
        passages, scores, order = _ranking_case(rng, n)
        expected = order[:k]
        result = _call(
            rank_by_scores,
            passages,
            scores,
            k,
            crash_hints={
                TypeError: "passages is a Python list: it takes one whole-number index at a time"
            },
        )
        got = _passage_texts(result, "rank_by_scores(passages, scores, k)")
        if got == expected:
            continue
        if len(got) == n and k < n:
            if got in (order, order[::-1]):
                raise ExerciseError(
                    f"you return all {n} passages: with k={k}, return only the k best."
                )
            raise ExerciseError(f"you return all {n} passages, but k={k}: return the k best.")
        if len(got) != k:
            raise ExerciseError(
                f"with k={k}, return exactly k passages, not {len(got)}"
                f"{' (off by one?)' if abs(len(got) - k) == 1 else ''}."
            )
        if got in (expected[::-1], order[::-1][:k]) and _ascending_again(rank_by_scores, n, k, rng):
            raise ExerciseError(
                "your order is ascending. A ranking lists the most relevant passage first: the "
                "highest cross-encoder score wins."
            )
        if sorted(got) == sorted(expected):
            raise ExerciseError("the right passages, but not best first: sort them by score.")
        raise ExerciseError(
            f"these are not the {k} highest-scoring passages (remember: scores[i] belongs to "
            "passages[i], and the passages come back as texts)."
        )
    return "the k passages with the highest cross-encoder scores, best first."


@lru_cache(maxsize=1)
def _minilm_tokenizer() -> tuple[Any, tuple[str, ...]]:
    """The course bi-encoder's (MiniLM, BERT uncased) tokenizer, and whole words of its vocabulary.

    Loaded on first use only (importing transformers takes seconds) and kept for the process.
    """
    from transformers import AutoTokenizer

    from rerank_lab.models import resolve

    tokenizer = AutoTokenizer.from_pretrained(resolve("bi-encoder").load_from)
    words = tuple(
        sorted(
            word
            for word in tokenizer.get_vocab()
            if word.isascii() and word.isalpha() and len(word) >= 3
        )
    )
    return tokenizer, words


def _token_ids(result: Any, what: str) -> list[int]:
    """Token ids a learner returned: a flat list/array/tensor, or a batch of one; else a hint."""
    if isinstance(result, Mapping):
        raise ExerciseError(
            f"{what} returns the tokenizer's whole encoding ({', '.join(map(str, result))}); "
            "return only its token ids."
        )
    if isinstance(result, (list, tuple)) and result and all(isinstance(t, str) for t in result):
        raise ExerciseError(
            f"{what} returns tokens (strings such as {result[0]!r}); the model reads their ids "
            "(numbers from the vocabulary)."
        )
    rows = (
        list(result)
        if isinstance(result, (list, tuple)) and result and not np.isscalar(result[0])
        else None
    )
    if rows is not None and all(np.ndim(row) == 0 for row in rows):
        rows = None  # a flat list of 0-d tensors or NumPy ints
    if rows is None:
        array = _to_numpy(result, what)
        rows = list(array) if array.ndim == 2 else None
        if rows is None:
            if array.ndim != 1:
                raise ExerciseError(
                    f"{what} should be a flat list of token ids, not {_describe(result)}."
                )
            return _as_int_list(array, what)
    if len(rows) == 1:
        return _as_int_list(rows[0], what)
    if len(rows) == 2:
        raise ExerciseError(
            f"{what} returns two sequences: the query and the passage encoded as two separate "
            "inputs (a batch of two). A cross-encoder reads one sequence that holds both texts."
        )
    raise ExerciseError(f"{what} should be one flat list of token ids, not {_describe(result)}.")


@exercise(
    "02.3",
    title="The cross-encoder's input",
    question=(
        "Write `pair_input_ids(tokenizer, query, passage)`: tokenizer is a Hugging Face BERT "
        "tokenizer (the course MiniLM's), query and passage are strings. Return the token ids a "
        "BERT-style cross-encoder reads for the pair: one sequence [CLS] query [SEP] passage "
        "[SEP], as a flat list of ints (or a 1-D tensor/array)."
    ),
)
def _check_pair_input_ids(answer: Any) -> str:
    pair_input_ids = _require_function(answer, "pair_input_ids")
    tokenizer, words = _minilm_tokenizer()
    rng = np.random.default_rng()
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    for query_words, passage_words in ((3, 9), (5, 12), (2, 7)):
        query = (
            " ".join(words[i] for i in rng.integers(len(words), size=query_words)).capitalize()
            + "?"
        )
        passage = (
            " ".join(words[i] for i in rng.integers(len(words), size=passage_words)).capitalize()
            + "."
        )
        expected = list(tokenizer(query, passage)["input_ids"])
        q = list(tokenizer(query, add_special_tokens=False)["input_ids"])
        p = list(tokenizer(passage, add_special_tokens=False)["input_ids"])
        result = _call(pair_input_ids, tokenizer, query, passage, copy_args=False)
        got = _token_ids(result, "pair_input_ids")
        if got == expected:
            continue
        shown = f"for query {query!r} and passage {passage!r}"
        while got and got[-1] == pad and len(got) > len(expected):
            got = got[:-1]
        if got == expected:
            raise ExerciseError(
                f"{shown}, your ids end in padding: return the pair's ids alone, unpadded."
            )
        if got and set(got) <= {0, 1}:
            raise ExerciseError(
                f"{shown}, your ids are all 0s and 1s: the token_type_ids or the attention "
                "mask, perhaps? Return the input_ids."
            )
        content = [token for token in got if token not in (cls, sep)]
        if content == p + q:
            raise ExerciseError(
                f"{shown}, your sequence holds the passage before the query. The model was "
                "trained on (query, passage) pairs in that order, and a cross-encoder is not "
                "symmetric: keep the query first."
            )
        if content == q:
            raise ExerciseError(
                f"{shown}, your sequence holds only the query: where is the passage?"
            )
        if content == p:
            raise ExerciseError(
                f"{shown}, your sequence holds only the passage: where is the query?"
            )
        if content == q + p:
            if got.count(cls) == 0 and got.count(sep) == 0:
                raise ExerciseError(
                    f"{shown}, your ids hold the words but no special tokens: the model needs "
                    "[CLS] at the start (its output there becomes the score) and [SEP] to mark "
                    "where each text ends."
                )
            if got.count(cls) > 1:
                raise ExerciseError(
                    f"{shown}, your sequence has {got.count(cls)} [CLS] tokens: two separate "
                    "encodings glued together. The pair is one input with a single [CLS]; "
                    "the tokenizer builds it when it gets both texts in one call."
                )
            if got.count(sep) == 1:
                raise ExerciseError(
                    f"{shown}, your sequence has only one [SEP]: each of the two texts ends "
                    "with its own, so the model can tell where the query stops. (Joining the "
                    "texts into one string loses that boundary.)"
                )
            raise ExerciseError(
                f"{shown}, the words are right but the special tokens are not where the model "
                "expects them: [CLS] query [SEP] passage [SEP]."
            )
        raise ExerciseError(
            f"{shown}, your ids are not the ones the tokenizer gives the pair: the cross-encoder "
            "reads the query's and the passage's tokens in one sequence, with its special tokens."
        )
    return "[CLS] query [SEP] passage [SEP]: one sequence, so attention sees both texts at once."


_PAIR_READINGS = {
    _SENTENCES * (_SENTENCES - 1) // 2: (
        "every unordered pair once, n(n-1)/2: (A, B) and (B, A) counted as one run. (Counting "
        "both orders, since a cross-encoder is not symmetric, gives twice as many; counting "
        "each sentence with itself too gives n².)"
    ),
    _SENTENCES * (_SENTENCES - 1): (
        "every ordered pair, n(n-1): a cross-encoder is not symmetric, so score(A, B) and "
        "score(B, A) are two runs. (One run per unordered pair gives half as many.)"
    ),
    _SENTENCES**2: (
        "n², every sentence with every sentence, both orders and each sentence with itself "
        "too; the 30,000 self-pairs are wasted runs, and one run per unordered pair gives about "
        "half as many."
    ),
}


@exercise(
    "02.4",
    title="How many model runs?",
    question=(
        "A cross-encoder must find the most similar pair among 30,000 sentences. How many times "
        "does it run the model (how many inferences)? Answer with a number."
    ),
)
def _check_cross_encoder_cost(answer: Any) -> str:
    number = _as_count(answer)
    if number.is_integer() and int(number) in _PAIR_READINGS:
        return (
            f"{int(number):,} runs: {_PAIR_READINGS[int(number)]} Against the bi-encoder's "
            "30,000 embeddings, that is why cross-encoders only re-rank a short list."
        )
    if number == _SENTENCES:
        raise ExerciseError(
            "that is the bi-encoder's count: one run per sentence, then cheap comparisons of "
            "embeddings. A cross-encoder makes no embedding to reuse: each run scores two "
            "sentences together."
        )
    if number == _SENTENCES**2 / 2:
        raise ExerciseError(
            "close, but count the pairs exactly: is a sentence paired with itself, and is (A, B) "
            "the same run as (B, A)? Pick one answer to each question and count consistently."
        )
    raise ExerciseError(
        "a cross-encoder runs once for every pair of sentences it compares, and finding the "
        "most similar pair means comparing every sentence with every other. Count those pairs."
    )


_PIPELINE_STEPS = {
    "a": "score each (query, candidate) pair with the cross-encoder",
    "b": "encode the whole corpus once with the bi-encoder",
    "c": "sort the candidates by cross-encoder score and keep the best",
    "d": "encode the query and retrieve the top-k candidates by cosine similarity",
    "e": "show the re-ranked results",
}


@exercise(
    "02.5",
    title="The steps of retrieve and re-rank",
    question="Put the steps of a retrieve-and-re-rank search in the order they happen. Answer "
    'with the letters in that order, e.g. "abcde" or ["a", "b", "c", "d", "e"].\n'
    + "\n".join(f"  {letter}) {text}" for letter, text in _PIPELINE_STEPS.items()),
)
def _check_pipeline_order(answer: Any) -> str:
    if isinstance(answer, (set, frozenset)):
        raise ExerciseError("a set has no order: give the letters as a string or a list.")
    letters = _letters(answer, list(_PIPELINE_STEPS))
    if sorted(letters) != sorted(_PIPELINE_STEPS):
        missing = sorted(set(_PIPELINE_STEPS) - set(letters))
        raise ExerciseError(
            f"use each of the five letters exactly once (you gave {len(letters)}"
            f"{', missing ' + ', '.join(missing) if missing else ''})."
        )
    position = {letter: index for index, letter in enumerate(letters)}
    if position["b"] > position["d"]:
        raise ExerciseError(
            "retrieval compares the query's embedding with the corpus embeddings, so those must "
            "already exist when a query arrives. When is the corpus encoded?"
        )
    if position["a"] < position["d"]:
        raise ExerciseError(
            "in your order the cross-encoder scores pairs before retrieval. It re-ranks: it "
            "scores only the candidates the bi-encoder retrieved, which is what keeps it cheap."
        )
    if position["c"] < position["a"]:
        raise ExerciseError(
            "in your order the candidates are sorted by cross-encoder scores that have not "
            "been computed yet."
        )
    if position["e"] != len(letters) - 1:
        raise ExerciseError("results are shown once they are final: what comes last?")
    return (
        "encode the corpus once, retrieve candidates fast with the bi-encoder, re-score them "
        "with the cross-encoder, sort, show."
    )


_ENCODER_STATEMENTS = {
    "a": "A cross-encoder reads the query and the passage together, so attention can compare "
    "their words directly.",
    "b": "A cross-encoder is faster than a bi-encoder for searching a million documents.",
    "c": "Cross-encoder scores are always probabilities between 0 and 1.",
    "d": "Bi-encoder embeddings of the corpus can be computed once and reused for every query.",
    "e": "A cross-encoder gives a score for a pair of texts, not an embedding you can store.",
    "f": "A bi-encoder must be re-run on the whole corpus for every new query.",
}


@exercise(
    "02.6",
    title="Bi-encoder or cross-encoder?",
    question=_statements_question("Which of these statements are true?", _ENCODER_STATEMENTS),
)
def _check_encoder_statements(answer: Any) -> str:
    return _check_true_statements(
        answer,
        _ENCODER_STATEMENTS,
        {"a", "d", "e"},
        nudge="For each statement, ask what the model computes, and when it has to run.",
        lesson=(
            "a cross-encoder sees both texts at once and returns a score (MS MARCO models a "
            "logit, a probability only after a sigmoid), so it must run per pair: too slow for "
            "a million documents. A bi-encoder embeds the corpus once; a new query needs one run."
        ),
    )


_IMPROVEMENT_STATEMENTS = {
    "a": "Compare the embeddings with Euclidean distance instead of cosine similarity.",
    "b": "Label many unlabelled sentence pairs with a cross-encoder and train the bi-encoder on "
    "them (Augmented SBERT).",
    "c": "Feed the query and the passage to the bi-encoder together, as one input.",
    "d": "Fine-tune the bi-encoder on (query, relevant passage) pairs from your own domain.",
    "e": "Train with hard negatives: passages that look relevant but are not.",
    "f": "Raise max_seq_length above the 512 positions the model was trained with.",
}


@exercise(
    "02.7",
    title="Improving a bi-encoder",
    question=_statements_question(
        "Which of these improve a bi-encoder's retrieval?",
        _IMPROVEMENT_STATEMENTS,
        letters="the letters that do",
    ),
)
def _check_improvements(answer: Any) -> str:
    return _check_true_statements(
        answer,
        _IMPROVEMENT_STATEMENTS,
        {"b", "d", "e"},
        nudge="Ask of each: does it give the model better training signal, or does it only "
        "change something that cannot help (or stops it being a bi-encoder)?",
        wrong=("does not improve a bi-encoder", "do not improve a bi-encoder"),
        missed=("a technique that does", "techniques that do"),
        lesson=(
            "better training data is what improves a bi-encoder: in-domain pairs, hard "
            "negatives, and pairs labelled by a cross-encoder (Augmented SBERT). Euclidean "
            "distance ranks normalised embeddings exactly like cosine, a joint input makes it a "
            "cross-encoder, and positions beyond 512 were never trained."
        ),
    )


# --- 02.8 re-rank with the course cross-encoder -----------------------------------------------


@lru_cache(maxsize=1)
def _course_cross_encoder() -> Any:
    """The ``cross-encoder`` role as notebook 02 loads it, in plain torch fp32: its scores do
    not depend on which pairs share a batch, so any correct way of calling it agrees."""
    from rerank_lab.models import load_cross_encoder_for_scale

    return load_cross_encoder_for_scale(quiet=True, fast=False)


def _pairs_returned(result: Any, k: int, passages: list[str]) -> list[tuple[str, float]]:
    """The learner's (passage, logit) tuples, or a hint about their shape."""
    if not isinstance(result, (list, tuple)):
        raise ExerciseError(f"return a list of (passage, logit) tuples, not {_describe(result)}.")
    if len(result) != k:
        raise ExerciseError(f"return exactly the k = {k} best passages, not {len(result)}.")
    returned = []
    for item in result:
        if isinstance(item, Mapping) or not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ExerciseError(
                f"each item should be a (passage, logit) tuple, not {_describe(item)} "
                "(`rank` returns dicts: turn each into a tuple)."
            )
        passage, score = item
        if not isinstance(passage, str):
            raise ExerciseError(
                f"the first element of each tuple is the passage's text, not {_describe(passage)}."
            )
        if passage not in passages:
            raise ExerciseError("a returned passage is not one of the passages given.")
        try:
            returned.append((passage, float(score)))
        except (TypeError, ValueError) as error:
            raise ExerciseError(
                f"the second element of each tuple is the logit, a number, not {_describe(score)}."
            ) from error
    return returned


@exercise(
    "02.8",
    title="Re-rank with a real cross-encoder",
    question=(
        "Write `rerank(model, query, passages, k)`: model is the course's CrossEncoder (loaded "
        "for you), query a string and passages a list of texts. Score every (query, passage) "
        "pair with `model.predict` (or let `model.rank` do the pairing) as logits, with "
        "`activation_fn=torch.nn.Identity()`, and return the k best as a list of "
        "(passage, logit) tuples, best first."
    ),
)
def _check_rerank_with_model(answer: Any) -> str:
    import torch

    rerank = _require_function(answer, "rerank")
    from rerank_lab.data import load_mini

    model = _course_cross_encoder()
    mini = load_mini()
    texts = mini.passages["text"].tolist()
    rng = np.random.default_rng()
    for _ in range(2):  # two fresh draws: each costs real model runs
        query = str(mini.queries["text"].iloc[int(rng.integers(len(mini.queries)))])
        passages = [texts[i] for i in rng.choice(len(texts), size=7, replace=False)]
        k = int(rng.integers(3, 6))
        logits = model.predict(
            [(query, p) for p in passages], activation_fn=torch.nn.Identity(), convert_to_numpy=True
        )
        order = np.argsort(-logits, kind="stable")
        result = _call(rerank, model, query, list(passages), k, copy_args=False)
        returned = _pairs_returned(result, k, passages)
        expected = [(passages[i], float(logits[i])) for i in order[:k]]
        got_texts = [passage for passage, _ in returned]
        got_scores = np.array([score for _, score in returned])
        score_of = {passage: float(logit) for passage, logit in zip(passages, logits, strict=True)}
        if got_texts == [passage for passage, _ in expected] and np.allclose(
            got_scores, [score for _, score in expected], atol=1e-3
        ):
            continue
        right_set = set(got_texts) == {passage for passage, _ in expected}
        own_scores = np.array([score_of[passage] for passage in got_texts])
        if np.allclose(got_scores, 1 / (1 + np.exp(-own_scores)), atol=1e-3):
            raise ExerciseError(
                "these scores are probabilities (a sigmoid was applied): pass "
                "`activation_fn=torch.nn.Identity()` to get the logits."
            )
        lowest = [passages[i] for i in order[::-1][:k]]
        if got_texts == lowest:
            raise ExerciseError("these are the k *lowest* scores: best first means descending.")
        swapped = model.predict(
            [(p, query) for p in passages], activation_fn=torch.nn.Identity(), convert_to_numpy=True
        )
        swapped_of = dict(zip(passages, swapped.tolist(), strict=True))
        if np.allclose(got_scores, [swapped_of[p] for p in got_texts], atol=1e-3):
            raise ExerciseError(
                "the pairs are the wrong way round: the model was trained on (query, passage)."
            )
        if right_set and np.allclose(got_scores, own_scores, atol=1e-3):
            raise ExerciseError("the right passages and logits, in the wrong order: best first.")
        if not np.allclose(got_scores, own_scores, atol=1e-3):
            raise ExerciseError(
                "a returned logit is not the model's score for its passage with this query: "
                "keep each score with its own passage."
            )
        raise ExerciseError(f"these are not the {k} highest-scoring passages, best first.")
    return "pairs in, one logit each, sorted: the whole of re-ranking."
