"""Checks for chapter 06_dataloader: ``pad_collate``, ``my_collate`` and ``simple_loader``.

Every check builds the same batches with torch (``pad_sequence``, ``default_collate``,
``DataLoader``) and with the student's function, walks the two results side by side, and
reports the first place where they differ. Cases run smallest first, so the message shows
the smallest batch that differs.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import torch
from torch.nn.utils.rnn import pad_sequence as _pad_sequence
from torch.utils.data import DataLoader as _DataLoader
from torch.utils.data import Dataset
from torch.utils.data import default_collate as _default_collate

from autograder.report import CheckFailure, call_student, hidden_rng, tensor_difference


def _torch_functions() -> dict[str, Any]:
    """The torch functions that the reference results depend on, by name."""
    from torch.utils.data._utils import collate

    return {
        "torch.randperm": torch.randperm,
        "torch.stack": torch.stack,
        "torch.tensor": torch.tensor,
        "torch.empty": torch.empty,
        "torch.Tensor.random_": torch.Tensor.random_,
        "torch.nn.utils.rnn.pad_sequence": torch.nn.utils.rnn.pad_sequence,
        "torch.utils.data.default_collate": collate.default_collate,
    }


#: The same functions as they were when the checks were imported. Student code that replaces
#: one of them would change torch's answer too, so the checks refuse to run.
_ORIGINALS = _torch_functions()

WORDS = ("happy", "sad", "glum", "amazing", "calm", "odd", "bright", "dull", "keen")


# ---------------------------------------------------------------- comparing batches


def _require_untouched_torch() -> None:
    """Fail when a torch function the references use has been replaced since import."""
    current = _torch_functions()
    replaced = [name for name, original in _ORIGINALS.items() if current[name] is not original]
    if replaced:
        raise CheckFailure(
            f"{', '.join(replaced)} was replaced after the checks were imported\n"
            "  the checks compare with an untouched torch: restart the kernel and do not"
            " reassign torch's functions"
        )


def batch_difference(expected: Any, got: Any, where: str = "batch") -> str | None:
    """Describe the first difference between two collated batches, or ``None`` if equal.

    Containers must have torch's type (``list`` is not ``tuple``), dicts the same keys in the
    same order, tensors the same shape, dtype and values. A batch of strings is the one
    exception: torch hands back the sequence of strings it was given, so either a list or a
    tuple of the same strings is accepted.
    """
    if isinstance(expected, torch.Tensor):
        why = tensor_difference(expected, got, atol=0, rtol=0)
        if why is not None and isinstance(got, (list, tuple)):
            why += " (numbers become one tensor per batch, tensors are stacked)"
        return None if why is None else f"at {where}: {why}"
    if (
        isinstance(expected, (list, tuple))
        and expected
        and all(isinstance(item, str) for item in expected)
    ):
        if isinstance(got, (list, tuple)) and list(got) == list(expected):
            return None
        if isinstance(got, (list, tuple)) and len(got) != len(expected):
            return (
                f"at {where}: {len(expected)} strings expected, got {len(got)} items"
                " (a str is a sequence too: keep strings whole, do not zip their characters)"
            )
        return f"at {where}: a batch of strings stays a plain sequence of those strings"
    if type(got) is not type(expected):
        hint = ""
        if isinstance(expected, list) and isinstance(got, tuple):
            hint = " (default_collate turns a batch of tuples into a list)"
        return f"at {where}: {type(expected).__name__} expected, got {type(got).__name__}{hint}"
    if isinstance(expected, dict):
        if list(got) != list(expected):
            return f"at {where}: keys {list(expected)} expected, got {list(got)}"
        for key in expected:
            why = batch_difference(expected[key], got[key], f"{where}[{key!r}]")
            if why:
                return why
        return None
    if isinstance(expected, (list, tuple)):
        if len(got) != len(expected):
            return f"at {where}: length {len(expected)} expected, got {len(got)}"
        for i, (want, have) in enumerate(zip(expected, got, strict=True)):
            why = batch_difference(want, have, f"{where}[{i}]")
            if why:
                return why
        return None
    if got != expected:
        return f"at {where}: {expected!r} expected, got {got!r}"
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


def _fail(call: str, expected: Any, got: Any, why: str) -> NoReturn:
    raise CheckFailure(
        f"{call}\n  torch gives: {show(expected)}\n  yours gave: {show(got)}\n  difference:  {why}"
    )


# ---------------------------------------------------------------- exercise 1: pad_collate


def reference_pad_collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, ...]:
    """What ``pad_collate`` must return, computed with ``pad_sequence``."""
    sequences = [sequence for sequence, _ in batch]
    padded = _pad_sequence(sequences, batch_first=True, padding_value=0)
    lengths = torch.tensor([len(sequence) for sequence in sequences])
    labels = torch.tensor([label for _, label in batch])
    return padded, lengths, labels


def _pad_case(lengths: list[int], dtype: torch.dtype, seed: int) -> list[tuple[torch.Tensor, int]]:
    rng = random.Random(seed)
    batch = []
    for length in lengths:
        if dtype.is_floating_point:
            values = [round(rng.uniform(-3, 3), 2) for _ in range(length)]
        else:
            values = [rng.randint(1, 99) for _ in range(length)]
        batch.append((torch.tensor(values, dtype=dtype), rng.randint(0, 4)))
    return batch


def _show_pairs(batch: list[tuple[torch.Tensor, int]]) -> str:
    return "[" + ", ".join(f"({show(seq)}, {label})" for seq, label in batch) + "]"


def _pad_hint(batch: list[tuple[torch.Tensor, int]], part: str, got: Any) -> str:
    sequences = [sequence for sequence, _ in batch]
    if part == "padded" and isinstance(got, torch.Tensor):
        left = _pad_sequence(sequences, batch_first=True, padding_side="left")
        if got.shape == left.shape and got.dtype == left.dtype and torch.equal(got, left):
            return "the zeros go on the right, after each sequence (padding_side='right')"
        time_first = _pad_sequence(sequences, batch_first=False)
        if got.shape == time_first.shape and torch.equal(got, time_first.to(got.dtype)):
            return "batch_first=True: one row per sequence, shape (batch, longest)"
    if part == "lengths" and isinstance(got, torch.Tensor) and got.shape == (len(batch),):
        diff = got.to(torch.int64) - torch.tensor([len(s) for s in sequences])
        if bool((diff == diff[0]).all()) and int(diff[0]) != 0:
            return f"every length is off by {int(diff[0])}: a length counts the real items"
    return ""


def _check_pad_case(pad_collate: Callable, batch: list[tuple[torch.Tensor, int]]) -> None:
    _require_untouched_torch()
    call = f"pad_collate({_show_pairs(batch)})"
    expected = reference_pad_collate(batch)
    got = call_student(call, pad_collate, copy.deepcopy(batch))
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        _fail(call, expected, got, "return a tuple of three tensors: (padded, lengths, labels)")
    for part, want, have in zip(("padded", "lengths", "labels"), expected, got, strict=True):
        why = tensor_difference(want, have, atol=0, rtol=0)
        if why is not None:
            hint = _pad_hint(batch, part, have)
            _fail(call, expected, got, f"{part}: {why}" + (f"\n  hint: {hint}" if hint else ""))


def check_pad_collate(pad_collate: Callable) -> None:
    """``pad_collate`` pads right with 0, batch first, and returns lengths and labels."""
    cases = [
        _pad_case([3, 1], torch.int64, seed=1),
        _pad_case([2], torch.float32, seed=2),
        _pad_case([2, 4, 1], torch.float32, seed=3),
        _pad_case([1, 5, 5, 2], torch.int64, seed=4),
    ]
    for batch in cases:
        _check_pad_case(pad_collate, batch)


def check_pad_collate_hidden(pad_collate: Callable, cases: int = 8) -> None:
    """:func:`check_pad_collate` on batches drawn at grading time, smallest first.

    The first drawn batch always mixes lengths, so padding on the wrong side shows.
    """
    rng = hidden_rng()
    drawn = [rng.sample(range(1, 8), rng.randint(2, 4))]
    drawn += [[rng.randint(1, 7) for _ in range(rng.randint(1, 6))] for _ in range(cases - 1)]
    batches = [
        _pad_case(
            lengths, rng.choice([torch.int64, torch.float32, torch.float64]), rng.getrandbits(32)
        )
        for lengths in drawn
    ]
    for batch in sorted(batches, key=lambda b: (len(b), sum(len(s) for s, _ in b))):
        _check_pad_case(pad_collate, batch)


# ---------------------------------------------------------------- exercise 2: my_collate


def _check_collate_case(my_collate: Callable, batch: list[Any]) -> None:
    _require_untouched_torch()
    call = f"my_collate({show(batch)})"
    expected = _default_collate(copy.deepcopy(batch))
    got = call_student(call, my_collate, copy.deepcopy(batch))
    why = batch_difference(expected, got)
    if why is not None:
        _fail(call, expected, got, why)


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


def check_my_collate(my_collate: Callable) -> None:
    """``my_collate`` builds what ``default_collate`` builds on the visible batches."""
    for batch in visible_collate_cases():
        _check_collate_case(my_collate, batch)


def random_schema(rng: random.Random, depth: int = 0) -> Any:
    """A random sample layout: leaves are tensors, ints, floats and strings."""
    leaves = ["int", "float", "str", "tensor"]
    kinds = leaves + (["tuple", "list", "dict"] if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "tensor":
        shape = tuple(rng.randint(1, 3) for _ in range(rng.randint(0, 2)))
        return ("tensor", shape, rng.choice([torch.float32, torch.int64, torch.float64]))
    if kind in leaves:
        return (kind,)
    width = rng.randint(1, 3)
    if kind == "dict":
        keys = rng.sample(WORDS, width)
        return ("dict", {key: random_schema(rng, depth + 1) for key in keys})
    return (kind, [random_schema(rng, depth + 1) for _ in range(width)])


def random_sample(schema: Any, rng: random.Random) -> Any:
    """One sample laid out as ``schema``, with values drawn from ``rng``."""
    kind = schema[0]
    if kind == "int":
        return rng.randint(-50, 50)
    if kind == "float":
        return round(rng.uniform(-5, 5), 3)
    if kind == "str":
        return rng.choice(WORDS)
    if kind == "tensor":
        _, shape, dtype = schema
        generator = torch.Generator().manual_seed(rng.getrandbits(32))
        if dtype.is_floating_point:
            return torch.randn(shape, generator=generator).to(dtype)
        return torch.randint(-9, 10, shape, generator=generator)
    if kind == "dict":
        return {key: random_sample(sub, rng) for key, sub in schema[1].items()}
    items = [random_sample(sub, rng) for sub in schema[1]]
    return tuple(items) if kind == "tuple" else items


def _leaves(schema: Any) -> int:
    if schema[0] == "dict":
        return sum(_leaves(sub) for sub in schema[1].values())
    if schema[0] in ("tuple", "list"):
        return sum(_leaves(sub) for sub in schema[1])
    return 1


def check_my_collate_hidden(my_collate: Callable, cases: int = 12) -> None:
    """:func:`check_my_collate` on nested batches drawn at grading time, smallest first.

    Besides random layouts, every run has a (tensor, int) tuple and a dict of a string, a
    float and a list, so each rule of ``default_collate`` is exercised.
    """
    rng = hidden_rng()
    shape = tuple(rng.randint(1, 3) for _ in range(rng.randint(1, 2)))
    keys = rng.sample(WORDS, 3)
    schemas = [
        ("tuple", [("tensor", shape, rng.choice([torch.float32, torch.int64])), ("int",)]),
        ("dict", {keys[0]: ("str",), keys[1]: ("float",), keys[2]: ("list", [("int",)] * 2)}),
    ]
    schemas += [random_schema(rng) for _ in range(cases - len(schemas))]
    drawn = []
    for schema in schemas:
        batch = [random_sample(schema, rng) for _ in range(rng.randint(1, 4))]
        drawn.append((_leaves(schema) * len(batch), batch))
    for _, batch in sorted(drawn, key=lambda pair: pair[0]):
        _check_collate_case(my_collate, batch)


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


def _loader_call(dataset: Dataset, options: dict[str, Any], seed: int | None) -> str:
    shown = {k: v for k, v in options.items() if k != "collate_fn"}
    if options.get("collate_fn") is not None:
        shown["collate_fn"] = options["collate_fn"].__name__
    if seed is not None:
        shown["generator"] = f"torch.Generator().manual_seed({seed})"
    arguments = ", ".join(f"{k}={v}" for k, v in shown.items())
    return f"simple_loader({dataset!r}, {arguments})"


def _epoch(call: str, batches: Any) -> list[Any]:
    if not isinstance(batches, Iterator):
        raise CheckFailure(
            f"{call}\n  returned {type(batches).__name__}, not an iterator\n"
            "  hint: make simple_loader a generator function: yield each batch"
        )
    return call_student(call, list, batches)


def _check_loader_case(
    simple_loader: Callable,
    dataset: Dataset,
    options: dict[str, Any],
    seed: int | None,
    epochs: int = 2,
) -> None:
    _require_untouched_torch()
    call = _loader_call(dataset, options, seed)
    reference = None if seed is None else torch.Generator().manual_seed(seed)
    mine = None if seed is None else torch.Generator().manual_seed(seed)
    loader = _DataLoader(dataset, generator=reference, **options)
    for epoch in range(1, epochs + 1):
        _require_untouched_torch()
        expected = list(loader)
        got = _epoch(
            f"{call}, epoch {epoch}",
            call_student(call, simple_loader, dataset, generator=mine, **options),
        )
        for number, (want, have) in enumerate(zip(expected, got, strict=False), start=1):
            why = batch_difference(want, have)
            if why is not None:
                if options.get("shuffle") and epoch > 1:
                    why += (
                        "\n  hint: epoch 1 matched, so the generator is not advanced like"
                        " DataLoader's: it draws a base seed, a permutation, and one more"
                        " (empty) permutation when the sampler runs out"
                    )
                elif options.get("shuffle"):
                    why += (
                        "\n  hint: DataLoader first draws a base seed for its workers from"
                        " the generator (an int64), then shuffles with torch.randperm(n,"
                        " generator=generator)"
                    )
                _fail(f"{call}\n  epoch {epoch}, batch {number}", want, have, why)
        if len(got) != len(expected):
            extra = got[len(expected)] if len(got) > len(expected) else expected[len(got)]
            why = f"torch yields {len(expected)} batches, yours {len(got)}"
            if options.get("drop_last") and len(got) > len(expected):
                why += " (drop_last=True drops the last, incomplete batch)"
            shown_expected = extra if len(got) < len(expected) else "no more batches"
            shown_got = extra if len(got) > len(expected) else "no more batches"
            _fail(
                f"{call}\n  epoch {epoch}, batch {min(len(got), len(expected)) + 1}",
                shown_expected,
                shown_got,
                why,
            )
    if seed is not None and not torch.equal(reference.get_state(), mine.get_state()):
        raise CheckFailure(
            f"{call}, {epochs} epochs\n  every batch matched, but the generator ends in another"
            " state than DataLoader leaves it in\n  difference:  DataLoader draws one int64"
            " base seed from the generator at the start of every epoch, even with"
            " shuffle=False"
        )


def visible_loader_cases() -> list[tuple[Dataset, dict[str, Any], int | None]]:
    """(dataset, DataLoader options, generator seed) for the visible check."""
    return [
        (Numbers(5), {"batch_size": 2}, None),
        (Numbers(7), {"batch_size": 3, "drop_last": True}, None),
        (Pairs(4), {"batch_size": 3}, None),
        (Numbers(7), {"batch_size": 3, "shuffle": True}, 0),
        (Records(5), {"batch_size": 2, "collate_fn": keep_as_list}, None),
        (Records(6), {"batch_size": 4, "shuffle": True, "drop_last": True}, 12),
        (Pairs(5), {"batch_size": 2}, 3),
    ]


def check_simple_loader(simple_loader: Callable) -> None:
    """``simple_loader`` yields a single-process DataLoader's batches, epoch after epoch."""
    for dataset, options, seed in visible_loader_cases():
        _check_loader_case(simple_loader, dataset, options, seed)


