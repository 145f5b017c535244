r"""The file an LMS imports: ``python -m autograder export OUT_DIR --to canvas|moodle|csv``.

The grades come from ``OUT_DIR/grades.csv`` (one row per student and assignment, read by column
name, so columns the grader adds do not matter); who the students are comes from the roster
(``--roster``, else ``OUT_DIR/roster.csv``, read by :mod:`autograder.grade.roster` as the grader
reads it), else from the roster columns of grades.csv itself. Three formats, each what its
importer reads (docs/grading.md, "Exporting to an LMS"):

- ``canvas``: Canvas's gradebook CSV, ``Student,ID,SIS User ID,SIS Login ID,Section``, a column
  per assignment, then the totals Canvas reads as read-only; the second row gives each
  assignment's points possible.
- ``moodle``: the identifier Moodle maps users by (email address or ID number), then a column
  per assignment.
- ``csv``: a row per student with the roster's columns, a column per assignment, total, percent.

Scores are grades.csv's ``score``, after any late penalty. A roster student without a row for
an assignment scores 0 there (nbgrader counts a missing submission as 0); a student of
grades.csv who is not on the roster is exported too. Both are reported on stderr.

Example::

    python -m autograder export grades/ --to canvas --roster roster.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.grade import roster as rosters
from autograder.grade.roster import ROSTER_COLUMNS

__all__ = [
    "FORMATS",
    "MOODLE_IDS",
    "Class",
    "ExportError",
    "Student",
    "canvas_rows",
    "export",
    "load",
    "main",
    "moodle_rows",
    "wide_rows",
]

FORMATS = ("canvas", "moodle", "csv")
MOODLE_IDS = ("email", "idnumber")
GRADE_COLUMNS = ("student", "assignment", "score", "max_score")

# Canvas's importer skips these by name (GradebookImporter::NON_ASSIGNMENT_COLUMN_HEADERS) and
# its own export marks them "(read only)" in the points-possible row. "Final" counts what was not
# submitted as 0, as this export does; "Score" is a percentage, "Points" a sum.
CANVAS_TOTALS = ("Final Points", "Final Score")
CANVAS_READ_ONLY = "(read only)"
# The first cell of the second row, spelled as Canvas's own export spells it; its importer looks
# for "Points Possible" in that cell.
CANVAS_POINTS_POSSIBLE = "    Points Possible"
# The column labels of Moodle's own grade export (its strings 'email' and 'idnumber').
MOODLE_HEADERS = {"email": "Email address", "idnumber": "ID number"}
# A submission the grader has not scored yet (grades.csv leaves its score empty).
UNGRADED = "ungraded"


class ExportError(Exception):
    """Input the instructor has to fix; the message says which file, which line and what."""


@dataclass
class Student:
    """One row of the export: the grader's student id and what the roster says about them."""

    id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""
    section: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Class:
    """What an export writes: students and assignments in order, and the scores.

    ``scores`` holds ``None`` for a submission that is not graded yet.
    """

    students: list[Student]
    assignments: list[str]
    points_possible: dict[str, float]
    scores: dict[tuple[str, str], float | None]
    extra_columns: list[str] = field(default_factory=list)
    roster: Path | None = None
    not_on_roster: list[str] = field(default_factory=list)
    without_grades: list[str] = field(default_factory=list)

    def score(self, student: Student, assignment: str) -> float | None:
        """The student's score; 0 when grades.csv has no row for it (a missing submission)."""
        return self.scores.get((student.id, assignment), 0.0)

    def total(self, student: Student) -> float | None:
        """The sum of the student's scores; ``None`` while one of them is not graded."""
        scores = [self.score(student, a) for a in self.assignments]
        return None if None in scores else sum(scores)

    def percent(self, student: Student) -> str:
        total, most = self.total(student), sum(self.points_possible.values())
        return "" if total is None or not most else _number(round(100 * total / most, 2))

    def ungraded(self) -> list[str]:
        return [f"{s} {a}" for (s, a), score in self.scores.items() if score is None]


def _number(value: float) -> str:
    """A score as grades.csv writes it (``outputs._number``): ``7``, ``2.5``, ``0.333333``.

    A copy, because importing :mod:`autograder.grade.outputs` imports nbgrader (seconds);
    ``tests/test_export.py`` checks that the two agree.
    """
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _cell(score: float | None, ungraded: str = "") -> str:
    return ungraded if score is None else _number(score)


