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

``OUT_DIR`` remembers the term: the roster (``roster.csv``, :mod:`autograder.grade.roster`), the
due dates (in the gradebook) and the late policy (``late_policy.json``,
:mod:`autograder.grade.deadlines`). ``grades.csv`` and ``totals.csv`` describe every assignment
graded into ``OUT_DIR`` for every student on the roster or in SUBMISSIONS_DIR.
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
import unicodedata
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from tqdm import tqdm

from autograder.course import stems, venv_env
from autograder.grade import assignments as course_setup
from autograder.grade import deadlines, files, judge, outputs
from autograder.grade import roster as roster_file
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
from autograder.grade.term import Term, check_inputs


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
    #: ``--roster``; without it, the roster an earlier run kept in OUT_DIR, if any.
    roster: Path | None = None
    #: ``--due``/``--deadlines``: due dates to write into the gradebook (None clears one).
    due: dict[str, datetime | None] = field(default_factory=dict)
    #: ``--late-policy``; without it, the policy OUT_DIR recorded, else none.
    policy: deadlines.Policy | None = None
    #: ``--student``: grade only these students (the report still covers the class).
    students: list[str] = field(default_factory=list)
    #: ``--regrade``: grade the chosen submissions again even when the ledger holds them.
    regrade: bool = False
    #: ``--broker``: send the notebooks to workers (:mod:`autograder.grade.workers`) through
    #: this Celery broker instead of grading them here; ``--results``: the Redis result store
    #: (default: the broker).
    broker: str = ""
    results: str = ""


@dataclass
class Report:
    """What a run returns: a row per student and assignment, and what the instructor should
    hear about (students not on the roster, submissions left ungraded, missing timestamps)."""

    rows: list[dict]
    stems: list[str]
    notices: list[str] = field(default_factory=list)


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
    due: datetime | None = None
    late: float = 0.0
    #: The submitted files as read, kept in nbgrader's ``course/submitted/`` for its tools.
    files: dict[str, bytes] = field(default_factory=dict)


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


def grade_class(
    options: Options, lanes: list[Lane] | None = None, term: Term | None = None
) -> Report:
    """Grade every submission not graded yet; write all outputs; return the report.

    ``lanes`` may be started by the caller before this module's imports (torch, nbgrader),
    so that the zygotes warm up meanwhile; by default they are started here. ``term`` is what
    :func:`~autograder.grade.term.check_inputs` made of the options, checked again when not
    given.
    """
    os.environ["PATH"] = venv_env()["PATH"]  # nbgrader's Gradebook runs `alembic`
    out = options.out.resolve()
    db_url = options.db_url or default_db_url(out)
    chosen = options.assignments or stems()
    submissions = options.submissions.resolve()
    if term is None:
        term = check_inputs(
            options.submissions,
            options.out,
            options.assignments,
            options.roster,
            options.policy,
            options.students,
        )
    if options.broker:
        from autograder.grade import workers

        workers.configure(options.broker, options.results)
        lanes = []  # the workers run and judge the notebooks; this process records decisions
    elif lanes is None:
        lanes = start(options.jobs, submissions, out, db_url, options.hide, options.sandbox)
    try:
        return _grade(options, term, out, db_url, chosen, submissions, lanes)
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
    #: The language of the release it came from: its checks' messages are in it.
    language: str = "en"


def _grade(options, term: Term, out: Path, db_url: str, chosen, submissions: Path, lanes):
    assignments = course_setup.prepare(out, db_url, chosen)
    ledger = Ledger(out / "ledger.jsonl")
    settings = settings_key(options, db_url)
    sources = {stem: course_setup.source_hash(stem)[:12] for stem in chosen}
    if term.roster is not None and term.roster_source != out / "roster.csv":
        term.roster.write(out / "roster.csv")
    if term.policy_given:
        deadlines.record_policy(term.policy, out)
    dues, extensions = _deadlines(db_url, options.due, term)

    pending: dict[tuple[str, str], Pending] = {}
    jobs: list[Job] = []
    finished: list[Pending] = []
    for student in term.scope:
        for stem in chosen:
            if _folder(submissions, [student]) == "missing":
                item, found = _nothing_submitted(student, stem, assignments[stem]), []
            else:
                item, found = _collect(student, stem, assignments[stem], submissions)
            item.due = _due(dues, extensions, student, stem)
            item.late = deadlines.seconds_late(item.stamp, item.due)
            late = deadlines.late_key(item.stamp, item.late, term.policy)
            item.print_ += f":{sources[stem]}:{settings}:{late}"
            if not options.regrade and ledger.done(student, stem, item.print_):
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
    with Gradebook(db_url) as gradebook:
        for item in finished:
            _finish(item, assignments[item.stem], gradebook, out, ledger, term.policy)
            progress.update()
        if jobs:
            if options.broker:
                from autograder.grade import workers

                graded = workers.run_remote(jobs, limits, out, _say)
            else:
                calls = [call for stem in chosen for call in _check_calls(assignments[stem])]
                graded = _run_here(jobs, lanes, limits, calls, out)
            for job, result in graded:
                item = pending[(job.student, job.stem)]
                item.results[job.name] = result
                item.waiting.discard(job.name)
                if not item.waiting:
                    _finish(item, assignments[job.stem], gradebook, out, ledger, term.policy)
                    progress.update()
    progress.close()

    report = _report(term, chosen, assignments, ledger, submissions, dues, extensions)
    outputs.write_csv(out / "grades.csv", report.rows, _roster_columns(term.roster))
    outputs.write_totals(
        out / "totals.csv", report.rows, report.stems, _roster_columns(term.roster)
    )
    outputs.write_histogram(out / "histogram.png", report.rows, report.stems)
    return report


