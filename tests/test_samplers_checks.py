"""The 07_samplers checks pass the instructor's solution and fail realistic mistakes.

Every wrong sampler below is a mistake a student could make; each must fail its check with a
message whose first line names the call and the difference, then shows the case as code,
torch's indices and the student's.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from contextlib import contextmanager

import pytest
import torch
import torch.utils.data
from conftest import solution_namespace

from autograder import CheckFailure
from autograder import samplers as checks
from autograder.checking import Delegation, judge_case, observe
from autograder.plain import decode, dumps, loads

SOLUTION = solution_namespace("07_samplers")
SequentialSampler = SOLUTION["SequentialSampler"]
RandomSampler = SOLUTION["RandomSampler"]
SubsetRandomSampler = SOLUTION["SubsetRandomSampler"]
WeightedRandomSampler = SOLUTION["WeightedRandomSampler"]
BatchSampler = SOLUTION["BatchSampler"]
DistributedSampler = SOLUTION["DistributedSampler"]

CHECKS = {
    "sequential_sampler": SequentialSampler,
    "random_sampler": RandomSampler,
    "subset_random_sampler": SubsetRandomSampler,
    "weighted_random_sampler": WeightedRandomSampler,
    "batch_sampler": BatchSampler,
    "distributed_sampler": DistributedSampler,
}


@pytest.mark.parametrize("name", CHECKS)
def test_solution_passes_visible_and_hidden_checks(name):
    getattr(checks, f"check_{name}")(CHECKS[name])
    for _ in range(3):  # hidden cases differ on every call
        getattr(checks, f"check_{name}_hidden")(CHECKS[name])


def test_all_checks_take_well_under_a_second():
    start = time.perf_counter()
    for name, cls in CHECKS.items():
        getattr(checks, f"check_{name}")(cls)
        getattr(checks, f"check_{name}_hidden")(cls)
    assert time.perf_counter() - start < 5.0


# ------------------------------------------------------------------------- wrong samplers


class YieldsItems(SequentialSampler):
    """Yields the items of data_source instead of their indices."""

    def __iter__(self):
        return iter(self.data_source)


class YieldsTensors(SequentialSampler):
    """Yields 0-d tensors from torch.arange instead of Python ints."""

    def __iter__(self):
        return iter(torch.arange(len(self.data_source)))


class GlobalRandperm(RandomSampler):
    """With generator=None, shuffles with torch.randperm(n) straight from the global RNG."""

    def __iter__(self):
        if self.generator is not None:
            yield from super().__iter__()
            return
        n = len(self.data_source)
        for _ in range(self.num_samples // n):
            yield from torch.randperm(n).tolist()
        yield from torch.randperm(n).tolist()[: self.num_samples % n]


class NoExtraPermutation(RandomSampler):
    """Skips the empty permutation torch draws when num_samples is a multiple of n."""

    def __iter__(self):
        n = len(self.data_source)
        generator = self.generator
        if generator is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            generator = torch.Generator().manual_seed(seed)
        if self.replacement:
            yield from torch.randint(high=n, size=(self.num_samples,), generator=generator).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from torch.randperm(n, generator=generator).tolist()
        if self.num_samples % n:
            yield from torch.randperm(n, generator=generator).tolist()[: self.num_samples % n]


class ReplacementIgnored(RandomSampler):
    """Always shuffles without replacement."""

    def __iter__(self):
        replacement, self.replacement = self.replacement, False
        try:
            yield from super().__iter__()
        finally:
            self.replacement = replacement


class RandomValueError(RandomSampler):
    """Raises ValueError, not torch's TypeError, for a replacement that is not a bool."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise ValueError("replacement should be a boolean value")
        super().__init__(data_source, replacement, num_samples, generator)


class YieldsPositions(SubsetRandomSampler):
    """Yields the shuffled positions, not the indices stored at them."""

    def __iter__(self):
        return iter(torch.randperm(len(self.indices), generator=self.generator).tolist())


class SubsetDrawsSeed(SubsetRandomSampler):
    """Copies RandomSampler: draws a seed first when generator is None."""

    def __iter__(self):
        generator = self.generator
        if generator is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            generator = torch.Generator().manual_seed(seed)
        for position in torch.randperm(len(self.indices), generator=generator).tolist():
            yield self.indices[position]