def _read_grades(path: Path) -> list[dict[str, str]]:
    """grades.csv's rows, keyed by column name, values stripped of spaces."""
    if not path.is_file():
        raise ExportError(
            f"no grades.csv in {path.parent}: grade the class into that folder first "
            f"(python -m autograder grade SUBMISSIONS_DIR --out {path.parent})"
        )
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in GRADE_COLUMNS if c not in columns]
            if missing:
                raise ExportError(
                    f"{path}: grades.csv needs the column(s) {', '.join(missing)}, "
                    f"but its header is {','.join(columns) or '(empty)'}"
                )
            return [
                {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
                for row in reader
            ]
    except UnicodeDecodeError as error:
        raise ExportError(f"{path}: not UTF-8 text ({error})") from error


def _number_in(row: dict[str, str], column: str, path: Path, line: int) -> float | None:
    if column == "score" and not row[column]:
        return None  # not graded yet
    try:
        return float(row[column])
    except ValueError:
        raise ExportError(
            f"{path}, line {line}: {column} must be a number, but got {row[column]!r}"
        ) from None


def _scores(rows: list[dict[str, str]], path: Path) -> Class:
    """Assignments, points possible and scores of grades.csv; students in first-seen order."""
    assignments: dict[str, None] = {}
    points: dict[str, float] = {}
    scores: dict[tuple[str, str], float | None] = {}
    first_line: dict[tuple[str, str], int] = {}
    for line, row in enumerate(rows, start=2):
        key = (row["student"], row["assignment"])
        if key in first_line:
            raise ExportError(
                f"{path}: lines {first_line[key]} and {line} both grade {key[0]} on {key[1]}; "
                "grades.csv has one row per student and assignment"
            )
        first_line[key] = line
        scores[key] = _number_in(row, "score", path, line)
        most = _number_in(row, "max_score", path, line)
        assignments[key[1]] = None
        points[key[1]] = max(points.get(key[1], 0.0), most)
    students = [Student(s) for s in dict.fromkeys(s for s, _ in first_line)]
    return Class(students, list(assignments), points, scores)


def _student(row: dict[str, str], extra_columns: list[str]) -> Student:
    return Student(
        id=row["student"],
        name=row.get("name", ""),
        email=row.get("email", ""),
        lms_id=row.get("lms_id", ""),
        section=row.get("section", ""),
        extra={c: row.get(c, "") for c in extra_columns},
    )


def load(out: Path, roster: Path | None = None) -> Class:
    r"""Read ``out/grades.csv`` and the roster into one :class:`Class`.

    Args:
        out: the grader's ``OUT_DIR``.
        roster: a roster CSV (``student,name,email,lms_id,section``, more columns allowed);
            default ``out/roster.csv`` when it exists, else the roster columns of grades.csv.

    Raises:
        ExportError: grades.csv is missing or malformed, or the roster is.
    """
    rows = _read_grades(out / "grades.csv")
    graded = _scores(rows, out / "grades.csv")
    try:
        listed, graded.roster = rosters.load(roster, out)
    except rosters.RosterError as error:
        raise ExportError(str(error)) from None
    if listed is None:
        identity: dict[str, Student] = {}
        for row in rows:
            identity.setdefault(row["student"], _student(row, []))
        graded.students = [identity[s.id] for s in graded.students]
        return graded
    graded.extra_columns = list(listed.columns[len(ROSTER_COLUMNS) :])
    graded_ids = [s.id for s in graded.students]
    has_rows = set(graded_ids)
    graded.not_on_roster = [s for s in graded_ids if s not in listed.rows]
    graded.without_grades = [s for s in listed.students if s not in has_rows]
    graded.students = [_student(row, graded.extra_columns) for row in listed.rows.values()]
    graded.students += [
        Student(s, extra=dict.fromkeys(graded.extra_columns, "")) for s in graded.not_on_roster
    ]
    return graded


def canvas_rows(grades: Class) -> list[list[str]]:
    r"""Canvas's gradebook import: header, points-possible row, a row per student.

    Canvas finds the student by ``ID`` (its user id, the roster's ``lms_id``), then by
    ``SIS User ID`` (the grader's student id), then ``SIS Login ID`` (the email), then by name.
    An assignment column matches a Canvas assignment of that exact name, or creates one with the
    points possible of the second row. The totals are read-only: Canvas ignores them. A grade
    not given yet is an empty cell, which Canvas leaves as it is.
    """
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *grades.assignments]
    points = [_number(grades.points_possible[a]) for a in grades.assignments]
    rows = [
        [*header, *CANVAS_TOTALS],
        [CANVAS_POINTS_POSSIBLE, "", "", "", "", *points, CANVAS_READ_ONLY, CANVAS_READ_ONLY],
    ]
    for s in grades.students:
        scores = [_cell(grades.score(s, a)) for a in grades.assignments]
        identity = [s.name or s.id, s.lms_id, s.id, s.email, s.section]
        rows.append([*identity, *scores, _cell(grades.total(s)), grades.percent(s)])
    return rows


def moodle_identifier(student: Student, by: str) -> str:
    """What Moodle maps the row to: the email, or the ID number (``lms_id``, else the id)."""
    return student.email if by == "email" else student.lms_id or student.id


def moodle_rows(grades: Class, by: str = "email") -> tuple[list[list[str]], list[str]]:
    r"""Moodle's "Import grades from CSV": the identifier, then a column per assignment.

    Returns the rows and the students left out because they have no identifier: Moodle's
    importer keeps the previous row's user when a row's identifier is empty (or, on the first
    row, aborts the import), so such a row must not be written.
    """
    if by not in MOODLE_IDS:
        raise ExportError(f"moodle_id should be one of {', '.join(MOODLE_IDS)}, but got {by!r}")
    rows = [[MOODLE_HEADERS[by], *grades.assignments]]
    left_out = []
    for s in grades.students:
        identifier = moodle_identifier(s, by)
        if not identifier:
            left_out.append(s.id)
            continue
        rows.append([identifier, *(_cell(grades.score(s, a)) for a in grades.assignments)])
    return rows, left_out


