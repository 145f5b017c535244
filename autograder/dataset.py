"""Checks for chapter 05_dataset: a map-style dataset over a CSV file, and an iterable-style
dataset that yields each record exactly once however many ``DataLoader`` workers read it.

Each check is a scenario and a judge (see :mod:`autograder.checking`). A CSV case carries the
text of a file: the scenario writes it into a fresh temporary folder, builds the student's
dataset on it (with and without a transform that counts its calls) and records what comes back;
the reference parses the same text with the :mod:`csv` module. An iterable case is a range:
the scenario runs a real ``DataLoader`` over the student's dataset with ``num_workers`` 0, 1
or 2 and records the records it yields; the reference is ``range(start, end)``.
"""

from __future__ import annotations

import csv
import io
import itertools
import operator
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from autograder import report
from autograder.checking import Case, Check, Observation, Recorder, raised_of
from autograder.i18n import _
from autograder.plain import Opaque
from autograder.report import CheckFailure

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
# Its label is translated when a message is written, not when the module is imported.
def fail(*args: Any, **kwargs: Any) -> NoReturn:
    report.fail(*args, reference=_("expected"), **kwargs)


def expect(*args: Any, **kwargs: Any) -> None:
    report.expect(*args, reference=_("expected"), **kwargs)


def expect_tensor(*args: Any, **kwargs: Any) -> None:
    report.expect_tensor(*args, reference=_("expected"), **kwargs)


def _kind(value: Any) -> str:
    """The short type name of a value as the judge received it (an Opaque names its type)."""
    if isinstance(value, Opaque):
        return value.type.rsplit(".", 1)[-1]
    return type(value).__name__


def _times(calls: Any) -> tuple[str, bool]:
    """How many calls, as shown, and whether that is exactly one (the message says "time")."""
    if type(calls) is int:
        return str(calls), calls == 1
    return f"{calls!r:.20}", False


