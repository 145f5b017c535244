"""Formgrader on a graded class, started by the command docs/grading.md gives.

nbgrader 0.9 has no ``nbgrader formgrader`` command: formgrader is a Jupyter server extension.
The demo class is graded on one assignment, then JupyterLab is started in ``OUT_DIR/course`` with
the documented options (plus a port, a token and no browser), and the pages and the REST API an
instructor's browser reads are fetched over HTTP and compared with grades.csv and the ledger.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from servers import formgrader

from autograder.course import REPO, venv_env
from autograder.grade.batch import NEEDS_REVIEW
from autograder.grade.demo import write_demo_class

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("formgrader")]

STEM = "01_module"
DOCS = REPO / "docs" / "grading.md"


def documented_command(course: Path) -> list[str]:
    """The ``jupyter ...`` line of the block that follows "nbgrader's own tools read the
    results", with ``$PWD`` the course folder it is run in."""
    text = DOCS.read_text()
    block = re.search(r"nbgrader's own tools read the results.*?```bash\n(.*?)```", text, re.S)
    assert block, f"{DOCS} no longer shows how nbgrader's tools read the results"
    lines = [line for line in block.group(1).splitlines() if line.startswith("jupyter ")]
    assert len(lines) == 1, f"{DOCS} should give one `jupyter ...` command for formgrader"
    return shlex.split(lines[0].replace("$PWD", str(course)), comments=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("formgrader")
    write_demo_class(folder / "submitted")
    out = folder / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(folder / "submitted")]
    command += ["--out", str(out), "--assignment", STEM, "--cell-timeout", "10", "--budget", "60"]
    result = subprocess.run(
        [*command, "--no-progress"], capture_output=True, text=True, env=venv_env(), timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "grades.csv") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle) if r["assignment"] == STEM}
    ledger = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    return {"out": out, "rows": rows, "ledger": {r["student"]: r for r in ledger}}


@pytest.fixture(scope="module")
def server(graded, tmp_path_factory):
    course = graded["out"] / "course"
    with formgrader(course, documented_command(course), tmp_path_factory.mktemp("jupyter")) as fg:
        yield fg


def submitted(graded) -> dict[str, dict]:
    """The students with a submission in the gradebook: all but the ``missing`` ones."""
    return {s: r for s, r in graded["rows"].items() if r["status"] != "missing"}


def test_the_documented_command_is_jupyter_with_the_gradebook():
    command = documented_command(Path("/course"))
    assert command[:2] == ["jupyter", "lab"]
    assert "--CourseDirectory.db_url=sqlite:////course/../gradebook.db" in command
    assert "nbgrader formgrader" not in DOCS.read_text(), "not a command in nbgrader 0.9"


def test_formgrader_lists_every_graded_submission_with_its_score(graded, server):
    listed = {s["student"]: s for s in server.json(f"/formgrader/api/submissions/{STEM}")}
    expected = submitted(graded)
    assert sorted(listed) == sorted(expected), "one submission per student who submitted"
    assert len(listed) == len(graded["rows"]) - 1, "the demo class has one missing submission"
    for student, row in expected.items():
        assert listed[student]["score"] == pytest.approx(float(row["score"])), student
        assert listed[student]["max_score"] == pytest.approx(float(row["max_score"])), student
        review = row["status"] in NEEDS_REVIEW
        assert listed[student]["needs_manual_grade"] == review, (student, row["status"])
    (assignment,) = server.json("/formgrader/api/assignments")
    full = graded["rows"]["s01_correct"]
    assert assignment["name"] == STEM
    assert assignment["max_score"] == pytest.approx(float(full["max_score"]))
    # The Manage Assignments page counts course/submitted/, which the grader fills.
    assert assignment["num_submissions"] == len(expected)


def test_the_gradebook_pages_list_the_notebooks_to_grade(graded, server):
    status, page = server.get(f"/formgrader/gradebook/{STEM}")
    assert status == 200 and f'var assignment_id = "{STEM}";' in page
    (notebook,) = server.json(f"/formgrader/api/notebooks/{STEM}")
    assert notebook["num_submissions"] == len(submitted(graded))
    status, page = server.get(f"/formgrader/gradebook/{STEM}/{notebook['name']}")
    assert status == 200 and f'var notebook_id = "{notebook["name"]}";' in page
    listed = server.json(f"/formgrader/api/submitted_notebooks/{STEM}/{notebook['name']}")
    autograded = graded["out"] / "course" / "autograded"
    name = f"{notebook['name']}.ipynb"
    on_disk = {s for s in graded["rows"] if (autograded / s / STEM / name).is_file()}
    assert {s["student"] for s in listed} == on_disk, "each autograded notebook, to grade by hand"
    readable = {s for s, r in submitted(graded).items() if r["status"] != "unreadable"}
    assert readable <= on_disk


def test_a_submission_page_shows_the_notebook_and_the_grades_add_up(graded, server):
    student = "s02_partly_correct"
    row = graded["rows"][student]
    assert 0 < float(row["score"]) < float(row["max_score"]), "a submission with partial credit"
    (notebook,) = server.json(f"/formgrader/api/notebooks/{STEM}")
    listed = server.json(f"/formgrader/api/submitted_notebooks/{STEM}/{notebook['name']}")
    (submission,) = [s for s in listed if s["student"] == student]
    assert submission["score"] == pytest.approx(float(row["score"]))

    status, page = server.get(f"/formgrader/submissions/{submission['id']}/")
    assert status == 200, page[:2000]
    grades = server.json(f"/formgrader/api/grades?submission_id={submission['id']}")
    ledger = graded["ledger"][student]["notebooks"][f"{notebook['name']}.ipynb"]["scores"]
    assert {g["name"]: g["auto_score"] for g in grades} == pytest.approx(ledger)
    assert sum(g["auto_score"] for g in grades) == pytest.approx(float(row["score"]))
    for grade in grades:
        assert f'id="{grade["name"]}"' in page, f"the page has a score field for {grade['name']}"
    assert student in page
