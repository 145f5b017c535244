r"""A check in two halves: a *scenario* that exercises the student's code, a *judge* that decides.

The scenario runs where the student's code runs. It knows the inputs of one case (seeds, shapes,
file contents: plain data) and records what the student's objects do with them, as plain data
(:mod:`autograder.plain`). It never sees torch's answer.

The judge runs where no student code ever ran. It computes torch's answer on the same inputs
(:attr:`Check.reference`, computed once per case and reusable across students), compares, and
raises :class:`~autograder.report.CheckFailure` with a message that teaches.

In a student's own kernel both halves run in one process (:func:`run_here`), with the
observations passed through the same encoding, so the messages are the ones the grader writes.
In the batch grader (:mod:`autograder.grade`) the scenario runs in the sandboxed student process
and the judge in the grader's own.

Defining a check::

    MY_LINEAR = Check(
        name="module.my_linear",
        scenario=_linear_scenario,      # (target, case, obs) -> None; fills obs
        reference=_linear_reference,    # (case) -> torch's answer
        judge=_linear_judge,            # (case, reference, obs) -> None or CheckFailure
        visible=[{"fan_in": 3, ...}],
        hidden=lambda rng: [...],       # cases drawn at grading time
        refuses=Delegation(...),        # what the exercise must not hand to torch
    )
    check_my_linear, check_my_linear_hidden = MY_LINEAR.functions()
"""

from __future__ import annotations

import json
import random
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from autograder import plain
from autograder.i18n import _
from autograder.report import CheckFailure, hidden_rng, scenario_error

Case = dict[str, Any]

#: Every check by name, filled as the chapter modules are imported.
REGISTRY: dict[str, Check] = {}

RAISED = "@raised"
TARGET = "@target"
PROCESS = "@process"


@dataclass(frozen=True)
class Delegation:
    """What an exercise must not hand to torch (or to the course's own helpers).

    ``forbidden`` are dotted prefixes of what the student's code for the exercise must not use
    (``"torch.optim"`` refuses ``torch.optim.SGD``, ``torch.optim.sgd`` …); ``allowed`` are
    exceptions to them (``"torch.optim.optimizer.Optimizer"``, the base class to subclass).
    ``autograd`` refuses autograd itself (``.backward()``, ``torch.autograd``) in that code.
    ``task`` names the work, for the message: "write {task} yourself".
    """

    task: str
    forbidden: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    autograd: bool = False


@dataclass(frozen=True)
class Check:
    """One graded behaviour: its scenario, torch's reference, the judge and its cases."""

    name: str
    scenario: Callable[[Any, Case, Recorder], None]
    judge: Callable[[Case, Any, Observation], None]
    visible: list[Case]
    hidden: Callable[[random.Random], list[Case]]
    reference: Callable[[Case], Any] = lambda case: None
    refuses: Delegation | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        REGISTRY[self.name] = self

    def cases(self, hidden: bool, rng: random.Random | None = None) -> list[Case]:
        return self.hidden(rng or hidden_rng()) if hidden else list(self.visible)

    def functions(self) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
        """``check_x(target)`` (visible cases) and ``check_x_hidden(target)`` for grade cells."""
        return check_function(self, hidden=False), check_function(self, hidden=True)


def check_function(check: Check, hidden: bool) -> Callable[[Any], None]:
    def run(target: Any) -> None:
        run_here(check, target, check.cases(hidden))

    what = "cases drawn at grading time" if hidden else "the visible cases"
    run.__doc__ = f"{check.doc or check.name} ({what})."
    run.check, run.hidden = check, hidden
    return run


def resolve(function: Any) -> tuple[Check, bool] | None:
    """The check a grade cell's function stands for, or None when it is not a check function."""
    check = getattr(function, "check", None)
    if isinstance(check, Check) and REGISTRY.get(check.name) is check:
        return check, bool(function.hidden)
    return None


# --- the scenario's side --------------------------------------------------------------------


