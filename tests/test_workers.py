"""Grading through a broker: real Redis, real PostgreSQL, worker processes standing for hosts.

The demo class is graded twice: on this machine into SQLite, and with ``--broker`` by two
``python -m autograder worker`` processes into PostgreSQL, one of them killed (SIGKILL, its
zygotes with it) while it grades. Both runs must give the same grades, gradebook, feedback and
graded notebooks; the killed worker's notebook is graded again by the other. A notebook whose
grading kills every worker that takes it ends ``worker_lost`` after three tries. Student code on
a worker can neither read the broker's password nor reach the broker; a pickled task is refused.
Without redis-server or PostgreSQL the tests are skipped, except on CI (tests/servers.py).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from attacks import notebook as nb
from attacks import write
from servers import free_port, postgres, redis
from test_postgres import snapshot, without_ids

from autograder.course import venv_env
from autograder.grade.demo import write_demo_class

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workers")]

ASSIGNMENTS = ["01_module", "05_dataset"]
# The same limits for both runs. The longest notebook (the infinite loop) takes its cell's
# 10 s; a task is handed out again VISIBILITY seconds after a worker took it and vanished, so
# VISIBILITY must exceed the budget, or a task still running would be handed out twice.
LIMITS = ["--cell-timeout", "10", "--budget", "20", "--memory-mb", "512", "--no-progress"]
VISIBILITY = "25"


def grade_command(submissions: Path, out: Path, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
    for stem in ASSIGNMENTS:
        command += ["--assignment", stem]
    return [*command, *LIMITS, *extra]


def run(command: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, capture_output=True, text=True, env=venv_env(), timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


class Fleet:
    """Worker processes on this machine, each standing for a host: started, killed, restarted."""

    def __init__(self, broker: str, folder: Path, visibility: str, env: dict) -> None:
        self.broker = broker
        self.folder = folder
        self.visibility = visibility
        self.env = dict(venv_env(), **env)
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        command = [sys.executable, "-m", "autograder", "worker", "--broker", self.broker]
        command += ["--jobs", "1", "--name", name, "--visibility-timeout", self.visibility]
        with open(self.folder / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # its zygotes and student processes in its group
            )

    def kill(self, name: str) -> None:
        """The host goes down: SIGKILL to the worker and everything it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait()

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def started(self) -> list[dict]:
        """What the result store says of every task a worker has started and not finished."""
        import redis as client

        store = client.Redis.from_url(self.broker)
        found = []
        for key in store.scan_iter("celery-task-meta-*"):
            meta = json.loads(store.get(key) or "{}")
            if meta.get("status") == "STARTED":
                found.append(meta["result"])
        return found

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)


@contextlib.contextmanager
def fleet(
    broker: str, folder: Path, *names: str, visibility: str = VISIBILITY, env: dict | None = None
) -> Iterator[Fleet]:
    workers = Fleet(broker, folder, visibility, env or {})
    try:
        for name in names:
            workers.start(name)
        yield workers
    finally:
        workers.stop()


def wait_until(what: str, ready, seconds: float, *logs: str) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds:.0f} s\n" + "\n".join(logs))
        time.sleep(0.1)


def ledger(out: Path) -> dict[tuple[str, str], dict]:
    rows = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    return {(row["student"], row["assignment"]): row for row in rows}


def steady(text: str) -> str:
    """``text`` without what differs between any two runs: the student process's scratch folder
    (a check's input file is written there; its name is in some messages) and random cell ids."""
    text = re.sub(r"/tmp/autograder-scratch/\d+/[\w.-]+", "SCRATCH", text)
    return re.sub(r'"id": "[0-9a-f]{8}"', '"id": ""', text)


def outputs(out: Path, pattern: str) -> dict[str, str]:
    """The graded notebooks or feedback pages of a run, by path, each :func:`steady`."""
    return {str(p.relative_to(out)): steady(p.read_text()) for p in sorted(out.glob(pattern))}


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis() as url:
        yield url


