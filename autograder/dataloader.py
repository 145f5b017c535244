"""Checks for chapter 06_dataloader: ``pad_collate``, ``my_collate`` and ``simple_loader``.

Each check is a scenario and a judge (see :mod:`autograder.checking`). A case is plain data:
the lengths, dtype and seed of a batch of sequences, the layout and values of a batch of
nested samples, or a dataset, ``DataLoader`` options and a generator seed. The scenario builds
those inputs, calls the student's function and records what it returns (for ``simple_loader``,
the batches of two epochs and the generator's state after each). The reference builds the same
inputs and asks torch (``pad_sequence``, ``default_collate``, a single-process ``DataLoader``);
the judge walks the two results side by side and reports the first place where they differ.
Cases run smallest first, so the message shows the smallest batch that differs.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import torch
from torch.nn.utils.rnn import pad_sequence as _pad_sequence
from torch.utils.data import DataLoader as _DataLoader
from torch.utils.data import Dataset
from torch.utils.data import default_collate as _default_collate

from autograder.checking import Case, Check, Delegation, Observation, Recorder
from autograder.i18n import _
from autograder.plain import DTYPES, Opaque
from autograder.report import CheckFailure, message, tensor_difference

WORDS = ("happy", "sad", "glum", "amazing", "calm", "odd", "bright", "dull", "keen")


# ---------------------------------------------------------------- comparing batches


def _kind(value: Any) -> str:
    """The short type name of a value as the judge received it (an Opaque names its type)."""
    if isinstance(value, Opaque):
        return value.type.rsplit(".", 1)[-1]
    return type(value).__name__


def batch_difference(expected: Any, got: Any, where: str = "batch") -> str | None:
    """Describe the first difference between two collated batches, or ``None`` if equal.

    Containers must have torch's type (``list`` is not ``tuple``), dicts the same keys in the
    same order, tensors the same shape, dtype and values. A batch of strings is the one
    exception: torch hands back the sequence of strings it was given, so either a list or a
    tuple of the same strings is accepted.
    """
    if isinstance(expected, torch.Tensor):
        why = tensor_difference(expected, got, atol=0, rtol=0)
        if why is None:
            return None
        if isinstance(got, (list, tuple)):
            return _(
                "at {where}: {why} (numbers become one tensor per batch, tensors are stacked)"
            ).format(where=where, why=why)
        return _("at {where}: {why}").format(where=where, why=why)
    if (
        isinstance(expected, (list, tuple))
        and expected
        and all(isinstance(item, str) for item in expected)
    ):
        if isinstance(got, (list, tuple)) and list(got) == list(expected):
            return None
        if isinstance(got, (list, tuple)) and len(got) != len(expected):
            return _(
                "at {where}: {expected} strings expected, got {got} items (a str is a sequence "
                "too: keep strings whole, do not zip their characters)"
            ).format(where=where, expected=len(expected), got=len(got))
        return _("at {where}: a batch of strings stays a plain sequence of those strings").format(
            where=where
        )
    if type(got) is not type(expected):
        why = _("at {where}: {expected} expected, got {got}")
        if isinstance(expected, list) and isinstance(got, tuple):
            why = _(
                "at {where}: {expected} expected, got {got} "
                "(default_collate turns a batch of tuples into a list)"
            )
        return why.format(where=where, expected=type(expected).__name__, got=_kind(got))
    if isinstance(expected, dict):
        if list(got) != list(expected):
            return _("at {where}: keys {expected} expected, got {got}").format(
                where=where, expected=list(expected), got=list(got)
            )
        for key in expected:
            why = batch_difference(expected[key], got[key], f"{where}[{key!r}]")
            if why:
                return why
        return None
    if isinstance(expected, (list, tuple)):
        if len(got) != len(expected):
            return _("at {where}: length {expected} expected, got {got}").format(
                where=where, expected=len(expected), got=len(got)
            )
        for i, (want, have) in enumerate(zip(expected, got, strict=True)):
            why = batch_difference(want, have, f"{where}[{i}]")
            if why:
                return why
        return None
    if got != expected:
        return _("at {where}: {expected} expected, got {got}").format(
            where=where, expected=repr(expected), got=repr(got)
        )
    return None


def show(value: Any) -> str:
    """A one-line picture of a (nested) batch: tensors as their values and dtype."""
    if isinstance(value, torch.Tensor):
        if value.numel() > 24:
            return f"tensor(shape={tuple(value.shape)}, dtype={_dtype(value)})"
        values = value.detach().tolist()
        if value.is_floating_point():
            values = _round(values)
        return f"tensor({values}, dtype={_dtype(value)})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _dtype(value: torch.Tensor) -> str:
    return str(value.dtype).removeprefix("torch.")


def _round(values: Any) -> Any:
    if isinstance(values, list):
        return [_round(v) for v in values]
    return round(values, 4)


def _fail(call: str, expected: Any, got: Any, why: str, hint: str = "") -> NoReturn:
    """``{call}: {why}`` first, then torch's batch and yours, pictured by :func:`show`."""
    reference = _("torch gives")
    details = [
        f"  {reference}: {show(expected)}",
        _("  yours gave: {value}").format(value=show(got)),
    ]
    raise CheckFailure(message(call, why, details, hint))


