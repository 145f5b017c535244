"""Checks for chapter 07_samplers: six samplers compared index by index with torch's.

Every check runs a list of *cases* — a constructor call, then a few passes over the same sampler
object (with ``set_epoch`` between them for ``DistributedSampler``) — once with torch's class and
once with the student's, from the same seeded generator or the same global seed. Cases run from
the smallest to the largest, so a failure shows the smallest call where the two differ.

The reference must come from an untouched torch, even when code in a student's cell replaced
``torch.randperm``, ``torch.Generator``, a builtin or one of torch's sampler classes. This module
therefore takes a snapshot of those namespaces when it is imported (before any student cell
runs), and computes torch's answer with the snapshot put back (:func:`pristine`). The student's
code runs in the student's own environment, patches included.
"""

from __future__ import annotations

import builtins
import itertools
import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.utils.data
import torch.utils.data.distributed
import torch.utils.data.sampler

from autograder.report import CheckFailure, hidden_rng

# --------------------------------------------------------------------------- the untouched torch

#: Namespaces whose contents a student's cell could replace, and that torch's samplers read.
_NAMESPACES: tuple[Any, ...] = (
    builtins,
    itertools,
    math,
    torch,
    torch.random,
    torch.Tensor,
    torch.utils.data,
    torch.utils.data.sampler,
    torch.utils.data.distributed,
    dist,
)
_SNAPSHOT = [(space, dict(vars(space))) for space in _NAMESPACES]

#: torch's own samplers and RNG entry points, held here so that rebinding the names has no effect.
TORCH = {
    name: getattr(torch.utils.data, name)
    for name in (
        "SequentialSampler",
        "RandomSampler",
        "SubsetRandomSampler",
        "WeightedRandomSampler",
        "BatchSampler",
        "DistributedSampler",
    )
}
_GENERATOR = torch.Generator
_MANUAL_SEED = torch.manual_seed
_GET_RNG_STATE = torch.random.get_rng_state
_IS_INITIALIZED = dist.is_initialized


@contextmanager
def pristine() -> Iterator[None]:
    """Run the body with every snapshotted name bound as it was at import, then undo that.

    Names a student replaced or deleted are bound to torch's originals for the body and put back
    afterwards, so the student's notebook keeps behaving as the student wrote it.
    """
    changed: list[tuple[Any, str, Any]] = []
    for space, saved in _SNAPSHOT:
        # Names added since the snapshot cannot be read by torch's code, so they stay.
        for name, value in saved.items():
            current = vars(space).get(name, _MISSING)
            if current is not value:
                changed.append((space, name, current))
                setattr(space, name, value)
    try:
        yield
    finally:
        for space, name, value in reversed(changed):
            if value is _MISSING:
                delattr(space, name)
            else:
                setattr(space, name, value)


_MISSING = object()


