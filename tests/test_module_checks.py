"""The 01_module checks pass the instructor's solution and fail realistic mistakes."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import solution_namespace
from torch import nn

from autograder import CheckFailure, report
from autograder import module as checks

SOLUTION = solution_namespace("01_module")
MyLinear, MLP = SOLUTION["MyLinear"], SOLUTION["MLP"]


class SeedNoteLinear(nn.Module):
    """The seed note's layout: weight (in, out), x @ W + b. Outputs fine, torch layout not."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-bound, bound))
        self.bias = (
            nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None
        )

    def forward(self, x):
        y = x @ self.weight
        return y if self.bias is None else y + self.bias


class NoSuperInit(MyLinear):
    """Forgets super().__init__(): nn.Module refuses the first Parameter assignment."""

    def __init__(self, in_features, out_features, bias=True):
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))


class PlainTensors(MyLinear):
    """Stores weight and bias as plain tensors: nothing is registered, nothing is learned."""

    def __init__(self, in_features, out_features, bias=True):
        nn.Module.__init__(self)
        self.weight = torch.rand(out_features, in_features) / math.sqrt(in_features)
        self.bias = torch.zeros(out_features) if bias else None


class RandnInit(MyLinear):
    """Initialises with torch.randn, as the seed note does, instead of nn.Linear's bound."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, bias)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn_like(param) * 3)


class ZeroBiasWhenDisabled(MyLinear):
    """bias=False still creates a (zero) bias parameter."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, True)
        if not bias:
            self.bias = nn.Parameter(torch.zeros(out_features))


class PythonListMLP(nn.Module):
    """Keeps its layers in a plain list: parameters() sees none of them."""

    def __init__(self, sizes):
        super().__init__()
        self.layers = [MyLinear(a, b) for a, b in zip(sizes, sizes[1:], strict=False)]

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class ReluAfterLast(MLP):
    """Applies ReLU after the output layer too."""

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


class NoActivation(MLP):
    """Forgets the nonlinearity altogether."""

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def test_solution_passes_visible_and_hidden_cases():
    checks.check_my_linear(MyLinear)
    checks.check_my_linear_hidden(MyLinear)
    checks.check_mlp(MLP)
    checks.check_mlp_hidden(MLP)


def first_line_and_message(check, wrong) -> tuple[str, str]:
    with pytest.raises(CheckFailure) as failure:
        check(wrong)
    return str(failure.value).splitlines()[0], str(failure.value)


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (
            SeedNoteLinear,
            "named_parameters() (names and shapes): weight has shape (3, 2), expected (2, 3)",
            "weight is (out_features, in_features) in torch's layout",
        ),
        (
            PlainTensors,
            "named_parameters() (names and shapes): no parameters registered; "
            "missing ['bias', 'weight']",
            "parameters must be nn.Parameter attributes named weight and bias",
        ),
        (
            RandnInit,
            ".weight after construction: values outside [-0.5774, 0.5774]",
            "initialise like nn.Linear: uniform in ±1/sqrt(in_features)",
        ),
        (
            ZeroBiasWhenDisabled,
            "(names and shapes): bias=False created a bias parameter",
            "bias=False must not create a bias parameter",
        ),
    ],
)
def test_my_linear_check_names_the_mistake(wrong, first, hint):
    """The first line alone names the call and the difference; the hint comes below."""
    line, message = first_line_and_message(checks.check_my_linear, wrong)
    assert line.startswith("MyLinear(3, 2, bias="), message
    assert first in line, message
    assert f"hint: {hint}" in message


def test_my_linear_without_super_init_gets_the_hint_for_torchs_error():
    _, message = first_line_and_message(checks.check_my_linear, NoSuperInit)
    assert "MyLinear(3, 2" in message and "super().__init__()" in message, message


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (
            PythonListMLP,
            "MLP([4, 8, 3]).layers: layers is a list, not an nn.ModuleList",
            "a plain Python list hides its layers",
        ),
        (
            ReluAfterLast,
            "called on x of shape (5, 4): values differ at index",
            "ReLU after the output layer too",
        ),
        (NoActivation, "called on x of shape (5, 4): values differ at index", "no ReLU at all"),
    ],
)
def test_mlp_check_names_the_mistake(wrong, first, hint):
    line, message = first_line_and_message(checks.check_mlp, wrong)
    assert line.startswith("MLP([4, 8, 3])") and first in line, message
    assert f"hint: {hint}" in message


def test_mlp_gets_no_hint_for_a_mistake_it_does_not_recognise():
    class HalfOutput(MLP):
        def forward(self, x):
            return super().forward(x) / 2

    _, message = first_line_and_message(checks.check_mlp, HalfOutput)
    assert "values differ at index" in message and "hint:" not in message, message


def test_hidden_cases_catch_code_fitted_to_the_visible_case():
    class FitsVisibleOnly(MyLinear):
        def forward(self, x):
            y = super().forward(x)
            return y if tuple(x.shape) == (4, 3) else y * 0

    checks.check_my_linear(FitsVisibleOnly)
    with pytest.raises(CheckFailure):
        checks.check_my_linear_hidden(FitsVisibleOnly)


def test_unimplemented_stub_is_reported_as_such():
    class Stub(nn.Module):
        def __init__(self, *args, **kwargs):
            raise NotImplementedError

    with pytest.raises(CheckFailure, match="not implemented yet"):
        checks.check_my_linear(Stub)


# ------------------------------------------------- the layout every chapter's messages share


def test_a_message_puts_the_call_and_the_difference_on_its_first_line():
    """Tools show a message's first line only; the set-up, the values and the hint come below."""
    with pytest.raises(CheckFailure) as failure:
        report.expect_tensor(
            "MyLinear(3, 2)(x)\n  x = torch.ones(1, 3)",
            torch.tensor([[0.5, 0.5]]),
            torch.tensor([[0.5, 0.7]]),
            hint="check the bias",
        )
    lines = str(failure.value).splitlines()
    assert lines[0].startswith(
        "MyLinear(3, 2)(x): values differ at index (0, 1): expected 0.5, got 0.7"
    )
    assert lines[1] == "  x = torch.ones(1, 3)"
    assert lines[2].startswith("  torch gives: tensor([[0.5000, 0.5000]])")
    assert lines[3].startswith("  yours gave: tensor([[0.5000, 0.7000]])")
    assert lines[4] == "  hint: check the bias"


def test_without_a_reason_the_first_line_says_what_was_expected_and_what_came():
    with pytest.raises(CheckFailure) as failure:
        report.expect(False, "MyLinear(3, 2).weight.requires_grad", True, False)
    assert str(failure.value).splitlines()[0] == (
        "MyLinear(3, 2).weight.requires_grad: expected True, got False"
    )


def test_an_exception_from_student_code_is_named_on_the_first_line():
    def forward(x):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 2x3)\nmore")

    with pytest.raises(CheckFailure) as failure:
        report.call_student("MyLinear(3, 2)(x)", forward, None)
    assert str(failure.value).splitlines() == [
        "MyLinear(3, 2)(x): raised RuntimeError: mat1 and mat2 shapes cannot be multiplied "
        "(4x3 and 2x3)",
        "  more",
        "  hint: check the weight layout: x @ weight.T",
    ]

    def stub(x):
        raise NotImplementedError

    with pytest.raises(CheckFailure) as failure:
        report.call_student("MyLinear(3, 2)(x)", stub, None)
    assert (
        str(failure.value) == "MyLinear(3, 2)(x): not implemented yet (raise NotImplementedError)"
    )
