"""Checks for chapter 07_samplers: six samplers compared index by index with torch's.

Every check runs a list of *cases* — a constructor call, then a few passes over the same sampler
object (with ``set_epoch`` between them for ``DistributedSampler``) — and compares the indices,
``len()``, the exception raised for invalid arguments and the state the global RNG is left in.
A case is plain data (the source, the keyword arguments, the generator's seed or the global
seed, the epochs); cases run from the smallest to the largest, so a failure shows the smallest
call where the student's sampler and torch's differ, as code the student can paste.

Each check is a scenario (build the student's sampler from the case, iterate it, record the
passes, ``len()``, the global RNG's state or the exception) and a judge (torch's sampler on the
same case, in a process where no student code ran); see :mod:`autograder.checking`.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
import torch.utils.data

from autograder.checking import Case, Check, Delegation, Observation, Recorder
from autograder.i18n import _
from autograder.plain import Opaque, RaisedError
from autograder.report import CheckFailure, message

NAMES = (
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "DistributedSampler",
)

#: torch's own samplers, held here so that rebinding the names in a notebook has no effect.
TORCH = {name: getattr(torch.utils.data, name) for name in NAMES}

#: Each sampler is written on torch.utils.data.Sampler, without torch's sampler classes.
OWN_SAMPLER = Delegation(
    task="the sampler",
    forbidden=("torch.utils.data.sampler", "torch.utils.data.distributed"),
    allowed=("torch.utils.data.Sampler",),
)

DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --------------------------------------------------------------------------------------- cases


def _case(
    data: dict,
    kwargs: dict[str, Any],
    size: int,
    *,
    seed: int | None = None,
    global_seed: int | None = None,
    epochs: tuple[int | None, ...] = (None, None),
    hint: tuple[str, ...] = (),
    later_hint: tuple[str, ...] = (),
    one_order: bool = False,
) -> Case:
    """A case calling ``Sampler(<data>, **kwargs[, generator=...])``, then a pass per epoch.

    ``data`` says what the first argument is (see :func:`_data`). ``seed`` seeds a fresh
    ``torch.Generator`` given as ``generator=``; without it the global RNG is seeded with
    ``global_seed`` (0 when it is ``None``: the sampler should not use it); :func:`_ordered`
    adds ``global_rng``, whether the global RNG's state is judged. ``epochs`` lists,
    for each pass, the value given to ``set_epoch`` first, or ``None``. ``hint`` goes with a
    difference in the indices, ``later_hint`` too when the first pass matched: both are keys of
    :func:`_hint_texts` (a case is made at import, its hint is written in the message's
    language when a message is). ``size`` and ``one_order`` order the cases (see
    :func:`_ordered`) and are dropped there.
    """
    return {
        "data": data,
        "kwargs": dict(kwargs),
        "seed": seed,
        "global_seed": global_seed,
        "epochs": list(epochs),
        "hint": list(hint),
        "later_hint": list(later_hint),
        "size": size,
        "one_order": one_order,
    }


def _ordered(cases: list[Case]) -> list[Case]:
    """The cases from the smallest to the largest (stable), without their sizes.

    A case of a shuffling sampler whose passes can come out in one order only (``range(1)``,
    one distinct index, one weight above zero) is judged without the global RNG's state where
    its size puts it, and once more, with it, after all the others: torch's passes and a wrong
    sampler's agree there, so a mistake only the RNG's state shows (drawing from it although
    a generator was given) would be reported beside orders that show nothing. A larger case
    shows it beside orders that do; the case at the end still catches what none of them show.
    """
    ordered = sorted(cases, key=lambda case: case["size"])
    again = [case for case in ordered if case["one_order"]]
    judged = [{**case, "global_rng": not case["one_order"]} for case in ordered]
    judged += [{**case, "global_rng": True} for case in again]
    dropped = ("size", "one_order")
    return [{key: value for key, value in case.items() if key not in dropped} for case in judged]


def _range(*args: int) -> dict:
    return {"kind": "range", "args": list(args)}


def _list(values: list) -> dict:
    return {"kind": "list", "values": values}


def _data(spec: dict) -> Any:
    """The first argument of the constructor, built fresh for each run from its description."""
    kind = spec["kind"]
    if kind == "range":
        return range(*spec["args"])
    if kind == "list":
        return copy.deepcopy(spec["values"])
    if kind == "tensor":
        return torch.tensor(spec["values"], dtype=DTYPES[spec["dtype"]])
    if kind == "SequentialSampler":  # a wrapped sampler, always torch's own
        return TORCH["SequentialSampler"](range(spec["n"]))
    generator = torch.Generator().manual_seed(spec["seed"])
    return TORCH["RandomSampler"](range(spec["n"]), generator=generator)


def _data_text(spec: dict) -> str:
    kind = spec["kind"]
    if kind == "range":
        return f"range({', '.join(str(arg) for arg in spec['args'])})"
    if kind == "list":
        return repr(spec["values"])
    if kind == "tensor":
        return f"torch.tensor({spec['values']!r})"
    if kind == "SequentialSampler":
        return f"torch.utils.data.SequentialSampler(range({spec['n']}))"
    generator = f"torch.Generator().manual_seed({spec['seed']})"
    return f"torch.utils.data.RandomSampler(range({spec['n']}), generator={generator})"


def script(name: str, case: Case) -> str:
    """The case as code a student can paste into a cell."""
    lines = []
    if case["global_seed"] is not None:
        lines.append(f"torch.manual_seed({case['global_seed']})")
    arguments = [_data_text(case["data"])]
    arguments += [f"{key}={value!r}" for key, value in case["kwargs"].items()]
    if case["seed"] is not None:
        arguments.append(f"generator=torch.Generator().manual_seed({case['seed']})")
    lines.append(f"sampler = {name}({', '.join(arguments)})")
    for epoch in case["epochs"]:
        if epoch is not None:
            lines.append(f"sampler.set_epoch({epoch})")
        lines.append("list(sampler)")
    lines.append("len(sampler)")
    return "\n".join(lines)


# ------------------------------------------------------------------------- running one case


def _run(cls: Any, case: Case) -> dict:
    """Run ``case`` with ``cls`` (torch's class or the student's): what happened, as a dict.

    The passes made, ``len()`` and the global RNG's state afterwards, or the exception and
    where it was raised (recorded, not raised).
    """
    torch.manual_seed(case["global_seed"] or 0)
    generator = None if case["seed"] is None else torch.Generator().manual_seed(case["seed"])
    more = {} if generator is None else {"generator": generator}
    outcome: dict[str, Any] = {"passes": [], "length": None, "rng_state": None, "error": None}
    where = "the constructor"
    try:
        sampler = cls(_data(case["data"]), **case["kwargs"], **more)
        for number, epoch in enumerate(case["epochs"], start=1):
            if epoch is not None:
                where = f"set_epoch({epoch})"
                sampler.set_epoch(epoch)
            where = f"pass {number} (list(sampler))"
            outcome["passes"].append(list(sampler))
        where = "len(sampler)"
        outcome["length"] = len(sampler)
        outcome["rng_state"] = torch.get_rng_state()
    except Exception as error:  # noqa: BLE001 - the exception is the result
        outcome["error"] = {"where": where, "raised": error}
    return outcome


class DelegatedToTorch(Exception):
    """Raised by torch's sampler class while the student's sampler of the same name runs."""


def _refusal(name: str) -> str:
    return _(
        "your {name} calls torch.utils.data.{name}: write the sampler yourself "
        "(torch's random functions such as torch.randperm are fine to use)"
    ).format(name=name)


@contextmanager
def _refusing(name: str, obs: Recorder) -> Iterator[None]:
    """While the student's code runs, make torch's own class of that name refuse to work.

    A refusal is noted in ``obs["delegated"]``; forging that note could only fail the student.
    """
    torch_class = TORCH[name]
    originals = {attr: vars(torch_class)[attr] for attr in ("__init__", "__iter__")}

    def refuse(*args: Any, **kwargs: Any) -> None:
        obs["delegated"] = True
        raise DelegatedToTorch(_refusal(name))

    for attr in originals:
        setattr(torch_class, attr, refuse)
    try:
        yield
    finally:
        for attr, value in originals.items():
            setattr(torch_class, attr, value)


def _scenario(name: str) -> Callable[[Any, Case, Recorder], None]:
    def scenario(cls: Any, case: Case, obs: Recorder) -> None:
        if not isinstance(cls, type):
            return  # the judge refuses it from the target's description
        with _refusing(name, obs):
            outcome = _run(cls, case)
        obs["outcome"] = outcome

    return scenario


def _reference(name: str) -> Callable[[Case], dict]:
    def reference(case: Case) -> dict:
        with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left alone
            outcome = _run(TORCH[name], case)
        error = outcome["error"]
        if error is not None:
            raised = error["raised"]
            outcome["error"] = {
                "where": error["where"],
                "type": type(raised).__name__,
                "message": str(raised),
            }
        return outcome

    return reference


# ----------------------------------------------------------------------------- judging a case


def _kind(item: Any) -> str:
    """The name of an item's type, as the student wrote it."""
    if isinstance(item, Opaque):
        return item.type.rsplit(".", 1)[-1]
    return type(item).__name__


