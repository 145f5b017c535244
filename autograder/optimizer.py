"""Checks for chapter 04_optimizer: ``SGD`` and ``Adam`` stepped side by side with torch's.

Every check builds the same small float64 network twice, hands one copy to torch's optimizer
and the other to the student's, with two parameter groups whose hyperparameters differ, and
compares the parameters after every step. Torch's classes are bound when this module is
imported, so code that later replaces ``torch.optim.SGD`` does not change the reference.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.optim import SGD as TorchSGD
from torch.optim import Adam as TorchAdam
from torch.optim import Optimizer

from autograder.report import (
    CheckFailure,
    call_student,
    expect,
    fail,
    hidden_rng,
    tensor_difference,
)

DTYPE = torch.float64
ATOL, RTOL = 1e-10, 1e-8

SGD_KEYS = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
ADAM_KEYS = ("lr", "betas", "eps", "weight_decay")

#: What to look at when the first difference appears on the first step, or on a later one.
SGD_HINTS = {
    "first": "on a parameter's first step the buffer is the gradient itself (no dampening), so "
    "with g = grad + weight_decay * p the update is lr * g, or lr * (1 + momentum) * g with "
    "nesterov; check weight decay and the group's own lr and momentum",
    "later": "earlier steps matched: check the momentum buffer update "
    "buf = momentum * buf + (1 - dampening) * g, that weight decay is added to g before it, "
    "that nesterov uses g + momentum * buf, and that the buffer starts as a copy of the "
    "first gradient (torch.clone), not as p.grad itself, which backward() overwrites",
}
ADAM_HINTS = {
    "first": "check weight decay (added to the gradient), the bias corrections "
    "1 - beta1**t and 1 - beta2**t with t = 1 on the first step, eps added outside the square "
    "root, and the group's own lr, betas and eps",
    "later": "earlier steps matched: check the moment updates m = beta1 * m + (1 - beta1) * g, "
    "v = beta2 * v + (1 - beta2) * g**2 and that t counts this parameter's steps",
}

#: Arguments torch's constructors reject (or accept) on the visible cases.
SGD_ARGUMENTS = (
    {"lr": -0.01},
    {"momentum": -0.9},
    {"weight_decay": -1e-4},
    {"nesterov": True},
    {"momentum": 0.9, "dampening": 0.1, "nesterov": True},
    {"lr": 0.0},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.5, "dampening": 0.5},
)
ADAM_ARGUMENTS = (
    {"lr": -0.001},
    {"eps": -1e-8},
    {"betas": (1.0, 0.999)},
    {"betas": (0.9, 1.0)},
    {"betas": (-0.1, 0.999)},
    {"betas": (0.9, -0.5)},
    {"weight_decay": -0.01},
    {"lr": 0.0},
    {"betas": (0.0, 0.0)},
    {"eps": 0.0},
)


@dataclass(frozen=True)
class Case:
    """One side-by-side run: constructor defaults, two groups' overrides, sizes and seed."""

    defaults: dict[str, Any]
    groups: tuple[dict[str, Any], dict[str, Any]]
    sizes: tuple[int, int, int] = (3, 5, 2)
    samples: int = 8
    steps: int = 20
    seed: int = 0
    hints: dict[str, str] = field(default_factory=dict)


