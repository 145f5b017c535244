"""A warm grading worker: ``python -m autograder.grade.worker`` (started by the batch grader).

The worker isolates itself (:mod:`autograder.grade.sandbox`), imports torch and every check
module once, snapshots what the checks rely on (:mod:`autograder.grade.integrity`), then grades
one notebook per request. Requests come as JSON lines on stdin; results go back as JSON lines on
the stdout it had at start (student processes never hold that descriptor).

For each notebook the worker forks a *student process*, which runs the notebook's cells in
order, each under a timeout. Each grade cell runs in a further fork of the student process (the
*check process*): it first restores the protected state and re-runs the instructor's locked setup
cells, so a student's replacement of ``checks``, ``torch`` or a builtin is gone before the check
starts; after the check it reports anything the student's code replaced while the check ran. A
crash or timeout in one check costs that grade cell only. The worker never runs student code.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import json
import os
import pkgutil
import select
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from autograder.grade import integrity, sandbox

#: The descriptor student processes report on; everything else is closed in them.
RESULT_FD = 211
MAX_OUTPUT = 20_000
SETUP_KINDS = ("setup",)


class CellTimeout(BaseException):
    """A cell ran past its time limit (a BaseException, so ``except Exception`` cannot keep it)."""


def _send(message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    view = memoryview(data)
    while view:
        written = os.write(RESULT_FD, view)
        view = view[written:]


def _report_refusal(why: str) -> None:
    try:
        _send({"kind": "tamper", "what": why})
    except OSError:
        os._exit(99)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + "\n... (output truncated)"


def _on_alarm(signum, frame):
    raise CellTimeout()


def _transform(source: str) -> str:
    """IPython syntax (magics, ``!cmd``) to plain Python, as a Jupyter kernel would see it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    return TransformerManager().transform_cell(source)


def run_cell(
    source: str,
    namespace: dict,
    timeout: float,
    filename: str,
    guard: list[str] | None = None,
) -> tuple[str, list]:
    """Execute one cell like a kernel: outputs as nbformat dicts, status ok/error/timeout.

    With ``guard``, the protected state is restored the moment the cell's code stops (before
    this function's own code runs again) and what had been changed is added to ``guard``.
    """
    outputs: list[dict] = []
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    status = "ok"
    try:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            tree = ast.parse(_transform(source), filename)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            # dont_inherit: this module's `from __future__ import annotations` must not change
            # student code (a kernel evaluates annotations when a function is defined).
            exec(compile(tree, filename, "exec", dont_inherit=True), namespace)
            value = (
                eval(compile(last, filename, "eval", dont_inherit=True), namespace)
                if last
                else None
            )
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if guard is not None:
                guard.extend(integrity.restore())
        if value is not None:
            outputs.append(
                {
                    "output_type": "execute_result",
                    "data": {"text/plain": _clip(repr(value))},
                    "metadata": {},
                    "execution_count": None,
                }
            )
    except CellTimeout:
        status = "timeout"
        outputs.append(_error("CellTimeout", f"the cell ran longer than {timeout:g} s", []))
    except BaseException as error:  # noqa: BLE001 - any student error is an output
        status = "error"
        frames = traceback.format_exception(type(error), error, error.__traceback__)
        kept = [f for f in frames if "autograder/grade/" not in f]
        outputs.append(_error(type(error).__name__, str(error), kept))
    finally:
        sys.stdout, sys.stderr = saved
    streams = [("stdout", out.getvalue()), ("stderr", err.getvalue())]
    for name, text in streams:
        if text:
            outputs.insert(0, {"output_type": "stream", "name": name, "text": _clip(text)})
    return status, outputs


def _error(name: str, value: str, trace: list[str]) -> dict:
    return {
        "output_type": "error",
        "ename": name,
        "evalue": _clip(value),
        "traceback": [_clip("".join(trace))] if trace else [],
    }