def _roster_columns(roster: roster_file.Roster | None) -> list[str]:
    return list(roster.columns[1:] if roster else roster_file.ROSTER_COLUMNS[1:])


def _deadlines(db_url: str, given: dict, term: Term):
    """Write the given due dates and the roster's students into the gradebook; read back every
    assignment's due date and every extension nbgrader holds."""
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's harmless SQLAlchemy autoflush warning
        for stem, due in given.items():
            gradebook.update_or_create_assignment(stem, duedate=due)
        if term.roster is not None:
            for student in term.roster.students:
                gradebook.update_or_create_student(student, **term.roster.gradebook_fields(student))
        dues = {assignment.name: assignment.duedate for assignment in gradebook.assignments}
        extensions = {
            (submission.student.id, assignment.name): submission.extension
            for assignment in gradebook.assignments
            for submission in assignment.submissions
            if submission.extension is not None
        }
    return dues, extensions


def _due(dues: dict, extensions: dict, student: str, stem: str) -> datetime | None:
    """The student's due date: the assignment's plus their extension, as nbgrader's
    ``SubmittedAssignment.duedate``."""
    due = dues.get(stem)
    extension = extensions.get((student, stem))
    return due + extension if due is not None and extension is not None else due


def _folder(submissions: Path, parts: list[str]) -> str:
    """``files.kind_of``, with a path the system refuses (a link where a folder should be, a
    name too long) as ``"other"``: something is there that cannot be read."""
    try:
        return files.kind_of(submissions, parts)
    except OSError:
        return "other"


def _lookalike(student: str, listed: list[str]) -> str:
    """A submitter off the roster, with the roster's id it differs from only in case or
    Unicode form (a folder renamed by hand, a file system that decomposes accents)."""
    key = unicodedata.normalize("NFC", student).casefold()
    for other in listed:
        if unicodedata.normalize("NFC", other).casefold() == key:
            return f"{student} (the roster has {other})"
    return student


def _nothing_submitted(student: str, stem: str, assignment) -> Pending:
    """A student on the roster with no folder at all: every notebook is missing."""
    item = Pending(student, stem, hashlib.sha256(b"no student folder").hexdigest()[:16], set())
    for name, definition in assignment.notebooks.items():
        why = f"{student} submitted nothing"
        item.results[name] = unreadable_result(name, definition, "missing", why)
    return item


