"""The exercise registry and the helpers every checker shares.

:func:`exercise` files a checker in :data:`EXERCISES` under its id; :func:`check` looks it up
and runs it. The helpers recognise placeholders (``...``, ``None``, a function that is not
written yet), turn the forms a learner may return (Python or NumPy numbers, lists, tuples,
NumPy arrays, torch tensors) into plain values, call the learner's function so that a crash
becomes a hint chaining the original error, and read letter answers of multiple-choice
questions. The checkers themselves live in one module per notebook.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rerank_lab.exercises.language import FAILED, PASSED, framed, translate

if TYPE_CHECKING:
    import torch

__all__ = ["EXERCISES", "Exercise", "ExerciseError", "check", "exercise"]

TOLERANCE = 1e-4
"""Absolute and relative tolerance when comparing a learner's floats with the reference."""


class ExerciseError(AssertionError):
    """A wrong, missing or unfinished answer; the message is a hint for the learner."""


Checker = Callable[[Any], str]
"""Checks an answer: returns a short confirmation, or raises ExerciseError with a hint."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id, a title and the question a notebook shows, and its checker.

    Written in English; ``title``, ``question``, the hints and the confirmation come out in the
    language the notebook set (:mod:`rerank_lab.exercises.language`).
    """

    id: str
    english_title: str
    english_question: str
    checker: Checker

    @property
    def title(self) -> str:
        return translate(self.english_title)

    @property
    def question(self) -> str:
        return translate(self.english_question)

    def __call__(self, answer: Any) -> str:
        """Check ``answer``; return the confirmation, or raise ExerciseError ("✗ id: hint")."""
        try:
            if _is_placeholder(answer):
                shown = "..." if answer is ... else "None"
                raise ExerciseError(f"no answer yet (got {shown}): replace it with your answer.")
            return self.checker(answer)
        except ExerciseError as error:
            # Re-raised with the id in front; a crash of the learner's code stays chained.
            message = framed(FAILED, self.id, self.english_title, str(error))
            raise ExerciseError(message) from error.__cause__


class _Registry(dict[str, Exercise]):
    """The exercises by id; an unknown id raises a KeyError that lists the valid ones."""

    def __missing__(self, key: str) -> Exercise:
        raise KeyError(
            translate(f"Unknown exercise {key!r}. Valid ids: {', '.join(sorted(self))}.")
        )


EXERCISES: dict[str, Exercise] = _Registry()
"""Every exercise of the course by id ("01.1", ...), in the order of the notebooks."""


def exercise(exercise_id: str, *, title: str, question: str) -> Callable[[Checker], Exercise]:
    """Decorator that registers a checker in :data:`EXERCISES` as exercise ``exercise_id``."""

    def register(checker: Checker) -> Exercise:
        if exercise_id in EXERCISES:
            raise ValueError(f"Exercise {exercise_id!r} is registered twice.")
        EXERCISES[exercise_id] = Exercise(exercise_id, title, question, checker)
        return EXERCISES[exercise_id]

    return register


def check(exercise_id: str, answer: Any) -> bool:
    """Check a learner's answer to exercise ``exercise_id``.

    Prints a short confirmation and returns True when the answer is right; raises
    :class:`ExerciseError` with a hint when it is wrong, missing or still a placeholder, and a
    KeyError listing the valid ids when ``exercise_id`` is unknown.
    """
    confirmation = EXERCISES[exercise_id](answer)
    print(framed(PASSED, exercise_id, confirmation))
    return True


# --- Shared helpers ----------------------------------------------------------------------------


def _is_placeholder(value: Any) -> bool:
    """True for what an exercise cell holds before it is answered: ``...`` or None."""
    return value is ... or value is None


def _is_tensor(value: Any) -> bool:
    """True for a torch tensor, recognised without importing torch."""
    return hasattr(value, "detach") and hasattr(value, "numpy")


def _describe(value: Any) -> str:
    """A short description of a value for a hint: its kind and shape, not its content."""
    if _is_tensor(value) or isinstance(value, np.ndarray):
        kind = "a tensor" if _is_tensor(value) else "an array"
        return f"{kind} of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return f"the {type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _to_numpy(value: Any, what: str) -> np.ndarray:
    """Numbers, nested lists/tuples, NumPy arrays or torch tensors as one numeric NumPy array."""
    if isinstance(value, (list, tuple)):
        items = [_to_numpy(item, what) for item in value]
        if not items:
            return np.empty(0)
        if len({item.shape for item in items}) > 1:
            raise ExerciseError(f"{what} has rows of different lengths ({_describe(value)}).")
        return np.stack(items)
    if _is_tensor(value):
        tensor = value.detach().cpu()
        array = (tensor.double() if tensor.is_floating_point() else tensor).numpy()
    else:
        array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.number):
        raise ExerciseError(f"{what} should be made of numbers, but it is {_describe(value)}.")
    return array


def _as_float(value: Any, what: str) -> float:
    """One number (Python, NumPy, or a tensor/array holding a single element) as a float."""
    array = _to_numpy(value, what)
    if array.size != 1:
        raise ExerciseError(f"{what} should be a single number, but it is {_describe(value)}.")
    return float(array.reshape(()))


def _as_int_list(value: Any, what: str) -> list[int]:
    """A 1-D list/tuple/array/tensor of whole numbers (indices) as a list of ints."""
    array = _to_numpy(value, what)
    if array.ndim != 1:
        raise ExerciseError(f"{what} should be a flat list of indices, not {_describe(value)}.")
    if not np.all(np.mod(array, 1) == 0):
        raise ExerciseError(
            f"{what} should hold document indices (whole numbers), but holds values such as "
            f"{array[np.mod(array, 1) != 0][0]:.3f}: scores, perhaps, rather than positions?"
        )
    return [int(item) for item in array]


