"""The 04_optimizer checks pass the instructor's solution and fail realistic mistakes."""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import solution_namespace

from autograder import CheckFailure
from autograder import optimizer as checks
from autograder.checking import REGISTRY, Delegation, run_here

SOLUTION = solution_namespace("04_optimizer")
SGD, Adam = SOLUTION["SGD"], SOLUTION["Adam"]


def _start(closure):
    """What every step() does first: the closure, with gradients enabled."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class SGDRule(SGD):
    """The solution's loop over groups and parameters, with the update rule pluggable."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = _start(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(self.update(p, p.grad, group), alpha=-group["lr"])
        return loss

    def buffer(self, p, d_p, group, first):
        """The torch rule for the momentum buffer (``first`` builds it on the first step)."""
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = first(d_p)
        else:
            state["momentum_buffer"].mul_(group["momentum"]).add_(d_p, alpha=1 - group["dampening"])
        return state["momentum_buffer"]


class ZeroStartedBuffer(SGDRule):
    """Starts the momentum buffer at zeros, so dampening already shrinks the first step."""

    def update(self, p, d_p, group):
        d_p = d_p + group["weight_decay"] * p
        if group["momentum"] == 0:
            return d_p
        buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
        buf.mul_(group["momentum"]).add_(d_p, alpha=1 - group["dampening"])
        return d_p + group["momentum"] * buf if group["nesterov"] else buf


class NesterovUsesBuffer(SGDRule):
    """With nesterov=True, steps along the buffer instead of g + momentum * buf."""

    def update(self, p, d_p, group):
        d_p = d_p + group["weight_decay"] * p
        if group["momentum"] == 0:
            return d_p
        return self.buffer(p, d_p, group, torch.clone).clone()


class WeightDecayAfterMomentum(SGDRule):
    """Adds weight_decay * p to the step after the buffer, not to the gradient before it."""

    def update(self, p, d_p, group):
        if group["momentum"] != 0:
            buf = self.buffer(p, d_p, group, torch.clone)
            d_p = d_p + group["momentum"] * buf if group["nesterov"] else buf.clone()
        return d_p + group["weight_decay"] * p


class IgnoresDampening(SGDRule):
    """Treats dampening as 0: buf = momentum * buf + g."""

    def update(self, p, d_p, group):
        d_p = d_p + group["weight_decay"] * p
        if group["momentum"] == 0:
            return d_p
        buf = self.buffer(p, d_p, {**group, "dampening": 0.0}, torch.clone)
        return d_p + group["momentum"] * buf if group["nesterov"] else buf.clone()


class BufferAliasesGrad(SGDRule):
    """Stores the first gradient itself as the buffer, so zero_grad(set_to_none=False) and
    the next backward() overwrite it."""

    def update(self, p, d_p, group):
        if group["weight_decay"] != 0:
            d_p = d_p + group["weight_decay"] * p
        if group["momentum"] == 0:
            return d_p
        buf = self.buffer(p, d_p, group, lambda grad: grad)
        return d_p + group["momentum"] * buf if group["nesterov"] else buf.clone()


class WeightDecayInPlace(SGDRule):
    """Adds weight decay into p.grad in place: right update, but the caller's .grad changes."""

    def update(self, p, d_p, group):
        d_p.add_(p, alpha=group["weight_decay"])
        if group["momentum"] == 0:
            return d_p
        buf = self.buffer(p, d_p, group, torch.clone)
        return d_p + group["momentum"] * buf if group["nesterov"] else buf.clone()


class DefaultLearningRate(SGD):
    """Uses the constructor's lr for every group, ignoring a group's own lr."""

    @torch.no_grad()
    def step(self, closure=None):
        lrs = [group["lr"] for group in self.param_groups]
        for group in self.param_groups:
            group["lr"] = self.defaults["lr"]
        try:
            return super().step(closure)
        finally:
            for group, lr in zip(self.param_groups, lrs, strict=True):
                group["lr"] = lr