def _show(passes: list[list[Any]]) -> str:
    if not passes:
        return _("(no pass completed)")
    pad = "\n" + " " * 15
    return pad.join(
        _("pass {number}: {values}").format(number=i, values=_short(p))
        for i, p in enumerate(passes, start=1)
    )


def _short(values: list[Any], limit: int = 48) -> str:
    if len(values) <= limit:
        return repr(values)
    return _("{values}, ... ({count} in all)]").format(
        values=repr(values[:limit])[:-1], count=len(values)
    )


def _comparable(item: Any) -> Any:
    """An item as a value to compare with torch's: a tensor by its values (its type is judged
    separately, as for a float or a bool equal to an int)."""
    if isinstance(item, torch.Tensor):
        return item.tolist()
    if isinstance(item, list):
        return [_comparable(value) for value in item]
    if isinstance(item, tuple):
        return tuple(_comparable(value) for value in item)
    return item


def _opaque_problem(values: list[Any], batches: bool) -> str | None:
    """Why an item that is not plain data (an int subclass, a generator …) is wrong, or None."""
    for item in values:
        if batches and type(item) is list:
            problem = _opaque_problem(item, batches=False)
            if problem:
                return problem
        elif isinstance(item, Opaque):
            return _type_problem([item], batches)
    return None


