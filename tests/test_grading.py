"""The batch grader, end to end on the generated demo class: one test per misbehaviour.

The class is graded once by the contract command (``python -m autograder grade``); the tests
read its gradebook, grades.csv, feedback pages, histogram and autograded notebooks. Scores of
honest submissions are compared with plain ``nbgrader autograde`` run on the same files.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import solution_cells
from nbgrader.api import Gradebook

from autograder.course import REPO, fill_in, nbgrader, stems, venv_env
from autograder.grade.compare import nbgrader_autograde
from autograder.grade.demo import HONEST, write_demo_class
from autograder.grade.outputs import CSV_COLUMNS
from autograder.grade.submissions import STATUSES

# One xdist worker runs the whole file, so the class is graded once per test session.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading")]

STEM = stems()[0]
FAST = ["--cell-timeout", "3", "--budget", "20", "--memory-mb", "512", "--no-progress"]


def grade(submissions: Path, out: Path, *extra: str, **popen) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
    return subprocess.run(
        [*command, "--assignment", STEM, *FAST, *extra],
        capture_output=True,
        text=True,
        env=venv_env(),
        timeout=600,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "submitted"
    write_demo_class(folder)
    return folder


@pytest.fixture(scope="module")
def graded(demo, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("graded")
    result = grade(demo, out)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "out": out,
        "stdout": result.stdout,
        "rows": {r["student"]: r for r in rows if r["assignment"] == STEM},
        "all_rows": rows,
        "sandbox": json.loads((out / "sandbox.json").read_text()),
    }


def row(graded, student: str) -> dict:
    return graded["rows"][student]


def score(graded, student: str) -> float:
    return float(row(graded, student)["score"])


def autograded(graded, student: str) -> list[nbformat.NotebookNode]:
    folder = graded["out"] / "course" / "autograded" / student / STEM
    return [nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))]


def all_outputs(graded, student: str) -> str:
    text = []
    for notebook in autograded(graded, student):
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                text += [output.get("text", ""), output.get("ename", ""), output.get("evalue", "")]
    return "\n".join(text)


def needs_sandbox(graded) -> None:
    if not (graded["sandbox"]["network"] and graded["sandbox"]["filesystem"]):
        pytest.skip("the sandbox is unavailable here (not root / no namespaces)")


def test_cells_run_as_a_kernel_runs_them():
    """Annotations are evaluated at definition, the last expression is the result, stderr counts."""
    from autograder.grade.student import run_cell

    namespace: dict = {}
    status, outputs = run_cell("def f(x: not_defined): pass", namespace, 5, "<cell>")
    assert status == "error" and outputs[-1]["ename"] == "NameError"
    status, outputs = run_cell("import sys\nprint('e', file=sys.stderr)\n1 + 1", namespace, 5, "c")
    assert status == "ok"
    assert {"output_type": "stream", "name": "stderr", "text": "e\n"} in outputs
    assert outputs[-1]["data"]["text/plain"] == "2"


def test_csv_has_one_row_per_student_and_assignment(graded, demo):
    students = sorted(p.name for p in demo.iterdir())
    assert [r["student"] for r in graded["all_rows"]] == students
    assert list(graded["all_rows"][0]) == list(CSV_COLUMNS), "the columns of docs/grading.md"
    assert all(r["status"] in STATUSES for r in graded["all_rows"])
    assert "mean %" in graded["stdout"] and STEM in graded["stdout"]


def test_honest_students(graded):
    full = row(graded, "s01_correct")
    assert full["status"] == "graded" and float(full["score"]) == float(full["max_score"]) > 0
    assert 0 < score(graded, "s02_partly_correct") < float(full["max_score"])
    assert score(graded, "s03_wrong") < float(full["max_score"])
    assert row(graded, "s03_wrong")["status"] == "graded"


def test_gradebook_holds_the_csv_scores_and_nbgrader_export_reads_them(graded):
    out = graded["out"]
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        for student, r in graded["rows"].items():
            if r["status"] == "missing":
                continue
            submission = gradebook.find_submission(STEM, student)
            assert submission.score == pytest.approx(float(r["score"])), student
        unreadable = gradebook.find_submission(STEM, "s08_corrupt_json")
        assert unreadable.needs_manual_grade, "an unreadable notebook is flagged for review"
    db = f"--CourseDirectory.db_url=sqlite:///{out / 'gradebook.db'}"
    nbgrader(out / "course", "export", db, "--to", str(out / "export.csv"))
    with open(out / "export.csv") as handle:
        exported = {r["student_id"]: r for r in csv.DictReader(handle) if r["assignment"] == STEM}
    assert float(exported["s01_correct"]["raw_score"]) == score(graded, "s01_correct")


def test_scores_equal_plain_nbgrader_autograde(graded, demo, tmp_path):
    """Honest submissions score the same; the cheats nbgrader pays for earn nothing here."""
    cheats = ["s12_patches_checks", "s17_reads_solutions"]
    theirs, _ = nbgrader_autograde(demo, [*HONEST, *cheats], [STEM], tmp_path)
    for student in HONEST:
        assert theirs[(student, STEM)] == pytest.approx(score(graded, student)), student
    for student in cheats:
        assert theirs[(student, STEM)] > 0, f"{student} should fool plain nbgrader"
        assert score(graded, student) == 0
        assert row(graded, student)["status"] in ("review", "graded")


def test_correct_answers_get_full_marks_in_every_assignment(tmp_path):
    """No false alarm in any chapter: the instructor's answers are graded, in full, untampered."""
    demo = tmp_path / "submitted"
    write_demo_class(demo, only=["s01_correct", "s19_explores_torch"])
    command = [sys.executable, "-m", "autograder", "grade", str(demo), "--out", str(tmp_path / "o")]
    # Time limits are not what this test is about: a loaded machine must not turn a slow
    # correct answer into a timeout here.
    roomy = ["--cell-timeout", "60", "--budget", "300", "--no-progress"]
    result = subprocess.run([*command, *roomy], capture_output=True, text=True, env=venv_env())
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "o" / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["assignment"] for r in rows] == stems() * 2
    for r in rows:
        assert r["status"] == "graded", r
        assert float(r["score"]) == float(r["max_score"]) > 0, r


