"""The exercise checkers: right answers pass in every form, wrong ones get a hint, not the answer.

Checkers draw fresh random inputs on every call, so each wrong answer is checked several times:
its hint must be the specific one every time, not only on a lucky draw.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from exercise_checks import rejected

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
