"""The student process: runs a notebook's cells and the checks' scenarios, nothing else.

It is forked from the zygote (:mod:`autograder.grade.zygote`), which never held a job, and it
holds one descriptor besides /dev/null: its channel to the judge. It answers one request at a
time, in order:

- ``{"id": n, "op": "run", "source": …, "name": …, "seconds": …}``: execute a code cell (the
  student's, or the instructor's setup cell) like a kernel, ``name`` being its file name in
  tracebacks; answer ``{"id": n, "op": "ran", "status": …, "outputs": [...]}`` with stream,
  text/plain and error outputs only;
- ``{"id": n, "op": "observe", "check": …, "target": …, "case": {...}, "seconds": …}``: run the
  scenario of a check on the object the notebook bound to ``target``; answer ``{"id": n, "op":
  "observed", "status": "ok" | "timeout", "observation": {...}}`` (plain data);
- ``{"op": "end"}``: exit.

``seconds`` is the request's time limit. When it runs out, SIGALRM raises :class:`CellTimeout`
in the running code, and the answer's status is ``timeout`` even if the code caught it and went
on. The answer then says where the student's code was, as ``"where": {"file": …, "line": …}``
(the innermost frame in a cell's code): a cell's on its last output, the ``CellTimeout`` error;
an observation's in the answer, with ``"call"``, the label of the check's call that was running.
The judge takes these only as a cell's name and a line number to quote, never as a result.

It never receives a grade cell's source, hidden tests, torch's expected values or anything of
another student: whatever its code does, it can only change its own observations.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import linecache
import os
import signal
import sys
import traceback
from typing import Any

from autograder import checking, plain

MAX_OUTPUT = 20_000


#: The file names of the cells this process ran, their sources registered in :mod:`linecache`.
CELLS: set[str] = set()
#: The calls of a check's scenario into the student's code, whose ``label`` names the call.
LABELLED = (checking.Recorder.call.__code__, checking.Recorder.attempt.__code__)


class CellTimeout(BaseException):
    """A cell ran past its time limit (a BaseException, so ``except Exception`` cannot keep it)."""


def clip(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + "\n... (output truncated)"


def transform(source: str) -> str:
    """IPython syntax (magics, ``!cmd``) to plain Python, as a Jupyter kernel would see it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - untransformable input is left for the parser to refuse
        return source


