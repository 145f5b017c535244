"""Grade a whole class: ``python -m autograder grade SUBMISSIONS_DIR --out OUT_DIR``.

Submissions follow nbgrader's layout, ``SUBMISSIONS_DIR/<student>/<assignment>/*.ipynb``. The
batch prepares the nbgrader course folder and gradebook, then grades each notebook in a fresh
student process forked from a warm zygote (one per lane, :mod:`autograder.grade.lanes`) while
this process judges it (:mod:`autograder.grade.judge`): this process never runs student code.
As each submission completes it writes its grades to the gradebook (from this process only), its
feedback page and its autograded notebook, then appends it to ``ledger.jsonl``. A run that is
stopped and started again grades only what the ledger does not hold yet for the same settings
(submission, assignment source, gradebook and limits), so nothing is lost and nothing is counted
twice. Each submission is handled inside its own failure boundary: a file that cannot be read or
a notebook that cannot be graded gets a status and a note, and the batch goes on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import queue
import secrets
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from tqdm import tqdm

from autograder.course import stems, venv_env
from autograder.grade import assignments as course_setup
from autograder.grade import files, judge, outputs
from autograder.grade.lanes import Lane, default_db_url, start
from autograder.grade.submissions import (
    NotebookResult,
    judge_cells,
    parse_notebook,
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
    stamp: str | None = None
    notes: list[str] = field(default_factory=list)


def run_uid_base() -> int:
    """The first uid of this run's own range of a million; each notebook gets the next one.

    Student processes run as uids nobody else uses, and after each notebook every process of
    its uid is killed, so no two notebooks, in this run or an overlapping one, may share a uid.
    Two overlapping runs draw the same range with probability 1/3000.
    """
    return 1_000_000_000 + secrets.randbelow(3_000) * 1_000_000


def settings_key(options: Options, db_url: str) -> str:
    """What besides the submission and the source changes a grade: a resume with other
    settings grades again (another gradebook must receive every grade; a larger budget may
    turn a timeout into a score)."""
    settings = [db_url, options.cell_timeout, options.budget, options.memory_mb, options.sandbox]
    return hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]


def grade_class(options: Options, lanes: list[Lane] | None = None) -> list[dict]:
    """Grade every submission not graded yet; write all outputs; return the CSV rows.

    ``lanes`` may be started by the caller before this module's imports (torch, nbgrader),
    so that the zygotes warm up meanwhile; by default they are started here.
    """
    os.environ["PATH"] = venv_env()["PATH"]  # nbgrader's Gradebook runs `alembic`
    out = options.out.resolve()
    db_url = options.db_url or default_db_url(out)
    chosen = options.assignments or stems()
    unknown = sorted(set(chosen) - set(stems()))
    submissions = options.submissions.resolve()
    if lanes is None:
        lanes = start(options.jobs, submissions, out, db_url, options.hide, options.sandbox)
    try:
        if unknown:
            raise SystemExit(f"unknown assignment(s): {', '.join(unknown)}; known: {stems()}")
        return _grade(options, out, db_url, chosen, submissions, lanes)
    finally:
        for lane in lanes:
            lane.close()


@dataclass
class Job:
    """One notebook to grade: the restored notebook, its cells as the judge sees them."""

    student: str
    stem: str
    name: str
    notebook: nbformat.NotebookNode
    notes: list[str]
    cells: list[judge.Cell]


def _grade(options, out: Path, db_url: str, chosen: list[str], submissions: Path, lanes):
    assignments = course_setup.prepare(out, db_url, chosen)
    students = files.student_folders(submissions)
    ledger = Ledger(out / "ledger.jsonl")
    settings = settings_key(options, db_url)
    sources = {stem: course_setup.source_hash(stem)[:12] for stem in chosen}

    pending: dict[tuple[str, str], Pending] = {}
    jobs: list[Job] = []
    finished: list[Pending] = []
    for student in students:
        for stem in chosen:
            item, found = _collect(student, stem, assignments[stem], submissions)
            item.print_ += f":{sources[stem]}:{settings}"
            if ledger.done(student, stem, item.print_):
                continue
            jobs += found
            item.waiting = {job.name for job in found}
            pending[(student, stem)] = item
            if not item.waiting:
                finished.append(item)

    progress = tqdm(
        total=len(pending), unit="submission", disable=not options.progress, file=sys.stderr
    )
    limits = judge.Limits(options.cell_timeout, options.budget, options.memory_mb)
    cases = judge.Cases()
    calls = [call for stem in chosen for call in _check_calls(assignments[stem])]
    threading.Thread(target=cases.warm, args=(calls,), daemon=True).start()
    with Gradebook(db_url) as gradebook:
        for item in finished:
            _finish(item, assignments[item.stem], gradebook, out, ledger)
            progress.update()
        if jobs:
            status = lanes[0].ready()
            (out / "sandbox.json").write_text(json.dumps(status, indent=1))
            for warning in status.get("warnings", []):
                tqdm.write(f"warning: sandbox: {warning}", file=sys.stderr)
            for job, result in _run_jobs(jobs, lanes, limits, cases):
                item = pending[(job.student, job.stem)]
                item.results[job.name] = result
                item.waiting.discard(job.name)
                if not item.waiting:
                    _finish(item, assignments[job.stem], gradebook, out, ledger)
                    progress.update()
    progress.close()

    rows = []
    for student in students:
        for stem in chosen:
            row = ledger.rows[(student, stem)]
            rows.append({k: row[k] for k in outputs.CSV_COLUMNS})
    outputs.write_csv(out / "grades.csv", rows)
    outputs.write_histogram(out / "histogram.png", rows, chosen)
    return rows


def _collect(student: str, stem: str, assignment, submissions: Path) -> tuple[Pending, list[Job]]:
    """What a student submitted for one assignment, read safely: results for what cannot be
    graded, jobs for the rest. Nothing here can stop the batch."""
    item = Pending(student, stem, "", set())
    digest = hashlib.sha256()
    jobs = []
    folder = [files.kind_of(submissions, [student]), files.kind_of(submissions, [student, stem])]
    for name, definition in assignment.notebooks.items():
        if folder[0] != "dir" or folder[1] == "other":
            why = f"{student}/{stem} is not a folder (a link or a file); nothing in it was read"
            item.results[name] = unreadable_result(name, definition, "unreadable", why)
            digest.update(b"not a folder")
            continue
        if folder[1] == "missing":
            why = f"no {stem} folder was submitted"
            item.results[name] = unreadable_result(name, definition, "missing", why)
            digest.update(b"missing")
            continue
        try:
            data = files.read_under(submissions, [student, stem, name])
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
            notebook, problem = parse_notebook(name, data)
            if notebook is None:
                item.results[name] = unreadable_result(name, definition, "unreadable", problem)
                continue
            restored, notes = restore_locked_cells(notebook, definition)
            cells = judge_cells(restored, definition)
            jobs.append(Job(student, stem, name, restored, notes, cells))
        except files.Unreadable as error:
            missing = "was not submitted" in str(error)
            digest.update(name.encode() + b"\0unreadable")
            status = "missing" if missing else "unreadable"
            item.results[name] = unreadable_result(name, definition, status, str(error))
        except Exception as error:  # noqa: BLE001 - the failure boundary of one submission
            why = f"{name} could not be prepared for grading ({type(error).__name__}: {error})"
            item.results[name] = unreadable_result(name, definition, "unreadable", why[:500])
    item.stamp, note = _timestamp(submissions, student, stem)
    if note:
        item.notes.append(note)
    item.print_ = digest.hexdigest()[:16]
    return item, jobs


def _timestamp(submissions: Path, student: str, stem: str) -> tuple[str | None, str]:
    """nbgrader's ``timestamp.txt``, when it is a readable date; else None and a note."""
    from nbgrader.utils import parse_utc

    try:
        text = files.read_under(submissions, [student, stem, "timestamp.txt"], files.MAX_SMALL_FILE)
    except files.Unreadable as error:
        return None, "" if "was not submitted" in str(error) else f"timestamp ignored: {error}"
    try:
        stamp = text.decode("utf-8").strip()
        parse_utc(stamp)
    except Exception:  # noqa: BLE001 - any unparsable timestamp is a note, not a crash
        return None, "timestamp.txt is not a date nbgrader can read; it was ignored"
    return stamp, ""


