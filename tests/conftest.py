"""Shared fixtures: the repository's paths and the code of the solution notebooks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.course import REPO, SOLUTIONS

SITE = REPO / "_build" / "html"


def solution_cells(stem: str) -> list[nbformat.NotebookNode]:
    """The code cells of a chapter's solution notebook, grade cells included."""
    cells = []
    for path in sorted((SOLUTIONS / stem).glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        cells += [cell for cell in notebook.cells if cell.cell_type == "code"]
    return cells


def solution_namespace(stem: str) -> dict[str, Any]:
    """Run the instructor's solution cells (not the grade cells) and return their names."""
    namespace: dict[str, Any] = {}
    for cell in solution_cells(stem):
        if not cell.metadata.get("nbgrader", {}).get("grade", False):
            exec(
                compile(cell.source, f"<{stem}:{cell.metadata['nbgrader']['grade_id']}>", "exec"),
                namespace,
            )
    return namespace


#: Run a notebook in a kernel of the running interpreter, as Jupyter would, and save it.
RUN_NOTEBOOK = """
import sys, nbclient, nbformat
notebook = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(notebook, kernel_name="python3", allow_errors=True).execute()
nbformat.write(notebook, sys.argv[1])
"""


def execute(path: Path, python: str | Path = sys.executable, **run: Any) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` in a fresh kernel of ``python``; return it, run.

    In a process of its own: nbclient's event loop must not outlive it in a test worker that
    later drives Playwright's sync API.
    """
    subprocess.run([python, "-c", RUN_NOTEBOOK, path], check=True, timeout=600, **run)
    return nbformat.read(path, as_version=4)


@pytest.fixture(scope="session")
def site() -> Path:
    """The built site; `make test` builds it before running pytest."""
    if not (SITE / "index.html").exists():
        pytest.fail("_build/html is missing: run `make book` (make test does) before pytest")
    return SITE


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each ``xdist_group`` test on one worker, as ``--dist loadgroup`` promises.

    xdist 3.8 appends ``@group`` to ``item._nodeid``, which pytest 9 no longer reads (a node's
    id lives in ``item._id``), so grouped tests were spread over the workers and each worker
    built the group's shared fixture (graded the demo class) again. The suffix goes where
    pytest 9 reads it.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if names and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(sorted(names))}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, driven by Playwright (no Playwright browser download).

    One per test worker, for the site's tests and the feedback pages' alike: Playwright's sync
    API refuses to start a second instance while one is running.
    """
    from browser.sitecheck import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test-browser` (scripts/install-browser.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _message_language() -> Iterator[None]:
    """``AUTOGRADER_TEST_LANGUAGE=ko``: run the tests with the checks' messages in Korean (to
    find a translation whose placeholders do not fit; tests of English text then fail)."""
    import os

    from autograder import i18n

    with i18n.use(os.environ.get("AUTOGRADER_TEST_LANGUAGE", "en")):
        yield
