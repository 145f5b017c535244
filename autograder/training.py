"""Checks for chapter 08_training: ``train_epoch``, ``evaluate`` and saving/loading a checkpoint.

Each check is a scenario and a judge (see :mod:`autograder.checking`). A case is plain data: the
sizes of a small synthetic classification task (features drawn from a seeded generator, labels
from a hidden linear rule), of a float64 model ``Linear -> BatchNorm1d -> ReLU -> Dropout ->
Linear`` (so training and eval mode differ), the batch size (always leaving a short last batch),
the optimizer's and scheduler's hyperparameters and a seed.

- ``train_epoch``: the scenario hands the student's function a model in *eval* mode, a shuffling
  ``DataLoader``, ``SGD`` with momentum and ``CrossEntropyLoss``, and records what comes back,
  the model's ``state_dict()`` afterwards and, through hooks, the mode and grad mode of every
  forward pass and the gradients every ``optimizer.step()`` saw.
- ``evaluate``: the same model (in train or eval mode before the call), a loader without
  shuffling; the scenario records the returned loss and accuracy, the mode and grad mode of every
  forward pass, the mode afterwards and the ``state_dict()`` afterwards.
- ``checkpoint``: the student's ``(save_checkpoint, load_checkpoint)``. The scenario trains ``k``
  epochs with a plain loop of this module (never the student's ``train_epoch``), saves, loads into
  fresh objects and trains the remaining epochs; it records the state right after the load (model,
  momentum buffers, learning rates, scheduler, global RNG, the loader's generator, the returned
  epoch) and at the end (and the next batch of the loader).

The references run :func:`_reference_train_epoch` / :func:`_reference_evaluate` on the same
inputs, and for the checkpoint a straight run of all the epochs; the judges compare (float64,
tight tolerances; bit for bit for the checkpoint) and name the mistake.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset

from autograder.checking import Case, Check, Observation, Recorder, raised_of
from autograder.i18n import _
from autograder.plain import RaisedError
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

#: Offsets of the seeds drawn from a case's seed, one per source of randomness.
DATA, MODEL, LOADER, GLOBAL = 0, 1, 2, 3
#: Seeds of the resumed run's fresh objects and of the global RNG before loading.
FRESH, SCRAMBLE = 101, 202


# The texts more than one message uses, in the current language (so built when a message is).
def _straight() -> str:
    return _("a straight run gives")


def _loop_hint() -> str:
    return _(
        "for each batch (x, y) of the loader: optimizer.zero_grad(), "
        "loss = loss_fn(model(x), y), loss.backward(), optimizer.step()"
    )


def _weights_only() -> str:
    return _(
        "save only what torch.load(path) reads with weights_only=True: tensors, numbers, "
        "strings, and dicts and lists of them (the state_dict()s, torch.get_rng_state() and "
        "generator.get_state(), which are uint8 tensors, and the epoch as an int)"
    )


# ------------------------------------------------------------------ inputs, on either side


def _dataset(case: Case) -> TensorDataset:
    """Features from a seeded generator; labels from a hidden linear rule."""
    gen = torch.Generator().manual_seed(case["seed"] + DATA)
    x = torch.randn(case["samples"], case["features"], generator=gen, dtype=DTYPE)
    rule = torch.randn(case["features"], case["classes"], generator=gen, dtype=DTYPE)
    shift = 0.3 * torch.randn(case["classes"], generator=gen, dtype=DTYPE)
    return TensorDataset(x, (x @ rule + shift).argmax(dim=1))


def _model(case: Case, offset: int = MODEL) -> nn.Sequential:
    """The float64 model; its weights and BatchNorm statistics come from a seeded generator.

    Built before the global RNG is seeded (nn.Linear's own initialisation draws from it).
    """
    features, hidden, classes = case["features"], case["hidden"], case["classes"]
    model = nn.Sequential(
        nn.Linear(features, hidden, dtype=DTYPE),
        nn.BatchNorm1d(hidden, dtype=DTYPE),
        nn.ReLU(),
        nn.Dropout(case["dropout"]),
        nn.Linear(hidden, classes, dtype=DTYPE),
    )
    gen = torch.Generator().manual_seed(case["seed"] + offset)
    with torch.no_grad():
        for layer in (model[0], model[4]):
            scale = 1 / math.sqrt(layer.in_features)
            layer.weight.copy_(scale * torch.randn(layer.weight.shape, generator=gen, dtype=DTYPE))
            layer.bias.copy_(0.1 * torch.randn(layer.bias.shape, generator=gen, dtype=DTYPE))
        norm = model[1]
        norm.weight.copy_(1 + 0.1 * torch.randn(hidden, generator=gen, dtype=DTYPE))
        norm.bias.copy_(0.1 * torch.randn(hidden, generator=gen, dtype=DTYPE))
        norm.running_mean.copy_(0.3 * torch.randn(hidden, generator=gen, dtype=DTYPE))
        norm.running_var.copy_(0.5 + torch.rand(hidden, generator=gen, dtype=DTYPE))
    return model


def _loader(case: Case, dataset: TensorDataset, generator: torch.Generator | None) -> DataLoader:
    if generator is None:
        return DataLoader(dataset, batch_size=case["batch_size"], shuffle=False)
    return DataLoader(dataset, batch_size=case["batch_size"], shuffle=True, generator=generator)


def _optimizer(case: Case, model: nn.Module) -> SGD:
    return SGD(model.parameters(), lr=case["lr"], momentum=case["momentum"])


def _scheduler(case: Case, optimizer: SGD) -> StepLR:
    return StepLR(optimizer, step_size=case["step_size"], gamma=case["gamma"])


def _generator(case: Case, offset: int = LOADER) -> torch.Generator:
    return torch.Generator().manual_seed(case["seed"] + offset)


def _sizes(case: Case) -> list[int]:
    """The size of every batch of one epoch (the last one is short)."""
    n, size = case["samples"], case["batch_size"]
    return [min(size, n - start) for start in range(0, n, size)]


# --------------------------------------------------------------------- call labels


def _describe_model(case: Case) -> str:
    features, hidden, classes = case["features"], case["hidden"], case["classes"]
    return (
        f"Linear({features}, {hidden}) -> BatchNorm1d({hidden}) -> ReLU -> "
        f"Dropout({case['dropout']:.3g}) -> Linear({hidden}, {classes}), float64"
    )


def _describe_loader(case: Case, shuffle: bool) -> str:
    last = _sizes(case)[-1]
    return (
        f"{case['samples']} samples, batch_size={case['batch_size']}, shuffle={shuffle} "
        f"(the last batch has {last})"
    )


def _optimizer_text(case: Case) -> str:
    return f"SGD(lr={case['lr']:.3g}, momentum={case['momentum']:.3g})"


def _train_call(case: Case) -> str:
    return (
        "train_epoch(model, loader, optimizer, loss_fn)\n"
        f"  model: {_describe_model(case)}, in eval mode before the call\n"
        f"  loader: {_describe_loader(case, True)}\n"
        f"  optimizer: {_optimizer_text(case)}, loss_fn: CrossEntropyLoss()"
    )


def _evaluate_call(case: Case) -> str:
    mode = _mode(case["train_before"])
    return (
        "evaluate(model, loader, loss_fn)\n"
        f"  model: {_describe_model(case)}, in {mode} mode before the call\n"
        f"  loader: {_describe_loader(case, False)}, loss_fn: CrossEntropyLoss()"
    )


def _save_call(case: Case) -> str:
    k = case["save_after"]
    return (
        f"save_checkpoint(path, model, optimizer, scheduler, epoch={k - 1}, generator) after "
        f"{k} epoch{'s' * (k != 1)}"
    )


def _load_call(case: Case) -> str:
    return (
        "load_checkpoint(path, model, optimizer, scheduler, generator) into fresh objects, "
        f"then {case['epochs'] - case['save_after']} more epochs"
    )


def _checkpoint_call(case: Case) -> str:
    return (
        f"{_save_call(case)}\n  then {_load_call(case)}\n"
        f"  model: {_describe_model(case)}\n"
        f"  loader: {_describe_loader(case, True)}, generator=generator\n"
        f"  optimizer: {_optimizer_text(case)}, scheduler: StepLR(step_size={case['step_size']}, "
        f"gamma={case['gamma']:.3g}), stepped after every epoch"
    )


def _mode(training: Any) -> str:
    return "train" if training is True else "eval" if training is False else repr(training)


# ------------------------------------------------------------------------ scenario helpers


@contextmanager
def _isolated() -> Iterator[None]:
    """The caller's global RNG restored afterwards, and one intra-op thread meanwhile.

    On tensors this small torch's thread pool costs far more than it gives (BatchNorm1d in
    float64 runs ~50x slower on two busy threads), and one thread computes the same bits in
    the student's kernel and in the grader's processes, which run single-threaded.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(threads)