# ---------------------------------------------------------------- exercise 1: pad_collate


def reference_pad_collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, ...]:
    """What ``pad_collate`` must return, computed with ``pad_sequence``."""
    sequences = [sequence for sequence, _ in batch]
    padded = _pad_sequence(sequences, batch_first=True, padding_value=0)
    lengths = torch.tensor([len(sequence) for sequence in sequences])
    labels = torch.tensor([label for _, label in batch])
    return padded, lengths, labels


def _pad_inputs(case: Case) -> list[tuple[torch.Tensor, int]]:
    """The batch of (sequence, label) pairs of a case, made from its seed on either side."""
    rng = random.Random(case["seed"])
    dtype = DTYPES[case["dtype"]]
    batch = []
    for length in case["lengths"]:
        if dtype.is_floating_point:
            values = [round(rng.uniform(-3, 3), 2) for _ in range(length)]
        else:
            values = [rng.randint(1, 99) for _ in range(length)]
        batch.append((torch.tensor(values, dtype=dtype), rng.randint(0, 4)))
    return batch


def _show_pairs(batch: list[tuple[torch.Tensor, int]]) -> str:
    return "[" + ", ".join(f"({show(seq)}, {label})" for seq, label in batch) + "]"


def _pad_call(batch: list[tuple[torch.Tensor, int]]) -> str:
    return f"pad_collate({_show_pairs(batch)})"


def _pad_hint(batch: list[tuple[torch.Tensor, int]], part: str, got: Any) -> str:
    sequences = [sequence for sequence, _ in batch]
    if part == "padded" and isinstance(got, torch.Tensor):
        left = _pad_sequence(sequences, batch_first=True, padding_side="left")
        if got.shape == left.shape and got.dtype == left.dtype and torch.equal(got, left):
            return _("the zeros go on the right, after each sequence (padding_side='right')")
        time_first = _pad_sequence(sequences, batch_first=False)
        if got.shape == time_first.shape and torch.equal(got, time_first.to(got.dtype)):
            return _("batch_first=True: one row per sequence, shape (batch, longest)")
    if part == "lengths" and isinstance(got, torch.Tensor) and got.shape == (len(batch),):
        diff = got.to(torch.int64) - torch.tensor([len(s) for s in sequences])
        if bool((diff == diff[0]).all()) and int(diff[0]) != 0:
            return _("every length is off by {offset}: a length counts the real items").format(
                offset=int(diff[0])
            )
    return ""


def _pad_scenario(pad_collate: Callable, case: Case, obs: Recorder) -> None:
    batch = _pad_inputs(case)
    obs["output"] = obs.call(_pad_call(batch), pad_collate, batch)


