"""Failure messages that teach: what was called, what torch gives, what your code gave."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import torch

from autograder.i18n import _


class CheckFailure(AssertionError):
    """A student's code differs from torch. The message says how."""


def message(call: str, what: str, details: Iterable[str] = (), hint: str = "") -> str:
    """A failure message whose first line, ``{call}: {what}``, says on its own what is wrong.

    Tools show only the first line of a message (``nbgrader validate``, ``python -m autograder
    check``), so it names the call and the difference. The lines below it are the rest of a
    multi-line ``call`` (its set-up), the ``details`` (what torch gives, what yours gave) and a
    ``hint`` on what to look at.
    """
    head, *setup = call.split("\n")
    lines = [f"{head}: {what}" if head else what, *setup, *details]
    if hint:
        lines.append(_("  hint: {hint}").format(hint=hint))
    return "\n".join(lines)


def fail(
    call: str,
    expected: Any,
    got: Any,
    why: str = "",
    *,
    hint: str = "",
    reference: str = "",
) -> NoReturn:
    """Raise a :class:`CheckFailure`: ``{call}: {why}`` first, then torch's value and yours.

    ``why`` says what differs ("expected …, got …" when it is empty); ``hint`` what to look at.
    ``reference`` names where the expected value comes from when it is not torch.
    """
    what = why or _("expected {expected}, got {got}").format(
        expected=_brief(expected), got=_brief(got)
    )
    reference = reference or _("torch gives")
    details = [
        f"  {reference}: {_show(expected)}",
        _("  yours gave: {value}").format(value=_show(got)),
    ]
    raise CheckFailure(message(call, what, details, hint))


def expect(
    condition: bool,
    call: str,
    expected: Any,
    got: Any,
    why: str = "",
    *,
    hint: str = "",
    reference: str = "",
) -> None:
    """``fail(...)`` unless ``condition`` holds."""
    if not condition:
        fail(call, expected, got, why, hint=hint, reference=reference)


def tensor_difference(
    expected: torch.Tensor,
    got: Any,
    *,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    digits: int = 6,
) -> str | None:
    """Describe how ``got`` differs from ``expected``, or return ``None`` when they match.

    The first difference found is reported, in this order: not a tensor, shape, dtype, values
    (with the first index where they differ).
    """
    from autograder.plain import SUBCLASS, Opaque

    if isinstance(got, Opaque) and got.type.startswith(SUBCLASS):
        subclass = got.type[len(SUBCLASS) :]
        return _("expected a plain torch.Tensor, got the subclass {name}").format(name=subclass)
    if isinstance(got, Opaque):
        return _("expected a torch.Tensor, got {type}").format(type=got.type)
    if not isinstance(got, torch.Tensor):
        return _("expected a torch.Tensor, got {type}").format(type=type(got).__name__)
    if type(got) not in (torch.Tensor, torch.nn.Parameter):
        # A subclass can override __torch_function__ and make isclose say anything.
        name = type(got).__name__
        return _("expected a plain torch.Tensor, got the subclass {name}").format(name=name)
    if tuple(got.shape) != tuple(expected.shape):
        return _("shape {expected} expected, got {got}").format(
            expected=tuple(expected.shape), got=tuple(got.shape)
        )
    if got.dtype != expected.dtype:
        return _("dtype {expected} expected, got {got}").format(
            expected=expected.dtype, got=got.dtype
        )
    got = got.detach()
    expected = expected.detach()
    close = torch.isclose(got, expected, atol=atol, rtol=rtol, equal_nan=True)
    if bool(close.all()):
        return None
    first = tuple(int(i) for i in (~close).nonzero()[0])
    worst = float((got - expected).abs().nan_to_num(float("inf")).max())
    return _(
        "values differ at index {index}: expected {expected}, got {got} "
        "(largest absolute difference {worst})"
    ).format(
        index=first,
        expected=f"{expected[first].item():.{digits}g}",
        got=f"{got[first].item():.{digits}g}",
        worst=f"{worst:.3g}",
    )


def expect_tensor(
    call: str,
    expected: torch.Tensor,
    got: Any,
    *,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    hint: str = "",
    reference: str = "",
) -> None:
    """Fail with a teaching message unless ``got`` matches ``expected``."""
    why = tensor_difference(expected, got, atol=atol, rtol=rtol)
    if why is not None:
        fail(call, expected, got, why, hint=hint, reference=reference)


def hidden_rng() -> random.Random:
    """A generator seeded at grading time, so hidden cases cannot be looked up in the repo."""
    return random.Random(random.SystemRandom().getrandbits(64))


def call_student(call: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call student code; an exception it raises becomes a failure that names the call."""
    try:
        return fn(*args, **kwargs)
    except CheckFailure:
        raise
    except Exception as error:
        raise CheckFailure(raised_message(call, type(error).__name__, str(error))) from error


def raised_message(call: str, kind: str, text: str, hint: str = "") -> str:
    """The message for an exception the student's code raised: ``{call}: raised {kind}: …``
    first (the rest of a long error text below), with a hint for torch's most common errors
    and ``hint``, when given."""
    if kind == "NotImplementedError":
        return message(call, _("not implemented yet (raise NotImplementedError)"))
    first, _sep, rest = text.strip().partition("\n")
    hints = [_(advice) for clue, advice in HINTS.items() if clue in text] + ([hint] if hint else [])
    details = [f"  {line}" for line in rest.splitlines()]
    what = (
        _("raised {kind}: {text}").format(kind=kind, text=first)
        if first
        else _("raised {kind}").format(kind=kind)
    )
    between = "\n" + _("  hint: {hint}").format(hint="")  # message() writes the first "hint: "
    return message(call, what, details, between.join(hints))


def scenario_error(raised: dict, hint: str = "") -> str:
    """The message for the exception that stopped a scenario, from its record
    (``{"call": ..., "error": RaisedError}``): the call that raised it, first."""
    from autograder.plain import RaisedError

    call = str(raised.get("call") or _("while running your code"))
    error = raised.get("error")
    if not isinstance(error, RaisedError):
        return message(call, _("raised an error"), hint=hint)
    return raised_message(call, error.type, error.message, hint)


#: Error text torch raises for common mistakes, and what to do about it.
HINTS = {
    "before Module.__init__() call": "call super().__init__() first thing in __init__",
    "mat1 and mat2 shapes cannot be multiplied": "check the weight layout: x @ weight.T",
    "too many dimensions 'str'": "strings cannot become a tensor: keep a batch of them a list",
}


def _brief(value: Any, limit: int = 60) -> str:
    """A value in a few words, for a first line: a tensor by its shape, text as itself."""
    if isinstance(value, torch.Tensor):
        return _("a tensor of shape {shape}").format(shape=tuple(value.shape))
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        many = _("tensor of {count} values").format(count=value.numel())
        text = repr(value.detach()) if value.numel() <= 12 else many
        return f"{text}  shape={tuple(value.shape)} dtype={value.dtype}"
    return repr(value)
