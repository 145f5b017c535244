"""Checks for chapter 02_parameter: counting, freezing, and a module with a buffer.

Each check is a scenario (hand the student's code a known net or data made from the case's
seed, record what comes back) and a judge (the count, the frozen set or ``BatchNorm1d``'s
running mean on the same inputs); see :mod:`autograder.checking`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from autograder.checking import Case, Check, Delegation, Observation, Recorder
from autograder.i18n import _
from autograder.plain import DTYPES
from autograder.report import expect, expect_tensor, fail

DTYPE = torch.float64


def _sample_net(seed: int, width: int = 4) -> nn.Module:
    """A small net with nested submodules, a frozen layer and a BatchNorm (which has buffers)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(3, width),
        nn.BatchNorm1d(width),
        nn.ReLU(),
        nn.Sequential(nn.Linear(width, width, bias=False), nn.Tanh()),
        nn.Linear(width, 2),
    )
    net[0].weight.requires_grad_(False)
    return net


# --------------------------------------------------------------------------------------------
# count_parameters


def _with_net(call: str, net: str) -> str:
    """``call`` on its own line, then the net it was given (its repr) as set-up lines."""
    first, *rest = net.splitlines()
    return "\n".join([call, f"  net = {first}", *(f"  {line}" for line in rest)])


def _count_call(net: str, trainable_only: bool) -> str:
    return _with_net(f"count_parameters(net, trainable_only={trainable_only})", net)


def _count_scenario(count_parameters, case: Case, obs: Recorder) -> None:
    for trainable_only in (False, True):
        net = _sample_net(case["seed"], case["width"])
        call = _count_call(repr(net), trainable_only)
        got = obs.call(call, count_parameters, net, trainable_only=trainable_only)
        obs[f"count.{trainable_only}"] = got


def _count_reference(case: Case) -> dict:
    net = _sample_net(case["seed"], case["width"])
    return {
        "net": repr(net),
        "counts": {
            trainable_only: sum(
                p.numel() for p in net.parameters() if p.requires_grad or not trainable_only
            )
            for trainable_only in (False, True)
        },
        # What the usual mistakes count, so the hint can name the one made.
        "tensors": {
            trainable_only: sum(
                1 for p in net.parameters() if p.requires_grad or not trainable_only
            )
            for trainable_only in (False, True)
        },
        "state": sum(value.numel() for value in net.state_dict().values()),
    }


def _count_judge(case: Case, reference: dict, obs: Observation) -> None:
    for trainable_only, expected in reference["counts"].items():
        call = _count_call(reference["net"], trainable_only)
        got = obs[f"count.{trainable_only}"]
        if type(got) is int and got == expected:
            continue
        why = (
            _("returned {got}, expected {expected} (trainable scalars)")
            if trainable_only
            else _("returned {got}, expected {expected} (scalars in the parameters)")
        ).format(got=f"{got!r:.60}", expected=expected)
        hint = _(
            "sum numel() over parameters; BatchNorm's running stats are buffers, not parameters"
        )
        if type(got) is not int:
            why = _("returned {type}, not an int").format(type=type(got).__name__)
            hint = _("sum p.numel() as ints")
        elif got == reference["tensors"][trainable_only]:
            hint = _("that is the number of parameter tensors: sum numel() over parameters")
        elif got == reference["state"]:
            hint = _(
                "that counts state_dict(), BatchNorm's running stats included: they are "
                "buffers, not parameters"
            )
        elif trainable_only and got == reference["counts"][False]:
            hint = _("with trainable_only=True, skip parameters whose requires_grad is False")
        fail(call, expected, got, why, hint=hint)


COUNT_PARAMETERS = Check(
    name="parameter.count_parameters",
    doc="count_parameters counts scalars, all of them or only the trainable ones, not buffers",
    scenario=_count_scenario,
    reference=_count_reference,
    judge=_count_judge,
    visible=[{"seed": 0, "width": 4}],
    hidden=lambda rng: [{"seed": rng.getrandbits(32), "width": rng.randint(1, 16)}],
    refuses=Delegation(task="the count", forbidden=("torch.nn.utils.parameters_to_vector",)),
)
check_count_parameters, check_count_parameters_hidden = COUNT_PARAMETERS.functions()


# --------------------------------------------------------------------------------------------
# freeze


def _freeze_net() -> nn.Module:
    net = _sample_net(seed=0)
    net[0].weight.requires_grad_(True)
    return net


def _freeze_call(net: str, prefixes: list[str]) -> str:
    return _with_net(f"freeze(net, {list(prefixes)})", net)


def _freeze_scenario(freeze, case: Case, obs: Recorder) -> None:
    net = _freeze_net()
    call = _freeze_call(repr(net), case["prefixes"])
    before = dict(net.named_parameters())
    obs.call(call, freeze, net, list(case["prefixes"]))
    after = dict(net.named_parameters())
    obs["same_objects"] = all(after.get(name) is param for name, param in before.items())
    obs["requires_grad"] = {name: bool(p.requires_grad) for name, p in after.items()}

    net.train()
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(case["seed"]))
    obs.call(_freeze_backward_call(call), lambda: net(x).sum().backward())
    obs["has_grad"] = {name: p.grad is not None for name, p in net.named_parameters()}