class FitsVisibleSizes(SGD):
    """Correct on the visible network's tensor sizes only; doubles every other update."""

    @torch.no_grad()
    def step(self, closure=None):
        before = [p.clone() for group in self.param_groups for p in group["params"]]
        loss = super().step(closure)
        params = [p for group in self.param_groups for p in group["params"]]
        for p, old in zip(params, before, strict=True):
            if p.numel() not in (15, 5, 10, 2):
                p.add_(p - old)
        return loss


class ZeroGradInPlace(SGD):
    """Overrides zero_grad with the pre-2.0 behaviour: always fill with zeros."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.zero_()


class ZeroGradForgotten(SGD):
    """Overrides zero_grad with a method that does nothing."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass


class NoneGradAsZeros(SGD):
    """Replaces a missing gradient by zeros, so weight decay still moves the parameter."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
        return super().step(closure)


class NoneGradCrashes(SGD):
    """Assumes every parameter has a gradient."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = _start(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(p.grad.add(p, alpha=group["weight_decay"]), alpha=-group["lr"])
        return loss


class BufferOutsideState(SGDRule):
    """Keeps momentum buffers in its own dict, so state_dict() does not save them."""

    def update(self, p, d_p, group):
        buffers = self.__dict__.setdefault("buffers", {})
        d_p = d_p + group["weight_decay"] * p
        if group["momentum"] == 0:
            return d_p
        if p not in buffers:
            buffers[p] = d_p.clone()
        else:
            buffers[p].mul_(group["momentum"]).add_(d_p, alpha=1 - group["dampening"])
        return d_p + group["momentum"] * buffers[p] if group["nesterov"] else buffers[p].clone()


class ClosureWithoutGrad(SGD):
    """Calls the closure inside step's no_grad, so loss.backward() cannot work."""

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            closure()
        return super().step()


class ClosureIgnored(SGD):
    """Accepts a closure but never calls it."""

    @torch.no_grad()
    def step(self, closure=None):
        return super().step()


class InheritsTorchSGD(torch.optim.SGD):
    """Borrows torch's update rule instead of writing one."""


class NoValidationSGD(SGD):
    """Accepts every argument."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov,
        )  # fmt: skip
        torch.optim.Optimizer.__init__(self, params, defaults)


class AssertValidationSGD(NoValidationSGD):
    """Validates with assert: the right idea, but AssertionError is not torch's ValueError."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        assert lr >= 0 and momentum >= 0 and weight_decay >= 0
        assert not nesterov or (momentum > 0 and dampening == 0)
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)


class RejectsZeroLearningRate(NoValidationSGD):
    """Rejects lr=0, which torch accepts."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        if lr <= 0 or momentum < 0 or weight_decay < 0:
            raise ValueError("invalid")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("invalid")
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)


class NesterovUnchecked(NoValidationSGD):
    """Checks the signs but lets nesterov through without momentum."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError("invalid")
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)


# ------------------------------------------------------------------------------------- Adam


