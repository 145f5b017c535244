"""A student's score before submitting: in the notebook, and as ``python -m autograder check``.

In a Jupyter kernel, the notebook's setup cell calls :func:`track` with the points of each test
cell. From then on, a test cell that passes prints one line, ``✓ … (3/3 points)``, and the
notebook's last cell calls :func:`summary`, which prints every test with its points and the
total. nbgrader's scores do not depend on any of this: they come from the test cells' errors.

``python -m autograder check NOTEBOOK.ipynb`` (:func:`check_notebook`) runs a notebook's visible
tests in a fresh kernel and prints a line per test and the total as ``N/M points``.

Both count the *visible* tests only: grading runs the same checks again on hidden cases.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PASS, FAIL, NOT_RUN = "✓", "✗", "·"
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
AFTER = "When graded, the same checks run again on cases drawn at grading time."


@dataclass
class Test:
    """One test cell: the check it starts with, its points and, once run, its outcome."""

    check: str
    points: float
    about: str = ""
    passed: bool | None = None
    message: str = ""

    def line(self) -> str:
        """``✓ pass 3/3  what it checks``; a failure shows its message's first line instead."""
        mark = {True: PASS, False: FAIL, None: NOT_RUN}[self.passed]
        word = {True: "pass", False: "FAIL", None: "not run"}[self.passed]
        got = self.points if self.passed else 0
        text = self.about or self.check
        if self.passed is False and self.message:
            text = self.message
        return f"{mark} {word} {got:g}/{self.points:g}  {text}"


def total(tests: list[Test]) -> str:
    got = sum(t.points for t in tests if t.passed)
    return f"{got:g}/{sum(t.points for t in tests):g} points"


# ------------------------------------------------------------------------------ in the kernel

_tests: dict[str, Test] = {}


def track(points: dict[str, float], language: str = "en") -> None:
    """Follow the test cells of this notebook: ``{first check a test cell calls: its points}``;
    the checks' messages in ``language`` (``"ko"`` in the Korean notebooks).

    Only in an IPython kernel; anywhere else (the batch grader's student process) it does nothing.
    """
    shell = _ipython()
    if shell is None:
        return
    from autograder import i18n

    i18n.set_default(language)
    _tests.clear()
    _tests.update({check: Test(check, float(p)) for check, p in points.items()})
    if _after_cell not in shell.events.callbacks["post_run_cell"]:
        shell.events.register("post_run_cell", _after_cell)


def summary() -> None:
    """Print every tracked test with its points, and the total."""
    if not _tests:
        return
    tests = list(_tests.values())
    print(f"Visible tests: {total(tests)}")
    for test in tests:
        print(f"  {test.line()}")
    print(AFTER)


def _ipython() -> Any:
    shell = sys.modules.get("IPython")
    return shell.get_ipython() if shell is not None else None


def _after_cell(result: Any) -> None:
    source = getattr(result.info, "raw_cell", "") or ""
    test = _tests.get(first_check(source) or "")
    if test is None:
        return
    test.about = docstring(source)
    error = result.error_before_exec or result.error_in_exec
    test.passed = error is None
    test.message = first_line(error) if error is not None else ""
    if test.passed:
        print(test.line())


def first_check(source: str) -> str | None:
    """The name of the first ``<module>.check_…(…)`` call in a test cell's source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith("check_")
        ):
            return node.func.attr
    return None


def docstring(source: str) -> str:
    try:
        return ast.get_docstring(ast.parse(source)) or ""
    except SyntaxError:
        return ""


def first_line(error: BaseException | str) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else ""
    name = error if isinstance(error, str) else type(error).__name__
    return line or str(name)


# ------------------------------------------------------------------------ from the command line


def without_hidden_tests(source: str, note: str | None = None) -> str:
    """A grade cell's source without its hidden-test block, or with ``note`` in its place."""
    kept, inside = [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN[0]:
            inside = True
            if note is not None:
                kept.append(note)
        elif line.strip() == HIDDEN[1]:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def check_notebook(path: Path, timeout: float = 300.0) -> tuple[list[Test], str]:
    """Run ``path`` in a fresh kernel; its test cells as :class:`Test` and a note on the run."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    tests = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade"):
            cell.source = without_hidden_tests(cell.source)
            tests.append((cell, Test(meta.get("grade_id", "?"), float(meta.get("points", 0)))))
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        allow_errors=True,
        kernel_name="python3",
        extra_arguments=["--log-level=ERROR"],  # not the kernel's start-up warnings
        resources={"metadata": {"path": str(path.parent)}},
    )
    note = ""
    try:
        client.execute()
    except nbclient.exceptions.DeadKernelError:
        note = "the kernel died; tests after that cell did not run"
    except nbclient.exceptions.CellTimeoutError:
        note = f"a cell ran longer than {timeout:g} s; tests after it did not run"
    for cell, test in tests:
        test.about = docstring(cell.source) or test.check
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        ran = cell.get("execution_count") is not None or cell.get("outputs")
        if errors:
            test.passed, test.message = (
                False,
                first_line(errors[0].get("evalue") or errors[0].ename),
            )
        elif ran:
            test.passed = True
    return [test for _, test in tests], note


def main(path: Path, timeout: float) -> int:
    """``python -m autograder check``: a line per test, the total; 0 only when all pass."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # a console that cannot show ✓
    try:
        import nbclient  # noqa: F401
    except ImportError:
        print(
            "The self-check runs the notebook in a Jupyter kernel: pip install nbclient ipykernel"
        )
        return 2
    if not path.is_file():
        print(f"{path}: no such notebook")
        return 2
    try:
        tests, note = check_notebook(path, timeout)
    except Exception as error:  # noqa: BLE001 - unreadable file, no kernel: say so, do not crash
        print(f"{path}: could not be run ({type(error).__name__}: {first_line(error)})")
        return 2
    print(f"{path.name}: the visible tests, run in a fresh kernel")
    for test in tests:
        print(f"  {test.line()}")
    if note:
        print(f"  ({note})")
    print(total(tests))
    print(AFTER)
    return 0 if tests and all(test.passed for test in tests) else 1