def _freeze_backward_call(call: str) -> str:
    head, _, net = call.partition("\n")
    return f"{head}, then net(x).sum().backward()\n{net}"


def _freeze_reference(case: Case) -> dict:
    net = _freeze_net()
    return {"net": repr(net), "names": [name for name, _ in net.named_parameters()]}


def _freeze_judge(case: Case, reference: dict, obs: Observation) -> None:
    prefixes = tuple(case["prefixes"])
    call = _freeze_call(reference["net"], case["prefixes"])
    expect(
        obs["same_objects"],
        call,
        _("the same Parameter objects, with requires_grad changed"),
        _("new Parameter objects"),
        _("freeze put new Parameter objects in the net"),
        hint=_("change requires_grad in place; an optimizer holds the old objects"),
    )
    expected = {name: not name.startswith(prefixes) for name in reference["names"]}
    got = obs["requires_grad"]
    if got != expected:
        fail(
            call,
            expected,
            got,
            _frozen_difference(expected, got, prefixes, "requires_grad"),
            hint=_(
                "freeze a parameter when its name starts with one of the prefixes, and only then"
            ),
        )
    got_grads = obs["has_grad"]
    if got_grads != expected:
        fail(
            _freeze_backward_call(call),
            expected,
            got_grads,
            _frozen_difference(expected, got_grads, prefixes, ".grad"),
            hint=_("backward() gives a .grad to exactly the parameters that require grad"),
        )


def _frozen_difference(expected: dict, got: Any, prefixes: tuple, what: str) -> str:
    """The first parameter that is frozen (or trainable) when it should not be, in words."""
    if not isinstance(got, dict) or set(got) != set(expected):
        return _("expected {what} for each of {names}, got {got}").format(
            what=what, names=list(expected), got=f"{got!r:.60}"
        )
    name = next(name for name in expected if got[name] != expected[name])
    if what == ".grad":
        why = (
            _("{name} got no .grad after backward()")
            if expected[name]
            else _("{name} got a .grad after backward()")
        )
        return why.format(name=repr(name))
    if expected[name]:
        return _("{name} was frozen, but it starts with none of {prefixes}").format(
            name=repr(name), prefixes=list(prefixes)
        )
    prefix = next(prefix for prefix in prefixes if name.startswith(prefix))
    return _("{name} still requires grad, but it starts with {prefix}").format(
        name=repr(name), prefix=repr(prefix)
    )


FREEZE_CHOICES = ["0.", "1.", "3.", "3.0.", "4.", "4.bias", "0.weight"]

FREEZE = Check(
    name="parameter.freeze",
    doc="freeze(net, prefixes) stops exactly the named parameters from learning",
    scenario=_freeze_scenario,
    reference=_freeze_reference,
    judge=_freeze_judge,
    visible=[{"prefixes": ["0.", "4."], "seed": 0}],
    hidden=lambda rng: [
        {
            "prefixes": rng.sample(FREEZE_CHOICES, rng.randint(1, 3)),
            "seed": rng.getrandbits(32),
        }
    ],
    refuses=None,
)
check_freeze, check_freeze_hidden = FREEZE.functions()


# --------------------------------------------------------------------------------------------
# RunningMean


def _rm_built(case: Case) -> str:
    return f"RunningMean({case['num_features']}, momentum={case['momentum']})"


def _rm_batches(case: Case) -> list[torch.Tensor]:
    """The training batches, then the eval batch, made from the case's seed on either side."""
    generator = torch.Generator().manual_seed(case["seed"])
    features = case["num_features"]
    batches = [
        torch.randn(5, features, dtype=DTYPE, generator=generator) * 3 + step
        for step in range(case["batches"])
    ]
    return [*batches, torch.randn(4, features, dtype=DTYPE, generator=generator)]


def _rm_train_call(built: str, step: int, x: torch.Tensor) -> str:
    return f"{built} in train mode, batch {step + 1} of shape {tuple(x.shape)}"


def _rm_eval_call(built: str, x: torch.Tensor) -> str:
    return f"{built} in eval mode on x of shape {tuple(x.shape)}"