class _Alarm:
    """SIGALRM after ``seconds``, raising :class:`CellTimeout` in the running code.

    When it rings it notes where the code was, from the frame the signal interrupted: that
    stays known even if the code catches the :class:`CellTimeout`.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = max(seconds, 0.001)  # 0 would disarm the timer
        self.rang = False
        self.where: dict | None = None
        self.call = ""

    def __enter__(self) -> _Alarm:
        signal.signal(signal.SIGALRM, self._ring)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _ring(self, signum, frame) -> None:
        self.rang = True
        self.where, self.call = _located(frame)
        raise CellTimeout()


def _located(frame) -> tuple[dict | None, str]:
    """The innermost frame in a cell's code, and the label of the check's call around it."""
    where, call = None, ""
    while frame is not None:
        if where is None and frame.f_code.co_filename in CELLS:
            where = {"file": frame.f_code.co_filename, "line": frame.f_lineno}
        if not call and frame.f_code in LABELLED:
            call = frame.f_locals.get("label", "")
        frame = frame.f_back
    return where, call if isinstance(call, str) else ""


def _register(filename: str, source: str) -> None:
    """Make ``source`` the text of ``filename`` for tracebacks, as IPython does for its cells."""
    CELLS.add(filename)
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)


def run_cell(source: str, namespace: dict, timeout: float, filename: str) -> tuple[str, list]:
    """Execute one cell like a kernel: outputs as nbformat dicts, status ok/error/timeout.

    Everything that runs the student's code (the cell, the ``repr`` of its result, the ``str``
    of its exception) runs under the cell's time limit.
    """
    outputs: list[dict] = []
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    status = "ok"
    alarm = _Alarm(timeout)
    trace: list[str] = []
    try:
        with alarm:
            try:
                outputs += _execute(transform(source), namespace, filename)
            except CellTimeout:
                raise
            except BaseException as error:  # noqa: BLE001 - any student error is an output
                status = "error"
                outputs.append(_error(type(error).__name__, plain._text(error), _trace(error)))
    except CellTimeout as stopped:
        status = "timeout"
        trace = _trace(stopped)[:-1]  # its frames; the last line is the exception's name
    finally:
        sys.stdout, sys.stderr = saved
    if alarm.rang or status == "timeout":
        status = "timeout"
        message = f"the cell ran longer than {alarm.seconds:g} s"
        trace = [*trace, f"CellTimeout: {message}\n"] if len(trace) > 1 else []
        outputs.append(dict(_error("CellTimeout", message, trace), where=alarm.where))
    for name, text in (("stderr", err.getvalue()), ("stdout", out.getvalue())):
        if text:
            outputs.insert(0, {"output_type": "stream", "name": name, "text": clip(text)})
    return status, outputs


def _execute(source: str, namespace: dict, filename: str) -> list[dict]:
    """Run a cell's source; its last expression's value, as an ``execute_result`` output."""
    _register(filename, source)
    tree = ast.parse(source, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    # dont_inherit: this module's future flags must not change student code.
    exec(compile(tree, filename, "exec", dont_inherit=True), namespace)
    value = eval(compile(last, filename, "eval", dont_inherit=True), namespace) if last else None
    if value is None:
        return []
    return [{"output_type": "execute_result", "data": {"text/plain": clip(_safe_repr(value))}}]


def _trace(error: BaseException) -> list[str]:
    """The traceback of the student's code, without the grader's own frames."""
    frames = traceback.format_exception(type(error), error, error.__traceback__)
    return [f for f in frames if "autograder/grade/" not in f]


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as error:  # noqa: BLE001 - a student's __repr__ may raise
        return f"(repr() raised {type(error).__name__})"


def _error(name: str, value: str, trace: list[str]) -> dict:
    return {
        "output_type": "error",
        "ename": name,
        "evalue": clip(value),
        "traceback": [clip("".join(trace))] if trace else [],
    }


def observe(request: dict, namespace: dict, timeout: float) -> dict:
    """Run one scenario on the notebook's object; the answer to an ``observe`` request."""
    check = checking.REGISTRY.get(request.get("check"))
    target_name = str(request.get("target"))
    answer = {"id": request.get("id"), "op": "observed", "status": "ok"}
    if check is None:
        answer["observation"] = {}
        return answer
    if target_name not in namespace:
        error = NameError(f"name '{target_name}' is not defined")
        answer["observation"] = {checking.RAISED: plain.encode({"call": "", "error": error})}
        return answer
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = io.StringIO()  # what the student's code prints during a check
    alarm = _Alarm(timeout)
    try:
        with alarm:
            answer["observation"] = checking.observe(check, namespace[target_name], request["case"])
    except CellTimeout:
        answer["status"] = "timeout"
    finally:
        sys.stdout, sys.stderr = saved
    if alarm.rang or answer["status"] == "timeout":
        answer.update(status="timeout", observation={}, where=alarm.where, call=alarm.call)
    return answer


def serve(channel: int, cell_timeout: float) -> None:
    """Answer the judge's requests on ``channel`` until it says ``end`` or goes away."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    reader = os.fdopen(channel, "rb", buffering=1 << 16, closefd=False)
    for line in reader:
        request = json.loads(line)
        op = request.get("op")
        seconds = min(cell_timeout, float(request.get("seconds", cell_timeout)))
        if op == "run":
            status, outputs = run_cell(request["source"], namespace, seconds, request["name"])
            answer = {"id": request["id"], "op": "ran", "status": status, "outputs": outputs}
        elif op == "observe":
            answer = observe(request, namespace, seconds)
        else:
            break
        _send(channel, answer)


def _send(channel: int, message: dict) -> None:
    view = memoryview(plain.dumps(message))
    while view:
        view = view[os.write(channel, view) :]
