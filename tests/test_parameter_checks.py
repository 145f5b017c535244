"""The 02_parameter checks pass the instructor's solution and fail realistic mistakes."""

from __future__ import annotations

import json
import random
import sys

import pytest
import torch
from conftest import solution_namespace
from torch import nn

from autograder import CheckFailure
from autograder import parameter as checks
from autograder.checking import Delegation

SOLUTION = solution_namespace("02_parameter")
count_parameters = SOLUTION["count_parameters"]
freeze = SOLUTION["freeze"]
RunningMean = SOLUTION["RunningMean"]


def count_tensors(module, trainable_only=False):
    """Counts parameter tensors instead of the scalars in them."""
    return sum(1 for p in module.parameters() if p.requires_grad or not trainable_only)


def count_state_dict(module, trainable_only=False):
    """Counts state_dict() entries, which include BatchNorm's buffers."""
    return sum(v.numel() for v in module.state_dict().values())


def count_ignoring_flag(module, trainable_only=False):
    """Forgets trainable_only."""
    return sum(p.numel() for p in module.parameters())


def freeze_by_substring(module, prefixes):
    """Matches anywhere in the name: "0." also freezes "3.0.weight"."""
    for name, param in module.named_parameters():
        if any(prefix in name for prefix in prefixes):
            param.requires_grad_(False)


def freeze_by_replacing(module, prefixes):
    """Replaces parameters with frozen copies: an existing optimizer keeps the old ones."""
    for name, param in list(module.named_parameters()):
        if name.startswith(tuple(prefixes)):
            owner_name, _, attribute = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            setattr(owner, attribute, nn.Parameter(param.detach().clone(), requires_grad=False))


def freeze_everything(module, prefixes):
    """Ignores the prefixes."""
    module.requires_grad_(False)


class PlainAttribute(RunningMean):
    """Keeps the running mean as a plain attribute: not saved, not moved by .to()."""

    def __init__(self, num_features, momentum=0.1):
        nn.Module.__init__(self)
        self.momentum = momentum
        self.running_mean = torch.zeros(num_features)


class AsParameter(RunningMean):
    """Makes the running mean a Parameter: an optimizer would train it."""

    def __init__(self, num_features, momentum=0.1):
        nn.Module.__init__(self)
        self.momentum = momentum
        self.running_mean = nn.Parameter(torch.zeros(num_features), requires_grad=False)


class SwappedMomentum(RunningMean):
    """Weights the old mean by momentum and the new batch by 1 - momentum."""

    def forward(self, x):
        if not self.training:
            return x - self.running_mean
        with torch.no_grad():
            self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * x.mean(0))
        return x - x.mean(0)


class UpdatesInEval(RunningMean):
    """Updates the buffer in eval mode too."""

    def forward(self, x):
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * x.mean(0))
        return x - (x.mean(0) if self.training else self.running_mean)


def test_solution_passes_visible_and_hidden_cases():
    checks.check_count_parameters(count_parameters)
    checks.check_count_parameters_hidden(count_parameters)
    checks.check_freeze(freeze)
    checks.check_freeze_hidden(freeze)
    checks.check_running_mean(RunningMean)
    checks.check_running_mean_hidden(RunningMean)