def _watch(model: nn.Module, optimizer: SGD | None = None) -> tuple[list, list, Callable]:
    """Hooks that record every forward pass (mode, grad mode, batch size) and, with an
    optimizer, the gradients every ``optimizer.step()`` sees; and a function removing them."""
    forwards: list[dict] = []
    steps: list[list] = []

    def before_forward(module: nn.Module, args: tuple) -> None:
        x = args[0] if args else None
        forwards.append(
            {
                "training": bool(module.training),
                "grad": torch.is_grad_enabled(),
                "size": len(x) if isinstance(x, torch.Tensor) and x.dim() else None,
            }
        )

    def before_step(opt: Any, args: tuple, kwargs: dict) -> None:
        steps.append(
            [
                None if p.grad is None else p.grad.detach().clone()
                for group in opt.param_groups
                for p in group["params"]
            ]
        )

    handles = [model.register_forward_pre_hook(before_forward)]
    if optimizer is not None:
        handles.append(optimizer.register_step_pre_hook(before_step))

    def remove() -> None:
        for handle in handles:
            handle.remove()

    return forwards, steps, remove


def _number(value: Any) -> Any:
    """A returned number as plain data: an int or float as itself, anything else unchanged
    (a tensor crosses as a tensor, an object as its description)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


# -------------------------------------------------------------------------- reference loops


def _reference_train_epoch(
    model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, loss_fn: nn.Module
) -> float:
    """One epoch in training mode; the mean per-sample loss (each batch weighted by its size)."""
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def _reference_evaluate(
    model: nn.Module, loader: DataLoader, loss_fn: nn.Module
) -> tuple[float, float]:
    """Mean per-sample loss and accuracy, in eval mode, without gradients; the mode restored."""
    was_training = model.training
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(y)
            correct += int((out.argmax(dim=-1) == y).sum())
            count += len(y)
    model.train(was_training)
    return total / count, correct / count


def _plain_train_epoch(model: nn.Module, loader: DataLoader, optimizer: SGD) -> None:
    """The checkpoint check's own epoch (the exercise is saving and loading, not this loop)."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    for x, y in loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()