# --------------------------------------------------------------------------- CSV dataset


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    """``header`` then ``rows`` as comma-separated text with ``\\n`` line endings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """Write ``header`` then ``rows`` as a comma-separated file with ``\\n`` line endings."""
    Path(path).write_text(csv_text(header, rows), newline="")
    return path


def read_reference(text: str) -> list[tuple[torch.Tensor, int]]:
    """Each data row of the CSV ``text`` as (float32 features, int label), read with the csv
    module."""
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
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


def _data_rows(case: Case) -> int:
    """How many records the case's file has: its lines after the header (the scenario's loop)."""
    return len(case["text"].splitlines()) - 1


def _csv_scenario(CSVDataset: type, case: Case, obs: Recorder) -> None:
    folder = Path(tempfile.mkdtemp(prefix="csv-dataset-"))
    try:
        file = folder / case["file"]
        file.write_text(case["text"], newline="")
        path = file if case["as_path"] else str(file)
        _csv_observe(CSVDataset, path, _data_rows(case), obs)
        transform = CountingTransform(case["scale"], case["shift"])
        _csv_observe_transform(CSVDataset, path, _data_rows(case), transform, obs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _csv_observe(CSVDataset: type, path: str | Path, n: int, obs: Recorder) -> None:
    obs["path"] = str(path)
    name = f"CSVDataset({str(path)!r})"
    dataset = obs.call(name, CSVDataset, path)
    obs["is_dataset"] = isinstance(dataset, Dataset)
    obs["type"] = type(dataset).__name__
    obs["len"] = obs.call(f"len({name})", len, dataset)
    for i in range(n):
        obs[f"item/{i}"] = obs.call(f"{name}[{i}]", operator.getitem, dataset, i)
    obs.attempt("end", f"{name}[{n}]", operator.getitem, dataset, n)


def _csv_observe_transform(
    CSVDataset: type, path: str | Path, n: int, transform: CountingTransform, obs: Recorder
) -> None:
    name = f"CSVDataset({str(path)!r}, {transform!r})"
    dataset = obs.call(name, CSVDataset, path, transform=transform)
    obs["construction_calls"] = transform.calls
    for i in range(n):
        before = transform.calls
        sample = obs.call(f"{name}[{i}]", operator.getitem, dataset, i)
        obs[f"transform_calls/{i}"] = transform.calls - before
        obs[f"transformed/{i}"] = sample


def _csv_reference(case: Case) -> dict:
    samples = read_reference(case["text"])
    transformed = [(x * case["scale"] + case["shift"], y) for x, y in samples]
    return {"samples": samples, "transformed": transformed}


def _csv_judge(case: Case, reference: dict, obs: Observation) -> None:
    expected = reference["samples"]
    n = len(expected)
    path = str(obs["path"])
    name = f"CSVDataset({path!r})"
    expect(
        obs["is_dataset"],
        name,
        _("an instance of a torch.utils.data.Dataset subclass"),
        obs["type"],
        _("built a {type}, not a torch.utils.data.Dataset").format(type=obs["type"]),
        hint=_("subclass torch.utils.data.Dataset"),
    )
    got_len = obs["len"]
    hint = _("one record per data row")
    if got_len == n + 1:
        hint = _("the header row is not a record (skip it, and any empty trailing line)")
    rows = (
        _("len() is {got}; the file has {count} data row after its header")
        if n == 1
        else _("len() is {got}; the file has {count} data rows after its header")
    )
    expect(
        got_len == n,
        f"len({name})",
        n,
        got_len,
        rows.format(got=f"{got_len!r:.40}", count=n),
        hint=hint,
    )
    for i, (features, label) in enumerate(expected):
        _judge_sample(f"{name}[{i}]", obs[f"item/{i}"], features, label)
    _judge_end(name, obs["end"], n)

    transform = CountingTransform(case["scale"], case["shift"])
    name = f"CSVDataset({path!r}, {transform!r})"
    calls = obs["construction_calls"]
    count, once = _times(calls)
    ran = (
        _("the transform ran {count} time while the dataset was built")
        if once
        else _("the transform ran {count} times while the dataset was built")
    )
    expect(
        calls == 0,
        f"{name}: calls of the transform during construction",
        0,
        calls,
        ran.format(count=count),
        hint=_(
            "apply the transform lazily in __getitem__, to one sample when it is asked for, "
            "not to the whole file in __init__"
        ),
    )
    for i, (features, label) in enumerate(reference["transformed"]):
        calls = obs[f"transform_calls/{i}"]
        count, once = _times(calls)
        ran = (
            _("the transform ran {count} time for one sample")
            if once
            else _("the transform ran {count} times for one sample")
        )
        why, hint = (
            (
                _("the transform was never called"),
                _("return transform(features) when a transform is given"),
            )
            if calls == 0
            else (
                ran.format(count=count),
                _("call the transform exactly once per __getitem__"),
            )
        )
        expect(calls == 1, f"{name}[{i}]: calls of the transform", 1, calls, why, hint=hint)
        _judge_sample(f"{name}[{i}]", obs[f"transformed/{i}"], features, label)


def _judge_sample(call: str, sample: Any, features: torch.Tensor, label: int) -> None:
    why = (
        _("returned a tuple of {count}, not a tuple (features, label)").format(count=len(sample))
        if isinstance(sample, tuple)
        else _("returned a {type}, not a tuple (features, label)").format(type=_kind(sample))
    )
    expect(
        isinstance(sample, tuple) and len(sample) == 2,
        call,
        (features, label),
        sample,
        why,
        hint=_("return a tuple (features, label)"),
    )
    got_features, got_label = sample
    expect_tensor(f"{call}[0] (the features)", features, got_features)
    expect(
        type(got_label) is int,
        f"{call}[1] (the label)",
        label,
        got_label,
        _("the label is a {type}, not a Python int").format(type=_kind(got_label)),
        hint=_(
            "the label must be a Python int, not {type}: the DataLoader then stacks labels "
            "into an int64 tensor, the type nn.CrossEntropyLoss expects"
        ).format(type=_kind(got_label)),
    )
    expect(
        got_label == label,
        f"{call}[1] (the label)",
        label,
        got_label,
        _("the label is {got}, expected {expected}").format(
            got=repr(got_label), expected=repr(label)
        ),
        hint=_("the label is the last column"),
    )


def _judge_end(name: str, end: Any, n: int) -> None:
    """Past the last record, ``dataset[n]`` raises IndexError, as a list does."""
    raised = raised_of(end)
    if raised is not None and raised.type == "IndexError":
        return
    if raised is not None:
        got = f"{raised.type}: {raised.message}"
        why = _("raised {kind}, not IndexError").format(kind=raised.type)
    else:
        got = end.get("returned") if isinstance(end, dict) else end
        why = _("returned a {type} instead of raising IndexError").format(type=_kind(got))
    fail(
        f"{name}[{n}] (one past the last row)",
        "IndexError",
        got,
        why,
        hint=_("an index past the end must raise IndexError: `for sample in dataset` stops on it"),
    )


def _random_number(rng: Any) -> str:
    value = rng.uniform(-100, 100)
    return rng.choice([f"{value:.3f}", f"{value:.2e}", str(int(value)), repr(value)])


def _csv_hidden(rng: Any, cases: int = 4) -> list[Case]:
    """Files written at grading time: one row, one feature, then more of both."""
    shapes = [(1, rng.randint(1, 5)), (rng.randint(2, 8), 1)]
    shapes += [(rng.randint(2, 40), rng.randint(2, 7)) for _ in range(cases - 2)]
    drawn = []
    for case, (n_rows, n_features) in enumerate(shapes):
        header = [f"f{j}" for j in range(n_features)] + [rng.choice(["label", "y", "class"])]
        rows = [
            [_random_number(rng) for _ in range(n_features)] + [str(rng.randint(0, 9))]
            for _ in range(n_rows)
        ]
        drawn.append(
            {
                "file": f"hidden{case}.csv",
                "text": csv_text(header, rows),
                # Students may open a str or a pathlib.Path; both must work.
                "as_path": bool(case % 2),
                "scale": round(rng.uniform(-3, 3), 2),
                "shift": round(rng.uniform(-2, 2), 2),
            }
        )
    return drawn


CSV_DATASET = Check(
    name="dataset.csv_dataset",
    doc="CSVDataset(path, transform=None) reads the file row by row, transforming lazily",
    scenario=_csv_scenario,
    reference=_csv_reference,
    judge=_csv_judge,
    visible=[
        {
            "file": "visible.csv",
            "text": csv_text(VISIBLE_HEADER, VISIBLE_ROWS),
            "as_path": False,
            "scale": 2.0,
            "shift": 0.5,
        }
    ],
    hidden=_csv_hidden,
    refuses=None,
)
check_csv_dataset, check_csv_dataset_hidden = CSV_DATASET.functions()


# --------------------------------------------------------------------------- iterable dataset


def loader_records(dataset: Any, num_workers: int, limit: int | None = None) -> list[Any]:
    """The items a real DataLoader over ``dataset`` yields in one epoch, without batching;
    at most ``limit`` of them, so that an endless stream cannot hang the check."""
    options: dict[str, Any] = {}
    if num_workers:
        # fork lets workers use a class defined in a notebook (it cannot be imported by name).
        options = {"multiprocessing_context": "fork", "timeout": WORKER_TIMEOUT}
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers, **options)
    return list(itertools.islice(loader, limit))


def _range_name(case: Case) -> str:
    return f"RangeRecords({case['start']}, {case['end']})"


def _range_call(case: Case, epoch: int) -> str:
    call = f"list(DataLoader({_range_name(case)}, batch_size=None, "
    call += f"num_workers={case['num_workers']}))"
    return call if epoch == 0 else f"{call}, a second time"


def _range_epochs(case: Case) -> int:
    """A second epoch with 0 workers shows an iterator that cannot start again."""
    return 2 if case["num_workers"] == 0 else 1


def _range_scenario(RangeRecords: type, case: Case, obs: Recorder) -> None:
    start, end = case["start"], case["end"]
    dataset = obs.call(_range_name(case), RangeRecords, start, end)
    iterable = isinstance(dataset, IterableDataset)
    obs["is_iterable"] = iterable
    obs["type"] = type(dataset).__name__
    if not iterable:
        return  # a DataLoader would index it: the judge stops here
    limit = 3 * (end - start) + 10  # enough to see duplicates, bounded for an endless stream
    for epoch in range(_range_epochs(case)):
        records = obs.call(
            _range_call(case, epoch), loader_records, dataset, case["num_workers"], limit
        )
        obs[f"records/{epoch}"] = records


def _range_reference(case: Case) -> list[int]:
    return list(range(case["start"], case["end"]))


def _range_judge(case: Case, reference: list[int], obs: Observation) -> None:
    expect(
        obs["is_iterable"],
        _range_name(case),
        _("an instance of a torch.utils.data.IterableDataset subclass"),
        obs["type"],
        _("built a {type}, not a torch.utils.data.IterableDataset").format(type=obs["type"]),
        hint=_("subclass torch.utils.data.IterableDataset (otherwise the DataLoader indexes it)"),
    )
    for epoch in range(_range_epochs(case)):
        got = obs[f"records/{epoch}"]
        if not isinstance(got, list):
            raise CheckFailure(
                report.message(_range_call(case, epoch), _("no list of records came back"))
            )
        _compare_records(_range_call(case, epoch), reference, got, case["num_workers"], epoch)


def _compare_records(
    call: str, expected: list[int], got: list[Any], num_workers: int, epoch: int
) -> None:
    wrong_type = [r for r in got if type(r) is not int]
    if wrong_type:
        fail(
            call,
            expected,
            got,
            _("yield Python ints; got a {type}").format(type=_kind(wrong_type[0])),
            hint=_("int(record) for a number held as a tensor"),
        )
    want, have = Counter(expected), Counter(got)
    duplicated = sorted(r for r, count in have.items() if count > 1)
    missing = sorted((want - have).elements())
    extra = sorted(set(have) - set(want))
    shown = sorted(got)
    if duplicated:
        hint = _("each record once, in one epoch")
        if num_workers > 1:
            hint = _(
                "each of the {workers} workers runs __iter__ on its own copy of the dataset; "
                "use torch.utils.data.get_worker_info() to give each worker a different share"
            ).format(workers=num_workers)
        why = _("records {records} came more than once").format(records=_few(duplicated))
        fail(call, expected, shown, why, hint=hint)
    if extra:
        fail(
            call,
            expected,
            shown,
            _("records {records} are outside range(start, end)").format(records=_few(extra)),
            hint=_("start at start and stop before end, in every worker"),
        )
    if missing:
        hint = _("yield every record of range(start, end)")
        if epoch > 0:
            hint = _("__iter__ must start afresh on every epoch (return a new iterator)")
        elif num_workers > 1:
            hint = _("when the records do not split evenly, some worker must take the remainder")
        why = _("records {records} never came").format(records=_few(missing))
        fail(call, expected, shown, why, hint=hint)


def _few(values: list[int], limit: int = 6) -> str:
    head = ", ".join(str(v) for v in values[:limit])
    return f"[{head}{', …' if len(values) > limit else ''}]"


def _range_cases(ranges: list[tuple[int, int]]) -> list[Case]:
    return [
        {"start": start, "end": end, "num_workers": num_workers}
        for start, end in ranges
        for num_workers in (0, 1, 2)
    ]


def _range_hidden(rng: Any) -> list[Case]:
    """Ranges drawn at grading time: one that does not split evenly and starts past 0, one
    with fewer records than workers, and one of any length."""
    starts = [rng.randint(1, 100), rng.randint(0, 100), rng.randint(0, 100)]
    lengths = [2 * rng.randint(1, 20) + 1, rng.randint(0, 1), rng.randint(0, 40)]
    return _range_cases(
        [(start, start + length) for start, length in zip(starts, lengths, strict=True)]
    )


RANGE_RECORDS = Check(
    name="dataset.range_records",
    doc="RangeRecords(start, end) yields start..end-1 exactly once with 0, 1 and 2 workers",
    scenario=_range_scenario,
    reference=_range_reference,
    judge=_range_judge,
    visible=_range_cases([(3, 14), (0, 1), (5, 5)]),
    hidden=_range_hidden,
    refuses=None,
)
check_range_records, check_range_records_hidden = RANGE_RECORDS.functions()


__all__ = [
    "CSV_DATASET",
    "RANGE_RECORDS",
    "CheckFailure",
    "CountingTransform",
    "check_csv_dataset",
    "check_csv_dataset_hidden",
    "check_range_records",
    "check_range_records_hidden",
    "csv_text",
    "loader_records",
    "read_reference",
    "write_csv",
]
