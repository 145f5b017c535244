"""The 05_dataset checks pass the instructor's solution and fail realistic mistakes."""

from __future__ import annotations

import csv
import itertools
import os
import sys
import time

import numpy as np
import pytest
import torch
from conftest import solution_namespace
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from autograder import CheckFailure
from autograder import dataset as checks

SOLUTION = solution_namespace("05_dataset")
CSVDataset, RangeRecords = SOLUTION["CSVDataset"], SOLUTION["RangeRecords"]


# ----------------------------------------------------------------- wrong CSV datasets


class CountsHeader(Dataset):
    """Keeps every line, header included, and skips it only when indexing."""

    def __init__(self, path, transform=None):
        with open(path) as file:
            self.lines = file.read().strip().split("\n")
        self.transform = transform

    def __len__(self):
        return len(self.lines)

    def __getitem__(self, index):
        *values, label = self.lines[index + 1].split(",")
        x = torch.tensor([float(v) for v in values])
        return (x if self.transform is None else self.transform(x)), int(label)


class SplitsOnNewline(CSVDataset):
    """Splits the text on "\\n": the newline at the end of the file becomes an empty record."""

    def __init__(self, path, transform=None):
        with open(path) as file:
            self.rows = [line.split(",") for line in file.read().split("\n")[1:]]
        self.transform = transform


class EagerTransform(CSVDataset):
    """Converts and transforms every row in __init__, the seed note's warning ignored."""

    def __init__(self, path, transform=None):
        super().__init__(path)
        self.samples = [super(EagerTransform, self).__getitem__(i) for i in range(len(self))]
        if transform is not None:
            self.samples = [(transform(x), y) for x, y in self.samples]

    def __getitem__(self, index):
        return self.samples[index]


class IgnoresTransform(CSVDataset):
    """Stores the transform but never calls it."""

    def __init__(self, path, transform=None):
        super().__init__(path)
        self.kept = transform
        self.transform = None


class FloatLabel(CSVDataset):
    """Parses the label with float(): the DataLoader would stack it into a float64 tensor."""

    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        return x, float(y)


class TensorLabel(CSVDataset):
    """Returns the label as a float32 tensor, as torch.tensor(row) would."""

    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        return x, torch.tensor(y, dtype=torch.float32)


class Float64Features(CSVDataset):
    """Reads with numpy.loadtxt: the features come out as float64."""

    def __init__(self, path, transform=None):
        self.data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(index)
        x = torch.from_numpy(self.data[index, :-1])
        x = x if self.transform is None else self.transform(x)
        return x, int(self.data[index, -1])


class ReturnsDict(CSVDataset):
    """Returns a dict, as the seed note's text dataset does, instead of the tuple asked for."""

    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        return {"features": x, "label": y}


class WrapsAround(CSVDataset):
    """Takes the index modulo the length: iterating the dataset never ends."""

    def __getitem__(self, index):
        return super().__getitem__(index % len(self))


class PlainClass:
    """Has the right methods but is not a torch Dataset."""

    def __init__(self, path, transform=None):
        self.inner = CSVDataset(path, transform)

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, index):
        return self.inner[index]


#: Each mistake; what the first line of its message says on the visible case (the difference);
#: and what the message says on every case.
CSV_MISTAKES = [
    (
        CountsHeader,
        "len() is 5; the file has 4 data rows after its header",
        "the header row is not a record",
    ),
    (
        SplitsOnNewline,
        "len() is 5; the file has 4 data rows after its header",
        "the header row is not a record",
    ),
    (
        EagerTransform,
        "the transform ran 4 times while the dataset was built",
        "apply the transform lazily in __getitem__",
    ),
    (IgnoresTransform, "the transform was never called", "the transform was never called"),
    (
        FloatLabel,
        "the label is a float, not a Python int",
        "the label must be a Python int, not float",
    ),
    (
        TensorLabel,
        "the label is a Tensor, not a Python int",
        "the label must be a Python int, not Tensor",
    ),
    (
        Float64Features,
        "(the features): dtype torch.float32 expected, got torch.float64",
        "dtype torch.float32 expected, got torch.float64",
    ),
    (
        ReturnsDict,
        "returned a dict, not a tuple (features, label)",
        "return a tuple (features, label)",
    ),
    (
        WrapsAround,
        "(one past the last row): returned a tuple instead of raising IndexError",
        "must raise IndexError",
    ),
    (
        PlainClass,
        "built a PlainClass, not a torch.utils.data.Dataset",
        "subclass torch.utils.data.Dataset",
    ),
]


# ----------------------------------------------------------------- wrong iterable datasets


class NoSharding(IterableDataset):
    """Every worker yields the whole range."""

    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        return iter(range(self.start, self.end))