# --------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One constructor call and the passes made over the resulting sampler.

    ``build(cls, generator)`` constructs the sampler with ``cls`` (torch's or the student's);
    ``generator`` is a fresh ``torch.Generator`` seeded with ``seed`` or ``None``. The global RNG
    is seeded with ``global_seed`` (0 when it is ``None``: the sampler should not use it).
    ``epochs`` lists, for each pass, the value given to ``set_epoch`` first, or ``None``.
    """

    call: str
    build: Callable[[type, torch.Generator | None], Any]
    size: int
    seed: int | None = None
    global_seed: int | None = None
    epochs: tuple[int | None, ...] = (None, None)
    hint: str = ""
    batches: bool = False

    def script(self, name: str) -> str:
        """The case as code a student can paste into a cell."""
        lines = []
        if self.global_seed is not None:
            lines.append(f"torch.manual_seed({self.global_seed})")
        generator = "" if self.seed is None else f"torch.Generator().manual_seed({self.seed})"
        call = self.call.replace("GEN", generator).replace("CLS", name)
        call = call.replace(", )", ")").replace("(, ", "(")
        lines.append(f"sampler = {call}")
        for epoch in self.epochs:
            if epoch is not None:
                lines.append(f"sampler.set_epoch({epoch})")
            lines.append("list(sampler)")
        lines.append("len(sampler)")
        return "\n".join(lines)


@dataclass
class Outcome:
    """What happened: the passes made, len(), or the exception and where it was raised."""

    passes: list[list[Any]] = field(default_factory=list)
    length: Any = None
    error: tuple[str, type[BaseException], str] | None = None
    rng_state: torch.Tensor | None = None  # the global RNG's state afterwards


def _run(cls: type, case: Case) -> Outcome:
    """Run ``case`` with ``cls``; exceptions are recorded, not raised."""
    outcome = Outcome()
    _MANUAL_SEED(case.global_seed or 0)
    generator = None if case.seed is None else _GENERATOR().manual_seed(case.seed)
    where = "the constructor"
    try:
        sampler = case.build(cls, generator)
        for number, epoch in enumerate(case.epochs, start=1):
            if epoch is not None:
                where = f"set_epoch({epoch})"
                sampler.set_epoch(epoch)
            where = f"pass {number} (list(sampler))"
            outcome.passes.append(list(sampler))
        where = "len(sampler)"
        outcome.length = len(sampler)
        outcome.rng_state = _GET_RNG_STATE()
    except CheckFailure:
        raise
    except Exception as error:  # noqa: BLE001 - the exception is the result
        outcome.error = (where, type(error), str(error))
    return outcome


def _reference(name: str, case: Case) -> Outcome:
    with pristine():
        return _run(TORCH[name], case)


@contextmanager
def _no_delegation(name: str) -> Iterator[None]:
    """While the student's code runs, make torch's own class of that name refuse to work."""
    torch_class = TORCH[name]
    originals = {attr: vars(torch_class)[attr] for attr in ("__init__", "__iter__")}

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise CheckFailure(
            f"your {name} calls torch.utils.data.{name}: write the sampler yourself "
            "(torch's random functions such as torch.randperm are fine to use)"
        )

    for attr in originals:
        setattr(torch_class, attr, refuse)
    try:
        yield
    finally:
        for attr, value in originals.items():
            setattr(torch_class, attr, value)


def _check_class(name: str, cls: Any) -> None:
    if not isinstance(cls, type):
        raise CheckFailure(f"{name} should be a class, got {type(cls).__name__}")
    if issubclass(cls, TORCH[name]):
        raise CheckFailure(
            f"your {name} subclasses torch.utils.data.{name}: subclass "
            "torch.utils.data.Sampler and write __init__, __iter__ and __len__ yourself"
        )


def _student(name: str, cls: type, case: Case) -> Outcome:
    with _no_delegation(name):
        outcome = _run(cls, case)
    if outcome.error is not None and outcome.error[1] is NotImplementedError:
        raise CheckFailure(f"{case.script(name)}\n  not implemented yet (NotImplementedError)")
    return outcome


# ----------------------------------------------------------------------------- comparing runs


def _show(passes: list[list[Any]]) -> str:
    if not passes:
        return "(no pass completed)"
    pad = "\n" + " " * 15
    return pad.join(f"pass {i}: {_short(p)}" for i, p in enumerate(passes, start=1))


def _short(values: list[Any], limit: int = 48) -> str:
    if len(values) <= limit:
        return repr(values)
    return f"{repr(values[:limit])[:-1]}, ... ({len(values)} in all)]"


def _type_problem(values: list[Any], batches: bool) -> str | None:
    """Why the items yielded are not what torch yields (ints, or lists of ints), or None."""
    for item in values:
        if batches:
            if type(item) is not list:
                return f"yield each batch as a list of ints, not {type(item).__name__}"
            problem = _type_problem(item, batches=False)
            if problem:
                return problem
        elif isinstance(item, torch.Tensor):
            return "yield Python ints, not Tensor (use .tolist() on a tensor of indices)"
        elif type(item) is not int:
            return f"yield Python ints, not {type(item).__name__}"
    return None


def _first_difference(expected: list[list[Any]], got: list[list[Any]]) -> str:
    for number, (want, have) in enumerate(zip(expected, got, strict=False), start=1):
        if want == have:
            continue
        for position, (a, b) in enumerate(zip(want, have, strict=False)):
            if a != b:
                return f"pass {number} differs at position {position}: torch {a!r}, yours {b!r}"
        return f"pass {number} has {len(want)} items in torch, {len(have)} in yours"
    return f"torch made {len(expected)} passes, yours {len(got)}"


def _compare(name: str, case: Case, expected: Outcome, got: Outcome) -> None:
    script = case.script(name)

    def fail(torch_says: str, yours: str, why: str) -> None:
        lines = [script, f"  torch gives: {torch_says}", f"  yours gave:  {yours}"]
        lines.append(f"  difference:  {why}")
        if case.hint:
            lines.append(f"  hint: {case.hint}")
        raise CheckFailure("\n".join(lines))

    if got.error is not None and expected.error is None:
        where, kind, message = got.error
        fail(_show(expected.passes), f"{kind.__name__} in {where}: {message}", "torch raises none")
    if expected.error is not None:
        where, kind, message = expected.error
        torch_says = f"{kind.__name__} in {where}: {message}"
        if got.error is None:
            fail(torch_says, f"no exception; {_show(got.passes)}", f"raise {kind.__name__}")
        if got.error[1] is not kind or got.error[0] != where:
            yours = f"{got.error[1].__name__} in {got.error[0]}: {got.error[2]}"
            fail(torch_says, yours, f"raise {kind.__name__} in {where}, as torch does")
    if got.passes != expected.passes:
        why = _first_difference(expected.passes, got.passes)
        fail(_show(expected.passes), _show(got.passes), why)
    for passed in got.passes:  # equal values can still be tensors or floats
        problem = _type_problem(passed, case.batches)
        if problem:
            fail(_show(expected.passes), _show(got.passes), problem)
    if expected.error is not None:
        return
    if type(got.length) is not int or got.length != expected.length:
        fail(f"len(sampler) == {expected.length!r}", f"len(sampler) == {got.length!r}", "len()")
    if not torch.equal(expected.rng_state, got.rng_state):
        fail(
            "the same indices, and the global RNG left as torch's sampler leaves it",
            "the same indices, and the global RNG in another state",
            "torch's sampler draws from the global RNG only when it has no generator (one "
            "seed per pass for RandomSampler); do not seed or draw from it otherwise",
        )


def run_cases(name: str, cls: type, cases: list[Case]) -> int:
    """Compare ``cls`` with torch's ``name`` on ``cases``, smallest first; return how many ran.

    Only the student's own calls run in the student's environment; the reference and the
    comparison (``list``, ``type``, ``==`` on lists) run with the snapshot put back.
    """
    with pristine():
        _check_class(name, cls)
    for case in sorted(cases, key=lambda c: c.size):
        expected = _reference(name, case)
        got = _student(name, cls, case)
        with pristine():
            _compare(name, case, expected, got)
    return len(cases)


# ------------------------------------------------------------------------------ case builders


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _case(
    positional: str,
    data: Callable[[], Any],
    kwargs: dict[str, Any],
    size: int,
    *,
    seed: int | None = None,
    global_seed: int | None = None,
    epochs: tuple[int | None, ...] = (None, None),
    hint: str = "",
    batches: bool = False,
) -> Case:
    """A case calling ``CLS(data(), **kwargs[, generator=...])``; ``positional`` shows data()."""
    generator_text = ", generator=GEN" if seed is not None else ""
    extra = _kwargs_text(kwargs)
    call = f"CLS({positional}{', ' + extra if extra else ''}{generator_text})"

    def build(cls: type, generator: torch.Generator | None) -> Any:
        more = {} if generator is None else {"generator": generator}
        return cls(data(), **kwargs, **more)

    return Case(call, build, size, seed, global_seed, epochs, hint, batches)


# --------------------------------------------------------------------------- SequentialSampler


def sequential_cases(rng: random.Random | None = None) -> list[Case]:
    """Fixed cases, or drawn from ``rng``: ranges, lists of strings, an empty source."""
    if rng is None:
        sizes, starts = [0, 1, 4, 7], [0, 0, 10, 3]
    else:
        sizes = [rng.randint(0, 40) for _ in range(3)]
        starts = [rng.randint(1, 100) for _ in range(3)]
    cases = []
    for n, start in zip(sizes, starts, strict=True):
        source = range(start, start + n)
        cases.append(_case(repr(source), lambda s=source: s, {}, n))
        words = [f"w{i}" for i in range(n)]
        cases.append(_case(repr(words), lambda w=words: list(w), {}, n))
    return cases


def check_sequential_sampler(SequentialSampler: type) -> None:
    """``SequentialSampler`` yields 0, 1, … len(data_source)-1 on every pass."""
    run_cases("SequentialSampler", SequentialSampler, sequential_cases())


def check_sequential_sampler_hidden(SequentialSampler: type) -> None:
    """:func:`check_sequential_sampler` on sources drawn at grading time."""
    run_cases("SequentialSampler", SequentialSampler, sequential_cases(hidden_rng()))


# ------------------------------------------------------------------------------- RandomSampler

RANDOM_HINTS = {
    "global": "with generator=None torch draws ONE int64 seed from the global RNG per pass and "
    "shuffles with a new Generator seeded by it",
    "multiple": "without replacement torch draws num_samples // n full permutations, then one "
    "more permutation it slices to num_samples % n items, even when that is 0 items",
    "replacement": "with replacement, torch.randint(high=n, ...) draws num_samples indices",
}


def _random_case(n: int, replacement: bool, num_samples: int | None, seed: int | None, glob: int):
    kwargs: dict[str, Any] = {}
    if replacement:
        kwargs["replacement"] = True
    if num_samples is not None:
        kwargs["num_samples"] = num_samples
    hint = RANDOM_HINTS["replacement"] if replacement else ""
    if not replacement and (num_samples or n) % n == 0:
        hint = RANDOM_HINTS["multiple"]
    if seed is None:
        hint = "; ".join(h for h in (RANDOM_HINTS["global"], hint) if h)
    size = max(n, num_samples or 0)
    return _case(
        f"range({n})",
        lambda: range(n),
        kwargs,
        size,
        seed=seed,
        global_seed=glob if seed is None else None,
        hint=hint,
    )


def random_cases(rng: random.Random | None = None) -> list[Case]:
    """With and without a generator, with and without replacement, num_samples around n."""
    cases = []
    if rng is None:
        plan = [
            (1, False, None, 0),
            (3, False, None, 1),
            (5, False, 3, 2),
            (4, False, 8, 3),
            (4, False, 9, 4),
            (5, True, None, 5),
            (6, True, 40, 6),
            (7, False, 7, 7),
        ]
    else:
        plan = []
        for _ in range(6):
            n = rng.randint(1, 30)
            replacement = rng.random() < 0.4
            num_samples = rng.choice([None, rng.randint(1, 3 * n), n * rng.randint(1, 3)])
            plan.append((n, replacement, num_samples, rng.getrandbits(31)))
        # Always one multiple of n without replacement, and one draw with replacement.
        n = rng.randint(2, 30)
        plan.append((n, False, n * rng.randint(1, 3), rng.getrandbits(31)))
        plan.append((rng.randint(2, 30), True, rng.randint(2, 90), rng.getrandbits(31)))
    for n, replacement, num_samples, seed in plan:
        cases.append(_random_case(n, replacement, num_samples, seed, 0))
        cases.append(_random_case(n, replacement, num_samples, None, seed))
    cases += [_error_case("RandomSampler", "range(3)", lambda: range(3), kw) for kw in BAD_RANDOM]
    cases.append(_error_case("RandomSampler", "[]", lambda: [], {}))
    return cases


BAD_RANDOM = [
    {"replacement": 1},
    {"replacement": "yes"},
    {"num_samples": 0},
    {"num_samples": -2},
    {"num_samples": 2.5},
    {"replacement": True, "num_samples": "4"},
]


def _error_case(name: str, positional: str, data: Callable[[], Any], kwargs: dict) -> Case:
    return _case(positional, data, kwargs, 0, hint=f"torch's {name} checks its arguments")


def check_random_sampler(RandomSampler: type) -> None:
    """``RandomSampler`` gives torch's indices, pass after pass, and torch's argument errors."""
    run_cases("RandomSampler", RandomSampler, random_cases())


def check_random_sampler_hidden(RandomSampler: type) -> None:
    """:func:`check_random_sampler` on sizes and seeds drawn at grading time."""
    run_cases("RandomSampler", RandomSampler, random_cases(hidden_rng()))


# ------------------------------------------------------------------------- SubsetRandomSampler


def subset_cases(rng: random.Random | None = None) -> list[Case]:
    """Index lists in no particular order, with a seeded generator and with the global RNG."""
    if rng is None:
        plan = [([4], 0), ([7, 2, 9, 4], 1), ([10, 11, 12, 13, 14, 15], 2), ([3, 3, 1], 3)]
    else:
        plan = []
        for _ in range(4):
            k = rng.randint(1, 25)
            plan.append(([rng.randint(0, 99) for _ in range(k)], rng.getrandbits(31)))
    cases = []
    hint = "torch shuffles positions with torch.randperm(len(indices), generator=generator)"
    for indices, seed in plan:
        text = repr(indices)
        for s, g in ((seed, None), (None, seed)):
            extra = "" if s is not None else "; with generator=None that is the global RNG"
            cases.append(
                _case(
                    text,
                    lambda i=indices: list(i),
                    {},
                    len(indices),
                    seed=s,
                    global_seed=g,
                    hint=hint + extra,
                )
            )
    return cases


def check_subset_random_sampler(SubsetRandomSampler: type) -> None:
    """``SubsetRandomSampler`` yields torch's shuffles of the given indices, pass after pass."""
    run_cases("SubsetRandomSampler", SubsetRandomSampler, subset_cases())


