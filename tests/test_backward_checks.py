"""The 03_backward checks pass the instructor's solution and fail realistic mistakes."""

from __future__ import annotations

import json
import random
import sys

import pytest
import torch
from conftest import solution_namespace
from torch import nn

from autograder import CheckFailure, plain
from autograder import backward as checks
from autograder.checking import Delegation, Observation, Recorder

SOLUTION = solution_namespace("03_backward")
LR, Swish = SOLUTION["LR"], SOLUTION["Swish"]


# --- wrong LR implementations -----------------------------------------------------------------


class SeedNoteOptimize(LR):
    """The seed note's optimize: w is moved by dw, then by db; b never moves."""

    def optimize(self):
        self.w = self.w - self.lr * self.grads["dw"]
        self.w = self.w - self.lr * self.grads["db"]


class OnlyW(LR):
    """Forgets the bias in optimize."""

    def optimize(self):
        self.w = self.w - self.lr * self.grads["dw"]


class Uphill(LR):
    """Adds the gradient instead of subtracting it."""

    def optimize(self):
        self.w = self.w + self.lr * self.grads["dw"]
        self.b = self.b + self.lr * self.grads["db"]


class NoMean(LR):
    """Differentiates the summed loss: forgets the 1/m of the mean."""

    def backward(self, x, yhat, y):
        self.grads["dw"] = x @ (yhat - y).T
        self.grads["db"] = (yhat - y).sum()


class SignFlipped(LR):
    """Writes (y - yhat) where the derivative gives (yhat - y)."""

    def backward(self, x, yhat, y):
        m = x.shape[1]
        self.grads["dw"] = x @ (y - yhat).T / m
        self.grads["db"] = (y - yhat).sum() / m


class RowGradient(LR):
    """dw computed as (yhat - y) @ x.T: the right numbers as a (1, dim) row."""

    def backward(self, x, yhat, y):
        m = x.shape[1]
        self.grads["dw"] = (yhat - y) @ x.T / m
        self.grads["db"] = (yhat - y).sum() / m


class KeepdimBias(LR):
    """db summed with keepdim=True: shape (1, 1) instead of b's shape ()."""

    def backward(self, x, yhat, y):
        m = x.shape[1]
        self.grads["dw"] = x @ (yhat - y).T / m
        self.grads["db"] = (yhat - y).sum(dim=1, keepdim=True) / m


class Float32Gradients(LR):
    """Casts its gradients to float32, as code that hard-codes dtype=torch.float does."""

    def backward(self, x, yhat, y):
        super().backward(x, yhat, y)
        self.grads = {name: g.to(torch.float32) for name, g in self.grads.items()}


class SigmoidDerivativeLeftIn(LR):
    """Multiplies by sigmoid'(z) = yhat(1 - yhat), which the cross-entropy already cancelled."""

    def backward(self, x, yhat, y):
        m = x.shape[1]
        delta = (yhat - y) * yhat * (1 - yhat)
        self.grads["dw"] = x @ delta.T / m
        self.grads["db"] = delta.sum() / m


class ExpOverOnePlusExp(LR):
    """sigmoid as exp(z) / (1 + exp(z)): inf / inf = nan for large z."""

    @staticmethod
    def sigmoid(z):
        return torch.exp(z) / (1 + torch.exp(z))


class ClampedSigmoid(LR):
    """Avoids overflow by clamping z to [-10, 10], which changes the values."""

    @staticmethod
    def sigmoid(z):
        return 1 / (1 + torch.exp(-z.clamp(-10, 10)))


class SeedNoteInit(LR):
    """The seed note's __init__: plain tensors and no super().__init__()."""

    def __init__(self, dim, lr=0.01):
        self.lr = lr
        self.w = torch.zeros(dim, 1)
        self.b = torch.zeros(())
        self.grads = {"dw": torch.zeros(dim, 1), "db": torch.zeros(())}


class ParameterWeights(LR):
    """Makes w and b nn.Parameters, so a plain tensor cannot be assigned to them."""

    def __init__(self, dim, lr=0.01):
        nn.Module.__init__(self)
        self.lr = lr
        self.w = nn.Parameter(torch.zeros(dim, 1))
        self.b = nn.Parameter(torch.zeros(()))
        self.grads = {}


