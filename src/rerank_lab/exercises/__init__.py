"""Automatic checkers for the exercises notebooks, with hints that teach instead of telling.

A learner writes an answer in an exercises notebook and calls ``check("01.2", mean_pool)``. A
right answer prints a one-line confirmation and returns True; anything else raises an
:class:`ExerciseError` (an AssertionError, so nbval and plain ``assert`` habits both work) whose
message is a hint.

How it is built:

* **A registry** (:mod:`rerank_lab.exercises.core`). Each exercise is one checker function
  decorated with ``@exercise("01.2", title=..., question=...)``, which wraps it in an
  :class:`Exercise` and files it in :data:`EXERCISES` under its id. Notebooks print
  ``EXERCISES[id].question``; ``check`` looks the id up (an unknown id raises a KeyError listing
  the valid ones).
* **One module per notebook**: :mod:`~rerank_lab.exercises.bi_encoders` (01),
  :mod:`~rerank_lab.exercises.cross_encoders` (02),
  :mod:`~rerank_lab.exercises.retrieve_and_rerank` (03),
  :mod:`~rerank_lab.exercises.comparing_models` (04),
  :mod:`~rerank_lab.exercises.specter2` (05),
  :mod:`~rerank_lab.exercises.augmented_sbert` (06) and
  :mod:`~rerank_lab.exercises.scaling_up` (07). Importing this package registers them
  all, in the order of the notebooks.
* **Behaviour, not values.** Checkers of functions call the learner's function on fresh random
  inputs (a new random generator each time, never the global seed the notebooks set) and
  compare with a small reference written here, so a hard-coded output cannot pass.
* **Hints name the concept.** When an answer is wrong, the checker recomputes the usual mistakes
  (a dot product instead of a cosine, padding included in a mean, an ideal DCG built from the
  ranking, ...) and, if one of them matches, says which idea is missing without giving the
  right value away.
* **Shared helpers** (in ``core``) recognise placeholders (``...``, ``None``, a function that is
  not written yet), turn the forms a learner may return (Python or NumPy numbers, lists, tuples,
  NumPy arrays, torch tensors) into plain values, and call the learner's function so that a
  crash becomes a hint that chains the original error.

torch is imported only inside the checkers that build tensors, and transformers (for the MiniLM
tokenizer of 02.3) only on first use, so importing this package is cheap.
"""

from __future__ import annotations

import importlib

from rerank_lab.exercises.core import EXERCISES, Exercise, ExerciseError, check, exercise

#: The checkers' modules, one per notebook, in the order of the notebooks: importing a module
#: registers its exercises, so this order is the order of EXERCISES.
NOTEBOOK_MODULES = (
    "bi_encoders",
    "cross_encoders",
    "retrieve_and_rerank",
    "comparing_models",
    "specter2",
    "augmented_sbert",
    "scaling_up",
)
for _module in NOTEBOOK_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["EXERCISES", "Exercise", "ExerciseError", "check", "exercise"]