def check_subset_random_sampler_hidden(SubsetRandomSampler: type) -> None:
    """:func:`check_subset_random_sampler` on index lists and seeds drawn at grading time."""
    run_cases("SubsetRandomSampler", SubsetRandomSampler, subset_cases(hidden_rng()))


# ----------------------------------------------------------------------- WeightedRandomSampler

WEIGHTED_HINT = (
    "torch converts the weights to a float64 tensor and calls torch.multinomial(weights, "
    "num_samples, replacement, generator=generator) on every pass"
)


def _weighted_case(weights: Any, text: str, num_samples: Any, replacement: Any, seed, glob):
    kwargs = {"num_samples": num_samples}
    if replacement is not True:
        kwargs["replacement"] = replacement
    size = num_samples if isinstance(num_samples, int) else 0
    return _case(
        text,
        lambda: weights.clone() if isinstance(weights, torch.Tensor) else list(weights),
        kwargs,
        size,
        seed=seed,
        global_seed=glob if seed is None else None,
        hint=WEIGHTED_HINT,
    )


def weighted_cases(rng: random.Random | None = None) -> list[Case]:
    """Weights with zeros and a float32 tensor, with and without replacement, and bad arguments."""
    cases = []
    if rng is None:
        plan = [
            ([0.1, 0.9, 0.4, 0.7, 3.0, 0.6], 5, True, 0),
            ([0.9, 0.4, 0.05, 0.2, 0.3, 0.1], 5, False, 1),
            ([1, 0, 3], 6, True, 2),
            ([2.0, 0.0, 1.0, 1.0], 3, False, 3),
        ]
    else:
        plan = []
        for number in range(4):
            n = rng.randint(1, 20)
            if number == 0 or rng.random() < 0.5:  # integers: torch makes them float64 first
                weights: list[float] = [rng.randint(0, 5) for _ in range(n)]
                weights[rng.randrange(n)] = rng.randint(1, 5)
            else:
                weights = [round(rng.choice([0.0, rng.uniform(0.01, 5)]), 3) for _ in range(n)]
                weights[rng.randrange(n)] = round(rng.uniform(0.5, 2), 3)
            replacement = rng.random() < 0.5 if number > 1 else bool(number)
            positive = sum(w > 0 for w in weights)
            num_samples = rng.randint(1, 3 * n) if replacement else rng.randint(1, positive)
            plan.append((weights, num_samples, replacement, rng.getrandbits(31)))
    for weights, num_samples, replacement, seed in plan:
        cases.append(_weighted_case(weights, repr(weights), num_samples, replacement, seed, 0))
        cases.append(_weighted_case(weights, repr(weights), num_samples, replacement, None, seed))
    as_float = torch.tensor(plan[0][0], dtype=torch.float32)
    text = f"torch.tensor({plan[0][0]!r})"
    cases.append(_weighted_case(as_float, text, 50, True, 11, 0))
    w = [1.0, 2.0, 3.0]
    for num_samples, replacement in BAD_WEIGHTED:
        cases.append(_weighted_case(w, repr(w), num_samples, replacement, None, 0))
    cases.append(_weighted_case([[1.0, 2.0]], "[[1.0, 2.0]]", 1, True, None, 0))
    cases.append(_weighted_case([0.0, 0.0], "[0.0, 0.0]", 1, True, None, 0))
    for case in cases[-len(BAD_WEIGHTED) - 2 :]:
        case.size = 0
    return cases


