"""The batch grader's messages when a notebook dies or runs out of time: they name the cell.

One class of 01_module submissions, each with the instructor's answers and one misbehaviour, is
graded once by the contract command with a 2 s cell timeout; each test reads the autograded
notebook of one student. Code cells are numbered as a student counts them (Jupyter's ``In [N]``
when the notebook runs from the top), so the tests count them in the autograded notebook.
"""

from __future__ import annotations

import attacks
import nbformat
import pytest
from attacks import notebook, write
from test_adversarial import STEM, Run, grade

from autograder import module

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("messages")]

LIMITS = ["--jobs", "2", "--cell-timeout", "2", "--budget", "30", "--memory-mb", "1024"]
#: A cell before the first exercise that ends the process, and what the judge says ended it.
DYING = {
    "d1_exit": ("import os\n\nos._exit(3)", "exit code 3"),
    "d2_sigkill": (
        "import os, signal\n\nos.kill(os.getpid(), signal.SIGKILL)",
        "killed by signal 9, SIGKILL",
    ),
    "d3_segfault": (
        "import faulthandler\n\nfaulthandler._sigsegv()",
        "killed by signal 11, SIGSEGV: a segmentation fault",
    ),
}
#: A cell that closes the process's channel to the judge (descriptor 3) and lives on.
CLOSES = "import os, time\n\nos.close(3)\ntime.sleep(60)"
LOOP_LINE = "while True: x += 1"
LOOP = f"x = 0\n{LOOP_LINE}"
# In a loop that catches the CellTimeout, the ``try`` does not start with the loop: CPython 3.11
# raises a signal handler's exception in a one-line loop that begins a ``try`` at an offset the
# ``try`` does not cover, so nothing catches it there.
SWALLOWS = """\
while True:
    try:
        n = 0
        while True: n += 1
    except BaseException:
        pass"""
GOES_ON = """\
try:
    n = 0
    while True: n += 1
except BaseException:
    pass
print("went on")"""
#: A loop compiled as if it were line 501 of the first code cell, which has no such line.
FORGED = "exec(compile('\\n' * 500 + 'while True: pass', '<code cell 1>', 'exec'))"
FORWARD = "def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
LINEAR_TEST = "checks.check_my_linear(MyLinear)"


def in_forward(first_line: str) -> nbformat.NotebookNode:
    """The instructor's answers, with ``first_line`` run first in ``MyLinear.forward``."""
    made = notebook(STEM)
    cell = attacks.cell_with(made, "01_module_my_linear")
    assert FORWARD in cell.source
    cell.source = cell.source.replace(FORWARD, f"{FORWARD}        {first_line}\n")
    return made


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("messages")
    subs = root / "submitted"
    for student, (source, _) in DYING.items():
        write(subs, student, STEM, notebook(STEM, before=[source]))
    write(subs, "d4_exit_in_check", STEM, in_forward("import os; os._exit(5)"))
    write(subs, "d5_closes_channel", STEM, notebook(STEM, before=[CLOSES]))
    write(subs, "t1_loop", STEM, notebook(STEM, before=[LOOP]))
    write(subs, "t2_loop_in_check", STEM, in_forward("while True: pass"))
    write(subs, "t3_swallows", STEM, notebook(STEM, before=[SWALLOWS]))
    write(subs, "t4_goes_on", STEM, notebook(STEM, before=[GOES_ON]))
    write(subs, "t5_forged_location", STEM, notebook(STEM, before=[FORGED]))
    return grade(subs, root / "out", "--assignment", STEM, *LIMITS).check()


def code_cells(run: Run, student: str) -> list[nbformat.NotebookNode]:
    (graded,) = run.autograded(student)
    return [cell for cell in graded.cells if cell.cell_type == "code"]


def number_of(cells: list[nbformat.NotebookNode], text: str) -> int:
    """The number of the code cell whose source holds ``text``, counted from 1."""
    return next(n for n, cell in enumerate(cells, 1) if text in cell.source)


def errors(cell: nbformat.NotebookNode) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def assert_not_run_after(cells: list[nbformat.NotebookNode], number: int, why: str) -> None:
    for cell in cells[number:]:
        assert errors(cell) == [f"NotRun: not run: {why}"], cell.source[:60]


def visible_cases() -> int:
    return len(module.MY_LINEAR.visible)


def full_marks(run: Run, student: str) -> bool:
    return run.score(student) == float(run.rows[(student, STEM)]["max_score"]) > 0


