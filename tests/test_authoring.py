"""docs/authoring.md, followed in a copy of the repository: the exercise it adds is real.

The page's marked blocks (an ``<!-- authoring: … -->`` comment right before a fence) are applied
to a copy of the checkout, in the page's order; its shell block releases the copy and runs the
self-check. Then the copy's student notebook, nbgrader, the self-check, the batch grader and a
selection of the copy's own tests must agree with what the page says. Every command runs with
the copy as its working folder and first on PYTHONPATH, so that the copy's ``autograder`` is
the one imported (this checkout's editable install comes after PYTHONPATH on ``sys.path``).
"""

from __future__ import annotations

import ast
import csv
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.course import REPO, answers, fill_in, venv_env

# One worker follows the page once; every test reads the same copy.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("authoring")]

DOC = REPO / "docs" / "authoring.md"
STEM, NAME = "01_module", "module.ipynb"
EXERCISE = "01_module_my_sequential"
BUILT = "MySequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))"
BLOCK = re.compile(
    r"^<!-- authoring: (?P<action>.+?) -->\n```[a-z]*\n(?P<body>.*?)^```$", re.M | re.S
)
INSERT = re.compile(r'insert (?P<path>\S+) after "(?P<line>.*)"')
#: What git ignores is not copied; these never are, whatever .gitignore says.
NOT_COPIED = (".venv", "_build", "node_modules")
#: The copy's own tests that hold the rules an added exercise must keep (docs/authoring.md's
#: table), those that run in reasonable time and need neither the built site nor a browser.
RULES = [
    "tests/test_course.py::test_every_chapter_with_a_page_has_exercises",
    "tests/test_course.py::test_sources_hold_the_current_shared_cells",
    "tests/test_course.py::test_sources_carry_no_outputs",
    "tests/test_course.py::test_every_exercise_is_graded_and_named_after_its_chapter",
    "tests/test_course.py::test_no_answer_or_hidden_test_in_student_notebooks",
    f"tests/test_course.py::test_nbgrader_gives_solutions_full_marks_and_blank_releases_zero[{STEM}]",
    "tests/test_selfcheck.py::test_every_test_cell_starts_with_a_check_the_setup_cell_tracks",
    "tests/test_feedback.py::test_instructor_math_of_every_chapter_is_typeset",
    "tests/test_module_checks.py",
    "tests/test_delegation.py",
]


@dataclass
class Block:
    """A marked block of the page: what to do with it, its text, the line it starts on."""

    action: str
    body: str
    line: int

    @property
    def where(self) -> str:
        return f"docs/authoring.md line {self.line} ({self.action})"


@dataclass
class Copy:
    root: Path
    shell: dict[str, subprocess.CompletedProcess]
    changed: list[str]

    def notebook(self, folder: str) -> nbformat.NotebookNode:
        return nbformat.read(self.root / folder / STEM / NAME, as_version=4)


def blocks() -> list[Block]:
    text = DOC.read_text()
    found = [
        Block(match["action"], match["body"], text.count("\n", 0, match.start()) + 1)
        for match in BLOCK.finditer(text)
    ]
    comments = len(re.findall(r"^<!-- authoring:", text, re.M))
    assert len(found) == comments, "an authoring comment is not right before a fenced block"
    return found


