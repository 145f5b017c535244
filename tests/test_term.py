"""A term with the batch grader: roster, due dates and late penalties, precise regrades.

One small class (three demo students on the first assignment, a fourth only on the roster) is
graded by the contract command six times in a row, as an instructor would through a term: a due
date set with ``nbgrader db assignment add --duedate``, then (after an extension for one student)
each late policy, a regrade of one student, and a later due date given with ``--due``.
Expected penalties are worked out here from the timestamps, by hand. The gradebook is read with
nbgrader's own API and ``nbgrader export``.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from autograder.course import nbgrader, stems, venv_env
from autograder.grade.deadlines import DeadlineError, Policy, parse_due, read_deadlines
from autograder.grade.demo import write_demo_class
from autograder.grade.roster import RosterError, read_roster

STEM = stems()[0]
FAST = ["--cell-timeout", "3", "--budget", "20", "--memory-mb", "512", "--no-progress"]


def in_chain(test):
    """The tests of the graded class: slow, and on one xdist worker, which grades it once."""
    return pytest.mark.slow(pytest.mark.xdist_group("term")(test))


ROSTER = """student,name,email,lms_id,section,team
s01_correct,Ada Lovelace,ada@example.org,1001,A,red
s02_partly_correct,Bo Bae,bo@example.org,1002,B,blue
r9_absent,Cy Cho,cy@example.org,1003,A,red
"""
#: 2026-12-01T23:59:00+09:00 is 14:59 UTC.
DUE = "2026-12-01T23:59:00+09:00"
DUE_UTC = datetime(2026, 12, 1, 14, 59)
TIMESTAMPS = {
    # 2 h 30 min late: 9000 s; after the first run the student is given 2 h more.
    "s01_correct": "2026-12-01 17:29:00.000000 UTC",
    "s02_partly_correct": "2026-12-03 00:59:00+09:00",  # 15:59 UTC the next day: 25 h, 90000 s
    "s03_wrong": "2026-12-01 14:00:00 UTC",  # on time
}
LATE = {"s01_correct": 9000.0, "s02_partly_correct": 90000.0, "s03_wrong": 0.0, "r9_absent": 0.0}
PER_HOUR = ["--late-policy", "per-hour", "--late-percent", "10", "--late-cap", "50"]
PER_DAY = ["--late-policy", "per-day", "--late-percent", "10", "--late-cap", "50"]


def grade(subs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out)]
    return subprocess.run(
        [*command, "--assignment", STEM, "--jobs", "1", *FAST, *extra],
        capture_output=True,
        text=True,
        env=venv_env(),
        timeout=600,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def gradebook_rows(db: Path, but: str) -> dict[str, list[tuple]]:
    """Every gradebook row of every student except ``but``: students, submissions, notebooks
    and grades, as stored."""
    others = "(SELECT id FROM submitted_assignment WHERE student_id != ?)"
    notebooks = f"(SELECT id FROM submitted_notebook WHERE assignment_id IN {others})"
    queries = {
        "student": "SELECT * FROM student WHERE id != ?",
        "submitted_assignment": "SELECT * FROM submitted_assignment WHERE student_id != ?",
        "submitted_notebook": f"SELECT * FROM submitted_notebook WHERE assignment_id IN {others}",
        "grade": f"SELECT * FROM grade WHERE notebook_id IN {notebooks}",
    }
    with sqlite3.connect(db) as connection:
        return {k: sorted(connection.execute(q, (but,)).fetchall()) for k, q in queries.items()}


def snapshot(out: Path, result: subprocess.CompletedProcess, command: bool = False) -> dict:
    """What one run left: its CSV files, the ledger, the gradebook (nbgrader's API, and its
    export: the ``nbgrader export`` command, or in this process its ``CsvExportPlugin``)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    assert result.returncode == 0, result.stdout + result.stderr
    db = out / "gradebook.db"
    export = out / "export.csv"
    if command:
        url = f"--CourseDirectory.db_url=sqlite:///{db}"
        nbgrader(out / "course", "export", url, "--to", str(export))
    else:
        with Gradebook(f"sqlite:///{db}") as gradebook:
            CsvExportPlugin(to=str(export)).export(gradebook)
    found = {"stdout": result.stdout, "ledger": (out / "ledger.jsonl").read_bytes()}
    found["grades"] = {r["student"]: r for r in read_csv(out / "grades.csv")}
    found["totals"] = {r["student"]: r for r in read_csv(out / "totals.csv")}
    found["export"] = {r["student_id"]: r for r in read_csv(export) if r["assignment"] == STEM}
    found["others"] = gradebook_rows(db, "s02_partly_correct")
    found["page"] = (out / "feedback" / "s02_partly_correct" / f"{STEM}.html").read_text()
    with Gradebook(f"sqlite:///{db}") as gradebook:
        found["duedate"] = gradebook.find_assignment(STEM).duedate
        found["gradebook"] = {}
        for student in TIMESTAMPS:
            submission = gradebook.find_submission(STEM, student)
            notebook = gradebook.find_submission_notebook("module", STEM, student)
            found["gradebook"][student] = {
                "timestamp": submission.timestamp,
                "raw": submission.score,
                "penalty": notebook.late_submission_penalty,
                "total_penalty": submission.late_submission_penalty,
            }
    return found


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> dict:
    from nbgrader.api import Gradebook

    root = tmp_path_factory.mktemp("term")
    subs, out = root / "submitted", root / "out"
    write_demo_class(subs, only=list(TIMESTAMPS))
    for student, stamp in TIMESTAMPS.items():
        (subs / student / STEM / "timestamp.txt").write_text(stamp + "\n")
    (root / "roster.csv").write_text(ROSTER, encoding="utf-8")
    # The repro: a due date set with nbgrader's own command, before any grading.
    out.mkdir()
    db = f"--CourseDirectory.db_url=sqlite:///{out / 'gradebook.db'}"
    nbgrader(root, "db", "assignment", "add", STEM, f"--duedate={DUE}", db)

    runs = {"none": grade(subs, out, "--roster", str(root / "roster.csv"))}
    runs["none"] = snapshot(out, runs["none"])
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        gradebook.grant_extension(STEM, "s01_correct", hours=2)  # 30 min late from now on
    runs["zero"] = snapshot(out, grade(subs, out, "--late-policy", "zero"))
    runs["per-hour"] = snapshot(out, grade(subs, out, *PER_HOUR))
    runs["per-day"] = snapshot(out, grade(subs, out, *PER_DAY), command=True)
    one = ["--regrade", "--student", "s02_partly_correct"]
    runs["regrade"] = snapshot(out, grade(subs, out, *one))
    later = f"{STEM}=2026-12-03T01:00:00+09:00"  # everyone is on time now
    runs["later"] = snapshot(out, grade(subs, out, "--due", later))
    return {"root": root, "out": out, "runs": runs}


