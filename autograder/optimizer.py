"""Checks for chapter 04_optimizer: ``SGD`` and ``Adam`` against ``torch.optim``.

Each check is a scenario and a judge (see :mod:`autograder.checking`).

The step checks build a small float64 network from the case's seed and hand it to the student's
optimizer with two parameter groups whose hyperparameters differ. The scenario records what the
optimizer does: the gradients ``zero_grad`` leaves, a parameter without a gradient over three
steps, ``param_groups``, the parameters and gradients after every step of a training run (the
last step through ``step(closure)``, with the loss it returns) and what ``self.state`` keeps. The
gradients come from a fixed loss on the student's own current parameters. The reference runs
``torch.optim.SGD`` / ``torch.optim.Adam`` through the same run from the same seed, and the judge
compares step by step, naming the first step that differs.

The argument checks record what ``SGD([w], **kwargs)`` raises (or that it returns); the reference
is what torch's class raises for the same arguments, and the judge compares the exception types.

Every judge refuses a class that inherits torch's ``SGD`` or ``Adam``, read from the description
of the class the scenario records (its MRO). Torch's classes are bound when this module is
imported, so code that later replaces ``torch.optim.SGD`` does not change the reference.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.optim import SGD as TorchSGD
from torch.optim import Adam as TorchAdam

from autograder.checking import Case, Check, Delegation, Observation, Recorder, raised_of
from autograder.i18n import _
from autograder.plain import Opaque, RaisedError, type_name
from autograder.report import (
    CheckFailure,
    expect,
    fail,
    message,
    scenario_error,
    tensor_difference,
)

DTYPE = torch.float64
ATOL, RTOL = 1e-10, 1e-8

#: The base class every student optimizer derives from, as :func:`checking.describe` names it.
OPTIMIZER = "torch.optim.optimizer.Optimizer"

#: SGD and Adam write their update themselves: torch.optim is only there for the base class.
OWN_UPDATE = Delegation(
    task="the update", forbidden=("torch.optim",), allowed=("torch.optim.Optimizer",)
)

SGD_KEYS = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
ADAM_KEYS = ("lr", "betas", "eps", "weight_decay")


def _sgd_hints() -> dict[str, str]:
    """What to look at when the first difference appears on the first step, or on a later one
    (in the current language, so built when a message is)."""
    return {
        "first": _(
            "on a parameter's first step the buffer is the gradient itself (no dampening), so "
            "with g = grad + weight_decay * p the update is lr * g, or lr * (1 + momentum) * g "
            "with nesterov; check weight decay and the group's own lr and momentum"
        ),
        "later": _(
            "earlier steps matched: check the momentum buffer update "
            "buf = momentum * buf + (1 - dampening) * g, that weight decay is added to g before "
            "it, that nesterov uses g + momentum * buf, and that the buffer starts as a copy of "
            "the first gradient (torch.clone), not as p.grad itself, which backward() overwrites"
        ),
    }


def _adam_hints() -> dict[str, str]:
    """As :func:`_sgd_hints`, for Adam."""
    return {
        "first": _(
            "check weight decay (added to the gradient), the bias corrections "
            "1 - beta1**t and 1 - beta2**t with t = 1 on the first step, eps added outside the "
            "square root, and the group's own lr, betas and eps"
        ),
        "later": _(
            "earlier steps matched: check the moment updates m = beta1 * m + (1 - beta1) * g, "
            "v = beta2 * v + (1 - beta2) * g**2 and that t counts this parameter's steps"
        ),
    }


#: Arguments torch's constructors reject (or accept) on the visible cases. Betas are lists in a
#: case (plain data); :func:`_hyper` hands them to the optimizers as tuples.
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
    {"betas": [1.0, 0.999]},
    {"betas": [0.9, 1.0]},
    {"betas": [-0.1, 0.999]},
    {"betas": [0.9, -0.5]},
    {"weight_decay": -0.01},
    {"lr": 0.0},
    {"betas": [0.0, 0.0]},
    {"eps": 0.0},
)

#: A step case: constructor defaults, the two groups' overrides, network sizes, data, seed.
SGD_CASE = {
    "defaults": {"lr": 0.01, "momentum": 0.9},
    "groups": [
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.02},
        {"momentum": 0.7, "nesterov": True},
    ],
    "sizes": [3, 5, 2],
    "samples": 8,
    "steps": 20,
    "seed": 0,
}
ADAM_CASE = {
    "defaults": {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.05},
    "groups": [
        {"lr": 0.03, "betas": [0.8, 0.95], "eps": 0.01, "weight_decay": 0.0},
        {"eps": 1e-3},
    ],
    "sizes": [3, 5, 2],
    "samples": 8,
    "steps": 20,
    "seed": 0,
}

#: The three ways the zero_grad scenario calls ``opt.zero_grad``.
ZERO_GRAD_SETTINGS = (None, False, True)
UNUSED_STEPS = 3


@dataclass(frozen=True)
class Kind:
    """Which optimizer a check is about: its name, torch's class, its hyperparameters, hints
    (a function: they are written in the language of the message)."""

    name: str
    torch: type
    keys: tuple[str, ...]
    hints: Callable[[], dict[str, str]]


SGD_KIND = Kind("SGD", TorchSGD, SGD_KEYS, _sgd_hints)
ADAM_KIND = Kind("Adam", TorchAdam, ADAM_KEYS, _adam_hints)


# ------------------------------------------------------------------ inputs, on either side


def _hyper(values: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters as the optimizers take them: betas a tuple (a case keeps a list)."""
    return {
        key: tuple(value) if key == "betas" and isinstance(value, list) else value
        for key, value in values.items()
    }


