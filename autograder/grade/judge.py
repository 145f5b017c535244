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
import functools
import importlib
import random
import secrets
import select
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from autograder import checking, plain
from autograder.checking import Check
from autograder.grade.lanes import Channel, Died, Lane, TimedOut, Violation
from autograder.grade.student import clip, transform
from autograder.report import CheckFailure

#: Seconds the judge waits beyond a cell's time limit (the student side enforces the limit)
#: before it stops the notebook.
GRACE = 5.0
#: Seconds of the notebook's budget kept for its last answer to come back.
MARGIN = 1.0
#: Seconds a process had to stop after its alarm before the judge says it did not stop.
STOPPING = 1.0
#: How long a closed channel waits for its process to end, to tell a death from a hang-up.
EXIT_WAIT = 1.0
#: The longest source line or call a message quotes.
QUOTE = 160
#: What the signals a student process dies of mean, for the message.
SIGNALS = {
    "SIGSEGV": "a segmentation fault",
    "SIGBUS": "a bus error",
    "SIGFPE": "an arithmetic fault",
    "SIGILL": "an illegal instruction",
    "SIGABRT": "an abort: C code gave up, for example on running out of memory",
}
#: Why a cell may not stop at its time limit.
UNSTOPPABLE = "the code caught the CellTimeout, or was in a call that cannot be interrupted"
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
    return list(_grade_calls(source, tuple(setup)))


@functools.lru_cache(maxsize=1024)  # the same grade cells come with every notebook
def _grade_calls(source: str, setup: tuple[str, ...]) -> tuple[CheckCall, ...]:
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
    return tuple(calls)


def _module_aliases(setup: tuple[str, ...]) -> dict[str, str]:
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


def grade(
    cells: list[Cell], lane: Lane, uid: int, limits: Limits, cases: Cases, language: str = "en"
) -> Graded:
    """Run one notebook in a fresh student process and judge its grade cells; the checks'
    messages in ``language`` (that of the release the notebook came from)."""
    from autograder import i18n

    with i18n.use(language):
        return _grade(cells, lane, uid, limits, cases)


def _grade(cells: list[Cell], lane: Lane, uid: int, limits: Limits, cases: Cases) -> Graded:
    from autograder import delegation

    started = time.monotonic()
    result = Graded()
    student = {c.index: transform(c.source) for c in cells if c.kind == "code"}
    setup = [c.source for c in cells if c.kind == "setup"]
    unfollowable = delegation.unfollowable(list(student.values()), setup)
    channel = lane.spawn(uid, limits.memory_mb, limits.cell_timeout)
    session = Session(channel, cells, limits, started + limits.budget)
    pending = list(cells)
    death = None
    try:
        while pending:
            cell = pending.pop(0)
            session.start(cell)
            if cell.kind == "grade":
                # What ran before the grade cell defines the object it checks.
                before = [source for index, source in student.items() if index < cell.index]
                _grade_cell(cell, session, cases, before, setup, unfollowable, result)
            else:
                result.outputs[cell.index] = _run(cell, session, result)
    except TimedOut:
        result.timed_out = True
        _stop(result, cell, pending, *session.timed_out())
    except Died as error:
        result.died = True
        death = session.died(error)
    except (Violation, plain.NotPlain) as error:
        result.tampered.append(f"the student process broke the grading protocol: {error}")
        _stop(result, cell, pending, _error("Tampering", str(error)), f"not run: {error}")
    finally:
        left = lane.finish(channel, uid)
    if death is not None:
        _stop(result, cell, pending, *death.messages(channel.exit_status))
    if left and not (result.timed_out or result.died or result.tampered):
        result.tampered.append(f"the student process wrote {left} bytes nobody asked for")
    if unfollowable:
        result.review += unfollowable
    result.seconds = time.monotonic() - started
    return result


class _DiedBefore(Died):
    """The student process ended after its last answer, before the next request was sent."""


class _NoTime(TimedOut):
    """The notebook's budget has no time left for the next cell."""


