"""The judge: grades one notebook from its student process's observations.

This runs in the grader's own process, which never runs student code and was never forked from
one that did. For each code cell in order it asks the student process to run it (the student's
cells and the instructor's setup cells); for each grade cell it reads the cell's check calls
*itself* (the student process never sees a grade cell or a hidden test), asks the student
process for each case's observations, computes torch's reference here (once per case per
batch), compares and writes the message. Only plain data ever arrives from the other side, and
it is validated: an answer out of schema makes the notebook ``tampered``.
"""

from __future__ import annotations

import ast
import importlib
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from autograder import checking, plain
from autograder.checking import Check
from autograder.grade.lanes import Channel, Died, Lane, TimedOut, Violation
from autograder.grade.student import clip, transform
from autograder.report import CheckFailure

#: Seconds a request may take beyond the cell timeout (the student side enforces the timeout).
GRACE = 5.0
#: Outputs of a cell that are stored and shown: text only, never HTML or scripts.
OUTPUT_KINDS = ("stream", "execute_result", "error")
MAX_OUTPUTS = 50


class GradeCellError(ValueError):
    """An instructor's grade cell that is not a list of check calls."""


@dataclass(frozen=True)
class CheckCall:
    check: Check
    hidden: bool
    target: str


def grade_calls(source: str, setup: list[str]) -> list[CheckCall]:
    """The check calls of a grade cell: ``checks.check_x(Target)`` lines and a docstring."""
    aliases = _module_aliases(setup)
    calls = []
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # the cell's docstring
        call = statement.value if isinstance(statement, ast.Expr) else None
        valid = (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id in aliases
            and len(call.args) == 1
            and isinstance(call.args[0], ast.Name)
            and not call.keywords
        )
        if not valid:
            raise GradeCellError(f"not a check call: {ast.unparse(statement)!r}")
        module = importlib.import_module(aliases[call.func.value.id])
        found = checking.resolve(getattr(module, call.func.attr, None))
        if found is None:
            raise GradeCellError(f"{ast.unparse(call.func)} is not a check function")
        calls.append(CheckCall(found[0], found[1], call.args[0].id))
    return calls


def _module_aliases(setup: list[str]) -> dict[str, str]:
    """``checks`` -> ``autograder.module`` from the setup cells' imports."""
    aliases = {}
    for source in setup:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module == "autograder":
                for name in node.names:
                    aliases[name.asname or name.name] = f"autograder.{name.name}"
            elif isinstance(node, ast.Import):
                for name in node.names:
                    if name.name.startswith("autograder.") and name.asname:
                        aliases[name.asname] = name.name
    return aliases


class Cases:
    """The batch's cases and torch's references: hidden cases drawn once per batch, here."""

    def __init__(self, seed: int | None = None) -> None:
        import torch

        torch.set_num_threads(1)  # one judge thread beside the student processes, no contention
        self.seed = secrets.randbits(64) if seed is None else seed
        self.hidden: dict[str, list[dict]] = {}
        self.references: dict[str, Any] = {}
        # Checks seed torch's global generator to build their inputs: one judge at a time.
        self.lock = threading.Lock()

    def of(self, check: Check, hidden: bool) -> list[dict]:
        if not hidden:
            return list(check.visible)
        with self.lock:
            if check.name not in self.hidden:
                rng = random.Random(f"{self.seed}:{check.name}")
                self.hidden[check.name] = check.hidden(rng)
            return self.hidden[check.name]

    def reference(self, check: Check, case: dict) -> Any:
        """torch's answer for ``case``, computed once per batch (call with the lock held)."""
        key = checking.case_key(check, case)
        if key not in self.references:
            self.references[key] = check.reference(case)
        return self.references[key]

    def judge(self, check: Check, case: dict, data: Any) -> None:
        with self.lock:
            checking.judge_case(check, case, data, self.reference(check, case))

    def warm(self, calls: list[CheckCall]) -> None:
        """Compute the batch's references ahead (in a thread, while the zygotes warm up)."""
        for call in calls:
            for case in self.of(call.check, call.hidden):
                with self.lock:
                    self.reference(call.check, case)


@dataclass
class Limits:
    cell_timeout: float
    budget: float
    memory_mb: int


@dataclass
class Graded:
    """What the judge decided for one notebook: outputs and points per code cell, flags, notes."""

    outputs: dict[int, list[dict]] = field(default_factory=dict)
    points: dict[int, float] = field(default_factory=dict)
    timed_out: bool = False
    died: bool = False
    tampered: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Cell:
    index: int
    kind: str  # "code" (the student's), "setup" (the instructor's) or "grade"
    source: str
    points: float = 0.0
    calls: list[CheckCall] = field(default_factory=list)