def _as_count(answer: Any) -> float:
    """A count given as a number (Python, NumPy, 0-d tensor) or a string such as "30,000"."""
    if isinstance(answer, str):
        try:
            return float(re.sub(r"[,_\s]", "", answer))
        except ValueError:
            raise ExerciseError(f"answer with a number, not {answer!r}.") from None
    return _as_float(answer, "your answer")


def _close(got: float, expected: float) -> bool:
    return math.isclose(got, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def _require_function(answer: Any, name: str) -> Callable[..., Any]:
    """The learner's function itself; a hint if they passed a value (e.g. its result) instead."""
    if not callable(answer):
        raise ExerciseError(
            f"pass your function `{name}` itself (without parentheses), not {_describe(answer)}."
        )
    return answer


def _call(
    function: Callable[..., Any],
    *args: Any,
    crash_hints: Mapping[type[Exception], str] | None = None,
    copy_args: bool = True,
) -> Any:
    """Call the learner's function on copies of ``args``; turn every way it can fail into a hint.

    A function that is not written yet (raises NotImplementedError, returns ``...`` or None)
    gets a "not written yet" hint; one that raises gets "your function raised X: msg", chained
    to the original error, plus the hint of ``crash_hints`` for that kind of error if any.
    ``copy_args=False`` passes the arguments themselves, for ones that are costly to copy (a
    tokenizer) and that the checker has finished using before the call.
    """
    try:
        result = function(*(copy.deepcopy(args) if copy_args else args))
    except NotImplementedError as error:
        raise ExerciseError(
            "your function is not written yet (it raises NotImplementedError)."
        ) from error
    except Exception as error:
        extra = next(
            (hint for kind, hint in (crash_hints or {}).items() if isinstance(error, kind)), ""
        )
        message = f"your function raised {type(error).__name__}: {error}"
        raise ExerciseError(f"{message} ({extra})" if extra else message) from error
    if result is ...:
        raise ExerciseError("your function still returns `...`: write its body.")
    if result is None:
        raise ExerciseError("your function returned None: is a `return` missing?")
    return result


def _raise_first_mistake(
    agrees: Callable[..., bool], mistakes: Sequence[tuple[Mapping[str, Any], str]]
) -> None:
    """Raise the hint of the first known mistake the learner's answers match: ``agrees(**options)``
    compares them with the reference computed the mistaken way ``options`` describe."""
    for options, hint in mistakes:
        if agrees(**options):
            raise ExerciseError(hint)


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A float32 (or int64 for integer arrays) torch tensor, without touching torch's global RNG."""
    import torch

    return torch.from_numpy(array.astype(np.int64 if array.dtype.kind in "iub" else np.float32))


_LETTER_SEPARATORS = re.compile(r"[\s,;:/|>→()\[\]{}.'\"*+&–—-]+")


def _letters(answer: Any, valid: Sequence[str]) -> list[str]:
    """Letters given as a string ("bdace", "b, d, a") or a list/tuple/set of letter strings."""
    choices = ", ".join(valid)
    if isinstance(answer, str):
        letters = list(_LETTER_SEPARATORS.sub("", answer.lower()))
    elif isinstance(answer, (list, tuple, set, frozenset)) and all(
        isinstance(item, str) for item in answer
    ):
        letters = [_LETTER_SEPARATORS.sub("", item.lower()) for item in answer]
    else:
        raise ExerciseError(f"answer with letters among {choices}, not {_describe(answer)}.")
    unknown = [letter for letter in letters if letter not in valid]
    if unknown:
        raise ExerciseError(f"use only the letters {choices}; {unknown[0]!r} is not one of them.")
    return letters


def _statements_question(
    intro: str, statements: Mapping[str, str], *, letters: str = "the true letters"
) -> str:
    """The text of a "which are true?" question: the intro, how to answer, then one line per
    lettered statement, worded the same way in every notebook."""
    listing = "\n".join(f"  {letter}) {text}" for letter, text in statements.items())
    return f'{intro} Answer with all {letters}, e.g. "ab" or {{"a", "b"}}.\n{listing}'


def _check_true_statements(
    answer: Any,
    statements: Mapping[str, str],
    true: set[str],
    *,
    nudge: str,
    lesson: str,
    wrong: tuple[str, str] = ("is a false statement", "are false statements"),
    missed: tuple[str, str] = ("a true statement", "true statements"),
) -> str:
    """A "which are true?" answer: confirm, or count the mistakes without naming them.

    ``wrong`` and ``missed`` word the counts: (singular, plural) after "of your letters" and
    after "you missed".
    """
    chosen = set(_letters(answer, list(statements)))
    if not chosen:
        raise ExerciseError("choose at least one letter.")
    if chosen == true:
        return lesson
    problems = []
    n_wrong, n_missed = len(chosen - true), len(true - chosen)
    if n_wrong:
        problems.append(
            f"one of your letters {wrong[0]}"
            if n_wrong == 1
            else f"{n_wrong} of your letters {wrong[1]}"
        )
    if n_missed:
        problems.append(
            f"you missed {missed[0]}" if n_missed == 1 else f"you missed {n_missed} {missed[1]}"
        )
    found = f"{problems[0]} and {problems[1]}" if len(problems) == 2 else problems[0]
    raise ExerciseError(f"not yet: {found}. {nudge}")