class Session:
    """One notebook's student process as the judge sees it: the cells it was sent, numbered as a
    student counts them, the time of the cell that runs now and what in it runs.

    Cells are numbered as Jupyter's ``In [N]`` counts them in a notebook run from the top: code
    cells from 1 (the student's, the setup and the grade cells). What the student process
    reports about its code (where a timed-out cell was) is read here only as a file name and a
    line number, checked against the cells it was sent, and quoted from the judge's own copy.

    Time: each request may run ``cell_timeout`` seconds (the student side stops it there; a
    grade cell's cases each get that long), within the notebook's budget; the judge stops the
    notebook at ``hard``, ``GRACE`` seconds after the cell's time limit, or at the budget's end.
    """

    def __init__(self, channel: Channel, cells: list[Cell], limits: Limits, end: float) -> None:
        self.channel = channel
        self.limits = limits
        self.end = end
        self.numbers = {cell.index: number for number, cell in enumerate(cells, 1)}
        self.sources = {
            self.name(cell): (self.numbers[cell.index], transform(cell.source).splitlines())
            for cell in cells
            if cell.kind != "grade"
        }
        self.cell: Cell | None = None
        self.answered: int | None = None  # the number of the last cell that answered
        self.asked = 0  # requests answered in this cell
        self.checking = ""  # "checking MyLinear on visible case 2 of 3" while a check runs
        self.hard = 0.0
        self.due = 0.0  # when the student side stops the request that runs now
        self.by_budget = False  # the budget, not the cell timeout, set ``due``
        self.no_time = False

    def name(self, cell: Cell) -> str:
        """The cell's file name in the student process's tracebacks."""
        return f"<code cell {self.numbers[cell.index]}>"

    @property
    def number(self) -> int:
        return self.numbers[self.cell.index]

    def start(self, cell: Cell) -> None:
        """The next cell, and when the judge stops the notebook if it has not answered."""
        self.cell, self.asked, self.checking = cell, 0, ""
        now = time.monotonic()
        self.hard = min(now + self.limits.cell_timeout + GRACE, self.end)
        if self.end - MARGIN <= now:
            self.no_time = True
            raise _NoTime()

    def ask(self, request: dict) -> dict:
        """Send one request with its time limit; its answer."""
        if _exited(self.channel):
            raise _DiedBefore()
        now = time.monotonic()
        seconds = min(self.limits.cell_timeout, self.end - MARGIN - now)
        if seconds <= 0:
            raise TimedOut()
        self.due, self.by_budget = now + seconds, seconds < self.limits.cell_timeout
        answer = self.channel.ask(dict(request, seconds=seconds), self.hard)
        self.answered, self.asked = self.number, self.asked + 1
        return answer

    def where(self, reported: Any) -> str:
        """``line 3 of code cell 5: while True: x += 1`` for a line of a cell this process was
        sent, or "" for anything else the student process reported."""
        if not isinstance(reported, dict) or not isinstance(reported.get("file"), str):
            return ""
        found, line = self.sources.get(reported["file"]), reported.get("line")
        if found is None or type(line) is not int or not 1 <= line <= len(found[1]):
            return ""
        text = _quote(found[1][line - 1])
        return f"line {line} of code cell {found[0]}" + (f": {text}" if text else "")

    def cell_timeout(self, reported: Any) -> str:
        """The message of a cell the student side stopped at its time limit."""
        if self.by_budget:
            message = (
                f"the notebook used up its time budget of {self.limits.budget:g} s in this cell"
            )
        else:
            message = f"the cell ran longer than {self.limits.cell_timeout:g} s"
        where = self.where(reported)
        return message + (f"; it was at {where}" if where else "")

    def check_timeout(self, reported: Any, call: Any) -> str:
        """The message of a check whose call of the student's code was stopped at the limit."""
        if self.by_budget:
            budget = self.limits.budget
            message = f"the notebook used up its time budget of {budget:g} s while {self.checking}"
        else:
            message = f"{self.checking} took longer than {self.limits.cell_timeout:g} s"
        label = _quote(call) if isinstance(call, str) else ""
        where = self.where(reported)
        return (
            message
            + (f", in the call {label}" if label else "")
            + (f"; your code was at {where}" if where else "")
        )

    def timed_out(self) -> tuple[dict, str]:
        """What the cell and the later cells show when no answer came before ``hard``."""
        budget, limit = self.limits.budget, self.limits.cell_timeout
        if self.no_time:
            why = f"not run: the notebook's time budget of {budget:g} s was used up"
            return _error("NotRun", why), why
        during = f", while {self.checking}" if self.checking else ""
        stopped = "the grader stopped the notebook"
        later = "not run: the notebook was stopped at its time limit in code cell"
        if self.hard >= self.end or time.monotonic() >= self.end - MARGIN:
            message = f"the notebook used up its time budget of {budget:g} s in this cell{during}"
            message += f"; {stopped}"
            later = f"not run: the notebook's time budget of {budget:g} s ran out in code cell"
        elif self.due <= self.hard - STOPPING:
            doing = self.checking or "the cell"
            message = (
                f"{doing} did not stop at the time limit of {limit:g} s ({UNSTOPPABLE}); "
                f"{stopped} after {limit + GRACE:g} s"
            )
        else:  # the cell's earlier cases used up its time: this one was not yet told to stop
            message = f"the checks of this cell took longer than {limit + GRACE:g} s{during}"
            message += f"; {stopped}"
        return _error("CellTimeout", message), f"{later} {self.number}"

    def died(self, error: Died) -> Death:
        """How the process ended, read now, before the grader kills it."""
        return Death(
            before=isinstance(error, _DiedBefore) and self.asked == 0,
            exited=isinstance(error, _DiedBefore) or _exited(self.channel, EXIT_WAIT),
            doing=self.checking or "running this cell",
            number=self.number,
            after=self.answered,
        )


