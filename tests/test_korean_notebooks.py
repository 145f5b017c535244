"""The Korean student notebooks: the same exercises as the English ones, graded by the same
command with the same checks, their task text in Korean.

The batch grader grades a class with both editions: an answered Korean notebook scores what the
answered English one scores, with no note and no flag; a Korean notebook whose locked task text
was edited is ``tampered`` as an English one is; the graded copy and the feedback page keep the
Korean text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest
from nbgrader.utils import compute_checksum
from test_adversarial import grade

from autograder import korean
from autograder.course import NOTEBOOKS, SOLUTIONS, answers, fill_in, stems, venv_env

STEMS = stems()


def pairs():
    for stem in STEMS:
        for english in sorted((NOTEBOOKS / stem).glob("*.ipynb")):
            yield stem, english, korean.KOREAN / stem / english.name


def test_every_exercise_notebook_has_a_korean_edition():
    found = list(pairs())
    assert len(found) >= len(STEMS)
    for _, _english, korean_path in found:
        assert korean_path.exists(), f"{korean_path} is missing: make release"


def test_the_korean_notebooks_are_current(tmp_path):
    for stem in STEMS:
        korean.release(stem, tmp_path, NOTEBOOKS)
    for stem, english, korean_path in pairs():
        fresh = json.loads((tmp_path / stem / english.name).read_text())
        assert json.loads(korean_path.read_text()) == fresh, f"{korean_path}: run make release"


@pytest.mark.parametrize("stem", STEMS)
def test_same_exercises_same_grade_ids_and_points_korean_text(stem):
    for _, english_path, korean_path in [p for p in pairs() if p[0] == stem]:
        english = nbformat.read(english_path, as_version=4)
        made = nbformat.read(korean_path, as_version=4)
        assert korean.is_korean(made) and not korean.is_korean(english)
        assert len(made.cells) == len(english.cells)
        for ours, theirs in zip(made.cells, english.cells, strict=True):
            assert ours.cell_type == theirs.cell_type
            assert ours.metadata.get("nbgrader", {}).get("grade_id") == theirs.metadata.get(
                "nbgrader", {}
            ).get("grade_id")
            assert ours.metadata.get("nbgrader", {}).get("points") == theirs.metadata.get(
                "nbgrader", {}
            ).get("points")
            if ours.cell_type == "code" and "selfcheck.track(" in theirs.source:
                # the setup cell: the English one, telling the kernel the language
                assert 'language="ko"' in ours.source
                bare = re.sub(r"[\s,]", "", ours.source.replace('language="ko"', ""))
                assert bare == re.sub(r"[\s,]", "", theirs.source)
            elif ours.cell_type == "code":
                assert ours.source == theirs.source, "the code is the English release's"
            elif ours.metadata.get("nbgrader", {}).get("grade_id"):
                assert ours.source != theirs.source, "task text left in English"
                assert len([c for c in ours.source if "가" <= c <= "힣"]) > 20
                checksum = ours.metadata["nbgrader"].get("checksum")
                assert checksum is None or checksum == compute_checksum(ours)


def answered(path, stem):
    source = nbformat.read(SOLUTIONS / stem / path.name, as_version=4)
    return fill_in(nbformat.read(path, as_version=4), answers(source))


def write(subs, student, stem, notebook):
    folder = subs / student / stem
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{notebook_name(stem)}")


def notebook_name(stem):
    return sorted((NOTEBOOKS / stem).glob("*.ipynb"))[0].name


@pytest.mark.slow
def test_the_grader_grades_korean_notebooks_as_english_ones(tmp_path):
    stem = "01_module"
    name = notebook_name(stem)
    english = answered(NOTEBOOKS / stem / name, stem)
    made = answered(korean.KOREAN / stem / name, stem)
    edited = answered(korean.KOREAN / stem / name, stem)
    task = next(c for c in edited.cells if c.cell_type == "markdown" and "nbgrader" in c.metadata)
    task.source += "\n\n(이 문제는 쉬워요)"
    subs = tmp_path / "submitted"
    write(subs, "en_answered", stem, english)
    write(subs, "ko_answered", stem, made)
    write(subs, "ko_edited", stem, edited)
    write(subs, "ko_blank", stem, nbformat.read(korean.KOREAN / stem / name, as_version=4))
    write(subs, "en_blank", stem, nbformat.read(NOTEBOOKS / stem / name, as_version=4))
    run = grade(subs, tmp_path / "out", "--assignment", stem).check()
    # the checks' messages in the notebook's language
    assert "아직 구현하지 않았습니다" in run.outputs("ko_blank")
    assert "not implemented yet" in run.outputs("en_blank")
    assert "아직 구현하지" not in run.outputs("en_blank")
    assert run.status("ko_answered") == "graded"
    assert run.score("ko_answered") == run.score("en_answered") > 0
    assert run.scores("ko_answered") == run.scores("en_answered")
    assert run.notes("ko_answered") == ""
    assert run.status("ko_edited") == "tampered"
    assert run.score("ko_blank") == 0 and run.status("ko_blank") == "graded"
    page = run.feedback("ko_answered")
    korean_task = next(c.source for c in made.cells if c.cell_type == "markdown")
    first_line = korean_task.splitlines()[0].lstrip("# ")
    assert first_line in page
    graded = run.autograded("ko_answered")[0]
    assert korean.is_korean(graded)


def self_check(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", "check", str(path)],
        capture_output=True,
        text=True,
        env=venv_env(),
        timeout=300,
    )


@pytest.mark.slow
def test_the_self_check_runs_a_korean_notebook(tmp_path):
    stem = "01_module"
    name = notebook_name(stem)
    path = tmp_path / name
    nbformat.write(answered(korean.KOREAN / stem / name, stem), path)
    result = self_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^(\d+)/\1 points$", result.stdout, re.M), result.stdout
    blank = tmp_path / "blank.ipynb"
    blank.write_bytes((korean.KOREAN / stem / name).read_bytes())
    result = self_check(blank)
    assert "아직 구현하지 않았습니다" in result.stdout, result.stdout