def _type_problem(values: list[Any], batches: bool) -> str | None:
    """Why the items yielded are not what torch yields (ints, or lists of ints), or None."""
    for item in values:
        if batches:
            if type(item) is not list:
                return _("yield each batch as a list of ints, not {type}").format(type=_kind(item))
            problem = _type_problem(item, batches=False)
            if problem:
                return problem
        elif isinstance(item, torch.Tensor):
            return _("yield Python ints, not Tensor (use .tolist() on a tensor of indices)")
        elif type(item) is not int:
            return _("yield Python ints, not {type}").format(type=_kind(item))
    return None


def _first_difference(expected: list[list[Any]], got: list[list[Any]]) -> tuple[int, str]:
    """The number of the first pass that differs, and how it differs."""
    for number, (want, have) in enumerate(zip(expected, got, strict=False), start=1):
        if want == [_comparable(item) for item in have]:
            continue
        for position, (a, b) in enumerate(zip(want, have, strict=False)):
            if a != _comparable(b):
                why = _(
                    "pass {number} differs at position {position}: torch {torch}, yours {yours}"
                )
                return number, why.format(
                    number=number, position=position, torch=repr(a), yours=repr(b)
                )
        why = (
            _("pass {number} has {count} item in torch, {yours} in yours")
            if len(want) == 1
            else _("pass {number} has {count} items in torch, {yours} in yours")
        )
        return number, why.format(number=number, count=len(want), yours=len(have))
    number = min(len(expected), len(got)) + 1
    why = _("torch made {torch} passes, yours {yours}")
    return number, why.format(torch=len(expected), yours=len(got))


def _outcome(obs: Observation) -> dict:
    """The student's run, checked for the shape the scenario records."""
    outcome = obs["outcome"]
    if not (
        isinstance(outcome, dict)
        and isinstance(outcome.get("passes"), list)
        and all(isinstance(passed, list) for passed in outcome["passes"])
    ):
        raise CheckFailure(_("the observations of your sampler are not a record"))
    error = outcome.get("error")
    if error is not None and not (
        isinstance(error, dict) and isinstance(error.get("raised"), RaisedError)
    ):
        raise CheckFailure(_("the observations of your sampler are not a record"))
    return outcome