SGD_CASE = Case(
    defaults={"lr": 0.01, "momentum": 0.9},
    groups=(
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.02},
        {"momentum": 0.7, "nesterov": True},
    ),
)
ADAM_CASE = Case(
    defaults={"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.05},
    groups=(
        {"lr": 0.03, "betas": (0.8, 0.95), "eps": 0.01, "weight_decay": 0.0},
        {"eps": 1e-3},
    ),
)


# ----------------------------------------------------------------------------- public checks


def check_sgd(SGD: type, case: Case = SGD_CASE) -> None:
    """``SGD`` follows ``torch.optim.SGD`` step by step, on two parameter groups."""
    _check_optimizer("SGD", SGD, TorchSGD, SGD_KEYS, _with_hints(case, SGD_HINTS))


def check_sgd_hidden(SGD: type, cases: int = 3) -> None:
    """:func:`check_sgd` on hyperparameters, sizes, seeds and step counts drawn now."""
    rng = hidden_rng()
    for index in range(cases):
        case = _random_case(rng, _random_sgd_hyper, ("lr", "weight_decay"), cover=index == 0)
        _check_optimizer("SGD", SGD, TorchSGD, SGD_KEYS, _with_hints(case, SGD_HINTS))


def check_sgd_arguments(SGD: type, cases: tuple[dict[str, Any], ...] = SGD_ARGUMENTS) -> None:
    """``SGD(params, **kwargs)`` raises what ``torch.optim.SGD`` raises, and only then."""
    _check_arguments("SGD", SGD, TorchSGD, cases)


def check_sgd_arguments_hidden(SGD: type) -> None:
    """:func:`check_sgd_arguments` on invalid and valid values drawn now."""
    rng = hidden_rng()
    negative = -(10 ** rng.uniform(-6, 0))
    positive = rng.uniform(0.05, 0.99)
    cases = (
        {"lr": negative},
        {"momentum": negative},
        {"weight_decay": negative},
        {"momentum": positive, "dampening": rng.uniform(0.01, 0.9), "nesterov": True},
        {"momentum": 0.0, "nesterov": True},
        {"lr": 10 ** rng.uniform(-6, 0), "momentum": positive, "nesterov": True},
        {"lr": 0.0, "weight_decay": 0.0, "momentum": 0.0},
        {"momentum": positive, "dampening": rng.uniform(-0.5, 1.5)},
    )
    _check_arguments("SGD", SGD, TorchSGD, cases)


def check_adam(Adam: type, case: Case = ADAM_CASE) -> None:
    """``Adam`` follows ``torch.optim.Adam`` step by step, on two parameter groups."""
    _check_optimizer("Adam", Adam, TorchAdam, ADAM_KEYS, _with_hints(case, ADAM_HINTS))


def check_adam_hidden(Adam: type, cases: int = 3) -> None:
    """:func:`check_adam` on hyperparameters, sizes, seeds and step counts drawn now."""
    rng = hidden_rng()
    for index in range(cases):
        case = _random_case(rng, _random_adam_hyper, ("lr", "eps"), cover=index == 0)
        _check_optimizer("Adam", Adam, TorchAdam, ADAM_KEYS, _with_hints(case, ADAM_HINTS))


def check_adam_arguments(Adam: type, cases: tuple[dict[str, Any], ...] = ADAM_ARGUMENTS) -> None:
    """``Adam(params, **kwargs)`` raises what ``torch.optim.Adam`` raises, and only then."""
    _check_arguments("Adam", Adam, TorchAdam, cases)


def check_adam_arguments_hidden(Adam: type) -> None:
    """:func:`check_adam_arguments` on invalid and valid values drawn now."""
    rng = hidden_rng()
    beta = rng.uniform(0.0, 0.999)
    too_big = 1.0 + rng.choice([0.0, rng.uniform(0.0, 2.0)])
    negative = -(10 ** rng.uniform(-6, 0))
    cases = (
        {"lr": negative},
        {"eps": negative},
        {"weight_decay": negative},
        {"betas": (too_big, beta)},
        {"betas": (beta, too_big)},
        {"betas": (negative, beta)},
        {"betas": (beta, negative)},
        {"lr": 0.0, "betas": (0.0, beta), "eps": 0.0, "weight_decay": 0.0},
        {"betas": (beta, 0.0), "eps": 10 ** rng.uniform(-10, 0)},
    )
    _check_arguments("Adam", Adam, TorchAdam, cases)


# ------------------------------------------------------------------------ the side-by-side run


def _check_optimizer(
    name: str, Student: type, Reference: type, keys: tuple[str, ...], case: Case
) -> None:
    _check_own_class(name, Student, Reference)
    _check_zero_grad(name, Student, Reference, case)
    _check_skips_missing_grads(name, Student, Reference, case)
    _check_steps(name, Student, Reference, keys, case)


def _check_own_class(name: str, Student: type, Reference: type) -> None:
    expect(
        isinstance(Student, type) and issubclass(Student, Optimizer),
        f"class {name}",
        "a subclass of torch.optim.Optimizer",
        Student,
        "write class SGD(torch.optim.Optimizer) / class Adam(torch.optim.Optimizer)",
    )
    borrowed = [
        cls.__qualname__
        for cls in Student.__mro__
        if cls.__module__.startswith("torch.") and cls is not Optimizer
    ]
    expect(
        not borrowed,
        f"class {name}{tuple(c.__name__ for c in Student.__bases__)}",
        "a class derived from torch.optim.Optimizer only",
        borrowed,
        f"the exercise is to write the update rule: do not inherit from torch's {name}",
    )


def _net(case: Case) -> nn.Sequential:
    """A small tanh network whose weights come from the case's seed, not the global RNG."""
    d_in, hidden, d_out = case.sizes
    net = nn.Sequential(
        nn.Linear(d_in, hidden, dtype=DTYPE), nn.Tanh(), nn.Linear(hidden, d_out, dtype=DTYPE)
    )
    gen = torch.Generator().manual_seed(case.seed)
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(torch.randn(param.shape, generator=gen, dtype=DTYPE) * 0.7)
    return net


def _data(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(case.seed + 1)
    X = torch.randn(case.samples, case.sizes[0], generator=gen, dtype=DTYPE)
    y = torch.randn(case.samples, case.sizes[2], generator=gen, dtype=DTYPE)
    return X, y


def _groups(net: nn.Sequential, case: Case) -> list[dict[str, Any]]:
    """Group 0 trains the first layer, group 1 the second (and ``net.unused`` if it exists)."""
    second = list(net[2].parameters())
    if hasattr(net, "unused"):
        second.append(net.unused)
    return [
        {"params": list(net[0].parameters()), **case.groups[0]},
        {"params": second, **case.groups[1]},
    ]


def _construction(name: str, case: Case) -> str:
    groups = ", ".join(
        f"{{'params': net[{layer}].parameters(){_kwargs(group, prefix=', ', quote=True)}}}"
        for layer, group in zip((0, 2), case.groups, strict=True)
    )
    return f"{name}([{groups}]{_kwargs(case.defaults, prefix=', ')})"


def _kwargs(values: dict[str, Any], prefix: str = "", quote: bool = False) -> str:
    if quote:
        return "".join(f"{prefix}{key!r}: {value!r}" for key, value in values.items())
    return "".join(f"{prefix}{key}={value!r}" for key, value in values.items())


def _build(name: str, Student: type, Reference: type, case: Case, net: nn.Module | None = None):
    """Torch's optimizer and the student's on two identical networks (or on ``net``)."""
    ref_net = _net(case) if net is None else net
    mine_net = copy.deepcopy(ref_net)
    ref = Reference(_groups(ref_net, case), **case.defaults)
    call = _construction(name, case)
    mine = call_student(call, Student, _groups(mine_net, case), **case.defaults)
    return call, (ref_net, ref), (mine_net, mine)


def _mse(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (net(X) - y).square().mean()


def _check_zero_grad(name: str, Student: type, Reference: type, case: Case) -> None:
    call, (ref_net, ref), (mine_net, mine) = _build(name, Student, Reference, case)
    X, y = _data(case)
    for set_to_none in (None, False, True):
        arguments = "" if set_to_none is None else f"set_to_none={set_to_none}"
        for net in (ref_net, mine_net):
            _mse(net, X, y).backward()
        kwargs = {} if set_to_none is None else {"set_to_none": set_to_none}
        ref.zero_grad(**kwargs)
        zero_call = f"{call}\nloss.backward(); opt.zero_grad({arguments})"
        call_student(zero_call, mine.zero_grad, **kwargs)
        for (pname, theirs), ours in zip(
            ref_net.named_parameters(), mine_net.parameters(), strict=True
        ):
            expected = theirs.grad if theirs.grad is None else "a tensor of zeros"
            got = ours.grad if ours.grad is None else ours.grad.abs().max().item()
            ok = (theirs.grad is None and ours.grad is None) or (
                theirs.grad is not None and ours.grad is not None and got == 0.0
            )
            why = (
                "zero_grad() sets every .grad to None by default (set_to_none=True); "
                "the inherited Optimizer.zero_grad does this"
                if theirs.grad is None
                else "zero_grad(set_to_none=False) fills the existing .grad with zeros"
            )
            shown = got if ours.grad is None else f"a tensor whose largest |value| is {got:.3g}"
            expect(ok, f"{zero_call}\n.grad of parameter {pname!r}", expected, shown, why)


def _check_skips_missing_grads(name: str, Student: type, Reference: type, case: Case) -> None:
    """A parameter that never gets a gradient stays put, even with weight decay or momentum."""
    net = _net(case)
    net.register_parameter("unused", nn.Parameter(torch.ones(2, dtype=DTYPE)))
    groups = (case.groups[0], {**case.groups[1], "weight_decay": 0.1})
    with_unused = Case(case.defaults, groups, case.sizes, case.samples, 3, case.seed)
    X, y = _data(case)
    _, (ref_net, ref), (mine_net, mine) = _build(name, Student, Reference, with_unused, net)
    call = (
        f"{_construction(name, with_unused)}\n"
        "with one more parameter in group 1 that the loss does not use (its .grad stays None)"
    )
    for step in range(1, 4):
        for net_ in (ref_net, mine_net):
            net_.zero_grad()
            _mse(net_, X, y).backward()
        ref.step()
        call_student(f"{call}\nstep {step}: opt.step()", mine.step)
        expect(
            torch.equal(ref_net.unused, mine_net.unused),
            f"{call}\nafter step {step}: the unused parameter",
            ref_net.unused.detach(),
            mine_net.unused.detach(),
            "skip parameters whose .grad is None (if p.grad is None: continue); "
            "they are not updated, not even by weight decay",
        )


def _check_steps(
    name: str, Student: type, Reference: type, keys: tuple[str, ...], case: Case
) -> None:
    call, (ref_net, ref), (mine_net, mine) = _build(name, Student, Reference, case)
    _check_param_groups(call, ref, mine, keys)
    X, y = _data(case)
    names = dict(
        zip(mine_net.parameters(), (n for n, _ in ref_net.named_parameters()), strict=True)
    )
    for step in range(1, case.steps + 1):
        last = step == case.steps
        # Every other step reuses the .grad tensors, as zero_grad(set_to_none=False) does:
        # a state tensor that aliases p.grad is then overwritten.
        to_none = step % 2 == 1
        zeroing = f"zero_grad(set_to_none={to_none})"
        if last:
            step_call = f"{call}\nstep {step}: loss = opt.step(closure), closure calls {zeroing}"
        else:
            step_call = f"{call}\nstep {step}: {zeroing}; loss.backward(); opt.step()"
        losses = [
            _advance(step_call, opt, net, X, y, student=opt is mine, closure=last, to_none=to_none)
            for net, opt in ((ref_net, ref), (mine_net, mine))
        ]
        _compare_parameters(step_call, step, ref, mine, names, keys, case.hints)
        _compare_gradients(step_call, ref_net, mine_net)
        if last:
            _check_closure_loss(step_call, *losses)
    _check_state(call, ref, mine, names)


def _advance(
    call: str,
    opt: Optimizer,
    net: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    student: bool,
    closure: bool,
    to_none: bool,
) -> Any:
    """One training step: backward then ``step()``, or ``step(closure)``; returns its result."""

    def compute_loss() -> torch.Tensor:
        net.zero_grad(set_to_none=to_none)
        loss = _mse(net, X, y)
        loss.backward()
        return loss

    if not closure:
        compute_loss()
    arguments = (compute_loss,) if closure else ()
    if not student:
        return opt.step(*arguments)
    try:
        return call_student(call, opt.step, *arguments)
    except CheckFailure as failure:
        if "does not require grad" in str(failure):
            raise CheckFailure(
                f"{failure}\n  hint: step() runs under torch.no_grad(); call the closure inside "
                "`with torch.enable_grad():` as torch's optimizers do"
            ) from None
        raise


def _check_closure_loss(call: str, expected: torch.Tensor, got: Any) -> None:
    ok = isinstance(got, torch.Tensor) and _difference(expected, got.detach()) is None
    why = "step(closure) calls closure() (with gradients enabled) and returns what it returned"
    expect(ok, call, expected, got, why)


def _check_param_groups(call: str, ref: Optimizer, mine: Optimizer, keys: tuple[str, ...]) -> None:
    groups = getattr(mine, "param_groups", None)
    count = len(groups) if isinstance(groups, list) else groups
    expect(
        count == 2,
        f"{call}\nlen(opt.param_groups)",
        2,
        count,
        "call super().__init__(params, defaults): it builds param_groups from params",
    )
    for index, (theirs, ours) in enumerate(zip(ref.param_groups, mine.param_groups, strict=True)):
        expected = {key: _plain(theirs[key]) for key in keys}
        got = {key: _plain(ours.get(key, "missing")) for key in keys}
        expect(
            all(_same(expected[key], got[key]) for key in keys),
            f"{call}\nopt.param_groups[{index}] hyperparameters",
            expected,
            got,
            "put every hyperparameter in `defaults`; Optimizer fills each group's missing "
            "keys from it and keeps the group's own values",
        )


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _same(expected: Any, got: Any) -> bool:
    """Equality a student's object cannot fake with ``__eq__``: plain values, compared by value."""
    if type(expected) is tuple:
        return (
            type(got) is tuple
            and len(got) == len(expected)
            and all(_same(a, b) for a, b in zip(expected, got, strict=True))
        )
    plain = (bool, int, float)
    return type(expected) in plain and type(got) in plain and expected == got


def _compare_parameters(
    call: str,
    step: int,
    ref: Optimizer,
    mine: Optimizer,
    names: dict[torch.Tensor, str],
    keys: tuple[str, ...],
    hints: dict[str, str],
) -> None:
    for index, (theirs, ours) in enumerate(zip(ref.param_groups, mine.param_groups, strict=True)):
        hyper = ", ".join(f"{key}={theirs[key]!r}" for key in keys)
        for expected, got in zip(theirs["params"], ours["params"], strict=True):
            why = _difference(expected, got)
            if why is not None:
                hint = hints.get("first" if step == 1 else "later", "")
                fail(
                    f"{call}\nafter step {step}: group {index} ({hyper}), parameter {names[got]!r}",
                    expected.detach(),
                    got.detach(),
                    f"{why}\n  hint: {hint}" if hint else why,
                )


def _compare_gradients(call: str, ref_net: nn.Module, mine_net: nn.Module) -> None:
    """``step()`` reads ``p.grad`` and leaves it alone, as torch's optimizers do."""
    for (name, expected), got in zip(
        ref_net.named_parameters(), mine_net.parameters(), strict=True
    ):
        why = _difference(expected.grad, got.grad)
        expect(
            why is None,
            f"{call}\nafter the step: .grad of parameter {name!r}",
            expected.grad,
            got.grad,
            f"{why}\n  hint: step() must not change p.grad; add weight decay to a new tensor "
            "(g = p.grad.add(p, alpha=weight_decay)), not in place",
        )


def _difference(expected: torch.Tensor, got: Any) -> str | None:
    return tensor_difference(expected, got, atol=ATOL, rtol=RTOL, digits=10)


def _check_state(
    call: str, ref: Optimizer, mine: Optimizer, names: dict[torch.Tensor, str]
) -> None:
    for (_, param_ref), param in zip(
        _all_params(ref), (p for _, p in _all_params(mine)), strict=True
    ):
        needed = sorted(ref.state.get(param_ref, {}))
        kept = mine.state.get(param) if isinstance(mine.state, dict) else None
        expect(
            not needed or bool(kept),
            f"{call}\nafter the last step: opt.state[p] for parameter {names[param]!r}",
            f"a dict like torch's, with {needed}",
            kept,
            "keep each parameter's running values in self.state[p] (a dict Optimizer creates "
            "for you) so that state_dict() saves them",
        )


def _all_params(opt: Optimizer) -> list[tuple[int, torch.Tensor]]:
    return [(index, p) for index, group in enumerate(opt.param_groups) for p in group["params"]]


# ----------------------------------------------------------------------- argument validation


def _check_arguments(
    name: str, Student: type, Reference: type, cases: tuple[dict[str, Any], ...]
) -> None:
    for kwargs in cases:
        call = f"{name}([w]{_kwargs(kwargs, prefix=', ')})"
        expected = _raised(Reference, kwargs)
        try:
            got = _raised(Student, kwargs)
        except NotImplementedError:
            raise CheckFailure(
                f"{call}\n  not implemented yet (raise NotImplementedError)"
            ) from None
        if type(expected) is type(got):
            continue
        why = (
            f"torch accepts these arguments: do not reject {_kwargs(kwargs)}"
            if expected is None
            else f"validate arguments in __init__ as torch does: raise {type(expected).__name__} "
            f"(torch says: {expected})"
        )
        fail(call, _outcome(expected), _outcome(got), why)


def _raised(cls: type, kwargs: dict[str, Any]) -> Exception | None:
    """The exception ``cls([w], **kwargs)`` raises, or ``None``."""
    w = torch.zeros(2, dtype=DTYPE, requires_grad=True)
    try:
        cls([w], **kwargs)
    except NotImplementedError:
        raise
    except Exception as error:
        return error
    return None


def _outcome(error: Exception | None) -> str:
    return "no exception" if error is None else f"raises {type(error).__name__}: {error}"


# ------------------------------------------------------------------------------ hidden cases


def _with_hints(case: Case, hints: dict[str, str]) -> Case:
    return Case(case.defaults, case.groups, case.sizes, case.samples, case.steps, case.seed, hints)


def _random_case(rng, hyper: Callable, partial: tuple[str, ...], cover: bool) -> Case:
    """Defaults and group 0 drawn in full; group 1 overrides only some keys (or none).

    With ``cover``, the draw is steered so that every branch of the update rule runs.
    """
    second = hyper(rng, "random")
    keep = [key for key in partial if rng.random() < 0.6]
    return Case(
        defaults=hyper(rng, "second" if cover else "random"),
        groups=(hyper(rng, "first" if cover else "random"), {key: second[key] for key in keep}),
        sizes=(rng.randint(1, 6), rng.randint(1, 8), rng.randint(1, 4)),
        samples=rng.randint(2, 12),
        steps=rng.randint(20, 40),
        seed=rng.getrandbits(32),
    )


def _random_sgd_hyper(rng, kind: str) -> dict[str, Any]:
    """``kind`` "first" forces momentum with dampening, "second" Nesterov momentum."""
    momentum = 0.0 if rng.random() < 0.25 else rng.uniform(0.3, 0.95)
    if kind != "random":
        momentum = rng.uniform(0.3, 0.95)
    nesterov = kind == "second" or (kind == "random" and momentum > 0 and rng.random() < 0.4)
    dampening = 0.0 if nesterov or rng.random() < 0.4 else rng.uniform(0.1, 0.7)
    if kind == "first":
        dampening = rng.uniform(0.1, 0.7)
    return {
        "lr": 10 ** rng.uniform(-2.5, -1),
        "momentum": momentum,
        "dampening": dampening,
        "weight_decay": 10 ** rng.uniform(-3, -0.5)
        if kind != "random" or rng.random() < 0.7
        else 0.0,
        "nesterov": nesterov,
    }


def _random_adam_hyper(rng, kind: str) -> dict[str, Any]:
    """``kind`` "first" forces a large eps and weight decay, "second" weight decay."""
    return {
        "lr": 10 ** rng.uniform(-3, -1.3),
        "betas": (rng.uniform(0.5, 0.95), rng.uniform(0.8, 0.9999)),
        "eps": 10 ** rng.uniform(-3, -1.5) if kind == "first" else 10 ** rng.uniform(-8, -1.5),
        "weight_decay": 10 ** rng.uniform(-3, -0.5)
        if kind != "random" or rng.random() < 0.7
        else 0.0,
    }


__all__ = [
    "check_adam",
    "check_adam_arguments",
    "check_adam_arguments_hidden",
    "check_adam_hidden",
    "check_sgd",
    "check_sgd_arguments",
    "check_sgd_arguments_hidden",
    "check_sgd_hidden",
]