def ledger_lines(run: dict) -> list[dict]:
    return [json.loads(line) for line in run["ledger"].splitlines()]


def raw(term, student: str) -> float:
    return float(term["runs"]["none"]["grades"][student]["raw_score"])


@in_chain
def test_every_roster_student_has_a_row_and_strangers_are_reported(term):
    run = term["runs"]["none"]
    grades = run["grades"]
    assert sorted(grades) == ["r9_absent", "s01_correct", "s02_partly_correct", "s03_wrong"]
    absent = grades["r9_absent"]
    assert absent["status"] == "missing" and absent["score"] == "0"
    assert absent["name"] == "Cy Cho" and absent["email"] == "cy@example.org"
    assert absent["lms_id"] == "1003" and absent["section"] == "A" and absent["team"] == "red"
    stranger = grades["s03_wrong"]
    assert stranger["status"] == "graded", "a submitter not on the roster is still graded"
    assert stranger["name"] == stranger["email"] == stranger["team"] == ""
    assert "not on the roster" in run["stdout"] and "s03_wrong" in run["stdout"]
    header = (term["out"] / "grades.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == [
        *["student", "name", "email", "lms_id", "section", "team", "assignment", "score"],
        *["max_score", "status", "raw_score", "penalty", "late_seconds", "timestamp", "duedate"],
    ]
    kept = read_csv(term["out"] / "roster.csv")
    assert [r["student"] for r in kept] == ["s01_correct", "s02_partly_correct", "r9_absent"]
    assert kept[0]["team"] == "red"
    assert "r9_absent" in run["export"], "nbgrader export lists the roster's students too"
    assert run["export"]["r9_absent"]["email"] == "cy@example.org"