def _net(case: Case, unused: bool = False) -> nn.Sequential:
    """A small tanh network whose weights come from the case's seed, not the global RNG.

    With ``unused``, one more parameter ``net.unused`` that the loss never touches.
    """
    d_in, hidden, d_out = case["sizes"]
    net = nn.Sequential(
        nn.Linear(d_in, hidden, dtype=DTYPE), nn.Tanh(), nn.Linear(hidden, d_out, dtype=DTYPE)
    )
    gen = torch.Generator().manual_seed(case["seed"])
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(torch.randn(param.shape, generator=gen, dtype=DTYPE) * 0.7)
    if unused:
        net.register_parameter("unused", nn.Parameter(torch.ones(2, dtype=DTYPE)))
    return net


def _data(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(case["seed"] + 1)
    X = torch.randn(case["samples"], case["sizes"][0], generator=gen, dtype=DTYPE)
    y = torch.randn(case["samples"], case["sizes"][2], generator=gen, dtype=DTYPE)
    return X, y


def _groups(net: nn.Sequential, case: Case) -> list[dict[str, Any]]:
    """Group 0 trains the first layer, group 1 the second (and ``net.unused`` if it exists)."""
    second = list(net[2].parameters())
    if hasattr(net, "unused"):
        second.append(net.unused)
    return [
        {"params": list(net[0].parameters()), **_hyper(case["groups"][0])},
        {"params": second, **_hyper(case["groups"][1])},
    ]


def _build(Optimizer: Callable[..., Any], net: nn.Sequential, case: Case) -> Any:
    return Optimizer(_groups(net, case), **_hyper(case["defaults"]))


def _with_unused(case: Case) -> Case:
    """The case of the unused-parameter run: group 1 gets weight decay, so skipping matters."""
    first, second = case["groups"]
    return {**case, "groups": [first, {**second, "weight_decay": 0.1}]}


def _mse(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (net(X) - y).square().mean()


def _closure(net: nn.Module, X: torch.Tensor, y: torch.Tensor, to_none: bool):
    """The training step's loss: zero the gradients, forward, backward; returns the loss."""

    def compute_loss() -> torch.Tensor:
        net.zero_grad(set_to_none=to_none)
        loss = _mse(net, X, y)
        loss.backward()
        return loss

    return compute_loss


# ------------------------------------------------------------------------- call labels


def _construction(name: str, case: Case) -> str:
    groups = ", ".join(
        f"{{'params': net[{layer}].parameters(){_kwargs(group, prefix=', ', quote=True)}}}"
        for layer, group in zip((0, 2), case["groups"], strict=True)
    )
    return f"{name}([{groups}]{_kwargs(case['defaults'], prefix=', ')})"


def _kwargs(values: dict[str, Any], prefix: str = "", quote: bool = False) -> str:
    values = _hyper(values)
    if quote:
        return "".join(f"{prefix}{key!r}: {value!r}" for key, value in values.items())
    return "".join(f"{prefix}{key}={value!r}" for key, value in values.items())


def _zero_call(call: str, set_to_none: bool | None) -> str:
    arguments = "" if set_to_none is None else f"set_to_none={set_to_none}"
    return f"{call}\nloss.backward(); opt.zero_grad({arguments})"


def _unused_call(name: str, case: Case) -> str:
    return (
        f"{_construction(name, _with_unused(case))}\n"
        "with one more parameter in group 1 that the loss does not use (its .grad stays None)"
    )


def _step_call(call: str, step: int, steps: int) -> str:
    zeroing = f"zero_grad(set_to_none={step % 2 == 1})"
    if step == steps:
        return f"{call}\nstep {step}: loss = opt.step(closure), closure calls {zeroing}"
    return f"{call}\nstep {step}: {zeroing}; loss.backward(); opt.step()"


def _zero_label(name: str, call: str, set_to_none: bool | None) -> str:
    arguments = "" if set_to_none is None else f"set_to_none={set_to_none}"
    return _at(name, f"opt.zero_grad({arguments}) after loss.backward()", call)


def _at(name: str, what: str, call: str) -> str:
    """A failure's call: ``{name}, {what}`` on the first line, then what ran (``call``: the
    construction and the step), one line each, as set-up lines below it."""
    construction, *steps = call.split("\n")
    return "\n".join([f"{name}, {what}", f"  opt = {construction}", *(f"  {s}" for s in steps)])


def _arguments_call(name: str, kwargs: dict[str, Any]) -> str:
    return f"{name}([w]{_kwargs(kwargs, prefix=', ')})"


# ----------------------------------------------------------------------- the step scenario


def _record_class(Student: Any, obs: Recorder) -> None:
    """The class's bases by name, for the message that refuses torch's own optimizer."""
    obs["bases"] = [
        str(getattr(base, "__name__", "?")) for base in getattr(Student, "__bases__", ())
    ]


def _step_scenario(kind: Kind, Student: type, case: Case, obs: Recorder) -> None:
    _record_class(Student, obs)
    X, y = _data(case)
    _zero_grad_scenario(kind, Student, case, X, y, obs)
    _unused_scenario(kind, Student, case, X, y, obs)
    _run_scenario(kind, Student, case, X, y, obs)


def _zero_grad_scenario(kind, Student, case, X, y, obs: Recorder) -> None:
    """``loss.backward()`` then ``opt.zero_grad()`` three ways; the .grad of every parameter."""
    net = _net(case)
    call = _construction(kind.name, case)
    opt = obs.call(call, _build, Student, net, case)
    for index, set_to_none in enumerate(ZERO_GRAD_SETTINGS):
        _mse(net, X, y).backward()
        kwargs = {} if set_to_none is None else {"set_to_none": set_to_none}
        obs.call(_zero_label(kind.name, call, set_to_none), opt.zero_grad, **kwargs)
        obs[f"zero_grad {index}"] = [p.grad for p in net.parameters()]


def _unused_scenario(kind, Student, case, X, y, obs: Recorder) -> None:
    """Three steps with a parameter whose .grad stays None; that parameter after each."""
    with_unused = _with_unused(case)
    net = _net(with_unused, unused=True)
    opt = obs.call(_construction(kind.name, with_unused), _build, Student, net, with_unused)
    call = _unused_call(kind.name, case)
    for step in range(1, UNUSED_STEPS + 1):
        net.zero_grad()
        _mse(net, X, y).backward()
        obs.call(_at(kind.name, f"step {step}", f"{call}\nstep {step}: opt.step()"), opt.step)
        obs[f"unused {step}"] = net.unused


def _run_scenario(kind, Student, case, X, y, obs: Recorder) -> None:
    """The training run: param_groups, then parameters and gradients after every step."""
    net = _net(case)
    call = _construction(kind.name, case)
    opt = obs.call(call, _build, Student, net, case)
    groups = getattr(opt, "param_groups", None)
    obs["group count"] = len(groups) if isinstance(groups, list) else groups
    if not isinstance(groups, list):
        return
    obs["hyperparameters"] = [
        {key: group.get(key, "missing") for key in kind.keys} for group in groups
    ]
    names = {id(p): name for name, p in net.named_parameters()}
    obs["names"] = [[names.get(id(p), "?") for p in group["params"]] for group in groups]
    steps = case["steps"]
    for step in range(1, steps + 1):
        # Every other step reuses the .grad tensors, as zero_grad(set_to_none=False) does:
        # a state tensor that aliases p.grad is then overwritten.
        closure = _closure(net, X, y, to_none=step % 2 == 1)
        label = _at(kind.name, f"step {step}", _step_call(call, step, steps))
        if step == steps:
            obs["closure loss"] = obs.call(label, opt.step, closure)
        else:
            closure()
            obs.call(label, opt.step)
        obs[f"step {step}"] = {
            "params": [list(group["params"]) for group in opt.param_groups],
            "grads": [p.grad for p in net.parameters()],
        }
    state = getattr(opt, "state", None)
    obs["state"] = [_state_entry(state, p) for group in opt.param_groups for p in group["params"]]


def _state_entry(state: Any, param: torch.Tensor) -> Any:
    """What ``opt.state[p]`` keeps, by key and type name (the values themselves are not needed)."""
    kept = state.get(param) if isinstance(state, dict) else None
    if isinstance(kept, dict):
        return {str(key): type_name(value) for key, value in kept.items()}
    return kept


# ---------------------------------------------------------------------- the step reference


def _step_reference(kind: Kind, case: Case) -> dict:
    X, y = _data(case)
    return {
        "names": [name for name, _ in _net(case).named_parameters()],
        "zero_grad": _zero_grad_reference(kind, case, X, y),
        "unused": _unused_reference(kind, case, X, y),
        "run": _run_reference(kind, case, X, y),
    }


def _zero_grad_reference(kind: Kind, case: Case, X, y) -> list[list[bool]]:
    """For each setting and parameter: does torch's zero_grad leave .grad None?"""
    net = _net(case)
    opt = _build(kind.torch, net, case)
    none = []
    for set_to_none in ZERO_GRAD_SETTINGS:
        _mse(net, X, y).backward()
        opt.zero_grad(**({} if set_to_none is None else {"set_to_none": set_to_none}))
        none.append([p.grad is None for p in net.parameters()])
    return none


def _unused_reference(kind: Kind, case: Case, X, y) -> list[torch.Tensor]:
    with_unused = _with_unused(case)
    net = _net(with_unused, unused=True)
    opt = _build(kind.torch, net, with_unused)
    after = []
    for _step in range(UNUSED_STEPS):
        net.zero_grad()
        _mse(net, X, y).backward()
        opt.step()
        after.append(net.unused.detach().clone())
    return after


def _run_reference(kind: Kind, case: Case, X, y) -> dict:
    net = _net(case)
    opt = _build(kind.torch, net, case)
    groups = opt.param_groups
    steps, loss = [], None
    for step in range(1, case["steps"] + 1):
        closure = _closure(net, X, y, to_none=step % 2 == 1)
        if step == case["steps"]:
            loss = opt.step(closure).detach()
        else:
            closure()
            opt.step()
        steps.append(
            {
                "params": [[p.detach().clone() for p in group["params"]] for group in groups],
                "grads": [p.grad.detach().clone() for p in net.parameters()],
            }
        )
    return {
        "hyperparameters": [{key: _plain(group[key]) for key in kind.keys} for group in groups],
        "hyper": [", ".join(f"{key}={group[key]!r}" for key in kind.keys) for group in groups],
        "counts": [len(group["params"]) for group in groups],
        "steps": steps,
        "loss": loss,
        "state": [sorted(opt.state.get(p, {})) for group in groups for p in group["params"]],
    }


# ------------------------------------------------------------------------- the step judge


def _judge_class(name: str, obs: Observation) -> None:
    """A subclass of torch.optim.Optimizer, and of no optimizer torch already wrote."""
    target = obs.target
    mro = target.get("mro") if isinstance(target.get("mro"), list) else []
    expect(
        OPTIMIZER in mro,
        f"class {name}",
        _("a subclass of torch.optim.Optimizer"),
        Opaque(str(target.get("kind", "?")), str(target.get("name", "?"))),
        _("{name} is not a subclass of torch.optim.Optimizer").format(name=name),
        hint=_("write class SGD(torch.optim.Optimizer) / class Adam(torch.optim.Optimizer)"),
    )
    borrowed = [cls for cls in mro if str(cls).startswith("torch.") and cls != OPTIMIZER]
    if borrowed:
        bases = obs["bases"]
        fail(
            f"class {name}{tuple(bases) if isinstance(bases, list) else ()}",
            _("a class derived from torch.optim.Optimizer only"),
            borrowed,
            _("{name} inherits torch's {base}").format(name=name, base=borrowed[0]),
            hint=_(
                "the exercise is to write the update rule: do not inherit from torch's {name}"
            ).format(name=name),
        )


def _step_judge(kind: Kind, case: Case, reference: dict, obs: Observation) -> None:
    _judge_class(kind.name, obs)
    _judge_zero_grad(kind, case, reference, obs)
    _judge_unused(kind, case, reference, obs)
    _judge_run(kind, case, reference, obs)


def _judge_zero_grad(kind: Kind, case: Case, reference: dict, obs: Observation) -> None:
    call = _construction(kind.name, case)
    for index, set_to_none in enumerate(ZERO_GRAD_SETTINGS):
        zero_call = _zero_label(kind.name, _zero_call(call, set_to_none), set_to_none)
        grads = _listed(obs[f"zero_grad {index}"], len(reference["names"]))
        for name, none, grad in zip(
            reference["names"], reference["zero_grad"][index], grads, strict=True
        ):
            if grad is None:
                ok, shown = none, None
            elif _plain_tensor(grad) and grad.numel():
                largest = float(grad.detach().abs().max())
                ok, shown = (
                    not none and largest == 0.0,
                    _("a tensor of zeros")
                    if largest == 0.0
                    else _("a tensor whose largest |value| is {largest}").format(
                        largest=f"{largest:.3g}"
                    ),
                )
            else:
                ok, shown = False, grad
            if ok:
                continue
            hint = (
                _(
                    "zero_grad() sets every .grad to None by default (set_to_none=True); "
                    "the inherited Optimizer.zero_grad does this"
                )
                if none
                else _("zero_grad(set_to_none=False) fills the existing .grad with zeros")
            )
            expected = None if none else _("a tensor of zeros")
            fail(
                zero_call,
                expected,
                shown,
                _(".grad of parameter {name} is {got}, expected {expected}").format(
                    name=repr(name), got=_brief(shown), expected=_brief(expected)
                ),
                hint=hint,
            )


def _judge_unused(kind: Kind, case: Case, reference: dict, obs: Observation) -> None:
    """A parameter that never gets a gradient stays put, even with weight decay or momentum."""
    call = _unused_call(kind.name, case)
    for step, expected in enumerate(reference["unused"], start=1):
        got = obs[f"unused {step}"]
        why = tensor_difference(expected, got, atol=0.0, rtol=0.0)
        if why is None:
            continue
        # The values differ (not the type, shape or dtype): the parameter moved.
        moved = (
            _plain_tensor(got)
            and tuple(got.shape) == tuple(expected.shape)
            and got.dtype == expected.dtype
        )
        fail(
            _at(kind.name, f"after step {step}: the parameter whose .grad is None", call),
            expected,
            _detached(got),
            _("it moved ({why})").format(why=why) if moved else why,
            hint=_(
                "skip parameters whose .grad is None (if p.grad is None: continue); "
                "they are not updated, not even by weight decay"
            ),
        )


def _judge_run(kind: Kind, case: Case, reference: dict, obs: Observation) -> None:
    run = reference["run"]
    call = _construction(kind.name, case)
    _judge_param_groups(kind, call, run, obs)
    names = obs["names"]
    steps = case["steps"]
    for step, expected in enumerate(run["steps"], start=1):
        step_call = _step_call(call, step, steps)
        record = _step_record(obs, f"step {step}")
        if step == steps:
            # What step(closure) returned first: a closure never called also changes the update,
            # and the loss names that mistake where the parameters would point at the rule.
            _judge_closure_loss(kind.name, step, step_call, run["loss"], obs["closure loss"])
        params = _listed(record.get("params") if isinstance(record, dict) else None, 2)
        for index, (theirs, ours) in enumerate(zip(expected["params"], params, strict=True)):
            ours = _listed(ours, len(theirs))
            for position, (want, got) in enumerate(zip(theirs, ours, strict=True)):
                why = _difference(want, got)
                if why is None:
                    continue
                where = (
                    f"after step {step}: group {index} ({run['hyper'][index]}), "
                    f"parameter {_name(names, index, position)!r}"
                )
                fail(
                    _at(kind.name, where, step_call),
                    want,
                    _detached(got),
                    why,
                    hint=kind.hints()["first" if step == 1 else "later"],
                )
        _judge_gradients(kind.name, step, step_call, reference["names"], expected["grads"], record)
    _judge_state(kind.name, call, run["state"], names, obs)


def _judge_param_groups(kind: Kind, call: str, run: dict, obs: Observation) -> None:
    count = obs["group count"]
    expect(
        type(count) is int and count == 2,
        _at(kind.name, "len(opt.param_groups)", call),
        2,
        count,
        _("{count} groups, expected 2").format(count=f"{count!r:.60}"),
        hint=_("call super().__init__(params, defaults): it builds param_groups from params"),
    )
    groups = _listed(obs["hyperparameters"], 2)
    names = _listed(obs["names"], 2)
    for index, (expected, ours) in enumerate(zip(run["hyperparameters"], groups, strict=True)):
        ours = ours if isinstance(ours, dict) else {}
        got = {key: _plain(ours.get(key, "missing")) for key in kind.keys}
        wrong = [key for key in kind.keys if not _same(expected[key], got[key])]
        if wrong:
            key = wrong[0]
            fail(
                _at(kind.name, f"opt.param_groups[{index}] hyperparameters", call),
                expected,
                got,
                _("{key} is {got}, expected {expected}").format(
                    key=key, got=_brief(got[key]), expected=repr(expected[key])
                ),
                hint=_(
                    "put every hyperparameter in `defaults`; Optimizer fills each group's "
                    "missing keys from it and keeps the group's own values"
                ),
            )
        listed = names[index] if isinstance(names[index], list) else None
        shown = len(listed) if listed is not None else names[index]
        expect(
            listed is not None and len(listed) == run["counts"][index],
            _at(kind.name, f"len(opt.param_groups[{index}]['params'])", call),
            run["counts"][index],
            shown,
            _("{count} parameters, expected {expected}").format(
                count=_brief(shown), expected=run["counts"][index]
            ),
            hint=_("Optimizer keeps each group's parameters as they were given"),
        )


def _step_record(obs: Observation, key: str) -> Any:
    """The observation of one step; a closure that could not backpropagate gets a hint."""
    if key not in obs and obs.raised is not None:
        error = obs.raised.get("error")
        if isinstance(error, RaisedError) and "does not require grad" in error.message:
            raise CheckFailure(
                scenario_error(
                    obs.raised,
                    _(
                        "step() runs under torch.no_grad(); call the closure inside "
                        "`with torch.enable_grad():` as torch's optimizers do"
                    ),
                )
            )
    return obs[key]


def _judge_gradients(
    name: str, step: int, call: str, names: list[str], expected: list, record: dict
) -> None:
    """``step()`` reads ``p.grad`` and leaves it alone, as torch's optimizers do."""
    grads = _listed(record.get("grads"), len(names))
    for parameter, want, got in zip(names, expected, grads, strict=True):
        why = _difference(want, got)
        if why is None:
            continue
        fail(
            _at(name, f"after step {step}: .grad of parameter {parameter!r}", call),
            want,
            got,
            _("step() changed p.grad ({why})").format(why=why),
            hint=_(
                "step() must not change p.grad; add weight decay to a new tensor "
                "(g = p.grad.add(p, alpha=weight_decay)), not in place"
            ),
        )


def _judge_closure_loss(name: str, step: int, call: str, expected: torch.Tensor, got: Any) -> None:
    if _plain_tensor(got) and _difference(expected, got.detach()) is None:
        return
    why = (
        _difference(expected, got.detach())
        if _plain_tensor(got)
        else _("step(closure) returned {got}, not the closure's loss").format(got=_brief(got))
    )
    fail(
        _at(name, f"step {step}: loss = opt.step(closure)", call),
        expected,
        got,
        why,
        hint=_(
            "step(closure) calls closure() (with gradients enabled) and returns what it returned"
        ),
    )


def _judge_state(name: str, call: str, needed_keys: list, names: list, obs: Observation) -> None:
    kept_all = _listed(obs["state"], len(needed_keys))
    flat = [
        (index, position) for index, group in enumerate(names) for position in range(len(group))
    ]
    for (index, position), needed, kept in zip(flat, needed_keys, kept_all, strict=True):
        parameter = _name(names, index, position)
        expect(
            not needed or (isinstance(kept, dict) and len(kept) > 0),
            _at(name, f"after the last step: opt.state[p] for parameter {parameter!r}", call),
            _("a dict like torch's, with {keys}").format(keys=needed),
            kept,
            _("opt.state[p] is {got}; torch keeps {keys} there").format(
                got=_brief(kept), keys=needed
            ),
            hint=_(
                "keep each parameter's running values in self.state[p] (a dict Optimizer "
                "creates for you) so that state_dict() saves them"
            ),
        )


# ------------------------------------------------------------------------ judging helpers


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _same(expected: Any, got: Any) -> bool:
    """Equality an object cannot fake with ``__eq__``: plain values, compared by value.

    ``got`` is decoded plain data, so a student's object arrives as an ``Opaque`` and fails.
    """
    if type(expected) is tuple:
        return (
            type(got) is tuple
            and len(got) == len(expected)
            and all(_same(a, b) for a, b in zip(expected, got, strict=True))
        )
    plain = (bool, int, float)
    return type(expected) in plain and type(got) in plain and expected == got


def _plain_tensor(value: Any) -> bool:
    return type(value) in (torch.Tensor, nn.Parameter)


def _detached(value: Any) -> Any:
    return value.detach() if _plain_tensor(value) else value


def _difference(expected: torch.Tensor, got: Any) -> str | None:
    return tensor_difference(expected, got, atol=ATOL, rtol=RTOL, digits=10)


def _brief(value: Any) -> str:
    """A value in a few words, for a first line (a description string as itself)."""
    if isinstance(value, str):
        return value
    if isinstance(value, torch.Tensor):
        return _("a tensor of shape {shape}").format(shape=tuple(value.shape))
    if isinstance(value, Opaque):
        return _("a {type} object").format(type=value.type)
    return f"{value!r:.60}"


def _listed(value: Any, length: int) -> list:
    """A list of ``length`` items recorded by the scenario; anything else is a forged record."""
    if not isinstance(value, list) or len(value) != length:
        raise CheckFailure(
            _("the observations of your code are malformed: {value}").format(
                value=f"{value!r:.200}"
            )
        )
    return value


def _name(names: Any, index: int, position: int) -> str:
    try:
        return str(names[index][position])
    except (IndexError, KeyError, TypeError):
        return "?"


# ----------------------------------------------------------------------- argument checks


def _arguments_scenario(kind: Kind, Student: type, case: Case, obs: Recorder) -> None:
    _record_class(Student, obs)
    kwargs = _hyper(case["kwargs"])
    params = [torch.zeros(2, dtype=DTYPE, requires_grad=True)]
    obs.attempt("outcome", _arguments_call(kind.name, kwargs), _construct, Student, params, kwargs)


def _construct(Optimizer: Callable[..., Any], params: list, kwargs: dict[str, Any]) -> None:
    Optimizer(params, **kwargs)


def _arguments_reference(kind: Kind, case: Case) -> RaisedError | None:
    """The exception torch's class raises for these arguments, or None."""
    try:
        _construct(
            kind.torch, [torch.zeros(2, dtype=DTYPE, requires_grad=True)], _hyper(case["kwargs"])
        )
    except Exception as error:  # noqa: BLE001 - the exception is the reference
        return RaisedError(type(error).__name__, str(error))
    return None


def _arguments_judge(kind: Kind, case: Case, expected: Any, obs: Observation) -> None:
    _judge_class(kind.name, obs)
    kwargs = _hyper(case["kwargs"])
    call = _arguments_call(kind.name, kwargs)
    outcome = obs["outcome"]
    if not isinstance(outcome, dict) or not ({"raised", "returned"} & set(outcome)):
        raise CheckFailure(
            _("the observations of your code are malformed: {value}").format(
                value=f"{outcome!r:.200}"
            )
        )
    got = raised_of(outcome)
    if got is not None and got.type == "NotImplementedError":
        raise CheckFailure(message(call, _("not implemented yet (raise NotImplementedError)")))
    if (expected is None and got is None) or (
        expected is not None and got is not None and expected.type == got.type
    ):
        return
    if expected is None:
        why = _("raised {kind}, but torch accepts these arguments").format(kind=got.type)
        hint = _("do not reject {arguments}").format(arguments=_kwargs(kwargs))
    else:
        why = (
            _("raised {kind}, but torch raises {expected}: {text}").format(
                kind=got.type, expected=expected.type, text=expected.message
            )
            if got is not None
            else _("no exception, but torch raises {expected}: {text}").format(
                expected=expected.type, text=expected.message
            )
        )
        hint = _("validate arguments in __init__ as torch does: raise {kind}").format(
            kind=expected.type
        )
    fail(call, _outcome(expected), _outcome(got), why, hint=hint)


def _outcome(error: RaisedError | None) -> str:
    if error is None:
        return _("no exception")
    return _("raises {kind}: {text}").format(kind=error.type, text=error.message)


# --------------------------------------------------------------------------- hidden cases


def _step_hidden(hyper: Callable, partial_keys: tuple[str, ...], rng: random.Random) -> list[Case]:
    """Three runs; the first steered so that every branch of the update rule runs."""
    return [_random_case(rng, hyper, partial_keys, cover=index == 0) for index in range(3)]


def _random_case(rng, hyper: Callable, partial_keys: tuple[str, ...], cover: bool) -> Case:
    """Defaults and group 0 drawn in full; group 1 overrides only some keys (or none)."""
    second = hyper(rng, "random")
    keep = [key for key in partial_keys if rng.random() < 0.6]
    return {
        "defaults": hyper(rng, "second" if cover else "random"),
        "groups": [hyper(rng, "first" if cover else "random"), {key: second[key] for key in keep}],
        "sizes": [rng.randint(1, 6), rng.randint(1, 8), rng.randint(1, 4)],
        "samples": rng.randint(2, 12),
        "steps": rng.randint(20, 40),
        "seed": rng.getrandbits(32),
    }


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
        "betas": [rng.uniform(0.5, 0.95), rng.uniform(0.8, 0.9999)],
        "eps": 10 ** rng.uniform(-3, -1.5) if kind == "first" else 10 ** rng.uniform(-8, -1.5),
        "weight_decay": 10 ** rng.uniform(-3, -0.5)
        if kind != "random" or rng.random() < 0.7
        else 0.0,
    }


def _sgd_arguments_hidden(rng: random.Random) -> list[Case]:
    """Invalid and valid values drawn now."""
    negative = -(10 ** rng.uniform(-6, 0))
    positive = rng.uniform(0.05, 0.99)
    arguments = (
        {"lr": negative},
        {"momentum": negative},
        {"weight_decay": negative},
        {"momentum": positive, "dampening": rng.uniform(0.01, 0.9), "nesterov": True},
        {"momentum": 0.0, "nesterov": True},
        {"lr": 10 ** rng.uniform(-6, 0), "momentum": positive, "nesterov": True},
        {"lr": 0.0, "weight_decay": 0.0, "momentum": 0.0},
        {"momentum": positive, "dampening": rng.uniform(-0.5, 1.5)},
    )
    return [{"kwargs": kwargs} for kwargs in arguments]


def _adam_arguments_hidden(rng: random.Random) -> list[Case]:
    """Invalid and valid values drawn now."""
    beta = rng.uniform(0.0, 0.999)
    too_big = 1.0 + rng.choice([0.0, rng.uniform(0.0, 2.0)])
    negative = -(10 ** rng.uniform(-6, 0))
    arguments = (
        {"lr": negative},
        {"eps": negative},
        {"weight_decay": negative},
        {"betas": [too_big, beta]},
        {"betas": [beta, too_big]},
        {"betas": [negative, beta]},
        {"betas": [beta, negative]},
        {"lr": 0.0, "betas": [0.0, beta], "eps": 0.0, "weight_decay": 0.0},
        {"betas": [beta, 0.0], "eps": 10 ** rng.uniform(-10, 0)},
    )
    return [{"kwargs": kwargs} for kwargs in arguments]


# --------------------------------------------------------------------------- the checks


def _step_check(name: str, kind: Kind, visible: Case, hidden: Callable, doc: str) -> Check:
    return Check(
        name=name,
        doc=doc,
        scenario=partial(_step_scenario, kind),
        reference=partial(_step_reference, kind),
        judge=partial(_step_judge, kind),
        visible=[visible],
        hidden=hidden,
        refuses=OWN_UPDATE,
    )


def _arguments_check(name: str, kind: Kind, visible: tuple, hidden: Callable, doc: str) -> Check:
    return Check(
        name=name,
        doc=doc,
        scenario=partial(_arguments_scenario, kind),
        reference=partial(_arguments_reference, kind),
        judge=partial(_arguments_judge, kind),
        visible=[{"kwargs": kwargs} for kwargs in visible],
        hidden=hidden,
        refuses=OWN_UPDATE,
    )


SGD_CHECK = _step_check(
    "optimizer.sgd",
    SGD_KIND,
    SGD_CASE,
    partial(_step_hidden, _random_sgd_hyper, ("lr", "weight_decay")),
    "SGD follows torch.optim.SGD step by step, on two parameter groups",
)
SGD_ARGUMENTS_CHECK = _arguments_check(
    "optimizer.sgd_arguments",
    SGD_KIND,
    SGD_ARGUMENTS,
    _sgd_arguments_hidden,
    "SGD(params, **kwargs) raises what torch.optim.SGD raises, and only then",
)
ADAM_CHECK = _step_check(
    "optimizer.adam",
    ADAM_KIND,
    ADAM_CASE,
    partial(_step_hidden, _random_adam_hyper, ("lr", "eps")),
    "Adam follows torch.optim.Adam step by step, on two parameter groups",
)
ADAM_ARGUMENTS_CHECK = _arguments_check(
    "optimizer.adam_arguments",
    ADAM_KIND,
    ADAM_ARGUMENTS,
    _adam_arguments_hidden,
    "Adam(params, **kwargs) raises what torch.optim.Adam raises, and only then",
)

check_sgd, check_sgd_hidden = SGD_CHECK.functions()
check_sgd_arguments, check_sgd_arguments_hidden = SGD_ARGUMENTS_CHECK.functions()
check_adam, check_adam_hidden = ADAM_CHECK.functions()
check_adam_arguments, check_adam_arguments_hidden = ADAM_ARGUMENTS_CHECK.functions()

__all__ = [
    "ADAM_ARGUMENTS_CHECK",
    "ADAM_CHECK",
    "SGD_ARGUMENTS_CHECK",
    "SGD_CHECK",
    "check_adam",
    "check_adam_arguments",
    "check_adam_arguments_hidden",
    "check_adam_hidden",
    "check_sgd",
    "check_sgd_arguments",
    "check_sgd_arguments_hidden",
    "check_sgd_hidden",
]