def _report(term: Term, chosen, assignments, ledger: Ledger, submissions: Path, dues, extensions):
    """A row per student (roster and submitters) and assignment (this run's and every one the
    ledger holds): the ledger's last line, or ``missing`` when nothing is in the submissions
    folder, or ``ungraded`` (no score) when a submission is there but was never graded."""
    held = {stem for _, stem in ledger.rows}
    report_stems = [stem for stem in stems() if stem in chosen or stem in held]
    maxima = {stem: a.max_score for stem, a in assignments.items()}
    for row in ledger.rows.values():
        maxima.setdefault(row["assignment"], row["max_score"])
    report = Report([], report_stems)
    ungraded, untimed = [], []
    for student in term.students:
        fields = term.roster.fields(student) if term.roster else {}
        for stem in report_stems:
            due = _due(dues, extensions, student, stem)
            line = ledger.rows.get((student, stem))
            row = {"student": student, **fields, "assignment": stem, "max_score": maxima[stem]}
            row |= {"duedate": deadlines.utc_text(due), "penalty": 0.0, "late_seconds": 0.0}
            row |= {"timestamp": "", "status": "missing", "score": 0.0, "raw_score": 0.0}
            if line is not None:
                row |= {key: line[key] for key in ("status", "score", "max_score")}
                row["raw_score"] = line.get("raw_score", line["score"])
                for key in ("penalty", "late_seconds", "timestamp"):
                    row[key] = line.get(key, row[key])
                if due is not None and line["status"] != "missing" and not row["timestamp"]:
                    untimed.append(f"{student}/{stem}")
            elif _folder(submissions, [student]) != "missing" and (
                _folder(submissions, [student, stem]) != "missing"
            ):
                row |= {"status": "ungraded", "score": None, "raw_score": None}
                row |= {"penalty": None, "late_seconds": None}
                ungraded.append(f"{student}/{stem}")
            report.rows.append(row)
    if term.roster is not None:
        strangers = [s for s in term.students if s not in term.roster.rows]
        if strangers:
            report.notices.append(
                f"not on the roster ({len(strangers)}; graded, roster columns empty): "
                + ", ".join(_lookalike(s, term.roster.students) for s in strangers)
            )
    if ungraded:
        report.notices.append(
            f"ungraded ({len(ungraded)}; submitted, never graded: outside this run's --student "
            "or --assignment; no score until a run grades them): " + ", ".join(ungraded)
        )
    if untimed:
        report.notices.append(
            f"no readable timestamp.txt, so no late penalty, though a due date is set "
            f"({len(untimed)}): " + ", ".join(untimed)
        )
    if any(row["late_seconds"] for row in report.rows):
        report.notices.append(f"late policy: {term.policy.describe()}")
    return report


def _collect(student: str, stem: str, assignment, submissions: Path) -> tuple[Pending, list[Job]]:
    """What a student submitted for one assignment, read safely: results for what cannot be
    graded, jobs for the rest. Nothing here can stop the batch.

    Each notebook is graded against the release it came from (``restore_locked_cells``): the
    current one, or an earlier one whose locked cells it holds, said in a note."""
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
            item.files[name] = data
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
            notebook, problem = parse_notebook(name, data)
            if notebook is None:
                item.results[name] = unreadable_result(name, definition, "unreadable", problem)
                continue
            restored = restore_locked_cells(notebook, assignment, name)
            digest.update(restored.key.encode())
            if restored.about:
                item.notes.append(restored.about)
            cells = judge_cells(restored.notebook, restored.definition)
            language = (restored.release.edition if restored.release else "") or "en"
            jobs.append(
                Job(student, stem, name, restored.notebook, restored.notes, cells, language)
            )
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


def _say(line: str) -> None:
    tqdm.write(line, file=sys.stderr)


