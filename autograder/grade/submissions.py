"""From a submitted notebook to a grading job, and from the job's messages to scores.

A submission's locked cells (grade cells and read-only instructor cells) are taken from the
instructor's source, never from the student: an edited one is restored and reported, a deleted
one is put back after the cell that preceded it in the source (as nbgrader's
``OverwriteCells.add_missing_cells`` does), and the submission is flagged ``tampered``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat

from autograder.grade.assignments import NotebookDef
from autograder.grade.judge import Cell, Graded, grade_calls

#: Statuses, most serious first; a submission takes the most serious of its notebooks'.
STATUSES = ("missing", "unreadable", "tampered", "review", "kernel_died", "timed_out", "graded")


@dataclass
class NotebookResult:
    """One submitted notebook after grading."""

    name: str
    status: str
    scores: dict[str, float] = field(default_factory=dict)
    max_scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    notebook: nbformat.NotebookNode | None = None
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(self.scores.values())


def parse_notebook(name: str, data: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook in ``data``, or None and what is wrong with it."""
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
        # JSON can spell a lone surrogate ("\ud800"), which no file can hold: writing the
        # graded copy would fail later, so such a notebook is unreadable now.
        nbformat.writes(notebook).encode("utf-8")
    except UnicodeEncodeError:
        return None, f"{name} is not a readable notebook: it holds text that is not Unicode"
    except Exception as error:  # noqa: BLE001 - any parse failure makes it unreadable
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return None, f"{name} is not a readable notebook: {first[:300]}"
    return notebook, ""


def _meta(cell) -> dict:
    """A cell's nbgrader metadata; whatever a student put there that is not a dict counts as none,
    and a grade_id that is not text as no grade_id."""
    meta = cell.metadata.get("nbgrader") if isinstance(cell.metadata, dict) else None
    if not isinstance(meta, dict):
        return {}
    return meta if isinstance(meta.get("grade_id", ""), str) else {}


def restore_locked_cells(
    notebook: nbformat.NotebookNode, definition: NotebookDef
) -> tuple[nbformat.NotebookNode, list[str]]:
    """Locked cells from the source (hidden tests included); notes on what the student changed."""
    restored = copy.deepcopy(notebook)
    notes: list[str] = []
    seen: dict[str, int] = {}
    cells = []
    for cell in restored.cells:
        grade_id = _meta(cell).get("grade_id")
        known = definition.cells.get(grade_id) if grade_id else None
        if known is None or grade_id in seen:
            cell.metadata.pop("nbgrader", None)
            cells.append(cell)
            continue
        seen[grade_id] = len(cells)
        if known.locked:
            edited = cell.source.strip() != known.release.strip()
            changed = cell.cell_type != known.cell_type or bool(_meta(cell).get("grade")) != (
                known.grade
            )
            if edited or changed:
                notes.append(f"locked cell {grade_id} was edited; the original was restored")
            cell = _from_source(known)
        else:
            cell.metadata["nbgrader"] = dict(known.metadata)
            if cell.cell_type != known.cell_type:
                notes.append(f"cell {grade_id} changed type; graded as {known.cell_type}")
                cell = _converted(cell, known.cell_type)
        cells.append(cell)
    for position, grade_id in enumerate(definition.order):
        known = definition.cells[grade_id]
        if grade_id in seen or not known.locked:
            continue
        notes.append(f"locked cell {grade_id} was deleted; it was put back")
        previous = [g for g in definition.order[:position] if g in seen]
        at = max(seen[g] for g in previous) + 1 if previous else 0
        cells.insert(at, _from_source(known))
        seen = {g: (i + 1 if i >= at else i) for g, i in seen.items()}
        seen[grade_id] = at
    restored.cells = cells
    return restored, notes


def _from_source(known) -> nbformat.NotebookNode:
    metadata = {"nbgrader": dict(known.metadata), "editable": False, "deletable": False}
    if known.cell_type == "code":
        return nbformat.v4.new_code_cell(known.source, metadata=metadata)
    return nbformat.v4.new_markdown_cell(known.source, metadata=metadata)


def _converted(cell, cell_type: str) -> nbformat.NotebookNode:
    maker = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    return maker(cell.source, metadata=cell.metadata)


def judge_cells(notebook: nbformat.NotebookNode, definition: NotebookDef) -> list[Cell]:
    """The code cells of a restored notebook, in order, each with its kind; grade cells with
    their check calls, read from the instructor's source."""
    cells = []
    setup = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        known = definition.cells.get(meta.get("grade_id", ""))
        if known is not None and known.grade and not known.solution:
            calls = grade_calls(known.source, setup)
            cells.append(Cell(index, "grade", known.source, known.points, calls))
        elif known is not None and known.locked and not known.solution:
            setup.append(known.source)
            cells.append(Cell(index, "setup", known.source))
        else:
            cells.append(Cell(index, "code", cell.source))
    return cells


def score_notebook(
    name: str, notebook: nbformat.NotebookNode, notes: list[str], graded: Graded
) -> NotebookResult:
    """The judge's outputs in the notebook, the grade cells' points, the status and notes."""
    result = copy.deepcopy(notebook)
    scores, maxima = {}, {}
    for index, cell in enumerate(result.cells):
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(o) for o in graded.outputs.get(index, [])]
            cell.execution_count = None
        meta = _meta(cell)
        if meta.get("grade") and meta.get("grade_id"):
            maxima[meta["grade_id"]] = float(meta.get("points", 0) or 0)
            scores[meta["grade_id"]] = 0.0 if graded.tampered else graded.points.get(index, 0.0)
    status = "graded"
    if graded.timed_out:
        status = "timed_out"
    if graded.died:
        status = "kernel_died"
    if graded.review:
        status = "review"
    if notes or graded.tampered:
        status = "tampered"
    all_notes = list(notes) + [f"tampering: {what}" for what in dict.fromkeys(graded.tampered)]
    all_notes += [f"needs review: {what}" for what in dict.fromkeys(graded.review)]
    if graded.died:
        all_notes.append("the notebook's process died; cells that did not run score 0")
    return NotebookResult(name, status, scores, maxima, all_notes, result, graded.seconds)


def _error(name: str, value: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename=name, evalue=value, traceback=[])


def worst(statuses: list[str]) -> str:
    return min(statuses, key=STATUSES.index) if statuses else "missing"


def unreadable_result(name: str, definition: NotebookDef, status: str, why: str) -> NotebookResult:
    maxima = {g: c.points for g, c in definition.cells.items() if c.grade}
    return NotebookResult(name, status, dict.fromkeys(maxima, 0.0), maxima, [why])
