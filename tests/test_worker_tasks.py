"""The worker's task bookkeeping and the submitting side's reading of answers, without servers.

A fake result store stands for Redis: what a worker does when a task comes again (finished
already, started before by a worker that vanished, started too often) and when it runs other
code; what the submitting side makes of every kind of answer, a broken one included.
"""

from __future__ import annotations

import os

import nbformat
import pytest

from autograder.grade import batch, workers
from autograder.grade.batch import Job
from autograder.grade.judge import Cell, Limits


class Store:
    """The part of Celery's Redis backend a worker uses, in memory."""

    def __init__(self, status: str = "PENDING", result=None) -> None:
        self.meta = {"status": status, "result": result}
        self.stored: list[tuple[dict, str]] = []

    def get_task_meta(self, ident):
        return dict(self.meta)

    def store_result(self, ident, result, state):
        self.stored.append((result, state))
        self.meta = {"status": state, "result": result}


class Lane:
    def ready(self):
        return {"network": True, "warnings": []}


@pytest.fixture
def worker(monkeypatch) -> workers.Worker:
    made = workers.Worker([Lane()], "w1@host")
    monkeypatch.setattr(made, "grade", lambda message: {"kind": "graded", "graded": {}})
    return made


def message(version: str) -> dict:
    return {"version": version, "label": "s/01_module/module.ipynb", "max_tries": 3}


def test_a_task_started_by_a_vanished_worker_counts_as_a_try(worker):
    store = Store("STARTED", {"tries": 1, "hosts": ["w0@other"]})
    answer = worker.run("id", message(worker.version), store)
    assert answer["kind"] == "graded" and answer["try"] == 2
    started = {"tries": 2, "hosts": ["w0@other", "w1@host"], "label": "s/01_module/module.ipynb"}
    assert store.stored == [(dict(started, pid=os.getpid()), "STARTED")]


def test_after_three_tries_the_notebook_is_given_up_unrun(worker, monkeypatch):
    monkeypatch.setattr(worker, "grade", lambda message: pytest.fail("graded a fourth time"))
    store = Store("STARTED", {"tries": 3, "hosts": ["a", "b", "a"]})
    assert worker.run("id", message(worker.version), store) == {
        "kind": "lost",
        "tries": 3,
        "hosts": ["a", "b", "a"],
    }
    assert store.stored == [], "a given-up task is not counted again"


def test_a_copy_of_a_finished_task_returns_the_stored_answer(worker, monkeypatch):
    monkeypatch.setattr(worker, "grade", lambda message: pytest.fail("graded twice"))
    done = {"kind": "graded", "graded": {"points": {"3": 1.0}}, "host": "b", "try": 1}
    assert worker.run("id", message(worker.version), Store("SUCCESS", done)) == done


def test_a_worker_with_other_code_refuses_and_says_so(worker):
    answer = worker.run("id", message("0123456789abcdef"), Store())
    assert answer["kind"] == "refused"
    assert "w1@host runs other grading code" in answer["why"]


def job() -> Job:
    cell = nbformat.v4.new_code_cell("checks.check_x(X)")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t1", "points": 2}
    notebook = nbformat.v4.new_notebook(cells=[cell])
    return Job("s", "01_module", "module.ipynb", notebook, [], [Cell(0, "grade", cell.source, 2.0)])


def read(meta: dict, said: list[str]):
    return workers._result(job(), meta, {}, None, said.append, batch)


def test_the_submitting_side_reads_every_kind_of_answer(tmp_path):
    said: list[str] = []
    assert (
        read({"status": "SUCCESS", "result": {"kind": "refused", "why": "old code"}}, said) is None
    )
    assert said == ["s/01_module/module.ipynb: not graded: old code"]
    lost = read({"status": "SUCCESS", "result": {"kind": "lost", "tries": 3, "hosts": ["a"]}}, said)
    assert lost.status == "worker_lost" and lost.scores == {"t1": 0.0}
    assert lost.max_scores == {"t1": 2.0}
    failed = read({"status": "FAILURE", "result": {"exc_type": "KeyError"}}, said)
    assert failed.status == "kernel_died" and "the task failed in the worker" in failed.notes[0]
    garbled = read({"status": "SUCCESS", "result": {"kind": "graded", "host": "a", "try": 1}}, said)
    assert garbled.status == "kernel_died"
    assert "the worker's answer could not be read" in garbled.notes[0]


def test_the_same_notebook_is_the_same_task_whatever_the_batch_seed():
    limits = Limits(10.0, 60.0, 512)
    first = workers.payload(job(), limits, 1, "v")
    assert workers.task_id(first) == workers.task_id(workers.payload(job(), limits, 2, "v"))
    assert workers.task_id(first) != workers.task_id(
        workers.payload(job(), Limits(10.0, 61.0, 512), 1, "v")
    )
    other = job()
    other.cells[0].source = "checks.check_y(X)"
    assert workers.task_id(first) != workers.task_id(workers.payload(other, limits, 1, "v"))


def test_passwords_are_not_printed_and_the_result_store_must_be_redis():
    assert workers.hidden("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert workers.hidden("amqp://grader:s3cret@host//") == "amqp://grader:***@host//"
    with pytest.raises(workers.BrokerError, match="must be Redis"):
        workers.configure("amqp://grader:s3cret@host//")
