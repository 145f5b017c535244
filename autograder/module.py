"""Checks for chapter 01_module: ``MyLinear`` and ``MLP`` against ``nn.Linear``.

Each check is a scenario (build the student's module, load known weights, call it, record what
comes back) and a judge (``nn.Linear`` / ``nn.Sequential`` on the same inputs); see
:mod:`autograder.checking`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from autograder.checking import Case, Check, Delegation, Observation, Recorder
from autograder.i18n import _
from autograder.plain import Opaque
from autograder.report import CheckFailure, expect, expect_tensor, fail, raised_message

DTYPE = torch.float64

#: MyLinear and MLP are built from parameters and tensor ops, not from torch's linear layers.
OWN_LINEAR = Delegation(
    task="the linear layer",
    forbidden=("torch.nn.modules.linear", "torch.nn.functional.linear", "torch.nn.Sequential"),
)


def _built(case: Case) -> str:
    return f"MyLinear({case['fan_in']}, {case['fan_out']}, bias={case['bias']})"


def _linear_inputs(case: Case) -> tuple[nn.Linear, torch.Tensor]:
    """nn.Linear's weights and the input, made from the case's seed on either side."""
    torch.manual_seed(case["seed"] + 1)
    ref = nn.Linear(case["fan_in"], case["fan_out"], bias=case["bias"], dtype=DTYPE)
    x = torch.randn(*case["batch"], case["fan_in"], dtype=DTYPE)
    return ref, x


def _linear_scenario(MyLinear: type, case: Case, obs: Recorder) -> None:
    built = _built(case)
    torch.manual_seed(case["seed"])
    mine = obs.call(built, MyLinear, case["fan_in"], case["fan_out"], bias=case["bias"])
    obs["type"] = type(mine).__name__
    obs["is_module"] = isinstance(mine, nn.Module)
    if not obs["is_module"]:
        return
    params = obs.attempt("named_parameters", "", lambda: dict(mine.named_parameters()))
    if params is None:
        return
    obs["shapes"] = {name: list(p.shape) for name, p in params.items()}
    obs["requires_grad"] = {name: bool(p.requires_grad) for name, p in params.items()}
    obs["bias"] = getattr(mine, "bias", None)
    obs["initial"] = {name: p.detach().clone() for name, p in params.items()}

    ref, x = _linear_inputs(case)
    mine = obs.call(f"{built}.to(torch.float64)", mine.to, DTYPE)
    obs.call(
        f"{built}.load_state_dict(nn.Linear's state_dict())", mine.load_state_dict, ref.state_dict()
    )
    got = obs.call(_forward_call(case, x), mine, x)
    obs["output"] = got
    obs.call(f"{_forward_call(case, x)}, then out.sum().backward()", lambda: got.sum().backward())
    obs["grads"] = {name: p.grad for name, p in mine.named_parameters()}


def _forward_call(case: Case, x: torch.Tensor) -> str:
    return f"{_built(case)} with nn.Linear's weights, called on x of shape {tuple(x.shape)}"


def _linear_reference(case: Case) -> dict:
    ref, x = _linear_inputs(case)
    output = ref(x)
    output.sum().backward()
    return {
        "output": output.detach(),
        "grads": {name: p.grad for name, p in ref.named_parameters()},
        "x_shape": tuple(x.shape),
    }


def _judge_module(built: str, obs: Observation, name: str) -> None:
    expect(
        obs["is_module"],
        built,
        _("an nn.Module"),
        obs["type"],
        _("built a {type}, not an nn.Module").format(type=obs["type"]),
        hint=_(
            "write class {name}(nn.Module) and call super().__init__() first in __init__"
        ).format(name=name),
    )


def _linear_judge(case: Case, reference: dict, obs: Observation) -> None:
    built = _built(case)
    _judge_module(built, obs, "MyLinear")
    _judge_registered(built, obs, case)
    _judge_init(built, obs["initial"], case["fan_in"])
    call = f"{built} with nn.Linear's weights, called on x of shape {reference['x_shape']}"
    expect_tensor(call, reference["output"], obs["output"])
    grads = obs["grads"]
    for name, expected in reference["grads"].items():
        expect_tensor(
            f"{call}, then out.sum().backward(): gradient of {name}", expected, grads.get(name)
        )


def _judge_registered(built: str, obs: Observation, case: Case) -> None:
    listing = obs["named_parameters"]
    if "raised" in listing:
        raise CheckFailure(
            raised_message(
                f"{built}.named_parameters()",
                listing["raised"].type,
                listing["raised"].message,
                _("does __init__ call super().__init__() before assigning attributes?"),
            )
        )
    expected = {"weight": [case["fan_out"], case["fan_in"]]}
    if case["bias"]:
        expected["bias"] = [case["fan_out"]]
    got = obs["shapes"]
    shapes = {name: tuple(shape) for name, shape in got.items()}
    wanted = {name: tuple(shape) for name, shape in expected.items()}
    if shapes != wanted:
        why, hint = _parameters_difference(wanted, shapes)
        fail(f"{built}.named_parameters() (names and shapes)", wanted, shapes, why, hint=hint)
    for name, flag in obs["requires_grad"].items():
        expect(
            flag,
            f"{built}.{name}.requires_grad",
            True,
            False,
            _("{name}.requires_grad is False: {name} would never learn").format(name=name),
            hint=_("an nn.Parameter requires grad by default; leave it on"),
        )
    if not case["bias"]:
        bias = obs["bias"]
        expect(
            bias is None,
            f"{built}.bias",
            None,
            bias,
            _("bias is {bias}, expected None").format(bias=repr(bias)),
            hint=_("nn.Linear(bias=False).bias is None"),
        )


def _parameters_difference(wanted: dict, shapes: dict) -> tuple[str, str]:
    """What differs between the parameters registered and nn.Linear's, and what to look at."""
    if "bias" in shapes and "bias" not in wanted:
        return (
            _("bias=False created a bias parameter"),
            _("bias=False must not create a bias parameter (nn.Linear registers bias as None)"),
        )
    if set(shapes) == set(wanted):
        name = next(name for name in wanted if shapes[name] != wanted[name])
        return (
            _("{name} has shape {shape}, expected {expected}").format(
                name=name, shape=shapes[name], expected=wanted[name]
            ),
            _("weight is (out_features, in_features) in torch's layout"),
        )
    missing = sorted(set(wanted) - set(shapes))
    if shapes and missing:
        why = _("registered {registered}; missing {missing}")
    elif shapes:
        why = _("registered {registered}, expected {expected}")
    elif missing:
        why = _("no parameters registered; missing {missing}")
    else:
        why = _("no parameters registered, expected {expected}")
    return (
        why.format(registered=sorted(shapes), missing=missing, expected=sorted(wanted)),
        _("parameters must be nn.Parameter attributes named weight and bias"),
    )


