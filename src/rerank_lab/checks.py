"""Checks of a learner's arguments, with errors that say what to do instead.

The helpers the notebooks call validate their input here, so that a wrong type or an impossible
``k`` fails at once with a sentence, not deep inside torch or faiss with a stack trace.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["check_count", "check_k", "check_texts"]


def check_count(value: object, what: str, *, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum`` (bools and floats are refused, not cast)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value}.")
    return int(value)


def check_k(k: object, available: int, what: str = "the corpus") -> int:
    """``k`` as a count of results that ``what`` (holding ``available`` documents) can give."""
    k = check_count(k, "k")
    if k > available:
        raise ValueError(
            f"k={k} is larger than {what} ({available} documents); ask for at most {available}."
        )
    return k


def check_texts(texts: Sequence[str], what: str = "Text") -> list[str]:
    """``texts`` as a list, every item a str; the error names the first item that is not."""
    texts = list(texts)
    bad = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
    if bad is not None:
        raise TypeError(
            f"{what} {bad} is a {type(texts[bad]).__name__}, not a str: pass a list of texts, "
            "e.g. df['text'].tolist()."
        )
    return texts