def _pad_reference(case: Case) -> tuple[torch.Tensor, ...]:
    return reference_pad_collate(_pad_inputs(case))


def _pad_judge(case: Case, expected: tuple[torch.Tensor, ...], obs: Observation) -> None:
    batch = _pad_inputs(case)
    call = _pad_call(batch)
    got = obs["output"]
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        why = (
            _("returned {count} items, not a tuple (padded, lengths, labels)").format(
                count=len(got)
            )
            if isinstance(got, (tuple, list))
            else _("returned a {type}, not a tuple (padded, lengths, labels)").format(
                type=_kind(got)
            )
        )
        _fail(
            call,
            expected,
            got,
            why,
            _("return a tuple of three tensors: (padded, lengths, labels)"),
        )
    for part, want, have in zip(("padded", "lengths", "labels"), expected, got, strict=True):
        why = tensor_difference(want, have, atol=0, rtol=0)
        if why is not None:
            _fail(call, expected, got, f"{part}: {why}", _pad_hint(batch, part, have))


def _pad_hidden(rng: random.Random, cases: int = 8) -> list[Case]:
    """Batches drawn at grading time, smallest first; the first drawn always mixes lengths,
    so padding on the wrong side shows."""
    drawn = [rng.sample(range(1, 8), rng.randint(2, 4))]
    drawn += [[rng.randint(1, 7) for _ in range(rng.randint(1, 6))] for _ in range(cases - 1)]
    batches = [
        {
            "lengths": lengths,
            "dtype": rng.choice(["int64", "float32", "float64"]),
            "seed": rng.getrandbits(32),
        }
        for lengths in drawn
    ]
    return sorted(batches, key=lambda case: (len(case["lengths"]), sum(case["lengths"])))


PAD_COLLATE = Check(
    name="dataloader.pad_collate",
    doc="pad_collate pads right with 0, batch first, and returns lengths and labels",
    scenario=_pad_scenario,
    reference=_pad_reference,
    judge=_pad_judge,
    visible=[
        {"lengths": [3, 1], "dtype": "int64", "seed": 1},
        {"lengths": [2], "dtype": "float32", "seed": 2},
        {"lengths": [2, 4, 1], "dtype": "float32", "seed": 3},
        {"lengths": [1, 5, 5, 2], "dtype": "int64", "seed": 4},
    ],
    hidden=_pad_hidden,
    refuses=Delegation(
        task="the padding",
        forbidden=(
            "torch.nn.utils.rnn",
            "torch.utils.data.default_collate",
            "torch.utils.data._utils",
        ),
    ),
)
check_pad_collate, check_pad_collate_hidden = PAD_COLLATE.functions()


# ---------------------------------------------------------------- exercise 2: my_collate

# A sample travels in a case as a *spec*, plain data that says how to build it:
#   ["int", 3]  ["float", 0.5]  ["str", "sad"]
#   ["tensor", "float32", [1.0, 2.0]]            a tensor with these values (nested lists)
#   ["random", "int64", [2, 3], seed]            torch.randn / randint from a seeded generator
#   ["tuple", [spec, ...]]  ["list", [spec, ...]]  ["dict", [[key, spec], ...]]


def build(spec: Any) -> Any:
    """The sample a spec describes (the same on either side: no global RNG is used)."""
    kind = spec[0]
    if kind == "int":
        return int(spec[1])
    if kind == "float":
        return float(spec[1])
    if kind == "str":
        return str(spec[1])
    if kind == "tensor":
        return torch.tensor(spec[2], dtype=DTYPES[spec[1]])
    if kind == "random":
        _, dtype, shape, seed = spec
        generator = torch.Generator().manual_seed(seed)
        if DTYPES[dtype].is_floating_point:
            return torch.randn(shape, generator=generator).to(DTYPES[dtype])
        return torch.randint(-9, 10, shape, generator=generator)
    if kind == "dict":
        return {key: build(sub) for key, sub in spec[1]}
    items = [build(sub) for sub in spec[1]]
    return tuple(items) if kind == "tuple" else items