def _judge_class(name: str, target: dict) -> None:
    """The student's sampler is a class of its own, not one of torch's samplers subclassed."""
    if target.get("kind") != "class":
        kind = target.get("kind") if target.get("kind") == "function" else target.get("name")
        raise CheckFailure(
            _("{name} should be a class, got {kind}").format(
                name=name, kind=str(kind).rsplit(".", 1)[-1]
            )
        )
    torch_class = TORCH[name]
    if f"{torch_class.__module__}.{torch_class.__qualname__}" in target.get("mro", []):
        raise CheckFailure(
            _(
                "your {name} subclasses torch.utils.data.{name}: subclass "
                "torch.utils.data.Sampler and write __init__, __iter__ and __len__ yourself"
            ).format(name=name)
        )


def _judge(name: str) -> Callable[[Case, dict, Observation], None]:
    batches = name == "BatchSampler"

    def judge(case: Case, expected: dict, obs: Observation) -> None:
        _judge_class(name, obs.target)
        if obs.get("delegated"):
            raise CheckFailure(_refusal(name))
        got = _outcome(obs)
        if got["error"] is not None and got["error"]["raised"].type == "NotImplementedError":
            raise CheckFailure(
                message(headline(name, case), _("not implemented yet (NotImplementedError)"))
            )
        _compare(name, case, batches, expected, got)

    return judge


# The hints below are functions: they are written in the message's language when a message is.


def _global_rng(name: str) -> str:
    """What torch's sampler draws from the global RNG (with no generator given), for the
    message when the student's leaves the global RNG in another state than torch's does."""
    return {
        "SequentialSampler": _("torch's SequentialSampler never touches the global RNG"),
        "RandomSampler": _(
            "with generator=None torch draws ONE int64 seed from the global RNG per pass "
            "(torch.empty((), dtype=torch.int64).random_()) and shuffles with a new Generator "
            "seeded by it; it draws nothing else from the global RNG"
        ),
        "SubsetRandomSampler": _(
            "with generator=None torch calls torch.randperm(len(indices)) on the global RNG "
            "once per pass and draws nothing else from it"
        ),
        "WeightedRandomSampler": _(
            "with generator=None torch calls torch.multinomial(weights, num_samples, "
            "replacement) on the global RNG once per pass and draws nothing else from it"
        ),
        "BatchSampler": _(
            "torch's BatchSampler never touches the global RNG (the wrapped sampler draws what "
            "it draws)"
        ),
        "DistributedSampler": _(
            "torch's DistributedSampler shuffles with its own torch.Generator seeded seed + "
            "epoch and never touches the global RNG: torch.manual_seed would reset it for all "
            "the other code in the process"
        ),
    }[name]


def _generator_given() -> str:
    """With a generator given, torch's samplers leave the global RNG untouched."""
    return _(
        "draw from the generator you are given only (generator=self.generator in "
        "torch.randperm, torch.randint, torch.multinomial, random_); do not seed or draw from "
        "the global RNG"
    )


def _length(name: str) -> str:
    """What len() is, for each sampler."""
    return {
        "SequentialSampler": _("len(sampler) is len(data_source)"),
        "RandomSampler": _("len(sampler) is num_samples (len(data_source) when it is not given)"),
        "SubsetRandomSampler": _("len(sampler) is len(indices)"),
        "WeightedRandomSampler": _("len(sampler) is num_samples"),
        "BatchSampler": _(
            "len() is ceil(len(sampler) / batch_size), or the floor with drop_last=True"
        ),
        "DistributedSampler": _(
            "len(sampler) is num_samples, the indices each rank gets (padded, or cut with "
            "drop_last=True)"
        ),
    }[name]