def wide_rows(grades: Class) -> list[list[str]]:
    """A row per student: the roster's columns, a column per assignment, total, percent.

    A submission not graded yet says ``ungraded`` and leaves total and percent empty, as the
    grader's totals.csv does.
    """
    rows = [[*ROSTER_COLUMNS, *grades.extra_columns, *grades.assignments, "total", "percent"]]
    for s in grades.students:
        identity = [s.id, s.name, s.email, s.lms_id, s.section]
        identity += [s.extra.get(c, "") for c in grades.extra_columns]
        scores = [_cell(grades.score(s, a), UNGRADED) for a in grades.assignments]
        rows.append([*identity, *scores, _cell(grades.total(s)), grades.percent(s)])
    return rows


def _write(path: Path, rows: list[list[str]], bom: bool) -> None:
    """Written whole, then moved into place, so an upload never takes half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    with open(temporary, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        csv.writer(handle).writerows(rows)
    temporary.replace(path)


def _counted(items: list[str], noun: str, phrase: str) -> str:
    """``1 student is …`` or ``2 students are …``: ``{is}`` and ``{has}`` agree with the count."""
    one = len(items) == 1
    verbs = {"is": "is" if one else "are", "has": "has" if one else "have"}
    return f"{len(items)} {noun}{'' if one else 's'} {phrase.format(**verbs)}"


def _names(ids: list[str], most: int = 10) -> str:
    shown = ", ".join(ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _notes(grades: Class) -> list[str]:
    notes = []
    if grades.not_on_roster:
        notes.append(
            f"{_counted(grades.not_on_roster, 'student', 'of grades.csv {is} not on the roster')} "
            f"({grades.roster}), exported without name or email: {_names(grades.not_on_roster)}"
        )
    if grades.without_grades:
        notes.append(
            _counted(grades.without_grades, "student", "on the roster {has} no row in grades.csv")
            + f", exported with 0 for every assignment: {_names(grades.without_grades)}"
        )
    if ungraded := grades.ungraded():
        notes.append(
            f"{_counted(ungraded, 'submission', '{is} not graded yet')}, exported with no "
            f"score (and no total for the student); run the grader again to finish: "
            f"{_names(ungraded)}"
        )
    return notes


def export(
    out: Path,
    to: str,
    roster: Path | None = None,
    output: Path | None = None,
    moodle_id: str = "email",
) -> tuple[Path, list[str]]:
    r"""Write the file ``to`` imports; return its path and the notes for the instructor.

    Args:
        out: the grader's ``OUT_DIR`` (it holds ``grades.csv``).
        to: ``canvas``, ``moodle`` or ``csv``.
        roster: the roster CSV; default ``out/roster.csv`` when it exists.
        output: where to write; default ``out/export/<to>.csv``.
        moodle_id: for Moodle, identify students by ``email`` or ``idnumber``.

    Raises:
        ExportError: grades.csv is missing or malformed, or the roster is.

    Example:
        >>> path, notes = export(Path("grades"), "canvas")  # doctest: +SKIP
    """
    if to not in FORMATS:
        raise ExportError(f"to should be one of {', '.join(FORMATS)}, but got to={to!r}")
    grades = load(out, roster)
    notes = _notes(grades)
    if to == "canvas":
        rows = canvas_rows(grades)
    elif to == "moodle":
        rows, left_out = moodle_rows(grades, moodle_id)
        if left_out:
            notes.append(
                _counted(left_out, "student", "{has} no " + moodle_id)
                + f", which Moodle needs to match a row; left out of the file: {_names(left_out)}"
            )
    else:
        rows = wide_rows(grades)
    path = output or out / "export" / f"{to}.csv"
    # Excel reads a UTF-8 file as UTF-8 only with a BOM; Canvas's and Moodle's importers accept
    # one (Canvas's own export writes it), scripts reading the wide CSV expect plain UTF-8.
    _write(path, rows, bom=to != "csv")
    return path, notes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export`` subcommand's arguments (``python -m autograder export --help``)."""
    parser.add_argument("out", type=Path, metavar="OUT_DIR", help="the grader's output folder")
    parser.add_argument("--to", required=True, choices=FORMATS, help="what to write")
    parser.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="student,name,email,lms_id,section (default OUT_DIR/roster.csv when present)",
    )
    parser.add_argument(
        "--moodle-id",
        choices=MOODLE_IDS,
        default="email",
        help="what Moodle matches students by (default email)",
    )
    parser.add_argument(
        "--output", type=Path, metavar="PATH", help="default OUT_DIR/export/<to>.csv"
    )


def main(args: argparse.Namespace) -> int:
    """Run the export; the file's path on stdout, notes and errors on stderr."""
    try:
        path, notes = export(args.out, args.to, args.roster, args.output, args.moodle_id)
    except ExportError as error:
        print(f"export: error: {error}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"export: note: {note}", file=sys.stderr)
    print(path)
    return 0