BAD_WEIGHTED = [(0, True), (True, True), (2.5, True), (2, 1), (2, "no"), (4, False)]


def check_weighted_random_sampler(WeightedRandomSampler: type) -> None:
    """``WeightedRandomSampler`` gives torch's draws, pass after pass, and torch's errors."""
    run_cases("WeightedRandomSampler", WeightedRandomSampler, weighted_cases())


def check_weighted_random_sampler_hidden(WeightedRandomSampler: type) -> None:
    """:func:`check_weighted_random_sampler` on weights and seeds drawn at grading time."""
    run_cases("WeightedRandomSampler", WeightedRandomSampler, weighted_cases(hidden_rng()))


# -------------------------------------------------------------------------------- BatchSampler

BATCH_HINT = (
    "take batch_size indices at a time from a NEW iterator over the wrapped sampler on every "
    "pass; len() is ceil(len(sampler) / batch_size), or the floor with drop_last=True"
)


def _inner(kind: str, n: int, seed: int) -> tuple[str, Callable[[], Any]]:
    """A wrapped sampler (always torch's own), built fresh for each run."""
    if kind == "list":
        values = list(range(n))
        return repr(values), lambda: list(values)
    if kind == "sequential":
        text = f"torch.utils.data.SequentialSampler(range({n}))"
        return text, lambda: TORCH["SequentialSampler"](range(n))
    generator = f"torch.Generator().manual_seed({seed})"
    text = f"torch.utils.data.RandomSampler(range({n}), generator={generator})"
    return text, lambda: TORCH["RandomSampler"](range(n), generator=_GENERATOR().manual_seed(seed))