class SubsetIgnoresGenerator(SubsetRandomSampler):
    """Shuffles from the global RNG even when given a generator."""

    def __iter__(self):
        for position in torch.randperm(len(self.indices)).tolist():
            yield self.indices[position]


class WeightedAlwaysReplaces(WeightedRandomSampler):
    """Ignores replacement=False."""

    def __iter__(self):
        drawn = torch.multinomial(self.weights, self.num_samples, True, generator=self.generator)
        return iter(drawn.tolist())


class WeightedTypeError(WeightedRandomSampler):
    """Raises TypeError (as RandomSampler does) for a replacement that is not a bool."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError("replacement should be a boolean value")
        super().__init__(weights, num_samples, replacement, generator)


class WeightedKeepsDtype(WeightedRandomSampler):
    """Keeps the weights' own dtype: integer weights then break torch.multinomial."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        super().__init__(weights, num_samples, replacement, generator)
        self.weights = torch.as_tensor(weights)


class WeightedIgnoresGenerator(WeightedRandomSampler):
    """Draws from the global RNG."""

    def __iter__(self):
        return iter(torch.multinomial(self.weights, self.num_samples, self.replacement).tolist())


class LenIgnoresDropLast(BatchSampler):
    """Rounds up in len() even with drop_last=True."""

    def __len__(self):
        return math.ceil(len(self.sampler) / self.batch_size)


class BatchesFixedAtInit(BatchSampler):
    """Draws the batches once in __init__: a RandomSampler inside repeats every epoch."""

    def __init__(self, sampler, batch_size, drop_last):
        super().__init__(sampler, batch_size, drop_last)
        self.batches = list(super().__iter__())

    def __iter__(self):
        return iter(self.batches)


class BatchAcceptsBool(BatchSampler):
    """Accepts batch_size=True, since isinstance(True, int) holds."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value")
        if not isinstance(drop_last, bool):
            raise ValueError("drop_last should be a boolean value")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last


class KeepsPartialBatch(BatchSampler):
    """Yields the short last batch even with drop_last=True."""

    def __iter__(self):
        indices = list(self.sampler)
        for start in range(0, len(indices), self.batch_size):
            yield indices[start : start + self.batch_size]


def _shuffled(sampler):
    n = len(sampler.dataset)
    if not sampler.shuffle:
        return list(range(n))
    generator = torch.Generator().manual_seed(sampler.seed + sampler.epoch)
    return torch.randperm(n, generator=generator).tolist()


class PadsFromTail(DistributedSampler):
    """Pads with the last indices instead of the first ones."""

    def __iter__(self):
        indices = _shuffled(self)
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            padding = self.total_size - len(indices)
            indices += (indices[::-1] * self.total_size)[:padding][::-1]
        return iter(indices[self.rank : self.total_size : self.num_replicas])


class BlockSplit(DistributedSampler):
    """Gives each rank a contiguous block instead of every num_replicas-th index."""

    def __iter__(self):
        everything = list(super().__iter__.__func__(_AllRanks(self)))
        start = self.rank * self.num_samples
        return iter(everything[start : start + self.num_samples])


class _AllRanks:
    """A view of a sampler as rank 0 of a group of one, to get the padded list."""

    def __init__(self, sampler):
        self.__dict__.update(sampler.__dict__)
        self.rank, self.num_replicas = 0, 1
        self.total_size = sampler.total_size


class IgnoresEpoch(DistributedSampler):
    """Seeds with seed alone: set_epoch changes nothing."""

    def set_epoch(self, epoch):
        pass


class PadsOnce(DistributedSampler):
    """Pads with indices[:padding], too short when the dataset is smaller than the group."""

    def __iter__(self):
        indices = _shuffled(self)
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            indices += indices[: self.total_size - len(indices)]
        return iter(indices[self.rank : self.total_size : self.num_replicas])


class DropLastRoundsUp(DistributedSampler):
    """With drop_last, keeps ceil(n / num_replicas) per rank, as without it."""

    def __init__(
        self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False
    ):
        super().__init__(dataset, num_replicas, rank, shuffle, seed, drop_last)
        self.num_samples = math.ceil(len(dataset) / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas


class NoRankCheck(DistributedSampler):
    """Accepts any rank."""

    def __init__(
        self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False
    ):
        super().__init__(dataset, num_replicas or 1, 0, shuffle, seed, drop_last)
        self.rank = rank


class SeedsGlobalRNG(DistributedSampler):
    """Shuffles with torch.manual_seed(seed + epoch): same indices, but resets the global RNG."""

    def __iter__(self):
        indices = list(range(len(self.dataset)))
        if self.shuffle:
            torch.manual_seed(self.seed + self.epoch)
            indices = torch.randperm(len(self.dataset)).tolist()
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            padding = self.total_size - len(indices)
            indices += (indices * math.ceil(padding / len(indices)))[:padding] if padding else []
        return iter(indices[self.rank : self.total_size : self.num_replicas])


class TwoSeedsPerPass(RandomSampler):
    """With generator=None, draws a second, unused number from the global RNG on every pass."""

    def __iter__(self):
        if self.generator is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            torch.rand(1)
            self.generator = torch.Generator().manual_seed(seed)
            try:
                yield from super().__iter__()
            finally:
                self.generator = None
        else:
            yield from super().__iter__()


class SeedDrawnAlways(RandomSampler):
    """Copies torch's generator=None branch without its `if`: draws a seed from the global RNG
    on every pass, then shuffles with the generator it was given. The orders are torch's; only
    the global RNG shows the mistake."""

    def __iter__(self):
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        if self.generator is not None:
            yield from super().__iter__()
            return
        self.generator = torch.Generator().manual_seed(seed)
        try:
            yield from super().__iter__()
        finally:
            self.generator = None


class RandomIgnoresGenerator(RandomSampler):
    """Shuffles as if generator were None (a seed from the global RNG), even when given one."""

    def __iter__(self):
        generator, self.generator = self.generator, None
        try:
            yield from super().__iter__()
        finally:
            self.generator = generator


class OneIndexShortcut(RandomSampler):
    """Yields 0s for a one-index source without drawing torch's seed from the global RNG."""

    def __iter__(self):
        if len(self.data_source) == 1 and self.generator is None and not self.replacement:
            yield from [0] * self.num_samples
            return
        yield from super().__iter__()


