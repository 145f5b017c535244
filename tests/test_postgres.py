"""The demo class graded into PostgreSQL, on a server the test session starts for itself.

The same class is graded into SQLite and into PostgreSQL (``--db postgresql://...``); both must
give the same grades.csv, the same scores in the gradebook (read back with nbgrader's
``Gradebook``), the same ``nbgrader export`` and the same ``python -m autograder export``.
Grading the PostgreSQL run again grades nothing and changes nothing, and formgrader reads the
PostgreSQL gradebook. Without PostgreSQL's server binaries the tests are skipped, except on CI,
where they fail (see tests/servers.py).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from servers import formgrader, postgres

from autograder.course import nbgrader, stems, venv_env
from autograder.grade.demo import write_demo_class

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("postgres")]

# Every student of the demo class, on three of the eight assignments (the first, the last and
# one between): the whole course would take two runs of about two minutes each on a 2-core
# machine. A cell timeout of 10 s keeps statuses independent of the machine's load (the memory
# blow-up reaches its cap in time), so that the two runs can be compared.
ASSIGNMENTS = ["01_module", "05_dataset", "08_training"]
LIMITS = ["--cell-timeout", "10", "--budget", "60", "--memory-mb", "512", "--no-progress"]


def grade(submissions: Path, out: Path, *db: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
    for stem in ASSIGNMENTS:
        command += ["--assignment", stem]
    result = subprocess.run(
        [*command, *LIMITS, *db], capture_output=True, text=True, env=venv_env(), timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def snapshot(db_url: str) -> dict:
    """Every submission in a gradebook, with its scores, flags and row ids."""
    found = {}
    with Gradebook(db_url) as gradebook:
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                grades = {
                    (notebook.name, grade.name): {
                        "id": grade.id,
                        "auto_score": grade.auto_score,
                        "manual_score": grade.manual_score,
                        "needs_manual_grade": grade.needs_manual_grade,
                    }
                    for notebook in submission.notebooks
                    for grade in notebook.grades
                }
                found[(assignment.name, submission.student.id)] = {
                    "id": submission.id,
                    "score": submission.score,
                    "max_score": submission.max_score,
                    "needs_manual_grade": submission.needs_manual_grade,
                    "timestamp": submission.timestamp,
                    "grades": grades,
                }
    return found


def without_ids(found: dict) -> dict:
    """A snapshot without row ids (random per gradebook) for comparing two gradebooks."""
    return {
        key: {
            **{k: v for k, v in entry.items() if k != "id"},
            "grades": {
                g: {k: v for k, v in grade.items() if k != "id"}
                for g, grade in entry["grades"].items()
            },
        }
        for key, entry in found.items()
    }


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An empty database on a PostgreSQL server started for this test session."""
    with postgres() as url:
        yield url


@pytest.fixture(scope="module")
def graded(postgres_url, tmp_path_factory) -> dict:
    assert set(ASSIGNMENTS) <= set(stems()), f"{ASSIGNMENTS} are not all in {stems()}"
    folder = tmp_path_factory.mktemp("postgres")
    submissions = folder / "submitted"
    write_demo_class(submissions)
    sqlite, postgres = folder / "sqlite", folder / "postgres"
    grade(submissions, sqlite)
    grade(submissions, postgres, "--db", postgres_url)
    return {
        "submissions": submissions,
        "sqlite": sqlite,
        "sqlite_url": f"sqlite:///{sqlite / 'gradebook.db'}",
        "postgres": postgres,
        "postgres_url": postgres_url,
    }


def test_grades_csv_is_the_same_as_with_sqlite(graded):
    theirs = (graded["sqlite"] / "grades.csv").read_text()
    ours = (graded["postgres"] / "grades.csv").read_text()
    assert ours == theirs
    with open(graded["postgres"] / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    students = sorted(p.name for p in graded["submissions"].iterdir())
    assert len(rows) == len(students) * len(ASSIGNMENTS), "the whole class, every assignment"
    assert not (graded["postgres"] / "gradebook.db").exists(), "no SQLite gradebook beside it"


def test_gradebook_scores_are_the_same_as_with_sqlite(graded):
    theirs = snapshot(graded["sqlite_url"])
    ours = snapshot(graded["postgres_url"])
    assert without_ids(ours) == without_ids(theirs)
    with open(graded["postgres"] / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    submitted = [r for r in rows if r["status"] != "missing"]
    assert len(ours) == len(submitted)
    for row in submitted:
        entry = ours[(row["assignment"], row["student"])]
        assert entry["score"] == pytest.approx(float(row["score"])), row
        assert entry["max_score"] == pytest.approx(float(row["max_score"])), row


def test_nbgrader_export_is_the_same_as_with_sqlite(graded, tmp_path):
    exported = {}
    for name in ("sqlite", "postgres"):
        target = tmp_path / f"{name}.csv"
        db = f"--CourseDirectory.db_url={graded[f'{name}_url']}"
        nbgrader(graded[name] / "course", "export", db, "--to", str(target))
        exported[name] = target.read_text()
    assert exported["postgres"] == exported["sqlite"]
    assert exported["postgres"].count("\n") > len(ASSIGNMENTS)


def test_the_csv_export_is_the_same_as_with_sqlite(graded, tmp_path):
    exported = {}
    for name in ("sqlite", "postgres"):
        target = tmp_path / f"{name}.csv"
        command = [sys.executable, "-m", "autograder", "export", str(graded[name])]
        command += ["--to", "csv", "--output", str(target)]
        result = subprocess.run(command, capture_output=True, text=True, env=venv_env())
        assert result.returncode == 0, result.stdout + result.stderr
        exported[name] = target.read_text()
    assert exported["postgres"] == exported["sqlite"]
    students = sorted(p.name for p in graded["submissions"].iterdir())
    assert exported["postgres"].count("\n") == len(students) + 1, "a header, a row per student"


def test_resuming_grades_nothing_and_changes_nothing(graded):
    out = graded["postgres"]
    release = out / "course" / "release"
    files = [out / "ledger.jsonl", out / "grades.csv"]

    def state() -> tuple:
        mtimes = {p: p.stat().st_mtime_ns for p in sorted(release.rglob("*"))}
        return snapshot(graded["postgres_url"]), [p.read_bytes() for p in files], mtimes

    before = state()
    grade(graded["submissions"], out, "--db", graded["postgres_url"])
    after = state()
    assert after[1][0] == before[1][0], "the ledger grew: a submission was graded again"
    assert after[1][1] == before[1][1], "grades.csv changed"
    assert after[2] == before[2], "the assignments were generated again"
    assert after[0] == before[0], "the gradebook changed"


def test_formgrader_reads_the_postgresql_gradebook(graded, tmp_path):
    with open(graded["sqlite"] / "grades.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["status"] != "missing"]
    command = ["jupyter", "lab", f"--CourseDirectory.db_url={graded['postgres_url']}"]
    with formgrader(graded["postgres"] / "course", command, tmp_path) as server:
        for stem in ASSIGNMENTS:
            listed = {
                s["student"]: s["score"] for s in server.json(f"/formgrader/api/submissions/{stem}")
            }
            expected = {r["student"]: float(r["score"]) for r in rows if r["assignment"] == stem}
            assert listed == pytest.approx(expected), stem