def first_line_and_message(check, wrong) -> tuple[str, str]:
    with pytest.raises(CheckFailure) as failure:
        check(wrong)
    return str(failure.value).splitlines()[0], str(failure.value)


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (
            count_tensors,
            "trainable_only=False): returned 7, expected 50",
            "that is the number of parameter tensors: sum numel() over parameters",
        ),
        (
            count_state_dict,
            "trainable_only=False): returned 59, expected 50",
            "BatchNorm's running stats included: they are buffers, not parameters",
        ),
        (
            count_ignoring_flag,
            "trainable_only=True): returned 50, expected 38",
            "with trainable_only=True, skip parameters whose requires_grad is False",
        ),
    ],
)
def test_count_parameters_check_names_the_mistake(wrong, first, hint):
    """The first line alone says what came back; the hint names the mistake those numbers show."""
    line, message = first_line_and_message(checks.check_count_parameters, wrong)
    assert line.startswith("count_parameters(net, ") and first in line, message
    assert "\n  net = Sequential(" in message, "the net follows the first line"
    assert hint in message.split("\n  hint: ")[1], message


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (
            freeze_by_substring,
            "'3.0.weight' was frozen, but it starts with none of ['0.', '4.']",
            "starts with one of the prefixes",
        ),
        (
            freeze_by_replacing,
            "freeze put new Parameter objects in the net",
            "change requires_grad in place",
        ),
        (
            freeze_everything,
            "'1.weight' was frozen, but it starts with none of ['0.', '4.']",
            "starts with one of the prefixes",
        ),
    ],
)
def test_freeze_check_names_the_mistake(wrong, first, hint):
    line, message = first_line_and_message(checks.check_freeze, wrong)
    assert line.startswith("freeze(net, ['0.', '4.']): ") and first in line, message
    assert hint in message, message


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (PlainAttribute, ".named_buffers(): running_mean is not a buffer", "register_buffer"),
        (
            AsParameter,
            ".named_parameters(): RunningMean has parameters ['running_mean']",
            "not something an optimizer should learn",
        ),
        (
            SwappedMomentum,
            "batch 1 of shape (5, 3): running_mean afterwards: values differ at index",
            "running_mean = (1 - momentum) * running_mean + momentum * x.mean(0)",
        ),
        (
            UpdatesInEval,
            "in eval mode on x of shape (4, 3): running_mean afterwards: values differ at index",
            "running_mean must not change in eval mode",
        ),
    ],
)
def test_running_mean_check_names_the_mistake(wrong, first, hint):
    line, message = first_line_and_message(checks.check_running_mean, wrong)
    assert line.startswith("RunningMean(3, momentum=0.1)") and first in line, message
    assert hint in message.split("\n  hint: ")[1], message


def _from_callers(accept):
    """The first local named expected, reference or ref in a calling frame that ``accept``s."""
    frame = sys._getframe(2)
    while frame is not None:
        for name in ("expected", "reference", "ref"):
            value = frame.f_locals.get(name)
            if accept(value):
                return value
        frame = frame.f_back
    return None


def count_from_the_checker(module, trainable_only=False):
    """Returns the count the checking code computed, read from its frames (the old checks held
    ``expected`` in the frame that called the student's function)."""
    found = _from_callers(lambda value: type(value) is int)
    return found if found is not None else -1


def test_the_reference_is_not_in_the_frames_the_student_code_runs_in():
    with pytest.raises(CheckFailure, match="count_parameters"):
        checks.check_count_parameters(count_from_the_checker)
    with pytest.raises(CheckFailure, match="count_parameters"):
        checks.check_count_parameters_hidden(count_from_the_checker)


class BendsTheCheckersBatchNorm(SwappedMomentum):
    """A wrong update that makes a BatchNorm1d found in a calling frame agree with it: momentum 0
    and this module's running mean (the old check stepped its BatchNorm beside the student's)."""

    def forward(self, x):
        out = super().forward(x)
        found = _from_callers(lambda value: isinstance(value, nn.BatchNorm1d))
        if found is not None:
            found.momentum = 0.0
            with torch.no_grad():
                found.running_mean.copy_(self.running_mean)
        return out


def test_running_mean_cannot_bend_a_batchnorm_of_the_checker():
    with pytest.raises(CheckFailure, match="running_mean afterwards"):
        checks.check_running_mean(BendsTheCheckersBatchNorm)


@pytest.mark.parametrize(
    ("check", "name", "refuses"),
    [
        (
            checks.COUNT_PARAMETERS,
            "parameter.count_parameters",
            Delegation(task="the count", forbidden=("torch.nn.utils.parameters_to_vector",)),
        ),
        (checks.FREEZE, "parameter.freeze", None),
        (
            checks.RUNNING_MEAN,
            "parameter.running_mean",
            Delegation(
                task="the running mean",
                forbidden=("torch.nn.modules.batchnorm", "torch.nn.functional.batch_norm"),
            ),
        ),
    ],
)
def test_checks_are_named_and_their_cases_are_plain_data(check, name, refuses):
    assert check.name == name
    assert check.refuses == refuses
    for case in check.cases(hidden=False) + check.cases(hidden=True, rng=random.Random(3)):
        assert json.loads(json.dumps(case)) == case