class ScalarShapedBias(LR):
    """Creates b with shape (1,) rather than a scalar tensor."""

    def __init__(self, dim, lr=0.01):
        super().__init__(dim, lr)
        self.b = torch.zeros(1)


def test_solution_passes_visible_and_hidden_cases():
    checks.check_lr_forward(LR)
    checks.check_lr_forward_hidden(LR)
    checks.check_lr_backward(LR)
    checks.check_lr_finite_differences(LR)
    checks.check_lr_backward_hidden(LR)
    checks.check_lr_optimize(LR)
    checks.check_lr_optimize_hidden(LR)
    checks.check_lr_training(LR)
    checks.check_lr_training_hidden(LR)
    checks.check_swish(Swish)
    checks.check_swish_hidden(Swish)


class PlainAttributesLR(LR):
    """The seed note's design, fixed: plain tensor attributes instead of buffers, in-place steps."""

    def __init__(self, dim, lr=0.01):
        nn.Module.__init__(self)
        self.lr = torch.scalar_tensor(lr)
        self.w = torch.zeros(dim, 1)
        self.b = torch.scalar_tensor(0)
        self.grads = {"dw": torch.zeros(dim, 1), "db": torch.scalar_tensor(0)}

    def optimize(self):
        self.w -= self.lr * self.grads["dw"]
        self.b -= self.lr * self.grads["db"]


def test_checks_accept_plain_tensor_attributes_and_in_place_updates():
    for check in (
        checks.check_lr_forward,
        checks.check_lr_backward,
        checks.check_lr_finite_differences,
        checks.check_lr_optimize,
        checks.check_lr_training,
    ):
        check(PlainAttributesLR)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (ExpOverOnePlusExp, "nan or inf for a large |z|"),
        (ClampedSigmoid, "values differ at index"),
        (SeedNoteInit, "call super().__init__() first"),
        (ParameterWeights, "not nn.Parameter"),
        (ScalarShapedBias, "b is a scalar tensor, shape ()"),
    ],
)
def test_forward_check_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailure) as failure:
        checks.check_lr_forward(wrong)
    assert message in str(failure.value)
    assert "LR(" in str(failure.value), "the message names the call"


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (NoMean, "m = 5 times too large"),
        (SignFlipped, "the sign is flipped"),
        (RowGradient, "shape (3, 1) expected, got (1, 3)"),
        (KeepdimBias, "shape () expected, got (1, 1)"),
        (Float32Gradients, "dtype torch.float64 expected, got torch.float32"),
        (SigmoidDerivativeLeftIn, "values differ at index"),
    ],
)
def test_backward_check_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailure) as failure:
        checks.check_lr_backward(wrong)
    assert message in str(failure.value)
    assert "backward(x, yhat, y)" in str(failure.value)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (NoMean, "divide by m"),
        (SignFlipped, "the sign is flipped"),
        (SigmoidDerivativeLeftIn, "values differ at index"),
    ],
)
def test_finite_difference_check_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailure) as failure:
        checks.check_lr_finite_differences(wrong)
    assert message in str(failure.value)
    assert "central differences" in str(failure.value)


def test_finite_differences_are_an_independent_oracle():
    """A backward that matches a *different* forward is caught without autograd's help."""

    class ShiftedForward(LR):
        def forward(self, x):
            return self.sigmoid(self.w.T @ x + 2 * self.b)

    with pytest.raises(CheckFailure, match="grads\\['db'\\] against central differences"):
        checks.check_lr_finite_differences(ShiftedForward)


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (SeedNoteOptimize, "then w: w was also moved by lr * db", "db is b's gradient"),
        (OnlyW, "then b: b did not change", "optimize() must update both w and b"),
        (Uphill, "then w: w took a step uphill", "subtract lr * gradient"),
    ],
)
def test_optimize_check_names_the_mistake(wrong, first, hint):
    with pytest.raises(CheckFailure) as failure:
        checks.check_lr_optimize(wrong)
    message = str(failure.value)
    assert first in message.splitlines()[0], message
    assert f"hint: {hint}" in message
    assert "optimize()" in message


