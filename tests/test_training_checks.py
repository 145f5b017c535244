"""The 08_training checks pass the instructor's solution and fail realistic mistakes."""

from __future__ import annotations

import json
import random
import sys

import pytest
import torch
from conftest import solution_namespace

from autograder import CheckFailure
from autograder import training as checks

SOLUTION = solution_namespace("08_training")
train_epoch = SOLUTION["train_epoch"]
evaluate = SOLUTION["evaluate"]
save_checkpoint = SOLUTION["save_checkpoint"]
load_checkpoint = SOLUTION["load_checkpoint"]
checkpointing = SOLUTION["checkpointing"]


def test_solution_passes_visible_and_hidden_cases():
    for _ in range(5):  # hidden cases change every run
        checks.check_train_epoch(train_epoch)
        checks.check_train_epoch_hidden(train_epoch)
        checks.check_evaluate(evaluate)
        checks.check_evaluate_hidden(evaluate)
        checks.check_checkpoint(checkpointing)
        checks.check_checkpoint_hidden(checkpointing)


def test_the_notebook_pairs_the_checkpoint_functions():
    assert checkpointing == (save_checkpoint, load_checkpoint)


def failure(check, target) -> str:
    with pytest.raises(CheckFailure) as raised:
        check(target)
    return str(raised.value)


def assert_names_the_mistake(text: str, call: str, first: str, hint: str) -> None:
    """The first line starts with the call and says what differs; the hint is below it."""
    line = text.splitlines()[0]
    assert line.startswith(call), text
    assert first in line, text
    assert not hint or f"hint: {hint}" in text, text


# ---------------------------------------------------------------- train_epoch mistakes


def no_zero_grad(model, loader, optimizer, loss_fn):
    """Never zeroes the gradients: each step sees the sum of every batch's gradient so far."""
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def mean_over_batches(model, loader, optimizer, loss_fn):
    """Averages the batches' losses: the short last batch counts as much as a full one."""
    model.train()
    losses = []
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def no_train_mode(model, loader, optimizer, loss_fn):
    """Trains in whatever mode the model was left in (here: eval, after an evaluation)."""
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def zero_grad_after_backward(model, loader, optimizer, loss_fn):
    """Zeroes the gradients between backward() and step(): nothing is learned."""
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.zero_grad(set_to_none=False)
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def returns_a_tensor(model, loader, optimizer, loss_fn):
    """Returns the mean as a 0-d tensor instead of a Python float."""
    return torch.tensor(train_epoch(model, loader, optimizer, loss_fn))


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (
            no_zero_grad,
            "at batch 2, optimizer.step() saw the gradients of batches 1 to 2 summed",
            "gradients accumulated across batches: call optimizer.zero_grad()",
        ),
        (
            mean_over_batches,
            "the mean over batches, not the per-sample mean",
            "torch's per-sample mean weights the last batch (3 samples) by its size",
        ),
        (no_train_mode, "train_epoch ran the model in eval mode", "call model.train() first"),
        (
            zero_grad_after_backward,
            "at batch 1, optimizer.step() saw zero gradients",
            "the gradients were zero when optimizer.step() ran: zero them before "
            "loss.backward(), not between backward() and step()",
        ),
        (
            returns_a_tensor,
            "train_epoch returned the loss as a tensor, not a Python float",
            "return the loss as a Python float (tensor.item()), not a tensor",
        ),
    ],
)
def test_train_epoch_check_names_the_mistake(wrong, first, hint):
    text = failure(checks.check_train_epoch, wrong)
    assert_names_the_mistake(text, "train_epoch(model, loader, optimizer, loss_fn): ", first, hint)


@pytest.mark.parametrize("wrong", [no_zero_grad, mean_over_batches, no_train_mode])
def test_hidden_train_epoch_cases_catch_the_same_mistakes(wrong):
    with pytest.raises(CheckFailure):
        checks.check_train_epoch_hidden(wrong)


# ---------------------------------------------------------------- evaluate mistakes