#: Each wrong sampler, and words its message's first line must hold: the difference.
WRONG = [
    ("sequential_sampler", YieldsItems, "pass 1 differs at position 0: torch 0, yours 'w0'"),
    ("sequential_sampler", YieldsTensors, "yield Python ints, not Tensor"),
    ("random_sampler", GlobalRandperm, "after torch.manual_seed(9): pass 1 differs"),
    ("random_sampler", NoExtraPermutation, "pass 2 differs"),
    ("random_sampler", ReplacementIgnored, "replacement=True"),
    ("random_sampler", RandomValueError, "raised ValueError in the constructor; torch raises "),
    ("random_sampler", TwoSeedsPerPass, "after torch.manual_seed(9): pass 2 differs"),
    ("random_sampler", SeedDrawnAlways, "the global RNG moved, though generator= was given"),
    ("random_sampler", RandomIgnoresGenerator, "the global RNG moved, though generator= was "),
    ("random_sampler", OneIndexShortcut, "the global RNG ends in another state"),
    ("subset_random_sampler", YieldsPositions, "pass 1 differs at position 0: torch 4, yours 0"),
    ("subset_random_sampler", SubsetDrawsSeed, "pass 2 differs"),
    ("subset_random_sampler", SubsetIgnoresGenerator, "the global RNG moved, though generator="),
    ("weighted_random_sampler", WeightedAlwaysReplaces, "no exception; torch raises RuntimeError"),
    ("weighted_random_sampler", WeightedTypeError, "raised TypeError in the constructor; torch"),
    ("weighted_random_sampler", WeightedKeepsDtype, "raised RuntimeError in pass 1"),
    ("weighted_random_sampler", WeightedIgnoresGenerator, "the global RNG moved, though "),
    ("batch_sampler", LenIgnoresDropLast, "len(sampler) is 1, torch's is 0"),
    ("batch_sampler", BatchesFixedAtInit, "pass 2 differs"),
    ("batch_sampler", BatchAcceptsBool, "no exception; torch raises ValueError"),
    ("batch_sampler", KeepsPartialBatch, "pass 1 has 0 items in torch, 1 in yours"),
    ("distributed_sampler", PadsFromTail, "differs at position"),
    ("distributed_sampler", BlockSplit, "differs at position"),
    ("distributed_sampler", IgnoresEpoch, "pass 3 differs"),
    ("distributed_sampler", PadsOnce, "pass 1 has 1 item in torch, 0 in yours"),
    ("distributed_sampler", DropLastRoundsUp, "drop_last=True): pass 1 has 3 items in torch"),
    ("distributed_sampler", NoRankCheck, "no exception; torch raises ValueError"),
    ("distributed_sampler", SeedsGlobalRNG, "the global RNG ends in another state"),
]