# ------------------------------------------------------------------------------ train_epoch


def _train_scenario(train_epoch: Callable, case: Case, obs: Recorder) -> None:
    with _isolated():
        dataset = _dataset(case)
        model = _model(case)
        loader = _loader(case, dataset, _generator(case))
        optimizer = _optimizer(case, model)
        model.eval()  # train_epoch switches to training mode itself
        torch.manual_seed(case["seed"] + GLOBAL)  # Dropout's masks
        forwards, steps, remove = _watch(model, optimizer)
        obs["before"] = model.training
        returned = obs.call(
            _train_call(case), train_epoch, model, loader, optimizer, nn.CrossEntropyLoss()
        )
        remove()
        obs["forwards"] = forwards
        obs["steps"] = steps
        obs["returned"] = _number(returned)
        obs["after"] = model.training
        obs["state"] = dict(model.state_dict())


def _train_reference(case: Case) -> dict:
    with _isolated():
        dataset = _dataset(case)
        model = _model(case)
        loader = _loader(case, dataset, _generator(case))
        optimizer = _optimizer(case, model)
        model.eval()
        torch.manual_seed(case["seed"] + GLOBAL)
        _, steps, remove = _watch(model, optimizer)
        losses: list[float] = []
        loss_fn = nn.CrossEntropyLoss()

        def recording(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            loss = loss_fn(out, y)
            losses.append(loss.item())
            return loss

        mean = _reference_train_epoch(model, loader, optimizer, recording)
        remove()
    return {
        "names": [name for name, _ in model.named_parameters()],
        "sizes": _sizes(case),
        "mean": mean,
        "batch_mean": sum(losses) / len(losses),
        "steps": steps,
        "state": _state(model),
    }


def _train_judge(case: Case, reference: dict, obs: Observation) -> None:
    call = _train_call(case)
    sizes = reference["sizes"]
    forwards = _forwards(obs["forwards"])
    _judge_forward_count(call, forwards, sizes)
    for index, forward in enumerate(forwards, start=1):
        training = forward.get("training")
        expect(
            training is True,
            call,
            True,
            training,
            _(
                "train_epoch ran the model in {mode} mode (model.training was {training} in "
                "the forward pass of batch {index})"
            ).format(mode=_mode(training), training=f"{training!r:.20}", index=index),
            hint=_(
                "call model.train() first (the model was in eval mode before; Dropout and "
                "BatchNorm1d behave differently in training)"
            ),
        )
        expect(
            forward.get("grad") is True,
            call,
            True,
            forward.get("grad"),
            _(
                "gradients were off while training (torch.is_grad_enabled() was {grad} in the "
                "forward pass of batch {index})"
            ).format(grad=f"{forward.get('grad')!r:.20}", index=index),
            hint=_("do not run train_epoch under torch.no_grad()"),
        )
    _judge_steps(call, reference, _listed(obs["steps"]))
    _judge_state(
        call,
        _("model.state_dict()[{name}] after the epoch: {why}"),
        reference["state"],
        obs["state"],
        _difference,
        _loop_hint(),
    )
    _judge_mean(
        call,
        "train_epoch",
        obs["returned"],
        reference["mean"],
        reference["batch_mean"],
        case,
    )


def _judge_forward_count(call: str, forwards: list, sizes: list[int]) -> None:
    got = [forward.get("size") for forward in forwards]
    expect(
        got == sizes,
        call,
        sizes,
        got,
        _("the model was called on batches of sizes {got}, expected {expected}").format(
            got=got, expected=sizes
        ),
        hint=_(
            "call model(x) once per batch of the loader, on the whole batch (model(x), not "
            "model.forward(x))"
        ),
    )


def _judge_steps(call: str, reference: dict, steps: list) -> None:
    expected = reference["steps"]
    names = reference["names"]
    expect(
        len(steps) == len(expected),
        call,
        len(expected),
        len(steps),
        _("optimizer.step() ran {count} times, expected {expected} (once per batch)").format(
            count=len(steps), expected=len(expected)
        ),
        hint=_loop_hint(),
    )
    for index, (want, got) in enumerate(zip(expected, steps, strict=True), start=1):
        got = _listed(got, len(want))
        for position, (name, wanted, grad) in enumerate(zip(names, want, got, strict=True)):
            why = _difference(wanted, grad)
            if why is None:
                continue
            summed = sum(step[position] for step in expected[:index])
            if index > 1 and _difference(summed, grad) is None:
                why = _(
                    "at batch {index}, optimizer.step() saw the gradients of batches 1 to "
                    "{index} summed ({name})"
                ).format(index=index, name=repr(name))
                hint = _(
                    "gradients accumulated across batches: call optimizer.zero_grad() for every "
                    "batch, before loss.backward()"
                )
            elif isinstance(grad, torch.Tensor) and not bool(grad.detach().any()):
                why = _("at batch {index}, optimizer.step() saw zero gradients ({name})").format(
                    index=index, name=repr(name)
                )
                hint = _(
                    "the gradients were zero when optimizer.step() ran: zero them before "
                    "loss.backward(), not between backward() and step()"
                )
            else:
                why = _(
                    "at batch {index}, optimizer.step() saw another gradient of {name}: {why}"
                ).format(index=index, name=repr(name), why=why)
                hint = _loop_hint()
            fail(call, wanted, _detached(grad), why, hint=hint)


def _judge_mean(
    call: str,
    function: str,
    got: Any,
    mean: float,
    batch_mean: float,
    case: Case,
) -> None:
    """A returned mean loss: a Python number, equal to the per-sample mean."""
    if isinstance(got, torch.Tensor):
        fail(
            call,
            mean,
            got,
            _("{function} returned the loss as a tensor, not a Python float").format(
                function=function
            ),
            hint=_("return the loss as a Python float (tensor.item()), not a tensor"),
        )
    if not _is_number(got):
        fail(
            call,
            mean,
            got,
            _("{function} returned {got} as the loss, not a finite Python float").format(
                function=function, got=f"{got!r:.60}"
            ),
            hint=_("the loss is a Python float"),
        )
    if _close(mean, got):
        return
    sizes = _sizes(case)
    per_sample = f"sum(loss_of_batch * batch_size) / {case['samples']}"
    if _close(batch_mean, got):
        why = _(
            "{function} returned {got}, the mean over batches, not the per-sample mean {mean}"
        ).format(function=function, got=f"{got:.6g}", mean=f"{mean:.6g}")
        hint = _(
            "torch's per-sample mean weights the last batch ({size} samples) by its size: {formula}"
        ).format(size=sizes[-1], formula=per_sample)
    else:
        why = _("{function} returned {got} as the loss, expected {mean}").format(
            function=function, got=f"{got:.6g}", mean=f"{mean:.6g}"
        )
        hint = _(
            "the mean per-sample loss over the epoch: {formula}, each batch's loss taken as "
            "the batch is processed"
        ).format(formula=per_sample)
    fail(call, mean, got, why, hint=hint)


# ---------------------------------------------------------------------------- evaluate


def _evaluate_scenario(evaluate: Callable, case: Case, obs: Recorder) -> None:
    with _isolated():
        dataset = _dataset(case)
        model = _model(case)
        loader = _loader(case, dataset, None)
        model.train(case["train_before"])
        torch.manual_seed(case["seed"] + GLOBAL)
        forwards, _, remove = _watch(model)
        obs["before"] = model.training
        returned = obs.call(_evaluate_call(case), evaluate, model, loader, nn.CrossEntropyLoss())
        remove()
        obs["forwards"] = forwards
        if isinstance(returned, tuple | list):
            returned = tuple(_number(value) for value in returned)
        obs["returned"] = _number(returned)
        obs["after"] = model.training
        obs["state"] = dict(model.state_dict())


def _evaluate_reference(case: Case) -> dict:
    with _isolated():
        dataset = _dataset(case)
        model = _model(case)
        loader = _loader(case, dataset, None)
        model.train(case["train_before"])
        state = _state(model)
        loss, accuracy = _reference_evaluate(model, loader, nn.CrossEntropyLoss())
        losses, accuracies = [], []
        model.eval()
        with torch.no_grad():
            for x, y in loader:
                out = model(x)
                losses.append(nn.functional.cross_entropy(out, y).item())
                accuracies.append(float((out.argmax(dim=-1) == y).double().mean()))
    return {
        "sizes": _sizes(case),
        "loss": loss,
        "accuracy": accuracy,
        "batch_loss": sum(losses) / len(losses),
        "batch_accuracy": sum(accuracies) / len(accuracies),
        "state": state,
    }


def _evaluate_judge(case: Case, reference: dict, obs: Observation) -> None:
    call = _evaluate_call(case)
    forwards = _forwards(obs["forwards"])
    _judge_forward_count(call, forwards, reference["sizes"])
    for index, forward in enumerate(forwards, start=1):
        training = forward.get("training")
        expect(
            training is False,
            call,
            False,
            training,
            _(
                "evaluate ran the model in {mode} mode (model.training was {training} in the "
                "forward pass of batch {index})"
            ).format(mode=_mode(training), training=f"{training!r:.20}", index=index),
            hint=_(
                "call model.eval() before the pass (Dropout drops units and BatchNorm1d uses, "
                "and updates, the batch's statistics in training)"
            ),
        )
        expect(
            forward.get("grad") is False,
            call,
            False,
            forward.get("grad"),
            _(
                "gradients were recorded during evaluate (torch.is_grad_enabled() was {grad} in "
                "forward, batch {index})"
            ).format(grad=f"{forward.get('grad')!r:.20}", index=index),
            hint=_("run the pass under torch.no_grad() or torch.inference_mode()"),
        )
    before, after = obs["before"], obs["after"]
    expect(
        after is before,
        call,
        before,
        after,
        _("evaluate left the model in {after} mode; it was in {before} mode before").format(
            after=_mode(after), before=_mode(before)
        ),
        hint=_("remember model.training and restore it (model.train(was_training))"),
    )
    _judge_state(
        call,
        _("model.state_dict()[{name}] after evaluate: {why}"),
        reference["state"],
        obs["state"],
        _exact,
        _("evaluating must not change the model"),
    )
    returned = obs["returned"]
    if not (isinstance(returned, tuple | list) and len(returned) == 2):
        fail(
            call,
            (reference["loss"], reference["accuracy"]),
            returned,
            _("evaluate returned {got}, not a tuple (loss, accuracy)").format(
                got=f"{returned!r:.60}"
            ),
            hint=_("evaluate returns a tuple (mean loss, accuracy) of two Python floats"),
        )
    _judge_mean(
        call,
        "evaluate",
        returned[0],
        reference["loss"],
        reference["batch_loss"],
        case,
    )
    _judge_accuracy(call, returned[1], reference, case)


def _judge_accuracy(call: str, got: Any, reference: dict, case: Case) -> None:
    want = reference["accuracy"]
    if isinstance(got, torch.Tensor):
        fail(
            call,
            want,
            got,
            _("evaluate returned the accuracy as a tensor, not a Python float"),
            hint=_("return the accuracy as a Python float (tensor.item()), not a tensor"),
        )
    if not _is_number(got):
        fail(
            call,
            want,
            got,
            _("evaluate returned {got} as the accuracy, not a finite Python float").format(
                got=f"{got!r:.60}"
            ),
            hint=_("the accuracy is a Python float"),
        )
    if _close(want, got):
        return
    sizes = _sizes(case)
    samples = case["samples"]
    if _close(reference["batch_accuracy"], got):
        why = _(
            "evaluate returned the accuracy {got}, the mean of the batches' accuracies, "
            "not the accuracy over samples {expected}"
        ).format(got=f"{got:.6g}", expected=f"{want:.6g}")
        hint = _(
            "count the correct predictions of all {samples} samples and divide by {samples} "
            "(the last batch has {last})"
        ).format(samples=samples, last=sizes[-1])
    elif _close(100 * want, got):
        why = _("evaluate returned the accuracy {got}: a percentage, expected {expected}").format(
            got=f"{got:.6g}", expected=f"{want:.6g}"
        )
        hint = _("the accuracy is a fraction in [0, 1], not a percentage")
    else:
        why = _("evaluate returned the accuracy {got}, expected {expected}").format(
            got=f"{got:.6g}", expected=f"{want:.6g}"
        )
        hint = _(
            "the fraction of samples whose prediction out.argmax(dim=-1) equals the label, over "
            "all {samples} samples"
        ).format(samples=samples)
    fail(call, want, got, why, hint=hint)


# --------------------------------------------------------------------------- checkpoint


def _functions(pair: Any) -> tuple[Callable, Callable]:
    if not (isinstance(pair, tuple | list) and len(pair) == 2 and all(callable(f) for f in pair)):
        raise TypeError(
            _(
                "check_checkpoint takes the pair (save_checkpoint, load_checkpoint); got {type}"
            ).format(type=type(pair).__name__)
        )
    return pair[0], pair[1]


def _first_run(save_checkpoint: Callable, case: Case, path: str, obs: Recorder) -> None:
    """Train ``save_after`` epochs and save. Nothing of this run outlives the call."""
    dataset = _dataset(case)
    model = _model(case)
    generator = _generator(case)
    loader = _loader(case, dataset, generator)
    optimizer = _optimizer(case, model)
    scheduler = _scheduler(case, optimizer)
    torch.manual_seed(case["seed"] + GLOBAL)
    for _epoch in range(case["save_after"]):
        _plain_train_epoch(model, loader, optimizer)
        scheduler.step()
    epoch = case["save_after"] - 1
    obs.call(_save_call(case), save_checkpoint, path, model, optimizer, scheduler, epoch, generator)


def _snapshot(model: nn.Module, optimizer: SGD, scheduler: StepLR, generator: Any) -> dict:
    """What a resumed run depends on; the tensors copied."""
    buffers = []
    for group in optimizer.param_groups:
        for param in group["params"]:
            kept = optimizer.state.get(param, {})
            buffer = kept.get("momentum_buffer") if isinstance(kept, dict) else None
            buffers.append(buffer.detach().clone() if isinstance(buffer, torch.Tensor) else buffer)
    return {
        "model": _state(model),
        "momentum": buffers,
        "lr": [group.get("lr") for group in optimizer.param_groups],
        "last_epoch": scheduler.last_epoch,
        "last_lr": list(scheduler.get_last_lr()),
        "rng": torch.get_rng_state(),
        "generator": generator.get_state(),
    }


def _next_batch(loader: DataLoader) -> dict:
    x, y = next(iter(loader))
    return {"x": x, "y": y}


def _loadable(path: str) -> dict:
    """What ``torch.load(path, weights_only=True)`` reads, described (never the values)."""
    loaded = torch.load(path, weights_only=True)
    keys = [str(key) for key in loaded] if isinstance(loaded, dict) else None
    return {"type": type(loaded).__name__, "keys": keys}


def _checkpoint_scenario(pair: Any, case: Case, obs: Recorder) -> None:
    save_checkpoint, load_checkpoint = obs.call(
        "check_checkpoint((save_checkpoint, load_checkpoint))", _functions, pair
    )
    with _isolated(), tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "checkpoint.pt")
        _first_run(save_checkpoint, case, path, obs)
        obs["saved"] = os.path.isfile(path)
        if not obs["saved"]:
            return
        moved = os.path.join(folder, "moved.pt")  # load_checkpoint reads the file, nothing else
        os.replace(path, moved)
        obs.attempt("weights_only", "torch.load(path)", _loadable, moved)

        dataset = _dataset(case)
        model = _model(case, FRESH)
        generator = _generator(case, FRESH)
        loader = _loader(case, dataset, generator)
        optimizer = _optimizer(case, model)
        scheduler = _scheduler(case, optimizer)
        torch.manual_seed(case["seed"] + SCRAMBLE)  # as in a new process
        start = obs.call(
            _load_call(case), load_checkpoint, moved, model, optimizer, scheduler, generator
        )
        obs["start"] = _number(start)
        after = "inspecting model, optimizer, scheduler and generator after load_checkpoint"
        obs["resumed"] = obs.call(after, _snapshot, model, optimizer, scheduler, generator)
        final = obs.call(
            f"training on after load_checkpoint, {case['epochs'] - case['save_after']} epochs",
            _train_on,
            case,
            model,
            loader,
            optimizer,
            scheduler,
        )
        obs["final"] = {**final, "batch": _next_batch(loader)}


