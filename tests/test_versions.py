"""Changing an exercise during the term: students of an earlier release are graded against it.

A copy of 01_module's source gets a third exercise (a solution cell and a grade cell calling an
existing check); both versions are released with nbgrader, and students are made from each
release with the instructor's answers. The real grader (``python -m autograder grade``, pointed
at the copy) grades them: with the first version, then, in the same OUT_DIR, with the second
(nbgrader refuses; the message says why and what to run; after it, the old release's students
are graded against the version OUT_DIR kept), and in a fresh OUT_DIR (the first version is
found in git). A student who really edited a locked cell is still ``tampered``. The in-process
tests read the same releases with :func:`restore_locked_cells` directly.
"""

from __future__ import annotations

import copy
import csv
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.course import REPO, SOLUTIONS, answers, fill_in, venv_env
from autograder.grade import assignments
from autograder.grade.assignments import (
    Assignment,
    Release,
    as_released,
    definition,
    generate_assignment,
)
from autograder.grade.submissions import OWN, judge_cells, restore_locked_cells
from autograder.release import with_shared_cells

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("versions")]

STEM, NAME = "01_module", "module.ipynb"
NEW = ("01_module_deep_task", "01_module_deep", "01_module_deep_test")
FAST = ["--cell-timeout", "3", "--budget", "20", "--memory-mb", "512", "--no-progress"]

# The grader with the course's solutions/ and notebooks/ moved to the folder in argv[1].
GRADER = """\
import sys
from pathlib import Path

from autograder import course

root = Path(sys.argv[1])
course.SOLUTIONS, course.NOTEBOOKS = root / "solutions", root / "notebooks"
from autograder.grade.cli import main

sys.exit(main(sys.argv[2:]))
"""


def _cell(kind: str, source: str, grade_id: str, **flags) -> nbformat.NotebookNode:
    meta = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3}
    meta |= {"solution": False, "task": False, **flags}
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source, metadata={"nbgrader": meta})
    cell.id = grade_id
    return cell


def with_third_exercise(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """01_module's source with Exercise 3 before the summary cell, shared cells renewed."""
    exercise = [
        _cell(
            "markdown", "## Exercise 3: `DeepMLP` (1 point)\n\nSubclass `MLP`.", NEW[0], locked=True
        ),
        _cell(
            "code",
            '### BEGIN SOLUTION\nclass DeepMLP(MLP):\n    """An MLP."""\n### END SOLUTION',
            NEW[1],
            solution=True,
        ),
        _cell(
            "code",
            '"""DeepMLP is an MLP too."""\nchecks.check_mlp_hidden(DeepMLP)',
            NEW[2],
            grade=True,
            locked=True,
            points=1,
        ),
    ]
    source.cells[-1:-1] = exercise
    return with_shared_cells(source, STEM)


def release_of(source: nbformat.NotebookNode, scratch: Path) -> nbformat.NotebookNode:
    """The student notebook nbgrader generates from ``source``."""
    course = scratch / "course"
    (course / "solutions" / STEM).mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    nbformat.write(source, course / "solutions" / STEM / NAME)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", venv_env()["PATH"])  # nbgrader's gradebook runs `alembic`
        generate_assignment(course, f"sqlite:///{scratch}/gradebook.db", STEM)
    return nbformat.read(course / "release" / STEM / NAME, as_version=4)


def write_version(root: Path, source, release) -> None:
    for folder, notebook in (("solutions", source), ("notebooks", release)):
        (root / folder / STEM).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, root / folder / STEM / NAME)


def git(root: Path, *args: str) -> None:
    who = ["-c", "user.name=Instructor", "-c", "user.email=i@example.org"]
    subprocess.run(["git", "-C", str(root), *who, *args], check=True, capture_output=True)


def edited(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    """``notebook`` with one locked cell rewritten by hand (its nbgrader checksum kept)."""
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = "assert True"
    return notebook


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> dict:
    """Two versions of 01_module, released; a git repository holding both; three students."""
    tmp = tmp_path_factory.mktemp("versions")
    old_source = nbformat.read(SOLUTIONS / STEM / NAME, as_version=4)
    old_release = release_of(old_source, tmp / "old")
    new_source = with_third_exercise(nbformat.read(SOLUTIONS / STEM / NAME, as_version=4))
    new_release = release_of(new_source, tmp / "new")

    write_version(tmp / "first", old_source, old_release)
    repo = tmp / "repo"
    write_version(repo, old_source, old_release)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "01_module as released first")
    write_version(repo, new_source, new_release)
    git(repo, "commit", "-q", "-am", "01_module: Exercise 3")

    submitted = tmp / "submitted"
    students = {
        "old_release": fill_in(old_release, answers(old_source)),
        "new_release": fill_in(new_release, answers(new_source)),
        "old_release_edited": edited(
            fill_in(old_release, answers(old_source)), "01_module_mlp_test"
        ),
    }
    for student, notebook in students.items():
        (submitted / student / STEM).mkdir(parents=True)
        nbformat.write(notebook, submitted / student / STEM / NAME)
    return {
        "tmp": tmp,
        "first": tmp / "first",
        "repo": repo,
        "submitted": submitted,
        "students": students,
        "old": definition(NAME, old_source, old_release),
        "new": definition(NAME, new_source, new_release),
    }