def _class_name(check: str) -> str:
    return "".join(word.title() for word in check.split("_"))


@pytest.mark.parametrize(("name", "wrong", "clue"), WRONG, ids=[w[1].__name__ for w in WRONG])
def test_visible_check_fails_a_wrong_sampler(name, wrong, clue):
    """The first line alone names the call and the difference; the case follows as code."""
    with pytest.raises(CheckFailure) as failure:
        getattr(checks, f"check_{name}")(wrong)
    message = str(failure.value)
    first = message.splitlines()[0]
    assert first.startswith(f"{_class_name(name)}("), message
    assert clue in first, message
    assert "\n  the case, as code:\n    " in message and "    sampler = " in message, message
    assert "torch gives:" in message and "yours gave:" in message, message


@pytest.mark.parametrize("wrong", [SeedDrawnAlways, RandomIgnoresGenerator])
def test_the_global_rng_drawn_beside_a_generator_is_shown_where_orders_show_something(wrong):
    """Not on range(1), whose every pass is [0] in torch and in yours, and not with the hint of
    the case (which is about the permutations) but with one about the generator."""
    with pytest.raises(CheckFailure) as failure:
        checks.check_random_sampler(wrong)
    message = str(failure.value)
    first = message.splitlines()[0]
    assert first == (
        "RandomSampler(range(3), generator=torch.Generator().manual_seed(9)): "
        "the global RNG moved, though generator= was given"
    ), message
    torch_passes = torch.utils.data.RandomSampler(
        range(3), generator=torch.Generator().manual_seed(9)
    )
    first_pass, second_pass = list(torch_passes), list(torch_passes)
    assert first_pass != second_pass, "the orders of this case tell the passes apart"
    assert f"torch gives: pass 1: {first_pass}\n               pass 2: {second_pass}" in message
    assert "num_samples // n" not in message, "no hint about another mistake"
    assert "hint: draw from the generator you are given only" in message, message


def test_a_mistake_only_a_one_index_case_shows_is_still_caught():
    """range(1) is judged without the global RNG where its size puts it, and with it last."""
    with pytest.raises(CheckFailure) as failure:
        checks.check_random_sampler(OneIndexShortcut)
    message = str(failure.value)
    assert message.startswith("RandomSampler(range(1)) after torch.manual_seed(0): the same "), (
        message
    )
    assert "hint: with generator=None torch draws ONE int64 seed" in message, message
    cases = checks.RANDOM.visible
    assert [
        case["global_rng"] for case in cases if case["data"] == {"kind": "range", "args": [1]}
    ] == [
        False,
        False,
        True,
        True,
    ]


HIDDEN = [w for w in WRONG if w[1] is not OneIndexShortcut]  # range(1) is rarely drawn


@pytest.mark.parametrize(("name", "wrong", "clue"), HIDDEN, ids=[w[1].__name__ for w in HIDDEN])
def test_hidden_check_fails_a_wrong_sampler_too(name, wrong, clue):
    """Hidden cases are drawn at random; over a few draws each mistake must show up."""
    with pytest.raises(CheckFailure):
        for _ in range(5):
            getattr(checks, f"check_{name}_hidden")(wrong)


def test_the_smallest_differing_case_is_shown():
    with pytest.raises(CheckFailure) as failure:
        checks.check_distributed_sampler(PadsFromTail)
    # The first case with padding: 5 indices over 2 ranks, not shuffled, rank 1.
    assert "DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)" in str(
        failure.value
    )


def test_an_unfinished_sampler_says_so():
    class Stub(SequentialSampler):
        def __iter__(self):
            raise NotImplementedError

    with pytest.raises(CheckFailure, match="not implemented yet"):
        checks.check_sequential_sampler(Stub)


# ------------------------------------------- a patch in the student's process never moves torch


