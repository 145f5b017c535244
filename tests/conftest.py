"""Shared fixtures: the repository's paths and the code of the solution notebooks."""

from __future__ import annotations

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