def grade(root: Path, submitted: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", GRADER, str(root), "grade", str(submitted), "--out", str(out)]
    return subprocess.run(
        [*command, "--assignment", STEM, *FAST],
        capture_output=True,
        text=True,
        env=venv_env(),
        timeout=600,
        cwd=REPO,
    )


def results(out: Path) -> dict[str, dict]:
    """Per student: the grades.csv row and the ledger's notes and scores of the notebook."""
    with open(out / "grades.csv") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    for line in (out / "ledger.jsonl").read_text().splitlines():
        entry = json.loads(line)
        rows[entry["student"]] |= {
            "notes": entry["notebooks"][NAME]["notes"],
            "scores": entry["notebooks"][NAME]["scores"],
        }
    return rows


@pytest.fixture(scope="module")
def same_out(term) -> dict:
    """Graded with the first version, then with the second into the same OUT_DIR: refused;
    then the command the refusal names, then graded again."""
    out = term["tmp"] / "graded"
    first = grade(term["first"], term["submitted"], out)
    assert first.returncode == 0, first.stdout + first.stderr
    before = results(out)
    refused = grade(term["repo"], term["submitted"], out)
    command = next(
        line.strip() for line in refused.stderr.splitlines() if "nbgrader db assignment" in line
    )
    removed = subprocess.run(
        [sys.executable, "-m", *shlex.split(command)],
        capture_output=True,
        text=True,
        env=venv_env(),
        cwd=term["tmp"],
    )
    assert removed.returncode == 0, removed.stdout + removed.stderr
    again = grade(term["repo"], term["submitted"], out)
    assert again.returncode == 0, again.stdout + again.stderr
    return {"out": out, "before": before, "refused": refused, "after": results(out)}


@pytest.fixture(scope="module")
def fresh_out(term) -> dict:
    out = term["tmp"] / "fresh"
    done = grade(term["repo"], term["submitted"], out)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"out": out, "rows": results(out)}


def test_first_version_grades_both_releases_without_a_false_flag(same_out):
    before = same_out["before"]
    assert before["old_release"]["status"] == "graded"
    assert float(before["old_release"]["score"]) == float(before["old_release"]["max_score"]) == 5
    # A newer release than the grader's source: its new cells are the student's to keep, its
    # changed setup cell carries nbgrader's checksum, so it is named, not flagged.
    newer = before["new_release"]
    assert newer["status"] == "graded" and float(newer["score"]) == 5, newer
    assert any("release the grader has not seen" in note for note in newer["notes"])
    assert before["old_release_edited"]["status"] == "tampered"


def test_nbgrader_refusal_names_the_cause_and_the_way(same_out):
    refused = same_out["refused"]
    assert refused.returncode != 0
    message = refused.stderr
    assert "Traceback" not in message and "Please see the" not in message
    assert "nbgrader cannot add or remove the cells of an assignment" in message
    assert "already has submissions" in message and "holds 3" in message
    assert f"module.ipynb adds cells {', '.join(sorted(NEW))}" in message
    assert "--out NEW_DIR" in message and "course/versions" in message
    assert f"nbgrader db assignment remove {STEM} --force" in message
    assert "nothing was entered by hand" in message
    assert "Changing an exercise during the term" in message


def test_old_release_graded_against_the_kept_version(same_out):
    old = same_out["after"]["old_release"]
    assert old["status"] == "graded", old["notes"]
    assert float(old["score"]) == 5 and float(old["max_score"]) == 6
    assert old["scores"] == {"01_module_my_linear_test": 3.0, "01_module_mlp_test": 2.0}
    (note,) = old["notes"]
    assert "the version graded from" in note and "its locked cells match it" in note
    assert "01_module_deep_test (1 point)" in note
    with Gradebook(f"sqlite:///{same_out['out']}/gradebook.db") as gradebook:
        grade = gradebook.find_grade("01_module_deep_test", "module", STEM, "old_release")
        assert grade.auto_score is None and grade.needs_manual_grade  # for formgrader to decide
        assert gradebook.find_submission(STEM, "old_release").score == 5


def test_new_release_and_a_real_edit_after_the_change(same_out):
    after = same_out["after"]
    assert after["new_release"]["status"] == "graded"
    assert float(after["new_release"]["score"]) == float(after["new_release"]["max_score"]) == 6
    assert after["new_release"]["notes"] == []
    edited_one = after["old_release_edited"]
    assert edited_one["status"] == "tampered"
    locked = [note for note in edited_one["notes"] if note.startswith("locked cell")]
    assert locked == ["locked cell 01_module_mlp_test was edited; the original was restored"]
    assert float(edited_one["score"]) == 5, "the restored check scores the old release's answer"