@in_chain
def test_totals_have_a_row_per_student(term):
    totals = term["runs"]["none"]["totals"]
    grades = term["runs"]["none"]["grades"]
    most = float(grades["s01_correct"]["max_score"])
    assert float(totals["s01_correct"][STEM]) == float(totals["s01_correct"]["total"]) == most
    assert float(totals["s01_correct"]["percent"]) == 100
    assert float(totals["r9_absent"]["total"]) == 0 and float(totals["r9_absent"]["max"]) == most
    assert totals["r9_absent"]["name"] == "Cy Cho"
    partly = raw(term, "s02_partly_correct")
    assert 0 < partly < most
    assert float(totals["s02_partly_correct"]["percent"]) == pytest.approx(100 * partly / most)


@in_chain
def test_a_due_date_from_nbgrader_db_is_honoured(term):
    run = term["runs"]["none"]
    assert run["duedate"] == DUE_UTC
    for student, seconds in LATE.items():
        assert float(run["grades"][student]["late_seconds"]) == seconds, student
        assert run["grades"][student]["duedate"] == "2026-12-01T14:59:00+00:00"
    assert run["grades"]["s02_partly_correct"]["timestamp"] == "2026-12-02T15:59:00+00:00"
    stored = run["gradebook"]["s02_partly_correct"]["timestamp"]
    assert stored == datetime(2026, 12, 2, 15, 59)
    # Policy none: late, and no penalty; nbgrader stores None and exports 0.
    for student in TIMESTAMPS:
        assert float(run["grades"][student]["penalty"]) == 0
        assert run["gradebook"][student]["penalty"] is None
        assert float(run["export"][student]["late_submission_penalty"]) == 0
    assert raw(term, "s01_correct") == float(run["grades"]["s01_correct"]["max_score"]) > 0


def expect(term, run_name: str, penalties: dict[str, float]) -> None:
    """The penalty of each student in grades.csv, the gradebook and nbgrader export."""
    run = term["runs"][run_name]
    for student, penalty in penalties.items():
        row, stored = run["grades"][student], run["gradebook"][student]
        assert float(row["penalty"]) == pytest.approx(penalty), (run_name, student)
        assert float(row["score"]) == pytest.approx(raw(term, student) - penalty)
        assert float(row["raw_score"]) == raw(term, student)
        assert (stored["penalty"] or 0) == pytest.approx(penalty), (run_name, student)
        assert stored["total_penalty"] == pytest.approx(penalty)
        exported = run["export"][student]
        assert float(exported["late_submission_penalty"]) == pytest.approx(penalty)
        assert float(exported["score"]) == pytest.approx(raw(term, student) - penalty)
    assert run["gradebook"]["s03_wrong"]["penalty"] is None, "on time: no penalty at all"


@in_chain
def test_zero_policy(term):
    expect(term, "zero", {s: raw(term, s) for s in ("s01_correct", "s02_partly_correct")})
    assert float(term["runs"]["zero"]["grades"]["s01_correct"]["score"]) == 0


@in_chain
def test_an_extension_in_the_gradebook_moves_the_due_date(term):
    ada = term["runs"]["zero"]["grades"]["s01_correct"]
    assert float(ada["late_seconds"]) == 9000 - 2 * 3600
    assert ada["duedate"] == "2026-12-01T16:59:00+00:00"
    assert term["runs"]["zero"]["grades"]["s02_partly_correct"]["duedate"].startswith(
        "2026-12-01T14:59"
    )