def _hint_texts(name: str) -> dict[str, str]:
    """The hints a case names by key (``case["hint"]``, ``case["later_hint"]``)."""
    return {
        "random-global": _(
            "with generator=None torch draws ONE int64 seed from the global RNG per pass and "
            "shuffles with a new Generator seeded by it"
        ),
        "random-multiple": _(
            "without replacement torch draws num_samples // n full permutations, then one more "
            "permutation it slices to num_samples % n items, even when that is 0 items"
        ),
        "random-replacement": _(
            "with replacement, torch.randint(high=n, ...) draws num_samples indices"
        ),
        "arguments": _("torch's {name} checks its arguments").format(name=name),
        "subset": _(
            "torch shuffles positions with torch.randperm(len(indices), generator=generator)"
        ),
        "subset-global": _(
            "torch shuffles positions with torch.randperm(len(indices), generator=generator); "
            "with generator=None that is the global RNG"
        ),
        "weighted": _(
            "torch converts the weights to a float64 tensor and calls torch.multinomial(weights, "
            "num_samples, replacement, generator=generator) on every pass"
        ),
        "batch": _(
            "take batch_size indices at a time from a NEW iterator over the wrapped sampler on "
            "every pass; len() is ceil(len(sampler) / batch_size), or the floor with "
            "drop_last=True"
        ),
        "batch-arguments": _("torch's BatchSampler checks batch_size and drop_last in __init__"),
        "distributed": _(
            "torch shuffles with a Generator seeded seed + epoch, pads by repeating indices "
            "from the head of the list (or cuts the tail with drop_last=True), then takes every "
            "num_replicas-th index starting at rank"
        ),
        "distributed-rank": _("torch checks that 0 <= rank < num_replicas in __init__"),
        "distributed-group": _(
            "without num_replicas and rank, ask torch.distributed.get_world_size() and "
            "get_rank(); with no process group, they raise"
        ),
    }


def _hint(name: str, keys: list[str]) -> str:
    """The hints of ``keys``, one after another."""
    texts = _hint_texts(name)
    return "; ".join(texts[key] for key in keys)


_PASS = re.compile(r"pass (\d+) \(list\(sampler\)\)")


def _where(where: str) -> str:
    """Where an exception was raised, recorded in English on either side (they are compared),
    in the message's language."""
    if where == "the constructor":
        return _("the constructor")
    found = _PASS.fullmatch(where)
    if found:
        return _("pass {number} (list(sampler))").format(number=found[1])
    return where  # set_epoch(...) and len(sampler) are code


def headline(name: str, case: Case) -> str:
    """The constructor call of a case, for the first line of a message."""
    arguments = [_data_text(case["data"])]
    arguments += [f"{key}={value!r}" for key, value in case["kwargs"].items()]
    if case["seed"] is not None:
        arguments.append(f"generator=torch.Generator().manual_seed({case['seed']})")
    call = f"{name}({', '.join(arguments)})"
    if case["global_seed"] is not None:
        call += f" after torch.manual_seed({case['global_seed']})"
    return call


def _same_state(expected: dict, got: dict) -> bool:
    state = got.get("rng_state")
    return (
        isinstance(state, torch.Tensor)
        and state.dtype == torch.uint8
        and torch.equal(expected["rng_state"], state)
    )


