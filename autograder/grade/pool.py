"""A pool of warm grading workers (``autograder.grade.worker`` processes) fed over pipes."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from autograder.course import venv_env


class Pool:
    """``size`` workers; :meth:`run` yields (job, result) as results arrive, in any order.

    The workers start importing torch at once; :meth:`ready` waits for them, so the caller can
    prepare the course meanwhile.
    """

    def __init__(self, size: int, config: dict, log: Path) -> None:
        self.config = config
        self.log = log
        self.workers: list[subprocess.Popen] = []
        self.status: dict = {}
        for _ in range(size):
            self.workers.append(self._start())

    def ready(self) -> dict:
        """Wait until every worker is warm; return what the sandbox achieved."""
        for worker in self.workers:
            line = worker.stdout.readline()
            if not line:
                raise RuntimeError(f"a grading worker failed to start; see {self.log}")
            self.status = json.loads(line)
        return self.status

    def _start(self) -> subprocess.Popen:
        config = dict(self.config, uid_base=self.config["uid_base"] + 100_000 * len(self.workers))
        with open(self.log, "ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "autograder.grade.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                # MALLOC_ARENA_MAX: glibc reserves 64 MB of address space per malloc arena,
                # and more threads meeting in malloc means more arenas; under RLIMIT_AS that
                # would make the memory cap depend on the machine's load.
                env=dict(venv_env(), PYTHONHASHSEED="0", OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2"),
            )
        worker.stdin.write((json.dumps(config) + "\n").encode())
        worker.stdin.flush()
        return worker

    def run(self, jobs: list[dict], on_start: Callable[[], None] | None = None) -> Iterator:
        queue = deque(jobs)
        selector = selectors.DefaultSelector()
        busy: dict[int, dict] = {}

        def feed(worker: subprocess.Popen) -> None:
            if queue:
                job = queue.popleft()
                busy[worker.pid] = job
                worker.stdin.write((json.dumps(job) + "\n").encode())
                worker.stdin.flush()

        for worker in self.workers:
            selector.register(worker.stdout, selectors.EVENT_READ, worker)
            feed(worker)
        while busy:
            for key, _ in selector.select():
                worker = key.data
                line = worker.stdout.readline()
                job = busy.pop(worker.pid)
                if line:
                    result = json.loads(line)
                else:  # the worker itself died: the job counts as a crash, the worker is replaced
                    result = {"id": job["id"], "messages": [], "budget_exceeded": False}
                    selector.unregister(worker.stdout)
                    self.workers.remove(worker)
                    worker = self._start()
                    worker.stdout.readline()
                    self.workers.append(worker)
                    selector.register(worker.stdout, selectors.EVENT_READ, worker)
                yield job, result
                feed(worker)
        selector.close()

    def close(self, now: bool = False) -> None:
        """Let the workers finish and exit; with ``now``, kill them (nothing was sent)."""
        for worker in self.workers:
            if now:
                worker.kill()
            with contextlib.suppress(OSError):
                worker.stdin.close()
        for worker in self.workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.terminate()
                worker.wait()
        self.workers = []

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
