"""Checks for chapter 03_backward: logistic regression ``LR`` and a custom autograd ``Swish``.

``LR`` is graded in float64 against ``torch.autograd`` on the same loss (the mean binary
cross-entropy), against central finite differences of its own forward, and by training it.
``Swish`` is graded with ``torch.autograd.gradcheck`` and against ``torch.nn.functional.silu``.
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch
from torch import nn
from torch.autograd.gradcheck import GradcheckError
from torch.nn import functional as F

from autograder.report import (
    CheckFailure,
    call_student,
    expect,
    expect_tensor,
    fail,
    hidden_rng,
    tensor_difference,
)

DTYPE = torch.float64
#: Pre-activations far outside the range where exp() is finite in float32 and float64.
LARGE_Z = (1000.0, -1000.0, 750.0, -750.0, 40.0, -40.0, 0.0)


# --------------------------------------------------------------------------------------------
# LR: shared set-up


def _build(LR: type, dim: int, lr: float) -> Any:
    built = f"LR({dim}, lr={lr:g})"
    model = call_student(built, LR, dim, lr=lr)
    expect(
        isinstance(model, nn.Module) and "_buffers" in vars(model),
        f"{built}: an initialised nn.Module",
        "nn.Module.__init__ to have run",
        type(model).__name__,
        "LR subclasses nn.Module: call super().__init__() first thing in __init__",
    )
    for name, shape in (("w", (dim, 1)), ("b", ())):
        value = getattr(model, name, None)
        expect(
            isinstance(value, torch.Tensor),
            f"{built}.{name}",
            f"a tensor of shape {shape}",
            value,
            f"__init__ must create self.{name}",
        )
        expect(
            tuple(value.shape) == shape,
            f"{built}.{name}.shape",
            shape,
            tuple(value.shape),
            "w is a column (dim, 1); b is a scalar tensor, shape ()",
        )
    return model


def _set_params(built: str, model: Any, w: torch.Tensor, b: torch.Tensor) -> None:
    """Put float64 values into ``model.w`` and ``model.b`` (copies: the model may update them)."""
    for name, value in (("w", w), ("b", b)):
        try:
            setattr(model, name, value.clone())
        except (TypeError, KeyError) as error:
            raise CheckFailure(
                f"{built}.{name} = a float64 tensor\n  raised {type(error).__name__}: {error}\n"
                "  hint: keep w and b plain tensors or buffers (register_buffer), not "
                "nn.Parameter: their gradients are computed by hand here"
            ) from error


def _case(dim: int, m: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Features x (dim, m), labels y (1, m) in {0, 1}, and parameters w (dim, 1), b ()."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(dim, m, generator=g, dtype=DTYPE)
    y = (torch.rand(1, m, generator=g, dtype=DTYPE) < 0.5).to(DTYPE)
    w = torch.randn(dim, 1, generator=g, dtype=DTYPE) / math.sqrt(dim)
    b = torch.randn((), generator=g, dtype=DTYPE)
    return x, y, w, b


def _reference(x, y, w, b) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """torch's output and autograd's gradients of the mean BCE, at (w, b)."""
    w = w.clone().requires_grad_()
    b = b.clone().requires_grad_()
    z = w.T @ x + b
    loss = F.binary_cross_entropy_with_logits(z, y)
    dw, db = torch.autograd.grad(loss, (w, b))
    return torch.sigmoid(z).detach(), dw, db


def _mean_bce(yhat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -(y * torch.log(yhat) + (1 - y) * torch.log1p(-yhat)).mean()


# --------------------------------------------------------------------------------------------
# LR.forward


def check_lr_forward(LR: type, dim: int = 3, m: int = 5, seed: int = 0) -> None:
    """``forward(x)`` is ``sigmoid(wᵀx + b)`` of shape (1, m), finite even for |z| = 1000."""
    built = f"LR({dim})"
    model = _build(LR, dim, 0.01)
    x, _, w, b = _case(dim, m, seed)
    _set_params(built, model, w, b)
    call = f"{built} with float64 w {tuple(w.shape)}, b {tuple(b.shape)}: model(x), x {(dim, m)}"
    got = call_student(call, model, x)
    expect_tensor(call, torch.sigmoid(w.T @ x + b), got, atol=1e-12, rtol=1e-10)
    _check_large_z(LR)


def _check_large_z(LR: type) -> None:
    """With w = [[1]] and b = 0, forward(x) is the sigmoid of x itself."""
    model = _build(LR, 1, 0.01)
    _set_params("LR(1)", model, torch.ones(1, 1, dtype=DTYPE), torch.zeros((), dtype=DTYPE))
    z = torch.tensor([LARGE_Z], dtype=DTYPE)
    call = f"LR(1) with w = [[1.]], b = 0.: model(x) for x = {list(LARGE_Z)}"
    got = call_student(call, model, z)
    expected = torch.sigmoid(z)
    if isinstance(got, torch.Tensor) and not bool(torch.isfinite(got).all()):
        fail(
            call,
            expected,
            got,
            "nan or inf for a large |z|: exp(z) overflows to inf, and inf/inf is nan; "
            "only ever take exp of a number <= 0 (exp(-|z|))",
        )
    expect_tensor(call, expected, got, atol=1e-12, rtol=1e-10)


def check_lr_forward_hidden(LR: type, cases: int = 5) -> None:
    """:func:`check_lr_forward` on shapes and seeds drawn at grading time."""
    rng = hidden_rng()
    for _ in range(cases):
        check_lr_forward(LR, rng.randint(1, 20), rng.randint(1, 200), rng.getrandbits(32))


# --------------------------------------------------------------------------------------------
# LR.backward


def check_lr_backward(LR: type, dim: int = 3, m: int = 5, seed: int = 0) -> None:
    """``backward(x, yhat, y)`` puts autograd's gradients of the mean BCE in ``grads``."""
    built = f"LR({dim})"
    model = _build(LR, dim, 0.01)
    x, y, w, b = _case(dim, m, seed)
    _set_params(built, model, w, b)
    yhat, dw, db = _reference(x, y, w, b)
    setting = f"{built} with float64 w, b; x {(dim, m)}, y {(1, m)}"
    got_yhat = call_student(f"{setting}: forward(x)", model.forward, x)
    expect_tensor(f"{setting}: forward(x)", yhat, got_yhat, atol=1e-12, rtol=1e-10)
    call = f"{setting}: backward(x, yhat, y)"
    call_student(call, model.backward, x, got_yhat, y)
    grads = _grads(call, model)
    for name, expected in (("dw", dw), ("db", db)):
        got = grads[name]
        why = tensor_difference(expected, got, atol=1e-10, rtol=1e-8)
        if why is not None:
            fail(f"{call}: grads[{name!r}]", expected, got, _explain(name, expected, got, m, why))


