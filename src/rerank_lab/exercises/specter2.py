"""Checkers of notebook 05 (SPECTER2 and adapters): the input string, counting trainable
parameters, the size of a bottleneck adapter, a leak-free evaluation split, related-paper
search without the paper itself, what adapters can and cannot do, and an adapter added,
trained and switched on the course model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rerank_lab.exercises.core import (
    ExerciseError,
    _as_float,
    _as_int_list,
    _call,
    _check_true_statements,
    _describe,
    _require_function,
    _statements_question,
    exercise,
)

_WORDS = (
    "protein folding kinase tumour cohort gene expression sepsis neural network mouse model "
    "randomised trial microbiome dementia asthma vaccine retina obesity ligand imaging "
    "biomarker insulin chromatin fibrosis antibody stroke lung cortex enzyme"
).split()


def _sentence(rng: np.random.Generator, low: int, high: int) -> str:
    words = rng.choice(_WORDS, size=int(rng.integers(low, high)))
    text = " ".join(str(word) for word in words)
    return text[0].upper() + text[1:]


# --- 05.1 the SPECTER input string ------------------------------------------------------------


@exercise(
    "05.1",
    title="The SPECTER input string",
    question=(
        "Write `specter_input(title, abstract, sep)`: the one string SPECTER2 embeds for a "
        "paper, built the way section 2 of the notebook (and SPECTER2's model card) builds it. "
        "`sep` is the tokenizer's separator token (`tokenizer.sep_token`: each tokenizer has "
        "its own). Some papers have no abstract: abstract is then None."
    ),
)
def _check_specter_input(answer: Any) -> str:
    specter_input = _require_function(answer, "specter_input")
    rng = np.random.default_rng()
    for sep in ("[SEP]", "</s>", "<sep>", "[SEP]"):
        for has_abstract in (True, False):
            title = _sentence(rng, 3, 8) + "."
            abstract = _sentence(rng, 12, 25) + "." if has_abstract else None
            result = _call(
                specter_input,
                title,
                abstract,
                sep,
                crash_hints={TypeError: "the abstract can be None: treat it as empty"},
            )
            if not isinstance(result, str):
                raise ExerciseError(f"return one string, not {_describe(result)}.")
            body = abstract or ""
            if result == title + sep + body:
                continue
            if sep != "[SEP]" and "[SEP]" in result:
                raise ExerciseError(
                    "you always write [SEP]: use the `sep` you are given, since each tokenizer "
                    "has its own separator (RoBERTa-style ones use </s>)."
                )
            if abstract is None and "None" in result:
                raise ExerciseError(
                    "a missing abstract (None) became the word 'None': treat it as empty."
                )
            if result.replace(" ", "") == (title + sep + body).replace(" ", ""):
                raise ExerciseError(
                    "the right parts in the right order, but with extra spaces around the "
                    "separator: join them with nothing in between."
                )
            if abstract is not None and result == body + sep + title:
                raise ExerciseError("title first, then the separator, then the abstract.")
            if sep not in result:
                raise ExerciseError(
                    "the separator is missing: the model should see where the title ends."
                )
            if result.count(sep) > 1:
                raise ExerciseError("use the separator once, between the title and the abstract.")
            raise ExerciseError("not title + sep + abstract yet: print your string and compare.")
    return "title + separator + abstract: the format SPECTER was trained on."


# --- 05.2 trainable and total parameters ------------------------------------------------------


def _random_model(rng: np.random.Generator) -> tuple[Any, int, int, int]:
    """A small torch model with some layers frozen: (model, trainable, total, n_tensors)."""
    import torch

    sizes = [int(size) for size in rng.integers(3, 40, size=int(rng.integers(3, 6)))]
    layers = []
    for inputs, outputs in zip(sizes, sizes[1:], strict=False):
        layers += [torch.nn.Linear(inputs, outputs), torch.nn.ReLU()]
    layers.append(torch.nn.LayerNorm(sizes[-1]))
    model = torch.nn.Sequential(*layers)
    parameters = list(model.parameters())
    frozen = rng.choice(len(parameters), size=len(parameters) // 2, replace=False)
    if not len(frozen):
        frozen = np.array([0])
    for index in frozen:
        parameters[int(index)].requires_grad_(False)
    trainable = sum(p.numel() for p in parameters if p.requires_grad)
    total = sum(p.numel() for p in parameters)
    return model, trainable, total, len(parameters)


@exercise(
    "05.2",
    title="Trainable and total parameters",
    question=(
        "Write `count_parameters(model)` for any torch model: return the pair (trainable, "
        "total), where total is the number of numbers (elements) in all of the model's "
        "parameters and trainable counts only the parameters an optimiser would update. After "
        "`train_adapter`, this is how you see that only the adapter trains."
    ),
)
def _check_count_parameters(answer: Any) -> str:
    count_parameters = _require_function(answer, "count_parameters")
    rng = np.random.default_rng()
    for _ in range(4):
        model, trainable, total, n_tensors = _random_model(rng)
        result = _call(count_parameters, model, copy_args=False)
        if isinstance(result, (Mapping, str)) or not hasattr(result, "__len__"):
            raise ExerciseError(f"return the pair (trainable, total), not {_describe(result)}.")
        if len(result) != 2:
            raise ExerciseError(f"return two numbers, (trainable, total), not {len(result)}.")
        got = [_as_float(value, "each count") for value in result]
        if got == [trainable, total]:
            continue
        if got == [total, trainable]:
            raise ExerciseError("the two counts are swapped: (trainable, total).")
        if got[0] == total:
            raise ExerciseError(
                "your trainable count includes frozen parameters: an optimiser updates only the "
                "parameters with requires_grad set."
            )
        if got[0] == total - trainable:
            raise ExerciseError(
                "you counted the frozen parameters as trainable: the trainable ones are those "
                "with requires_grad=True."
            )
        if n_tensors in got:
            raise ExerciseError(
                "you counted parameter tensors, not the numbers in them: a tensor holds "
                "p.numel() numbers."
            )
        raise ExerciseError(
            "not the counts yet: sum p.numel() over model.parameters(), once for all of them "
            "and once for those an optimiser would update."
        )
    return "only parameters with requires_grad train; the rest of the model is frozen."


# --- 05.3 the size of a bottleneck adapter ----------------------------------------------------


def _bottleneck(hidden: int, factor: int, layers: int) -> int:
    bottleneck = hidden // factor
    return layers * (hidden * bottleneck + bottleneck + bottleneck * hidden + hidden)


@exercise(
    "05.3",
    title="How big is a bottleneck adapter?",
    question=(
        "Section 4 of the notebook added a sequential bottleneck adapter (`seq_bn`) and printed "
        "what it puts into one transformer layer (`adapters['demo']`): read its layers and "
        "their shapes there. Write `bottleneck_parameters(hidden_size, reduction_factor, "
        "num_layers)` returning how many parameters such an adapter adds to a whole model "
        "whose layers are hidden_size wide (the printed module used MiniLM's 384 and the "
        "default reduction factor of 16). Check yourself against the trainable count the "
        "notebook printed."
    ),
)
def _check_bottleneck(answer: Any) -> str:
    bottleneck_parameters = _require_function(answer, "bottleneck_parameters")
    rng = np.random.default_rng()
    cases = [
        (int(rng.choice([8, 16, 32])) * int(rng.integers(4, 40)), int(rng.choice([8, 16, 32])))
        for _ in range(3)
    ]
    for raw, factor in cases:
        hidden = raw - raw % factor or factor * 4
        layers = int(rng.integers(2, 25))
        result = _as_float(
            _call(bottleneck_parameters, hidden, factor, layers), "bottleneck_parameters(...)"
        )
        expected = _bottleneck(hidden, factor, layers)
        if result == expected:
            continue
        b = hidden // factor
        mistakes: list[tuple[float, str]] = [
            (layers * 2 * hidden * b, "you left out the biases: each linear layer has one."),
            (
                layers * (2 * hidden * b + b),
                "one bias is missing: the up-projection's bias has hidden_size numbers.",
            ),
            (
                layers * (2 * hidden * b + hidden),
                "one bias is missing: the down-projection's bias has one number per "
                "bottleneck unit.",
            ),
            (
                _bottleneck(hidden, factor, 1),
                "that is one layer's adapter: every transformer layer gets its own.",
            ),
            (
                layers * (2 * hidden * hidden * factor + hidden * factor + hidden),
                "the bottleneck is hidden_size // reduction_factor wide, not times.",
            ),
            (
                layers * (hidden * b + b),
                "you counted the down-projection only: the adapter projects back up as well.",
            ),
        ]
        for value, hint in mistakes:
            if result == value:
                raise ExerciseError(hint)
        raise ExerciseError(
            "not the adapter's size yet: count one linear layer (weights and bias) at a time, "
            "then the layers of the model."
        )
    return "2·h·(h/r) weights plus (h/r + h) biases per layer: about 0.5% of MiniLM."


# --- 05.4 a leak-free evaluation split --------------------------------------------------------


def _pair_list(result: Any, what: str) -> list[tuple[str, str]]:
    if isinstance(result, (str, Mapping)) or not isinstance(result, (list, tuple, set)):
        raise ExerciseError(
            f"{what} should be a list of (paper, paper) pairs, not {_describe(result)}."
        )
    pairs = []
    for item in result:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise ExerciseError(f"{what} should hold (paper, paper) pairs; found {item!r}.")
        pairs.append((str(item[0]), str(item[1])))
    return pairs


@exercise(
    "05.4",
    title="Held-out pairs that never trained",
    question=(
        "Write `split_pairs(pairs, held_out)`: pairs is a list of (paper id, paper id) tuples of "
        "related papers, held_out a set of paper ids kept for evaluation. Return two lists, "
        "(train_pairs, eval_pairs), each keeping the input order: evaluation pairs use only "
        "held-out papers, and no held-out paper may appear in any training pair. Pairs that "
        "fit neither list are dropped."
    ),
)
def _check_split_pairs(answer: Any) -> str:
    split_pairs = _require_function(answer, "split_pairs")
    rng = np.random.default_rng()
    for n_papers in (30, 60, 12):
        papers = [f"pmid{number}" for number in rng.choice(10**6, size=n_papers, replace=False)]
        held_out = {str(p) for p in rng.choice(papers, size=n_papers // 3, replace=False)}
        pairs = []
        while len(pairs) < 2 * n_papers:
            a, b = (str(p) for p in rng.choice(papers, size=2, replace=False))
            pairs.append((a, b))
        inside = next(p for p in papers if p in held_out)
        outside = next(p for p in papers if p not in held_out)
        other_inside = next(p for p in papers if p in held_out and p != inside)
        pairs[:3] = [(outside, inside), (inside, outside), (inside, other_inside)]
        result = _call(split_pairs, pairs, held_out)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise ExerciseError(
                f"return two lists, (train_pairs, eval_pairs), not {_describe(result)}."
            )
        train, evaluation = (
            _pair_list(part, name)
            for part, name in zip(result, ("train_pairs", "eval_pairs"), strict=True)
        )
        expected_train = [p for p in pairs if p[0] not in held_out and p[1] not in held_out]
        expected_eval = [p for p in pairs if p[0] in held_out and p[1] in held_out]
        if train == expected_train and evaluation == expected_eval:
            continue
        if train == expected_eval and evaluation == expected_train:
            raise ExerciseError("the two lists are swapped: (train_pairs, eval_pairs).")
        if any(a in held_out or b in held_out for a, b in train):
            raise ExerciseError(
                "a training pair contains a held-out paper: the model would learn about a paper "
                "it is later tested on. Check both papers of a pair."
            )
        if any(a not in held_out or b not in held_out for a, b in evaluation):
            raise ExerciseError(
                "an evaluation pair contains a paper outside the held-out set: it may also be "
                "in training. Both papers of an evaluation pair must be held out."
            )
        if sorted(train) == sorted(expected_train) and sorted(evaluation) == sorted(expected_eval):
            raise ExerciseError("the right pairs, but keep them in the input order.")
        raise ExerciseError(
            "some pairs are missing: every pair of two held-out papers is for evaluation, every "
            "pair with no held-out paper is for training."
        )
    return "both papers of a pair decide: held-out papers never appear in a training pair."


# --- 05.5 related papers, the paper itself excluded -------------------------------------------


@exercise(
    "05.5",
    title="Related papers, not the paper itself",
    question=(
        "Write `related_papers(embeddings, row, k)`: embeddings is a NumPy array with one "
        "embedding per paper (rows not normalised), row the paper you start from. Return the "
        "row numbers of the k papers most similar to it by cosine similarity, most similar "
        "first, leaving out the paper itself."
    ),
)
def _check_related_papers(answer: Any) -> str:
    related_papers = _require_function(answer, "related_papers")
    rng = np.random.default_rng()
    for n, dim, k in ((40, 8, 5), (25, 16, 10), (60, 4, 3)):
        embeddings = rng.normal(size=(n, dim)) * rng.uniform(0.2, 5.0, size=(n, 1))
        row = int(rng.integers(n))
        unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
        cosine = unit @ unit[row]
        dot = embeddings @ embeddings[row]
        order = [int(i) for i in np.argsort(-cosine, kind="stable") if i != row]
        expected = order[:k]
        dot_order = [int(i) for i in np.argsort(-dot, kind="stable") if i != row][:k]
        if dot_order == expected:  # the draw must tell cosine from dot product apart
            embeddings[expected[0]] *= 0.01
            unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
            cosine = unit @ unit[row]
            order = [int(i) for i in np.argsort(-cosine, kind="stable") if i != row]
            expected = order[:k]
        result = _call(related_papers, embeddings, row, k)
        if isinstance(result, (list, tuple)) and result and isinstance(result[0], (tuple, list)):
            raise ExerciseError("return row numbers only, not (row, score) pairs.")
        got = _as_int_list(result, "related_papers(embeddings, row, k)")
        if got == expected:
            continue
        if row in got:
            raise ExerciseError(
                "the paper itself is in your list: every paper is most similar to itself, so "
                "leave it out before taking the top k."
            )
        if got == [int(i) for i in np.argsort(-(embeddings @ embeddings[row])) if i != row][:k]:
            raise ExerciseError(
                "you rank by dot product: with rows of different lengths that favours long "
                "vectors. Normalise the rows first (cosine similarity)."
            )
        if got == order[::-1][:k] or got == expected[::-1]:
            raise ExerciseError("most similar first: sort by descending similarity.")
        if len(got) != k:
            raise ExerciseError(f"return k={k} row numbers, not {len(got)}.")
        raise ExerciseError("these are not the k most similar other papers by cosine similarity.")
    return "cosine similarity on normalised rows, the paper itself left out."


# --- 05.6 adapters: what is true? -------------------------------------------------------------

_ADAPTER_STATEMENTS = {
    "a": "Training only an adapter leaves every weight of the base model unchanged.",
    "b": "One base model can serve several tasks: switching the active adapter switches the "
    "task, and each adapter is a small file.",
    "c": "With SPECTER2, the papers being searched should be embedded with the adhoc_query "
    "adapter, the same one as the queries.",
    "d": "Measuring related-paper search on papers that were in the training pairs overstates "
    "how well the adapter works on new papers.",
    "e": "An active adapter makes encoding noticeably faster than the base model alone.",
    "f": "SPECTER's citation-informed training treats a paper and a paper it cites as closer "
    "than a paper it does not cite.",
}


@exercise(
    "05.6",
    title="What adapters do",
    question=_statements_question("Which of these statements are true?", _ADAPTER_STATEMENTS),
)
def _check_adapter_statements(answer: Any) -> str:
    return _check_true_statements(
        answer,
        _ADAPTER_STATEMENTS,
        {"a", "b", "d", "f"},
        nudge="For each, ask what an adapter adds to the model (a few weights, a little "
        "compute), what it leaves alone, and which adapter SPECTER2 uses for which side.",
        lesson=(
            "an adapter is a small add-on to a frozen base: cheap to train, store and switch, a "
            "little extra compute at inference; SPECTER2 embeds queries with adhoc_query and "
            "papers with proximity; and only held-out papers measure generalisation."
        ),
    )


# --- 05.7 add, train and switch an adapter ----------------------------------------------------


def _fresh_bi_encoder() -> Any:
    """The model of notebook 05's section 4, freshly loaded: each check adds its own adapter."""
    from rerank_lab.models import load_bi_encoder

    return load_bi_encoder("bi-encoder-symmetric", device="cpu", fast=False, quiet=True)