def _wait(pid: int, timeout: float) -> tuple[str, int]:
    """Wait for a child: ("exited", code), ("signalled", signal) or ("timeout", 0)."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], max(timeout, 0))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", 0
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    if os.WIFSIGNALED(status):
        return "signalled", os.WTERMSIG(status)
    return "exited", os.WEXITSTATUS(status)


def student_process(job: dict) -> None:
    """Run in the student process: every cell in order, grade cells in check processes."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    timeout = float(job["cell_timeout"])
    setup: list[str] = []
    for cell in job["cells"]:
        index = cell["index"]
        name = f"<{job['notebook']} cell {index}>"
        if cell["kind"] != "grade":
            changed: list[str] = []
            status, outputs = run_cell(cell["source"], namespace, timeout, name, changed)
            _send({"kind": "cell", "index": index, "status": status, "outputs": outputs})
            if cell["kind"] not in SETUP_KINDS:  # setup cells are the instructor's own code
                for what in changed:
                    _send({"kind": "tamper", "what": what})
            if cell["kind"] in SETUP_KINDS:
                setup.append(cell["source"])
            continue
        pid = os.fork()
        if pid == 0:
            try:
                sandbox.die_with_parent()
                check_process(cell, namespace, setup, timeout, name)
            finally:
                os._exit(0)
        how, code = _wait(pid, timeout + 5)
        _send({"kind": "check_end", "index": index, "how": how, "code": code})
    _send({"kind": "end"})


def check_process(cell: dict, namespace: dict, setup: list[str], timeout: float, name: str):
    """Run in a fork of the student process: restore, re-run setup, check, report."""
    before = integrity.restore()
    namespace["__builtins__"] = builtins
    for source in setup:
        run_cell(source, namespace, timeout, "<setup>")
    integrity.restore()  # whatever the instructor's setup cells changed is not the student's doing
    during: list[str] = []
    status, outputs = run_cell(cell["source"], namespace, timeout, name, during)
    message = {"kind": "cell", "index": cell["index"], "status": status, "outputs": outputs}
    message["tampered_before"] = sorted(set(before))
    message["tampered_during"] = during
    _send(message)