def _judge_init(built: str, initial: dict, fan_in: int) -> None:
    bound = 1 / math.sqrt(fan_in)
    for name, values in initial.items():
        if not isinstance(values, torch.Tensor):
            fail(
                f"{built}.{name}",
                _("a tensor"),
                values,
                _("expected a tensor, got {value}").format(value=f"{values!r:.60}"),
            )
        largest = float(values.abs().max()) if values.numel() else 0.0
        expect(
            largest <= bound + 1e-6,
            f"{built}.{name} after construction",
            _("values in [-{bound}, {bound}] (uniform ±1/sqrt(in_features))").format(
                bound=f"{bound:.4g}"
            ),
            values,
            _("values outside [-{bound}, {bound}]: the largest |value| is {largest}").format(
                bound=f"{bound:.4g}", largest=f"{largest:.4g}"
            ),
            hint=_("initialise like nn.Linear: uniform in ±1/sqrt(in_features)"),
        )
        if values.numel() > 1:
            expect(
                bool(values.std() > 0),
                f"{built}.{name} after construction",
                _("random values"),
                values,
                _("all values are equal"),
                hint=_("initialise at random, like nn.Linear: uniform in ±1/sqrt(in_features)"),
            )


def _linear_hidden(rng) -> list[Case]:
    cases = []
    for _case in range(5):
        batch = [rng.randint(1, 5) for _ in range(rng.randint(1, 2))]
        cases.append(
            {
                "fan_in": rng.randint(1, 12),
                "fan_out": rng.randint(1, 12),
                "bias": rng.random() < 0.7,
                "batch": batch,
                "seed": rng.getrandbits(32),
            }
        )
    return cases


MY_LINEAR = Check(
    name="module.my_linear",
    doc="MyLinear(in, out) is registered, initialised and computed like nn.Linear",
    scenario=_linear_scenario,
    reference=_linear_reference,
    judge=_linear_judge,
    visible=[
        {"fan_in": 3, "fan_out": 2, "bias": bias, "batch": [4], "seed": 0} for bias in (True, False)
    ],
    hidden=_linear_hidden,
    refuses=OWN_LINEAR,
)
check_my_linear, check_my_linear_hidden = MY_LINEAR.functions()


def _mlp_keys(sizes: list[int]) -> list[str]:
    return [f"layers.{i}.{kind}" for i in range(len(sizes) - 1) for kind in ("weight", "bias")]


def _mlp_inputs(case: Case) -> tuple[nn.Sequential, torch.Tensor]:
    """Known weights (an nn.Sequential of nn.Linear and ReLU) and an input, from the seed."""
    sizes = case["sizes"]
    torch.manual_seed(case["seed"] + 1)
    reference = nn.Sequential()
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        reference.append(nn.Linear(fan_in, fan_out, dtype=DTYPE))
        if i < len(sizes) - 2:
            reference.append(nn.ReLU())
    x = torch.randn(case["batch"], sizes[0], dtype=DTYPE)
    return reference, x


