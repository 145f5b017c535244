"""Batch grader vs plain nbgrader, side by side in one run: ``python benchmarks/grading.py``.

The honest students of the demo class (correct, partly correct, wrong), copied ``--copies``
times, are graded for every assignment twice: by ``python -m autograder grade`` (all cores) and
by sequential ``nbgrader autograde``, one assignment after the other. The script reports seconds
per submission for both, their ratio, whether every score is identical, and how the batch
grader's time per notebook splits into the notebook's own compute and everything else.

Timings: nbgrader's clock covers ``nbgrader autograde`` only (its ``generate_assignment`` runs
before); the batch grader's end-to-end figure includes its own set-up (``generate_assignment``
and starting the zygotes), and its per-notebook figure is the judge's wall time per notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.course import NOTEBOOKS, SOLUTIONS, answers, fill_in, stems, venv_env
from autograder.grade.compare import nbgrader_autograde
from autograder.grade.demo import EXERCISES_ONLY, write_demo_class
from autograder.grade.lanes import default_jobs


def make_class(folder: Path, copies: int) -> list[str]:
    write_demo_class(folder / "base", only=list(EXERCISES_ONLY))
    students = []
    for copy in range(copies):
        for student in EXERCISES_ONLY:
            name = f"{student}_{copy:02d}"
            shutil.copytree(folder / "base" / student, folder / "class" / name)
            students.append(name)
    return students


def own_compute(stem: str, repeat: int = 5) -> float:
    """Seconds to run one correct notebook's cells (checks included) in a warm process."""
    import torch  # noqa: F401 - warm: imported before the clock starts

    times = []
    for path in sorted((NOTEBOOKS / stem).glob("*.ipynb")):
        release = nbformat.read(path, as_version=4)
        source = nbformat.read(SOLUTIONS / stem / path.name, as_version=4)
        graded = {
            c.metadata["nbgrader"]["grade_id"]: c.source
            for c in source.cells
            if c.metadata.get("nbgrader", {}).get("grade")
        }
        notebook = fill_in(fill_in(release, answers(source)), graded)
        cells = [c.source for c in notebook.cells if c.cell_type == "code"]
        codes = [compile(source, f"<{stem}>", "exec", dont_inherit=True) for source in cells]
        for _ in range(repeat):
            started = time.perf_counter()
            namespace: dict = {}
            with contextlib.redirect_stdout(io.StringIO()):
                for code in codes:
                    exec(code, namespace)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _row(name: str, seconds: float, submissions: int) -> str:
    return f"| {name} | {seconds:.1f} | {seconds / submissions:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="copies of the 3 honest students")
    parser.add_argument("--jobs", type=int, default=default_jobs())
    args = parser.parse_args()
    chosen = stems()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        students = make_class(root, args.copies)
        submissions = len(students) * len(chosen)

        out = root / "batch"
        command = [sys.executable, "-m", "autograder", "grade", str(root / "class")]
        command += ["--out", str(out), "--jobs", str(args.jobs), "--no-progress"]
        started = time.perf_counter()
        subprocess.run(command, check=True, env=venv_env(), stdout=subprocess.DEVNULL)
        ours_seconds = time.perf_counter() - started
        # Again on the prepared course (a second round of grading): forget the results only.
        (out / "ledger.jsonl").rename(out / "ledger-first.jsonl")
        started = time.perf_counter()
        subprocess.run(command, check=True, env=venv_env(), stdout=subprocess.DEVNULL)
        warm_seconds = time.perf_counter() - started
        with open(out / "grades.csv") as handle:
            ours = {
                (r["student"], r["assignment"]): float(r["score"]) for r in csv.DictReader(handle)
            }
        ledger = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
        per_notebook = statistics.median(
            r["seconds"] / max(1, len(r["notebooks"]))
            for r in ledger
            if r["student"].startswith("s01")
        )

        theirs, nbgrader_seconds = nbgrader_autograde(
            root / "class", students, chosen, root / "nbg"
        )

    identical = all(theirs.get(key) == score for key, score in ours.items())
    compute = statistics.median(own_compute(stem) for stem in chosen)
    ratio = nbgrader_seconds / ours_seconds
    overhead = max(per_notebook - compute, 0)
    lines = [
        f"class: {len(students)} students x {len(chosen)} assignments = {submissions} submissions;"
        f" {os.cpu_count()} cores, --jobs {args.jobs}",
        "",
        "| grader | total s | s per submission |",
        "|---|---|---|",
        _row("nbgrader autograde (sequential)", nbgrader_seconds, submissions),
        _row("python -m autograder grade, fresh OUT_DIR (end to end)", ours_seconds, submissions),
        _row("python -m autograder grade, course already prepared", warm_seconds, submissions),
        "",
        f"speed-up: {ratio:.1f}x end to end, {nbgrader_seconds / warm_seconds:.1f}x on a prepared"
        f" course; identical scores: {'yes' if identical else 'NO'}",
        f"per notebook inside a worker (correct answers): {per_notebook * 1000:.0f} ms, of which"
        f" the notebook's own compute in a warm process: {compute * 1000:.0f} ms"
        f" (overhead {overhead * 1000:.0f} ms: fork from the zygote, sandbox, channel, judging)",
    ]
    print("\n".join(lines))
    if not identical:
        for key in sorted(ours):
            if theirs.get(key) != ours[key]:
                print("differs:", key, "nbgrader", theirs.get(key), "ours", ours[key])
        sys.exit(1)


if __name__ == "__main__":
    main()