def _grads(call: str, model: Any) -> dict[str, Any]:
    grads = getattr(model, "grads", None)
    expect(
        isinstance(grads, dict) and {"dw", "db"} <= set(grads),
        f"{call}: model.grads",
        "a dict with keys 'dw' and 'db'",
        grads,
    )
    return grads


def _explain(name: str, expected: torch.Tensor, got: Any, m: int, why: str) -> str:
    """Name the usual mistake behind a wrong gradient, when the numbers show which one."""
    if not isinstance(got, torch.Tensor):
        return why
    if tuple(got.shape) != tuple(expected.shape):
        shape = "(dim, 1), like w" if name == "dw" else "(), like b: a scalar tensor"
        return f"{why}; {name} has the shape of the parameter it updates: {shape}"
    if got.dtype != expected.dtype:
        return f"{why}; compute the gradient from x, yhat and y without fixing a dtype"
    got = got.detach()
    if torch.allclose(got, -expected, atol=1e-10, rtol=1e-8):
        return f"{why}; the sign is flipped: the gradient is (yhat - y), not (y - yhat)"
    if m > 1 and torch.allclose(got, expected * m, atol=1e-10, rtol=1e-8):
        return f"{why}; it is m = {m} times too large: the loss is a mean, divide by m"
    return why


