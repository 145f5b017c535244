"""A student's score before submitting: ✓ lines and a summary in the kernel, and
``python -m autograder check NOTEBOOK.ipynb`` in a fresh one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import execute

from autograder.course import NOTEBOOKS, SOLUTIONS, answers, fill_in
from autograder.selfcheck import first_check, without_hidden_tests

pytestmark = pytest.mark.slow

#: A realistic mistake: ReLU after the last layer too.
WRONG_MLP = """
class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(MyLinear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x
"""


def module_notebook(**replaced: str) -> nbformat.NotebookNode:
    """The 01_module student notebook answered with the solutions, ``replaced`` by grade_id."""
    release = nbformat.read(NOTEBOOKS / "01_module" / "module.ipynb", as_version=4)
    solutions = answers(nbformat.read(SOLUTIONS / "01_module" / "module.ipynb", as_version=4))
    return fill_in(release, solutions | replaced)


def check(tmp_path: Path, notebook: nbformat.NotebookNode) -> subprocess.CompletedProcess:
    path = tmp_path / "module.ipynb"
    nbformat.write(notebook, path)
    command = [sys.executable, "-m", "autograder", "check", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def outputs_by_id(notebook: nbformat.NotebookNode, folder: Path) -> dict[str, list]:
    path = folder / "module.ipynb"
    nbformat.write(notebook, path)
    notebook = execute(path)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.outputs
        for cell in notebook.cells
        if cell.cell_type == "code"
    }


def text(outputs: list) -> str:
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_check_gives_full_marks_to_the_solutions_and_exits_0(tmp_path):
    done = check(tmp_path, module_notebook())
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "5/5 points" in lines
    assert sum(line.strip().startswith("✓ pass") for line in lines) == 2
    assert "WARNING" not in done.stderr  # no kernel start-up noise


def test_check_counts_a_wrong_exercise_and_shows_its_message_first_line(tmp_path):
    done = check(tmp_path, module_notebook(**{"01_module_mlp": WRONG_MLP}))
    assert done.returncode == 1
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert "3/5 points" in lines
    (failed,) = [line for line in lines if line.startswith("✗ FAIL 0/2")]
    assert "MLP(" in failed and "differ" in failed, failed  # the key sentence, on one line


def test_check_of_a_blank_notebook_scores_zero(tmp_path):
    release = nbformat.read(NOTEBOOKS / "01_module" / "module.ipynb", as_version=4)
    done = check(tmp_path, release)
    assert done.returncode == 1
    assert "0/5 points" in done.stdout.splitlines()
    assert "not implemented" in done.stdout


def test_tests_after_a_dead_kernel_are_not_run_and_not_passed(tmp_path):
    notebook = module_notebook(**{"01_module_mlp": "import os\nos._exit(1)"})
    done = check(tmp_path, notebook)
    assert done.returncode == 1
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert any(line.startswith("· not run 0/2") for line in lines), done.stdout
    assert "3/5 points" in lines


def test_check_runs_the_visible_tests_only(tmp_path):
    """On an instructor's source the hidden tests are left out: they draw cases at grading."""
    source = nbformat.read(SOLUTIONS / "01_module" / "module.ipynb", as_version=4)
    grade = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert all("_hidden" in c.source for c in grade)
    assert not any("_hidden" in without_hidden_tests(c.source) for c in grade)
    done = check(tmp_path, source)
    assert done.returncode == 0 and "5/5 points" in done.stdout


def test_check_says_what_is_wrong_with_a_bad_path(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "check", str(tmp_path / "nope.ipynb")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "no such notebook" in done.stdout
    (tmp_path / "broken.ipynb").write_text("{not json")
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "check", str(tmp_path / "broken.ipynb")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "could not be run" in done.stdout


def test_in_the_kernel_a_passing_test_prints_one_tick_and_the_last_cell_the_total(tmp_path):
    outputs = outputs_by_id(module_notebook(**{"01_module_mlp": WRONG_MLP}), tmp_path)
    passed = text(outputs["01_module_my_linear_test"]).splitlines()
    assert passed == [
        "✓ pass 3/3  MyLinear has nn.Linear's parameters, initialisation, outputs and gradients."
    ]
    failed = outputs["01_module_mlp_test"]
    assert [o.output_type for o in failed] == ["error"]  # the message, and no tick
    summary = text(outputs["01_module_summary"]).splitlines()
    assert summary[0] == "Visible tests: 3/5 points"
    assert summary[1].strip().startswith("✓ pass 3/3")
    assert summary[2].strip().startswith("✗ FAIL 0/2  MLP(")


def test_the_summary_counts_tests_not_run_yet(tmp_path):
    notebook = module_notebook()
    notebook.cells = [
        c for c in notebook.cells if c.metadata["nbgrader"]["grade_id"] != "01_module_mlp_test"
    ]
    summary = text(outputs_by_id(notebook, tmp_path)["01_module_summary"]).splitlines()
    assert summary[0] == "Visible tests: 3/5 points"
    assert summary[2].strip() == ("· not run 0/2  check_mlp"), (
        "a test cell that never ran is listed with its points"
    )


def test_every_test_cell_starts_with_a_check_the_setup_cell_tracks():
    for path in sorted(NOTEBOOKS.rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        setup = notebook.cells[1].source
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                check = first_check(cell.source)
                assert f'"{check}": {meta["points"]}' in setup, f"{path}: {meta['grade_id']}"