class Recorder(dict):
    """What a scenario observed, in the order it observed it.

    ``obs.call(label, fn, *args)`` runs the student's code under a label that names the call; if
    it raises, the scenario stops there and the judge reports the exception under that label.
    """

    label = ""

    def __setitem__(self, key: str, value: Any) -> None:
        # Encoded now, so what is recorded is what the value was at this point.
        super().__setitem__(key, plain.encode(value))

    def call(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.label = label
        result = fn(*args, **kwargs)
        self.label = ""
        return result

    def attempt(self, key: str, label: str, fn: Callable[..., Any], *args: Any, **kwargs) -> Any:
        """Record ``fn``'s result, or the exception it raised, under ``key``; never raise."""
        try:
            result = fn(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - the exception is the observation
            self[key] = {"raised": error, "call": label}
            return None
        self[key] = {"returned": result, "call": label}
        return result


def observe(check: Check, target: Any, case: Case) -> dict:
    """Run the scenario of ``check`` on ``target`` for ``case``; the observations, encoded."""
    obs = Recorder()
    obs[TARGET] = describe(target)
    before = interception()
    try:
        check.scenario(target, case, obs)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the student's error is data
        obs[RAISED] = {"call": obs.label, "error": error}
    after = interception()
    obs[PROCESS] = {what: max(before[what], after[what]) for what in before}
    return dict(obs)


def interception() -> dict[str, int]:
    """What changes how torch runs for the whole process: global module hooks, torch function
    and dispatch modes, trace and profile functions. Honest exercises use none of them."""
    import sys

    import torch
    from torch.nn.modules import module as nn_module

    counts = {
        "torch function modes": torch._C._len_torch_function_stack(),
        "torch dispatch modes": torch._C._len_torch_dispatch_stack(),
        "sys.settrace": int(sys.gettrace() is not None),
        "sys.setprofile": int(sys.getprofile() is not None),
    }
    for name in dir(nn_module):
        if name.startswith("_global_") and name.endswith("hooks"):
            counts[name.removeprefix("_").replace("_", " ")] = len(getattr(nn_module, name))
    return counts


def intercepted(data: Any) -> list[str]:
    """Sentences naming the process-wide interception the scenario reported, [] when none."""
    report = data.get(PROCESS) if isinstance(data, dict) else None
    if not isinstance(report, dict):
        return []  # no scenario ran (the target was missing); a forged report is the student's
    found = [f"{what} ({count})" for what, count in report.items() if count != 0]
    if not found:
        return []
    return [
        "your notebook changes how torch runs for the whole process ("
        + ", ".join(str(f) for f in found)
        + "): the grader cannot tell what your code computes"
    ]


def describe(target: Any) -> dict:
    """How the target is built: its classes (for a class) and where each method comes from.

    The judge reads this to refuse delegation it can see at run time (a torch base class, a
    method copied from torch); the submitted code's syntax is checked on the judge's side too.
    """
    if isinstance(target, type):
        mro = [_qualified(kind) for kind in getattr(target, "__mro__", ())]
        methods = {}
        for name, value in list(vars(target).items()):
            function = getattr(value, "__func__", value)
            # Functions only: a metaclass's helper classes (Function._backward_cls) are not
            # methods the student wrote or copied.
            if isinstance(function, types.FunctionType | types.BuiltinFunctionType):
                methods[name] = _qualified(function)
        return {"kind": "class", "name": _qualified(target), "mro": mro, "methods": methods}
    if callable(target):
        return {"kind": "function", "name": _qualified(target)}
    return {"kind": "value", "name": plain.type_name(target)}


def _qualified(value: Any) -> str:
    module = getattr(value, "__module__", None) or "?"
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or "?"
    return f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else "?"


# --- the judge's side -----------------------------------------------------------------------


class Observation:
    """The decoded observations of one case, read in the order the scenario recorded them.

    Reading a key the scenario never reached raises the failure that stopped it: the exception
    the student's code raised, with the call that raised it, or "no observation" when the data
    is simply missing (a scenario that was cut short, or a forged message).
    """

    def __init__(self, data: dict) -> None:
        self.data = data
        self.raised = data.get(RAISED) if isinstance(data.get(RAISED), dict) else None
        target = data.get(TARGET)
        self.target = target if isinstance(target, dict) else {}

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def __getitem__(self, key: str) -> Any:
        if key in self.data:
            return self.data[key]
        if self.raised is not None:
            raise CheckFailure(scenario_error(self.raised))
        raise CheckFailure(_("no observation {key} came back from your code").format(key=repr(key)))

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def raised_of(attempt: Any) -> plain.RaisedError | None:
    """The exception recorded by :meth:`Recorder.attempt`, or None when the call returned."""
    if isinstance(attempt, dict) and isinstance(attempt.get("raised"), plain.RaisedError):
        return attempt["raised"]
    return None


def judge_case(check: Check, case: Case, data: Any, reference: Any) -> None:
    """Decide one case from its decoded observations; raise CheckFailure when it fails."""
    if not isinstance(data, dict):
        raise CheckFailure(_("the observations of your code are not a record"))
    for reason in intercepted(data):
        raise CheckFailure(reason)
    check.judge(case, reference, Observation(data))


def run_here(check: Check, target: Any, cases: Iterable[Case]) -> None:
    """Both halves in this process: the self-check in a student's kernel (and nbgrader)."""
    for case in cases:
        # The reference only after the scenario: no frame the student's code runs under holds it.
        data = plain.decode(plain.loads(plain.dumps(observe(check, target, case))))
        judge_case(check, case, data, check.reference(case))


def case_key(check: Check, case: Case) -> str:
    """A stable key for caching a case's reference across the students of one batch."""
    return check.name + ":" + json.dumps(case, sort_keys=True)


__all__ = [
    "REGISTRY",
    "Case",
    "Check",
    "Delegation",
    "Observation",
    "Recorder",
    "case_key",
    "judge_case",
    "observe",
    "raised_of",
    "resolve",
    "run_here",
]
