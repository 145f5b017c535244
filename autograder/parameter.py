"""Checks for chapter 02_parameter: counting, freezing, and a module with a buffer."""

from __future__ import annotations

import torch
from torch import nn

from autograder.report import call_student, expect, expect_tensor, hidden_rng

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


def check_count_parameters(count_parameters, seed: int = 0, width: int = 4) -> None:
    """``count_parameters`` counts scalars, all of them or only the trainable ones, not buffers."""
    net = _sample_net(seed, width)
    for trainable_only in (False, True):
        call = f"count_parameters(net, trainable_only={trainable_only}) on\n{net}"
        expected = sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)
        got = call_student(call, count_parameters, net, trainable_only=trainable_only)
        why = "sum numel() over parameters; BatchNorm's running stats are buffers, not parameters"
        if trainable_only:
            why = "with trainable_only=True, skip parameters whose requires_grad is False"
        expect(type(got) is int and got == expected, call, expected, got, why)


def check_count_parameters_hidden(count_parameters) -> None:
    """:func:`check_count_parameters` on widths and seeds drawn at grading time."""
    rng = hidden_rng()
    check_count_parameters(count_parameters, seed=rng.getrandbits(32), width=rng.randint(1, 16))


def check_freeze(freeze, prefixes: tuple[str, ...] = ("0.", "4.")) -> None:
    """``freeze(net, prefixes)`` stops exactly the named parameters from learning."""
    net = _sample_net(seed=0)
    net[0].weight.requires_grad_(True)
    before = {name: p for name, p in net.named_parameters()}
    call = f"freeze(net, {list(prefixes)}) on\n{net}"
    call_student(call, freeze, net, list(prefixes))
    after = dict(net.named_parameters())
    expect(
        all(after[name] is before[name] for name in before),
        call,
        "the same Parameter objects, with requires_grad changed",
        "new Parameter objects",
        "change requires_grad in place; an optimizer holds the old objects",
    )
    expected = {name: not name.startswith(tuple(prefixes)) for name in before}
    got = {name: p.requires_grad for name, p in after.items()}
    expect(
        got == expected,
        f"{call}\nrequires_grad of each parameter",
        expected,
        got,
        "freeze a parameter when its name starts with one of the prefixes, and only then",
    )

    net.train()
    net(torch.randn(6, 3)).sum().backward()
    got_grads = {name: p.grad is not None for name, p in net.named_parameters()}
    expect(
        got_grads == expected,
        f"{call}\nthen backward(): which parameters got a .grad",
        expected,
        got_grads,
    )


def check_freeze_hidden(freeze) -> None:
    """:func:`check_freeze` on a prefix set drawn at grading time."""
    rng = hidden_rng()
    choices = ["0.", "1.", "3.", "3.0.", "4.", "4.bias", "0.weight"]
    check_freeze(freeze, tuple(rng.sample(choices, rng.randint(1, 3))))


def check_running_mean(
    RunningMean: type, num_features: int = 3, momentum: float = 0.1, batches: int = 3, seed: int = 0
) -> None:
    """``RunningMean`` keeps a buffer updated exactly like ``BatchNorm1d.running_mean``."""
    built = f"RunningMean({num_features}, momentum={momentum})"
    mine = call_student(built, RunningMean, num_features, momentum=momentum)
    expect(isinstance(mine, nn.Module), built, "an nn.Module", type(mine).__name__)
    params = [name for name, _ in mine.named_parameters()]
    expect(
        params == [],
        f"{built}.named_parameters()",
        [],
        params,
        "running_mean is state, not something an optimizer should learn",
    )
    buffers = dict(mine.named_buffers())
    expect(
        "running_mean" in buffers,
        f"{built}.named_buffers()",
        ["running_mean"],
        list(buffers),
        "use self.register_buffer('running_mean', ...)",
    )
    expect(
        "running_mean" in mine.state_dict(),
        f"{built}.state_dict().keys()",
        ["running_mean"],
        list(mine.state_dict()),
        "a persistent buffer is saved",
    )
    mine = mine.to(DTYPE)
    expect(
        mine.running_mean.dtype == DTYPE,
        f"{built}.to(torch.float64).running_mean.dtype",
        DTYPE,
        mine.running_mean.dtype,
        "a buffer moves with .to(); a plain attribute does not",
    )

    reference = nn.BatchNorm1d(num_features, momentum=momentum, affine=False, dtype=DTYPE)
    expect_tensor(f"{built}.running_mean at the start", reference.running_mean, mine.running_mean)
    generator = torch.Generator().manual_seed(seed)
    mine.train()
    for step in range(batches):
        x = torch.randn(5, num_features, dtype=DTYPE, generator=generator) * 3 + step
        call = f"{built} in train mode, batch {step + 1} of shape {tuple(x.shape)}"
        got = call_student(call, mine, x)
        reference(x)
        expect_tensor(call, x - x.mean(0), got)
        expect_tensor(f"{call}: running_mean afterwards", reference.running_mean, mine.running_mean)

    mine.eval()
    x = torch.randn(4, num_features, dtype=DTYPE, generator=generator)
    call = f"{built} in eval mode on x of shape {tuple(x.shape)}"
    got = call_student(call, mine, x)
    expect_tensor(call, x - reference.running_mean, got)
    expect_tensor(
        f"{call}: running_mean must not change in eval mode",
        reference.running_mean,
        mine.running_mean,
    )


def check_running_mean_hidden(RunningMean: type) -> None:
    """:func:`check_running_mean` on sizes, momenta and data drawn at grading time."""
    rng = hidden_rng()
    check_running_mean(
        RunningMean,
        num_features=rng.randint(1, 8),
        momentum=round(rng.uniform(0.01, 0.9), 3),
        batches=rng.randint(2, 5),
        seed=rng.getrandbits(32),
    )