def _patched_while_running(cls, *patches):
    """``cls`` with its __init__ and __iter__ run while ``(namespace, name, value)`` patches
    are in place: a student cell's patch, seen by the student's code and nothing else."""

    @contextmanager
    def patched():
        originals = [(space, name, getattr(space, name)) for space, name, _ in patches]
        for space, name, value in patches:
            setattr(space, name, value)
        try:
            yield
        finally:
            for space, name, value in reversed(originals):
                setattr(space, name, value)

    class Patched(cls):
        def __init__(self, *args, **kwargs):
            with patched():
                super().__init__(*args, **kwargs)

        def __iter__(self):
            with patched():
                return iter(list(super().__iter__()))

    return Patched


def test_patching_torch_randperm_changes_the_students_output_not_torchs():
    """A cell that replaces torch.randperm changes the student's output, never the reference."""
    original = torch.randperm
    fake = _patched_while_running(
        SubsetRandomSampler,
        (torch, "randperm", lambda n, generator=None, **kwargs: torch.arange(n)),
    )
    with pytest.raises(CheckFailure) as failure:
        checks.check_subset_random_sampler(fake)
    assert torch.randperm is original
    message = str(failure.value)
    # The first differing case, [3, 3, 1] with seed 3, judged against torch's untouched class.
    assert "SubsetRandomSampler([3, 3, 1], generator=torch.Generator().manual_seed(3))" in message
    sampler = torch.utils.data.SubsetRandomSampler([3, 3, 1], torch.Generator().manual_seed(3))
    first, second = list(sampler), list(sampler)
    assert f"torch gives: pass 1: {first}\n               pass 2: {second}" in message, message
    assert "yours gave:  pass 1: [3, 3, 1]\n               pass 2: [3, 3, 1]" in message, message


def test_replacing_torchs_sampler_class_does_not_change_the_reference():
    fake = _patched_while_running(
        GlobalRandperm,
        (torch.utils.data, "RandomSampler", GlobalRandperm),
        (torch.utils.data.sampler, "RandomSampler", GlobalRandperm),
    )
    with pytest.raises(CheckFailure, match="after torch.manual_seed"):
        checks.check_random_sampler(fake)
    assert torch.utils.data.RandomSampler is torch.utils.data.sampler.RandomSampler
    assert torch.utils.data.RandomSampler.__module__ == "torch.utils.data.sampler"


def test_patching_torch_multinomial_changes_the_students_output_not_torchs():
    def fake(weights, num_samples, replacement=False, generator=None):
        return torch.zeros(num_samples, dtype=torch.long)

    wrong = _patched_while_running(WeightedRandomSampler, (torch, "multinomial", fake))
    with pytest.raises(CheckFailure) as failure:
        checks.check_weighted_random_sampler(wrong)
    # The real multinomial refuses 4 draws from 3 weights without replacement; the fake does not.
    assert "torch gives: RuntimeError in pass 1" in str(failure.value)
    assert "yours gave:  no exception; pass 1: [0, 0, 0, 0]" in str(failure.value)
    checks.check_weighted_random_sampler(WeightedRandomSampler)


def test_replacing_torch_generator_changes_the_students_output_not_torchs():
    original = torch.Generator

    def always_seed_zero(*args, **kwargs):
        generator = original(*args, **kwargs)
        generator.manual_seed = lambda seed: original().manual_seed(0)
        return generator

    wrong = _patched_while_running(DistributedSampler, (torch, "Generator", always_seed_zero))
    with pytest.raises(CheckFailure) as failure:
        checks.check_distributed_sampler(wrong)
    assert torch.Generator is original
    message = str(failure.value)
    assert "DistributedSampler(range(5), num_replicas=2, rank=0)" in message, message
    sampler = torch.utils.data.DistributedSampler(range(5), num_replicas=2, rank=0)
    assert f"torch gives: pass 1: {list(sampler)}" in message, message


def test_items_that_claim_to_equal_anything_still_fail():
    class Anything(int):
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

        __hash__ = int.__hash__

    class Liar(SequentialSampler):
        def __iter__(self):
            return iter([Anything(7)] * len(self.data_source))

    with pytest.raises(CheckFailure, match="yield Python ints, not Anything"):
        checks.check_sequential_sampler(Liar)


