"""Grading on many machines: Celery tasks through a broker, warm workers, one gradebook writer.

``python -m autograder grade SUBMISSIONS_DIR --out OUT_DIR --broker URL`` prepares the course and
reads every submission as on one machine (:mod:`autograder.grade.batch`), then sends each notebook
to grade as a Celery task (:func:`run_remote`): the notebook's code cells, already restored
against its release, with the grade cells' source (hidden tests included), the limits and the
batch's seed for hidden cases. ``python -m autograder worker --broker URL`` (:func:`work`) holds
warm sandboxed lanes, as the one-machine grader does, and judges each task exactly as it would
(:func:`autograder.grade.judge.grade`); only the judge's decision, plain JSON, goes back through
the result store (Redis). The submitting side turns it into scores and is the only process that
writes the gradebook, the ledger and the output files. Nothing is shared but the broker and the
result store: no file system, no pickle (JSON is the only content type accepted).

A worker that dies mid-task loses nothing: a task is acknowledged only once its result is
stored (``task_acks_late``), so the broker hands it to another worker. Each start of a task is
counted in the result store; a notebook whose grading killed workers ``MAX_TRIES`` times is not
tried again and comes back as ``worker_lost``, for an instructor to look at.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import queue
import secrets
import socket
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

from celery import Celery

TASK = "autograder.grade_notebook"
#: Starts of one task before it is given up as ``worker_lost``.
MAX_TRIES = 3
#: Tasks sent and not yet answered: bounds what waits in the broker's memory at any time.
IN_FLIGHT = 500
#: Seconds between two looks at the result store.
POLL = 0.25
#: A task taken by a worker that then vanished goes back to the queue after this many seconds
#: (Redis; RabbitMQ gives it back as soon as the worker's connection drops). It must exceed the
#: longest a notebook may take (``--budget``), or a task still running is handed out again.
VISIBILITY_TIMEOUT = 900.0

app = Celery("autograder", set_as_current=False)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_compression="gzip",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_send_task_events=True,
    task_send_sent_event=True,
    broker_connection_retry_on_startup=True,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    result_expires=7 * 24 * 3600,
)


class BrokerError(Exception):
    """The broker or the result store cannot be used; the message says which and why."""


def configure(broker: str, results: str = "", visibility: float = VISIBILITY_TIMEOUT) -> None:
    """Point the app at ``broker`` and a Redis result store (the broker itself by default)."""
    results = results or broker
    if urlsplit(results).scheme not in ("redis", "rediss", "redis+socket"):
        raise BrokerError(
            f"the result store must be Redis (redis:// or rediss://), not {hidden(results)}: "
            "with a RabbitMQ broker, give --results redis://..."
        )
    sweep = max(1.0, min(10.0, visibility / 4))
    options = {
        "visibility_timeout": visibility,
        "unacked_restore_interval": sweep,
        "unacked_restore_throttle": 1,
    }
    app.conf.update(broker_url=broker, result_backend=results, broker_transport_options=options)


def hidden(url: str) -> str:
    """``url`` with its password replaced by ``***``, to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def reach(broker: str) -> None:
    """Connect to the broker and the result store once; :class:`BrokerError` if either fails."""
    for what, url, probe in (
        ("broker", broker, lambda: app.connection_for_write().ensure_connection(max_retries=1)),
        ("result store", app.conf.result_backend, lambda: app.backend.client.ping()),
    ):
        try:
            probe()
        except Exception as error:  # noqa: BLE001 - any failure to connect is said in one line
            raise BrokerError(
                f"cannot reach the {what} at {hidden(url)} ({type(error).__name__}: {error})"
            ) from None


def code_version() -> str:
    """The grader's code as a hash (every ``autograder/`` module) with torch's version: a
    worker grading with other checks or another torch would give other scores."""
    import torch

    digest = hashlib.sha256(torch.__version__.encode())
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


# --- the submitting side ---------------------------------------------------------------------


def payload(job, limits, seed: int, version: str) -> dict:
    """What a worker needs to grade one notebook, as plain JSON."""
    return {
        "version": version,
        "label": f"{job.student}/{job.stem}/{job.name}",
        "name": job.name,
        "seed": seed,
        "limits": asdict(limits),
        "cells": [[c.index, c.kind, c.source, c.points] for c in job.cells],
        "max_tries": MAX_TRIES,
        "language": job.language,
    }


