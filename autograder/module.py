"""Checks for chapter 01_module: ``MyLinear`` and ``MLP`` against ``nn.Linear``."""

from __future__ import annotations

import math

import torch
from torch import nn

from autograder.report import (
    CheckFailure,
    call_student,
    expect,
    expect_tensor,
    hidden_rng,
)

DTYPE = torch.float64


def check_my_linear(MyLinear: type, in_features: int = 3, out_features: int = 2) -> None:
    """``MyLinear(in, out)`` is registered, initialised and computed like ``nn.Linear``."""
    for bias in (True, False):
        _check_linear_case(MyLinear, in_features, out_features, bias, batch=(4,), seed=0)


def check_my_linear_hidden(MyLinear: type, cases: int = 5) -> None:
    """The same as :func:`check_my_linear` on shapes and seeds drawn at grading time."""
    rng = hidden_rng()
    for _ in range(cases):
        batch = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 2)))
        _check_linear_case(
            MyLinear,
            rng.randint(1, 12),
            rng.randint(1, 12),
            rng.random() < 0.7,
            batch,
            seed=rng.getrandbits(32),
        )


def _check_linear_case(
    MyLinear: type, fan_in: int, fan_out: int, bias: bool, batch: tuple[int, ...], seed: int
) -> None:
    built = f"MyLinear({fan_in}, {fan_out}, bias={bias})"
    torch.manual_seed(seed)
    mine = call_student(built, MyLinear, fan_in, fan_out, bias=bias)
    expect(isinstance(mine, nn.Module), built, "an nn.Module", type(mine).__name__)
    _check_registered(built, mine, fan_in, fan_out, bias)
    _check_init(built, mine, fan_in)

    torch.manual_seed(seed + 1)
    ref = nn.Linear(fan_in, fan_out, bias=bias, dtype=DTYPE)
    mine = mine.to(DTYPE)
    call_student(
        f"{built}.load_state_dict(nn.Linear's state_dict())", mine.load_state_dict, ref.state_dict()
    )
    x = torch.randn(*batch, fan_in, dtype=DTYPE)
    call = f"{built} with nn.Linear's weights, called on x of shape {tuple(x.shape)}"
    got = call_student(call, mine, x)
    expected = ref(x)
    expect_tensor(call, expected, got)

    expected.sum().backward()
    got.sum().backward()
    grads = dict(mine.named_parameters())
    for name, param in ref.named_parameters():
        expect_tensor(
            f"{call}, then out.sum().backward(): gradient of {name}",
            param.grad,
            grads[name].grad,
        )


def _check_registered(built: str, module: nn.Module, fan_in: int, fan_out: int, bias: bool) -> None:
    expected = {"weight": (fan_out, fan_in)}
    if bias:
        expected["bias"] = (fan_out,)
    try:
        params = dict(module.named_parameters())
    except AttributeError as error:
        raise CheckFailure(
            f"{built}.named_parameters()\n  raised AttributeError: {error}\n"
            "  hint: does __init__ call super().__init__() before assigning attributes?"
        ) from error
    got = {name: tuple(p.shape) for name, p in params.items()}
    why = (
        "weight is (out_features, in_features) in torch's layout"
        if set(got) == set(expected)
        else "parameters must be nn.Parameter attributes named weight and bias"
    )
    if not bias and "bias" in got:
        why = "bias=False must not create a bias parameter (nn.Linear registers bias as None)"
    expect(got == expected, f"{built}.named_parameters() (names and shapes)", expected, got, why)
    for name, param in params.items():
        expect(param.requires_grad, f"{built}.{name}.requires_grad", True, False)
    if not bias:
        expect(
            getattr(module, "bias", None) is None,
            f"{built}.bias",
            None,
            getattr(module, "bias", None),
            "nn.Linear(bias=False).bias is None",
        )


def _check_init(built: str, module: nn.Module, fan_in: int) -> None:
    bound = 1 / math.sqrt(fan_in)
    for name, param in module.named_parameters():
        values = param.detach()
        inside = bool((values.abs() <= bound + 1e-6).all())
        expect(
            inside,
            f"{built}.{name} after construction",
            f"values in [-{bound:.4g}, {bound:.4g}] (uniform ±1/sqrt(in_features))",
            values,
            "initialise like nn.Linear: uniform in ±1/sqrt(in_features)",
        )
        if values.numel() > 1:
            expect(
                bool(values.std() > 0),
                f"{built}.{name} after construction",
                "random values",
                values,
                "all values are equal: initialise at random",
            )


def check_mlp(MLP: type, sizes: tuple[int, ...] = (4, 8, 3), batch: int = 5, seed: int = 0) -> None:
    """``MLP(sizes)`` keeps its layers in ``nn.ModuleList`` ``layers``, ReLU between them."""
    built = f"MLP({list(sizes)})"
    torch.manual_seed(seed)
    net = call_student(built, MLP, list(sizes))
    expect(isinstance(net, nn.Module), built, "an nn.Module", type(net).__name__)
    layers = getattr(net, "layers", None)
    expect(
        isinstance(layers, nn.ModuleList),
        f"{built}.layers",
        "an nn.ModuleList",
        type(layers).__name__,
        "a plain Python list hides its layers from parameters(), state_dict() and .to()",
    )

    reference = nn.Sequential()
    expected_keys = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        reference.append(nn.Linear(fan_in, fan_out, dtype=DTYPE))
        if i < len(sizes) - 2:
            reference.append(nn.ReLU())
        expected_keys += [f"layers.{i}.weight", f"layers.{i}.bias"]
    got_keys = list(net.state_dict().keys())
    expect(
        got_keys == expected_keys,
        f"{built}.state_dict().keys()",
        expected_keys,
        got_keys,
        "one MyLinear per pair of consecutive sizes, in order, and nothing else with state",
    )

    state = {
        key: value
        for key, value in zip(expected_keys, reference.state_dict().values(), strict=True)
    }
    net = net.to(DTYPE)
    net.load_state_dict(state)
    x = torch.randn(batch, sizes[0], dtype=DTYPE)
    call = f"{built} with known weights, called on x of shape {tuple(x.shape)}"
    got = call_student(call, net, x)
    expect_tensor(call, reference(x), got)  # so `got` is a plain tensor from here on
    got.square().sum().backward()
    expect(
        all(p.grad is not None for p in net.parameters()),
        f"{call}, then backward()",
        "a gradient for every parameter",
        "some parameters got no gradient",
    )


def check_mlp_hidden(MLP: type, cases: int = 4) -> None:
    """:func:`check_mlp` on depths, widths and seeds drawn at grading time."""
    rng = hidden_rng()
    for _ in range(cases):
        sizes = tuple(rng.randint(1, 9) for _ in range(rng.randint(2, 5)))
        check_mlp(MLP, sizes, batch=rng.randint(1, 6), seed=rng.getrandbits(32))