def _compare(name: str, case: Case, batches: bool, expected: dict, got: dict) -> None:
    """The first way the student's run differs from torch's, as a failure; None when none."""
    code = [
        _("  the case, as code:"),
        *(f"    {line}" for line in script(name, case).splitlines()),
    ]

    def fail(torch_says: str, yours: str, why: str, hint: str = "") -> None:
        reference, student = _("torch gives"), _("yours gave")
        details = [*code, f"  {reference}: {torch_says}", f"  {student}:  {yours}"]
        raise CheckFailure(message(headline(name, case), why, details, hint))

    passes = got["passes"]
    mine = got["error"]
    theirs = expected["error"]
    torch_passes, your_passes = _show(expected["passes"]), _show(passes)
    case_hint = _hint(name, case["hint"])
    raised_in = _("{kind} in {where}: {message}")
    if mine is not None:
        kind, where = mine["raised"].type, _where(mine["where"])
        yours = raised_in.format(kind=kind, where=where, message=mine["raised"].message)
    if mine is not None and theirs is None:
        why = _("raised {kind} in {where}; torch raises none").format(kind=kind, where=where)
        fail(torch_passes, yours, why, case_hint)
    if theirs is not None:
        torch_kind, torch_where = theirs["type"], _where(theirs["where"])
        torch_says = raised_in.format(kind=torch_kind, where=torch_where, message=theirs["message"])
        if mine is None:
            why = _("no exception; torch raises {kind} in {where}").format(
                kind=torch_kind, where=torch_where
            )
            your_none = _("no exception; {passes}").format(passes=your_passes)
            fail(torch_says, your_none, why, case_hint)
        if mine["raised"].type != torch_kind or mine["where"] != theirs["where"]:
            why = _("raised {kind} in {where}; torch raises {torch_kind} in {torch_where}").format(
                kind=kind, where=where, torch_kind=torch_kind, torch_where=torch_where
            )
            fail(torch_says, yours, why, case_hint)
    for passed in passes:  # not plain data: an int subclass can claim to equal anything
        problem = _opaque_problem(passed, batches)
        if problem:
            fail(torch_passes, your_passes, problem)
    judge_rng = theirs is None and case["global_rng"]
    if judge_rng and case["seed"] is not None and not _same_state(expected, got):
        # Given a generator, any use of the global RNG is a mistake of its own, and the likely
        # cause of orders that differ: it is reported before them, without the case's hint.
        fail(
            torch_passes,
            your_passes,
            _("the global RNG moved, though generator= was given"),
            _generator_given(),
        )
    if [[_comparable(item) for item in passed] for passed in passes] != expected["passes"]:
        number, why = _first_difference(expected["passes"], passes)
        keys = case["hint"] + (case["later_hint"] if number > 1 else [])
        fail(torch_passes, your_passes, why, _hint(name, keys))
    for passed in passes:  # equal values can still be tensors or floats
        problem = _type_problem(passed, batches)
        if problem:
            fail(torch_passes, your_passes, problem)
    if theirs is not None:
        return
    length, want = got.get("length"), expected["length"]
    if type(length) is not int or length != want:
        fail(
            f"len(sampler) == {want!r}",
            f"len(sampler) == {length!r}",
            _("len(sampler) is {got}, torch's is {expected}").format(
                got=repr(length), expected=repr(want)
            ),
            _length(name),
        )
    if judge_rng and not _same_state(expected, got):
        fail(
            torch_passes,
            your_passes,
            _(
                "the same indices, but the global RNG ends in another state than torch's {name} "
                "leaves it in"
            ).format(name=name),
            _global_rng(name),
        )


def _sampler_check(
    name: str,
    check: str,
    doc: str,
    cases: Callable[[random.Random | None], list[Case]],
) -> Check:
    return Check(
        name=f"samplers.{check}",
        doc=doc,
        scenario=_scenario(name),
        reference=_reference(name),
        judge=_judge(name),
        visible=cases(None),
        hidden=cases,
        refuses=OWN_SAMPLER,
    )


# --------------------------------------------------------------------------- SequentialSampler


def _sequential_cases(rng: random.Random | None) -> list[Case]:
    """Fixed cases, or drawn from ``rng``: ranges, lists of strings, an empty source."""
    if rng is None:
        sizes, starts = [0, 1, 4, 7], [0, 0, 10, 3]
    else:
        sizes = [rng.randint(0, 40) for _ in range(3)]
        starts = [rng.randint(1, 100) for _ in range(3)]
    cases = []
    for n, start in zip(sizes, starts, strict=True):
        cases.append(_case(_range(start, start + n), {}, n))
        cases.append(_case(_list([f"w{i}" for i in range(n)]), {}, n))
    return _ordered(cases)


SEQUENTIAL = _sampler_check(
    "SequentialSampler",
    "sequential_sampler",
    "SequentialSampler yields 0, 1, … len(data_source)-1 on every pass",
    _sequential_cases,
)
check_sequential_sampler, check_sequential_sampler_hidden = SEQUENTIAL.functions()


# ------------------------------------------------------------------------------- RandomSampler