def batch_cases(rng: random.Random | None = None) -> list[Case]:
    """Lists, SequentialSampler, a seeded RandomSampler; batch sizes that divide and that do not."""
    if rng is None:
        plan = [
            ("list", 1, 2, False, 0),
            ("list", 5, 2, True, 0),
            ("sequential", 10, 3, False, 0),
            ("sequential", 10, 3, True, 0),
            ("random", 7, 3, False, 1),
            ("random", 7, 3, True, 2),
            ("sequential", 6, 2, True, 0),
            ("sequential", 3, 5, False, 0),
            ("sequential", 3, 5, True, 0),
        ]
    else:
        plan = [
            (
                rng.choice(["list", "sequential", "random"]),
                rng.randint(1, 40),
                rng.randint(1, 9),
                rng.random() < 0.5,
                rng.getrandbits(31),
            )
            for _ in range(6)
        ]
        # Always a shuffled sampler inside, with a last batch to drop.
        batch_size = rng.randint(2, 9)
        n = batch_size * rng.randint(1, 4) + rng.randint(1, batch_size - 1)
        plan.append(("random", n, batch_size, True, rng.getrandbits(31)))
    cases = []
    for kind, n, batch_size, drop_last, seed in plan:
        text, data = _inner(kind, n, seed)
        kwargs = {"batch_size": batch_size, "drop_last": drop_last}
        cases.append(_case(text, data, kwargs, n, hint=BATCH_HINT, batches=True))
    for kwargs in BAD_BATCH:
        text, data = _inner("list", 4, 0)
        case = _case(text, data, kwargs, 0, batches=True)
        case.hint = "torch's BatchSampler checks batch_size and drop_last in __init__"
        cases.append(case)
    return cases


