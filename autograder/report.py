"""Failure messages that teach: what was called, what torch gives, what your code gave."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, NoReturn

import torch


class CheckFailure(AssertionError):
    """A student's code differs from torch. The message says how."""


def fail(
    call: str, expected: Any, got: Any, why: str = "", *, reference: str = "torch gives"
) -> NoReturn:
    """Raise a :class:`CheckFailure` laid out as call / torch / yours / why.

    ``reference`` names where the expected value comes from when it is not torch.
    """
    lines = [call, f"  {reference}: {_show(expected)}", f"  yours gave: {_show(got)}"]
    if why:
        lines.append(f"  difference:  {why}")
    raise CheckFailure("\n".join(lines))


def expect(
    condition: bool, call: str, expected: Any, got: Any, why: str = "", **layout: str
) -> None:
    """``fail(...)`` unless ``condition`` holds."""
    if not condition:
        fail(call, expected, got, why, **layout)


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
        return f"expected a plain torch.Tensor, got the subclass {got.type[len(SUBCLASS) :]}"
    if isinstance(got, Opaque):
        return f"expected a torch.Tensor, got {got.type}"
    if not isinstance(got, torch.Tensor):
        return f"expected a torch.Tensor, got {type(got).__name__}"
    if type(got) not in (torch.Tensor, torch.nn.Parameter):
        # A subclass can override __torch_function__ and make isclose say anything.
        return f"expected a plain torch.Tensor, got the subclass {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"shape {tuple(expected.shape)} expected, got {tuple(got.shape)}"
    if got.dtype != expected.dtype:
        return f"dtype {expected.dtype} expected, got {got.dtype}"
    got = got.detach()
    expected = expected.detach()
    close = torch.isclose(got, expected, atol=atol, rtol=rtol, equal_nan=True)
    if bool(close.all()):
        return None
    first = tuple(int(i) for i in (~close).nonzero()[0])
    worst = float((got - expected).abs().nan_to_num(float("inf")).max())
    return (
        f"values differ at index {first}: expected {expected[first].item():.{digits}g}, "
        f"got {got[first].item():.{digits}g} (largest absolute difference {worst:.3g})"
    )


def expect_tensor(
    call: str,
    expected: torch.Tensor,
    got: Any,
    *,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    reference: str = "torch gives",
) -> None:
    """Fail with a teaching message unless ``got`` matches ``expected``."""
    why = tensor_difference(expected, got, atol=atol, rtol=rtol)
    if why is not None:
        fail(call, expected, got, why, reference=reference)


def hidden_rng() -> random.Random:
    """A generator seeded at grading time, so hidden cases cannot be looked up in the repo."""
    return random.Random(random.SystemRandom().getrandbits(64))


def call_student(call: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call student code; an exception it raises becomes a failure that names the call."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailure(f"{call}\n  not implemented yet (raise NotImplementedError)") from None
    except CheckFailure:
        raise
    except Exception as error:
        message = f"{call}\n  raised {type(error).__name__}: {error}"
        hints = [hint for clue, hint in HINTS.items() if clue in str(error)]
        raise CheckFailure("\n  hint: ".join([message, *hints])) from error


#: Error text torch raises for common mistakes, and what to do about it.
HINTS = {
    "before Module.__init__() call": "call super().__init__() first thing in __init__",
    "mat1 and mat2 shapes cannot be multiplied": "check the weight layout: x @ weight.T",
    "too many dimensions 'str'": "strings cannot become a tensor: keep a batch of them a list",
}


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        text = repr(value.detach()) if value.numel() <= 12 else f"tensor of {value.numel()} values"
        return f"{text}  shape={tuple(value.shape)} dtype={value.dtype}"
    return repr(value)