@pytest.fixture(scope="module")
def graded(redis_url, tmp_path_factory) -> dict:
    """The demo class graded here into SQLite, and by two workers (one killed mid-batch) into
    PostgreSQL."""
    folder = tmp_path_factory.mktemp("workers")
    submissions = folder / "submitted"
    write_demo_class(submissions)
    local, remote = folder / "local", folder / "remote"
    run(grade_command(submissions, local))
    with postgres() as db, fleet(redis_url, folder, "a@test", "b@test") as workers:
        submitter = subprocess.Popen(
            grade_command(submissions, remote, "--broker", redis_url, "--db", db),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=venv_env(),
        )
        wait_until(
            "worker a starting a notebook",
            lambda: any(s["hosts"][-1] == "a@test" for s in workers.started()),
            300,
            workers.log("a@test"),
        )
        killed = [s["label"] for s in workers.started() if s["hosts"][-1] == "a@test"]
        workers.kill("a@test")
        output, _ = submitter.communicate(timeout=600)
        assert submitter.returncode == 0, output + workers.log("b@test")
        again = subprocess.run(
            grade_command(submissions, remote, "--broker", redis_url, "--db", db),
            capture_output=True,
            text=True,
            env=venv_env(),
            timeout=300,
        )
        return {
            "submissions": submissions,
            "local": local,
            "remote": remote,
            "local_db": snapshot(f"sqlite:///{local / 'gradebook.db'}"),
            "remote_db": snapshot(db),
            "killed": killed,
            "output": output,
            "again": again,
            "log_b": workers.log("b@test"),
        }


def test_grades_are_those_of_grading_on_one_machine(graded):
    ours = (graded["remote"] / "grades.csv").read_text()
    assert ours == (graded["local"] / "grades.csv").read_text()
    with open(graded["remote"] / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    students = sorted(p.name for p in graded["submissions"].iterdir())
    assert len(rows) == len(students) * len(ASSIGNMENTS)
    assert {r["status"] for r in rows} >= {"graded", "timed_out", "kernel_died", "tampered"}


def test_the_gradebook_feedback_and_graded_notebooks_match(graded):
    assert without_ids(graded["remote_db"]) == without_ids(graded["local_db"])
    for pattern in ("course/autograded/*/*/*.ipynb", "feedback/*/*.html"):
        local = outputs(graded["local"], pattern)
        assert len(local) > 30
        assert outputs(graded["remote"], pattern) == local
    assert not (graded["remote"] / "gradebook.db").exists(), "PostgreSQL only"


def test_the_killed_workers_notebook_was_graded_again_by_the_other(graded):
    assert graded["killed"], "worker a was killed while it graded a notebook"
    rows = ledger(graded["remote"])
    tries = {}
    for (student, stem), row in rows.items():
        for name, entry in row["notebooks"].items():
            if "worker" in entry:
                tries[f"{student}/{stem}/{name}"] = entry["worker"]
    for label in graded["killed"]:
        assert tries[label] == {"host": "b@test", "try": 2}, label
    assert {w["host"] for w in tries.values()} <= {"a@test", "b@test"}
    lines = (graded["remote"] / "ledger.jsonl").read_text().splitlines()
    assert len(lines) == len(rows), "every submission recorded once"


def test_the_workers_sandboxes_are_recorded(graded):
    status = json.loads((graded["remote"] / "sandbox.json").read_text())["workers"]
    assert "b@test" in status
    if os.geteuid() == 0:
        isolated = status["b@test"]
        assert isolated["network"] and isolated["filesystem"] and isolated["processes"]


def test_running_again_grades_nothing(graded):
    assert graded["again"].returncode == 0, graded["again"].stdout + graded["again"].stderr
    before = (graded["remote"] / "grades.csv").read_text()
    assert (graded["local"] / "grades.csv").read_text() == before
    assert len(ledger(graded["remote"])) == len(
        (graded["remote"] / "ledger.jsonl").read_text().splitlines()
    ), "the second run recorded nothing again"


def test_a_notebook_that_kills_every_worker_ends_worker_lost(redis_url, tmp_path):
    """Each time a worker starts grading ``poison`` it is killed (as if the notebook took the
    host down) and restarted, as systemd would; after three tries the notebook is given up."""
    submissions, out = tmp_path / "submitted", tmp_path / "out"
    write_demo_class(submissions, only=["s01_correct"])
    write(
        submissions, "poison", "01_module", nb("01_module", before=["import time\ntime.sleep(30)"])
    )
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
    command += ["--assignment", "01_module", "--broker", redis_url, "--no-progress"]
    kills = []
    with fleet(redis_url, tmp_path, "a@test", "b@test", visibility="4") as workers:
        submitter = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=venv_env()
        )
        while submitter.poll() is None and len(kills) < 5:
            for started in workers.started():
                host = started["hosts"][-1]
                if started["label"].startswith("poison/") and started["tries"] > len(kills):
                    workers.kill(host)
                    kills.append(host)
                    workers.start(host)
            time.sleep(0.1)
        output, _ = submitter.communicate(timeout=300)
    assert submitter.returncode == 0, output
    assert len(kills) == 3, kills
    rows = ledger(out)
    poisoned = rows[("poison", "01_module")]
    assert poisoned["status"] == "worker_lost"
    assert poisoned["score"] == 0
    (note,) = poisoned["notebooks"]["module.ipynb"]["notes"]
    assert note.startswith("grading module.ipynb stopped the worker 3 times (on ")
    assert rows[("s01_correct", "01_module")]["status"] == "graded"
    assert (
        rows[("s01_correct", "01_module")]["score"]
        == rows[("s01_correct", "01_module")]["max_score"]
    )
    page = (out / "feedback" / "poison" / "01_module.html").read_text()
    assert "stopped the grading machine again and again" in page


