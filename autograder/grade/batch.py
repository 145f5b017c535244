"""Grade a whole class: ``python -m autograder grade SUBMISSIONS_DIR --out OUT_DIR``.

Submissions follow nbgrader's layout, ``SUBMISSIONS_DIR/<student>/<assignment>/*.ipynb``. The
batch prepares the nbgrader course folder and gradebook, sends each notebook to a pool of warm
workers, and as each submission completes writes its grades to the gradebook (from this process
only), its feedback page and its autograded notebook, then appends it to ``ledger.jsonl``. A run
that is stopped and started again grades only what the ledger does not hold yet (or what was
resubmitted since), so nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from tqdm import tqdm

from autograder.course import REPO, stems, venv_env
from autograder.grade import assignments as course_setup
from autograder.grade import outputs
from autograder.grade.pool import Pool, default_jobs
from autograder.grade.submissions import (
    NotebookResult,
    fingerprint,
    job_for,
    read_notebook,
    restore_locked_cells,
    score_notebook,
    unreadable_result,
    worst,
)


@dataclass
class Options:
    submissions: Path
    out: Path
    assignments: list[str] = field(default_factory=list)
    jobs: int = 0
    cell_timeout: float = 60.0
    budget: float = 300.0
    memory_mb: int = 1024
    db_url: str = ""
    sandbox: bool = True
    hide: list[Path] = field(default_factory=list)
    progress: bool = True


class Ledger:
    """``ledger.jsonl``: one line per finished submission; the last line per key wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[tuple[str, str], dict] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill
                self.rows[(row["student"], row["assignment"])] = row

    def done(self, student: str, stem: str, print_: str) -> bool:
        row = self.rows.get((student, stem))
        return row is not None and row.get("fingerprint") == print_

    def add(self, row: dict) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.rows[(row["student"], row["assignment"])] = row


@dataclass
class Pending:
    """A submission being graded: its notebooks' results as they arrive."""

    student: str
    stem: str
    print_: str
    waiting: set[str]
    results: dict[str, NotebookResult] = field(default_factory=dict)


def run_uid_base() -> int:
    """The first uid of this run's own range of 10 million (100 workers x 100,000 notebooks).

    Student processes run as uids nobody else uses, and after each notebook every process of
    its uid is killed. Runs that overlap, or the workers of a killed run still shutting down,
    must not share uids: with one fixed base for every run, a run's clean-up could kill the
    next run's notebooks (the likely cause of a rare `kernel_died` seen in the test suite).
    Two overlapping runs draw the same range with probability 1/300.
    """
    return 1_000_000_000 + secrets.randbelow(300) * 10_000_000


def grade_class(options: Options) -> list[dict]:
    """Grade every submission not graded yet; write all outputs; return the CSV rows."""
    os.environ["PATH"] = venv_env()["PATH"]  # nbgrader's Gradebook runs `alembic`
    out = options.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    db_url = options.db_url or course_setup.default_db_url(out)
    chosen = options.assignments or stems()
    unknown = sorted(set(chosen) - set(stems()))
    if unknown:
        raise SystemExit(f"unknown assignment(s): {', '.join(unknown)}; known: {stems()}")
    submissions = options.submissions.resolve()
    config = {
        "sandbox": options.sandbox,
        "memory_mb": options.memory_mb,
        "uid_base": run_uid_base(),
        "hide": [str(p) for p in _hidden_paths(submissions, out, db_url, options.hide)],
    }
    pool = Pool(max(1, options.jobs or default_jobs()), config, out / "workers.log")
    try:
        return _grade(options, out, db_url, chosen, submissions, pool)
    finally:
        pool.close(now=True)