def eval_not_restored(model, loader, loss_fn):
    """Switches to eval mode and leaves the model there."""
    model.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(y)
            correct += int((out.argmax(dim=-1) == y).sum())
    return total / len(loader.dataset), correct / len(loader.dataset)


def back_to_train(model, loader, loss_fn):
    """Always ends with model.train(), even when the model was in eval mode before."""
    result = eval_not_restored(model, loader, loss_fn)
    model.train()
    return result


def gradients_recorded(model, loader, loss_fn):
    """Forgets torch.no_grad(): every forward pass records a graph."""
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    for x, y in loader:
        out = model(x)
        total += loss_fn(out, y).item() * len(y)
        correct += int((out.argmax(dim=-1) == y).sum())
    model.train(was_training)
    return total / len(loader.dataset), correct / len(loader.dataset)


def accuracy_over_batches(model, loader, loss_fn):
    """Averages the batches' accuracies instead of counting correct samples."""
    was_training = model.training
    model.eval()
    total, accuracies = 0.0, []
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(y)
            accuracies.append(float((out.argmax(dim=-1) == y).double().mean()))
    model.train(was_training)
    return total / len(loader.dataset), sum(accuracies) / len(accuracies)


def no_eval_mode(model, loader, loss_fn):
    """Evaluates in train mode: Dropout drops units, BatchNorm uses the batch's statistics."""
    total, correct = 0.0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(y)
            correct += int((out.argmax(dim=-1) == y).sum())
    return total / len(loader.dataset), correct / len(loader.dataset)


def accuracy_in_percent(model, loader, loss_fn):
    loss, accuracy = evaluate(model, loader, loss_fn)
    return loss, 100 * accuracy


RESTORE = "remember model.training and restore it (model.train(was_training))"


@pytest.mark.parametrize(
    ("wrong", "first", "hint"),
    [
        (
            eval_not_restored,
            "evaluate left the model in eval mode; it was in train mode before",
            RESTORE,
        ),
        (
            back_to_train,
            "evaluate left the model in train mode; it was in eval mode before",
            RESTORE,
        ),
        (
            gradients_recorded,
            "gradients were recorded during evaluate (torch.is_grad_enabled() was True in forward",
            "run the pass under torch.no_grad()",
        ),
        (
            accuracy_over_batches,
            "the mean of the batches' accuracies, not the accuracy over samples",
            "count the correct predictions of all 23 samples",
        ),
        (no_eval_mode, "evaluate ran the model in train mode", "call model.eval() before the pass"),
        (
            accuracy_in_percent,
            "a percentage, expected 0.6",
            "the accuracy is a fraction in [0, 1], not a percentage",
        ),
    ],
)
def test_evaluate_check_names_the_mistake(wrong, first, hint):
    text = failure(checks.check_evaluate, wrong)
    assert_names_the_mistake(text, "evaluate(model, loader, loss_fn): ", first, hint)


@pytest.mark.parametrize(
    "wrong", [eval_not_restored, back_to_train, gradients_recorded, accuracy_over_batches]
)
def test_hidden_evaluate_cases_catch_the_same_mistakes(wrong):
    with pytest.raises(CheckFailure):
        checks.check_evaluate_hidden(wrong)


# ---------------------------------------------------------------- checkpoint mistakes


def saver(**skip):
    """save_checkpoint that leaves out the entries named in ``skip``."""

    def save(path, model, optimizer, scheduler, epoch, generator):
        checkpoint = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "rng": torch.get_rng_state(),
            "generator": generator.get_state(),
        }
        torch.save({key: value for key, value in checkpoint.items() if key not in skip}, path)

    return save


