"""The 06_dataloader checks pass the instructor's solution and fail realistic mistakes.

Also the behaviour (never the speed) of benchmarks/loader_throughput.py.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence

import pytest
import torch
from conftest import solution_namespace
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import RandomSampler, default_collate

from autograder import CheckFailure, plain
from autograder import dataloader as checks
from autograder.checking import judge_case, observe
from autograder.course import REPO

SOLUTION = solution_namespace("06_dataloader")
pad_collate = SOLUTION["pad_collate"]
my_collate = SOLUTION["my_collate"]
simple_loader = SOLUTION["simple_loader"]


def test_solution_passes_visible_and_hidden_cases():
    for _ in range(5):  # hidden cases change every run
        checks.check_pad_collate(pad_collate)
        checks.check_pad_collate_hidden(pad_collate)
        checks.check_my_collate(my_collate)
        checks.check_my_collate_hidden(my_collate)
        checks.check_simple_loader(simple_loader)
        checks.check_simple_loader_hidden(simple_loader)


# ---------------------------------------------------------------- pad_collate mistakes


def left_padded(batch):
    """Pads before each sequence instead of after it."""
    padded, lengths, labels = pad_collate(batch)
    return (
        pad_sequence([s for s, _ in batch], batch_first=True, padding_side="left"),
        lengths,
        labels,
    )


def lengths_off_by_one(batch):
    """Counts one more item than each sequence has (an end marker that is not there)."""
    padded, lengths, labels = pad_collate(batch)
    return padded, lengths + 1, labels


def time_first(batch):
    """Forgets batch_first: shape (longest, batch)."""
    padded, lengths, labels = pad_collate(batch)
    return padded.T, lengths, labels


def labels_as_list(batch):
    """Leaves the labels as a Python list."""
    padded, lengths, _ = pad_collate(batch)
    return padded, lengths, [label for _, label in batch]


def float_zeros(batch):
    """Pads into torch.zeros(...), which is float32 whatever the sequences' dtype."""
    sequences = [s for s, _ in batch]
    padded = torch.zeros(len(sequences), max(len(s) for s in sequences))
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = sequence
    _, lengths, labels = pad_collate(batch)
    return padded, lengths, labels


def names_the_mistake(check, wrong, call: str, first: str, hint: str) -> None:
    """The first line starts with the call and says what differs; the hint comes below."""
    with pytest.raises(CheckFailure) as failure:
        check(wrong)
    message = str(failure.value)
    line = message.splitlines()[0]
    assert line.startswith(call), message
    assert first in line, message
    assert not hint or f"hint: {hint}" in message, message


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (left_padded, "padded: values differ at index (1, 0)", "the zeros go on the right"),
        (lengths_off_by_one, "lengths: values differ at index (0,)", "every length is off by 1"),
        (time_first, "padded: shape (2, 3) expected, got (3, 2)", "batch_first=True"),
        (labels_as_list, "labels: expected a torch.Tensor, got list", ""),
        (float_zeros, "padded: dtype torch.int64 expected, got torch.float32", ""),
    ],
)
def test_pad_collate_check_names_the_mistake(wrong, first, hint):
    names_the_mistake(checks.check_pad_collate, wrong, "pad_collate([(tensor([", first, hint)


@pytest.mark.parametrize("wrong", [left_padded, lengths_off_by_one, time_first, labels_as_list])
def test_hidden_pad_collate_cases_catch_the_same_mistakes(wrong):
    with pytest.raises(CheckFailure):
        checks.check_pad_collate_hidden(wrong)


def test_pad_collate_reports_the_smallest_differing_batch():
    def wrong_for_three_or_more(batch):
        padded, lengths, labels = pad_collate(batch)
        return (padded, lengths * 0, labels) if len(batch) >= 3 else (padded, lengths, labels)

    with pytest.raises(CheckFailure) as failure:
        checks.check_pad_collate(wrong_for_three_or_more)
    call = str(failure.value).splitlines()[0]
    assert call.count("), (") == 2, f"the 3-sequence batch is the smallest that differs: {call}"


# ---------------------------------------------------------------- my_collate mistakes


def tuples_stay_tuples(batch):
    """Keeps a batch of tuples a tuple; default_collate makes it a list."""
    first = batch[0]
    if isinstance(first, tuple):
        return tuple(tuples_stay_tuples(list(column)) for column in zip(*batch, strict=True))
    if isinstance(first, dict):
        return {key: tuples_stay_tuples([sample[key] for sample in batch]) for key in first}
    return my_collate(batch)