BAD_BATCH = [
    {"batch_size": 0, "drop_last": False},
    {"batch_size": -1, "drop_last": False},
    {"batch_size": True, "drop_last": False},
    {"batch_size": 2.0, "drop_last": False},
    {"batch_size": 2, "drop_last": 1},
    {"batch_size": 2, "drop_last": None},
]


def check_batch_sampler(BatchSampler: type) -> None:
    """``BatchSampler`` groups the wrapped sampler's indices as torch does, and checks arguments."""
    run_cases("BatchSampler", BatchSampler, batch_cases())


def check_batch_sampler_hidden(BatchSampler: type) -> None:
    """:func:`check_batch_sampler` on sizes and seeds drawn at grading time."""
    run_cases("BatchSampler", BatchSampler, batch_cases(hidden_rng()))


# -------------------------------------------------------------------------- DistributedSampler

DISTRIBUTED_HINT = (
    "torch shuffles with a Generator seeded seed + epoch, pads by repeating indices from the "
    "head of the list (or cuts the tail with drop_last=True), then takes every num_replicas-th "
    "index starting at rank"
)

#: Passes made over each DistributedSampler: twice without set_epoch, then epochs 1 and 4.
DISTRIBUTED_EPOCHS = (None, None, 1, 4)


def _distributed_case(n: int, replicas: int, rank: int, **options: Any) -> Case:
    kwargs: dict[str, Any] = {"num_replicas": replicas, "rank": rank, **options}
    return _case(
        f"range({n})",
        lambda: range(n),
        kwargs,
        max(n, replicas),
        epochs=DISTRIBUTED_EPOCHS,
        hint=DISTRIBUTED_HINT,
    )


