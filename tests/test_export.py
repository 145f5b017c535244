"""``python -m autograder export OUT --to canvas|moodle|csv``: the files Canvas and Moodle import.

A small OUT_DIR is written by hand: a roster student with no grades (``s3``), a graded student
who is not on the roster (``s9``), a late submission with a penalty, a non-ASCII name, and names
with a comma and with quotes. Each file is read back with the csv module and compared with rows
written out here by hand. The last test exports a class the real grader graded.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import venv_env
from autograder.grade.export import ExportError, _number, export

BOM = b"\xef\xbb\xbf"

# What the grader writes: the roster's columns after student, then the submission's, the late
# penalty's among them (the export reads grades.csv by column name). s2 submitted 02_parameter
# an hour late: score is after the penalty, raw_score before it, as in nbgrader's own export.
GRADES = """\
student,name,email,lms_id,section,assignment,score,max_score,status,raw_score,penalty,late_seconds
s1,,,,,01_module,7,10,graded,7,0,0
s1,,,,,02_parameter,2.5,5,graded,2.5,0,0
s2,,,,,01_module,10,10,graded,10,0,0
s2,,,,,02_parameter,4.5,5,graded,5,0.5,3600
s9,,,,,01_module,3,10,timed_out,3,0,0
"""

ROSTER = """\
student,name,email,lms_id,section,tutor
s1,"Lovelace, Ada",ada@example.org,101,A,Tom
s2,"Zoë ""Z"" Ström",zoe@example.org,102,B,Åsa
s3,Bob Missing,bob@example.org,103,A,Tom
"""


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "grades.csv").write_text(GRADES, encoding="utf-8")
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    return folder


def run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", "export", *map(str, args)],
        capture_output=True,
        text=True,
        env=venv_env(),
        timeout=60,
    )


def read(path: Path, bom: bool) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(BOM) is bom, f"{path.name}: BOM expected: {bom}"
    return list(csv.reader(raw.decode("utf-8-sig").splitlines()))


def test_canvas(out):
    result = run(out, "--to", "canvas", "--roster", out.parent / "roster.csv")
    assert result.returncode == 0, result.stderr
    path = out / "export" / "canvas.csv"
    assert result.stdout.strip() == str(path)
    assert read(path, bom=True) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
        + ["01_module", "02_parameter", "Final Points", "Final Score"],
        ["    Points Possible", "", "", "", "", "10", "5", "(read only)", "(read only)"],
        ["Lovelace, Ada", "101", "s1", "ada@example.org", "A", "7", "2.5", "9.5", "63.33"],
        ['Zoë "Z" Ström', "102", "s2", "zoe@example.org", "B", "10", "4.5", "14.5", "96.67"],
        ["Bob Missing", "103", "s3", "bob@example.org", "A", "0", "0", "0", "0"],
        ["s9", "", "s9", "", "", "3", "0", "3", "20"],
    ]
    text = path.read_text(encoding="utf-8-sig")
    assert '"Lovelace, Ada"' in text and '"Zoë ""Z"" Ström"' in text


def canvas_import(rows: list[list[str]]) -> dict:
    """What Canvas's GradebookImporter takes from a file (app/models/gradebook_importer.rb).

    The header must start with Student and ID; SIS User ID and SIS Login ID in the next two
    columns make five student columns, the fifth being Section; total columns are dropped by
    name; a first cell containing "Points Possible" is the points row, any other row a student.
    """
    header, points_row, *students = rows
    assert "Student" in header[0] and "ID" in header[1]
    assert re.match(r"SIS\s+User\s+ID", header[2]) and re.match(r"SIS\s+Login\s+ID", header[3])
    assert "Section" in header[4]
    totals = re.compile("Current Score|Current Points|Final Score|Final Points|Final Grade")
    assignments = [i for i, name in enumerate(header[5:], 5) if not totals.search(name)]
    assert "Points Possible" in points_row[0]
    return {
        "assignments": {header[i]: points_row[i] for i in assignments},
        "ids": [(r[1], r[2], r[3]) for r in students],
        "grades": [[r[i] for i in assignments] for r in students],
    }


def test_canvas_reads_assignments_points_and_ids_from_the_right_columns(out):
    path, _ = export(out, "canvas", roster=out.parent / "roster.csv")
    imported = canvas_import(read(path, bom=True))
    assert imported["assignments"] == {"01_module": "10", "02_parameter": "5"}
    assert imported["ids"] == [
        ("101", "s1", "ada@example.org"),
        ("102", "s2", "zoe@example.org"),
        ("103", "s3", "bob@example.org"),
        ("", "s9", ""),
    ]
    assert imported["grades"] == [["7", "2.5"], ["10", "4.5"], ["0", "0"], ["3", "0"]]


def test_moodle_by_email_leaves_out_students_without_one(out):
    result = run(out, "--to", "moodle", "--roster", out.parent / "roster.csv")
    assert result.returncode == 0, result.stderr
    assert read(out / "export" / "moodle.csv", bom=True) == [
        ["Email address", "01_module", "02_parameter"],
        ["ada@example.org", "7", "2.5"],
        ["zoe@example.org", "10", "4.5"],
        ["bob@example.org", "0", "0"],
    ]
    assert "1 student has no email" in result.stderr and "left out of the file: s9" in result.stderr


def test_moodle_by_idnumber_falls_back_to_the_student_id(out):
    result = run(
        out, "--to", "moodle", "--moodle-id", "idnumber", "--roster", out.parent / "roster.csv"
    )
    assert result.returncode == 0, result.stderr
    assert read(out / "export" / "moodle.csv", bom=True) == [
        ["ID number", "01_module", "02_parameter"],
        ["101", "7", "2.5"],
        ["102", "10", "4.5"],
        ["103", "0", "0"],
        ["s9", "3", "0"],
    ]


def test_wide_csv_keeps_the_rosters_extra_columns(out):
    result = run(out, "--to", "csv", "--roster", out.parent / "roster.csv")
    assert result.returncode == 0, result.stderr
    assert read(out / "export" / "csv.csv", bom=False) == [
        ["student", "name", "email", "lms_id", "section", "tutor"]
        + ["01_module", "02_parameter", "total", "percent"],
        ["s1", "Lovelace, Ada", "ada@example.org", "101", "A", "Tom", "7", "2.5", "9.5", "63.33"],
        ["s2", 'Zoë "Z" Ström', "zoe@example.org", "102", "B", "Åsa", "10", "4.5", "14.5", "96.67"],
        ["s3", "Bob Missing", "bob@example.org", "103", "A", "Tom", "0", "0", "0", "0"],
        ["s9", "", "", "", "", "", "3", "0", "3", "20"],
    ]


def test_reports_students_off_the_roster_and_roster_students_without_grades(out):
    result = run(out, "--to", "csv", "--roster", out.parent / "roster.csv")
    assert result.stdout.strip() == str(out / "export" / "csv.csv")
    assert "1 student of grades.csv is not on the roster" in result.stderr
    assert "without name or email: s9" in result.stderr
    assert "1 student on the roster has no row in grades.csv" in result.stderr
    assert "0 for every assignment: s3" in result.stderr


def test_roster_defaults_to_out_roster_csv(out):
    shutil.copy(out.parent / "roster.csv", out / "roster.csv")
    path, notes = export(out, "canvas", output=out.parent / "to" / "canvas import.csv")
    assert path == out.parent / "to" / "canvas import.csv"
    assert [r[0] for r in read(path, bom=True)[2:]] == [
        "Lovelace, Ada",
        'Zoë "Z" Ström',
        "Bob Missing",
        "s9",
    ]
    assert len(notes) == 2


def test_without_a_roster_the_identity_comes_from_grades_csv(out):
    plain = out.parent / "plain"
    plain.mkdir()
    (plain / "grades.csv").write_text(
        "student,assignment,score,max_score,status\ns2,01_module,8,10,graded\n", encoding="utf-8"
    )
    (out / "grades.csv").write_text(
        "student,assignment,score,max_score,status,name,email,lms_id,section\n"
        "s2,01_module,8,10,graded,Zoë Ström,zoe@example.org,102,B\n",
        encoding="utf-8",
    )
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_module"]
    points = ["    Points Possible", "", "", "", "", "10", "(read only)", "(read only)"]
    for folder, student in [
        (plain, ["s2", "", "s2", "", "", "8", "8", "80"]),
        (out, ["Zoë Ström", "102", "s2", "zoe@example.org", "B", "8", "8", "80"]),
    ]:
        path, notes = export(folder, "canvas")
        assert read(path, bom=True) == [[*header, "Final Points", "Final Score"], points, student]
        assert notes == []


def test_no_grades_csv_is_a_clear_error(tmp_path):
    result = run(tmp_path, "--to", "canvas")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"export: error: no grades.csv in {tmp_path}: grade the class")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("grades", "roster", "message"),
    [
        (GRADES, "name,email\nAda,ada@example.org\n", "no 'student' column"),
        (GRADES, "student\ns1\ns2\ns1\n", "student 's1' is listed twice, on lines 2 and 4"),
        ("student,score\ns1,7\n", None, "grades.csv needs the column(s) assignment, max_score"),
        (
            GRADES.replace(",2.5,5,", ",n/a,5,"),
            None,
            "line 3: score must be a number, but got 'n/a'",
        ),
        (GRADES + "s1,,,,,01_module,8,10,graded,8,0,0\n", None, "lines 2 and 7 both grade s1"),
    ],
)
def test_malformed_input_names_file_and_line(out, grades, roster, message):
    (out / "grades.csv").write_text(grades, encoding="utf-8")
    if roster is not None:
        (out / "roster.csv").write_text(roster, encoding="utf-8")
    with pytest.raises(ExportError, match=re.escape(message)):
        export(out, "csv")


def test_a_submission_not_graded_yet_has_no_score_and_its_student_no_total(out):
    ungraded = GRADES.replace(
        "s1,,,,,02_parameter,2.5,5,graded,2.5", "s1,,,,,02_parameter,,5,ungraded,"
    )
    (out / "grades.csv").write_text(ungraded, encoding="utf-8")
    roster = out.parent / "roster.csv"
    canvas, notes = export(out, "canvas", roster=roster)
    assert read(canvas, bom=True)[2][5:] == ["7", "", "", ""]
    wide, _ = export(out, "csv", roster=roster)
    assert read(wide, bom=False)[1][6:] == ["7", "ungraded", "", ""]
    moodle, _ = export(out, "moodle", roster=roster)
    assert read(moodle, bom=True)[1] == ["ada@example.org", "7", ""]
    assert "1 submission is not graded yet" in notes[-1] and notes[-1].endswith("s1 02_parameter")


def test_numbers_are_written_as_grades_csv_writes_them(out):
    from autograder.grade import outputs

    values = [7, 2.5, 1 / 3, 90000, 1e-7, -0.0, 0.1 + 0.2, 123456.75]
    assert [_number(v) for v in values] == [outputs._number(v) for v in values]
    (out / "grades.csv").write_text(
        "student,assignment,score,max_score\ns1,01_module,0.333333,90000\n", encoding="utf-8"
    )
    path, _ = export(out, "csv")
    assert read(path, bom=False)[1][5:] == ["0.333333", "0.333333", "0"]


@pytest.mark.slow
def test_exports_what_the_grader_graded(tmp_path):
    """Three demo students graded for real; every score in the export is grades.csv's."""
    from autograder.grade.demo import write_demo_class

    submissions = tmp_path / "submitted"
    students = ["s01_correct", "s03_wrong", "s09_missing_notebook"]
    write_demo_class(submissions, only=students)
    out = tmp_path / "out"
    graded = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
        + ["--assignment", "01_module", "--cell-timeout", "10", "--budget", "60"]
        + ["--jobs", "1", "--no-progress"],
        capture_output=True,
        text=True,
        env=venv_env(),
        timeout=600,
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    with open(out / "grades.csv", newline="") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "student,name,email,lms_id\n"
        + "".join(f"{s},Name {i},{s}@example.org,{i}\n" for i, s in enumerate(students))
        + "s20_absent,Absent,absent@example.org,20\n",
        encoding="utf-8",
    )

    result = run(out, "--to", "canvas", "--roster", roster)

    assert result.returncode == 0, result.stderr
    header, points, *lines = read(out / "export" / "canvas.csv", bom=True)
    assert header[5:] == ["01_module", "Final Points", "Final Score"]
    assert points[5] == rows["s01_correct"]["max_score"]
    assert [line[2] for line in lines] == [*students, "s20_absent"]
    for line in lines[:3]:
        assert line[5] == line[6] == rows[line[2]]["score"]
    assert lines[0][7] == "100"
    assert rows["s09_missing_notebook"]["status"] == "missing" and lines[2][5] == "0"
    assert lines[3][5:] == ["0", "0", "0"]
    assert "has no row in grades.csv" in result.stderr and "s20_absent" in result.stderr