def _rm_scenario(RunningMean: type, case: Case, obs: Recorder) -> None:
    built = _rm_built(case)
    mine = obs.call(built, RunningMean, case["num_features"], momentum=case["momentum"])
    obs["type"] = type(mine).__name__
    obs["is_module"] = isinstance(mine, nn.Module)
    if not obs["is_module"]:
        return
    obs["parameters"] = obs.call(
        f"{built}.named_parameters()", lambda: [name for name, _ in mine.named_parameters()]
    )
    obs["buffers"] = obs.call(
        f"{built}.named_buffers()", lambda: [name for name, _ in mine.named_buffers()]
    )
    obs["state_keys"] = obs.call(f"{built}.state_dict()", lambda: list(mine.state_dict()))
    mine = obs.call(f"{built}.to(torch.float64)", mine.to, DTYPE)
    moved = f"{built}.to(torch.float64)"
    running_mean = obs.call(f"{moved}.running_mean", getattr, mine, "running_mean")
    dtype = getattr(running_mean, "dtype", None)
    obs["dtype"] = str(dtype).removeprefix("torch.") if isinstance(dtype, torch.dtype) else None
    obs["start"] = running_mean

    *batches, last = _rm_batches(case)
    obs.call(f"{built}.train()", mine.train)
    for step, x in enumerate(batches):
        call = _rm_train_call(built, step, x)
        obs[f"train.{step}"] = obs.call(call, mine, x)
        obs[f"train.{step}.running_mean"] = obs.call(
            f"{call}: running_mean afterwards", getattr, mine, "running_mean", None
        )
    obs.call(f"{built}.eval()", mine.eval)
    call = _rm_eval_call(built, last)
    obs["eval"] = obs.call(call, mine, last)
    obs["eval.running_mean"] = obs.call(
        f"{call}: running_mean", getattr, mine, "running_mean", None
    )


def _rm_reference(case: Case) -> dict:
    reference = nn.BatchNorm1d(
        case["num_features"], momentum=case["momentum"], affine=False, dtype=DTYPE
    )
    *batches, last = _rm_batches(case)
    start = reference.running_mean.clone()
    train = []
    for x in batches:
        reference(x)
        train.append((x - x.mean(0), reference.running_mean.clone()))
    return {"start": start, "train": train, "eval": last - reference.running_mean}


def _rm_judge(case: Case, reference: dict, obs: Observation) -> None:
    built = _rm_built(case)
    expect(
        obs["is_module"],
        built,
        _("an nn.Module"),
        obs["type"],
        _("built a {type}, not an nn.Module").format(type=obs["type"]),
        hint=_("write class RunningMean(nn.Module) and call super().__init__() first"),
    )
    params = obs["parameters"]
    expect(
        params == [],
        f"{built}.named_parameters()",
        [],
        params,
        _("RunningMean has parameters {params}; it should have none").format(
            params=f"{params!r:.60}"
        ),
        hint=_("running_mean is state, not something an optimizer should learn: a buffer"),
    )
    buffers = obs["buffers"]
    expect(
        "running_mean" in buffers,
        f"{built}.named_buffers()",
        ["running_mean"],
        buffers,
        _("running_mean is not a buffer"),
        hint=_("use self.register_buffer('running_mean', ...)"),
    )
    expect(
        "running_mean" in obs["state_keys"],
        f"{built}.state_dict().keys()",
        ["running_mean"],
        obs["state_keys"],
        _("running_mean is not in state_dict(), so it is not saved"),
        hint=_("a persistent buffer is saved: register_buffer's default persistent=True"),
    )
    dtype = obs["dtype"]
    expect(
        dtype == "float64",
        f"{built}.to(torch.float64).running_mean.dtype",
        DTYPE,
        DTYPES.get(dtype, dtype),
        _("running_mean is {dtype} after .to(torch.float64)").format(dtype=dtype),
        hint=_("a buffer moves with .to(); a plain attribute does not"),
    )
    expect_tensor(f"{built}.running_mean at the start", reference["start"], obs["start"])

    *batches, last = _rm_batches(case)
    for step, x in enumerate(batches):
        output, running_mean = reference["train"][step]
        call = _rm_train_call(built, step, x)
        expect_tensor(call, output, obs[f"train.{step}"])
        expect_tensor(
            f"{call}: running_mean afterwards",
            running_mean,
            obs[f"train.{step}.running_mean"],
            hint=_(
                "in train mode, running_mean = (1 - momentum) * running_mean + momentum * "
                "x.mean(0), as BatchNorm1d updates it"
            ),
        )
    call = _rm_eval_call(built, last)
    # running_mean first: updating it in eval mode also changes the output, and is the cause.
    expect_tensor(
        f"{call}: running_mean afterwards",
        reference["train"][-1][1],
        obs["eval.running_mean"],
        hint=_("running_mean must not change in eval mode"),
    )
    expect_tensor(
        call,
        reference["eval"],
        obs["eval"],
        hint=_("in eval mode, subtract running_mean, not the batch's mean"),
    )


def _rm_hidden(rng) -> list[Case]:
    return [
        {
            "num_features": rng.randint(1, 8),
            "momentum": round(rng.uniform(0.01, 0.9), 3),
            "batches": rng.randint(2, 5),
            "seed": rng.getrandbits(32),
        }
    ]


RUNNING_MEAN = Check(
    name="parameter.running_mean",
    doc="RunningMean keeps a buffer updated exactly like BatchNorm1d.running_mean",
    scenario=_rm_scenario,
    reference=_rm_reference,
    judge=_rm_judge,
    visible=[{"num_features": 3, "momentum": 0.1, "batches": 3, "seed": 0}],
    hidden=_rm_hidden,
    refuses=Delegation(
        task="the running mean",
        forbidden=("torch.nn.modules.batchnorm", "torch.nn.functional.batch_norm"),
    ),
)
check_running_mean, check_running_mean_hidden = RUNNING_MEAN.functions()