def _adapter_weights(inner: Any, name: str) -> dict[str, Any]:
    return {n: p for n, p in inner.named_parameters() if f".adapters.{name}." in n}


@exercise(
    "05.7",
    title="Add, train and switch an adapter",
    question=(
        "Write `adapt(model, pairs, name)`: model is the course's MiniLM bi-encoder (a "
        "SentenceTransformer without adapters), pairs a short list of (paper text, related "
        "paper text) tuples, name the adapter's name. As sections 4 and 5 of the notebook do: "
        "make the model's transformer (model[0].auto_model) adapter-ready, add a sequential "
        'bottleneck adapter ("seq_bn") called name, freeze everything but it, train it for one '
        "epoch on the pairs with sentence-transformers' trainer and "
        "MultipleNegativesRankingLoss (learning rate 1e-3, batch size 4), and return the model "
        "with the adapter active. The check then switches it off and on."
    ),
)
def _check_adapt(answer: Any) -> str:
    import torch

    adapt = _require_function(answer, "adapt")
    rng = np.random.default_rng()
    model = _fresh_bi_encoder()
    texts = [_sentence(rng, 8, 16) for _ in range(16)]
    pairs = list(zip(texts[:8], texts[8:], strict=True))
    probe = [_sentence(rng, 6, 12) for _ in range(3)]
    before = model.encode(probe, convert_to_numpy=True)
    base = {n: p.detach().cpu().clone() for n, p in model[0].auto_model.named_parameters()}
    name = f"tiny_{int(rng.integers(100, 1000))}"
    result = _call(adapt, model, list(pairs), name, copy_args=False)
    if result is not model:
        raise ExerciseError(
            f"return the model you were given (with its adapter), not {_describe(result)}."
        )
    inner = model[0].auto_model
    if not hasattr(inner, "adapters_config"):
        raise ExerciseError(
            "the transformer is not adapter-ready: call adapters.init(model[0].auto_model) first."
        )
    added = list(inner.adapters_config.adapters)
    if name not in added:
        named = f" (it holds {', '.join(added)})" if added else ""
        raise ExerciseError(
            f"the model has no adapter called {name!r}{named}: add_adapter(name, ...) with the "
            "name you were given."
        )
    config = inner.adapters_config.get(name)
    if type(config).__name__ != "SeqBnConfig":
        raise ExerciseError(
            f'the adapter is a {type(config).__name__}; the notebook\'s is config="seq_bn".'
        )
    moved = [
        n
        for n, p in inner.named_parameters()
        if n in base and not torch.equal(p.detach().cpu(), base[n])
    ]
    if moved:
        raise ExerciseError(
            f"{len(moved)} of the base model's weights changed (e.g. {moved[0]}): call "
            "train_adapter(name) before training, which freezes everything but the adapter."
        )
    biases = [p for n, p in _adapter_weights(inner, name).items() if n.endswith("bias")]
    if not any(float(p.detach().abs().max()) > 0 for p in biases):
        raise ExerciseError(
            "the adapter never trained (its biases are still the zeros it started with): run "
            "the trainer on the pairs after train_adapter(name)."
        )
    if name not in str(inner.active_adapters):
        raise ExerciseError(
            "the adapter is not active: leave it switched on (train_adapter does it; so does "
            "set_active_adapters(name))."
        )
    model.eval()
    with_adapter = model.encode(probe, convert_to_numpy=True)
    inner.set_active_adapters(None)
    without = model.encode(probe, convert_to_numpy=True)
    if not np.allclose(without, before, atol=1e-5):
        raise ExerciseError(
            "with the adapter switched off the model should be the untouched base again, and "
            "it is not: did something besides the adapter change?"
        )
    if np.allclose(with_adapter, before, atol=1e-6):
        raise ExerciseError("the active adapter does not change any embedding: did it train?")
    trainable = sum(p.numel() for p in _adapter_weights(inner, name).values())
    total = sum(p.numel() for p in inner.parameters())
    return (
        f"{trainable:,} adapter weights trained ({trainable / total:.2%} of the model), the "
        "base untouched: off gives the base back exactly, on gives the adapted model."
    )