def _run_here(jobs: list[Job], lanes: list[Lane], limits: judge.Limits, calls, out: Path):
    """Grade on this machine's lanes, the batch's references computed meanwhile."""
    cases = judge.Cases()
    threading.Thread(target=cases.warm, args=(calls,), daemon=True).start()
    status = lanes[0].ready()
    (out / "sandbox.json").write_text(json.dumps(status, indent=1))
    for warning in status.get("warnings", []):
        _say(f"warning: sandbox: {warning}")
    yield from _run_jobs(jobs, lanes, limits, cases)


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
            graded = judge.grade(job.cells, lane, uid, limits, cases, job.language)
            return score_notebook(job.name, job.notebook, job.notes, graded)
        except Exception as error:  # noqa: BLE001 - the failure boundary of one notebook
            lane.restart()
            return failed_result(job, failure_note(job.name, error))
        finally:
            free.put(lane)

    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        futures = {pool.submit(one, job): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


def failure_note(name: str, error: Exception) -> str:
    return f"the grader could not grade {name} ({type(error).__name__}: {error})"[:500]


def failed_result(job: Job, why: str, status: str = "kernel_died") -> NotebookResult:
    """A notebook the grader could not grade: every check 0, and why."""
    definition_max = {c.index: c.points for c in job.cells if c.kind == "grade"}
    result = NotebookResult(job.name, status, notes=[why])
    result.max_scores = _grade_ids(job.notebook, definition_max)
    result.scores = dict.fromkeys(result.max_scores, 0.0)
    return result


def lost_result(job: Job, tries: int, hosts: list[str]) -> NotebookResult:
    """A notebook whose grading killed a worker each of ``tries`` times: not tried again."""
    where = ", ".join(str(h) for h in hosts) or "unknown workers"
    why = (
        f"grading {job.name} stopped the worker {tries} times (on {where}); it was not tried "
        "again and scores 0 until an instructor looks at it"
    )
    return failed_result(job, why[:500], "worker_lost")


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
    policy: deadlines.Policy,
) -> None:
    """Gradebook, autograded notebooks, feedback page, then the ledger line (in that order).

    A gradebook write that fails is rolled back and not marked done, so the next run tries it
    again; the batch goes on either way.
    """
    results = [item.results[name] for name in assignment.notebooks]
    results[0].notes[:0] = item.notes  # notes on the submission as a whole (its timestamp)
    status = worst([r.status for r in results])
    raw = sum(r.score for r in results)
    submitted = any(r.status != "missing" for r in results)
    print_ = item.print_
    penalties: dict[str, float | None] = dict.fromkeys(assignment.notebooks)
    if submitted:
        try:
            penalties = _record(gradebook, assignment, item, results, policy)
        except Exception as error:  # noqa: BLE001 - one submission's failure boundary
            gradebook.db.rollback()
            why = (
                f"the gradebook refused this submission ({type(error).__name__}); retried next run"
            )
            tqdm.write(f"{item.student}/{item.stem}: {why}", file=sys.stderr)
            results[0].notes.append(why)
            print_ = "not-recorded"
            penalties = {r.name: policy.penalty(r.score, item.late) for r in results}
        folder = out / "course" / "autograded" / item.student / item.stem
        folder.mkdir(parents=True, exist_ok=True)
        for result in results:
            if result.notebook is not None:
                _write(item, results, lambda r=result: nbformat.write(r.notebook, folder / r.name))
        # What came in, byte for byte, where nbgrader's tools look for submissions (formgrader
        # counts an assignment's submissions by these folders).
        given = out / "course" / "submitted" / item.student / item.stem
        given.mkdir(parents=True, exist_ok=True)
        for name, data in item.files.items():
            _write(item, results, lambda n=name, d=data: (given / n).write_bytes(d))
        if item.stamp:
            _write(item, results, lambda: (given / "timestamp.txt").write_text(item.stamp))
        item.files.clear()
    penalty = sum(p or 0.0 for p in penalties.values())
    score = max(0.0, raw - penalty)
    if submitted and item.late > 0:
        results[0].notes.append(deadlines.late_note(item.late, item.due, penalty, policy))
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
            "raw_score": raw,
            "penalty": penalty,
            "late_seconds": item.late,
            "timestamp": deadlines.stamp_text(item.stamp) if submitted else "",
            "notebooks": {
                r.name: {
                    "status": r.status,
                    "scores": r.scores,
                    "notes": r.notes,
                    "penalty": penalties[r.name],
                    **({"worker": r.worker} if r.worker else {}),
                }
                for r in results
            },
            "seconds": sum(r.seconds for r in results),
        }
    )


#: Statuses whose scores an instructor should look at before they count.
NEEDS_REVIEW = ("tampered", "unreadable", "review", "worker_lost", "kernel_died")


def _record(
    gradebook: Gradebook, assignment, item: Pending, results, policy: deadlines.Policy
) -> dict[str, float | None]:
    """Write the auto scores with nbgrader's API, as nbgrader's SaveAutoGrades does, then each
    notebook's late penalty as nbgrader's AssignLatePenalties does (from the notebook's score in
    the gradebook, a manual grade included); return the penalties by notebook file."""
    student, stem = item.student, assignment.stem
    with warnings.catch_warnings():
        # nbgrader's add_submission triggers a harmless SQLAlchemy autoflush warning
        warnings.simplefilter("ignore")
        gradebook.update_or_create_student(student)
        # The timestamp of this submission, or none: an earlier one would make it late.
        gradebook.update_or_create_submission(stem, student, timestamp=item.stamp)
        for result in results:
            notebook = Path(result.name).stem
            review = result.status in NEEDS_REVIEW
            for grade_id, score in result.scores.items():
                grade = gradebook.find_grade(grade_id, notebook, stem, student)
                grade.auto_score = score
                grade.needs_manual_grade = review or grade.manual_score is not None
        gradebook.db.flush()
        gradebook.db.expire_all()  # the notebooks' scores are computed columns
        penalties = {}
        for result in results:
            submitted = gradebook.find_submission_notebook(Path(result.name).stem, stem, student)
            penalty = policy.penalty(submitted.score, item.late)
            submitted.late_submission_penalty = penalty
            penalties[result.name] = penalty
        gradebook.db.commit()
    return penalties