class Worker:
    """The worker's state: isolation achieved, uid counter, protocol streams."""

    def __init__(self, config: dict) -> None:
        hide = [Path(p) for p in config.get("hide", [])]
        self.isolation = (
            sandbox.isolate_worker(hide)
            if config.get("sandbox", True)
            else sandbox.Isolation(warnings=["sandbox disabled (--no-sandbox)"])
        )
        self.uid_base = int(config.get("uid_base", 2_000_000))
        self.count = 0
        self.memory_mb = int(config.get("memory_mb", 1024))
        self.current: tuple[int | None, int | None] = (None, None)
        self.reaper = sandbox.Reaper() if self.isolation.own_uid else None
        signal.signal(signal.SIGTERM, self._stop)

    def _stop(self, signum, frame) -> None:
        """The batch was stopped: take the running student's processes down with the worker."""
        pid, uid = self.current
        if uid is not None:
            self.reaper.kill(uid)
        elif pid is not None:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        os._exit(1)

    def grade(self, job: dict) -> dict:
        self.count += 1
        uid = self.uid_base + self.count if self.isolation.own_uid else None
        root = self.isolation.scratch_root
        if root is None:
            import tempfile

            scratch = Path(tempfile.mkdtemp(prefix="autograder-"))
        else:
            scratch = root / str(self.count)
            scratch.mkdir(mode=0o700)
            if uid is not None:
                os.chown(scratch, uid, uid)
        read_end, write_end = os.pipe()
        started = time.monotonic()
        self.current = (None, uid)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                os.dup2(write_end, RESULT_FD)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1) if os.environ.get("AUTOGRADER_DEBUG") else (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(3, RESULT_FD)
                os.closerange(RESULT_FD + 1, 1 << 16)
                os.setsid()
                sandbox.enter_student(uid, scratch, self.memory_mb)
                student_process(job)
            finally:
                os._exit(0)
        os.close(write_end)
        self.current = (pid, uid)
        messages, timed_out = self._collect(read_end, pid, float(job["budget"]), started)
        self._kill_all(pid, uid)
        self.current = (None, None)
        _remove(scratch)
        if self.isolation.filesystem:
            sandbox.empty_shared_memory()
        return {
            "id": job["id"],
            "messages": messages,
            "budget_exceeded": timed_out,
            "exit": self._exit,
            "seconds": time.monotonic() - started,
        }

    def _kill_all(self, pid: int, uid: int | None) -> None:
        """Every process the notebook started (DataLoader workers, escaped forks) dies."""
        if uid is not None:
            self.reaper.kill(uid)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    def _collect(self, fd: int, pid: int, budget: float, started: float):
        """Read the student process's messages until it is done or its budget is spent."""
        buffer, timed_out, self._exit = b"", False, None
        pidfd = os.pidfd_open(pid)
        while True:
            left = budget - (time.monotonic() - started)
            if left <= 0:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            waiting = [fd] if self._exit is not None else [fd, pidfd]
            ready, _, _ = select.select(waiting, [], [], left if self._exit is None else 0.5)
            if pidfd in ready:
                self._exit = _reap(pid)
                # Orphans (say, DataLoader workers) still hold the pipe; they go now, so the
                # pipe ends as soon as what was written is read.
                self._kill_all(pid, self.current[1])
            if fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
            elif self._exit is not None and pidfd not in ready:
                break  # the student process is gone; only orphans it left hold the pipe
        if self._exit is None:
            self._exit = _reap(pid)
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            buffer += chunk
        os.close(pidfd)
        os.close(fd)
        messages = []
        for line in buffer.split(b"\n"):
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                messages.append(message)
        return messages, timed_out


def _reap(pid: int) -> int:
    """Wait for a child; its exit code, or minus the signal that killed it."""
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def warm_up() -> None:
    """Import torch and every check module, single-threaded, before any student code runs."""
    import torch

    torch.set_num_threads(1)
    # torch imports its compiler stack lazily, on an optimizer's first step (~0.6 s): once
    # here rather than in every check process.
    importlib.import_module("torch._dynamo")
    _first_use_of_optimizers(torch)
    import autograder

    for module in pkgutil.iter_modules(autograder.__path__):
        if not module.ispkg and not module.name.startswith("_"):
            importlib.import_module(f"autograder.{module.name}")
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        TransformerManager().transform_cell("x = 1\n")
    except ImportError:
        pass


def _first_use_of_optimizers(torch) -> None:
    """Wrap each torch optimizer's step() in torch's profiling hook now, before the snapshot.

    torch does this to an optimizer class the first time one is constructed; done during a
    check it would look like a change to torch.
    """
    base = torch.optim.Optimizer
    for name in dir(torch.optim):
        kind = getattr(torch.optim, name)
        own_step = isinstance(kind, type) and issubclass(kind, base) and "step" in vars(kind)
        if own_step and not getattr(kind.step, "hooked", None):
            kind.step = base.profile_hook_step(kind.step)
            kind.step.hooked = True


def main() -> None:
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.environ.setdefault("MPLBACKEND", "Agg")
    config = json.loads(sys.stdin.readline())
    worker = Worker(config)
    sandbox.die_with_parent_signal(signal.SIGTERM)
    warm_up()
    integrity.snapshot()
    integrity.install_audit_hook(os.getpid(), _report_refusal)
    isolation = worker.isolation
    channel.write(
        json.dumps(
            {
                "ready": True,
                "network": isolation.network,
                "filesystem": isolation.filesystem,
                "own_uid": isolation.own_uid,
                "warnings": isolation.warnings,
            }
        )
        + "\n"
    )
    for line in sys.stdin:
        if line.strip():
            channel.write(json.dumps(worker.grade(json.loads(line))) + "\n")


if __name__ == "__main__":
    main()