class DropsRemainder(NoSharding):
    """Gives each worker (end - start) // num_workers records: the rest is lost."""

    def __iter__(self):
        worker = get_worker_info()
        if worker is None:
            return iter(range(self.start, self.end))
        per_worker = (self.end - self.start) // worker.num_workers
        first = self.start + worker.id * per_worker
        return iter(range(first, first + per_worker))


class ForgetsStart(NoSharding):
    """Strides from the worker id instead of from start + worker id."""

    def __iter__(self):
        worker = get_worker_info()
        if worker is None:
            return iter(range(self.start, self.end))
        return iter(range(worker.id, self.end, worker.num_workers))


class OneShotIterator(NoSharding):
    """Builds its iterator once in __init__: the second epoch is empty."""

    def __init__(self, start, end):
        super().__init__(start, end)
        self.records = iter(range(start, end))

    def __iter__(self):
        return self.records


class InclusiveEnd(NoSharding):
    """Treats end as inclusive."""

    def __iter__(self):
        worker = get_worker_info()
        step, offset = (1, 0) if worker is None else (worker.num_workers, worker.id)
        return iter(range(self.start + offset, self.end + 1, step))


class YieldsTensors(NoSharding):
    """Yields 0-d tensors instead of ints."""

    def __iter__(self):
        return iter(torch.arange(self.start, self.end))


class Endless(NoSharding):
    """Cycles over the range forever, as a stream that never ends would."""

    def __iter__(self):
        return itertools.cycle(range(self.start, self.end))


class MapStyleRange(Dataset):
    """A map-style dataset: the DataLoader indexes it instead of iterating it."""

    def __init__(self, start, end):
        self.start, self.end = start, end

    def __len__(self):
        return self.end - self.start

    def __getitem__(self, index):
        return self.start + index


RANGE_MISTAKES = [
    (
        NoSharding,
        "num_workers=2)): records [3, 4, 5, 6, 7, 8, …] came more than once",
        "each of the 2 workers runs __iter__ on its own copy of the dataset",
    ),
    (
        DropsRemainder,
        "num_workers=2)): records [13] never came",
        "some worker must take the remainder",
    ),
    (
        ForgetsStart,
        "num_workers=1)): records [0, 1, 2] are outside range(start, end)",
        "are outside range(start, end)",
    ),
    (
        OneShotIterator,
        "a second time: records [3, 4, 5, 6, 7, 8, …] never came",
        "must start afresh on every epoch",
    ),
    (InclusiveEnd, "records [14] are outside range(start, end)", "are outside range(start, end)"),
    (YieldsTensors, "yield Python ints; got a Tensor", "yield Python ints; got a Tensor"),
    (Endless, "came more than once", "came more than once"),
    (
        MapStyleRange,
        "RangeRecords(3, 14): built a MapStyleRange, not a torch.utils.data.IterableDataset",
        "subclass torch.utils.data.IterableDataset",
    ),
]


# ----------------------------------------------------------------- tests


def test_solution_passes_visible_and_hidden_cases():
    checks.check_csv_dataset(CSVDataset)
    checks.check_csv_dataset_hidden(CSVDataset)
    checks.check_range_records(RangeRecords)
    checks.check_range_records_hidden(RangeRecords)


@pytest.mark.parametrize(
    ("wrong", "first", "message"), CSV_MISTAKES, ids=lambda v: getattr(v, "__name__", "")
)
def test_csv_check_names_the_mistake(wrong, first, message):
    """The first line alone names the call and the difference."""
    with pytest.raises(CheckFailure) as failure:
        checks.check_csv_dataset(wrong)
    line = str(failure.value).splitlines()[0]
    assert "CSVDataset('" in line and first in line, str(failure.value)
    assert line.index("CSVDataset('") < line.index(first), line
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("wrong", "first", "message"), CSV_MISTAKES, ids=lambda v: getattr(v, "__name__", "")
)
def test_hidden_csv_check_catches_the_same_mistakes(wrong, first, message):
    with pytest.raises(CheckFailure) as failure:
        checks.check_csv_dataset_hidden(wrong)
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("wrong", "first", "message"), RANGE_MISTAKES, ids=lambda v: getattr(v, "__name__", "")
)
def test_range_check_names_the_mistake(wrong, first, message):
    """The first line alone names the call and the difference."""
    with pytest.raises(CheckFailure) as failure:
        checks.check_range_records(wrong)
    line = str(failure.value).splitlines()[0]
    assert "RangeRecords(" in line and first in line, str(failure.value)
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("wrong", "first", "message"), RANGE_MISTAKES, ids=lambda v: getattr(v, "__name__", "")
)
def test_hidden_range_check_catches_the_same_mistakes(wrong, first, message):
    with pytest.raises(CheckFailure) as failure:
        checks.check_range_records_hidden(wrong)
    assert message in str(failure.value)