@pytest.mark.parametrize("wrong", [SeedNoteOptimize, OnlyW, Uphill, SignFlipped])
def test_training_check_fails_models_that_do_not_learn(wrong):
    with pytest.raises(CheckFailure) as failure:
        checks.check_lr_training(wrong)
    assert "accuracy" in str(failure.value)
    assert "autograd and plain SGD reach 1.000" in str(failure.value)


def test_separable_blobs_are_separable_and_need_a_bias():
    x, y = checks.separable_blobs(dim=3, m=300, seed=7)
    assert x.shape == (3, 300) and y.shape == (1, 300)
    assert 0.1 < float(y.mean()) < 0.9, "both classes occur"
    # A least-squares hyperplane through the origin separates them badly.
    through_origin = torch.linalg.lstsq(x.T.double(), (2 * y - 1).T.double()).solution
    accuracy = float((((through_origin.T @ x.double()) > 0).double() == y).double().mean())
    assert accuracy < 0.8


def test_hidden_cases_catch_code_fitted_to_the_visible_case():
    class FitsVisibleOnly(LR):
        def backward(self, x, yhat, y):
            self.grads["dw"] = x @ (yhat - y).T / 5
            self.grads["db"] = (yhat - y).sum() / 5

    checks.check_lr_backward(FitsVisibleOnly)
    with pytest.raises(CheckFailure):
        checks.check_lr_backward_hidden(FitsVisibleOnly)


def test_unimplemented_stub_is_reported_as_such():
    class Stub(nn.Module):
        def __init__(self, dim, lr=0.01):
            raise NotImplementedError

    for check in (
        checks.check_lr_forward,
        checks.check_lr_backward,
        checks.check_lr_optimize,
        checks.check_lr_training,
    ):
        with pytest.raises(CheckFailure, match="not implemented yet"):
            check(Stub)


# --- wrong Swish implementations --------------------------------------------------------------


class SigmoidGradientOnly(torch.autograd.Function):
    """backward returns sigmoid's derivative: the product rule is forgotten."""

    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        (s,) = ctx.saved_tensors
        return grad_output * s * (1 - s)


class IgnoresGradOutput(torch.autograd.Function):
    """backward returns d swish / dx alone, not times grad_output."""

    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        x, s = ctx.saved_tensors
        return s * (1 + x * (1 - s))


class ExpInBackward(torch.autograd.Function):
    """The derivative written with exp(-x): right for moderate x, nan for x = -1000."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        e = torch.exp(-x)
        return grad_output * (1 + e + x * e) / (1 + e) ** 2


class SavedOnCtx(torch.autograd.Function):
    """Keeps x as a ctx attribute instead of ctx.save_for_backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        s = torch.sigmoid(ctx.x)
        return grad_output * s * (1 + ctx.x * (1 - s))


class BorrowsSilu(torch.autograd.Function):
    """Looks like a Function, but apply is torch's silu: its backward is never written."""

    apply = staticmethod(torch.nn.functional.silu)


class PlainClass:
    """Not a torch.autograd.Function at all."""

    @staticmethod
    def apply(x):
        return x * torch.sigmoid(x)


class SigmoidAsGradient(torch.autograd.Function):
    """backward returns grad_output * sigmoid(x): the x·σ'(x) half of the product rule is lost."""

    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        (s,) = ctx.saved_tensors
        return grad_output * s


class OnlyTheSecondTerm(torch.autograd.Function):
    """backward returns grad_output * x·σ(x)(1−σ(x)): the σ(x) half of the product rule is lost."""

    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        x, s = ctx.saved_tensors
        return grad_output * x * s * (1 - s)


class TwiceTheGradient(torch.autograd.Function):
    """The product rule applied, then doubled: wrong, but none of the slips the hint names."""

    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        x, s = ctx.saved_tensors
        return 2 * grad_output * s * (1 + x * (1 - s))


