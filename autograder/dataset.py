"""Checks for chapter 05_dataset: a map-style dataset over a CSV file, and an iterable-style
dataset that yields each record exactly once however many ``DataLoader`` workers read it.

The CSV check writes its own file and reads it back with the :mod:`csv` module, so the
reference does not depend on the code under test. The iterable check runs a real
``DataLoader`` with ``num_workers`` 0, 1 and 2.
"""

from __future__ import annotations

import csv
import itertools
import tempfile
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from autograder import report
from autograder.report import CheckFailure, call_student, hidden_rng

#: The visible CSV case: a header, four rows, three feature columns and an integer label.
VISIBLE_HEADER = ["length", "width", "weight", "label"]
VISIBLE_ROWS = [
    ["0.5", "-1.25", "3.0", "1"],
    ["2.0", "0.0", "-0.75", "0"],
    ["1e-3", "4.5", "2.25", "2"],
    ["-3.5", "1.0", "0.125", "1"],
]

#: Seconds a DataLoader may wait for a worker before the check gives up (a hung worker).
WORKER_TIMEOUT = 30


# --------------------------------------------------------------------------- messages


# The reference here is not torch: it is the file read with the csv module, or range(start, end).
fail = partial(report.fail, reference="expected")
expect = partial(report.expect, reference="expected")
expect_tensor = partial(report.expect_tensor, reference="expected")


# --------------------------------------------------------------------------- CSV dataset


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """Write ``header`` then ``rows`` as a comma-separated file with ``\\n`` line endings."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_reference(path: Path) -> list[tuple[torch.Tensor, int]]:
    """Each data row of ``path`` as (float32 features, int label), read with the csv module."""
    with open(path, newline="") as file:
        rows = list(csv.reader(file))[1:]
    return [
        (torch.tensor([float(v) for v in row[:-1]], dtype=torch.float32), int(row[-1]))
        for row in rows
    ]


class CountingTransform:
    """``x * scale + shift``, counting its calls, so a check can see *when* it runs."""

    def __init__(self, scale: float, shift: float) -> None:
        self.scale = scale
        self.shift = shift
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * self.scale + self.shift

    def __repr__(self) -> str:
        return f"transform=lambda x: x * {self.scale} + {self.shift}"


def check_csv_dataset(CSVDataset: type) -> None:
    """``CSVDataset(path, transform=None)`` on a small fixed CSV file."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "visible.csv", VISIBLE_HEADER, VISIBLE_ROWS)
        _check_csv_case(CSVDataset, str(path), scale=2.0, shift=0.5)


def check_csv_dataset_hidden(CSVDataset: type, cases: int = 4) -> None:
    """:func:`check_csv_dataset` on files written at grading time: one row, one feature, more."""
    rng = hidden_rng()
    shapes = [(1, rng.randint(1, 5)), (rng.randint(2, 8), 1)]
    shapes += [(rng.randint(2, 40), rng.randint(2, 7)) for _ in range(cases - 2)]
    with tempfile.TemporaryDirectory() as folder:
        for case, (n_rows, n_features) in enumerate(shapes):
            header = [f"f{j}" for j in range(n_features)] + [rng.choice(["label", "y", "class"])]
            rows = [
                [_random_number(rng) for _ in range(n_features)] + [str(rng.randint(0, 9))]
                for _ in range(n_rows)
            ]
            path = write_csv(Path(folder) / f"hidden{case}.csv", header, rows)
            # Students may open a str or a pathlib.Path; both must work.
            _check_csv_case(
                CSVDataset,
                path if case % 2 else str(path),
                scale=round(rng.uniform(-3, 3), 2),
                shift=round(rng.uniform(-2, 2), 2),
            )


def _random_number(rng: Any) -> str:
    value = rng.uniform(-100, 100)
    return rng.choice([f"{value:.3f}", f"{value:.2e}", str(int(value)), repr(value)])


def _check_csv_case(CSVDataset: type, path: str | Path, scale: float, shift: float) -> None:
    expected = read_reference(Path(path))
    n = len(expected)
    name = f"CSVDataset({str(path)!r})"
    dataset = call_student(name, CSVDataset, path)
    expect(
        isinstance(dataset, Dataset),
        name,
        "an instance of a torch.utils.data.Dataset subclass",
        type(dataset).__name__,
        "subclass torch.utils.data.Dataset",
    )
    got_len = call_student(f"len({name})", len, dataset)
    why = f"the file has {n} data rows after its header"
    if got_len == n + 1:
        why += "; the header row is not a record (skip it, and any empty trailing line)"
    expect(got_len == n, f"len({name})", n, got_len, why)

    for i, (features, label) in enumerate(expected):
        _check_sample(
            f"{name}[{i}]", call_student(f"{name}[{i}]", dataset.__getitem__, i), features, label
        )
    _check_end(name, dataset, n)

    transform = CountingTransform(scale, shift)
    name = f"CSVDataset({str(path)!r}, {transform!r})"
    dataset = call_student(name, CSVDataset, path, transform=transform)
    expect(
        transform.calls == 0,
        f"{name}: calls of the transform during construction",
        0,
        transform.calls,
        "apply the transform lazily in __getitem__, to one sample when it is asked for, "
        "not to the whole file in __init__",
    )
    for i, (features, label) in enumerate(expected):
        before = transform.calls
        sample = call_student(f"{name}[{i}]", dataset.__getitem__, i)
        calls = transform.calls - before
        why = (
            "the transform was never called: return transform(features) when one is given"
            if calls == 0
            else "call the transform exactly once per __getitem__"
        )
        expect(calls == 1, f"{name}[{i}]: calls of the transform", 1, calls, why)
        _check_sample(f"{name}[{i}]", sample, features * scale + shift, label)