def grade(cells: list[Cell], lane: Lane, uid: int, limits: Limits, cases: Cases) -> Graded:
    """Run one notebook in a fresh student process and judge its grade cells."""
    from autograder import delegation

    started = time.monotonic()
    result = Graded()
    student = {c.index: transform(c.source) for c in cells if c.kind == "code"}
    setup = [c.source for c in cells if c.kind == "setup"]
    unfollowable = delegation.unfollowable(list(student.values()), setup)
    channel = lane.spawn(uid, limits.memory_mb, limits.cell_timeout)
    end = started + limits.budget
    pending = list(cells)
    try:
        while pending:
            cell = pending.pop(0)
            deadline = min(end, time.monotonic() + limits.cell_timeout + GRACE)
            if cell.kind == "grade":
                # What ran before the grade cell defines the object it checks.
                before = [source for index, source in student.items() if index < cell.index]
                _grade_cell(cell, channel, deadline, cases, before, setup, unfollowable, result)
            else:
                result.outputs[cell.index] = _run(cell, channel, deadline, result)
    except TimedOut:
        result.timed_out = True
        over = time.monotonic() >= end
        why = "the notebook ran out of its time budget" if over else "no answer within the time"
        _not_run(result, cell, pending, "CellTimeout", why)
    except Died:
        result.died = True
        _not_run(result, cell, pending, "KernelDied", "the notebook's process died")
    except (Violation, plain.NotPlain) as error:
        result.tampered.append(f"the student process broke the grading protocol: {error}")
        _not_run(result, cell, pending, "Tampering", str(error))
    finally:
        left = lane.finish(channel, uid)
    if left and not (result.timed_out or result.died or result.tampered):
        result.tampered.append(f"the student process wrote {left} bytes nobody asked for")
    if unfollowable:
        result.review += unfollowable
    result.seconds = time.monotonic() - started
    return result


def _not_run(result: Graded, cell: Cell, pending: list[Cell], name: str, why: str) -> None:
    result.outputs[cell.index] = [_error(name, why)]
    result.points[cell.index] = 0.0
    for later in pending:
        result.outputs[later.index] = [_error("NotRun", f"not run: {why}")]
        result.points[later.index] = 0.0


def _run(cell: Cell, channel: Channel, deadline: float, result: Graded) -> list[dict]:
    answer = channel.ask(
        {"op": "run", "source": cell.source, "name": f"<cell {cell.index}>"}, deadline
    )
    if answer.get("op") != "ran" or answer.get("status") not in ("ok", "error", "timeout"):
        raise Violation("an answer to a cell that is not a cell's result")
    if answer["status"] == "timeout":
        result.timed_out = True
    outputs = _outputs(answer.get("outputs"))
    for output in outputs:
        if output["output_type"] == "error" and output["ename"] == "MemoryError":
            output["evalue"] += " (the memory cap was reached)"
    return outputs


def _outputs(outputs: Any) -> list[dict]:
    """The outputs the schema allows, as text; anything else is a protocol violation."""
    if not isinstance(outputs, list) or len(outputs) > MAX_OUTPUTS:
        raise Violation("cell outputs are not a short list")
    kept = []
    for output in outputs:
        kind = output.get("output_type") if isinstance(output, dict) else None
        if kind == "stream" and output.get("name") in ("stdout", "stderr"):
            kept.append(
                {"output_type": "stream", "name": output["name"], "text": _text(output, "text")}
            )
        elif kind == "execute_result" and isinstance(output.get("data"), dict):
            text = _text(output["data"], "text/plain")
            kept.append(
                {
                    "output_type": "execute_result",
                    "data": {"text/plain": text},
                    "metadata": {},
                    "execution_count": None,
                }
            )
        elif kind == "error":
            trace = output.get("traceback")
            if not isinstance(trace, list) or not all(isinstance(t, str) for t in trace):
                raise Violation("an error output whose traceback is not text")
            kept.append(
                _error(
                    _text(output, "ename"), _text(output, "evalue"), [clip(t) for t in trace[:5]]
                )
            )
        else:
            raise Violation(f"an output of a kind that is not allowed: {str(kind)[:40]!r}")
    return kept


def _text(mapping: dict, key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str):
        raise Violation(f"an output whose {key} is not text")
    return clip(value)


def _error(name: str, value: str, trace: list[str] | None = None) -> dict:
    return {"output_type": "error", "ename": name, "evalue": value, "traceback": trace or []}


def _grade_cell(cell, channel, deadline, cases, student, setup, unfollowable, result) -> None:
    """Judge every check call of a grade cell; the first failure decides the cell."""
    from autograder import delegation

    result.points[cell.index] = 0.0
    if unfollowable:
        why = "; ".join(unfollowable)
        result.outputs[cell.index] = [
            _error("NeedsReview", f"{why} (an instructor will review it)")
        ]
        return
    for call in cell.calls:
        reasons = delegation.delegated(student, call.target, call.check.refuses, setup)
        if reasons:
            result.review += reasons
            result.outputs[cell.index] = [_error("Delegated", "; ".join(reasons))]
            return
        for number, case in enumerate(cases.of(call.check, call.hidden)):
            request = {
                "op": "observe",
                "check": call.check.name,
                "target": call.target,
                "case": case,
            }
            answer = channel.ask(request, deadline)
            if answer.get("op") != "observed" or answer.get("status") not in ("ok", "timeout"):
                raise Violation("an answer to a check that is not an observation")
            if answer["status"] == "timeout":
                result.timed_out = True
                why = "the check ran longer than the cell time limit"
                result.outputs[cell.index] = [_error("CellTimeout", why)]
                return
            data = plain.decode(answer.get("observation"))
            if number == 0 and isinstance(data, dict):
                found = checking.intercepted(data) + delegation.delegated_at_run_time(
                    data.get(checking.TARGET), call.check.refuses
                )
                if found:
                    result.review += found
                    result.outputs[cell.index] = [_error("Delegated", "; ".join(found))]
                    return
            try:
                cases.judge(call.check, case, data)
            except CheckFailure as failure:
                result.outputs[cell.index] = [_error("CheckFailure", str(failure))]
                return
            except Exception as error:  # noqa: BLE001 - odd but well-formed observations
                kind = type(error).__name__
                why = f"your code's observations could not be judged ({kind}: {error})"
                result.outputs[cell.index] = [_error("CheckFailure", clip(why))]
                return
    result.outputs[cell.index] = []
    result.points[cell.index] = cell.points