@pytest.mark.parametrize(
    ("wrong", "slip"),
    [
        (SigmoidAsGradient, "σ(x) alone: the x·σ(x)(1−σ(x)) term is missing"),
        (SigmoidGradientOnly, "σ(x)(1−σ(x)), the derivative of σ alone"),
        (OnlyTheSecondTerm, "x·σ(x)(1−σ(x)) alone: the σ(x) term is missing"),
    ],
)
def test_swish_backward_that_forgets_the_product_rule_gets_a_hint_naming_it(wrong, slip):
    with pytest.raises(CheckFailure) as failure:
        checks.check_swish(wrong)
    message = str(failure.value)
    assert "then backward(gradient=v), v random: x.grad: values differ" in message.splitlines()[0]
    assert (
        "hint: the product rule: d/dx[x·σ(x)] = σ(x) + x·σ(x)(1−σ(x)); "
        f"your backward computes {slip}"
    ) in message, message


def test_the_product_rule_hint_comes_only_when_the_numbers_match_a_slip():
    with pytest.raises(CheckFailure) as failure:
        checks.check_swish(TwiceTheGradient)
    assert "values differ at index" in str(failure.value)
    assert "hint" not in str(failure.value), str(failure.value)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (SigmoidGradientOnly, "values differ at index"),
        (IgnoresGradOutput, "must multiply by grad_output"),
        (ExpInBackward, "nan or inf in the gradient"),
        (SavedOnCtx, "ctx.save_for_backward"),
        (BorrowsSilu, "autograd calls your backward"),
        (PlainClass, "a subclass of torch.autograd.Function"),
    ],
)
def test_swish_check_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailure) as failure:
        checks.check_swish(wrong)
    assert message in str(failure.value)
    assert "Swish" in str(failure.value)


def _gradcheck(Swish):
    """gradcheck alone: recorded on the student's side, judged from the plain observations."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, dtype=torch.float64, generator=g, requires_grad=True)
    obs = Recorder()
    checks.record_gradcheck(obs, Swish, x)
    checks.judge_gradcheck((5,), Observation(plain.roundtrip(dict(obs))))


@pytest.mark.parametrize("wrong", [SigmoidGradientOnly, IgnoresGradOutput])
def test_gradcheck_alone_fails_a_wrong_backward(wrong):
    with pytest.raises(CheckFailure, match="gradcheck compares your backward") as failure:
        _gradcheck(wrong)
    first = str(failure.value).splitlines()[0]
    assert first.endswith(": your backward disagrees with finite differences of your forward")


def test_gradcheck_passes_the_solution():
    _gradcheck(Swish)


def test_unimplemented_swish_is_reported_as_such():
    class Stub(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            raise NotImplementedError

        @staticmethod
        def backward(ctx, grad_output):
            raise NotImplementedError

    with pytest.raises(CheckFailure, match="not implemented yet"):
        checks.check_swish(Stub)


FIRST_LINES = [
    (checks.check_lr_forward, ExpOverOnePlusExp, "model(x) for x = ", "nan at z = 1000"),
    (checks.check_lr_forward, ClampedSigmoid, "model(x) for x = ", "values differ at index (0, 0)"),
    (checks.check_lr_forward, SeedNoteInit, "LR(3, lr=0.01): ", "nn.Module.__init__ never"),
    (checks.check_lr_forward, ScalarShapedBias, "LR(3, lr=0.01).b.shape: ", "b has shape (1,)"),
    (checks.check_lr_backward, RowGradient, "grads['dw']: ", "shape (3, 1) expected, got (1, 3)"),
    (checks.check_lr_backward, SignFlipped, "grads['dw']: ", "values differ at index (0, 0)"),
    (checks.check_lr_optimize, OnlyW, "optimize(), then b: ", "b did not change"),
    (checks.check_lr_training, OnlyW, "accuracy of yhat > 0.5: ", "below 0.95"),
    (checks.check_swish, SigmoidGradientOnly, "v random: x.grad: ", "values differ at index"),
    (checks.check_swish, ExpInBackward, "x.grad: ", "nan or inf in the gradient: nan at z = -1000"),
    (checks.check_swish, SavedOnCtx, "saved_tensors: ", "nothing was saved"),
    (checks.check_swish, BorrowsSilu, ".grad_fn: ", "not BorrowsSiluBackward"),
    (checks.check_swish, PlainClass, "Swish: ", "not a subclass of torch.autograd.Function"),
]


@pytest.mark.parametrize(
    ("check", "wrong", "call", "difference"),
    FIRST_LINES,
    ids=[f"{c.__name__}-{w.__name__}" for c, w, _, _ in FIRST_LINES],
)
def test_the_first_line_alone_names_the_call_and_the_difference(check, wrong, call, difference):
    """nbgrader validate and `python -m autograder check` show a message's first line only."""
    with pytest.raises(CheckFailure) as failure:
        check(wrong)
    first = str(failure.value).splitlines()[0]
    assert call in first and difference in first, str(failure.value)
    assert first.index(call) < first.index(difference), first