def test_reference_reader_agrees_with_the_csv_module(tmp_path):
    """The reference parses what csv.writer wrote, header skipped, label last."""
    path = checks.write_csv(tmp_path / "a.csv", ["a", "b", "y"], [["1.5", "-2", "3"]])
    with open(path, newline="") as file:
        assert list(csv.reader(file)) == [["a", "b", "y"], ["1.5", "-2", "3"]]
    ((features, label),) = checks.read_reference(path.read_text())
    assert torch.equal(features, torch.tensor([1.5, -2.0]))
    assert features.dtype == torch.float32 and label == 3


def test_hidden_cases_catch_code_fitted_to_the_visible_case():
    class FitsVisibleOnly(CSVDataset):
        def __init__(self, path, transform=None):
            super().__init__(path, transform)
            self.rows = self.rows[:4]

    class ShardsOnlyVisibleRanges(RangeRecords):
        def __iter__(self):
            if (self.start, self.end) in {(3, 14), (0, 1), (5, 5)}:
                return super().__iter__()
            return iter(range(self.start, self.end))

    checks.check_csv_dataset(FitsVisibleOnly)
    checks.check_range_records(ShardsOnlyVisibleRanges)
    with pytest.raises(CheckFailure):
        checks.check_csv_dataset_hidden(FitsVisibleOnly)
    with pytest.raises(CheckFailure):
        checks.check_range_records_hidden(ShardsOnlyVisibleRanges)


def test_unimplemented_stubs_are_reported_as_such():
    class CSVStub(Dataset):
        def __init__(self, path, transform=None):
            raise NotImplementedError

    class RangeStub(IterableDataset):
        def __init__(self, start, end):
            pass

        def __iter__(self):
            raise NotImplementedError

    with pytest.raises(CheckFailure, match="not implemented yet"):
        checks.check_csv_dataset(CSVStub)
    with pytest.raises(CheckFailure, match="not implemented yet"):
        checks.check_range_records(RangeStub)


def test_worker_checks_are_fast():
    began = time.perf_counter()
    checks.check_range_records(RangeRecords)
    checks.check_range_records_hidden(RangeRecords)
    assert time.perf_counter() - began < 5


def test_worker_checks_use_real_worker_processes():
    """The iterable check's loader runs __iter__ in separate processes, one per worker."""

    class WhereAmI(IterableDataset):
        def __iter__(self):
            worker = get_worker_info()
            yield (None if worker is None else worker.id), os.getpid()

    assert checks.loader_records(WhereAmI(), 0) == [[None, os.getpid()]]  # default_convert: lists
    seen = dict(checks.loader_records(WhereAmI(), 2))
    assert sorted(seen) == [0, 1]
    assert len(set(seen.values())) == 2 and os.getpid() not in seen.values()


def test_an_endless_stream_does_not_hang_the_check():
    began = time.perf_counter()
    with pytest.raises(CheckFailure):
        checks.check_range_records_hidden(Endless)
    assert time.perf_counter() - began < 5


# ----------------------------------------------------------------- reading the checker's frames


def from_the_callers(*names):
    """The first local called one of ``names`` in the frames that called this student's code:
    where a check that read the file beside the student's call would have kept its rows."""
    frame = sys._getframe(2)
    while frame is not None:
        for name in names:
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    return None


class RowsFromTheFrames(Dataset):
    """Reads no file: serves the rows the checking code read, when a caller holds them."""

    def __init__(self, path, transform=None):
        self.transform = transform

    def rows(self):
        found = from_the_callers("expected", "reference", "ref")
        return found if isinstance(found, list) else []

    def __len__(self):
        return len(self.rows())

    def __getitem__(self, index):
        features, label = self.rows()[index]
        return (features if self.transform is None else self.transform(features)), label


class RecordsFromTheFrames(IterableDataset):
    """Shards nothing: yields the expected records, when a caller holds them."""

    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        found = from_the_callers("expected", "reference", "ref")
        return iter(found if isinstance(found, list) else [])


def test_the_expected_rows_are_not_in_the_callers_frames():
    """The scenario that calls the student's code never holds the reference."""
    for check in (checks.check_csv_dataset, checks.check_csv_dataset_hidden):
        with pytest.raises(CheckFailure, match="data rows? after its header"):
            check(RowsFromTheFrames)
    for check in (checks.check_range_records, checks.check_range_records_hidden):
        with pytest.raises(CheckFailure):
            check(RecordsFromTheFrames)
