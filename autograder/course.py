"""The course folder as nbgrader sees it, and the nbgrader commands run on it."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # nbformat's import costs ~1.5 s; the grader's launcher needs none of it
    import nbformat

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def stems() -> list[str]:
    """Chapter stems that have exercises, in course order (``01_module`` …)."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def make_course(root: Path) -> Path:
    """Lay out a fresh nbgrader course folder at ``root``: config and ``solutions/``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(SOLUTIONS, root / "solutions", ignore=shutil.ignore_patterns(".ipynb_*"))
    return root


def nbgrader(course: Path, *args: str, timeout: float | None = None) -> str:
    """Run ``nbgrader ARGS`` in ``course``; raise with its output when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=venv_env(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def venv_env() -> dict[str, str]:
    """The environment with this interpreter's ``bin/`` first on PATH.

    nbgrader shells out to ``alembic`` and Jupyter finds kernels by PATH, so both must come
    from the same virtual environment even when it was not activated.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def generate(course: Path, stem: str) -> Path:
    """``nbgrader generate_assignment`` for one chapter; returns its release folder."""
    nbgrader(course, "generate_assignment", stem, "--force")
    return course / "notebooks" / stem


def answers(source: nbformat.NotebookNode) -> dict[str, str]:
    """The instructor's answer for each solution cell, by grade_id, without the markers."""
    found = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = cell.source.splitlines()
            kept = [line for line in lines if line.strip() not in SOLUTION_MARKERS]
            found[meta["grade_id"]] = "\n".join(kept)
    return found


def fill_in(release: nbformat.NotebookNode, answers_by_id: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of a student notebook with its solution cells answered, as a student would."""
    filled = copy.deepcopy(release)
    for cell in filled.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers_by_id:
            cell.source = answers_by_id[grade_id]
    return filled
