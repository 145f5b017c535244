"""The class list: ``--roster roster.csv``, read strictly, kept in ``OUT_DIR/roster.csv``.

A roster is a UTF-8 CSV file with a header. Its columns are ``student`` (the folder name under
SUBMISSIONS_DIR, and nbgrader's student id), ``name``, ``email``, ``lms_id`` and ``section``;
only ``student`` is required, and any other column is kept as it is. A roster that cannot be
read as one (no ``student`` column, a student twice, bytes that are not UTF-8, a row longer than
the header) is refused with the line it stops at, before anything is graded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from autograder.course import stems

#: The columns every roster in ``OUT_DIR/roster.csv`` has, in this order; extra ones follow.
ROSTER_COLUMNS = ("student", "name", "email", "lms_id", "section")

#: grades.csv's columns after ``student`` and the roster's: what the grader gives each
#: submission. ``score`` is after the late penalty; ``raw_score`` before it.
GRADE_COLUMNS = (
    "assignment",
    "score",
    "max_score",
    "status",
    "raw_score",
    "penalty",
    "late_seconds",
    "timestamp",
    "duedate",
)
#: totals.csv's columns after the assignments.
TOTAL_COLUMNS = ("total", "max", "percent")

#: A roster larger than this is not a class list.
MAX_ROSTER_BYTES = 16 * 2**20


class RosterError(ValueError):
    """The roster cannot be used; the message names the file and, where it can, the line."""


@dataclass
class Roster:
    """The students of a class and their roster columns, in the roster's order."""

    columns: list[str]
    rows: dict[str, dict[str, str]]

    @property
    def students(self) -> list[str]:
        return list(self.rows)

    def fields(self, student: str) -> dict[str, str]:
        """The roster columns (``student`` excepted) of one student; empty when not listed."""
        row = self.rows.get(student, {})
        return {column: row.get(column, "") for column in self.columns[1:]}

    def gradebook_fields(self, student: str) -> dict[str, str]:
        """What nbgrader's ``Student`` takes from the roster: only values the roster gives.

        nbgrader has a first and a last name; the roster's ``name`` goes whole into
        ``last_name`` (the name formgrader sorts by) unless the roster has ``first_name`` and
        ``last_name`` columns of its own.
        """
        row = self.rows[student]
        found = {}
        if row.get("first_name") or row.get("last_name"):
            found = {"first_name": row.get("first_name", ""), "last_name": row.get("last_name", "")}
        elif row.get("name"):
            found = {"first_name": "", "last_name": row["name"]}
        if row.get("email"):
            found["email"] = row["email"]
        if row.get("lms_id"):
            found["lms_user_id"] = row["lms_id"]
        return found

    def write(self, path: Path) -> None:
        """The roster as ``OUT_DIR/roster.csv``: UTF-8, the standard columns first."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for student, row in self.rows.items():
            writer.writerow({**row, "student": student})
        temporary = path.with_name(path.name + ".part")
        temporary.write_text(buffer.getvalue(), encoding="utf-8")
        temporary.replace(path)


def read_roster(path: Path) -> Roster:
    r"""Read and check a roster file.

    Args:
        path: a CSV file with a header line and a ``student`` column.

    Raises:
        RosterError: the file cannot be read, is not UTF-8, has no ``student`` column, names a
            column or a student twice, has a row longer than its header, a row without a
            student, or a student id that cannot be a folder name.

    Example:
        >>> roster = read_roster(Path("roster.csv"))  # doctest: +SKIP
        >>> roster.fields("alice")["email"]  # doctest: +SKIP
        'alice@example.org'
    """
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise RosterError(f"roster {path}: larger than {MAX_ROSTER_BYTES} bytes")
        data = path.read_bytes()
    except OSError as error:
        raise RosterError(f"roster {path}: cannot be read ({error.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RosterError(
            f"roster {path}: line {line} is not UTF-8 (byte 0x{data[error.start]:02x}); "
            "save the file as CSV UTF-8"
        ) from None
    try:
        return _parse(text, path)
    except csv.Error as error:
        raise RosterError(f"roster {path}: not a CSV file ({error})") from None


def _parse(text: str, path: Path) -> Roster:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise RosterError(f"roster {path}: empty; the first line must name the columns")
    header = [h.strip() for h in header]
    for index, column in enumerate(header):
        if not column:
            raise RosterError(f"roster {path}: column {index + 1} of the header has no name")
        if header.count(column) > 1:
            raise RosterError(f"roster {path}: the header names column {column!r} twice")
    taken = [h for h in header if h in (*GRADE_COLUMNS, *TOTAL_COLUMNS, *stems())]
    if taken:
        raise RosterError(
            f"roster {path}: column {taken[0]!r} is one grades.csv or totals.csv writes itself; "
            "rename or drop it"
        )
    if "student" not in header:
        similar = [h for h in header if h.lower() == "student"]
        hint = f" ({similar[0]!r} is not it: column names are lower case)" if similar else ""
        raise RosterError(
            f"roster {path}: no 'student' column{hint}; the header is {','.join(header)}"
        )
    columns = [*ROSTER_COLUMNS, *(h for h in header if h not in ROSTER_COLUMNS)]
    rows: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            raise RosterError(
                f"roster {path}: line {line} has {len(values)} fields, the header {len(header)}"
            )
        row = dict.fromkeys(columns, "") | {
            column: value.strip() for column, value in zip(header, values, strict=False)
        }
        student = row["student"]
        _check_student(student, path, line)
        if student in rows:
            raise RosterError(
                f"roster {path}: student {student!r} is listed twice, on lines "
                f"{lines[student]} and {line}"
            )
        rows[student] = row
        lines[student] = line
    if not rows:
        raise RosterError(f"roster {path}: no students, only a header")
    return Roster(columns, rows)


def _check_student(student: str, path: Path, line: int) -> None:
    """A student id is a folder name under SUBMISSIONS_DIR and OUT_DIR/feedback."""
    if not student:
        raise RosterError(f"roster {path}: line {line} has no student id")
    if len(student.encode("utf-8", "surrogatepass")) > 255:
        raise RosterError(f"roster {path}: line {line}: student id longer than 255 bytes")
    if student.startswith(".") or any(c in student for c in "/\\\0") or not student.isprintable():
        raise RosterError(
            f"roster {path}: line {line}: student id {student!r} cannot be a folder name "
            "(no '/', '\\', control characters or leading '.')"
        )


def load(given: Path | None, out: Path) -> tuple[Roster | None, Path | None]:
    """The roster of this run: ``given``, else the one an earlier run kept in ``OUT_DIR``."""
    kept = out / "roster.csv"
    if given is not None:
        return read_roster(given), given
    if kept.exists():
        return read_roster(kept), kept
    return None, None