def _check_calls(assignment) -> list[judge.CheckCall]:
    """Every check call of an assignment's grade cells, read from the instructor's source."""
    calls = []
    for definition in assignment.notebooks.values():
        setup: list[str] = []
        for cell in definition.cells.values():
            if cell.cell_type != "code" or cell.solution:
                continue
            if cell.grade:
                calls += judge.grade_calls(cell.source, setup)
            elif cell.locked:
                setup.append(cell.source)
    return calls


def _run_jobs(jobs: list[Job], lanes: list[Lane], limits: judge.Limits, cases: judge.Cases):
    """Grade the jobs on the lanes in parallel; yield (job, result) as each notebook ends."""
    free: queue.Queue[Lane] = queue.Queue()
    for lane in lanes:
        free.put(lane)
    base = run_uid_base()
    uids = itertools.count(base)
    uid_lock = threading.Lock()

    def one(job: Job) -> NotebookResult:
        lane = free.get()
        try:
            with uid_lock:
                uid = next(uids)
            graded = judge.grade(job.cells, lane, uid, limits, cases)
            return score_notebook(job.name, job.notebook, job.notes, graded)
        except Exception as error:  # noqa: BLE001 - the failure boundary of one notebook
            lane.restart()
            definition_max = {c.index: c.points for c in job.cells if c.kind == "grade"}
            why = f"the grader could not grade {job.name} ({type(error).__name__}: {error})"
            result = NotebookResult(job.name, "kernel_died", notes=[why[:500]])
            result.max_scores = _grade_ids(job.notebook, definition_max)
            result.scores = dict.fromkeys(result.max_scores, 0.0)
            return result
        finally:
            free.put(lane)

    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        futures = {pool.submit(one, job): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _grade_ids(notebook, points_by_index: dict[int, float]) -> dict[str, float]:
    ids = {}
    for index, points in points_by_index.items():
        meta = notebook.cells[index].metadata.get("nbgrader", {})
        ids[meta.get("grade_id", str(index))] = points
    return ids


def _write(item: Pending, results: list, write: Callable[[], object]) -> None:
    """One output file; a failure to write it is said, and the batch goes on."""
    try:
        write()
    except Exception as error:  # noqa: BLE001 - one submission's failure boundary
        why = f"an output file could not be written ({type(error).__name__}: {error})"
        tqdm.write(f"{item.student}/{item.stem}: {why}", file=sys.stderr)
        results[0].notes.append(why)


def _finish(
    item: Pending,
    assignment: course_setup.Assignment,
    gradebook: Gradebook,
    out: Path,
    ledger: Ledger,
) -> None:
    """Gradebook, autograded notebooks, feedback page, then the ledger line (in that order).

    A gradebook write that fails is rolled back and not marked done, so the next run tries it
    again; the batch goes on either way.
    """
    results = [item.results[name] for name in assignment.notebooks]
    results[0].notes[:0] = item.notes  # notes on the submission as a whole (its timestamp)
    status = worst([r.status for r in results])
    score = sum(r.score for r in results)
    submitted = any(r.status != "missing" for r in results)
    print_ = item.print_
    if submitted:
        try:
            _record(gradebook, assignment, item.student, results, item.stamp)
        except Exception as error:  # noqa: BLE001 - one submission's failure boundary
            gradebook.db.rollback()
            why = (
                f"the gradebook refused this submission ({type(error).__name__}); retried next run"
            )
            tqdm.write(f"{item.student}/{item.stem}: {why}", file=sys.stderr)
            results[0].notes.append(why)
            print_ = "not-recorded"
        folder = out / "course" / "autograded" / item.student / item.stem
        folder.mkdir(parents=True, exist_ok=True)
        for result in results:
            if result.notebook is not None:
                _write(item, results, lambda r=result: nbformat.write(r.notebook, folder / r.name))
    page = out / "feedback" / item.student / f"{item.stem}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    html = outputs.feedback_html(item.student, assignment, results, status, score)
    _write(item, results, lambda: page.write_text(html, encoding="utf-8", errors="replace"))
    ledger.add(
        {
            "student": item.student,
            "assignment": item.stem,
            "score": score,
            "max_score": assignment.max_score,
            "status": status,
            "fingerprint": print_,
            "notebooks": {
                r.name: {"status": r.status, "scores": r.scores, "notes": r.notes} for r in results
            },
            "seconds": sum(r.seconds for r in results),
        }
    )


#: Statuses whose scores an instructor should look at before they count.
NEEDS_REVIEW = ("tampered", "unreadable", "review", "kernel_died")


def _record(gradebook: Gradebook, assignment, student: str, results, stamp: str | None) -> None:
    """Write the auto scores with nbgrader's API, as nbgrader's SaveAutoGrades does."""
    with warnings.catch_warnings():
        # nbgrader's add_submission triggers a harmless SQLAlchemy autoflush warning
        warnings.simplefilter("ignore")
        gradebook.update_or_create_student(student)
        extra = {"timestamp": stamp} if stamp else {}
        gradebook.update_or_create_submission(assignment.stem, student, **extra)
        for result in results:
            notebook = Path(result.name).stem
            review = result.status in NEEDS_REVIEW
            for grade_id, score in result.scores.items():
                grade = gradebook.find_grade(grade_id, notebook, assignment.stem, student)
                grade.auto_score = score
                grade.needs_manual_grade = review or grade.manual_score is not None
        gradebook.db.commit()