@dataclass(frozen=True)
class Death:
    """How a student process ended, as the judge saw it when its channel closed."""

    before: bool  # after its last answer, before this cell's first request
    exited: bool  # it had ended; else it closed its channel and lived on
    doing: str  # "running this cell", or "checking MyLinear on visible case 2 of 3"
    number: int  # the code cell it stopped in
    after: int | None  # the last code cell that answered

    def messages(self, status: Any) -> tuple[dict, str]:
        """What the cell and the later cells show, once the exit status is known."""
        cause = _cause(status) if self.exited else ""
        because = f" ({cause})" if cause else ""
        if self.before:
            since = f"after code cell {self.after} had finished" if self.after else "at its start"
            why = f"not run: the notebook's process died {since}"
            return _error("KernelDied", f"{why}, before this cell{because}"), why
        if not self.exited:
            message = (
                f"the notebook's process closed its channel to the grader while {self.doing}; "
                "the grader stopped it"
            )
            return _error("KernelDied", message), (
                f"not run: the notebook's process stopped answering in code cell {self.number}"
            )
        message = f"the notebook's process died while {self.doing}{because}"
        later = f"not run: the notebook's process died in code cell {self.number}"
        return _error("KernelDied", message), later


def _exited(channel: Channel, wait: float = 0.0) -> bool:
    """Whether the student process has ended (its pidfd turns readable when it exits)."""
    return bool(select.select([channel.pidfd], [], [], wait)[0])


def _cause(status: Any) -> str:
    """``exit code 3`` or ``killed by signal 11, SIGSEGV: a segmentation fault``."""
    if type(status) is not int:
        return ""
    if status >= 0:
        return f"exit code {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        return f"killed by signal {-status}"
    meaning = SIGNALS.get(name)
    return f"killed by signal {-status}, {name}" + (f": {meaning}" if meaning else "")


def _quote(text: str) -> str:
    """One line of the student's code or a check's call, on one line and short."""
    text = " ".join(text.split())
    return text if len(text) <= QUOTE else text[: QUOTE - 3] + "..."


def _stop(result: Graded, cell: Cell, pending: list[Cell], first: dict, later: str) -> None:
    """The notebook stopped at ``cell``: its output says why; each later cell's, that it did not
    run."""
    result.outputs[cell.index] = [first]
    result.points[cell.index] = 0.0
    for other in pending:
        result.outputs[other.index] = [_error("NotRun", later)]
        result.points[other.index] = 0.0


def _run(cell: Cell, session: Session, result: Graded) -> list[dict]:
    answer = session.ask({"op": "run", "source": cell.source, "name": session.name(cell)})
    if answer.get("op") != "ran" or answer.get("status") not in ("ok", "error", "timeout"):
        raise Violation("an answer to a cell that is not a cell's result")
    raw = answer.get("outputs")
    outputs = _outputs(raw)
    if answer["status"] == "timeout":
        result.timed_out = True
        _timed_out(outputs, raw, session)
    for output in outputs:
        if output["output_type"] == "error" and output["ename"] == "MemoryError":
            output["evalue"] += " (the memory cap was reached)"
    return outputs


def _timed_out(outputs: list[dict], raw: list, session: Session) -> None:
    """The cell's CellTimeout output, worded here: where the student side says the code was, and
    its traceback's frames, are the only parts taken from the student process."""
    at = next(
        (i for i in reversed(range(len(outputs))) if outputs[i].get("ename") == "CellTimeout"),
        None,
    )
    reported = raw[at].get("where") if at is not None else None
    message = session.cell_timeout(reported)
    frames = outputs[at]["traceback"] if at is not None else []
    lines = "".join(frames).rstrip("\n").rpartition("\n")[0]
    trace = [clip(f"{lines}\nCellTimeout: {message}\n")] if lines else []
    timed_out = _error("CellTimeout", message, trace)
    if at is None:
        outputs.append(timed_out)
    else:
        outputs[at] = timed_out


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
            kept.append(_error(_text(output, "ename"), _text(output, "evalue"), trace[:5]))
        else:
            raise Violation(f"an output of a kind that is not allowed: {str(kind)[:40]!r}")
    return kept


def _text(mapping: dict, key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str):
        raise Violation(f"an output whose {key} is not text")
    return _clean(value)


def _clean(text: str) -> str:
    """Text that can be written as UTF-8: JSON lets a lone surrogate (``"\\udc80"``) through."""
    return clip(text).encode("utf-8", "backslashreplace").decode("utf-8")


def _error(name: str, value: str, trace: list[str] | None = None) -> dict:
    """An error output; its text may quote the student's (a check's message does), so cleaned."""
    return {
        "output_type": "error",
        "ename": _clean(name),
        "evalue": _clean(value),
        "traceback": [_clean(line) for line in trace or []],
    }


def _grade_cell(cell, session, cases, student, setup, unfollowable, result) -> None:
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
        drawn = cases.of(call.check, call.hidden)
        which = "hidden" if call.hidden else "visible"
        for number, case in enumerate(drawn):
            session.checking = (
                f"checking {call.target} on {which} case {number + 1} of {len(drawn)}"
            )
            request = {
                "op": "observe",
                "check": call.check.name,
                "target": call.target,
                "case": case,
            }
            answer = session.ask(request)
            if answer.get("op") != "observed" or answer.get("status") not in ("ok", "timeout"):
                raise Violation("an answer to a check that is not an observation")
            if answer["status"] == "timeout":
                result.timed_out = True
                why = session.check_timeout(answer.get("where"), answer.get("call"))
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