def test_a_loop_beside_a_crashing_student_is_timed_out_not_killed(tmp_path):
    """Regression: a worker killed by one student's garbage on the result channel was replaced
    with a live worker's uid range, and its clean-up killed the other's looping student
    (graded kernel_died after warm-up plus one notebook, ~9-32 s, instead of timed_out)."""
    release = nbformat.read(REPO / "notebooks" / STEM / "module.ipynb", as_version=4)
    first = next(c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution"))
    first_id = first.metadata["nbgrader"]["grade_id"]
    answers = {
        # fd 3 is the channel now, 211 was the old design's result pipe.
        "a_garbage": "import os\nfor fd in (3, 211):\n    try:\n"
        '        os.write(fd, b"[" * 200000 + b"\\n")\n    except OSError:\n        pass',
        "b_loop": "while True:\n    pass",
        "c_exit": "import os\nos._exit(0)",
    }
    for student, code in answers.items():
        folder = tmp_path / "subs" / student / STEM
        folder.mkdir(parents=True)
        nbformat.write(fill_in(release, {first_id: code}), str(folder / "module.ipynb"))
    command = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "subs")]
    command += ["--out", str(tmp_path / "out"), "--assignment", STEM, "--jobs", "2"]
    command += ["--cell-timeout", "20", "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, env=venv_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "out" / "grades.csv") as handle:
        statuses = {r["student"]: r["status"] for r in csv.DictReader(handle)}
    assert statuses == {"a_garbage": "tampered", "b_loop": "timed_out", "c_exit": "kernel_died"}


def test_infinite_loop_times_out_and_the_rest_is_graded(graded):
    assert row(graded, "s04_infinite_loop")["status"] == "timed_out"
    assert "CellTimeout" in all_outputs(graded, "s04_infinite_loop")
    assert score(graded, "s04_infinite_loop") == score(graded, "s01_correct")


@pytest.mark.parametrize("student", ["s05_os_exit", "s06_segfault"])
def test_a_dying_kernel_scores_zero_for_what_did_not_run(graded, student):
    assert row(graded, student)["status"] == "kernel_died"
    assert score(graded, student) == 0
    assert "NotRun" in all_outputs(graded, student)


def test_memory_blowup_hits_the_cap_not_the_machine(graded):
    assert "memory cap was reached" in all_outputs(graded, "s07_memory_blowup")
    assert row(graded, "s07_memory_blowup")["status"] == "graded"


def test_corrupt_and_missing_notebooks_are_reported_not_silent_zeros(graded):
    assert row(graded, "s08_corrupt_json")["status"] == "unreadable"
    assert row(graded, "s09_missing_notebook")["status"] == "missing"
    page = (graded["out"] / "feedback" / "s08_corrupt_json" / f"{STEM}.html").read_text()
    assert "not a readable notebook" in page


@pytest.mark.parametrize("student", ["s10_edited_grade_cells", "s11_deleted_grade_cell"])
def test_edited_or_deleted_grade_cells_are_restored_and_flagged(graded, student):
    assert row(graded, student)["status"] == "tampered"
    assert score(graded, student) == 0, "the restored checks fail the unanswered exercises"
    sources = {c.source for c in solution_cells(STEM) if c.metadata["nbgrader"].get("grade")}
    ran = {c.source for nb in autograded(graded, student) for c in nb.cells}
    assert sources <= ran, "every original grade cell, hidden tests included, was run"


@pytest.mark.parametrize(
    "student",
    ["s12_patches_checks", "s13_patches_torch", "s14_patches_builtins", "s16_patches_tensor_class"],
)
def test_patching_the_grader_earns_nothing(graded, student):
    """Patches change only the student's own process: the judge never ran their code."""
    assert score(graded, student) == 0
    assert row(graded, student)["status"] in ("graded", "review")


def test_code_that_reaches_the_grader_is_sent_for_review(graded):
    assert row(graded, "s12_patches_checks")["status"] == "review"
    page = (graded["out"] / "feedback" / "s12_patches_checks" / f"{STEM}.html").read_text()
    assert "needs review" in page and "autograder" in page


def test_always_equal_results_earn_no_points_for_the_lie(graded):
    assert score(graded, "s15_always_equal") < float(row(graded, "s01_correct")["max_score"])
    if STEM == "01_module":
        assert score(graded, "s15_always_equal") == 0
    # A tensor subclass overriding __torch_function__ is process-wide interception: refused
    # before any comparison (and it never crosses the boundary as a tensor).
    assert row(graded, "s15_always_equal")["status"] == "review"
    assert "__torch_function__" in all_outputs(graded, "s15_always_equal")


def test_student_code_cannot_read_solutions(graded):
    needs_sandbox(graded)
    assert "could not read" in all_outputs(graded, "s17_reads_solutions")


def test_student_code_has_no_network_and_writes_nowhere(graded):
    needs_sandbox(graded)
    text = all_outputs(graded, "s18_network_and_writes")
    assert "network: blocked" in text and "network: reachable" not in text
    assert "wrote " not in text and text.count("write blocked") == 2
    assert not (REPO / "ESCAPED.txt").exists()


def hidden_lines(stem: str) -> set[str]:
    found = set()
    for cell in solution_cells(stem):
        inside = False
        for line in cell.source.splitlines():
            if line.strip() == "### END HIDDEN TESTS":
                inside = False
            if inside and line.strip():
                found.add(line.strip())
            if line.strip() == "### BEGIN HIDDEN TESTS":
                inside = True
    return found


def test_feedback_shows_the_checks_but_never_hidden_test_code(graded):
    hidden = hidden_lines(STEM)
    assert hidden
    pages = sorted((graded["out"] / "feedback").rglob("*.html"))
    assert len(pages) == len(graded["rows"])
    for page in pages:
        text = page.read_text()
        assert "Score:" in text
        for line in hidden:
            assert line not in text, f"{page} shows hidden test code {line!r}"
    correct = (graded["out"] / "feedback" / "s01_correct" / f"{STEM}.html").read_text()
    visible = [
        c.source.splitlines()[1]
        for c in solution_cells(STEM)
        if c.metadata["nbgrader"].get("grade")
    ]
    assert all(line in correct for line in visible), "the visible part of each check is shown"


def test_histogram_is_a_real_plot(graded):
    import matplotlib.image

    image = matplotlib.image.imread(graded["out"] / "histogram.png")
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0.05, "the histogram has bars, not a blank canvas"


RESUME = [*HONEST, "s05_os_exit", "s08_corrupt_json", "s09_missing_notebook", "s13_patches_torch"]
RESUME += ["s10_edited_grade_cells", "s11_deleted_grade_cell", "s15_always_equal"]


def test_a_killed_batch_resumes_without_losing_or_repeating(graded, tmp_path):
    demo = tmp_path / "submitted"
    write_demo_class(demo, only=RESUME)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(demo), "--out", str(out)]
    command += ["--assignment", STEM, "--jobs", "1", *FAST]
    first = subprocess.Popen(
        command, env=venv_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ledger = out / "ledger.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if ledger.exists() and len(ledger.read_text().splitlines()) >= 6:
            break
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    before = len(ledger.read_text().splitlines())
    assert 6 <= before < len(RESUME), "the batch was stopped midway"

    result = grade(demo, out)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    keys = [(r["student"], r["assignment"]) for r in lines]
    assert len(keys) == len(set(keys)) == len(RESUME), "each submission graded once"
    with open(out / "grades.csv") as handle:
        resumed = {r["student"]: r for r in csv.DictReader(handle)}
    for student in HONEST:
        assert resumed[student]["score"] == graded["rows"][student]["score"]
    assert {s: r["status"] for s, r in resumed.items()} == {
        s: graded["rows"][s]["status"] for s in RESUME
    }