def spec_of(value: Any) -> list:
    """The spec of a sample made of ints, floats, strings, tensors, tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return ["tensor", _dtype(value), value.tolist()]
    if isinstance(value, dict):
        return ["dict", [[key, spec_of(item)] for key, item in value.items()]]
    if isinstance(value, (tuple, list)):
        return [type(value).__name__, [spec_of(item) for item in value]]
    return [type(value).__name__, value]


def _collate_inputs(case: Case) -> list[Any]:
    return [build(spec) for spec in case["batch"]]


def _collate_call(batch: list[Any]) -> str:
    return f"my_collate({show(batch)})"


def _collate_scenario(my_collate: Callable, case: Case, obs: Recorder) -> None:
    batch = _collate_inputs(case)
    obs["output"] = obs.call(_collate_call(batch), my_collate, batch)


def _collate_reference(case: Case) -> Any:
    return _default_collate(_collate_inputs(case))


def _collate_judge(case: Case, expected: Any, obs: Observation) -> None:
    got = obs["output"]
    why = batch_difference(expected, got)
    if why is not None:
        _fail(_collate_call(_collate_inputs(case)), expected, got, why)


def visible_collate_cases() -> list[list[Any]]:
    """Small batches, one feature of ``default_collate`` each, then a nested one."""
    seed_note = [
        {"Text": "Glum", "Class": "Negative"},
        {"Text": "Sad", "Class": "Negative"},
    ]
    return [
        [3, 1, 4],
        [0.5, 2.25],
        ["happy", "sad"],
        [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])],
        [(torch.tensor([1, 2]), 0), (torch.tensor([3, 4]), 1)],
        [[1, 2, 3], [4, 5, 6]],
        seed_note,
        [
            {"x": torch.tensor([0.5]), "meta": {"id": 7, "tag": "a"}, "pair": (1, 2.5)},
            {"x": torch.tensor([1.5]), "meta": {"id": 8, "tag": "b"}, "pair": (3, 4.5)},
        ],
    ]


def random_schema(rng: random.Random, depth: int = 0) -> list:
    """A random sample layout: leaves are tensors, ints, floats and strings."""
    leaves = ["int", "float", "str", "tensor"]
    kinds = leaves + (["tuple", "list", "dict"] if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "tensor":
        shape = [rng.randint(1, 3) for _ in range(rng.randint(0, 2))]
        return ["tensor", shape, rng.choice(["float32", "int64", "float64"])]
    if kind in leaves:
        return [kind]
    width = rng.randint(1, 3)
    if kind == "dict":
        keys = rng.sample(WORDS, width)
        return ["dict", {key: random_schema(rng, depth + 1) for key in keys}]
    return [kind, [random_schema(rng, depth + 1) for _ in range(width)]]


def random_sample(schema: list, rng: random.Random) -> list:
    """The spec of one sample laid out as ``schema``, with values drawn from ``rng``."""
    kind = schema[0]
    if kind == "int":
        return ["int", rng.randint(-50, 50)]
    if kind == "float":
        return ["float", round(rng.uniform(-5, 5), 3)]
    if kind == "str":
        return ["str", rng.choice(WORDS)]
    if kind == "tensor":
        _, shape, dtype = schema
        return ["random", dtype, shape, rng.getrandbits(32)]
    if kind == "dict":
        return ["dict", [[key, random_sample(sub, rng)] for key, sub in schema[1].items()]]
    return [kind, [random_sample(sub, rng) for sub in schema[1]]]


def _leaves(schema: list) -> int:
    if schema[0] == "dict":
        return sum(_leaves(sub) for sub in schema[1].values())
    if schema[0] in ("tuple", "list"):
        return sum(_leaves(sub) for sub in schema[1])
    return 1


def _collate_hidden(rng: random.Random, cases: int = 12) -> list[Case]:
    """Nested batches drawn at grading time, smallest first.

    Besides random layouts, every run has a (tensor, int) tuple and a dict of a string, a
    float and a list, so each rule of ``default_collate`` is exercised.
    """
    shape = [rng.randint(1, 3) for _ in range(rng.randint(1, 2))]
    keys = rng.sample(WORDS, 3)
    schemas = [
        ["tuple", [["tensor", shape, rng.choice(["float32", "int64"])], ["int"]]],
        ["dict", {keys[0]: ["str"], keys[1]: ["float"], keys[2]: ["list", [["int"]] * 2]}],
    ]
    schemas += [random_schema(rng) for _ in range(cases - len(schemas))]
    drawn = []
    for schema in schemas:
        batch = [random_sample(schema, rng) for _ in range(rng.randint(1, 4))]
        drawn.append((_leaves(schema) * len(batch), {"batch": batch}))
    return [case for _, case in sorted(drawn, key=lambda pair: pair[0])]


MY_COLLATE = Check(
    name="dataloader.my_collate",
    doc="my_collate builds what default_collate builds",
    scenario=_collate_scenario,
    reference=_collate_reference,
    judge=_collate_judge,
    visible=[{"batch": [spec_of(sample) for sample in batch]} for batch in visible_collate_cases()],
    hidden=_collate_hidden,
    refuses=Delegation(
        task="the collation",
        forbidden=(
            "torch.utils.data.default_collate",
            "torch.utils.data._utils",
            "torch.utils.data.dataloader",
        ),
    ),
)
check_my_collate, check_my_collate_hidden = MY_COLLATE.functions()


# ---------------------------------------------------------------- exercise 3: simple_loader


class Numbers(Dataset):
    """Sample ``i`` is the int ``10 * i + 1``: a batch of them collates into one tensor."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} samples")
        return 10 * index + 1

    def __repr__(self) -> str:
        return f"Numbers({self.size})"