def check_lr_finite_differences(LR: type, dim: int = 3, m: int = 5, seed: int = 1) -> None:
    """``grads`` match central finite differences of the mean BCE of the model's own forward."""
    built = f"LR({dim})"
    model = _build(LR, dim, 0.01)
    x, y, w, b = _case(dim, m, seed)
    _set_params(built, model, w, b)
    setting = f"{built} with float64 w, b; x {(dim, m)}, y {(1, m)}"
    yhat = call_student(f"{setting}: forward(x)", model.forward, x)
    expect(
        isinstance(yhat, torch.Tensor) and tuple(yhat.shape) == (1, m),
        f"{setting}: forward(x)",
        f"a tensor of shape {(1, m)}",
        yhat,
    )
    call = f"{setting}: backward(x, yhat, y)"
    call_student(call, model.backward, x, yhat, y)
    grads = {name: value for name, value in _grads(call, model).items() if name in ("dw", "db")}

    numeric = {"dw": torch.zeros_like(w), "db": torch.zeros_like(b)}
    h = 1e-6
    for name, base, index in [("w", w, (i, 0)) for i in range(dim)] + [("b", b, ())]:
        losses = []
        for step in (h, -h):
            moved = base.clone()
            moved[index] += step
            _set_params(built, model, *((moved, b) if name == "w" else (w, moved)))
            losses.append(_mean_bce(call_student(f"{setting}: forward(x)", model.forward, x), y))
        numeric["d" + name][index] = (losses[0] - losses[1]) / (2 * h)
    for name, expected in numeric.items():
        why = tensor_difference(expected, grads[name], atol=1e-6, rtol=1e-5)
        if why is not None:
            fail(
                f"{call}: grads[{name!r}] against central differences (L(p+h) - L(p-h)) / 2h, "
                f"h = {h:g}, of the mean BCE of your forward",
                expected,
                grads[name],
                _explain(name, expected, grads[name], m, why),
            )


def check_lr_backward_hidden(LR: type, cases: int = 5) -> None:
    """:func:`check_lr_backward` and finite differences on shapes and seeds drawn at grading."""
    rng = hidden_rng()
    for _ in range(cases):
        dim, m = rng.randint(1, 20), rng.randint(1, 200)
        check_lr_backward(LR, dim, m, rng.getrandbits(32))
        check_lr_finite_differences(LR, dim, m, rng.getrandbits(32))


# --------------------------------------------------------------------------------------------
# LR.optimize


def check_lr_optimize(LR: type, dim: int = 3, lr: float = 0.1, seed: int = 0) -> None:
    """``optimize()`` takes one gradient-descent step on both ``w`` and ``b``."""
    built = f"LR({dim}, lr={lr:g})"
    model = _build(LR, dim, lr)
    _, _, w, b = _case(dim, 1, seed)
    g = torch.Generator().manual_seed(seed + 1)
    dw = torch.randn(dim, 1, generator=g, dtype=DTYPE)
    db = torch.randn((), generator=g, dtype=DTYPE)
    _set_params(built, model, w, b)
    model.grads = {"dw": dw.clone(), "db": db.clone()}
    call = f"{built} with float64 w, b and grads = {{'dw': dw, 'db': db}}: optimize()"
    # Tolerance allows an lr kept as a float32 tensor, as the seed note does (0.1 -> 0.10000000149).
    call_student(call, model.optimize)
    for name, old, grad in (("w", w, dw), ("b", b, db)):
        expected = old - lr * grad
        got = getattr(model, name, None)
        why = tensor_difference(expected, got, atol=1e-7, rtol=1e-6)
        if why is None:
            continue
        if isinstance(got, torch.Tensor) and got.shape == old.shape:
            got_values = got.detach()
            if torch.equal(got_values, old):
                why += f"; {name} did not change: optimize() must update both w and b"
            elif torch.allclose(got_values, old + lr * grad, atol=1e-7, rtol=1e-6):
                why += "; that is a step uphill: subtract lr * gradient"
            elif name == "w" and torch.allclose(
                got_values, old - lr * grad - lr * db, atol=1e-7, rtol=1e-6
            ):
                why += "; w was also moved by lr * db: db is b's gradient"
        fail(f"{call}, then {name}", expected, got, why)


