"""Regenerate the student notebooks: ``python -m autograder.release`` (``make release``).

First the two cells every exercise notebook shares are written into its source in
``solutions/``: the course setup cell (``<stem>_install``, after the introduction), which
installs the checks from the course site when they are missing and tells the self-check each
test cell's points, and the summary cell (``<stem>_summary``, last). Then each
``solutions/<stem>/`` is run through ``nbgrader generate_assignment`` in a scratch course folder
and the result replaces ``notebooks/<stem>/``; its Korean edition, ``notebooks/ko/<stem>/``, is
written from it and the catalog ``locales/ko/LC_MESSAGES/notebooks/<stem>.po``, which is brought
up to date first. The scratch folder keeps the repository free of nbgrader's gradebook.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import nbformat
import yaml

from autograder.course import NOTEBOOKS, REPO, SOLUTIONS, generate, make_course, stems
from autograder.selfcheck import first_check

#: The setup cell's code: ``{url}`` is the site's address, ``{points}`` the tests' points,
#: ``{python}`` the oldest Python the checks install on.
INSTALL_CELL = """\
# Course setup. The checks come from the course's `autograder` package; where it is missing
# (a notebook opened on its own, Colab, Binder) this cell installs it from the course site.
import importlib.util
import os
import subprocess
import sys

COURSE_SITE_URL = os.environ.get("COURSE_SITE_URL", "{url}")
if importlib.util.find_spec("torch") is None:
    raise ModuleNotFoundError(
        "This notebook needs PyTorch: run `pip install torch` (on Linux, add "
        "`--index-url https://download.pytorch.org/whl/cpu` for the small CPU build)."
    )
if importlib.util.find_spec("autograder") is None:
    if sys.version_info < {python}:
        raise RuntimeError(
            "The course's checks need Python {python_text} or newer, and this kernel runs "
            f"Python {{sys.version.split()[0]}}: start Jupyter from a newer Python."
        )
    wheels = COURSE_SITE_URL.rstrip("/") + "/wheels/"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links"]
    if subprocess.run([*pip, wheels, "day12-autograder"]).returncode != 0:
        raise ModuleNotFoundError(
            f"The course's checks could not be installed from {{wheels}}: in a terminal, run "
            f"`pip install day12-autograder --find-links {{wheels}}`, then restart the kernel."
        )
    importlib.invalidate_caches()

from autograder import selfcheck

selfcheck.track({points})"""

SUMMARY_CELL = '''\
"""Your score on the visible tests, before you submit."""
selfcheck.summary()'''


def site_url() -> str:
    """The published site's address: ``html.baseurl`` in ``_config.yml``."""
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    return config["html"]["baseurl"]


def oldest_python() -> tuple[int, ...]:
    """The oldest Python the package installs on: ``requires-python`` in ``pyproject.toml``."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return tuple(int(part) for part in project["requires-python"].removeprefix(">=").split("."))


def formatted(code: str) -> str:
    """``code`` laid out by ruff, as the repository's other code is (``make format``)."""
    ruff = [sys.executable, "-m", "ruff", "format", "--stdin-filename", "cell.py", "-"]
    done = subprocess.run(ruff, input=code, capture_output=True, text=True, check=True, cwd=REPO)
    return done.stdout.rstrip("\n")


def _locked(source: str, grade_id: str) -> nbformat.NotebookNode:
    meta = {"grade": False, "grade_id": grade_id, "locked": True, "schema_version": 3}
    meta |= {"solution": False, "task": False}
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})
    cell.id = grade_id
    return cell


def _grade_id(cell: nbformat.NotebookNode) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def with_shared_cells(notebook: nbformat.NotebookNode, stem: str) -> nbformat.NotebookNode:
    """``notebook`` with its setup cell (after the first cell) and summary cell (last) renewed."""
    install, summary = f"{stem}_install", f"{stem}_summary"
    cells = [c for c in notebook.cells if _grade_id(c) not in (install, summary)]
    points = {}
    for cell in cells:
        meta = cell.metadata.get("nbgrader", {})
        check = first_check(cell.source) if meta.get("grade") else None
        if check:
            points[check] = meta.get("points", 0)
    python = oldest_python()
    code = INSTALL_CELL.format(
        url=site_url(),
        points=json.dumps(points),
        python=python,
        python_text=".".join(map(str, python)),
    )
    code = formatted(code)
    setup = _locked(code, install)
    notebook.cells = [*cells[:1], setup, *cells[1:], _locked(SUMMARY_CELL, summary)]
    return notebook


def sync_sources() -> list[Path]:
    """Renew the shared cells in every source notebook; return the files that changed."""
    changed = []
    for stem in stems():
        for path in sorted((SOLUTIONS / stem).glob("*.ipynb")):
            before = path.read_text()
            notebook = with_shared_cells(nbformat.reads(before, as_version=4), stem)
            after = nbformat.writes(notebook) + "\n"
            if after != before:
                path.write_text(after)
                changed.append(path)
    return changed


def release(destination: Path = NOTEBOOKS) -> list[Path]:
    """Write every chapter's student notebooks under ``destination``, the Korean ones under
    ``destination/ko`` (:mod:`autograder.korean`); return the files."""
    from autograder import i18n, korean

    written = []
    with tempfile.TemporaryDirectory() as scratch:
        course = make_course(Path(scratch) / "course")
        for stem in stems():
            released = generate(course, stem)
            target = destination / stem
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(released, target)
            written += sorted(target.rglob("*.ipynb"))
            if destination == NOTEBOOKS:
                korean.update_catalog(stem)
            shutil.rmtree(destination / "ko" / stem, ignore_errors=True)
            written += korean.release(stem, destination / "ko", destination)
    if destination == NOTEBOOKS:
        written.append(i18n.compile_catalogs(REPO / "locales"))
    return written


if __name__ == "__main__":
    for path in sync_sources():
        print(f"renewed the shared cells of {path}")
    for path in release():
        print(f"wrote {path}")