def check_simple_loader_hidden(simple_loader: Callable, cases: int = 10) -> None:
    """:func:`check_simple_loader` on settings drawn at grading time, smallest first.

    Every run includes a shuffled case, a drop_last case with a short last batch, and a
    seeded generator without shuffling; the other cases are drawn freely.
    """
    rng = hidden_rng()
    kinds = [Numbers, Pairs, Records]
    batch_size = rng.randint(2, 5)
    drawn = [
        (
            rng.choice(kinds)(rng.randint(4, 15)),
            {"batch_size": rng.randint(1, 5), "shuffle": True, "drop_last": rng.random() < 0.5},
            rng.getrandbits(32),
        ),
        (
            rng.choice(kinds)(batch_size * rng.randint(1, 3) + rng.randint(1, batch_size - 1)),
            {"batch_size": batch_size, "shuffle": rng.random() < 0.5, "drop_last": True},
            rng.getrandbits(32),
        ),
        (
            rng.choice(kinds)(rng.randint(1, 15)),
            {"batch_size": rng.randint(1, 5)},
            rng.getrandbits(32),
        ),
    ]
    for _ in range(cases - len(drawn)):
        options: dict[str, Any] = {
            "batch_size": rng.randint(1, 6),
            "shuffle": rng.random() < 0.6,
            "drop_last": rng.random() < 0.4,
        }
        if rng.random() < 0.2:
            options["collate_fn"] = keep_as_list
        seed = rng.getrandbits(32) if options["shuffle"] or rng.random() < 0.5 else None
        drawn.append((rng.choice(kinds)(rng.randint(1, 15)), options, seed))
    for dataset, options, seed in sorted(drawn, key=lambda case: len(case[0])):
        _check_loader_case(simple_loader, dataset, options, seed)