class Pairs(Numbers):
    """Sample ``i`` is ``(tensor([i, -i / 2]), i % 3)``: features and a label."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        super().__getitem__(index)
        return torch.tensor([float(index), -index / 2]), index % 3

    def __repr__(self) -> str:
        return f"Pairs({self.size})"


class Records(Numbers):
    """Sample ``i`` is a dict with a word, a label and a tensor, like the seed note's."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        super().__getitem__(index)
        word = WORDS[index % len(WORDS)] + str(index)
        return {"text": word, "label": index % 2, "x": torch.tensor([index, index + 1])}

    def __repr__(self) -> str:
        return f"Records({self.size})"


def keep_as_list(batch: list[Any]) -> list[Any]:
    """A collate_fn that returns the samples unchanged, as a list."""
    return list(batch)


#: The datasets and collate functions a loader case names.
DATASETS = {kind.__name__: kind for kind in (Numbers, Pairs, Records)}
COLLATE_FNS = {"keep_as_list": keep_as_list}

#: Epochs of a loader case, run with the same generator object.
EPOCHS = 2


def _loader_inputs(case: Case) -> tuple[Dataset, dict[str, Any], torch.Generator | None]:
    """The dataset, the DataLoader options and the seeded generator of a case."""
    dataset = DATASETS[case["dataset"]](case["size"])
    options = dict(case["options"])
    if "collate_fn" in options:
        options["collate_fn"] = COLLATE_FNS[options["collate_fn"]]
    seed = case["seed"]
    return dataset, options, None if seed is None else torch.Generator().manual_seed(seed)


def _loader_call(case: Case) -> str:
    shown = {k: v for k, v in case["options"].items() if k != "collate_fn"}
    if case["options"].get("collate_fn") is not None:
        shown["collate_fn"] = case["options"]["collate_fn"]
    if case["seed"] is not None:
        shown["generator"] = f"torch.Generator().manual_seed({case['seed']})"
    arguments = ", ".join(f"{k}={v}" for k, v in shown.items())
    return f"simple_loader({case['dataset']}({case['size']}), {arguments})"