def _random_case(n: int, replacement: bool, num_samples: int | None, seed: int | None, glob: int):
    kwargs: dict[str, Any] = {}
    if replacement:
        kwargs["replacement"] = True
    if num_samples is not None:
        kwargs["num_samples"] = num_samples
    hint = ("random-replacement",) if replacement else ()
    # The empty permutation torch draws last moves a given generator for the next pass only
    # (without one, every pass shuffles with a fresh generator): a hint once pass 1 matched.
    multiple = not replacement and (num_samples or n) % n == 0
    later = ("random-multiple",) if multiple and seed is not None else ()
    if seed is None:
        hint = ("random-global", *hint)
    size = max(n, num_samples or 0)
    return _case(
        _range(n),
        kwargs,
        size,
        seed=seed,
        global_seed=glob if seed is None else None,
        hint=hint,
        later_hint=later,
        one_order=n == 1,
    )


BAD_RANDOM = [
    {"replacement": 1},
    {"replacement": "yes"},
    {"num_samples": 0},
    {"num_samples": -2},
    {"num_samples": 2.5},
    {"replacement": True, "num_samples": "4"},
]


def _error_case(data: dict, kwargs: dict) -> Case:
    """A case with arguments torch's sampler refuses (the hint names the judged sampler)."""
    return _case(data, kwargs, 0, hint=("arguments",))


