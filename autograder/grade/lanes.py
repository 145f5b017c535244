"""The judge's end of the boundary: zygotes, student processes and their channels.

A :class:`Lane` is one zygote (:mod:`autograder.grade.zygote`, a fresh sandboxed interpreter)
and, at any time, at most one student process forked from it. The judge talks to a student
process only through :class:`Channel`: one request, then exactly one answer within a deadline,
parsed as plain JSON within a size limit. Everything else is a :class:`Violation`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from autograder.course import REPO, venv_env
from autograder.grade import sandbox

#: The largest answer a student process may send (the plain-data codec's message limit,
#: :data:`autograder.plain.MAX_BYTES`; this module imports no torch, so zygotes start first).
MAX_ANSWER = 32 * 2**20

#: How long a channel is read after its student process was killed, and how much of it.
DRAIN_SECONDS = 0.2
DRAIN_BYTES = 1 << 20


class Violation(Exception):
    """The student process broke the protocol: the notebook is ``tampered``, never scored."""


class TimedOut(Exception):
    """No answer before the deadline."""


class Died(Exception):
    """The student process ended before it answered."""


class Channel:
    """Requests to one student process and its answers, one at a time."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.buffer = b""
        #: How the process ended, as the zygote reaped it (set by :meth:`Lane.finish`): its exit
        #: code, or minus the signal that killed it; None when unknown.
        self.exit_status: int | None = None

    def ask(self, request: dict, deadline: float) -> dict:
        """Send ``request`` (a fresh ``id`` is added); return the one answer that matches it."""
        request = dict(request, id=secrets.token_hex(8))
        self._send(json.dumps(request).encode() + b"\n", deadline)
        line = self._line(deadline)
        if self.buffer or self._pending():
            raise Violation("more than one answer to one request")
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError):
            raise Violation("an answer that is not JSON") from None
        if not isinstance(answer, dict) or answer.get("id") != request["id"]:
            raise Violation("an answer that matches no request")
        return answer

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut()
            _, writable, _ = select.select([], [self.sock], [], left)
            if writable:
                try:
                    view = view[self.sock.send(view) :]
                except (BrokenPipeError, ConnectionResetError):
                    raise Died() from None

    def _line(self, deadline: float) -> bytes:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_ANSWER:
                raise Violation(f"an answer over {MAX_ANSWER} bytes")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut()
            ready, _, _ = select.select([self.sock, self.pidfd], [], [], left)
            if self.sock in ready:
                chunk = self._recv()
                if not chunk:
                    raise Died()
                self.buffer += chunk
            elif self.pidfd in ready:
                # The process is gone; take what it wrote before it went, then give up.
                chunk = self._recv()
                if not chunk:
                    raise Died()
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(1 << 20)
        except BlockingIOError:
            return b""
        except ConnectionResetError:
            return b""

    def _pending(self) -> bool:
        ready, _, _ = select.select([self.sock], [], [], 0)
        if not ready:
            return False
        chunk = self._recv()
        self.buffer += chunk
        return bool(chunk)

    def drain(self) -> int:
        """After the kill: read what is left, bounded in time and bytes; return the byte count."""
        count, stop = len(self.buffer), time.monotonic() + DRAIN_SECONDS
        while count < DRAIN_BYTES and time.monotonic() < stop:
            ready, _, _ = select.select([self.sock], [], [], max(0.0, stop - time.monotonic()))
            chunk = self._recv() if ready else b""
            if not chunk:
                break
            count += len(chunk)
        return count

    def close(self) -> None:
        self.sock.close()
        os.close(self.pidfd)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_db_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'gradebook.db').resolve()}"


def hidden_paths(submissions: Path, out: Path, db_url: str, extra: list[Path]) -> list[Path]:
    """What student code must not see: submissions, solutions, outputs and gradebook."""
    paths = [submissions, out, REPO / "solutions", *extra]
    if db_url.startswith("sqlite:///"):
        database = Path(db_url[len("sqlite:///") :])
        database.parent.mkdir(parents=True, exist_ok=True)
        database.touch()  # an empty file is an empty SQLite database; it must exist to be hidden
        paths.append(database)
    git = REPO / ".git"
    if git.is_dir():
        paths.append(git)
    return [p.resolve() for p in paths if p.exists()]