def _take(batches: Iterator, limit: int) -> list[Any]:
    """At most ``limit`` batches: a loader that never stops cannot hang the check."""
    return list(itertools.islice(batches, limit))


def _loader_scenario(simple_loader: Callable, case: Case, obs: Recorder) -> None:
    dataset, options, generator = _loader_inputs(case)
    call = _loader_call(case)
    limit = len(dataset) + 2  # more batches than any loader over the dataset yields
    for epoch in range(1, EPOCHS + 1):
        batches = obs.call(call, simple_loader, dataset, generator=generator, **options)
        obs[f"returned/{epoch}"] = type(batches).__name__
        obs[f"iterator/{epoch}"] = isinstance(batches, Iterator)
        if not isinstance(batches, Iterator):
            return
        obs[f"batches/{epoch}"] = obs.call(f"{call}, epoch {epoch}", _take, batches, limit)
        if generator is not None:
            obs[f"state/{epoch}"] = generator.get_state()


def _loader_reference(case: Case) -> dict:
    dataset, options, generator = _loader_inputs(case)
    loader = _DataLoader(dataset, generator=generator, **options)
    batches, states = [], []
    for _epoch in range(EPOCHS):
        batches.append(list(loader))
        states.append(None if generator is None else generator.get_state())
    return {"batches": batches, "states": states}


def _loader_judge(case: Case, reference: dict, obs: Observation) -> None:
    call = _loader_call(case)
    options = case["options"]
    for epoch, expected in enumerate(reference["batches"], start=1):
        if not obs[f"iterator/{epoch}"]:
            raise CheckFailure(
                message(
                    f"{call}, epoch {epoch}",
                    _("returned {type}, not an iterator").format(type=obs[f"returned/{epoch}"]),
                    hint=_("make simple_loader a generator function: yield each batch"),
                )
            )
        got = obs[f"batches/{epoch}"]
        if not isinstance(got, list):
            raise CheckFailure(message(f"{call}, epoch {epoch}", _("no list of batches came back")))
        for number, (want, have) in enumerate(zip(expected, got, strict=False), start=1):
            why = batch_difference(want, have)
            if why is None:
                continue
            hint = ""
            if options.get("shuffle") and epoch > 1:
                hint = _(
                    "epoch 1 matched, so the generator is not advanced like DataLoader's: it "
                    "draws a base seed, a permutation, and one more (empty) permutation when "
                    "the sampler runs out"
                )
            elif options.get("shuffle"):
                hint = _(
                    "DataLoader first draws a base seed for its workers from the generator (an "
                    "int64), then shuffles with torch.randperm(n, generator=generator)"
                )
            _fail(f"{call}, epoch {epoch}, batch {number}", want, have, why, hint)
        if len(got) != len(expected):
            extra = got[len(expected)] if len(got) > len(expected) else expected[len(got)]
            hint = ""
            if options.get("drop_last") and len(got) > len(expected):
                hint = _("drop_last=True drops the last, incomplete batch")
            shown_expected = extra if len(got) < len(expected) else _("no more batches")
            shown_got = extra if len(got) > len(expected) else _("no more batches")
            _fail(
                f"{call}, epoch {epoch}, batch {min(len(got), len(expected)) + 1}",
                shown_expected,
                shown_got,
                _("torch yields {expected} batches, yours {got}").format(
                    expected=len(expected), got=len(got)
                ),
                hint,
            )
    if case["seed"] is None:
        return
    for epoch, expected in enumerate(reference["states"], start=1):
        state = obs[f"state/{epoch}"]
        if not isinstance(state, torch.Tensor) or not torch.equal(expected, state):
            epochs = f"{epoch} epoch" + ("s" if epoch > 1 else "")
            raise CheckFailure(
                message(
                    f"{call}, {epochs}",
                    _(
                        "every batch matched, but the generator ends in another state than "
                        "DataLoader leaves it in"
                    ),
                    hint=_(
                        "DataLoader draws one int64 base seed from the generator at the start "
                        "of every epoch, even with shuffle=False"
                    ),
                )
            )


