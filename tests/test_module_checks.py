"""The 01_module checks pass the instructor's solution and fail realistic mistakes."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import solution_namespace
from torch import nn

from autograder import CheckFailure
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


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (SeedNoteLinear, "weight is (out_features, in_features)"),
        (NoSuperInit, "super().__init__()"),
        (PlainTensors, "must be nn.Parameter"),
        (RandnInit, "uniform in ±1/sqrt(in_features)"),
        (ZeroBiasWhenDisabled, "bias=False must not create a bias"),
    ],
)
def test_my_linear_check_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailure) as failure:
        checks.check_my_linear(wrong)
    assert message in str(failure.value)
    assert "MyLinear(3, 2" in str(failure.value), "the message names the call"


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (PythonListMLP, "a plain Python list hides its layers"),
        (ReluAfterLast, "values differ at index"),
        (NoActivation, "values differ at index"),
    ],
)
def test_mlp_check_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailure) as failure:
        checks.check_mlp(wrong)
    assert message in str(failure.value)
    assert "MLP([4, 8, 3])" in str(failure.value)


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
