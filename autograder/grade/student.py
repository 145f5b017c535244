"""The student process: runs a notebook's cells and the checks' scenarios, nothing else.

It is forked from the zygote (:mod:`autograder.grade.zygote`), which never held a job, and it
holds one descriptor besides /dev/null: its channel to the judge. It answers one request at a
time, in order:

- ``{"id": n, "op": "run", "source": …, "name": …}``: execute a code cell (the student's, or the
  instructor's setup cell) like a kernel; answer ``{"id": n, "op": "ran", "status": …,
  "outputs": [...]}`` with stream, text/plain and error outputs only;
- ``{"id": n, "op": "observe", "check": …, "target": …, "case": {...}}``: run the scenario of a
  check on the object the notebook bound to ``target``; answer ``{"id": n, "op": "observed",
  "status": "ok" | "timeout", "observation": {...}}`` (plain data);
- ``{"op": "end"}``: exit.

It never receives a grade cell's source, hidden tests, torch's expected values or anything of
another student: whatever its code does, it can only change its own observations.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import os
import signal
import sys
import traceback
from typing import Any

from autograder import checking, plain

MAX_OUTPUT = 20_000


class CellTimeout(BaseException):
    """A cell ran past its time limit (a BaseException, so ``except Exception`` cannot keep it)."""


def _on_alarm(signum, frame):
    raise CellTimeout()


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
    """SIGALRM after ``seconds``, raising :class:`CellTimeout` in the running code."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_cell(source: str, namespace: dict, timeout: float, filename: str) -> tuple[str, list]:
    """Execute one cell like a kernel: outputs as nbformat dicts, status ok/error/timeout."""
    outputs: list[dict] = []
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    status = "ok"
    try:
        with _Alarm(timeout):
            tree = ast.parse(transform(source), filename)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            # dont_inherit: this module's future flags must not change student code.
            exec(compile(tree, filename, "exec", dont_inherit=True), namespace)
            value = (
                eval(compile(last, filename, "eval", dont_inherit=True), namespace)
                if last
                else None
            )
        if value is not None:
            text = _safe_repr(value)
            outputs.append({"output_type": "execute_result", "data": {"text/plain": clip(text)}})
    except CellTimeout:
        status = "timeout"
        outputs.append(_error("CellTimeout", f"the cell ran longer than {timeout:g} s", []))
    except BaseException as error:  # noqa: BLE001 - any student error is an output
        status = "error"
        frames = traceback.format_exception(type(error), error, error.__traceback__)
        kept = [f for f in frames if "autograder/grade/" not in f]
        outputs.append(_error(type(error).__name__, plain._text(error), kept))
    finally:
        sys.stdout, sys.stderr = saved
    for name, text in (("stderr", err.getvalue()), ("stdout", out.getvalue())):
        if text:
            outputs.insert(0, {"output_type": "stream", "name": name, "text": clip(text)})
    return status, outputs


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
    try:
        with _Alarm(timeout):
            answer["observation"] = checking.observe(check, namespace[target_name], request["case"])
    except CellTimeout:
        answer["status"] = "timeout"
        answer["observation"] = {}
    finally:
        sys.stdout, sys.stderr = saved
    return answer


def serve(channel: int, cell_timeout: float) -> None:
    """Answer the judge's requests on ``channel`` until it says ``end`` or goes away."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    reader = os.fdopen(channel, "rb", buffering=1 << 16, closefd=False)
    for line in reader:
        request = json.loads(line)
        op = request.get("op")
        if op == "run":
            status, outputs = run_cell(request["source"], namespace, cell_timeout, request["name"])
            answer = {"id": request["id"], "op": "ran", "status": status, "outputs": outputs}
        elif op == "observe":
            answer = observe(request, namespace, cell_timeout)
        else:
            break
        _send(channel, answer)


def _send(channel: int, message: dict) -> None:
    view = memoryview(plain.dumps(message))
    while view:
        view = view[os.write(channel, view) :]