def _grade(options, out: Path, db_url: str, chosen: list[str], submissions: Path, pool: Pool):
    assignments = course_setup.prepare(out, db_url, chosen)
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir())
    ledger = Ledger(out / "ledger.jsonl")

    pending: dict[tuple[str, str], Pending] = {}
    jobs: list[dict] = []
    finished: list[Pending] = []
    sources = {stem: course_setup.source_hash(stem)[:12] for stem in chosen}
    for student in students:
        for stem in chosen:
            folder = submissions / student / stem
            # A changed submission or a changed assignment (tests, points) is graded again.
            print_ = (fingerprint(folder) if folder.is_dir() else "missing") + ":" + sources[stem]
            if ledger.done(student, stem, print_):
                continue
            item = Pending(student, stem, print_, set())
            for name, definition in assignments[stem].notebooks.items():
                if not folder.is_dir():
                    why = f"no {stem} folder was submitted"
                    item.results[name] = unreadable_result(name, definition, "missing", why)
                    continue
                notebook, problem = read_notebook(folder / name)
                if notebook is None:
                    status = "missing" if not (folder / name).exists() else "unreadable"
                    item.results[name] = unreadable_result(name, definition, status, problem)
                    continue
                restored, notes = restore_locked_cells(notebook, definition)
                job = job_for(
                    f"{student}/{stem}/{name}",
                    f"{stem}/{name}",
                    restored,
                    options.cell_timeout,
                    options.budget,
                )
                job["_restored"], job["_notes"] = restored, notes
                jobs.append(job)
                item.waiting.add(name)
            pending[(student, stem)] = item
            if not item.waiting:
                finished.append(item)

    progress = tqdm(
        total=len(pending), unit="submission", disable=not options.progress, file=sys.stderr
    )
    with Gradebook(db_url) as gradebook:
        for item in finished:
            _finish(item, assignments[item.stem], gradebook, submissions, out, ledger)
            progress.update()
        if jobs:
            status = pool.ready()
            (out / "sandbox.json").write_text(json.dumps(status, indent=1))
            for warning in status.get("warnings", []):
                tqdm.write(f"warning: sandbox: {warning}", file=sys.stderr)
            wire = [{k: v for k, v in job.items() if not k.startswith("_")} for job in jobs]
            by_id = {job["id"]: job for job in jobs}
            for sent, result in pool.run(wire):
                job = by_id[sent["id"]]
                student, stem, name = job["id"].split("/")
                item = pending[(student, stem)]
                item.results[name] = score_notebook(name, job["_restored"], job["_notes"], result)
                item.waiting.discard(name)
                if not item.waiting:
                    _finish(item, assignments[stem], gradebook, submissions, out, ledger)
                    progress.update()
            pool.close()
    progress.close()

    rows = []
    for student in students:
        for stem in chosen:
            row = ledger.rows[(student, stem)]
            rows.append({k: row[k] for k in outputs.CSV_COLUMNS})
    outputs.write_csv(out / "grades.csv", rows)
    outputs.write_histogram(out / "histogram.png", rows, chosen)
    return rows


def _hidden_paths(submissions: Path, out: Path, db_url: str, extra: list[Path]) -> list[Path]:
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


def _finish(
    item: Pending,
    assignment: course_setup.Assignment,
    gradebook: Gradebook,
    submissions: Path,
    out: Path,
    ledger: Ledger,
) -> None:
    """Gradebook, autograded notebooks, feedback page, then the ledger line (in that order)."""
    results = [item.results[name] for name in assignment.notebooks]
    status = worst([r.status for r in results])
    score = sum(r.score for r in results)
    submitted = any(r.status != "missing" for r in results)
    if submitted:
        _record(gradebook, assignment, item.student, results, submissions)
        folder = out / "course" / "autograded" / item.student / item.stem
        folder.mkdir(parents=True, exist_ok=True)
        for result in results:
            if result.notebook is not None:
                nbformat.write(result.notebook, str(folder / result.name))
    page = out / "feedback" / item.student / f"{item.stem}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(outputs.feedback_html(item.student, assignment, results, status, score))
    ledger.add(
        {
            "student": item.student,
            "assignment": item.stem,
            "score": score,
            "max_score": assignment.max_score,
            "status": status,
            "fingerprint": item.print_,
            "notebooks": {
                r.name: {"status": r.status, "scores": r.scores, "notes": r.notes} for r in results
            },
            "seconds": sum(r.seconds for r in results),
        }
    )


def _record(gradebook: Gradebook, assignment, student: str, results, submissions: Path) -> None:
    """Write the auto scores with nbgrader's API, as nbgrader's SaveAutoGrades does."""
    with warnings.catch_warnings():
        # nbgrader's add_submission triggers a harmless SQLAlchemy autoflush warning
        warnings.simplefilter("ignore")
        _record_scores(gradebook, assignment, student, results, submissions)


def _record_scores(gradebook, assignment, student, results, submissions: Path) -> None:
    gradebook.update_or_create_student(student)
    stamp = submissions / student / assignment.stem / "timestamp.txt"
    extra = {"timestamp": stamp.read_text().strip()} if stamp.exists() else {}
    gradebook.update_or_create_submission(assignment.stem, student, **extra)
    for result in results:
        notebook = Path(result.name).stem
        review = result.status in ("tampered", "unreadable")
        for grade_id, score in result.scores.items():
            grade = gradebook.find_grade(grade_id, notebook, assignment.stem, student)
            grade.auto_score = score
            grade.needs_manual_grade = review or grade.manual_score is not None
    gradebook.db.commit()