class ReadsTheReference(RandomSampler):
    """Walks the calling frames for torch's passes, in a local named expected, reference or
    ref, as the old in-process check allowed; with none in sight it yields 0, 1, 2 …"""

    passes_made = 0

    def __iter__(self):
        number = self.passes_made
        self.passes_made += 1
        frame = sys._getframe(1)
        while frame is not None:
            for name in ("expected", "reference", "ref"):
                value = frame.f_locals.get(name)
                passes = getattr(value, "passes", None)
                state = getattr(value, "rng_state", None)
                if isinstance(value, dict):
                    passes, state = value.get("passes"), value.get("rng_state")
                if isinstance(passes, list) and len(passes) > number:
                    if isinstance(state, torch.Tensor):
                        torch.set_rng_state(state)
                    return iter(passes[number])
            frame = frame.f_back
        return iter(range(self.num_samples))


def test_a_sampler_that_reads_the_reference_from_the_calling_frames_fails():
    with pytest.raises(CheckFailure) as failure:
        checks.check_random_sampler(ReadsTheReference)
    assert "torch gives:" in str(failure.value) and "yours gave:" in str(failure.value)


def test_calling_torchs_own_sampler_earns_nothing():
    class Delegates(torch.utils.data.Sampler):
        def __init__(self, *args, **kwargs):
            self.inner = torch.utils.data.RandomSampler(*args, **kwargs)

        def __iter__(self):
            return iter(self.inner)

        def __len__(self):
            return len(self.inner)

    with pytest.raises(CheckFailure, match="write the sampler yourself"):
        checks.check_random_sampler(Delegates)
    assert len(list(torch.utils.data.RandomSampler(range(3)))) == 3, "torch's class is restored"

    class CatchesTheRefusal(Delegates):
        def __init__(self, *args, **kwargs):
            try:
                super().__init__(*args, **kwargs)
            except Exception:  # noqa: BLE001 - hiding the refusal does not help
                self.inner = SOLUTION["RandomSampler"](*args, **kwargs)

    with pytest.raises(CheckFailure, match="write the sampler yourself"):
        checks.check_random_sampler(CatchesTheRefusal)

    class Inherits(torch.utils.data.SequentialSampler):
        pass

    with pytest.raises(CheckFailure, match="subclasses torch.utils.data.SequentialSampler"):
        checks.check_sequential_sampler(Inherits)

    class InheritsFurther(Inherits):
        pass

    with pytest.raises(CheckFailure, match="subclasses torch.utils.data.SequentialSampler"):
        checks.check_sequential_sampler_hidden(InheritsFurther)


def test_a_sampler_must_be_a_class():
    with pytest.raises(CheckFailure, match="SequentialSampler should be a class, got function"):
        checks.check_sequential_sampler(lambda data_source: iter(range(len(data_source))))


# ---------------------------------------------------------------------------- the checks


CHECK_OBJECTS = [
    checks.SEQUENTIAL,
    checks.RANDOM,
    checks.SUBSET,
    checks.WEIGHTED,
    checks.BATCH,
    checks.DISTRIBUTED,
]


def test_the_checks_are_named_and_refuse_torchs_samplers():
    assert [check.name for check in CHECK_OBJECTS] == [f"samplers.{name}" for name in CHECKS]
    for check in CHECK_OBJECTS:
        assert check.refuses == Delegation(
            task="the sampler",
            forbidden=("torch.utils.data.sampler", "torch.utils.data.distributed"),
            allowed=("torch.utils.data.Sampler",),
        )


def test_cases_are_plain_data_drawn_from_the_given_rng():
    for check in CHECK_OBJECTS:
        drawn = check.cases(True, random.Random(5))
        assert drawn == check.cases(True, random.Random(5)), check.name
        for case in check.visible + drawn:
            assert json.loads(json.dumps(case)) == case, (check.name, case)


def test_the_reference_leaves_the_global_rng_alone_and_the_scenario_records_it():
    case = checks.RANDOM.visible[-1]
    torch.manual_seed(123)
    before = torch.get_rng_state()
    reference = checks.RANDOM.reference(case)
    assert torch.equal(torch.get_rng_state(), before)
    observed = decode(loads(dumps(observe(checks.RANDOM, RandomSampler, case))))
    assert torch.equal(observed["outcome"]["rng_state"], reference["rng_state"])


def test_the_judge_refuses_observations_that_are_not_a_record():
    case = checks.SEQUENTIAL.visible[0]
    reference = checks.SEQUENTIAL.reference(case)
    data = decode(loads(dumps(observe(checks.SEQUENTIAL, SequentialSampler, case))))
    data["outcome"] = {"passes": "everything"}
    with pytest.raises(CheckFailure, match="not a record"):
        judge_case(checks.SEQUENTIAL, case, data, reference)