def numbers_left_as_list(batch):
    """Only stacks tensors; Python numbers stay a list."""
    first = batch[0]
    if isinstance(first, (int, float)):
        return list(batch)
    if isinstance(first, dict):
        return {key: numbers_left_as_list([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        return [numbers_left_as_list(list(column)) for column in zip(*batch, strict=True)]
    return my_collate(batch)


def float32_floats(batch):
    """Makes Python floats float32, the default dtype, instead of float64."""
    first = batch[0]
    if isinstance(first, float):
        return torch.tensor(batch)
    if isinstance(first, dict):
        return {key: float32_floats([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        return [float32_floats(list(column)) for column in zip(*batch, strict=True)]
    return my_collate(batch)


def everything_as_tensor(batch):
    """Calls torch.tensor on every leaf batch, strings included."""
    first = batch[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(batch)
    if isinstance(first, dict):
        return {key: everything_as_tensor([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        return [everything_as_tensor(list(column)) for column in zip(*batch, strict=True)]
    return torch.tensor(batch, dtype=torch.float64 if isinstance(first, float) else None)


def sorted_keys(batch):
    """Rebuilds dicts in sorted key order instead of the samples' order."""
    collated = my_collate(batch)
    if isinstance(collated, dict):
        return {key: collated[key] for key in sorted(collated)}
    return collated


def lists_become_tensors(batch):
    """Turns a batch of lists of numbers into one 2-D tensor instead of transposing it."""
    if isinstance(batch[0], list) and all(isinstance(x, int) for x in batch[0]):
        return torch.tensor(batch)
    return my_collate(batch)


@pytest.mark.parametrize(
    ("wrong", "first"),
    [
        (
            tuples_stay_tuples,
            "at batch: list expected, got tuple (default_collate turns a batch of tuples into a "
            "list)",
        ),
        (
            numbers_left_as_list,
            "at batch: expected a torch.Tensor, got list (numbers become one tensor per batch",
        ),
        (float32_floats, "at batch: dtype torch.float64 expected, got torch.float32"),
        (sorted_keys, "at batch: keys ['Text', 'Class'] expected, got ['Class', 'Text']"),
        (lists_become_tensors, "at batch: list expected, got Tensor"),
    ],
)
def test_my_collate_check_names_the_mistake(wrong, first):
    names_the_mistake(checks.check_my_collate, wrong, "my_collate([", first, "")


def test_my_collate_that_makes_strings_a_tensor_gets_the_hint_for_torchs_error():
    with pytest.raises(CheckFailure) as failure:
        checks.check_my_collate(everything_as_tensor)
    assert str(failure.value).startswith("my_collate([")
    assert "strings cannot become a tensor" in str(failure.value)


@pytest.mark.parametrize("wrong", [tuples_stay_tuples, numbers_left_as_list, float32_floats])
def test_hidden_my_collate_cases_catch_the_same_mistakes(wrong):
    with pytest.raises(CheckFailure):
        checks.check_my_collate_hidden(wrong)


def test_batch_difference_accepts_strings_in_a_list_or_a_tuple():
    expected = default_collate([("a", 1), ("b", 2)])
    assert isinstance(expected[0], tuple), "torch keeps the zipped tuple of strings"
    assert checks.batch_difference(expected, [["a", "b"], torch.tensor([1, 2])]) is None
    assert "strings" in checks.batch_difference(expected, [["ab"], torch.tensor([1, 2])])


# ---------------------------------------------------------------- simple_loader mistakes


def ignores_drop_last(dataset, batch_size=1, shuffle=False, drop_last=False, **kwargs):
    """Always yields the last, short batch."""
    yield from simple_loader(dataset, batch_size, shuffle, False, **kwargs)


def global_randperm(
    dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, generator=None
):
    """Shuffles with torch.randperm from the global RNG, ignoring the generator."""
    collate = collate_fn or default_collate
    order = torch.randperm(len(dataset)).tolist() if shuffle else range(len(dataset))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for indices in batches:
        if len(indices) == batch_size or not drop_last:
            yield collate([dataset[i] for i in indices])


def no_base_seed(
    dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, generator=None
):
    """Shuffles with RandomSampler(generator=g), as if DataLoader drew no base seed."""
    collate = collate_fn or default_collate
    order = RandomSampler(dataset, generator=generator) if shuffle else range(len(dataset))
    batch = []
    for index in order:
        batch.append(dataset[index])
        if len(batch) == batch_size:
            yield collate(batch)
            batch = []
    if batch and not drop_last:
        yield collate(batch)


def no_extra_permutation(
    dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, generator=None
):
    """Draws the base seed and one permutation, but not RandomSampler's extra one."""
    collate = collate_fn or default_collate
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    n = len(dataset)
    order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield collate([dataset[i] for i in order[start : start + batch_size]])


def base_seed_only_when_shuffling(dataset, batch_size=1, shuffle=False, **kwargs):
    """Right batches, but leaves the generator untouched when shuffle=False."""
    if shuffle:
        yield from simple_loader(dataset, batch_size, shuffle, **kwargs)
    else:
        yield from simple_loader(dataset, batch_size, shuffle, **{**kwargs, "generator": None})


def returns_a_list(dataset, **kwargs):
    """Builds every batch up front and returns a list instead of yielding."""
    return list(simple_loader(dataset, **kwargs))


def ignores_collate_fn(dataset, batch_size=1, shuffle=False, drop_last=False, **kwargs):
    """Always collates with default_collate."""
    kwargs["collate_fn"] = None
    yield from simple_loader(dataset, batch_size, shuffle, drop_last, **kwargs)


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (
            ignores_drop_last,
            "epoch 1, batch 3: torch yields 2 batches, yours 3",
            "drop_last=True drops the last, incomplete batch",
        ),
        (
            global_randperm,
            "at batch: values differ",  # which batch first: the global RNG earlier tests left
            "DataLoader first draws a base seed",
        ),
        (no_base_seed, "epoch 1, batch 1: at batch: values differ", "DataLoader first draws"),
        (no_extra_permutation, "epoch 2, batch 1: at batch: values differ", "epoch 1 matched"),
        (
            base_seed_only_when_shuffling,
            "1 epoch: every batch matched, but the generator ends in another state",
            "DataLoader draws one int64 base seed from the generator at the start of every "
            "epoch, even with shuffle=False",
        ),
        (
            returns_a_list,
            "epoch 1: returned list, not an iterator",
            "make simple_loader a generator function",
        ),
        (
            ignores_collate_fn,
            "collate_fn=keep_as_list), epoch 1, batch 1: at batch: list expected, got dict",
            "",
        ),
    ],
)
def test_simple_loader_check_names_the_mistake(wrong, first, hint):
    names_the_mistake(checks.check_simple_loader, wrong, "simple_loader(", first, hint)


@pytest.mark.parametrize(
    "wrong",
    [
        ignores_drop_last,
        global_randperm,
        no_base_seed,
        no_extra_permutation,
        base_seed_only_when_shuffling,
    ],
)
def test_hidden_simple_loader_cases_catch_the_same_mistakes(wrong):
    with pytest.raises(CheckFailure):
        checks.check_simple_loader_hidden(wrong)


def test_simple_loader_message_points_at_the_differing_batch():
    with pytest.raises(CheckFailure) as failure:
        checks.check_simple_loader(no_extra_permutation)
    text = str(failure.value)
    assert "epoch 2, batch 1" in text
    assert "torch gives: tensor([" in text and "yours gave: tensor([" in text


def grade_apart(check, target, cases):
    """As the batch grader does it: torch's answers come from where no student code ran (here:
    before it runs), the observations cross as plain data, and the judge decides."""
    references = [check.reference(case) for case in cases]
    for case, reference in zip(cases, references, strict=True):
        data = plain.decode(plain.loads(plain.dumps(observe(check, target, case))))
        judge_case(check, case, data, reference)


def test_replacing_torch_functions_earns_nothing(monkeypatch):
    def unshuffled_everywhere(dataset, batch_size=1, shuffle=False, **kwargs):
        """Makes every shuffle the identity by replacing torch.randperm, then loads in order."""
        monkeypatch.setattr(torch, "randperm", lambda n, **_: torch.arange(n))
        yield from simple_loader(dataset, batch_size, False, **kwargs)

    with pytest.raises(CheckFailure, match="DataLoader first draws a base seed"):
        grade_apart(checks.SIMPLE_LOADER, unshuffled_everywhere, checks.SIMPLE_LOADER.visible)
    monkeypatch.undo()

    real_stack = torch.stack

    def answers_then_patches(batch):
        """Answers wrongly, and bends torch.stack so that default_collate would agree."""
        monkeypatch.setattr(torch, "stack", lambda *args, **kwargs: real_stack(*args, **kwargs) + 1)
        return my_collate(batch)

    with pytest.raises(CheckFailure, match="values differ"):
        grade_apart(checks.MY_COLLATE, answers_then_patches, checks.MY_COLLATE.visible)


def test_unimplemented_stubs_are_reported_as_such():
    def stub(*args, **kwargs):
        raise NotImplementedError

    for check in (checks.check_pad_collate, checks.check_my_collate, checks.check_simple_loader):
        with pytest.raises(CheckFailure, match="not implemented yet"):
            check(stub)


# ---------------------------------------------------------------- the benchmark's behaviour


def load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "loader_throughput", REPO / "benchmarks" / "loader_throughput.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load_benchmark()


def flatten(batch):
    """The samples of a batch as comparable (x, y) rows, whatever the container type."""
    assert isinstance(batch, Sequence) and not isinstance(batch, Mapping)
    features, labels = batch
    return [(tuple(x.tolist()), int(y)) for x, y in zip(features, labels, strict=True)]


def test_batched_and_per_item_loaders_yield_the_same_samples():
    dataset = bench.ArrayDataset(size=23, features=3, seed=1)
    per_item = [flatten(batch) for batch in bench.per_item_loader(dataset, batch_size=5)]
    batched = [flatten(batch) for batch in bench.batched_loader(dataset, batch_size=5)]
    assert per_item == batched
    assert [len(batch) for batch in batched] == [5, 5, 5, 5, 3]
    assert dataset[[2, 0]][0].shape == (2, 3), "a list of indices fetches a whole batch"


def test_cpu_heavy_dataset_is_deterministic_and_loader_agnostic():
    dataset = bench.CpuHeavyDataset(size=6, work=50)
    assert torch.equal(dataset[4], bench.CpuHeavyDataset(size=6, work=50)[4])
    rows = torch.cat(list(torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=1)))
    assert torch.equal(rows, torch.stack([dataset[i] for i in range(6)]))


def test_tables_have_one_row_per_setting_and_ratios_to_the_first():
    threads = torch.get_num_threads()
    workers = bench.workers_table(size=8, work=10, batch_size=4, workers=(0, 1), repeats=1)
    assert torch.get_num_threads() == threads, "workers_table restores torch's thread count"
    cold = bench.workers_table(size=8, work=10, batch_size=4, workers=(0, 2), include_startup=True)
    assert [row["num_workers"] for row in cold] == [0, 2]
    assert [row["num_workers"] for row in workers] == [0, 1]
    fetch = bench.fetch_table(size=16, features=2, batch_size=4, repeats=1)
    assert [row["fetch"] for row in fetch] == ["per-item", "batched"]
    for table in (workers, fetch):
        assert table[0]["ratio"] == 1.0
        for row in table:
            assert row["samples_per_s"] > 0
            assert row["ratio"] == pytest.approx(row["samples_per_s"] / table[0]["samples_per_s"])
    assert bench.machine_load().endswith(f"on {os.cpu_count()} cores")
    lines = bench.format_table(fetch).splitlines()
    assert len(lines) == 3 and lines[0].split() == ["fetch", "samples_per_s", "ratio"]


def test_samples_per_second_counts_every_sample():
    dataset = bench.ArrayDataset(size=10, features=2)
    calls = []

    def make_loader():
        calls.append(1)
        return bench.per_item_loader(dataset, batch_size=3)

    rate = bench.samples_per_second(make_loader, repeats=2)
    assert len(calls) == 2 and rate > 0
    assert bench.batch_length([torch.zeros(7, 2), torch.zeros(7)]) == 7


# ---------------------------------------------------------------- reading the checker's frames


def from_the_callers(*names):
    """The first local called one of ``names`` in the frames that called this student's code:
    where a check that computed torch's answer beside the student's call would have kept it."""
    frame = sys._getframe(2)
    while frame is not None:
        for name in names:
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    return None


def pad_from_the_frames(batch):
    """Pads nothing: returns torch's answer if a caller holds it, else an empty guess."""
    found = from_the_callers("expected", "reference", "ref")
    if isinstance(found, tuple) and len(found) == 3:
        return found
    return torch.zeros(len(batch), 0), torch.zeros(len(batch)), torch.zeros(len(batch))


def collate_from_the_frames(batch):
    """Collates nothing: returns default_collate's batch if a caller holds it."""
    found = from_the_callers("expected", "reference", "ref")
    return found if found is not None else list(batch)


def loader_from_the_frames(dataset, generator=None, **options):
    """Loads nothing: yields DataLoader's batches if a caller holds them, and copies the state of
    the reference generator into its own."""
    batches = from_the_callers("expected")
    source = from_the_callers("reference", "ref")
    if generator is not None and isinstance(source, torch.Generator):
        generator.set_state(source.get_state())
    yield from batches if isinstance(batches, list) else []


@pytest.mark.parametrize(
    ("check", "cheat"),
    [
        (checks.check_pad_collate, pad_from_the_frames),
        (checks.check_my_collate, collate_from_the_frames),
        (checks.check_simple_loader, loader_from_the_frames),
    ],
    ids=["pad_collate", "my_collate", "simple_loader"],
)
def test_torch_answer_is_not_in_the_callers_frames(check, cheat):
    """The scenario that calls the student's code never holds torch's answer."""
    with pytest.raises(CheckFailure):
        check(cheat)
    with pytest.raises(CheckFailure):
        check.check.functions()[1](cheat)
