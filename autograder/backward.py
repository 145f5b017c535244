"""Checks for chapter 03_backward: logistic regression ``LR`` and a custom autograd ``Swish``.

``LR`` is graded in float64 against ``torch.autograd`` on the same loss (the mean binary
cross-entropy), against central finite differences of its own forward, and by training it.
``Swish`` is graded with ``torch.autograd.gradcheck`` and against ``torch.nn.functional.silu``.

Each check is a scenario and a judge (see :mod:`autograder.checking`). The scenarios put known
float64 parameters into the student's ``LR`` and record what its methods return: its outputs,
its ``grads``, its parameters after ``optimize()``, its forward at the points finite differences
need, its predictions after training. For ``Swish`` they record its values, its gradients, its
node in the graph and the verdict of ``gradcheck`` (which compares the student's backward with
the student's own forward). The judges compute torch's side (autograd, ``F.silu``, the finite
differences of the recorded losses, a plain SGD run with autograd) and decide.
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch
from torch import nn
from torch.autograd.gradcheck import GradcheckError
from torch.nn import functional as F

from autograder.checking import Case, Check, Delegation, Observation, Recorder
from autograder.i18n import _
from autograder.plain import RaisedError
from autograder.report import (
    CheckFailure,
    expect,
    expect_tensor,
    fail,
    message,
    raised_message,
    tensor_difference,
)

DTYPE = torch.float64
#: Pre-activations far outside the range where exp() is finite in float32 and float64.
LARGE_Z = (1000.0, -1000.0, 750.0, -750.0, 40.0, -40.0, 0.0)
#: The step of the central finite differences.
H = 1e-6

#: LR computes its gradients and its step by hand.
OWN_GRADIENTS = Delegation(
    task="the gradients and the update",
    forbidden=(
        "torch.autograd",
        "torch.func",
        "torch.optim",
        "torch.nn.functional.binary_cross_entropy",
        "torch.nn.modules.loss",
    ),
    autograd=True,
)

#: Swish writes its forward and its backward; subclassing autograd.Function is the exercise.
OWN_SWISH = Delegation(
    task="Swish's forward and backward",
    forbidden=(
        "torch.nn.functional.silu",
        "torch.nn.modules.activation.SiLU",
        "torch.autograd",
        "torch.func",
    ),
    allowed=("torch.autograd.Function", "torch.autograd.function.FunctionCtx"),
    autograd=True,
)


# --------------------------------------------------------------------------------------------
# LR: shared set-up


def _lr_inputs(dim: int, m: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Features x (dim, m), labels y (1, m) in {0, 1}, and parameters w (dim, 1), b ()."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(dim, m, generator=g, dtype=DTYPE)
    y = (torch.rand(1, m, generator=g, dtype=DTYPE) < 0.5).to(DTYPE)
    w = torch.randn(dim, 1, generator=g, dtype=DTYPE) / math.sqrt(dim)
    b = torch.randn((), generator=g, dtype=DTYPE)
    return x, y, w, b


def _built(dim: int, lr: float) -> str:
    return f"LR({dim}, lr={lr:g})"


def _build(obs: Recorder, LR: type, dim: int, lr: float, key: str) -> Any:
    """Construct the student's LR and record what the judge checks of it; None if unusable."""
    built = _built(dim, lr)
    model = obs.call(built, LR, dim, lr=lr)
    obs[f"{key}.type"] = type(model).__name__
    obs[f"{key}.initialised"] = isinstance(model, nn.Module) and "_buffers" in getattr(
        model, "__dict__", {}
    )
    if not obs[f"{key}.initialised"]:
        return None
    for name in ("w", "b"):
        obs[f"{key}.{name}"] = obs.call(f"{built}.{name}", getattr, model, name, None)
    return model


def _judge_build(obs: Observation, dim: int, lr: float, key: str) -> None:
    built = _built(dim, lr)
    kind = obs[f"{key}.type"]
    expect(
        obs[f"{key}.initialised"],
        built,
        _("nn.Module.__init__ to have run"),
        kind,
        _("built a {type} that nn.Module.__init__ never initialised").format(type=kind),
        hint=_("LR subclasses nn.Module: call super().__init__() first thing in __init__"),
    )
    for name, shape in (("w", (dim, 1)), ("b", ())):
        value = obs[f"{key}.{name}"]
        expect(
            isinstance(value, torch.Tensor),
            f"{built}.{name}",
            _("a tensor of shape {shape}").format(shape=shape),
            value,
            _("self.{name} is {value}, not a tensor").format(name=name, value=f"{value!r:.60}"),
            hint=_("__init__ must create self.{name}").format(name=name),
        )
        expect(
            tuple(value.shape) == shape,
            f"{built}.{name}.shape",
            shape,
            tuple(value.shape),
            _("{name} has shape {shape}, expected {expected}").format(
                name=name, shape=tuple(value.shape), expected=shape
            ),
            hint=_("w is a column (dim, 1); b is a scalar tensor, shape ()"),
        )