STEAL_BROKER = """
import os, socket
found = []
for pid in os.listdir("/proc"):
    for part in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{part}", "rb") as handle:
                found.append(handle.read().decode(errors="replace"))
        except OSError:
            pass
found.append(repr(dict(os.environ)))
print("\\n".join(found))
print("processes seen:", sum(name.isdigit() for name in os.listdir("/proc")))
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
    print("reached the broker")
except OSError as error:
    print("broker out of reach:", error)
"""


def test_student_code_on_a_worker_cannot_read_or_reach_the_broker(redis_url, tmp_path):
    """The broker's password is in the worker's command line, a secret in its environment:
    student code finds neither in /proc or os.environ, and cannot connect to the broker."""
    if os.geteuid() != 0:
        pytest.skip("the sandbox (network namespace, own /proc) needs root")
    password = redis_url.split(":")[2].split("@")[0]
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    submissions, out = tmp_path / "submitted", tmp_path / "out"
    write(
        submissions,
        "thief",
        "01_module",
        nb("01_module", after=[STEAL_BROKER.replace("PORT", str(port))]),
    )
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
    command += ["--assignment", "01_module", "--broker", redis_url, "--no-progress"]
    # What an operator might export on a worker host: a secret in the worker's environment.
    secret = {"AWS_SECRET_ACCESS_KEY": f"token-{os.getpid()}-{time.time_ns()}"}
    with fleet(redis_url, tmp_path, "a@test", env=secret) as workers:
        result = subprocess.run(
            command, capture_output=True, text=True, env=venv_env(), timeout=300
        )
        log = workers.log("a@test")
    assert result.returncode == 0, result.stdout + result.stderr + log
    path = out / "course" / "autograded" / "thief" / "01_module" / "module.ipynb"
    printed = "".join(
        o.get("text", "") for c in nbformat.read(path, 4).cells for o in c.get("outputs", [])
    )
    assert "broker out of reach" in printed
    assert "reached the broker" not in printed
    seen = int(printed.split("processes seen: ")[1].split()[0])
    assert seen <= 2, f"student code saw {seen} processes: only its own should be visible"
    assert "PYTHONHASHSEED" in printed, "the student's environment was printed"
    for path in out.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
            assert secret["AWS_SECRET_ACCESS_KEY"].encode() not in path.read_bytes(), path
    assert password not in result.stdout + result.stderr


def test_a_pickled_task_is_refused_and_the_worker_goes_on(redis_url, tmp_path):
    """A forged task in pickle (which would run code on unpickling) is rejected unread; the
    worker still grades the next notebook."""
    from kombu import Connection

    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with fleet(redis_url, tmp_path, "a@test") as workers:
        with Connection(redis_url) as connection:
            producer = connection.Producer(serializer="pickle")
            headers = {"task": "autograder.grade_notebook", "id": "forged", "lang": "py"}
            producer.publish(
                [[Payload()], {}, {}], routing_key="celery", headers=headers, declare=[]
            )
        submissions, out = tmp_path / "submitted", tmp_path / "out"
        write_demo_class(submissions, only=["s01_correct"])
        command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
        command += ["--assignment", "01_module", "--broker", redis_url, "--no-progress"]
        run(command, timeout=300)
        # docs/scaling.md's monitoring command sees the worker
        celery = [sys.executable, "-m", "celery", "-A", "autograder.grade.workers"]
        status = run([*celery, "-b", redis_url, "status"], timeout=120).stdout
        log = workers.log("a@test")
    assert not marker.exists(), "the pickled task was unpickled"
    assert "pickle" in log and "ContentDisallowed" in log, log[-3000:]
    assert ledger(out)[("s01_correct", "01_module")]["status"] == "graded"
    assert "a@test: OK" in status, status


def test_an_unreachable_broker_is_one_line_and_exit_2(tmp_path):
    submissions, out = tmp_path / "submitted", tmp_path / "out"
    write_demo_class(submissions, only=["s01_correct"])
    url = f"redis://:hush-{os.getpid()}@127.0.0.1:{free_port()}/0"
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
    result = subprocess.run(
        [*command, "--broker", url], capture_output=True, text=True, env=venv_env(), timeout=120
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the broker at redis://:***@127.0.0.1:")
    assert f"hush-{os.getpid()}" not in result.stdout + result.stderr
    assert not out.exists(), "nothing was written"