def loader(off_by_one=False):
    """load_checkpoint that restores what the file holds; ``off_by_one`` returns the saved
    epoch itself."""

    def load(path, model, optimizer, scheduler, generator):
        checkpoint = torch.load(path)
        if "model" in checkpoint:
            model.load_state_dict(checkpoint["model"])
        if "optimizer" in checkpoint:
            optimizer.load_state_dict(checkpoint["optimizer"])
        if "scheduler" in checkpoint:
            scheduler.load_state_dict(checkpoint["scheduler"])
        if "rng" in checkpoint:
            torch.set_rng_state(checkpoint["rng"])
        if "generator" in checkpoint:
            generator.set_state(checkpoint["generator"])
        return checkpoint["epoch"] if off_by_one else checkpoint["epoch"] + 1

    return load


def saves_whole_objects(path, model, optimizer, scheduler, epoch, generator):
    """Pickles the model itself: torch.load's weights_only=True refuses to rebuild it."""
    torch.save({"model": model, "epoch": epoch}, path)


def keeps_it_in_memory(path, model, optimizer, scheduler, epoch, generator):
    """Writes nothing: the checkpoint lives in a global variable."""
    MEMORY["checkpoint"] = {"model": {k: v.clone() for k, v in model.state_dict().items()}}


MEMORY: dict = {}


@pytest.mark.parametrize(
    ("pair", "first", "hint"),
    [
        (
            (saver(optimizer=1), loader()),
            "right after load_checkpoint, the optimizer has no momentum buffer for '0.weight'",
            "the optimizer's momentum buffers differ after resume: optimizer.state_dict() was "
            "not saved",
        ),
        (
            (saver(scheduler=1), loader()),
            "right after load_checkpoint, the scheduler's (last_epoch, get_last_lr()) are "
            "(0, [0.1]), expected (4, [0.05])",
            "the scheduler differs after resume: scheduler.state_dict() was not saved",
        ),
        (
            (saver(generator=1), loader()),
            "right after load_checkpoint, the loader's generator.get_state() differs from a "
            "straight run's: the next batch would differ",
            "the loader's generator state was not saved/restored",
        ),
        (
            (saver(rng=1), loader()),
            "right after load_checkpoint, torch.get_rng_state() differs from a straight run's: "
            "Dropout would draw other masks",
            "the global torch RNG state was not saved/restored",
        ),
        (
            (saver(), loader(off_by_one=True)),
            "load_checkpoint returned 3; the epoch to start from is 4",
            "",
        ),
        (
            (saver(model=1), loader()),
            "right after load_checkpoint, model.state_dict()['0.weight'] differs from a "
            "straight run's: values differ at index",
            "the model differs from the one saved: save model.state_dict() and restore it with "
            "model.load_state_dict()",
        ),
        (
            (saves_whole_objects, loader()),
            "torch.load(path) (weights_only=True, its default) raised UnpicklingError",
            "save only what torch.load(path) reads with weights_only=True",
        ),
        (
            (keeps_it_in_memory, loader()),
            "save_checkpoint wrote no file at path",
            "save_checkpoint writes the checkpoint to the path it is given",
        ),
    ],
    ids=[
        "optimizer",
        "scheduler",
        "generator",
        "global_rng",
        "epoch_off_by_one",
        "model",
        "whole_objects",
        "no_file",
    ],
)
def test_checkpoint_check_names_the_mistake(pair, first, hint):
    text = failure(checks.check_checkpoint, pair)
    call = "save_checkpoint(path, model, optimizer, scheduler, epoch=3, generator) after 4 epochs: "
    assert_names_the_mistake(text, call, first, hint)
    assert "\n  then load_checkpoint(path, model, optimizer, scheduler, generator)" in text


@pytest.mark.parametrize(
    "pair",
    [
        (saver(optimizer=1), loader()),
        (saver(scheduler=1), loader()),
        (saver(generator=1), loader()),
        (saver(rng=1), loader()),
        (saver(), loader(off_by_one=True)),
    ],
    ids=["optimizer", "scheduler", "generator", "global_rng", "epoch_off_by_one"],
)
def test_hidden_checkpoint_cases_catch_the_same_mistakes(pair):
    with pytest.raises(CheckFailure):
        checks.check_checkpoint_hidden(pair)