@pytest.mark.parametrize("student", DYING)
def test_a_process_that_dies_in_a_cell_is_reported_in_that_cell(run, student):
    source, cause = DYING[student]
    assert run.status(student) == "kernel_died"
    assert run.score(student) == 0
    cells = code_cells(run, student)
    died = number_of(cells, source)
    message = f"KernelDied: the notebook's process died while running this cell ({cause})"
    assert errors(cells[died - 1]) == [message]
    assert not any(errors(cell) for cell in cells[: died - 1]), "a cell before it was blamed"
    assert_not_run_after(cells, died, f"the notebook's process died in code cell {died}")


def test_a_process_that_dies_in_a_check_is_reported_in_the_grade_cell(run):
    student = "d4_exit_in_check"
    assert run.status(student) == "kernel_died"
    cells = code_cells(run, student)
    died = number_of(cells, LINEAR_TEST)
    assert errors(cells[died - 1]) == [
        "KernelDied: the notebook's process died while checking MyLinear on visible case 1 of "
        f"{visible_cases()} (exit code 5)"
    ]
    assert_not_run_after(cells, died, f"the notebook's process died in code cell {died}")


def test_a_process_that_closes_its_channel_is_not_said_to_have_died(run):
    student = "d5_closes_channel"
    assert run.status(student) == "kernel_died"
    cells = code_cells(run, student)
    closed = number_of(cells, CLOSES)
    assert errors(cells[closed - 1]) == [
        "KernelDied: the notebook's process closed its channel to the grader while running this "
        "cell; the grader stopped it"
    ]
    assert_not_run_after(
        cells, closed, f"the notebook's process stopped answering in code cell {closed}"
    )


def test_a_timed_out_cell_says_where_its_code_was(run):
    student = "t1_loop"
    assert run.status(student) == "timed_out"
    cells = code_cells(run, student)
    looped = number_of(cells, LOOP)
    message = f"the cell ran longer than 2 s; it was at line 2 of code cell {looped}: {LOOP_LINE}"
    (output,) = cells[looped - 1].outputs
    assert f"{output.ename}: {output.evalue}" == f"CellTimeout: {message}"
    # The traceback shows the cell's own line, and ends with the same message.
    assert f'File "<code cell {looped}>", line 2' in output.traceback[0]
    assert output.traceback[0].rstrip().endswith(f"\n    {LOOP_LINE}\nCellTimeout: {message}")
    # The notebook went on: every exercise was answered and graded.
    assert full_marks(run, student)


def test_a_check_that_times_out_says_where_the_students_method_was(run):
    student = "t2_loop_in_check"
    assert run.status(student) == "timed_out"
    cells = code_cells(run, student)
    method = number_of(cells, "class MyLinear")
    lines = cells[method - 1].source.splitlines()
    line = lines.index("        while True: pass") + 1
    (message,) = errors(cells[number_of(cells, LINEAR_TEST) - 1])
    start = f"CellTimeout: checking MyLinear on visible case 1 of {visible_cases()} took longer "
    assert message.startswith(f"{start}than 2 s, in the call MyLinear("), message
    assert message.endswith(
        f"; your code was at line {line} of code cell {method}: while True: pass"
    )
    assert run.score(student) == 0


def test_a_cell_that_swallows_the_timeout_is_stopped_without_a_location(run):
    student = "t3_swallows"
    assert run.status(student) == "timed_out"
    cells = code_cells(run, student)
    looped = number_of(cells, SWALLOWS)
    assert errors(cells[looped - 1]) == [
        "CellTimeout: the cell did not stop at the time limit of 2 s (the code caught the "
        "CellTimeout, or was in a call that cannot be interrupted); the grader stopped the "
        "notebook after 7 s"
    ]
    why = f"the notebook was stopped at its time limit in code cell {looped}"
    assert_not_run_after(cells, looped, why)
    assert run.score(student) == 0


def test_a_cell_that_catches_the_timeout_and_goes_on_still_timed_out(run):
    student = "t4_goes_on"
    assert run.status(student) == "timed_out"
    cells = code_cells(run, student)
    looped = number_of(cells, GOES_ON)
    outputs = cells[looped - 1].outputs
    assert [o.text for o in outputs if o.output_type == "stream"] == ["went on\n"]
    assert errors(cells[looped - 1]) == [
        f"CellTimeout: the cell ran longer than 2 s; it was at line 3 of code cell {looped}: "
        "while True: n += 1"
    ]
    assert full_marks(run, student)


def test_a_location_outside_the_cells_sent_is_not_quoted(run):
    """The student process names a line 501 of code cell 1; the judge quotes only lines of the
    cells it sent, from its own copy, so the message has no location."""
    student = "t5_forged_location"
    cells = code_cells(run, student)
    looped = number_of(cells, FORGED)
    assert errors(cells[looped - 1]) == ["CellTimeout: the cell ran longer than 2 s"]
    assert run.status(student) == "review"  # exec: the code cannot be read statically