def check_lr_optimize_hidden(LR: type, cases: int = 4) -> None:
    """:func:`check_lr_optimize` with sizes, learning rates and seeds drawn at grading time."""
    rng = hidden_rng()
    for _ in range(cases):
        check_lr_optimize(LR, rng.randint(1, 20), rng.uniform(1e-3, 1.0), rng.getrandbits(32))


# --------------------------------------------------------------------------------------------
# LR: training


def separable_blobs(
    dim: int, m: int, seed: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """A linearly separable set in the (dim, m) layout, away from the origin (so b matters).

    Points are Gaussian around a centre at distance 4 from the origin, in a random direction;
    the label says on which side of the hyperplane through the centre, perpendicular to that
    direction, a point lies. No hyperplane through the origin separates them, so a model that
    never updates b cannot fit them. Points closer than 0.3 to the hyperplane are pushed out,
    so there is a margin.
    """
    g = torch.Generator().manual_seed(seed)
    normal = torch.randn(dim, 1, generator=g, dtype=torch.float64)
    normal /= normal.norm()
    centre = 4 * normal
    x = centre + torch.randn(dim, m, generator=g, dtype=torch.float64)
    side = normal.T @ (x - centre)
    push = torch.where(side.abs() < 0.3, (0.3 - side.abs()) * side.sign(), torch.zeros_like(side))
    x = x + normal * push
    y = (side > 0).to(torch.float64)
    return x.to(dtype), y.to(dtype)


def check_lr_training(
    LR: type, dim: int = 2, m: int = 200, seed: int = 0, steps: int = 500, lr: float = 0.5
) -> None:
    """Trained from its own initial w and b, ``LR`` reaches >= 95% accuracy in ``steps`` steps."""
    x, y = separable_blobs(dim, m, seed)
    model = _build(LR, dim, lr)
    call = (
        f"LR({dim}, lr={lr:g}), then {steps} x (yhat = forward(x); backward(x, yhat, y); "
        f"optimize()) on {m} separable float32 points"
    )
    for _ in range(steps):
        yhat = call_student(call, model.forward, x)
        call_student(call, model.backward, x, yhat, y)
        call_student(call, model.optimize)
    yhat = call_student(call, model.forward, x)
    expect(
        isinstance(yhat, torch.Tensor) and bool(torch.isfinite(yhat).all()),
        call,
        "finite predictions",
        yhat,
    )
    accuracy = float(((yhat > 0.5).to(y.dtype) == y).to(torch.float64).mean())
    if accuracy < 0.95:
        reference = _train_reference(x, y, steps, lr)
        fail(
            f"{call}: accuracy of yhat > 0.5",
            f">= 0.95 (autograd and optim.SGD reach {reference:.3f} from w = 0, b = 0)",
            round(accuracy, 3),
            "is b updated too? is the step -lr * gradient (downhill)?",
        )


def _train_reference(x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> float:
    """The accuracy that the same loop reaches with torch's autograd and optim.SGD."""
    w = torch.zeros(x.shape[0], 1, requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.SGD([w, b], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(w.T @ x + b, y).backward()
        optimizer.step()
    with torch.no_grad():
        return float(((w.T @ x + b > 0).to(y.dtype) == y).double().mean())


def check_lr_training_hidden(LR: type, cases: int = 2) -> None:
    """:func:`check_lr_training` on data sets drawn at grading time."""
    rng = hidden_rng()
    for _ in range(cases):
        check_lr_training(LR, rng.randint(2, 5), 200, rng.getrandbits(32))


# --------------------------------------------------------------------------------------------
# Swish: a custom torch.autograd.Function


def check_swish(Swish: type, shape: tuple[int, ...] = (2, 3), seed: int = 0) -> None:
    """``Swish.apply`` is SiLU, with its own backward: values, gradients, gradcheck, large |x|."""
    expect(
        isinstance(Swish, type) and issubclass(Swish, torch.autograd.Function),
        "Swish",
        "a subclass of torch.autograd.Function",
        Swish,
    )
    g = torch.Generator().manual_seed(seed)
    x = (3 * torch.randn(*shape, generator=g, dtype=DTYPE)).requires_grad_()
    call = f"Swish.apply(x), x of shape {shape} (float64)"
    out = call_student(call, Swish.apply, x)
    expect_tensor(call, F.silu(x), out, atol=1e-12, rtol=1e-10)
    _check_own_backward(Swish, call, out)

    weights = torch.randn(*shape, generator=g, dtype=DTYPE)
    _check_gradient(Swish, x, weights, f"{call}, then backward(gradient=v), v random")
    _check_gradcheck(Swish, x.detach()[..., :4].clone().requires_grad_())
    large = torch.tensor(LARGE_Z, dtype=DTYPE, requires_grad=True)
    _check_gradient(
        Swish, large, torch.ones_like(large), f"Swish.apply(x).sum().backward(), x = {LARGE_Z}"
    )


def _check_own_backward(Swish: type, call: str, out: Any) -> None:
    grad_fn = getattr(out, "grad_fn", None)
    own = getattr(grad_fn, "_forward_cls", None) is Swish
    expect(
        own,
        f"{call}.grad_fn",
        f"{Swish.__name__}Backward (your Function's node in the graph)",
        grad_fn,
        "Swish.apply must return the tensor made by forward, so that autograd calls your backward",
    )
    saved = getattr(grad_fn, "saved_tensors", ())
    expect(
        len(saved) > 0,
        f"{call}.grad_fn.saved_tensors",
        "the tensors backward needs",
        saved,
        "keep tensors for backward with ctx.save_for_backward(...), not as ctx attributes: "
        "it guards against in-place changes and frees them after backward",
    )


def _check_gradient(Swish: type, x: torch.Tensor, v: torch.Tensor, call: str) -> None:
    x = x.detach().clone().requires_grad_()
    reference = x.detach().clone().requires_grad_()
    (expected,) = torch.autograd.grad(F.silu(reference), reference, v)
    out = call_student(call, Swish.apply, x)
    got = call_student(call, torch.autograd.grad, out, x, v)[0]
    if isinstance(got, torch.Tensor) and not bool(torch.isfinite(got).all()):
        fail(
            f"{call}: x.grad",
            expected,
            got,
            "nan or inf in the gradient: write it with sigmoid(x), which stays in [0, 1], "
            "instead of exp(-x), which overflows for x = -1000",
        )
    why = tensor_difference(expected, got, atol=1e-10, rtol=1e-8)
    if why is not None and torch.allclose(got, expected / v, atol=1e-10, rtol=1e-8):
        why += "; backward must multiply by grad_output (the chain rule)"
    if why is not None:
        fail(f"{call}: x.grad", expected, got, why)


def _check_gradcheck(Swish: type, x: torch.Tensor) -> None:
    call = f"torch.autograd.gradcheck(Swish.apply, (x,)), x of shape {tuple(x.shape)} (float64)"
    try:
        passed = torch.autograd.gradcheck(Swish.apply, (x,), eps=1e-6, atol=1e-5, rtol=1e-4)
    except GradcheckError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckFailure(
            f"{call}\n  gradcheck compares your backward with finite differences of your "
            f"forward and found they differ:\n  {first}"
        ) from None
    except Exception as error:
        raise CheckFailure(f"{call}\n  raised {type(error).__name__}: {error}") from error
    expect(passed, call, True, passed)


def check_swish_hidden(Swish: type, cases: int = 4) -> None:
    """:func:`check_swish` on shapes and seeds drawn at grading time."""
    rng: random.Random = hidden_rng()
    for _ in range(cases):
        shape = tuple(rng.randint(1, 6) for _ in range(rng.randint(1, 3)))
        check_swish(Swish, shape, rng.getrandbits(32))


__all__ = [
    "check_lr_backward",
    "check_lr_backward_hidden",
    "check_lr_finite_differences",
    "check_lr_forward",
    "check_lr_forward_hidden",
    "check_lr_optimize",
    "check_lr_optimize_hidden",
    "check_lr_training",
    "check_lr_training_hidden",
    "check_swish",
    "check_swish_hidden",
    "separable_blobs",
]