def task_id(message: dict) -> str:
    """The same notebook, code and limits always make the same task: a run started again finds
    the results of the tasks its interrupted predecessor sent."""
    key = {k: v for k, v in message.items() if k != "seed"}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def run_remote(jobs: list, limits, out: Path, say) -> Iterator[tuple[object, object]]:
    """Send the jobs to the workers; yield (job, result) as each answer comes back.

    ``result`` is a :class:`~autograder.grade.submissions.NotebookResult`, or None when no worker
    could grade the notebook with this grader's code (it stays ungraded: a later run sends it
    again). ``say`` prints a line beside the progress bar.
    """
    from autograder.grade import batch

    version = code_version()
    seed = secrets.randbits(64)
    waiting = iter(jobs)
    sent: dict[str, tuple[object, dict]] = {}
    hosts: dict[str, dict] = {}
    _say_if_no_worker(say)
    while True:
        for job in itertools.islice(waiting, max(0, IN_FLIGHT - len(sent))):
            message = payload(job, limits, seed, version)
            ident = task_id(message)
            sent[ident] = (job, message)
            if app.backend.get_task_meta(ident)["status"] != "SUCCESS":
                app.send_task(TASK, args=[message], task_id=ident)
        if not sent:
            return
        for ident, meta in app.backend.get_many(set(sent), interval=POLL, max_iterations=1):
            job, message = sent.pop(ident)
            result = _result(job, meta, hosts, out, say, batch)
            if result is None:
                app.backend.forget(ident)
                continue
            yield job, result
            app.backend.forget(ident)


def _say_if_no_worker(say) -> None:
    try:
        answered = app.control.ping(timeout=1.0)
    except Exception:  # noqa: BLE001 - a broker without remote control still takes tasks
        return
    if not answered:
        say(
            "no worker answers on this broker yet: the notebooks wait in its queue until one "
            "starts (python -m autograder worker --broker URL)"
        )


def _result(job, meta: dict, hosts: dict, out: Path, say, batch):
    """A worker's answer as the notebook's result; None when the notebook stays ungraded."""
    from autograder.grade.judge import Graded
    from autograder.grade.submissions import score_notebook

    answer = meta.get("result")
    label = f"{job.student}/{job.stem}/{job.name}"
    try:
        if meta["status"] != "SUCCESS":
            raise ValueError(f"the task failed in the worker: {answer!r}"[:300])
        kind = answer["kind"]
        if kind == "refused":
            say(f"{label}: not graded: {answer['why']}")
            return None
        if kind == "lost":
            return batch.lost_result(job, answer["tries"], answer["hosts"])
        worker = {"host": str(answer["host"]), "try": int(answer["try"])}
        _note_sandbox(worker["host"], answer["sandbox"], hosts, out, say)
        if kind == "failed":
            result = batch.failed_result(job, str(answer["why"]))
        else:
            graded = Graded(**answer["graded"])
            graded.outputs = {int(k): v for k, v in graded.outputs.items()}
            graded.points = {int(k): float(v) for k, v in graded.points.items()}
            result = score_notebook(job.name, job.notebook, job.notes, graded)
        result.worker = worker
        return result
    except Exception as error:  # noqa: BLE001 - an answer that cannot be read is one failure
        return batch.failed_result(
            job, f"the worker's answer could not be read ({type(error).__name__}: {error})"[:500]
        )


def _note_sandbox(host: str, status: dict, hosts: dict, out: Path, say) -> None:
    """What each worker's sandbox achieved, in OUT_DIR/sandbox.json; its warnings said once."""
    if host in hosts:
        return
    hosts[host] = status
    (out / "sandbox.json").write_text(json.dumps({"workers": hosts}, indent=1))
    for warning in status.get("warnings", []):
        say(f"warning: sandbox on {host}: {warning}")


# --- the worker ------------------------------------------------------------------------------