def _train_on(
    case: Case, model: nn.Module, loader: DataLoader, optimizer: SGD, scheduler: StepLR
) -> dict:
    """The resumed run's remaining epochs (the check's own loop); the snapshot at the end."""
    for _epoch in range(case["epochs"] - case["save_after"]):
        _plain_train_epoch(model, loader, optimizer)
        scheduler.step()
    return _snapshot(model, optimizer, scheduler, loader.generator)


def _checkpoint_reference(case: Case) -> dict:
    with _isolated():
        dataset = _dataset(case)
        model = _model(case)
        generator = _generator(case)
        loader = _loader(case, dataset, generator)
        optimizer = _optimizer(case, model)
        scheduler = _scheduler(case, optimizer)
        torch.manual_seed(case["seed"] + GLOBAL)
        resumed = None
        for epoch in range(case["epochs"]):
            _plain_train_epoch(model, loader, optimizer)
            scheduler.step()
            if epoch == case["save_after"] - 1:
                resumed = _snapshot(model, optimizer, scheduler, generator)
        final = _snapshot(model, optimizer, scheduler, generator)
        final["batch"] = _next_batch(loader)
    return {
        "names": [name for name, _ in model.named_parameters()],
        "resumed": resumed,
        "final": final,
    }


def _rng_states() -> tuple[tuple[str, str, str], ...]:
    """The random states a checkpoint must carry: key, how it differs right after loading
    (and what a resumed run then does), the fix."""
    return (
        (
            "generator",
            _(
                "right after load_checkpoint, the loader's generator.get_state() differs from "
                "a straight run's: the next batch would differ"
            ),
            _(
                "the loader's generator state was not saved/restored (save "
                "generator.get_state(), restore it with generator.set_state())"
            ),
        ),
        (
            "rng",
            _(
                "right after load_checkpoint, torch.get_rng_state() differs from a straight "
                "run's: Dropout would draw other masks"
            ),
            _(
                "the global torch RNG state was not saved/restored (save "
                "torch.get_rng_state(), restore it with torch.set_rng_state())"
            ),
        ),
    )