def _set_params(
    obs: Recorder, built: str, model: Any, w: torch.Tensor, b: torch.Tensor, key: str
) -> bool:
    """Put float64 values into ``model.w`` and ``model.b`` (copies: the model may update them).

    False (and the refusal recorded) when the model refuses a plain tensor there.
    """
    for name, value in (("w", w), ("b", b)):
        call = f"{built}.{name} = a float64 tensor"
        try:
            obs.call(call, setattr, model, name, value.clone())
        except (TypeError, KeyError) as error:
            obs[f"{key}.assign"] = {"call": call, "error": error}
            return False
    return True


def _judge_assign(obs: Observation, key: str) -> None:
    refused = obs.get(f"{key}.assign")
    if not isinstance(refused, dict):
        return
    error = refused.get("error")
    kind, text = (error.type, error.message) if isinstance(error, RaisedError) else ("?", "")
    raise CheckFailure(
        raised_message(
            str(refused.get("call")),
            kind,
            text,
            _(
                "keep w and b plain tensors or buffers (register_buffer), not nn.Parameter: "
                "their gradients are computed by hand here"
            ),
        )
    )


def _mean_bce(yhat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -(y * torch.log(yhat) + (1 - y) * torch.log1p(-yhat)).mean()


# --------------------------------------------------------------------------------------------
# LR.forward


def _forward_call(case: Case) -> str:
    dim, m = case["dim"], case["m"]
    return f"LR({dim}) with float64 w {(dim, 1)}, b (): model(x), x {(dim, m)}"


LARGE_CALL = f"LR(1) with w = [[1.]], b = 0.: model(x) for x = {list(LARGE_Z)}"


def _forward_scenario(LR: type, case: Case, obs: Recorder) -> None:
    dim = case["dim"]
    model = _build(obs, LR, dim, 0.01, "model")
    if model is None:
        return
    x, _y, w, b = _lr_inputs(dim, case["m"], case["seed"])
    if not _set_params(obs, f"LR({dim})", model, w, b, "model"):
        return
    obs["output"] = obs.call(_forward_call(case), model, x)

    # With w = [[1]] and b = 0, forward(x) is the sigmoid of x itself.
    large = _build(obs, LR, 1, 0.01, "large")
    if large is None:
        return
    one, zero = torch.ones(1, 1, dtype=DTYPE), torch.zeros((), dtype=DTYPE)
    if not _set_params(obs, "LR(1)", large, one, zero, "large"):
        return
    obs["large.output"] = obs.call(LARGE_CALL, large, torch.tensor([LARGE_Z], dtype=DTYPE))


def _forward_reference(case: Case) -> dict:
    x, _y, w, b = _lr_inputs(case["dim"], case["m"], case["seed"])
    return {
        "output": torch.sigmoid(w.T @ x + b),
        "large": torch.sigmoid(torch.tensor([LARGE_Z], dtype=DTYPE)),
    }


def _forward_judge(case: Case, reference: dict, obs: Observation) -> None:
    _judge_build(obs, case["dim"], 0.01, "model")
    _judge_assign(obs, "model")
    expect_tensor(_forward_call(case), reference["output"], obs["output"], atol=1e-12, rtol=1e-10)
    _judge_build(obs, 1, 0.01, "large")
    _judge_assign(obs, "large")
    got, expected = obs["large.output"], reference["large"]
    if isinstance(got, torch.Tensor) and not bool(torch.isfinite(got).all()):
        where = _first_non_finite(got, LARGE_Z)
        fail(
            LARGE_CALL,
            expected,
            got,
            _("nan or inf for a large |z|: {value} at z = {z}").format(value=where[0], z=where[1])
            if where
            else _("nan or inf for a large |z|"),
            hint=_(
                "exp(z) overflows to inf, and inf/inf is nan; only ever take exp of a number "
                "<= 0 (exp(-|z|))"
            ),
        )
    expect_tensor(LARGE_CALL, expected, got, atol=1e-12, rtol=1e-10)


def _first_non_finite(got: torch.Tensor, points: tuple[float, ...]) -> tuple[str, str] | None:
    """The first nan or inf and the point where it is, as ``("nan", "1000")``, when the shape
    allows; None otherwise."""
    values = got.detach().reshape(-1)
    if values.numel() != len(points):
        return None
    index = int((~torch.isfinite(values)).nonzero()[0])
    return f"{values[index].item()}", f"{points[index]:g}"


def _shapes(rng: random.Random) -> dict:
    return {"dim": rng.randint(1, 20), "m": rng.randint(1, 200), "seed": rng.getrandbits(32)}


LR_FORWARD = Check(
    name="backward.lr_forward",
    doc="LR.forward(x) is sigmoid(wᵀx + b) of shape (1, m), finite even for |z| = 1000",
    scenario=_forward_scenario,
    reference=_forward_reference,
    judge=_forward_judge,
    visible=[{"dim": 3, "m": 5, "seed": 0}],
    hidden=lambda rng: [_shapes(rng) for _ in range(5)],
    refuses=OWN_GRADIENTS,
)
check_lr_forward, check_lr_forward_hidden = LR_FORWARD.functions()


# --------------------------------------------------------------------------------------------
# LR.backward, against autograd and against finite differences of the student's own forward

AUTOGRAD = "autograd"
FINITE_DIFFERENCES = "finite differences"


def _setting(case: Case) -> str:
    dim, m = case["dim"], case["m"]
    return f"LR({dim}) with float64 w, b; x {(dim, m)}, y {(1, m)}"


def _perturbations(dim: int) -> list[tuple[str, tuple[int, ...]]]:
    """The entries finite differences move: each of w's, then b."""
    return [("w", (i, 0)) for i in range(dim)] + [("b", ())]


def _grads_of(model: Any) -> Any:
    grads = getattr(model, "grads", None)
    return dict(grads) if isinstance(grads, dict) else grads


def _gradients_scenario(LR: type, case: Case, obs: Recorder) -> None:
    dim, m = case["dim"], case["m"]
    model = _build(obs, LR, dim, 0.01, "model")
    if model is None:
        return
    x, y, w, b = _lr_inputs(dim, m, case["seed"])
    built = f"LR({dim})"
    if not _set_params(obs, built, model, w, b, "model"):
        return
    setting = _setting(case)
    yhat = obs.call(f"{setting}: forward(x)", model.forward, x)
    obs["yhat"] = yhat
    call = f"{setting}: backward(x, yhat, y)"
    obs.call(call, model.backward, x, yhat, y)
    obs["grads"] = obs.call(f"{call}: model.grads", _grads_of, model)
    if case["oracle"] != FINITE_DIFFERENCES:
        return
    # The student's forward at p + h and p - h for each entry p of w and b; the judge forms
    # the mean BCE of each output and the differences.
    for k, (name, index) in enumerate(_perturbations(dim)):
        for sign, step in (("+", H), ("-", -H)):
            moved = (w if name == "w" else b).clone()
            moved[index] += step
            params = (moved, b) if name == "w" else (w, moved)
            if not _set_params(obs, built, model, *params, "model"):
                return
            obs[f"fd.{k}.{sign}"] = obs.call(f"{setting}: forward(x)", model.forward, x)


def _gradients_reference(case: Case) -> dict:
    """torch's output and autograd's gradients of the mean BCE, at (w, b)."""
    x, y, w, b = _lr_inputs(case["dim"], case["m"], case["seed"])
    w = w.clone().requires_grad_()
    b = b.clone().requires_grad_()
    z = w.T @ x + b
    loss = F.binary_cross_entropy_with_logits(z, y)
    dw, db = torch.autograd.grad(loss, (w, b))
    return {"yhat": torch.sigmoid(z).detach(), "dw": dw, "db": db, "y": y}


def _gradients_judge(case: Case, reference: dict, obs: Observation) -> None:
    dim, m = case["dim"], case["m"]
    _judge_build(obs, dim, 0.01, "model")
    _judge_assign(obs, "model")
    setting = _setting(case)
    yhat = obs["yhat"]
    if case["oracle"] == FINITE_DIFFERENCES:
        expect(
            isinstance(yhat, torch.Tensor) and tuple(yhat.shape) == (1, m),
            f"{setting}: forward(x)",
            _("a tensor of shape {shape}").format(shape=(1, m)),
            yhat,
            _("expected a tensor of shape {shape}, got {got}").format(
                shape=(1, m), got=_described(yhat)
            ),
        )
    else:
        expect_tensor(f"{setting}: forward(x)", reference["yhat"], yhat, atol=1e-12, rtol=1e-10)
    call = f"{setting}: backward(x, yhat, y)"
    grads = obs["grads"]
    expect(
        isinstance(grads, dict) and {"dw", "db"} <= set(grads),
        f"{call}: model.grads",
        _("a dict with keys 'dw' and 'db'"),
        grads,
        _("model.grads is {value}, not a dict with keys 'dw' and 'db'").format(
            value=f"{grads!r:.60}"
        ),
        hint=_("backward(x, yhat, y) stores the gradients: self.grads = {'dw': ..., 'db': ...}"),
    )
    if case["oracle"] != FINITE_DIFFERENCES:
        for name in ("dw", "db"):
            expected, got = reference[name], grads[name]
            why = tensor_difference(expected, got, atol=1e-10, rtol=1e-8)
            if why is not None:
                hint = _explain(name, expected, got, m)
                fail(f"{call}: grads[{name!r}]", expected, got, why, hint=hint)
        return

    numeric = _central_differences(case, reference["y"], obs)
    for name, expected in numeric.items():
        why = tensor_difference(expected, grads[name], atol=1e-6, rtol=1e-5)
        if why is not None:
            fail(
                f"{call}: grads[{name!r}] against central differences\n"
                f"  (L(p+h) - L(p-h)) / 2h, h = {H:g}, of the mean BCE of your forward",
                expected,
                grads[name],
                why,
                hint=_explain(name, expected, grads[name], m),
            )


def _described(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return _("a tensor of shape {shape}").format(shape=tuple(value.shape))
    return f"{value!r:.60}"


def _central_differences(case: Case, y: torch.Tensor, obs: Observation) -> dict:
    """(L(p + h) - L(p - h)) / 2h for each entry p, L the mean BCE of the recorded outputs."""
    dim, m = case["dim"], case["m"]
    numeric = {"dw": torch.zeros(dim, 1, dtype=DTYPE), "db": torch.zeros((), dtype=DTYPE)}
    for k, (name, index) in enumerate(_perturbations(dim)):
        losses = []
        for sign in ("+", "-"):
            out = obs[f"fd.{k}.{sign}"]
            expect(
                isinstance(out, torch.Tensor)
                and out.is_floating_point()
                and tuple(out.shape) == (1, m),
                f"{_setting(case)}: forward(x) at {name}{list(index)} {sign} h",
                _("a floating-point tensor of shape {shape}").format(shape=(1, m)),
                out,
                _("expected a floating-point tensor of shape {shape}, got {got}").format(
                    shape=(1, m), got=_described(out)
                ),
            )
            losses.append(_mean_bce(out.detach(), y))
        numeric["d" + name][index] = (losses[0] - losses[1]) / (2 * H)
    return numeric


def _explain(name: str, expected: torch.Tensor, got: Any, m: int) -> str:
    """Name the usual mistake behind a wrong gradient when the numbers show which one, or ""."""
    if not isinstance(got, torch.Tensor):
        return ""
    if tuple(got.shape) != tuple(expected.shape):
        if name == "dw":
            return _("dw has the shape of the parameter it updates: (dim, 1), like w")
        return _("db has the shape of the parameter it updates: (), like b: a scalar tensor")
    if got.dtype != expected.dtype:
        return _("compute the gradient from x, yhat and y without fixing a dtype")
    got = got.detach()
    if torch.allclose(got, -expected, atol=1e-10, rtol=1e-8):
        return _("the sign is flipped: the gradient is (yhat - y), not (y - yhat)")
    if m > 1 and torch.allclose(got, expected * m, atol=1e-10, rtol=1e-8):
        return _("it is m = {m} times too large: the loss is a mean, divide by m").format(m=m)
    return ""


def _backward_hidden(rng: random.Random) -> list[Case]:
    """Each drawn shape twice: against autograd, then against finite differences."""
    cases = []
    for _draw in range(5):
        shape = _shapes(rng)
        cases.append({**shape, "oracle": AUTOGRAD})
        cases.append({**shape, "seed": rng.getrandbits(32), "oracle": FINITE_DIFFERENCES})
    return cases


LR_BACKWARD = Check(
    name="backward.lr_backward",
    doc="LR.backward(x, yhat, y) puts autograd's gradients of the mean BCE in grads",
    scenario=_gradients_scenario,
    reference=_gradients_reference,
    judge=_gradients_judge,
    visible=[{"dim": 3, "m": 5, "seed": 0, "oracle": AUTOGRAD}],
    hidden=_backward_hidden,
    refuses=OWN_GRADIENTS,
)
check_lr_backward, check_lr_backward_hidden = LR_BACKWARD.functions()

LR_FINITE_DIFFERENCES = Check(
    name="backward.lr_finite_differences",
    doc="LR's grads match central finite differences of the mean BCE of its own forward",
    scenario=_gradients_scenario,
    reference=_gradients_reference,
    judge=_gradients_judge,
    visible=[{"dim": 3, "m": 5, "seed": 1, "oracle": FINITE_DIFFERENCES}],
    hidden=lambda rng: [{**_shapes(rng), "oracle": FINITE_DIFFERENCES} for _ in range(5)],
    refuses=OWN_GRADIENTS,
)
check_lr_finite_differences, check_lr_finite_differences_hidden = LR_FINITE_DIFFERENCES.functions()


# --------------------------------------------------------------------------------------------
# LR.optimize


def _optimize_inputs(case: Case) -> tuple[torch.Tensor, ...]:
    """Parameters w, b and gradients dw, db, made from the case's seed on either side."""
    dim, seed = case["dim"], case["seed"]
    _x, _y, w, b = _lr_inputs(dim, 1, seed)
    g = torch.Generator().manual_seed(seed + 1)
    dw = torch.randn(dim, 1, generator=g, dtype=DTYPE)
    db = torch.randn((), generator=g, dtype=DTYPE)
    return w, b, dw, db


def _optimize_call(case: Case) -> str:
    return (
        f"{_built(case['dim'], case['lr'])} with float64 w, b and "
        "grads = {'dw': dw, 'db': db}: optimize()"
    )


def _optimize_scenario(LR: type, case: Case, obs: Recorder) -> None:
    dim, lr = case["dim"], case["lr"]
    built = _built(dim, lr)
    model = _build(obs, LR, dim, lr, "model")
    if model is None:
        return
    w, b, dw, db = _optimize_inputs(case)
    if not _set_params(obs, built, model, w, b, "model"):
        return
    grads = {"dw": dw.clone(), "db": db.clone()}
    obs.call(f"{built}.grads = {{'dw': dw, 'db': db}}", setattr, model, "grads", grads)
    obs.call(_optimize_call(case), model.optimize)
    for name in ("w", "b"):
        obs[f"after.{name}"] = getattr(model, name, None)


def _optimize_reference(case: Case) -> dict:
    w, b, dw, db = _optimize_inputs(case)
    lr = case["lr"]
    return {"w": (w, dw, w - lr * dw), "b": (b, db, b - lr * db), "db": db}


def _optimize_judge(case: Case, reference: dict, obs: Observation) -> None:
    lr = case["lr"]
    _judge_build(obs, case["dim"], lr, "model")
    _judge_assign(obs, "model")
    call = _optimize_call(case)
    db = reference["db"]
    # Tolerance allows an lr kept as a float32 tensor, as the seed note does (0.1 -> 0.10000000149).
    for name in ("w", "b"):
        old, grad, expected = reference[name]
        got = obs[f"after.{name}"]
        why = tensor_difference(expected, got, atol=1e-7, rtol=1e-6)
        if why is None:
            continue
        hint = _("gradient descent: {name} = {name} - lr * d{name}").format(name=name)
        if isinstance(got, torch.Tensor) and got.shape == old.shape:
            got_values = got.detach()
            if torch.equal(got_values, old):
                why = _("{name} did not change").format(name=name)
                hint = _("optimize() must update both w and b")
            elif torch.allclose(got_values, old + lr * grad, atol=1e-7, rtol=1e-6):
                why = _("{name} took a step uphill ({why})").format(name=name, why=why)
                hint = _("subtract lr * gradient")
            elif name == "w" and torch.allclose(
                got_values, old - lr * grad - lr * db, atol=1e-7, rtol=1e-6
            ):
                why = _("w was also moved by lr * db ({why})").format(why=why)
                hint = _("db is b's gradient: it updates b, not w")
        fail(f"{call}, then {name}", expected, got, why, hint=hint)


LR_OPTIMIZE = Check(
    name="backward.lr_optimize",
    doc="LR.optimize() takes one gradient-descent step on both w and b",
    scenario=_optimize_scenario,
    reference=_optimize_reference,
    judge=_optimize_judge,
    visible=[{"dim": 3, "lr": 0.1, "seed": 0}],
    hidden=lambda rng: [
        {"dim": rng.randint(1, 20), "lr": rng.uniform(1e-3, 1.0), "seed": rng.getrandbits(32)}
        for _ in range(4)
    ],
    refuses=OWN_GRADIENTS,
)
check_lr_optimize, check_lr_optimize_hidden = LR_OPTIMIZE.functions()


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


def _training_call(case: Case) -> str:
    return (
        f"{_built(case['dim'], case['lr'])}, then {case['steps']} x (yhat = forward(x); "
        f"backward(x, yhat, y); optimize()) on {case['m']} separable float32 points"
    )


def _training_scenario(LR: type, case: Case, obs: Recorder) -> None:
    """Trained from its own initial w and b; the judge decides whether it learned enough."""
    x, y = separable_blobs(case["dim"], case["m"], case["seed"])
    model = _build(obs, LR, case["dim"], case["lr"], "model")
    if model is None:
        return
    call = _training_call(case)
    for _step in range(case["steps"]):
        yhat = obs.call(call, model.forward, x)
        obs.call(call, model.backward, x, yhat, y)
        obs.call(call, model.optimize)
    obs["yhat"] = obs.call(call, model.forward, x)


def _training_reference(case: Case) -> dict:
    """The labels, and the accuracy the same loop reaches with autograd and plain SGD."""
    x, y = separable_blobs(case["dim"], case["m"], case["seed"])
    w = torch.zeros(x.shape[0], 1, requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    for _step in range(case["steps"]):
        dw, db = torch.autograd.grad(F.binary_cross_entropy_with_logits(w.T @ x + b, y), (w, b))
        with torch.no_grad():  # plain SGD, what optim.SGD(lr) does: p -= lr * grad
            w -= case["lr"] * dw
            b -= case["lr"] * db
    with torch.no_grad():
        accuracy = float(((w.T @ x + b > 0).to(y.dtype) == y).double().mean())
    return {"y": y, "accuracy": accuracy}


def _training_judge(case: Case, reference: dict, obs: Observation) -> None:
    _judge_build(obs, case["dim"], case["lr"], "model")
    call = _training_call(case)
    yhat, y = obs["yhat"], reference["y"]
    expect(
        isinstance(yhat, torch.Tensor) and bool(torch.isfinite(yhat).all()),
        call,
        _("finite predictions"),
        yhat,
        _("the predictions after training are not finite")
        if isinstance(yhat, torch.Tensor)
        else _("forward(x) returned {value}, not a tensor").format(value=f"{yhat!r:.60}"),
        hint=_("a step too large, or the wrong sign, makes w and b grow without bound"),
    )
    expect(
        tuple(yhat.shape) == tuple(y.shape),
        call,
        _("predictions of shape {shape}").format(shape=tuple(y.shape)),
        tuple(yhat.shape),
        _("the predictions have shape {shape}, expected {expected}").format(
            shape=tuple(yhat.shape), expected=tuple(y.shape)
        ),
    )
    accuracy = float(((yhat.detach() > 0.5).to(y.dtype) == y).to(torch.float64).mean())
    if accuracy < 0.95:
        fail(
            f"{call}: accuracy of yhat > 0.5",
            _(">= 0.95 (autograd and plain SGD reach {accuracy} from w = 0, b = 0)").format(
                accuracy=f"{reference['accuracy']:.3f}"
            ),
            round(accuracy, 3),
            _("accuracy {accuracy} after training, below 0.95").format(accuracy=f"{accuracy:.3f}"),
            hint=_("is b updated too? is the step -lr * gradient (downhill)?"),
        )


LR_TRAINING = Check(
    name="backward.lr_training",
    doc="LR, trained from its own initial w and b, reaches >= 95% accuracy on separable data",
    scenario=_training_scenario,
    reference=_training_reference,
    judge=_training_judge,
    visible=[{"dim": 2, "m": 200, "seed": 0, "steps": 500, "lr": 0.5}],
    hidden=lambda rng: [
        {"dim": rng.randint(2, 5), "m": 200, "seed": rng.getrandbits(32), "steps": 500, "lr": 0.5}
        for _ in range(2)
    ],
    refuses=OWN_GRADIENTS,
)
check_lr_training, check_lr_training_hidden = LR_TRAINING.functions()


# --------------------------------------------------------------------------------------------
# Swish: a custom torch.autograd.Function


def _swish_inputs(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    """x (scaled so both tails matter) and the vector v of backward(gradient=v), from the seed."""
    g = torch.Generator().manual_seed(case["seed"])
    x = (3 * torch.randn(*case["shape"], generator=g, dtype=DTYPE)).requires_grad_()
    v = torch.randn(*case["shape"], generator=g, dtype=DTYPE)
    return x, v


def _swish_call(case: Case) -> str:
    return f"Swish.apply(x), x of shape {tuple(case['shape'])} (float64)"


LARGE_SWISH_CALL = f"Swish.apply(x).sum().backward(), x = {LARGE_Z}"


def _gradcheck_input(x: torch.Tensor) -> torch.Tensor:
    return x.detach()[..., :4].clone().requires_grad_()


def _gradcheck_call(shape: tuple[int, ...]) -> str:
    return f"torch.autograd.gradcheck(Swish.apply, (x,)), x of shape {shape} (float64)"


def _swish_scenario(Swish: Any, case: Case, obs: Recorder) -> None:
    obs["swish"] = Swish
    obs["is_function"] = isinstance(Swish, type) and issubclass(Swish, torch.autograd.Function)
    if not obs["is_function"]:
        return
    obs["name"] = Swish.__name__
    x, v = _swish_inputs(case)
    call = _swish_call(case)
    out = obs.call(call, Swish.apply, x)
    obs["out"] = out
    grad_fn = getattr(out, "grad_fn", None)
    obs["grad_fn"] = grad_fn
    obs["grad_fn.class"] = [type(grad_fn).__name__, type(grad_fn).__qualname__]
    obs["own"] = getattr(grad_fn, "_forward_cls", None) is Swish
    saved = obs.call(f"{call}.grad_fn.saved_tensors", getattr, grad_fn, "saved_tensors", ())
    obs["saved"] = tuple(saved) if isinstance(saved, (tuple, list)) else saved

    obs["grad.random"] = _student_gradient(obs, Swish, x, v, _random_gradient_call(case))
    record_gradcheck(obs, Swish, _gradcheck_input(x))
    large = torch.tensor(LARGE_Z, dtype=DTYPE)
    obs["grad.large"] = _student_gradient(
        obs, Swish, large, torch.ones_like(large), LARGE_SWISH_CALL
    )


def _random_gradient_call(case: Case) -> str:
    return f"{_swish_call(case)}, then backward(gradient=v), v random"


def _student_gradient(
    obs: Recorder, Swish: Any, x: torch.Tensor, v: torch.Tensor, call: str
) -> Any:
    """x.grad after Swish.apply(x).backward(gradient=v): the student's backward at work."""
    x = x.detach().clone().requires_grad_()
    out = obs.call(call, Swish.apply, x)
    return obs.call(call, lambda: torch.autograd.grad(out, x, v)[0])


def record_gradcheck(obs: Recorder, Swish: Any, x: torch.Tensor) -> None:
    """gradcheck's verdict on the student's Function: its backward against finite differences
    of its own forward (so no torch reference is involved)."""
    try:
        passed = torch.autograd.gradcheck(Swish.apply, (x,), eps=1e-6, atol=1e-5, rtol=1e-4)
    except GradcheckError as error:
        obs["gradcheck"] = {"differ": (str(error).strip().splitlines() or [""])[0]}
    except Exception as error:  # noqa: BLE001 - the student's exception is the observation
        obs["gradcheck"] = {"raised": error}
    else:
        obs["gradcheck"] = {"passed": passed}


def judge_gradcheck(shape: tuple[int, ...], obs: Observation) -> None:
    call = _gradcheck_call(shape)
    result = obs["gradcheck"]
    if not isinstance(result, dict):
        fail(call, True, result, _("no verdict of gradcheck came back"))
    if "differ" in result:
        raise CheckFailure(
            message(
                call,
                _("your backward disagrees with finite differences of your forward"),
                [
                    "  "
                    + _(
                        "gradcheck compares your backward with finite differences of your "
                        "forward and found they differ:"
                    ),
                    f"  {result['differ']}",
                ],
            )
        )
    error = result.get("raised")
    if isinstance(error, RaisedError):
        raise CheckFailure(raised_message(call, error.type, error.message))
    passed = result.get("passed")
    expect(
        passed is True,
        call,
        True,
        passed,
        _("gradcheck returned {value}, not True").format(value=repr(passed)),
    )


def _swish_reference(case: Case) -> dict:
    x, v = _swish_inputs(case)
    x = x.detach().clone().requires_grad_()
    out = F.silu(x)
    (grad,) = torch.autograd.grad(out, x, v)
    large = torch.tensor(LARGE_Z, dtype=DTYPE, requires_grad=True)
    (grad_large,) = torch.autograd.grad(F.silu(large), large, torch.ones_like(large))
    return {
        "out": out.detach(),
        "grad.random": (grad, v, x.detach()),
        "grad.large": (grad_large, torch.ones_like(grad_large), large.detach()),
    }


def _swish_judge(case: Case, reference: dict, obs: Observation) -> None:
    expect(
        obs["is_function"],
        "Swish",
        _("a subclass of torch.autograd.Function"),
        obs["swish"],
        _("Swish is {value}, not a subclass of torch.autograd.Function").format(
            value=f"{obs['swish']!r:.60}"
        ),
        hint=_(
            "class Swish(torch.autograd.Function) with static methods forward(ctx, x) and "
            "backward(ctx, grad_output)"
        ),
    )
    call = _swish_call(case)
    expect_tensor(call, reference["out"], obs["out"], atol=1e-12, rtol=1e-10)

    name = obs["name"]
    node_class = obs["grad_fn.class"]
    expect(
        obs["own"] is True and node_class == [f"{name}Backward"] * 2,
        f"{call}.grad_fn",
        _("{name}Backward (your Function's node in the graph)").format(name=name),
        obs["grad_fn"],
        _("the output's grad_fn is {node}, not {name}Backward").format(
            node=_node_name(node_class, obs["grad_fn"]), name=name
        ),
        hint=_(
            "Swish.apply must return the tensor made by forward, so that autograd calls your "
            "backward"
        ),
    )
    saved = obs["saved"]
    expect(
        isinstance(saved, tuple) and len(saved) > 0,
        f"{call}.grad_fn.saved_tensors",
        _("the tensors backward needs"),
        saved,
        _("nothing was saved with ctx.save_for_backward"),
        hint=_(
            "keep tensors for backward with ctx.save_for_backward(...), not as ctx attributes: "
            "it guards against in-place changes and frees them after backward"
        ),
    )

    _judge_gradient(_random_gradient_call(case), *reference["grad.random"], obs["grad.random"])
    shape = tuple(case["shape"][:-1]) + (min(4, case["shape"][-1]),)
    judge_gradcheck(shape, obs)
    _judge_gradient(LARGE_SWISH_CALL, *reference["grad.large"], obs["grad.large"])


def _node_name(node_class: Any, grad_fn: Any) -> str:
    """The class name of the output's node, as the scenario recorded it."""
    if isinstance(node_class, list) and node_class and isinstance(node_class[0], str):
        return "None" if node_class[0] == "NoneType" else node_class[0]
    return f"{grad_fn!r:.60}"


def _judge_gradient(
    call: str, expected: torch.Tensor, v: torch.Tensor, x: torch.Tensor, got: Any
) -> None:
    """x.grad after backward(gradient=v) at ``x``; the hint names the slip the numbers show."""
    if isinstance(got, torch.Tensor) and not bool(torch.isfinite(got).all()):
        where = _first_non_finite(got, tuple(x.reshape(-1).tolist()))
        fail(
            f"{call}: x.grad",
            expected,
            got,
            _("nan or inf in the gradient: {value} at z = {z}").format(value=where[0], z=where[1])
            if where
            else _("nan or inf in the gradient"),
            hint=_(
                "write it with sigmoid(x), which stays in [0, 1], instead of exp(-x), which "
                "overflows for x = -1000"
            ),
        )
    why = tensor_difference(expected, got, atol=1e-10, rtol=1e-8)
    if why is None:
        return
    hint = ""
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == x.dtype:
        hint = _gradient_slip(got.detach(), expected, v, x)
    fail(f"{call}: x.grad", expected, got, why, hint=hint)


def _product_rule() -> str:
    return _("the product rule: d/dx[x·σ(x)] = σ(x) + x·σ(x)(1−σ(x))")


def _gradient_slip(got: torch.Tensor, expected: torch.Tensor, v: torch.Tensor, x: torch.Tensor):
    """The usual mistake whose numbers ``got`` are, as a hint; "" when it is none of them.

    Each slip is computed here, on the judge's side, at the same ``x`` and ``v``: the gradient
    without grad_output, and the derivatives that forget a term of the product rule (with and
    without grad_output).
    """

    def matches(value: torch.Tensor) -> bool:
        return torch.allclose(got, value, atol=1e-10, rtol=1e-8)

    if matches(expected / v):
        return _("backward must multiply by grad_output (the chain rule)")
    s = torch.sigmoid(x)
    # Each slip: its derivative, the hint when it is times grad_output, the hint when it is not.
    slips = [
        (
            s,
            _("{rule}; your backward computes σ(x) alone: the x·σ(x)(1−σ(x)) term is missing"),
            _(
                "{rule}; your backward computes σ(x) alone: the x·σ(x)(1−σ(x)) term is "
                "missing, not times grad_output"
            ),
        ),
        (
            s * (1 - s),
            _("{rule}; your backward computes σ(x)(1−σ(x)), the derivative of σ alone"),
            _(
                "{rule}; your backward computes σ(x)(1−σ(x)), the derivative of σ alone, "
                "not times grad_output"
            ),
        ),
        (
            x * s * (1 - s),
            _("{rule}; your backward computes x·σ(x)(1−σ(x)) alone: the σ(x) term is missing"),
            _(
                "{rule}; your backward computes x·σ(x)(1−σ(x)) alone: the σ(x) term is "
                "missing, not times grad_output"
            ),
        ),
    ]
    for derivative, times_v, alone in slips:
        if matches(v * derivative):
            return times_v.format(rule=_product_rule())
        if matches(derivative):
            return alone.format(rule=_product_rule())
    return ""


def _swish_hidden(rng: random.Random) -> list[Case]:
    return [
        {
            "shape": [rng.randint(1, 6) for _ in range(rng.randint(1, 3))],
            "seed": rng.getrandbits(32),
        }
        for _ in range(4)
    ]


SWISH = Check(
    name="backward.swish",
    doc="Swish.apply is SiLU, with its own backward: values, gradients, gradcheck, large |x|",
    scenario=_swish_scenario,
    reference=_swish_reference,
    judge=_swish_judge,
    visible=[{"shape": [2, 3], "seed": 0}],
    hidden=_swish_hidden,
    refuses=OWN_SWISH,
)
check_swish, check_swish_hidden = SWISH.functions()


__all__ = [
    "check_lr_backward",
    "check_lr_backward_hidden",
    "check_lr_finite_differences",
    "check_lr_finite_differences_hidden",
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