def distributed_cases(rng: random.Random | None = None) -> list[Case]:
    """Every rank of small groups: shuffle, drop_last, seeds, datasets smaller than the group."""
    cases = []
    if rng is None:
        plan = [
            (5, 2, {"shuffle": False}),
            (5, 2, {}),
            (10, 3, {}),
            (10, 3, {"drop_last": True}),
            (10, 3, {"seed": 7}),
            (2, 5, {}),
            (3, 8, {"shuffle": False}),
            (12, 4, {"drop_last": True, "seed": 3}),
        ]
    else:
        plan = []
        for _ in range(4):
            options: dict[str, Any] = {"seed": rng.getrandbits(31)}
            if rng.random() < 0.3:
                options["shuffle"] = False
            if rng.random() < 0.4:
                options["drop_last"] = True
            replicas = rng.randint(1, 6)
            n = rng.randint(replicas if options.get("drop_last") else 1, 40)
            plan.append((n, replicas, options))
        replicas = rng.randint(3, 8)  # a dataset under half the group: padding repeats it
        plan.append((rng.randint(1, (replicas - 1) // 2), replicas, {"seed": rng.getrandbits(31)}))
        replicas = rng.randint(2, 6)  # a remainder: padded, or dropped with drop_last
        n = replicas * rng.randint(1, 6) + rng.randint(1, replicas - 1)
        for drop_last in (False, True):
            plan.append((n, replicas, {"seed": rng.getrandbits(31), "drop_last": drop_last}))
    for n, replicas, options in plan:
        cases += [_distributed_case(n, replicas, rank, **options) for rank in range(replicas)]
    for replicas, rank in ((2, 2), (3, -1)):
        case = _distributed_case(4, replicas, rank)
        case.size = 0
        case.hint = "torch checks that 0 <= rank < num_replicas in __init__"
        cases.append(case)
    if not _IS_INITIALIZED():
        case = _case("range(4)", lambda: range(4), {}, 0, epochs=DISTRIBUTED_EPOCHS)
        case.hint = (
            "without num_replicas and rank, ask torch.distributed.get_world_size() and "
            "get_rank(); with no process group, they raise"
        )
        cases.append(case)
    return cases


def check_distributed_sampler(DistributedSampler: type) -> None:
    """``DistributedSampler`` gives each rank torch's indices, epoch after epoch, and its errors."""
    run_cases("DistributedSampler", DistributedSampler, distributed_cases())


def check_distributed_sampler_hidden(DistributedSampler: type) -> None:
    """:func:`check_distributed_sampler` on groups, sizes and seeds drawn at grading time."""
    run_cases("DistributedSampler", DistributedSampler, distributed_cases(hidden_rng()))