def copy_repository(root: Path) -> Path:
    """The checkout's files as they are now, committed or new, without what git ignores."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() and Path(name).parts[0] not in NOT_COPIED:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    return root


def run(root: Path, *command: str | Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``command`` in the copy, with the copy's ``autograder`` first on the path."""
    env = venv_env() | {"PYTHONPATH": str(root)}
    return subprocess.run(
        [str(part) for part in command],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def shell_command(line: str) -> list[str]:
    """A command line of the page as this interpreter runs it: ``make release`` is
    ``python -m autograder.release`` (make would install .venv first), ``python`` is ours."""
    words = shlex.split(line, comments=True)
    if words == ["make", "release"]:
        return [sys.executable, "-m", "autograder.release"]
    if words and words[0] == "python":
        return [sys.executable, *words[1:]]
    pytest.fail(f"docs/authoring.md: the test does not know how to run {line!r}")


def follow(root: Path) -> Copy:
    """Do what the page says, block by block, in the copy at ``root``."""
    cells: dict[str, str] = {}
    shell: dict[str, subprocess.CompletedProcess] = {}
    changed: list[str] = []
    for block in blocks():
        insert = INSERT.fullmatch(block.action)
        if block.action.startswith("append "):
            name = block.action.removeprefix("append ")
            path = root / name
            path.write_text(path.read_text().rstrip("\n") + "\n\n\n" + block.body)
            changed.append(name)
        elif insert:
            path = root / insert["path"]
            lines = path.read_text().splitlines(keepends=True)
            at = [i for i, line in enumerate(lines) if line.rstrip("\n") == insert["line"]]
            assert len(at) == 1, f"{block.where}: {len(at)} such lines in {insert['path']}"
            lines.insert(at[0] + 1, block.body)
            path.write_text("".join(lines))
            changed.append(insert["path"])
        elif block.action.startswith("cell "):
            cells[block.action.removeprefix("cell ")] = block.body
        elif block.action == "run":
            names = "".join(f"{name} = {text!r}\n" for name, text in cells.items())
            done = run(root, sys.executable, "-c", names + block.body)
            assert done.returncode == 0, f"{block.where}:\n{done.stdout}{done.stderr}"
        elif block.action == "shell":
            for line in filter(str.strip, block.body.splitlines()):
                shell[line] = run(root, *shell_command(line))
        else:
            pytest.fail(f"{block.where}: unknown action")
    return Copy(root, shell, changed)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Copy:
    root = copy_repository(tmp_path_factory.mktemp("authoring") / "repository")
    followed = follow(root)
    released = followed.shell.get("make release")
    assert released is not None, "docs/authoring.md never runs make release"
    assert released.returncode == 0, released.stdout + released.stderr
    return followed


def grade_id(cell: nbformat.NotebookNode) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def cell_of(notebook: nbformat.NotebookNode, wanted: str) -> nbformat.NotebookNode:
    (found,) = [cell for cell in notebook.cells if grade_id(cell) == wanted]
    return found


def answered(copy: Copy, **replaced: str) -> nbformat.NotebookNode:
    """The copy's student notebook answered with the copy's solutions, ``replaced`` by id."""
    return fill_in(copy.notebook("notebooks"), answers(copy.notebook("solutions")) | replaced)


def test_commands_in_the_copy_import_the_copys_autograder(copy):
    done = run(copy.root, sys.executable, "-c", "import autograder; print(autograder.__file__)")
    assert Path(done.stdout.strip()).resolve() == (copy.root / "autograder/__init__.py").resolve()


def test_the_student_notebook_holds_the_exercise_but_no_answer(copy):
    release, source = copy.notebook("notebooks"), copy.notebook("solutions")
    ids = [grade_id(cell) for cell in release.cells]
    assert ids[-4:] == [f"{EXERCISE}_task", EXERCISE, f"{EXERCISE}_test", f"{STEM}_summary"]
    stub = cell_of(release, EXERCISE).source
    assert "class MySequential(nn.Module):" in stub and '    """Runs its modules' in stub
    assert stub.count("# YOUR CODE HERE\n        raise NotImplementedError()") == 2, stub
    answer = answers(source)[EXERCISE]
    text = "\n".join(cell.source for cell in release.cells)
    for line in ("self.add_module(str(index), module)", "for module in self.children():"):
        assert line in answer and line not in text, line
    for secret in ("BEGIN SOLUTION", "HIDDEN TESTS", "check_my_sequential_hidden"):
        assert secret not in text, secret
    test = cell_of(release, f"{EXERCISE}_test")
    assert test.source.splitlines() == [
        '"""MySequential registers its modules as nn.Sequential does and runs them in order."""',
        "checks.check_my_sequential(MySequential)",
    ]
    assert test.metadata["nbgrader"]["points"] == 1
    points = '"check_my_linear": 3, "check_mlp": 2, "check_my_sequential": 1'
    for notebook in (source, release):
        assert points in notebook.cells[1].source, "make release renews the points table"
    assert "Build three modules" in source.cells[0].source


def test_the_chapter_page_describes_the_exercise_under_exercises(copy):
    page = (copy.root / "book" / f"{STEM}.md").read_text()
    headings = re.findall(r"^## (.+)$", page, re.M)
    assert headings[-1] == "Exercises", headings
    exercises = page[page.rindex("## Exercises") :]
    assert f"<../notebooks/{STEM}/{NAME}>" in exercises, "the download link stays"
    items = re.findall(r"^(\d+)\. \*\*`(\w+)", exercises, re.M)
    assert items == [("1", "MyLinear"), ("2", "MLP"), ("3", "MySequential")], items


def test_nbgrader_validates_the_source_and_not_the_blank_release(copy):
    python = (sys.executable, "-m", "nbgrader", "validate")
    source = run(copy.root, *python, f"solutions/{STEM}/{NAME}")
    assert "Success! Your notebook passes all the tests." in source.stdout, source.stdout
    blank = run(copy.root, *python, "--invert", f"notebooks/{STEM}/{NAME}")
    assert "Success! The notebook does not pass any tests." in blank.stdout, blank.stdout


def test_the_self_check_gives_the_answers_full_marks_and_fails_the_blank_exercise(copy, tmp_path):
    on_source = copy.shell[f"python -m autograder check solutions/{STEM}/{NAME}"]
    assert on_source.returncode == 0, on_source.stdout + on_source.stderr
    assert "6/6 points" in on_source.stdout.splitlines()

    blank = copy.shell[f"python -m autograder check notebooks/{STEM}/{NAME}"]
    assert blank.returncode == 1, blank.stdout + blank.stderr
    lines = [line.strip() for line in blank.stdout.splitlines()]
    promised = [line.strip() for line in DOC.read_text().splitlines() if "✗ FAIL 0/1" in line]
    assert promised and promised[0] in lines, blank.stdout
    assert "0/6 points" in lines

    nbformat.write(answered(copy), tmp_path / NAME)
    filled = run(copy.root, sys.executable, "-m", "autograder", "check", tmp_path / NAME)
    assert filled.returncode == 0, filled.stdout + filled.stderr
    assert "6/6 points" in filled.stdout.splitlines()
    passed = "✓ pass 1/1  MySequential registers its modules as nn.Sequential does and runs them"
    assert any(line.strip().startswith(passed) for line in filled.stdout.splitlines())


#: Runs the visible check on each class the page's test block defines; their first lines.
WRONG = """
import json
import sys

sys.path.insert(0, "tests")
import test_module_checks as tests
from autograder import CheckFailure
from autograder import module as checks

first = {}
for name in sys.argv[1:]:
    try:
        checks.check_my_sequential(getattr(tests, name))
        first[name] = None
    except CheckFailure as failure:
        first[name] = str(failure).splitlines()[0]
print(json.dumps(first))
"""


def test_each_wrong_implementation_fails_with_a_first_line_naming_the_difference(copy):
    (tests,) = [b for b in blocks() if b.action == "append tests/test_module_checks.py"]
    wrong = [node.name for node in ast.parse(tests.body).body if isinstance(node, ast.ClassDef)]
    assert len(wrong) >= 2, "the page keeps realistic wrong implementations"
    done = run(copy.root, sys.executable, "-c", WRONG, *wrong)
    assert done.returncode == 0, done.stderr
    for name, line in json.loads(done.stdout).items():
        assert line is not None, f"{name} passes check_my_sequential"
        call, _, difference = line.partition(": ")
        assert call.startswith(BUILT), line
        assert "missing" in difference or "expected" in difference, line


def test_the_batch_grader_gives_full_marks_and_refuses_a_subclass_of_sequential(copy, tmp_path):
    notebooks = {
        "correct": answered(copy),
        "delegates": answered(copy, **{EXERCISE: "class MySequential(nn.Sequential):\n    pass"}),
    }
    for student, notebook in notebooks.items():
        (tmp_path / "submitted" / student / STEM).mkdir(parents=True)
        nbformat.write(notebook, tmp_path / "submitted" / student / STEM / NAME)
    limits = ["--cell-timeout", "20", "--budget", "60", "--memory-mb", "1024", "--no-progress"]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade", tmp_path / "submitted", "--out", out]
    done = run(copy.root, *command, "--assignment", STEM, *limits)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "grades.csv") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert rows["correct"]["status"] == "graded", rows["correct"]
    assert float(rows["correct"]["score"]) == float(rows["correct"]["max_score"]) == 6
    assert rows["delegates"]["status"] == "review", rows["delegates"]
    assert float(rows["delegates"]["score"]) == 5


def test_the_repositorys_rules_hold_in_the_copy(copy):
    python = sys.executable
    for ruff in (["check"], ["format", "--check"]):
        done = run(copy.root, python, "-m", "ruff", *ruff, *sorted(set(copy.changed)))
        assert done.returncode == 0, done.stdout + done.stderr
    notebook = run(copy.root, python, "-m", "ruff", "format", "--check", f"solutions/{STEM}/{NAME}")
    assert notebook.returncode == 0, notebook.stdout + notebook.stderr
    done = run(copy.root, python, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", *RULES)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" not in summary, summary