class AdamRule(Adam):
    """The solution's loop with the moment updates and the step pluggable."""

    bias_correction = True
    eps_inside = False
    decoupled = False

    @torch.no_grad()
    def step(self, closure=None):
        loss = _start(closure)
        for group in self.param_groups:
            beta1, beta2 = self.betas(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if self.decoupled:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                else:
                    grad = grad + group["weight_decay"] * p
                state = self.slot(p)
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
                t = self.t(state)
                state["m"].mul_(beta1).add_(grad, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                m, v = state["m"], state["v"]
                if self.bias_correction:
                    m, v = m / (1 - beta1**t), v / (1 - beta2**t)
                eps = group["eps"]
                denom = (v + eps).sqrt() if self.eps_inside else v.sqrt() + eps
                p.sub_(group["lr"] * m / denom)
        return loss

    def betas(self, group):
        return group["betas"]

    def slot(self, p):
        return self.state[p]

    def t(self, state):
        return state["step"]


class AdamWeightDecayInPlace(AdamRule):
    """Adds weight decay into p.grad in place."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = _start(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.add_(p, alpha=group["weight_decay"])
        weight_decays = [group.pop("weight_decay") for group in self.param_groups]
        try:
            for group in self.param_groups:
                group["weight_decay"] = 0.0
            super().step()
        finally:
            for group, weight_decay in zip(self.param_groups, weight_decays, strict=True):
                group["weight_decay"] = weight_decay
        return loss


class NoBiasCorrection(AdamRule):
    """Uses m and v as they are, so the first steps are too small."""

    bias_correction = False


class EpsInsideSqrt(AdamRule):
    """Divides by sqrt(v + eps) instead of sqrt(v) + eps."""

    eps_inside = True


class DecoupledWeightDecay(AdamRule):
    """AdamW's weight decay (shrink p directly) instead of Adam's (add to the gradient)."""

    decoupled = True


class DefaultBetas(AdamRule):
    """Reads betas from the constructor's defaults, ignoring a group's own betas."""

    def betas(self, group):
        return self.defaults["betas"]


class StepCountFromZero(AdamRule):
    """Bias-corrects with t - 1, the count before this step."""

    def t(self, state):
        return max(state["step"] - 1, 1)


class NoValidationAdam(Adam):
    """Accepts every argument."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        torch.optim.Optimizer.__init__(self, params, defaults)


class BetasMayBeZeroOrOne(NoValidationAdam):
    """Checks betas with 0 < beta <= 1: rejects 0, accepts 1."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 < b <= 1 for b in betas):
            raise ValueError("invalid")
        super().__init__(params, lr, betas, eps, weight_decay)


class OnlyFirstBetaChecked(NoValidationAdam):
    """Validates lr, eps, weight_decay and betas[0], but not betas[1]."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not 0 <= betas[0] < 1:
            raise ValueError("invalid")
        super().__init__(params, lr, betas, eps, weight_decay)


class AssertValidationAdam(NoValidationAdam):
    """Validates with assert instead of raising ValueError."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        assert lr >= 0 and eps >= 0 and weight_decay >= 0
        assert all(0 <= b < 1 for b in betas)
        super().__init__(params, lr, betas, eps, weight_decay)


class MomentsOutsideState(AdamRule):
    """Keeps its moments on the optimizer object, keyed by parameter, not in self.state."""

    def slot(self, p):
        return self.__dict__.setdefault("moments", {}).setdefault(p, {})


# ------------------------------------------------------------------------------------- tests


def test_solution_passes_visible_and_hidden_cases():
    checks.check_sgd(SGD)
    checks.check_sgd_hidden(SGD)
    checks.check_sgd_arguments(SGD)
    checks.check_sgd_arguments_hidden(SGD)
    checks.check_adam(Adam)
    checks.check_adam_hidden(Adam)
    checks.check_adam_arguments(Adam)
    checks.check_adam_arguments_hidden(Adam)


def test_the_harness_of_the_wrong_adams_is_right_without_its_mistake():
    checks.check_adam(AdamRule)


def names_the_mistake(check, wrong, first: str, hint: str) -> str:
    """The message; its first line holds ``first`` (the difference), its hint ``hint``."""
    with pytest.raises(CheckFailure) as failure:
        check(wrong)
    message = str(failure.value)
    assert first in message.splitlines()[0], message
    assert hint in message.partition("\n  hint: ")[2], message
    return message


ZERO_GRAD = "zero_grad() sets every .grad to None by default (set_to_none=True)"
STATE = "keep each parameter's running values in self.state[p]"

#: Each wrong SGD; what the first line of its message says; and words of its hint.
SGD_MISTAKES = [
    (ZeroStartedBuffer, "SGD, after step 1: group 0", "no dampening"),
    (NesterovUsesBuffer, "SGD, after step 1: group 1", "lr * (1 + momentum) * g with nesterov"),
    (WeightDecayAfterMomentum, "SGD, after step 2: group 0", "weight decay is added to g"),
    (IgnoresDampening, "SGD, after step 2: group 0", "(1 - dampening) * g"),
    (DefaultLearningRate, "SGD, after step 1: group 0", "the group's own lr"),
    (BufferAliasesGrad, "SGD, after step 2: group 1", "(torch.clone), not as p.grad itself"),
    (
        WeightDecayInPlace,
        "SGD, after step 1: .grad of parameter '0.weight': step() changed p.grad",
        "step() must not change p.grad",
    ),
    (
        ZeroGradInPlace,
        "opt.zero_grad() after loss.backward(): .grad of parameter '0.weight' is a tensor of "
        "zeros, expected None",
        ZERO_GRAD,
    ),
    (ZeroGradForgotten, "'0.weight' is a tensor whose largest |value| is", ZERO_GRAD),
    (
        NoneGradAsZeros,
        "SGD, after step 1: the parameter whose .grad is None: it moved",
        "skip parameters whose .grad is None",
    ),
    (
        BufferOutsideState,
        "opt.state[p] for parameter '0.weight': opt.state[p] is None; torch keeps "
        "['momentum_buffer'] there",
        STATE,
    ),
    (
        ClosureWithoutGrad,
        "SGD, step 20: raised RuntimeError: element 0 of tensors does not require grad",
        "call the closure inside `with torch.enable_grad():`",
    ),
    (
        ClosureIgnored,
        "SGD, step 20: loss = opt.step(closure): step(closure) returned None, not the closure's",
        "step(closure) calls closure()",
    ),
    (
        InheritsTorchSGD,
        "class SGD('SGD',): SGD inherits torch's torch.optim.sgd.SGD",
        "do not inherit from torch's SGD",
    ),
]


@pytest.mark.parametrize(
    ("wrong", "first", "hint"), SGD_MISTAKES, ids=lambda x: getattr(x, "__name__", "")
)
def test_sgd_check_names_the_mistake(wrong, first, hint):
    names_the_mistake(checks.check_sgd, wrong, first, hint)


def test_sgd_whose_step_crashes_on_a_missing_gradient_names_the_error():
    with pytest.raises(CheckFailure) as failure:
        checks.check_sgd(NoneGradCrashes)
    assert "'NoneType' object has no attribute" in str(failure.value)


def test_sgd_step_message_shows_torch_and_yours_with_a_hint():
    with pytest.raises(CheckFailure) as failure:
        checks.check_sgd(ZeroStartedBuffer)
    text = str(failure.value)
    assert "\n  opt = SGD([{'params': net[0].parameters(), 'lr': 0.05" in text, "names the call"
    assert "parameter '0.weight'" in text and "dampening=0.3" in text
    assert "torch gives:" in text and "yours gave:" in text and "values differ at index" in text
    assert "no dampening" in text


@pytest.mark.parametrize(
    "wrong",
    [NoValidationSGD, AssertValidationSGD, RejectsZeroLearningRate, NesterovUnchecked],
    ids=lambda x: x.__name__,
)
def test_sgd_argument_check_catches_missing_or_wrong_validation(wrong):
    with pytest.raises(CheckFailure) as failure:
        checks.check_sgd_arguments(wrong)
    assert "SGD([w]" in str(failure.value)
    with pytest.raises(CheckFailure):
        checks.check_sgd_arguments_hidden(wrong)


def test_argument_message_compares_exception_types():
    with pytest.raises(CheckFailure) as failure:
        checks.check_sgd_arguments(AssertValidationSGD)
    text = str(failure.value)
    assert text.splitlines()[0] == (
        "SGD([w], lr=-0.01): raised AssertionError, but torch raises ValueError: "
        "Invalid learning rate: -0.01"
    )
    assert (
        "torch gives: 'raises ValueError" in text and "yours gave: 'raises AssertionError" in text
    )


@pytest.mark.parametrize(
    ("wrong", "first"),
    [
        (NoValidationSGD, "SGD([w], lr=-0.01): no exception, but torch raises ValueError"),
        (RejectsZeroLearningRate, "SGD([w], lr=0.0): raised ValueError, but torch accepts"),
        (NesterovUnchecked, "SGD([w], nesterov=True): no exception, but torch raises ValueError"),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_argument_message_says_on_its_first_line_what_torch_does(wrong, first):
    with pytest.raises(CheckFailure) as failure:
        checks.check_sgd_arguments(wrong)
    assert str(failure.value).splitlines()[0].startswith(first), str(failure.value)


ADAM_MISTAKES = [
    (NoBiasCorrection, "Adam, after step 1: group 0", "the bias corrections"),
    (EpsInsideSqrt, "Adam, after step 1: group 0", "eps added outside the square root"),
    (DecoupledWeightDecay, "Adam, after step 1: group 1", "weight decay (added to the gradient)"),
    (
        AdamWeightDecayInPlace,
        "Adam, after step 1: .grad of parameter '2.weight': step() changed p.grad",
        "step() must not change p.grad",
    ),
    (DefaultBetas, "Adam, after step 2: group 0", "earlier steps matched"),
    (StepCountFromZero, "Adam, after step 2: group 0", "t counts this parameter's steps"),
    (
        MomentsOutsideState,
        "opt.state[p] is None; torch keeps ['exp_avg', 'exp_avg_sq', 'step'] there",
        STATE,
    ),
]


@pytest.mark.parametrize(
    ("wrong", "first", "hint"), ADAM_MISTAKES, ids=lambda x: getattr(x, "__name__", "")
)
def test_adam_check_names_the_mistake(wrong, first, hint):
    message = names_the_mistake(checks.check_adam, wrong, first, hint)
    assert "\n  opt = Adam([{'params'" in message


@pytest.mark.parametrize(
    "wrong",
    [NoValidationAdam, BetasMayBeZeroOrOne, OnlyFirstBetaChecked, AssertValidationAdam],
    ids=lambda x: x.__name__,
)
def test_adam_argument_check_catches_missing_or_wrong_validation(wrong):
    with pytest.raises(CheckFailure) as failure:
        checks.check_adam_arguments(wrong)
    assert "Adam([w]" in str(failure.value)
    with pytest.raises(CheckFailure):
        checks.check_adam_arguments_hidden(wrong)


@pytest.mark.parametrize(
    ("wrong", "check"),
    [
        (NoBiasCorrection, checks.ADAM_CHECK),
        (EpsInsideSqrt, checks.ADAM_CHECK),
        (ZeroStartedBuffer, checks.SGD_CHECK),
        (FitsVisibleSizes, checks.SGD_CHECK),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_hidden_cases_fail_wrong_rules(wrong, check):
    cases = check.cases(hidden=True) + check.cases(hidden=True)  # six runs
    with pytest.raises(CheckFailure):
        run_here(check, wrong, cases)


def test_code_fitted_to_the_visible_sizes_passes_visible_only():
    checks.check_sgd(FitsVisibleSizes)
    with pytest.raises(CheckFailure):
        checks.check_sgd_hidden(FitsVisibleSizes)


def test_reference_is_bound_before_student_code_runs(monkeypatch):
    monkeypatch.setattr(torch.optim, "SGD", NoneGradAsZeros)
    checks.check_sgd(SGD)


def test_unimplemented_stub_is_reported_as_such():
    class Stub(torch.optim.Optimizer):
        def __init__(self, params, **kwargs):
            raise NotImplementedError

    for check in (checks.check_sgd, checks.check_sgd_arguments, checks.check_adam_arguments):
        with pytest.raises(CheckFailure, match="not implemented yet"):
            check(Stub)


def test_hyperparameters_cannot_be_faked_with_an_always_equal_object():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    class FakeGroups(SGD):
        def __init__(self, params, **kwargs):
            super().__init__(params, **kwargs)
            for group in self.param_groups:
                group["momentum"] = AlwaysEqual()

    with pytest.raises(CheckFailure, match="hyperparameters"):
        checks.check_sgd(FakeGroups)


# ------------------------------------------------------------- code that reads the reference


def _callers_local(predicate):
    """A local named like the reference in a calling frame, as a cheat would look for it."""
    frame = sys._getframe(2)
    while frame is not None:
        for name in ("ref", "reference", "expected"):
            value = frame.f_locals.get(name)
            if name in frame.f_locals and predicate(value):
                return True, value
        frame = frame.f_back
    return False, None


class CopiesTorchsParameters:
    """Finds torch's optimizer in a caller's frame (stepped just before) and copies its
    parameters and state; takes no step of its own when there is none to copy."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = _start(closure)
        mine = [p for group in self.param_groups for p in group["params"]]

        def is_torchs(value):
            if not isinstance(value, torch.optim.Optimizer) or value is self:
                return False
            theirs = [p for group in value.param_groups for p in group["params"]]
            return [p.shape for p in theirs] == [p.shape for p in mine]

        found, ref = _callers_local(is_torchs)
        if found:
            theirs = [p for group in ref.param_groups for p in group["params"]]
            for p, q in zip(mine, theirs, strict=True):
                p.copy_(q)
                self.state[p] = {key: value for key, value in ref.state[q].items()}
        return loss


class CopiesTorchsSGD(CopiesTorchsParameters, SGD):
    pass


class CopiesTorchsAdam(CopiesTorchsParameters, Adam):
    pass


class RaisesTorchsError(NoValidationSGD):
    """Raises the exception torch raised if a caller holds it; accepts everything otherwise."""

    def __init__(self, params, **kwargs):
        found, expected = _callers_local(lambda value: isinstance(value, Exception))
        if found:
            raise type(expected)(str(expected))
        super().__init__(params, **kwargs)


class RaisesTorchsAdamError(NoValidationAdam):
    def __init__(self, params, **kwargs):
        found, expected = _callers_local(lambda value: isinstance(value, Exception))
        if found:
            raise type(expected)(str(expected))
        super().__init__(params, **kwargs)


@pytest.mark.parametrize(
    ("cheat", "check"),
    [
        (CopiesTorchsSGD, checks.check_sgd),
        (CopiesTorchsSGD, checks.check_sgd_hidden),
        (CopiesTorchsAdam, checks.check_adam),
        (CopiesTorchsAdam, checks.check_adam_hidden),
        (RaisesTorchsError, checks.check_sgd_arguments),
        (RaisesTorchsError, checks.check_sgd_arguments_hidden),
        (RaisesTorchsAdamError, checks.check_adam_arguments),
        (RaisesTorchsAdamError, checks.check_adam_arguments_hidden),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_code_that_reads_the_reference_from_its_callers_fails(cheat, check):
    """The old checks stepped torch beside the student's optimizer, so these passed by copying;
    the scenario holds no reference, so there is nothing in the callers' frames to copy."""
    with pytest.raises(CheckFailure):
        check(cheat)


def test_every_check_refuses_handing_the_update_to_torch_optim():
    names = (
        "optimizer.sgd",
        "optimizer.sgd_arguments",
        "optimizer.adam",
        "optimizer.adam_arguments",
    )
    for name in names:
        assert REGISTRY[name].refuses == Delegation(
            task="the update", forbidden=("torch.optim",), allowed=("torch.optim.Optimizer",)
        )


def test_adam_inheriting_torchs_adam_is_refused():
    class InheritsTorchAdam(torch.optim.Adam):
        pass

    for check in (checks.check_adam, checks.check_adam_arguments):
        with pytest.raises(CheckFailure, match="do not inherit from torch's Adam"):
            check(InheritsTorchAdam)