def _checkpoint_judge(case: Case, reference: dict, obs: Observation) -> None:
    call = _checkpoint_call(case)
    k = case["save_after"]
    expect(
        obs["saved"] is True,
        call,
        _("a checkpoint file"),
        _("no file"),
        _("save_checkpoint wrote no file at path"),
        hint=_(
            "save_checkpoint writes the checkpoint to the path it is given: torch.save(..., path)"
        ),
    )
    raised = raised_of(obs["weights_only"])
    if raised is not None:
        first = _weights_only_reason(raised.message)
        raise CheckFailure(
            message(
                call,
                _("torch.load(path) (weights_only=True, its default) raised {kind}: {text}").format(
                    kind=raised.type, text=first
                ),
                hint=_weights_only(),
            )
        )
    error = obs.raised.get("error") if "start" not in obs and obs.raised else None
    if isinstance(error, RaisedError) and "weights_only" in error.message.lower().replace(" ", "_"):
        raise CheckFailure(scenario_error(obs.raised, _weights_only()))
    resumed = _record(obs["resumed"])
    want = reference["resumed"]
    epochs = case["epochs"]
    _judge_model(call, None, want["model"], resumed.get("model"))
    _judge_optimizer(call, None, reference["names"], want, resumed)
    _judge_scheduler(call, None, want, resumed)
    for key, differs, hint in _rng_states():
        if _exact(want[key], resumed.get(key)) is not None:
            fail(
                call,
                want[key],
                _detached(resumed.get(key)),
                differs,
                hint=hint,
                reference=_straight(),
            )
    start = obs["start"]
    expect(
        type(start) is int and start == k,
        call,
        k,
        start,
        _(
            "load_checkpoint returned {start}; the epoch to start from is {epoch} "
            "(the saved epoch {saved} + 1)"
        ).format(start=f"{start!r:.40}", epoch=k, saved=k - 1),
        reference=_straight(),
    )
    final = _record(obs["final"])
    _judge_model(call, epochs, reference["final"]["model"], final.get("model"))
    _judge_optimizer(call, epochs, reference["names"], reference["final"], final)
    _judge_scheduler(call, epochs, reference["final"], final)
    batch = _record(final.get("batch"))
    for key, value in reference["final"]["batch"].items():
        why = _exact(value, batch.get(key))
        if why is not None:
            fail(
                call,
                value,
                _detached(batch.get(key)),
                _(
                    "after all {epochs} epochs, the next batch of the loader ({key}) differs: {why}"
                ).format(epochs=epochs, key=key, why=why),
                hint=_("the loader's generator must continue where it stopped"),
                reference=_straight(),
            )