def _loader_hidden(rng: random.Random, cases: int = 10) -> list[Case]:
    """Settings drawn at grading time, smallest first.

    Every run includes a shuffled case, a drop_last case with a short last batch, and a
    seeded generator without shuffling; the other cases are drawn freely.
    """
    kinds = sorted(DATASETS)
    batch_size = rng.randint(2, 5)
    drawn = [
        {
            "dataset": rng.choice(kinds),
            "size": rng.randint(4, 15),
            "options": {
                "batch_size": rng.randint(1, 5),
                "shuffle": True,
                "drop_last": rng.random() < 0.5,
            },
            "seed": rng.getrandbits(32),
        },
        {
            "dataset": rng.choice(kinds),
            "size": batch_size * rng.randint(1, 3) + rng.randint(1, batch_size - 1),
            "options": {"batch_size": batch_size, "shuffle": rng.random() < 0.5, "drop_last": True},
            "seed": rng.getrandbits(32),
        },
        {
            "dataset": rng.choice(kinds),
            "size": rng.randint(1, 15),
            "options": {"batch_size": rng.randint(1, 5)},
            "seed": rng.getrandbits(32),
        },
    ]
    for _more in range(cases - len(drawn)):
        options: dict[str, Any] = {
            "batch_size": rng.randint(1, 6),
            "shuffle": rng.random() < 0.6,
            "drop_last": rng.random() < 0.4,
        }
        if rng.random() < 0.2:
            options["collate_fn"] = "keep_as_list"
        seed = rng.getrandbits(32) if options["shuffle"] or rng.random() < 0.5 else None
        drawn.append(
            {
                "dataset": rng.choice(kinds),
                "size": rng.randint(1, 15),
                "options": options,
                "seed": seed,
            }
        )
    return sorted(drawn, key=lambda case: case["size"])


def _loader_case(kind: type, size: int, options: dict[str, Any], seed: int | None) -> Case:
    return {"dataset": kind.__name__, "size": size, "options": options, "seed": seed}


SIMPLE_LOADER = Check(
    name="dataloader.simple_loader",
    doc="simple_loader yields a single-process DataLoader's batches, epoch after epoch",
    scenario=_loader_scenario,
    reference=_loader_reference,
    judge=_loader_judge,
    visible=[
        _loader_case(Numbers, 5, {"batch_size": 2}, None),
        _loader_case(Numbers, 7, {"batch_size": 3, "drop_last": True}, None),
        _loader_case(Pairs, 4, {"batch_size": 3}, None),
        _loader_case(Numbers, 7, {"batch_size": 3, "shuffle": True}, 0),
        _loader_case(Records, 5, {"batch_size": 2, "collate_fn": "keep_as_list"}, None),
        _loader_case(Records, 6, {"batch_size": 4, "shuffle": True, "drop_last": True}, 12),
        _loader_case(Pairs, 5, {"batch_size": 2}, 3),
    ],
    hidden=_loader_hidden,
    refuses=Delegation(
        task="the loader loop",
        # default_collate is the loop's collate_fn, not the loop: allowed here.
        forbidden=("torch.utils.data.DataLoader", "torch.utils.data.dataloader"),
    ),
)
check_simple_loader, check_simple_loader_hidden = SIMPLE_LOADER.functions()


__all__ = [
    "MY_COLLATE",
    "PAD_COLLATE",
    "SIMPLE_LOADER",
    "batch_difference",
    "build",
    "check_my_collate",
    "check_my_collate_hidden",
    "check_pad_collate",
    "check_pad_collate_hidden",
    "check_simple_loader",
    "check_simple_loader_hidden",
    "keep_as_list",
    "reference_pad_collate",
    "show",
    "spec_of",
]