class Worker:
    """One worker process: its lanes (warm zygotes), the batch cases it has judged with, and
    what it tells the result store about each task it starts."""

    def __init__(self, lanes: list, name: str) -> None:
        from autograder.grade.batch import run_uid_base

        self.name = name
        self.free: queue.Queue = queue.Queue()
        for lane in lanes:
            self.free.put(lane)
        self.status = lanes[0].ready()
        self.version = code_version()
        self.uids = itertools.count(run_uid_base())
        self.lock = threading.Lock()
        self.cases: dict[int, object] = {}

    def batch_cases(self, seed: int):
        """The hidden cases and references of the batch ``seed`` (the last few batches kept)."""
        from autograder.grade import judge

        with self.lock:
            if seed not in self.cases:
                if len(self.cases) >= 4:
                    self.cases.pop(next(iter(self.cases)))
                self.cases[seed] = judge.Cases(seed)
            return self.cases[seed]

    def run(self, ident: str, message: dict, backend) -> dict:
        meta = backend.get_task_meta(ident)
        if meta["status"] == "SUCCESS":
            return meta["result"]  # a copy of a task another worker finished
        before = meta["result"] if meta["status"] == "STARTED" else None
        before = before if isinstance(before, dict) else {}
        tries, hosts = int(before.get("tries", 0)), list(before.get("hosts", []))
        if tries >= int(message["max_tries"]):
            return {"kind": "lost", "tries": tries, "hosts": hosts}
        started = {"tries": tries + 1, "hosts": [*hosts, self.name], "label": message["label"]}
        backend.store_result(ident, dict(started, pid=os.getpid()), "STARTED")
        me = {"host": self.name, "try": tries + 1, "sandbox": self.status}
        if message["version"] != self.version:
            why = (
                f"worker {self.name} runs other grading code ({self.version}, this grader "
                f"{message['version']}): install the same course and torch on every host"
            )
            return {"kind": "refused", "why": why}
        return me | self.grade(message)

    def grade(self, message: dict) -> dict:
        from autograder.grade import judge
        from autograder.grade.batch import failure_note

        cells, setup = [], []
        for index, kind, source, points in message["cells"]:
            calls = judge.grade_calls(source, setup) if kind == "grade" else []
            if kind == "setup":
                setup.append(source)
            cells.append(judge.Cell(int(index), kind, source, float(points), calls))
        limits = judge.Limits(**message["limits"])
        cases = self.batch_cases(int(message["seed"]))
        lane = self.free.get()
        try:
            with self.lock:
                uid = next(self.uids)
            graded = judge.grade(cells, lane, uid, limits, cases, message.get("language", "en"))
        except Exception as error:  # noqa: BLE001 - the failure boundary of one notebook
            lane.restart()
            return {"kind": "failed", "why": failure_note(message["name"], error)}
        finally:
            self.free.put(lane)
        return {"kind": "graded", "graded": asdict(graded)}


_WORKER: list[Worker] = []


@app.task(name=TASK, bind=True)
def grade_notebook(self, message: dict) -> dict:
    if not _WORKER:
        raise RuntimeError("this process is not a grading worker (python -m autograder worker)")
    return _WORKER[0].run(self.request.id, message, self.backend)


def work(
    broker: str,
    results: str = "",
    jobs: int = 0,
    name: str = "",
    hide: list[Path] | None = None,
    sandbox: bool = True,
    visibility: float = VISIBILITY_TIMEOUT,
    loglevel: str = "INFO",
) -> int:
    """``python -m autograder worker``: warm lanes, then Celery's worker on a thread per lane."""
    from autograder.grade import lanes as lanes_module

    state = Path(tempfile.mkdtemp(prefix="autograder-worker-"))
    lanes = lanes_module.start_worker(jobs, state, hide or [], sandbox)
    try:
        configure(broker, results, visibility)
        reach(broker)
        name = name or f"autograder-{os.getpid()}"
        if "@" not in name:  # Celery's node names are NAME@HOST
            name = f"{name}@{socket.gethostname()}"
        _WORKER.append(Worker(lanes, name))
        for warning in _WORKER[0].status.get("warnings", []):
            print(f"warning: sandbox: {warning}", file=sys.stderr)
        argv = ["worker", "--pool=threads", f"--concurrency={len(lanes)}", f"--hostname={name}"]
        argv += [f"--loglevel={loglevel}", "--task-events", "--without-mingle"]
        app.worker_main(argv)
    except BrokerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        for lane in lanes:
            lane.close()
    return 0
