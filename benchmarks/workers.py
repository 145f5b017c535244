"""Grading through a broker with 1, 2, … workers, beside grading here, in one run:
``python benchmarks/workers.py``.

The honest students of the demo class (correct, partly correct, wrong), copied ``--copies``
times, are graded for every assignment on a course already prepared (the first run generates
the assignments and is not counted; each counted run starts from an empty ledger). Configurations:
grading here with 1 and with N lanes, and with ``--broker`` on a Redis server of its own (started
as the tests start theirs) by 1 … N worker processes of one lane each, started and warm before the
clock starts, so that each stands for a one-core host. The script reports notebooks per second,
the ratio to one lane here, the seconds one lane spends per notebook, the submitting side's CPU
seconds per notebook, and from those the model of docs/scaling.md: how many worker cores, and
hosts of a given size, grade 80,000 notebooks within an hour.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from grading import make_class  # noqa: E402 - benchmarks/grading.py, beside this file
from servers import redis  # noqa: E402 - tests/servers.py: Redis on a free port, a password

from autograder.course import stems, venv_env  # noqa: E402
from autograder.grade import workers  # noqa: E402
from autograder.grade.lanes import default_jobs  # noqa: E402

TARGET = 80_000
HOUR = 3600.0
#: What a notebook stuck in a loop costs its lane: the default --cell-timeout, plus the judge's
#: grace (a parameter of the model, not a measurement).
STRAGGLER = 65.0


def notebooks_in(out: Path) -> int:
    import json

    rows = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    return sum(len(row["notebooks"]) for row in rows)


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds of ``command`` and the CPU seconds (user + system) its process used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, env=venv_env(), stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@contextlib.contextmanager
def worker_processes(broker: str, count: int, folder: Path):
    """``count`` workers of one lane each, answering before this yields."""
    names = [f"bench{i}@benchmark" for i in range(count)]
    processes = []
    for name in names:
        command = [sys.executable, "-m", "autograder", "worker", "--broker", broker]
        command += ["--jobs", "1", "--name", name, "--loglevel", "WARNING"]
        log = open(folder / f"{name}.log", "ab")  # noqa: SIM115 - closed below
        processes.append((subprocess.Popen(command, stdout=log, stderr=log, env=venv_env()), log))
    try:
        workers.configure(broker)
        deadline = time.monotonic() + 120
        while len(workers.app.control.ping(destination=names, timeout=1.0)) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start; see {folder}")
        yield
    finally:
        for process, log in processes:
            process.terminate()
            process.wait()
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="copies of the 3 honest students")
    parser.add_argument("--workers", type=int, default=default_jobs(), help="most workers tried")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch, redis() as broker:
        root = Path(scratch)
        students = make_class(root, args.copies)
        half = [arg for name in students[: len(students) // 2] for arg in ("--student", name)]
        out = root / "out"
        base = [sys.executable, "-m", "autograder", "grade", str(root / "class"), "--out", str(out)]
        base += ["--no-progress"]
        subprocess.run(base, check=True, env=venv_env(), stdout=subprocess.DEVNULL)  # prepares
        count = notebooks_in(out)

        def once(name: str, command: list[str], lanes: int) -> None:
            """Half the class, then all of it: the difference is the cost of the other half's
            notebooks alone, without the run's fixed costs (start, set-up, report)."""
            (out / "ledger.jsonl").unlink()
            small = timed([*command, *half])
            graded = notebooks_in(out)
            (out / "ledger.jsonl").unlink()
            wall, cpu = timed(command)
            assert notebooks_in(out) == count, "every notebook graded"
            extra = count - graded
            marginal = ((wall - small[0]) / extra, (cpu - small[1]) / extra)
            rows.append((name, lanes, wall, marginal, (out / "grades.csv").read_text()))

        for jobs in sorted({1, args.workers}):
            once(f"here, --jobs {jobs}", [*base, "--jobs", str(jobs)], jobs)
        for number in range(1, args.workers + 1):
            with worker_processes(broker, number, root):
                name = f"--broker, {number} worker{'s' if number > 1 else ''} x 1 lane"
                once(name, [*base, "--broker", broker], number)
        shutil.rmtree(root / "class")

    print(
        f"class: {len(students)} students x {len(stems())} assignments = {count} notebooks, "
        f"graded again on a prepared course; {os.cpu_count()} cores. Per notebook: the "
        "difference between grading the whole class and half of it, per notebook of the other "
        "half (no start-up or report in it).\n"
    )
    print(
        "| configuration | lanes | wall s, whole class | notebooks/s | vs 1 lane here "
        "| ms per notebook | submitter CPU ms per notebook |"
    )
    print("|---|---|---|---|---|---|---|")
    single = rows[0][3][0]
    for name, lanes, wall, (per, cpu), _ in rows:
        cpu_text = f"{cpu * 1000:.0f}" if name.startswith("--broker") else "(grades too)"
        print(
            f"| {name} | {lanes} | {wall:.1f} | {1 / per:.2f} | {single / per:.2f}x "
            f"| {per * 1000:.0f} | {cpu_text} |"
        )
    identical = len({grades for *_, grades in rows}) == 1
    print(f"\nidentical grades.csv in every configuration: {'yes' if identical else 'NO'}")

    brokered = [r for r in rows if r[0].startswith("--broker")]
    per_lane = brokered[0][3][0]  # one worker, one lane: seconds per notebook, broker included
    most = brokered[-1]
    measured = per_lane / (most[3][0] * most[1])
    efficiency = min(1.0, measured)  # above 1 is noise: the model never counts on it
    submitter = max(r[3][1] for r in brokered)
    print(
        f"\nmodel for {TARGET:,} notebooks in an hour ({TARGET / HOUR:.1f} per second):\n"
        f"- one worker lane grades a notebook in {per_lane * 1000:.0f} ms (broker included), "
        f"{HOUR / per_lane:,.0f} an hour; {most[1]} workers on these {os.cpu_count()} cores "
        f"(beside the submitter and Redis) reached {measured:.0%} of {most[1]}x "
        f"(the model uses {efficiency:.0%})"
    )
    print("\n| notebooks that run into a 60 s cell timeout | lane-hours | lanes | 8-core hosts |")
    print("|---|---|---|---|")
    for share in (0.0, 0.01, 0.05):
        seconds = TARGET * ((1 - share) * per_lane + share * STRAGGLER) / efficiency
        lanes = math.ceil(seconds / HOUR)
        print(f"| {share:.0%} | {seconds / HOUR:.1f} | {lanes} | {math.ceil(lanes / 8)} |")
    print(
        f"\n- the submitting side spends {submitter * 1000:.0f} ms of CPU per notebook: one"
        f" submitter keeps up with {1 / submitter:.0f} notebooks per second"
        f" ({'enough' if 1 / submitter >= TARGET / HOUR else 'NOT enough'} for"
        f" {TARGET / HOUR:.1f})"
    )
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
