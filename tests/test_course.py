"""The course as nbgrader runs it: releases in sync, no leaks, real autograding."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import solution_cells
from nbgrader.api import Gradebook

from autograder.course import (
    NOTEBOOKS,
    REPO,
    SOLUTIONS,
    answers,
    fill_in,
    generate,
    make_course,
    nbgrader,
    stems,
)
from autograder.release import release, site_url, with_shared_cells

STEMS = stems()
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def test_every_chapter_with_a_page_has_exercises():
    assert STEMS, "solutions/ holds no exercises"
    for stem in STEMS:
        assert (REPO / "book" / f"{stem}.md").exists(), f"{stem} has exercises but no chapter"


def test_committed_notebooks_equal_a_fresh_release(tmp_path):
    release(tmp_path)
    for stem in STEMS:
        fresh = sorted(p.relative_to(tmp_path) for p in (tmp_path / stem).rglob("*.ipynb"))
        committed = sorted(p.relative_to(NOTEBOOKS) for p in (NOTEBOOKS / stem).rglob("*.ipynb"))
        assert committed == fresh, f"notebooks/{stem} has other files than a release: make release"
        for name in fresh:
            same = json.loads((tmp_path / name).read_text()) == json.loads(
                (NOTEBOOKS / name).read_text()
            )
            assert same, f"notebooks/{name} is stale; run `make release` and commit it"


def test_sources_hold_the_current_shared_cells():
    """The setup and summary cells are written by `make release`, from _config.yml's site URL."""
    for stem in STEMS:
        for path in sorted((SOLUTIONS / stem).glob("*.ipynb")):
            text = path.read_text()
            renewed = nbformat.writes(with_shared_cells(nbformat.reads(text, 4), stem)) + "\n"
            assert renewed == text, f"{path}: its shared cells are stale; run `make release`"
            setup = nbformat.reads(text, 4).cells[1]
            assert setup.metadata["nbgrader"]["grade_id"] == f"{stem}_install"
            assert f'"COURSE_SITE_URL", "{site_url()}"' in setup.source


def test_sources_carry_no_outputs():
    for path in SOLUTIONS.rglob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path}: strip outputs"


def test_every_exercise_is_graded_and_named_after_its_chapter():
    for stem in STEMS:
        cells = solution_cells(stem)
        ids = [c.metadata["nbgrader"]["grade_id"] for c in cells if "nbgrader" in c.metadata]
        assert all(grade_id.startswith(stem) for grade_id in ids), ids
        graded = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert graded, f"{stem} has no grade cells"
        for cell in graded:
            assert cell.metadata["nbgrader"]["points"] > 0
            assert cell.source.lstrip().startswith('"""'), "a grade cell says what it checks"
            assert HIDDEN[0] in cell.source, f"{stem}: every grade cell draws hidden cases"


def leak_windows(stem: str, size: int = 3) -> set[str]:
    """Runs of `size` consecutive answer lines, and every hidden-test line, of one chapter."""
    windows = set()
    for cell in solution_cells(stem):
        lines = [line.strip() for line in cell.source.splitlines()]
        for start, end in (("### BEGIN SOLUTION", "### END SOLUTION"), HIDDEN):
            inside = False
            block = []
            for line in lines:
                if line == end:
                    inside = False
                    step = 1 if start == HIDDEN[0] else size
                    windows |= {" ".join(block[i : i + step]) for i in range(len(block) - step + 1)}
                    block = []
                if inside and line:
                    block.append(line)
                if line == start:
                    inside = True
    return windows


def published_text(root: Path, pattern: str) -> dict[Path, str]:
    return {
        path: " ".join(line.strip() for line in path.read_text(errors="ignore").splitlines())
        for path in root.rglob(pattern)
    }


@pytest.mark.parametrize("stem", STEMS)
def test_no_answer_or_hidden_test_in_student_notebooks(stem):
    text = {}
    for path in NOTEBOOKS.rglob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        text[path] = " ".join(line.strip() for c in cells for line in c.source.splitlines())
    for window in leak_windows(stem):
        for path, content in text.items():
            assert window not in content, f"{path} leaks: {window!r}"
    for path, content in text.items():
        assert "BEGIN SOLUTION" not in content and "HIDDEN TESTS" not in content, path


@pytest.mark.parametrize("stem", STEMS)
def test_no_answer_or_hidden_test_on_the_site(site, stem):
    pages = published_text(site, "*.html") | published_text(site, "*.ipynb")
    pages |= published_text(site, "*.md") | published_text(site, "*.py")
    for window in leak_windows(stem):
        for path, content in pages.items():
            assert window not in content, f"{path} leaks: {window!r}"
    assert not list(site.rglob("solutions")), "solutions/ must not be published"


def test_sources_validate_and_unanswered_releases_do_not():
    for stem in STEMS:
        for source in (SOLUTIONS / stem).glob("*.ipynb"):
            out = nbgrader(REPO, "validate", str(source))
            assert "Success! Your notebook passes all the tests." in out, out
        for student in (NOTEBOOKS / stem).glob("*.ipynb"):
            out = nbgrader(REPO, "validate", "--invert", str(student))
            assert "Success! The notebook does not pass any tests." in out, out


def submit(course: Path, student: str, stem: str, notebooks: dict[str, nbformat.NotebookNode]):
    folder = course / "submitted" / student / stem
    folder.mkdir(parents=True)
    for name, notebook in notebooks.items():
        nbformat.write(notebook, str(folder / name))


@pytest.mark.slow
@pytest.mark.parametrize("stem", STEMS)
def test_nbgrader_gives_solutions_full_marks_and_blank_releases_zero(tmp_path, stem):
    course = make_course(tmp_path / "course")
    released = generate(course, stem)
    perfect, blank = {}, {}
    for student_path in sorted(released.glob("*.ipynb")):
        student = nbformat.read(student_path, as_version=4)
        source = nbformat.read(SOLUTIONS / stem / student_path.name, as_version=4)
        perfect[student_path.name] = fill_in(student, answers(source))
        blank[student_path.name] = student
    submit(course, "perfect", stem, perfect)
    submit(course, "blank", stem, blank)

    nbgrader(course, "autograde", stem, "--force")

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        full = gradebook.find_submission(stem, "perfect")
        empty = gradebook.find_submission(stem, "blank")
        assert full.max_score > 0
        assert full.score == full.max_score, f"solution lost points in {stem}"
        assert empty.score == 0, f"an untouched student notebook earned points in {stem}"


@pytest.mark.slow
def test_solution_notebooks_execute_cleanly(tmp_path):
    """Every solution notebook, hidden tests included, runs top to bottom without an error."""
    for stem in STEMS:
        shutil.copytree(SOLUTIONS / stem, tmp_path / stem)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_is_clean():
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command], cwd=REPO, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
