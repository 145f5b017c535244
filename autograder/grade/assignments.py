"""The assignments as the grader needs them: nbgrader course folder, gradebook, source cells.

:func:`prepare` lays out ``OUT_DIR/course`` (nbgrader's config and a copy of ``solutions/``) and
runs ``nbgrader generate_assignment`` for each assignment that the gradebook lacks or whose source
changed, so that the gradebook holds the assignment, its notebooks and its grade, solution and
source cells, exactly as nbgrader's own tools expect.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from autograder.course import REPO, SOLUTIONS

HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


@dataclass
class SourceCell:
    """One cell of the instructor's source notebook that carries nbgrader metadata."""

    grade_id: str
    cell_type: str
    source: str
    release: str
    metadata: dict
    locked: bool
    grade: bool
    solution: bool
    points: float


@dataclass
class NotebookDef:
    name: str
    source: nbformat.NotebookNode
    release: nbformat.NotebookNode
    cells: dict[str, SourceCell] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.cells.values() if c.grade)


@dataclass
class Assignment:
    stem: str
    notebooks: dict[str, NotebookDef]

    @property
    def max_score(self) -> float:
        return sum(nb.max_score for nb in self.notebooks.values())


def course_dir(out_dir: Path) -> Path:
    return out_dir / "course"


def source_hash(stem: str) -> str:
    digest = hashlib.sha256()
    for path in sorted((SOLUTIONS / stem).glob("*.ipynb")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def prepare(out_dir: Path, db_url: str, stems: list[str]) -> dict[str, Assignment]:
    """The course folder and gradebook for ``stems``; generate only what is missing or stale."""
    course = course_dir(out_dir)
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    with Gradebook(db_url) as gradebook:
        known = {assignment.name for assignment in gradebook.assignments}
    for stem in stems:
        stamp = course / f".source-{stem}.sha256"
        current = source_hash(stem)
        fresh = stamp.exists() and stamp.read_text() == current
        if stem in known and fresh and (course / "release" / stem).is_dir():
            continue
        shutil.rmtree(course / "solutions" / stem, ignore_errors=True)
        shutil.copytree(SOLUTIONS / stem, course / "solutions" / stem)
        generate_assignment(course, db_url, stem)
        stamp.write_text(current)
    return {stem: load(course, stem) for stem in stems}


def generate_assignment(course: Path, db_url: str, stem: str) -> None:
    """``nbgrader generate_assignment STEM --force``, in this process, through nbgrader's API.

    The course's ``nbgrader_config.py`` is loaded as the command would load it; the release goes
    to ``course/release`` and the gradebook to ``db_url``.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.db_url = db_url
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    result = api.generate_assignment(stem, force=True)
    if not result.get("success"):
        raise RuntimeError(f"generate_assignment {stem} failed:\n{result.get('error', '')}")


def load(course: Path, stem: str) -> Assignment:
    """Source and release cells of every notebook of one generated assignment."""
    notebooks = {}
    for path in sorted((course / "solutions" / stem).glob("*.ipynb")):
        source = nbformat.read(path, as_version=4)
        release = nbformat.read(course / "release" / stem / path.name, as_version=4)
        released = {
            c.metadata["nbgrader"]["grade_id"]: c.source
            for c in release.cells
            if "grade_id" in c.metadata.get("nbgrader", {})
        }
        definition = NotebookDef(path.name, source, release)
        for cell in source.cells:
            meta = cell.metadata.get("nbgrader", {})
            if "grade_id" not in meta:
                continue
            grade_id = meta["grade_id"]
            definition.order.append(grade_id)
            definition.cells[grade_id] = SourceCell(
                grade_id=grade_id,
                cell_type=cell.cell_type,
                source=cell.source,
                release=released.get(grade_id, ""),
                metadata=dict(meta),
                locked=bool(meta.get("locked")) or bool(meta.get("grade")),
                grade=bool(meta.get("grade")),
                solution=bool(meta.get("solution")),
                points=float(meta.get("points", 0)) if meta.get("grade") else 0.0,
            )
        notebooks[path.name] = definition
    return Assignment(stem, notebooks)


def without_hidden_tests(source: str, note: str = "# (hidden tests ran here)") -> str:
    """A grade cell's source with the hidden-test block replaced by a one-line note."""
    kept, inside = [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN[0]:
            inside = True
            kept.append(note)
        elif line.strip() == HIDDEN[1]:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)