def test_check_checkpoint_wants_the_pair():
    text = failure(checks.check_checkpoint, save_checkpoint)
    assert "check_checkpoint takes the pair (save_checkpoint, load_checkpoint)" in text


# ---------------------------------------------------------------- stubs and frames


def stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize(
    ("check", "target"),
    [
        (checks.check_train_epoch, stub),
        (checks.check_evaluate, stub),
        (checks.check_checkpoint, (stub, stub)),
        (checks.check_checkpoint, (save_checkpoint, stub)),
    ],
)
def test_unimplemented_stubs_are_reported_as_such(check, target):
    assert "not implemented yet" in failure(check, target)


def from_the_callers(*names):
    """The first local called one of ``names`` in the frames that called this student's code:
    where a check that computed torch's answer beside the student's call would have kept it."""
    frame = sys._getframe(2)
    while frame is not None:
        for name in names:
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    return None


def train_from_the_frames(model, loader, optimizer, loss_fn):
    """Trains nothing: loads the reference's parameters and returns its loss, if a caller has
    them."""
    found = from_the_callers("expected", "reference", "ref")
    if isinstance(found, dict) and "state" in found:
        model.load_state_dict(found["state"])
        return found["mean"]
    return 0.0


def evaluate_from_the_frames(model, loader, loss_fn):
    """Evaluates nothing: returns the reference's loss and accuracy, if a caller has them."""
    found = from_the_callers("expected", "reference", "ref")
    if isinstance(found, dict) and "loss" in found:
        return found["loss"], found["accuracy"]
    return 0.0, 0.0


def load_from_the_frames(path, model, optimizer, scheduler, generator):
    """Reads no file: copies the straight run's state from a caller, if one holds it."""
    found = from_the_callers("expected", "reference", "ref")
    if isinstance(found, dict) and "resumed" in found:
        state = found["resumed"]
        model.load_state_dict(state["model"])
        torch.set_rng_state(state["rng"])
        generator.set_state(state["generator"])
    return 0


@pytest.mark.parametrize(
    ("check", "cheat"),
    [
        (checks.check_train_epoch, train_from_the_frames),
        (checks.check_evaluate, evaluate_from_the_frames),
        (checks.check_checkpoint, (lambda *args: None, load_from_the_frames)),
    ],
    ids=["train_epoch", "evaluate", "checkpoint"],
)
def test_torch_answer_is_not_in_the_callers_frames(check, cheat):
    """The scenario that calls the student's code never holds torch's answer."""
    with pytest.raises(CheckFailure):
        check(cheat)
    with pytest.raises(CheckFailure):
        check.check.functions()[1](cheat)


# ---------------------------------------------------------------- the checks themselves


@pytest.mark.parametrize(
    ("check", "name"),
    [
        (checks.TRAIN_EPOCH, "training.train_epoch"),
        (checks.EVALUATE, "training.evaluate"),
        (checks.CHECKPOINT, "training.checkpoint"),
    ],
)
def test_checks_are_named_and_their_cases_are_plain_data(check, name):
    assert check.name == name
    assert check.refuses is None
    for seed in range(5):
        for case in check.cases(hidden=False) + check.cases(hidden=True, rng=random.Random(seed)):
            assert json.loads(json.dumps(case)) == case
            last = case["samples"] % case["batch_size"]
            assert last >= 2, "a short last batch, of at least 2 samples for BatchNorm1d"
            if "epochs" in case:
                assert 1 <= case["save_after"] < case["epochs"]


def test_hidden_cases_come_from_the_rng_given():
    for check in (checks.TRAIN_EPOCH, checks.EVALUATE, checks.CHECKPOINT):
        first = check.cases(hidden=True, rng=random.Random(7))
        assert first == check.cases(hidden=True, rng=random.Random(7))
        assert first != check.cases(hidden=True, rng=random.Random(8))


def test_checks_leave_the_global_rng_alone():
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    checks.check_train_epoch(train_epoch)
    checks.check_evaluate(evaluate)
    checks.check_checkpoint(checkpointing)
    assert torch.equal(torch.get_rng_state(), state)
