"""The zygote: a warm, sandboxed interpreter that forks one student process per notebook.

``python -m autograder.grade.zygote`` is started by the grader (:mod:`autograder.grade.lanes`)
as a fresh interpreter, its control socket (a SOCK_SEQPACKET socket, one message per request)
on the descriptor named by ``AUTOGRADER_CONTROL_FD``. It isolates itself
(:mod:`autograder.grade.sandbox`), imports torch and every scenario once, says it is ready, and
then only forks. It never receives a notebook, a case or anything of a student: each student
process starts from this clean state, so nothing of an earlier notebook can be found in its
memory. Requests on the control socket, one JSON line each:

- ``{"op": "spawn", "uid": …, "memory_mb": …, "cell_timeout": …}``: fork a student process with
  a fresh scratch folder; answer ``{"pid": …}`` with the judge's end of a new socket pair
  attached (SCM_RIGHTS);
- ``{"op": "reap", "pid": …}``: wait for that student process (the grader has killed its uid),
  remove its scratch folder and shared memory; answer ``{"exit": …}``.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from autograder.grade import sandbox

#: The student process's channel to the judge; every other descriptor is closed in it.
CHANNEL_FD = 3
MESSAGE = 1 << 16
#: Modules of the package that no scenario needs (course tools, the grader's own reading).
TOOLS = ("course", "release", "delegation")


def warm_up() -> None:
    """Import torch and every check module, single-threaded, before any student process."""
    import torch

    torch.set_num_threads(1)
    # torch imports its compiler stack lazily, on an optimizer's first step (~0.6 s): once
    # here rather than in every student process.
    importlib.import_module("torch._dynamo")
    import autograder

    for module in pkgutil.iter_modules(autograder.__path__):
        if not module.ispkg and not module.name.startswith("_") and module.name not in TOOLS:
            importlib.import_module(f"autograder.{module.name}")
    from autograder.grade.student import transform

    transform("x = 1\n")


class Zygote:
    def __init__(self, control: socket.socket, isolation: sandbox.Isolation) -> None:
        self.control = control
        self.isolation = isolation
        self.scratch: dict[int, Path] = {}
        self.count = 0

    def spawn(self, request: dict) -> None:
        uid = request.get("uid") if self.isolation.own_uid else None
        scratch = self._scratch(uid)
        mine, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            self.control.detach()
            mine.detach()
            self._become_student(theirs.detach(), uid, scratch, request)
        theirs.close()
        self.scratch[pid] = scratch
        socket.send_fds(self.control, [json.dumps({"pid": pid}).encode()], [mine.fileno()])
        mine.close()

    def _scratch(self, uid: int | None) -> Path:
        self.count += 1
        root = self.isolation.scratch_root
        if root is None:
            return Path(tempfile.mkdtemp(prefix="autograder-"))
        scratch = root / str(self.count)
        scratch.mkdir(mode=0o700)
        if uid is not None:
            os.chown(scratch, uid, uid)
        return scratch

    def _become_student(self, channel: int, uid, scratch: Path, request: dict) -> None:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.dup2(channel, CHANNEL_FD, inheritable=False)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1) if os.environ.get("AUTOGRADER_DEBUG") else (0, 1, 2):
                os.dup2(devnull, fd)
            os.closerange(CHANNEL_FD + 1, 1 << 16)
            os.setsid()
            sandbox.enter_student(uid, scratch, int(request["memory_mb"]))
            from autograder.grade.student import serve

            serve(CHANNEL_FD, float(request["cell_timeout"]))
        finally:
            os._exit(0)

    def reap(self, request: dict) -> None:
        pid = int(request["pid"])
        try:
            _, status = os.waitpid(pid, 0)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        except ChildProcessError:
            code = None
        shutil.rmtree(self.scratch.pop(pid, Path("/nonexistent")), ignore_errors=True)
        if self.isolation.filesystem:
            sandbox.empty_shared_memory()
        self.control.send(json.dumps({"exit": code}).encode())


def main() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    control = socket.socket(fileno=int(os.environ.pop("AUTOGRADER_CONTROL_FD")))
    config = json.loads(control.recv(MESSAGE))
    hide = [Path(p) for p in config.get("hide", [])]
    isolation = (
        sandbox.isolate_worker(hide)
        if config.get("sandbox", True)
        else sandbox.Isolation(warnings=["sandbox disabled (--no-sandbox)"])
    )
    sandbox.die_with_parent_signal(signal.SIGKILL)
    warm_up()
    zygote = Zygote(control, isolation)
    ready = {
        "ready": True,
        "network": isolation.network,
        "filesystem": isolation.filesystem,
        "own_uid": isolation.own_uid,
        "processes": isolation.processes,
        "warnings": isolation.warnings,
    }
    control.send(json.dumps(ready).encode())
    for message in iter(lambda: control.recv(MESSAGE), b""):
        request = json.loads(message)
        if request.get("op") == "spawn":
            zygote.spawn(request)
        elif request.get("op") == "reap":
            zygote.reap(request)


if __name__ == "__main__":
    sys.exit(main())