def _mlp_scenario(MLP: type, case: Case, obs: Recorder) -> None:
    built = f"MLP({case['sizes']})"
    torch.manual_seed(case["seed"])
    net = obs.call(built, MLP, list(case["sizes"]))
    obs["type"] = type(net).__name__
    obs["is_module"] = isinstance(net, nn.Module)
    if not obs["is_module"]:
        return
    layers = getattr(net, "layers", None)
    obs["layers_type"] = type(layers).__name__
    obs["layers_is_module_list"] = isinstance(layers, nn.ModuleList)
    obs["keys"] = obs.call(f"{built}.state_dict()", lambda: list(net.state_dict().keys()))
    reference, x = _mlp_inputs(case)
    state = dict(zip(_mlp_keys(case["sizes"]), reference.state_dict().values(), strict=True))
    net = obs.call(f"{built}.to(torch.float64)", net.to, DTYPE)
    obs.call(f"{built}.load_state_dict(known weights)", net.load_state_dict, state)
    call = _mlp_call(case)
    got = obs.call(call, net, x)
    obs["output"] = got
    obs.call(f"{call}, then backward()", lambda: got.square().sum().backward())
    obs["all_grads"] = all(p.grad is not None for p in net.parameters())


def _mlp_call(case: Case) -> str:
    shape = (case["batch"], case["sizes"][0])
    return f"MLP({case['sizes']}) with known weights, called on x of shape {shape}"


def _mlp_reference(case: Case) -> dict:
    """nn.Sequential's output, and what the two usual slips with ReLU give on the same x (by
    the slip's key in :func:`_slip_hints`)."""
    reference, x = _mlp_inputs(case)
    linear = x
    for layer in reference:
        linear = layer(linear) if isinstance(layer, nn.Linear) else linear
    output = reference(x).detach()
    return {
        "output": output,
        "slips": {
            "relu_last": output.relu(),
            "no_relu": linear.detach(),
        },
    }


def _slip_hints() -> dict[str, str]:
    """The hint for each slip of :func:`_mlp_reference`, in the current language (the reference
    is cached across students, so it holds keys, not text)."""
    return {
        "relu_last": _("ReLU after the output layer too: the last layer has no activation"),
        "no_relu": _("no ReLU at all: put one between consecutive layers"),
    }


def _mlp_hint(reference: dict, got: Any) -> str:
    if not isinstance(got, torch.Tensor) or got.shape != reference["output"].shape:
        return ""
    for slip, value in reference["slips"].items():
        if got.dtype == value.dtype and torch.allclose(got.detach(), value, atol=1e-6, rtol=1e-5):
            return _slip_hints()[slip]
    return ""


def _mlp_judge(case: Case, reference: dict, obs: Observation) -> None:
    built = f"MLP({case['sizes']})"
    _judge_module(built, obs, "MLP")
    layers = obs["layers_type"]
    expect(
        obs["layers_is_module_list"],
        f"{built}.layers",
        _("an nn.ModuleList"),
        Opaque(layers, "") if layers != "NoneType" else None,
        _("layers is a {type}, not an nn.ModuleList").format(type=layers)
        if layers != "NoneType"
        else _("there is no attribute layers (an nn.ModuleList)"),
        hint=_("a plain Python list hides its layers from parameters(), state_dict() and .to()"),
    )
    expected_keys = _mlp_keys(case["sizes"])
    keys = obs["keys"]
    if keys != expected_keys:
        fail(
            f"{built}.state_dict().keys()",
            expected_keys,
            keys,
            _keys_difference(expected_keys, keys),
            hint=_(
                "one MyLinear per pair of consecutive sizes, in order, and nothing else with state"
            ),
        )
    call = _mlp_call(case)
    got = obs["output"]
    expect_tensor(call, reference["output"], got, hint=_mlp_hint(reference, got))
    expect(
        obs["all_grads"],
        f"{call}, then backward()",
        _("a gradient for every parameter"),
        _("some parameters got no gradient"),
        _("some parameters got no gradient"),
        hint=_("use every layer in forward, without detaching its output"),
    )


def _keys_difference(expected: list[str], got: Any) -> str:
    if not isinstance(got, list):
        return _("expected a list of keys, got {got}").format(got=f"{got!r:.60}")
    missing = [key for key in expected if key not in got]
    extra = [key for key in got if key not in expected]
    if missing:
        return _("keys {missing} are missing").format(missing=missing)
    if extra:
        return _("unexpected keys {extra}").format(extra=extra)
    return _("the keys come in another order: {got}").format(got=got)


def _mlp_hidden(rng) -> list[Case]:
    return [
        {
            "sizes": [rng.randint(1, 9) for _ in range(rng.randint(2, 5))],
            "batch": rng.randint(1, 6),
            "seed": rng.getrandbits(32),
        }
        for _ in range(4)
    ]


MLP_CHECK = Check(
    name="module.mlp",
    doc="MLP(sizes) keeps its layers in nn.ModuleList layers, ReLU between them",
    scenario=_mlp_scenario,
    reference=_mlp_reference,
    judge=_mlp_judge,
    visible=[{"sizes": [4, 8, 3], "batch": 5, "seed": 0}],
    hidden=_mlp_hidden,
    refuses=OWN_LINEAR,
)
check_mlp, check_mlp_hidden = MLP_CHECK.functions()