def _random_cases(rng: random.Random | None) -> list[Case]:
    """With and without a generator, with and without replacement, num_samples around n."""
    if rng is None:
        plan = [
            (1, False, None, 0),
            (3, False, None, 9),  # seed 9: torch's two passes differ, neither in order
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
    cases = []
    for n, replacement, num_samples, seed in plan:
        cases.append(_random_case(n, replacement, num_samples, seed, 0))
        cases.append(_random_case(n, replacement, num_samples, None, seed))
    cases += [_error_case(_range(3), kwargs) for kwargs in BAD_RANDOM]
    cases.append(_error_case(_list([]), {}))
    return _ordered(cases)


RANDOM = _sampler_check(
    "RandomSampler",
    "random_sampler",
    "RandomSampler gives torch's indices, pass after pass, and torch's argument errors",
    _random_cases,
)
check_random_sampler, check_random_sampler_hidden = RANDOM.functions()


# ------------------------------------------------------------------------- SubsetRandomSampler


def _subset_cases(rng: random.Random | None) -> list[Case]:
    """Index lists in no particular order, with a seeded generator and with the global RNG."""
    if rng is None:
        plan = [([4], 0), ([7, 2, 9, 4], 1), ([10, 11, 12, 13, 14, 15], 2), ([3, 3, 1], 3)]
    else:
        plan = []
        for _ in range(4):
            k = rng.randint(1, 25)
            plan.append(([rng.randint(0, 99) for _ in range(k)], rng.getrandbits(31)))
    cases = []
    for indices, seed in plan:
        for s, g in ((seed, None), (None, seed)):
            hint = "subset" if s is not None else "subset-global"
            one_order = len(set(indices)) == 1
            cases.append(
                _case(
                    _list(indices),
                    {},
                    len(indices),
                    seed=s,
                    global_seed=g,
                    hint=(hint,),
                    one_order=one_order,
                )
            )
    return _ordered(cases)


SUBSET = _sampler_check(
    "SubsetRandomSampler",
    "subset_random_sampler",
    "SubsetRandomSampler yields torch's shuffles of the given indices, pass after pass",
    _subset_cases,
)
check_subset_random_sampler, check_subset_random_sampler_hidden = SUBSET.functions()


# ----------------------------------------------------------------------- WeightedRandomSampler


def _weighted_case(weights: dict, num_samples: Any, replacement: Any, seed, glob, size=None):
    kwargs = {"num_samples": num_samples}
    if replacement is not True:
        kwargs["replacement"] = replacement
    if size is None:
        size = num_samples if isinstance(num_samples, int) else 0
    values = weights["values"]
    positive = sum(1 for w in values if isinstance(w, int | float) and w > 0)
    return _case(
        weights,
        kwargs,
        size,
        seed=seed,
        global_seed=glob if seed is None else None,
        hint=("weighted",),
        one_order=positive == 1 and size > 0,
    )


BAD_WEIGHTED = [(0, True), (True, True), (2.5, True), (2, 1), (2, "no"), (4, False)]


def _weighted_cases(rng: random.Random | None) -> list[Case]:
    """Weights with zeros and a float32 tensor, with and without replacement, and bad arguments."""
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
    cases = []
    for weights, num_samples, replacement, seed in plan:
        cases.append(_weighted_case(_list(weights), num_samples, replacement, seed, 0))
        cases.append(_weighted_case(_list(weights), num_samples, replacement, None, seed))
    as_float = {"kind": "tensor", "values": plan[0][0], "dtype": "float32"}
    cases.append(_weighted_case(as_float, 50, True, 11, 0))
    w = [1.0, 2.0, 3.0]
    for num_samples, replacement in BAD_WEIGHTED:
        cases.append(_weighted_case(_list(w), num_samples, replacement, None, 0, size=0))
    cases.append(_weighted_case(_list([[1.0, 2.0]]), 1, True, None, 0, size=0))
    cases.append(_weighted_case(_list([0.0, 0.0]), 1, True, None, 0, size=0))
    return _ordered(cases)


WEIGHTED = _sampler_check(
    "WeightedRandomSampler",
    "weighted_random_sampler",
    "WeightedRandomSampler gives torch's draws, pass after pass, and torch's errors",
    _weighted_cases,
)
check_weighted_random_sampler, check_weighted_random_sampler_hidden = WEIGHTED.functions()


# -------------------------------------------------------------------------------- BatchSampler


def _inner(kind: str, n: int, seed: int) -> dict:
    """A wrapped sampler (always torch's own) or a list, built fresh for each run."""
    if kind == "list":
        return _list(list(range(n)))
    if kind == "sequential":
        return {"kind": "SequentialSampler", "n": n}
    return {"kind": "RandomSampler", "n": n, "seed": seed}


BAD_BATCH = [
    {"batch_size": 0, "drop_last": False},
    {"batch_size": -1, "drop_last": False},
    {"batch_size": True, "drop_last": False},
    {"batch_size": 2.0, "drop_last": False},
    {"batch_size": 2, "drop_last": 1},
    {"batch_size": 2, "drop_last": None},
]


def _batch_cases(rng: random.Random | None) -> list[Case]:
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
        kwargs = {"batch_size": batch_size, "drop_last": drop_last}
        cases.append(_case(_inner(kind, n, seed), kwargs, n, hint=("batch",)))
    hint = ("batch-arguments",)
    cases += [_case(_inner("list", 4, 0), kwargs, 0, hint=hint) for kwargs in BAD_BATCH]
    return _ordered(cases)


BATCH = _sampler_check(
    "BatchSampler",
    "batch_sampler",
    "BatchSampler groups the wrapped sampler's indices as torch does, and checks arguments",
    _batch_cases,
)
check_batch_sampler, check_batch_sampler_hidden = BATCH.functions()


# -------------------------------------------------------------------------- DistributedSampler

#: Passes made over each DistributedSampler: twice without set_epoch, then epochs 1 and 4.
DISTRIBUTED_EPOCHS = (None, None, 1, 4)


def _distributed_case(n: int, replicas: int, rank: int, **options: Any) -> Case:
    kwargs: dict[str, Any] = {"num_replicas": replicas, "rank": rank, **options}
    return _case(
        _range(n), kwargs, max(n, replicas), epochs=DISTRIBUTED_EPOCHS, hint=("distributed",)
    )


def _distributed_cases(rng: random.Random | None) -> list[Case]:
    """Every rank of small groups: shuffle, drop_last, seeds, datasets smaller than the group."""
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
    cases = []
    for n, replicas, options in plan:
        cases += [_distributed_case(n, replicas, rank, **options) for rank in range(replicas)]
    for replicas, rank in ((2, 2), (3, -1)):
        case = _distributed_case(4, replicas, rank)
        case["size"] = 0
        case["hint"] = ["distributed-rank"]
        cases.append(case)
    if not dist.is_initialized():
        hint = ("distributed-group",)
        cases.append(_case(_range(4), {}, 0, epochs=DISTRIBUTED_EPOCHS, hint=hint))
    return _ordered(cases)


DISTRIBUTED = _sampler_check(
    "DistributedSampler",
    "distributed_sampler",
    "DistributedSampler gives each rank torch's indices, epoch after epoch, and its errors",
    _distributed_cases,
)
check_distributed_sampler, check_distributed_sampler_hidden = DISTRIBUTED.functions()
