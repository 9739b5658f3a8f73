"""Shared assertions of the exercise tests: every answer checked on several fresh random draws.

Checkers draw new random inputs on every call, so a hint must be the specific one on every draw,
not on a lucky one. Every answer is then checked once more in Chinese: the checker must reach
the same verdict, and its message must come out translated (the Chinese notebooks' checks).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from rerank_lab.exercises import EXERCISES, ExerciseError, check
from rerank_lab.exercises.language import set_language, translate_message

DRAWS = 5  # how often each answer is checked against fresh random inputs
_CHINESE = re.compile(r"[\u4e00-\u9fff]")


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """The checkers in ``language`` for the block, English again afterwards."""
    set_language(language)
    try:
        yield
    finally:
        set_language("en")


def rejected(
    exercise_id: str, answer: Any, *fragments: str, forbidden: tuple[str, ...] = ()
) -> None:
    """Check ``answer`` DRAWS times; each must fail with a hint holding every fragment."""
    for _ in range(DRAWS):
        with pytest.raises(ExerciseError) as caught:
            check(exercise_id, answer)
        message = str(caught.value)
        assert message.startswith(f"✗ {exercise_id}"), message
        for fragment in fragments:
            assert fragment in message, f"{fragment!r} not in hint: {message}"
        for value in forbidden:
            assert value not in message, f"the hint gives away {value!r}: {message}"
    translate_message(message, "zh", strict=True)  # the English hint has a translation
    with speaking("zh"), pytest.raises(ExerciseError) as caught:
        check(exercise_id, answer)
    assert str(caught.value).startswith(f"✗ {exercise_id}") and _CHINESE.search(str(caught.value))


def accepted(exercise_id: str, answer: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Check ``answer`` DRAWS times; each must pass and print the confirmation."""
    for _ in range(DRAWS):
        assert check(exercise_id, answer) is True
    printed = capsys.readouterr().out
    assert printed.startswith(f"✓ {exercise_id} correct: ")
    translate_message(printed.splitlines()[-1], "zh", strict=True)
    with speaking("zh"):
        assert check(exercise_id, answer) is True
    printed = capsys.readouterr().out
    assert printed.startswith(f"✓ {exercise_id}") and _CHINESE.search(printed)


def notebook_tests(
    new_ids: list[str], function_ids: list[str]
) -> tuple[Callable[..., None], Callable[..., None], Callable[..., None]]:
    """The three tests every notebook's exercises share, for its module to bind as
    ``test_...`` names: registered in order; placeholders rejected; unwritten functions
    rejected (``function_ids``: the exercises answered with a function)."""

    def registered() -> None:
        registered_in_order(new_ids)

    @pytest.mark.parametrize("exercise_id", new_ids)
    @pytest.mark.parametrize("placeholder", [..., None])
    def placeholders_rejected(exercise_id: str, placeholder: Any) -> None:
        rejected(exercise_id, placeholder, "no answer yet")

    @pytest.mark.parametrize("exercise_id", function_ids)
    def unwritten_rejected(exercise_id: str) -> None:
        unwritten_functions_rejected(exercise_id)

    return registered, placeholders_rejected, unwritten_rejected


def unwritten_functions_rejected(exercise_id: str) -> None:
    """A function exercise rejects the three shapes of an unwritten function (a bare stub, one
    that raises NotImplementedError, one that returns ``...``) and a value instead of a function,
    each with its own hint."""

    def stub(*args: Any) -> None: ...

    def raises(*args: Any) -> None:
        raise NotImplementedError

    def dots(*args: Any) -> Any:
        return ...

    rejected(exercise_id, stub, "returned None")
    rejected(exercise_id, raises, "not written yet")
    rejected(exercise_id, dots, "still returns `...`")
    rejected(exercise_id, 0.5, "pass your function")


def registered_in_order(new_ids: list[str]) -> None:
    """A notebook's exercises are registered together, in order, among ids that stay sorted,
    each with a title and a question."""
    ids = list(EXERCISES)
    start = ids.index(new_ids[0])
    assert ids[start : start + len(new_ids)] == new_ids
    assert ids == sorted(ids)
    for exercise_id in new_ids:
        assert EXERCISES[exercise_id].title.strip() and EXERCISES[exercise_id].question.strip()