def _weights_only_reason(message: str) -> str:
    """The sentence of torch's long weights_only error that names what could not be read."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    named = [line for line in lines if "Unsupported" in line or "WeightsUnpickler" in line]
    chosen = (named or lines or [""])[0]
    return chosen.split(" Please use ")[0][:300]


def _judge_model(call: str, epochs: int | None, want: dict, got: Any) -> None:
    """The model right after loading (``epochs`` None) or after all ``epochs`` epochs."""
    got = got if isinstance(got, dict) else {}
    for name, value in want.items():
        why = _exact(value, got.get(name))
        if why is None:
            continue
        if epochs is None:
            what = _(
                "right after load_checkpoint, model.state_dict()[{name}] differs from a "
                "straight run's: {why}"
            ).format(name=repr(name), why=why)
            hint = _(
                "the model differs from the one saved: save model.state_dict() and restore it "
                "with model.load_state_dict()"
            )
        else:
            what = _(
                "after all {epochs} epochs, model.state_dict()[{name}] differs from a "
                "straight run's: {why}"
            ).format(epochs=epochs, name=repr(name), why=why)
            hint = _("the resumed run drifted from the straight run")
        fail(call, value, _detached(got.get(name)), what, hint=hint, reference=_straight())


def _judge_optimizer(
    call: str, epochs: int | None, names: list[str], want: dict, got: dict
) -> None:
    """The optimizer right after loading (``epochs`` None) or after all ``epochs`` epochs."""
    buffers = _listed(got.get("momentum"), len(want["momentum"]))
    for name, value, buffer in zip(names, want["momentum"], buffers, strict=True):
        why = _exact(value, buffer)
        if why is None:
            continue
        if buffer is None and epochs is None:
            what = _(
                "right after load_checkpoint, the optimizer has no momentum buffer for {name}"
            ).format(name=repr(name))
        elif buffer is None:
            what = _(
                "after all {epochs} epochs, the optimizer has no momentum buffer for {name}"
            ).format(epochs=epochs, name=repr(name))
        elif epochs is None:
            what = _(
                "right after load_checkpoint, the optimizer's momentum buffer of {name} "
                "differs from a straight run's: {why}"
            ).format(name=repr(name), why=why)
        else:
            what = _(
                "after all {epochs} epochs, the optimizer's momentum buffer of {name} "
                "differs from a straight run's: {why}"
            ).format(epochs=epochs, name=repr(name), why=why)
        fail(
            call,
            value,
            _detached(buffer),
            what,
            hint=_(
                "the optimizer's momentum buffers differ after resume: "
                "optimizer.state_dict() was not saved/restored (restore it with "
                "optimizer.load_state_dict())"
            ),
            reference=_straight(),
        )
    lrs = f"{got.get('lr')!r:.60}"
    expect(
        _same_floats(want["lr"], got.get("lr")),
        call,
        want["lr"],
        got.get("lr"),
        _(
            "right after load_checkpoint, the optimizer's learning rates (param_groups' lr) "
            "are {got}, expected {expected}"
        ).format(got=lrs, expected=want["lr"])
        if epochs is None
        else _(
            "after all {epochs} epochs, the optimizer's learning rates (param_groups' lr) "
            "are {got}, expected {expected}"
        ).format(epochs=epochs, got=lrs, expected=want["lr"]),
        hint=_(
            "optimizer.state_dict() holds each group's lr (the scheduler changed it); "
            "restore it with optimizer.load_state_dict()"
        ),
        reference=_straight(),
    )


def _judge_scheduler(call: str, epochs: int | None, want: dict, got: dict) -> None:
    """The scheduler right after loading (``epochs`` None) or after all ``epochs`` epochs."""
    same = (
        type(got.get("last_epoch")) is int
        and got.get("last_epoch") == want["last_epoch"]
        and _same_floats(want["last_lr"], got.get("last_lr"))
    )
    expected = (want["last_epoch"], want["last_lr"])
    found = (got.get("last_epoch"), got.get("last_lr"))
    shown = f"{found!r:.60}"
    expect(
        same,
        call,
        expected,
        found,
        _(
            "right after load_checkpoint, the scheduler's (last_epoch, get_last_lr()) are "
            "{got}, expected {expected}"
        ).format(got=shown, expected=expected)
        if epochs is None
        else _(
            "after all {epochs} epochs, the scheduler's (last_epoch, get_last_lr()) are "
            "{got}, expected {expected}"
        ).format(epochs=epochs, got=shown, expected=expected),
        hint=_(
            "the scheduler differs after resume: scheduler.state_dict() was not saved/restored "
            "(restore it with scheduler.load_state_dict()), so StepLR would decay the learning "
            "rate at other epochs"
        ),
        reference=_straight(),
    )


# ------------------------------------------------------------------------ judging helpers


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _close(want: float, got: Any) -> bool:
    return _is_number(got) and abs(got - want) <= ATOL + RTOL * abs(want)


def _same_floats(want: list, got: Any) -> bool:
    return (
        isinstance(got, list)
        and len(got) == len(want)
        and all(type(a) in (int, float) and a == b for a, b in zip(got, want, strict=True))
    )


def _judge_state(call: str, what: str, wanted: dict, state: Any, compare, hint: str) -> None:
    """Every entry of the model's state_dict, as ``compare`` (close or exact) sees it; ``what``
    the translated sentence of a difference, with ``{name}`` and ``{why}``."""
    state = state if isinstance(state, dict) else {}
    for name, want in wanted.items():
        why = compare(want, state.get(name))
        if why is not None:
            fail(
                call,
                want,
                _detached(state.get(name)),
                what.format(name=repr(name), why=why),
                hint=hint,
            )


def _difference(want: torch.Tensor, got: Any) -> str | None:
    return tensor_difference(want, got, atol=ATOL, rtol=RTOL, digits=10)


def _exact(want: torch.Tensor, got: Any) -> str | None:
    """Bit for bit: same dtype, shape and values (a resumed run is the straight run)."""
    return tensor_difference(want, got, atol=0.0, rtol=0.0, digits=17)


def _detached(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value


def _listed(value: Any, length: int | None = None) -> list:
    """A list recorded by the scenario; anything else is a forged record."""
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise CheckFailure(_malformed(value))
    return value


def _forwards(value: Any) -> list[dict]:
    """The forward passes the hook recorded, each a dict (an odd item reads as empty)."""
    return [item if isinstance(item, dict) else {} for item in _listed(value)]


def _record(value: Any) -> dict:
    if not isinstance(value, dict):
        raise CheckFailure(_malformed(value))
    return value


def _malformed(value: Any) -> str:
    return _("the observations of your code are malformed: {value}").format(value=f"{value!r:.200}")


# --------------------------------------------------------------------------- hidden cases


def _task_case(rng: random.Random) -> Case:
    """Sizes with a short last batch (at least 2 samples: BatchNorm1d trains on it)."""
    batch_size = rng.randint(3, 8)
    return {
        "samples": batch_size * rng.randint(2, 5) + rng.randint(2, batch_size - 1),
        "features": rng.randint(2, 6),
        "classes": rng.randint(2, 5),
        "hidden": rng.randint(3, 10),
        "dropout": round(rng.uniform(0.1, 0.5), 3),
        "batch_size": batch_size,
        "seed": rng.getrandbits(32),
    }


def _optimizer_case(rng: random.Random) -> Case:
    return {
        "lr": round(10 ** rng.uniform(-2, -0.7), 4),
        "momentum": round(rng.uniform(0.5, 0.95), 3),
    }


def _train_hidden(rng: random.Random) -> list[Case]:
    return [{**_task_case(rng), **_optimizer_case(rng)} for _ in range(4)]


def _evaluate_hidden(rng: random.Random) -> list[Case]:
    modes = [True, False, rng.random() < 0.5, rng.random() < 0.5]
    return [{**_task_case(rng), "train_before": mode} for mode in modes]


def _checkpoint_hidden(rng: random.Random) -> list[Case]:
    cases = []
    for _case in range(3):
        epochs = rng.randint(3, 5)
        cases.append(
            {
                **_task_case(rng),
                **_optimizer_case(rng),
                "step_size": rng.randint(1, 3),
                "gamma": round(rng.uniform(0.3, 0.9), 3),
                "epochs": epochs,
                "save_after": rng.randint(1, epochs - 1),
            }
        )
    return cases


# --------------------------------------------------------------------------- the checks

TASK = {
    "samples": 23,
    "features": 4,
    "classes": 3,
    "hidden": 8,
    "dropout": 0.25,
    "batch_size": 5,
    "seed": 0,
}
SMALL_TASK = {
    "samples": 14,
    "features": 3,
    "classes": 2,
    "hidden": 5,
    "dropout": 0.4,
    "batch_size": 4,
    "seed": 1,
}
OPTIMIZER = {"lr": 0.1, "momentum": 0.9}

TRAIN_EPOCH = Check(
    name="training.train_epoch",
    doc="train_epoch trains one epoch in training mode and returns the mean per-sample loss",
    scenario=_train_scenario,
    reference=_train_reference,
    judge=_train_judge,
    visible=[{**TASK, **OPTIMIZER}, {**SMALL_TASK, "lr": 0.05, "momentum": 0.8}],
    hidden=_train_hidden,
    refuses=None,
)
EVALUATE = Check(
    name="training.evaluate",
    doc="evaluate returns the mean per-sample loss and the accuracy, in eval mode, without "
    "gradients, and leaves the model in the mode it was in",
    scenario=_evaluate_scenario,
    reference=_evaluate_reference,
    judge=_evaluate_judge,
    visible=[{**TASK, "train_before": True}, {**SMALL_TASK, "train_before": False}],
    hidden=_evaluate_hidden,
    refuses=None,
)
CHECKPOINT = Check(
    name="training.checkpoint",
    doc="save_checkpoint / load_checkpoint resume a run exactly where a straight run would be",
    scenario=_checkpoint_scenario,
    reference=_checkpoint_reference,
    judge=_checkpoint_judge,
    visible=[
        {**TASK, **OPTIMIZER, "step_size": 3, "gamma": 0.5, "epochs": 6, "save_after": 4},
        {
            **SMALL_TASK,
            "lr": 0.05,
            "momentum": 0.8,
            "step_size": 1,
            "gamma": 0.7,
            "epochs": 3,
            "save_after": 1,
        },
    ],
    hidden=_checkpoint_hidden,
    refuses=None,
)

check_train_epoch, check_train_epoch_hidden = TRAIN_EPOCH.functions()
check_evaluate, check_evaluate_hidden = EVALUATE.functions()
check_checkpoint, check_checkpoint_hidden = CHECKPOINT.functions()

__all__ = [
    "CHECKPOINT",
    "EVALUATE",
    "TRAIN_EPOCH",
    "check_checkpoint",
    "check_checkpoint_hidden",
    "check_evaluate",
    "check_evaluate_hidden",
    "check_train_epoch",
    "check_train_epoch_hidden",
]