def test_fresh_out_dir_finds_the_old_release_in_git(fresh_out):
    rows = fresh_out["rows"]
    old = rows["old_release"]
    assert old["status"] == "graded" and float(old["score"]) == 5, old["notes"]
    assert "the release of commit" in old["notes"][0]
    assert rows["new_release"]["status"] == "graded"
    assert rows["old_release_edited"]["status"] == "tampered"


def test_the_feedback_page_says_what_was_not_in_the_release(same_out):
    page = (same_out["out"] / "feedback" / "old_release" / f"{STEM}.html").read_text()
    assert "Score: 5 / 6" in page
    assert "Check 01_module_deep_test: 0 / 1" in page
    assert "is not in the release of this assignment that this" in page


# --- in process: restore_locked_cells on the same releases ---------------------------------


def assignment(term, *others: str) -> Assignment:
    releases = [Release(f"id-{name}", f"release {name}", "", {NAME: term[name]}) for name in others]
    found = Assignment(STEM, {NAME: term["new"]}, "id-new")
    found._releases = releases
    return found


def grade_ids(notebook) -> list[str]:
    return [c.metadata.get("nbgrader", {}).get("grade_id", "") for c in notebook.cells]


def test_old_release_restored_from_its_cells_with_the_new_check_unrun(term):
    restored = restore_locked_cells(term["students"]["old_release"], assignment(term, "old"), NAME)
    assert restored.notes == [] and restored.release.id == "id-old"
    ids = grade_ids(restored.notebook)
    assert ids.index("01_module_deep_test") == ids.index("01_module_mlp_test") + 1
    assert "01_module_deep_task" not in ids and "01_module_deep" not in ids
    placeholder = restored.notebook.cells[ids.index("01_module_deep_test")]
    assert placeholder.metadata[OWN] == {"not_in_release": True}
    kinds = {c.index: c.kind for c in judge_cells(restored.notebook, restored.definition)}
    assert kinds[ids.index("01_module_deep_test")] == "code", "nothing of it is run as a check"
    install = restored.notebook.cells[ids.index("01_module_install")]
    assert install.source == term["old"].cells["01_module_install"].source


def test_a_check_seen_unchanged_runs_as_it_is_now(term):
    """A corrected hidden test applies to every student; a changed visible test only to those
    who were shown it."""
    given = copy.deepcopy(term["old"])
    hidden = given.cells["01_module_mlp_test"]
    hidden.source = hidden.source.replace("check_mlp_hidden(MLP)", "check_mlp(MLP)")
    shown = given.cells["01_module_my_linear_test"]
    shown.release = shown.source = shown.source.replace("MyLinear has", "MyLinear keeps")
    shown.points = 7.0
    merged = as_released(term["new"], given)
    assert (
        merged.cells["01_module_mlp_test"].source == term["new"].cells["01_module_mlp_test"].source
    )
    assert merged.cells["01_module_my_linear_test"].source == shown.source
    assert merged.cells["01_module_my_linear_test"].points == 3.0, "the current points"
    assert merged.max_score == term["new"].max_score


def test_grader_marks_in_a_submission_are_dropped(term):
    notebook = copy.deepcopy(term["students"]["new_release"])
    for cell in notebook.cells:
        cell.metadata[OWN] = {"not_in_release": True}
    restored = restore_locked_cells(notebook, assignment(term, "old"), NAME)
    assert restored.release is None and restored.notes == []
    assert not any(OWN in cell.metadata for cell in restored.notebook.cells)


def test_unknown_release_is_named_not_flagged_but_an_edit_is(term):
    """Without the old release, its setup cell still carries nbgrader's checksum of its text."""
    honest = restore_locked_cells(term["students"]["old_release"], assignment(term), NAME)
    assert honest.release is None and honest.notes == []
    assert "01_module_install" in honest.about and "checksums match" in honest.about
    assert "01_module_deep_test" in honest.about, "the cells it lacked are named"
    cheat = restore_locked_cells(term["students"]["old_release_edited"], assignment(term), NAME)
    assert cheat.notes == ["locked cell 01_module_mlp_test was edited; the original was restored"]


def test_releases_are_kept_once_and_read_back(term, tmp_path):
    course = tmp_path / "course"
    for folder, stem_dir in (("solutions", "solutions"), ("release", "notebooks")):
        shutil.copytree(term["first"] / stem_dir / STEM, course / folder / STEM)
    version = assignments._files_hash({NAME: (course / "solutions" / STEM / NAME).read_bytes()})
    (course / f".source-{STEM}.sha256").write_text("the stamp of another version")
    assignments.keep_generated(course, STEM)
    assert not (course / "versions").exists(), "a release not generated from this source"
    (course / f".source-{STEM}.sha256").write_text(version)
    assignments.keep_generated(course, STEM)  # what an OUT_DIR graded before versions held
    assignments.keep_release(course, STEM, version)
    (kept,) = assignments.stored_releases(course / "versions" / STEM)
    assert kept.id == version and list(kept.notebooks) == [NAME]
    assert kept.notebooks[NAME].cells.keys() == term["old"].cells.keys()
    (course / "versions" / STEM / version[:16] / "release" / NAME).unlink()
    assert assignments.stored_releases(course / "versions" / STEM) == [], "a broken copy is none"