@in_chain
def test_per_hour_policy(term):
    # 30 min (after the extension): one started hour, 10 %; 25 h: 250 %, capped at 50 %.
    ada, bo = raw(term, "s01_correct"), raw(term, "s02_partly_correct")
    expect(term, "per-hour", {"s01_correct": 0.1 * ada, "s02_partly_correct": 0.5 * bo})


@in_chain
def test_per_day_policy(term):
    # 30 min: one started day, 10 %; 25 h: two started days, 20 %.
    ada, bo = raw(term, "s01_correct"), raw(term, "s02_partly_correct")
    expect(term, "per-day", {"s01_correct": 0.1 * ada, "s02_partly_correct": 0.2 * bo})
    page = term["runs"]["per-day"]["page"]
    assert f"Score: {0.8 * bo:g} / " in page, "the page shows the score after the penalty"
    assert "after the due date" in page and f"late penalty {0.2 * bo:g} points" in page


@in_chain
def test_a_policy_change_regrades_only_the_late_submissions(term):
    runs = term["runs"]
    first = ledger_lines(runs["none"])
    assert len(first) == 4
    for name in ("zero", "per-hour", "per-day"):
        before = runs[{"zero": "none", "per-hour": "zero", "per-day": "per-hour"}[name]]
        assert runs[name]["ledger"].startswith(before["ledger"]), "earlier lines are kept"
        added = ledger_lines(runs[name])[len(ledger_lines(before)) :]
        assert sorted(r["student"] for r in added) == ["s01_correct", "s02_partly_correct"]


@in_chain
def test_a_regrade_of_one_student_leaves_the_others_untouched(term):
    before, after = term["runs"]["per-day"], term["runs"]["regrade"]
    assert after["ledger"].startswith(before["ledger"]), "every earlier line byte-identical"
    added = ledger_lines(after)[len(ledger_lines(before)) :]
    assert [r["student"] for r in added] == ["s02_partly_correct"]
    last = [r for r in ledger_lines(before) if r["student"] == "s02_partly_correct"][-1]
    assert added[0]["fingerprint"] == last["fingerprint"], "the same submission, graded again"
    assert after["others"] == before["others"], "the others' gradebook rows are unchanged"
    assert after["grades"] == before["grades"], "the same grades, recorded policy kept"


@in_chain
def test_a_due_date_given_with_due_recomputes_lateness(term):
    before, run = term["runs"]["regrade"], term["runs"]["later"]
    assert run["duedate"] == datetime(2026, 12, 2, 16, 0)
    added = ledger_lines(run)[len(ledger_lines(before)) :]
    assert sorted(r["student"] for r in added) == ["s01_correct", "s02_partly_correct"]
    for student in TIMESTAMPS:
        assert float(run["grades"][student]["late_seconds"]) == 0
        assert float(run["grades"][student]["score"]) == raw(term, student)
        assert run["gradebook"][student]["penalty"] is None
        assert run["export"][student]["duedate"] == "2026-12-02 16:00:00"


# --- refused before anything is graded ----------------------------------------------------