# --- the reference is out of reach ------------------------------------------------------------


def _from_callers(names, accept):
    """The first local with one of ``names`` in a calling frame that ``accept``s, or None."""
    frame = sys._getframe(2)
    while frame is not None:
        for name in names:
            value = frame.f_locals.get(name)
            if accept(value):
                return value
        frame = frame.f_back
    return None


class GradientsFromTheChecker(LR):
    """Copies autograd's dw and db from the checking code's frames (the old check held them in
    locals named dw and db while it called backward); zeros when there are none."""

    def backward(self, x, yhat, y):
        def like(shape):
            return lambda value: isinstance(value, torch.Tensor) and tuple(value.shape) == shape

        dw = _from_callers(("dw",), like(tuple(self.w.shape)))
        db = _from_callers(("db",), like(()))
        self.grads["dw"] = dw.clone() if dw is not None else torch.zeros_like(self.w)
        self.grads["db"] = db.clone() if db is not None else torch.zeros_like(self.b)


def test_backward_cannot_read_autograd_from_the_calling_frames():
    with pytest.raises(CheckFailure, match="backward\\(x, yhat, y\\): grads\\['dw'\\]"):
        checks.check_lr_backward(GradientsFromTheChecker)
    with pytest.raises(CheckFailure, match="backward\\(x, yhat, y\\)"):
        checks.check_lr_backward_hidden(GradientsFromTheChecker)


class GradientFromTheChecker(torch.autograd.Function):
    """Returns a tensor named expected found in a calling frame as its gradient, else zeros."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        found = _from_callers(
            ("expected", "reference", "ref"),
            lambda value: isinstance(value, torch.Tensor) and value.shape == grad_output.shape,
        )
        return found.clone() if found is not None else grad_output * 0


def test_swish_backward_cannot_read_the_expected_gradient():
    with pytest.raises(CheckFailure, match="then backward\\(gradient=v\\), v random: x.grad"):
        checks.check_swish(GradientFromTheChecker)


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


@pytest.mark.parametrize(
    ("check", "name", "refuses"),
    [
        (checks.LR_FORWARD, "backward.lr_forward", OWN_GRADIENTS),
        (checks.LR_BACKWARD, "backward.lr_backward", OWN_GRADIENTS),
        (checks.LR_FINITE_DIFFERENCES, "backward.lr_finite_differences", OWN_GRADIENTS),
        (checks.LR_OPTIMIZE, "backward.lr_optimize", OWN_GRADIENTS),
        (checks.LR_TRAINING, "backward.lr_training", OWN_GRADIENTS),
        (
            checks.SWISH,
            "backward.swish",
            Delegation(
                task="Swish's forward and backward",
                forbidden=(
                    "torch.nn.functional.silu",
                    "torch.nn.modules.activation.SiLU",
                    "torch.autograd",
                    "torch.func",
                ),
                allowed=("torch.autograd.Function", "torch.autograd.function.FunctionCtx"),
                autograd=True,
            ),
        ),
    ],
)
def test_checks_are_named_and_their_cases_are_plain_data(check, name, refuses):
    assert check.name == name
    assert check.refuses == refuses
    for case in check.cases(hidden=False) + check.cases(hidden=True, rng=random.Random(3)):
        assert json.loads(json.dumps(case)) == case


def test_hidden_backward_cases_also_use_finite_differences():
    cases = checks.LR_BACKWARD.cases(hidden=True, rng=random.Random(5))
    assert {case["oracle"] for case in cases} == {"autograd", "finite differences"}