def _check_sample(call: str, sample: Any, features: torch.Tensor, label: int) -> None:
    expect(
        isinstance(sample, tuple) and len(sample) == 2,
        call,
        (features, label),
        sample,
        "return a tuple (features, label)",
    )
    got_features, got_label = sample
    expect_tensor(f"{call}[0] (the features)", features, got_features)
    expect(
        type(got_label) is int,
        f"{call}[1] (the label)",
        label,
        got_label,
        f"the label must be a Python int, not {type(got_label).__name__}: the DataLoader then "
        "stacks labels into an int64 tensor, the type nn.CrossEntropyLoss expects",
    )
    expect(got_label == label, f"{call}[1] (the label)", label, got_label, "the last column")


def _check_end(name: str, dataset: Any, n: int) -> None:
    """Past the last record, ``dataset[n]`` raises IndexError, as a list does."""
    try:
        got = dataset[n]
    except IndexError:
        return
    except Exception as error:  # noqa: BLE001 - any other exception is the student's mistake
        got = f"{type(error).__name__}: {error}"
    fail(
        f"{name}[{n}] (one past the last row)",
        "IndexError",
        got,
        "an index past the end must raise IndexError: `for sample in dataset` stops on it",
    )


# --------------------------------------------------------------------------- iterable dataset


def check_range_records(RangeRecords: type) -> None:
    """``RangeRecords(start, end)`` yields start..end-1 exactly once with 0, 1 and 2 workers."""
    for start, end in ((3, 14), (0, 1), (5, 5)):
        for num_workers in (0, 1, 2):
            _check_range_case(RangeRecords, start, end, num_workers)


def check_range_records_hidden(RangeRecords: type) -> None:
    """:func:`check_range_records` on ranges drawn at grading time: one that does not split
    evenly and starts past 0, one with fewer records than workers, and one of any length."""
    rng = hidden_rng()
    starts = [rng.randint(1, 100), rng.randint(0, 100), rng.randint(0, 100)]
    lengths = [2 * rng.randint(1, 20) + 1, rng.randint(0, 1), rng.randint(0, 40)]
    for start, length in zip(starts, lengths, strict=True):
        for num_workers in (0, 1, 2):
            _check_range_case(RangeRecords, start, start + length, num_workers)


def loader_records(dataset: Any, num_workers: int, limit: int | None = None) -> list[Any]:
    """The items a real DataLoader over ``dataset`` yields in one epoch, without batching;
    at most ``limit`` of them, so that an endless stream cannot hang the check."""
    options: dict[str, Any] = {}
    if num_workers:
        # fork lets workers use a class defined in a notebook (it cannot be imported by name).
        options = {"multiprocessing_context": "fork", "timeout": WORKER_TIMEOUT}
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers, **options)
    return list(itertools.islice(loader, limit))


def _check_range_case(RangeRecords: type, start: int, end: int, num_workers: int) -> None:
    name = f"RangeRecords({start}, {end})"
    dataset = call_student(name, RangeRecords, start, end)
    expect(
        isinstance(dataset, IterableDataset),
        name,
        "an instance of a torch.utils.data.IterableDataset subclass",
        type(dataset).__name__,
        "subclass torch.utils.data.IterableDataset (otherwise the DataLoader indexes it)",
    )
    call = f"list(DataLoader({name}, batch_size=None, num_workers={num_workers}))"
    epochs = 2 if num_workers == 0 else 1
    for epoch in range(epochs):
        label = call if epoch == 0 else f"{call}, a second time"
        limit = 3 * (end - start) + 10
        got = call_student(label, loader_records, dataset, num_workers, limit)
        _compare_records(label, list(range(start, end)), got, num_workers, epoch)


def _compare_records(
    call: str, expected: list[int], got: list[Any], num_workers: int, epoch: int
) -> None:
    wrong_type = [r for r in got if type(r) is not int]
    if wrong_type:
        fail(call, expected, got, f"yield Python ints; got a {type(wrong_type[0]).__name__}")
    want, have = Counter(expected), Counter(got)
    duplicated = sorted(r for r, count in have.items() if count > 1)
    missing = sorted((want - have).elements())
    extra = sorted(set(have) - set(want))
    shown = sorted(got)
    if duplicated:
        why = f"records {_few(duplicated)} came more than once"
        if num_workers > 1:
            why += (
                f": each of the {num_workers} workers runs __iter__ on its own copy of the "
                "dataset; use torch.utils.data.get_worker_info() to give each worker a "
                "different share"
            )
        fail(call, expected, shown, why)
    if extra:
        fail(call, expected, shown, f"records {_few(extra)} are outside range(start, end)")
    if missing:
        why = f"records {_few(missing)} never came"
        if epoch > 0:
            why += "; __iter__ must start afresh on every epoch (return a new iterator)"
        elif num_workers > 1:
            why += "; when the records do not split evenly, some worker must take the remainder"
        fail(call, expected, shown, why)


def _few(values: list[int], limit: int = 6) -> str:
    head = ", ".join(str(v) for v in values[:limit])
    return f"[{head}{', …' if len(values) > limit else ''}]"


__all__ = [
    "CheckFailure",
    "CountingTransform",
    "check_csv_dataset",
    "check_csv_dataset_hidden",
    "check_range_records",
    "check_range_records_hidden",
    "loader_records",
    "read_reference",
    "write_csv",
]