def refused(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    """A run that must stop at once: the result, and OUT_DIR as it was."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "s01" / STEM).mkdir(parents=True, exist_ok=True)
    out.mkdir(exist_ok=True)
    (out / "ledger.jsonl").write_text('{"kept": true}\n')
    result = grade(subs, out, *extra)
    assert result.returncode != 0, result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["ledger.jsonl"], "nothing was written"
    assert (out / "ledger.jsonl").read_text() == '{"kept": true}\n'
    assert "Traceback" not in result.stderr, result.stderr
    return result


ROSTERS = {
    "no_student_column": (b"id,name\ns01,Ada\n", "no 'student' column"),
    "duplicate": (b"student,name\ns01,Ada\ns02,Bo\ns01,Ada again\n", "listed twice, on lines 2"),
    "latin1": ("student,name\ns01,Zoë\n".encode("latin-1"), "line 2 is not UTF-8"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(ROSTERS))
def test_a_malformed_roster_is_refused_before_grading(tmp_path, case):
    data, message = ROSTERS[case]
    (tmp_path / "roster.csv").write_bytes(data)
    result = refused(tmp_path, "--roster", str(tmp_path / "roster.csv"))
    assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--due", f"{STEM}=2026-12-01T23:59:00"], "has no time zone"),
        (["--due", "99_nothing=2026-12-01T23:59:00Z"], "unknown assignment '99_nothing'"),
        (["--late-policy", "per-day"], "needs a positive --late-percent"),
        (["--late-percent", "10"], "need --late-policy per-hour or per-day"),
        (["--student", "nobody"], "no such student"),
    ],
)
def test_bad_term_options_are_refused_before_grading(tmp_path, extra, message):
    result = refused(tmp_path, *extra)
    assert message in result.stderr, result.stderr


# --- the pieces, without the grader ---------------------------------------------------------


def test_roster_keeps_extra_columns_and_strips_spaces(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes("\ufeffstudent , name,team\n s01 ,Zoë,red\n\ns02,Bo\n".encode())
    roster = read_roster(path)
    assert roster.students == ["s01", "s02"]
    assert roster.columns == ["student", "name", "email", "lms_id", "section", "team"]
    assert roster.fields("s01") == {
        "name": "Zoë",
        "email": "",
        "lms_id": "",
        "section": "",
        "team": "red",
    }
    assert roster.fields("stranger")["name"] == ""
    assert roster.gradebook_fields("s01") == {"first_name": "", "last_name": "Zoë"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("student\n", "no students"),
        ("Student,name\ns01,A\n", "column names are lower case"),
        ("student,name,name\ns01,A,B\n", "names column 'name' twice"),
        ("student,name\ns01,A,extra\n", "line 2 has 3 fields, the header 2"),
        ("student,name\n,A\n", "line 2 has no student id"),
        ("student\n../etc\n", "cannot be a folder name"),
        ("student,score\ns01,9\n", "column 'score' is one grades.csv or totals.csv writes"),
        (f"student,{STEM}\ns01,9\n", f"column '{STEM}' is one grades.csv"),
    ],
)
def test_roster_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RosterError, match=message.replace("(", r"\(")):
        read_roster(path)


def test_policies_by_hand():
    assert Policy().penalty(4.0, 10_000) is None
    assert Policy("zero").penalty(4.0, 1) == 4.0
    assert Policy("zero").penalty(4.0, 0) is None, "on time: no penalty"
    assert Policy("per-hour", 5).penalty(4.0, 3601) == pytest.approx(0.4)  # 2 started hours
    assert Policy("per-day", 40).penalty(4.0, 3 * 86400) == 4.0, "capped at the score"
    assert Policy("per-day", 40, 75).penalty(4.0, 3 * 86400) == 3.0
    assert Policy("per-day", 10).penalty(0.0, 86400) == 0.0, "never below zero"
    for bad in [("late",), ("per-day",), ("per-day", -1), ("per-day", 10, 120), ("zero", 10)]:
        with pytest.raises(DeadlineError):
            Policy(*bad)


def test_due_dates_need_a_zone_and_a_known_assignment(tmp_path):
    assert parse_due("2026-12-01T23:59:00+09:00", "x") == DUE_UTC
    assert parse_due("2026-12-01T14:59:00Z", "x") == DUE_UTC
    assert parse_due("none", "x") is None
    with pytest.raises(DeadlineError, match="no time zone"):
        parse_due("2026-12-01T23:59:00", "x")
    path = tmp_path / "deadlines.csv"
    path.write_text(f"assignment,duedate\n{STEM},{DUE}\n")
    assert read_deadlines(path, stems()) == {STEM: DUE_UTC}
    path.write_text(f"assignment,duedate\n{STEM},{DUE}\n{STEM},none\n")
    with pytest.raises(DeadlineError, match="line 3"):
        read_deadlines(path, stems())