def start(jobs: int, submissions: Path, out: Path, db_url: str, hide: list[Path], sandbox_on: bool):
    """``jobs`` lanes, their zygotes warming up at once (call this before importing torch)."""
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "sandbox": sandbox_on,
        "hide": [str(p) for p in hidden_paths(submissions, out, db_url, hide)],
    }
    return [Lane(config, out / "workers.log") for _ in range(max(1, jobs or default_jobs()))]


def start_worker(jobs: int, state: Path, hide: list[Path], sandbox_on: bool) -> list[Lane]:
    """A grading worker's lanes (:mod:`autograder.grade.workers`): no submissions or gradebook
    on its host, so it hides the solutions, the repository's history, its own ``state`` folder
    (the zygotes' log) and ``hide``."""
    paths = [REPO / "solutions", REPO / ".git", state, *hide]
    config = {"sandbox": sandbox_on, "hide": [str(p.resolve()) for p in paths if p.exists()]}
    return [Lane(config, state / "workers.log") for _ in range(max(1, jobs or default_jobs()))]


#: The variables a zygote (and so every student process) inherits from the grader; nothing
#: else, so that no secret of the instructor's or the worker's (a broker password, a cloud
#: token) can be read from ``os.environ`` by student code.
INHERITED = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONPATH",
    "AUTOGRADER_DEBUG",
)  # fmt: skip


def zygote_env(control_fd: int) -> dict[str, str]:
    env = {k: v for k, v in venv_env().items() if k in INHERITED or k.startswith("LC_")}
    return dict(
        env,
        PYTHONHASHSEED="0",
        OMP_NUM_THREADS="1",
        # glibc reserves 64 MB of address space per malloc arena; under RLIMIT_AS the
        # memory cap would otherwise depend on how many threads met in malloc.
        MALLOC_ARENA_MAX="2",
        AUTOGRADER_CONTROL_FD=str(control_fd),
    )


class Lane:
    """One zygote, and the student processes it forks, one at a time."""

    def __init__(self, config: dict, log: Path) -> None:
        self.config = config
        self.log = log
        self.reaper = (
            sandbox.Reaper() if config.get("sandbox", True) and os.geteuid() == 0 else None
        )
        self._start()

    def _start(self) -> None:
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = zygote_env(theirs.fileno())
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "autograder.grade.zygote"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=[theirs.fileno()],
                env=env,
            )
        theirs.close()
        self.control.send(json.dumps(self.config).encode())
        self.status: dict | None = None

    def ready(self) -> dict:
        """Wait until the zygote is warm; what its sandbox achieved."""
        if self.status is None:
            message = self.control.recv(1 << 16)
            if not message:
                raise RuntimeError(f"a grading zygote failed to start; see {self.log}")
            self.status = json.loads(message)
        return self.status

    def spawn(self, uid: int, memory_mb: int, cell_timeout: float) -> Channel:
        """A fresh student process, forked from the zygote, and the channel to it."""
        self.ready()
        request = {"op": "spawn", "uid": uid, "memory_mb": memory_mb, "cell_timeout": cell_timeout}
        self.control.send(json.dumps(request).encode())
        message, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 1)
        if not message or not fds:
            raise RuntimeError(f"a grading zygote stopped; see {self.log}")
        return Channel(socket.socket(fileno=fds[0]), json.loads(message)["pid"])

    def finish(self, channel: Channel, uid: int) -> int:
        """Kill every process of the notebook (its uid first), drain, reap; bytes left over."""
        self.kill(channel.pid, uid)
        left = channel.drain()
        channel.close()
        self.control.send(json.dumps({"op": "reap", "pid": channel.pid}).encode())
        reaped = self.control.recv(1 << 16)
        channel.exit_status = json.loads(reaped).get("exit") if reaped else None
        return left

    def kill(self, pid: int, uid: int) -> None:
        if self.reaper is not None and self.status and self.status.get("own_uid"):
            self.reaper.kill(uid)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def restart(self) -> None:
        self.close()
        self._start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.control.close()
        self.process.kill()
        self.process.wait()
