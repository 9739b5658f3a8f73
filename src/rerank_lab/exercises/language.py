"""The language the checkers speak: English, or a translation read from a catalog.

The checkers are written once, in English. A translated edition of the course (the Chinese
notebooks in ``notebooks/zh``) sets its language in the set-up call, and every title, question,
hint and confirmation then passes through :func:`translate` on its way out: the checks
themselves, and so which answers pass, are the same in every language.

A catalog (``zh.json`` beside this module) maps each English text of the checkers to its
translation. Texts made with values (an f-string such as ``"k must be at most {0}"``) are kept
as templates whose ``{0}``, ``{1}`` ... stand for the values: a message matches a template,
its values are translated in turn where they are texts of the catalog (a title, a quoted
hint), and are placed in the translation. A message that matches nothing stays in English.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

__all__ = [
    "FAILED",
    "LANGUAGES",
    "PASSED",
    "PLACEHOLDER",
    "current",
    "framed",
    "set_language",
    "translate",
    "translate_message",
]

LANGUAGES = ("en", "zh")
FAILED = "✗ {0} ({1}): {2}"
"""How a rejected answer's message reads: the exercise's id, its title, the hint."""
PASSED = "✓ {0} correct: {1}"
"""How a right answer is confirmed: the exercise's id, the confirmation."""
_FRAMES = {
    FAILED: re.compile(r"^✗ (\d\d\.\d+) \((.+?)\): (.*)$", re.S),
    PASSED: re.compile(r"^✓ (\d\d\.\d+) correct: (.*)$", re.S),
}

PLACEHOLDER = re.compile(r"\{(\d+)\}")
"""A value's place in a catalog template: ``{0}``, ``{1}`` ..."""
_state = {"language": "en"}


def set_language(language: str) -> None:
    """Make the checkers speak ``language`` (``"en"`` or ``"zh"``) in this process."""
    if language not in LANGUAGES:
        raise ValueError(f"Unknown language {language!r}; use one of {', '.join(LANGUAGES)}.")
    _state["language"] = language


def current() -> str:
    return _state["language"]


def _literal(text: str) -> str:
    """A catalog text as shown: doubled braces stand for one (as in ``str.format``)."""
    return text.replace("{{", "{").replace("}}", "}")


@functools.cache
def _catalog(language: str) -> tuple[dict[str, str], list[tuple[re.Pattern[str], str]]]:
    """The exact texts, and the templates as (regex, translation), most specific first."""
    path = Path(__file__).with_name(f"{language}.json")
    messages: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))["messages"]
    exact = {_literal(en): _literal(zh) for en, zh in messages.items() if zh}
    # A text that ends a line of a longer one (a question's first line) is looked up without
    # its line break too.
    exact |= {en.rstrip("\n"): zh.rstrip("\n") for en, zh in exact.items() if en.endswith("\n")}
    templates = []
    for english, translated in messages.items():
        parts = PLACEHOLDER.split(english)
        if len(parts) == 1 or not translated:
            continue
        literals = [_literal(part) for part in parts[::2]]
        pattern = "".join(
            re.escape(literal) + (f"(?P<v{parts[2 * i + 1]}>.*?)" if 2 * i + 1 < len(parts) else "")
            for i, literal in enumerate(literals)
        )
        templates.append((len("".join(literals)), re.compile(f"^{pattern}$", re.S), translated))
    templates.sort(key=lambda item: -item[0])
    return exact, [(regex, translated) for _, regex, translated in templates]


def translate(
    text: str, language: str | None = None, *, strict: bool = False, _depth: int = 0
) -> str:
    """``text`` in ``language`` (by default the current one); unchanged where the catalog has
    nothing for it (``strict``: a LookupError instead, for tests), and always unchanged in
    English."""
    language = language or current()
    if language == "en" or not text or _depth > 4:
        return text
    translated = _translate(text, language, _depth)
    if strict and translated == text:
        raise LookupError(f"no {language} translation for {text!r}")
    return translated


def framed(
    frame: str,
    exercise_id: str,
    *texts: str,
    language: str | None = None,
    strict: bool = False,
) -> str:
    """A checker's message in its frame (:data:`FAILED` or :data:`PASSED`) in ``language`` (by
    default the current one), the frame and each text translated separately: a hint is never
    mistaken for part of the frame."""
    language = language or current()
    if language != "en":
        frame = _catalog(language)[0].get(frame, frame)
        texts = tuple(translate(text, language, strict=strict) for text in texts)
    return frame.format(exercise_id, *texts)


def translate_message(text: str, language: str, *, strict: bool = False) -> str:
    """A whole message as a checker printed it in English (a stored notebook output), in
    ``language``: its frame recognised, then its parts translated as :func:`framed` does."""
    for frame, pattern in _FRAMES.items():
        match = pattern.match(text)
        if match:
            exercise_id, *texts = match.groups()
            return framed(frame, exercise_id, *texts, language=language, strict=strict)
    return translate(text, language, strict=strict)


def _translate(text: str, language: str, _depth: int) -> str:
    exact, templates = _catalog(language)
    if exact.get(text):
        return exact[text]
    for regex, translated in templates:
        match = regex.match(text)
        if match:
            values = {
                name[1:]: translate(value, language, _depth=_depth + 1)
                for name, value in match.groupdict().items()
            }
            return _literal(PLACEHOLDER.sub(lambda m, v=values: v[m.group(1)], translated))
    if "\n" in text:  # a question with a listing: line by line, "a) ..." by its statement
        return "\n".join(
            re.sub(
                r"^(\s*[a-z]\) )(.*)$",
                lambda m: m.group(1) + translate(m.group(2), language, _depth=_depth + 1),
                translate(line, language, _depth=_depth + 1),
            )
            for line in text.split("\n")
        )
    # A learner's own error text followed by a hint in brackets: translate the hint.
    if text.endswith(")"):
        for start in (match.start() for match in re.finditer(r" \(", text)):
            hint = text[start + 2 : -1]
            if hint in exact:
                return f"{text[:start]}（{exact[hint]}）"
    return text
