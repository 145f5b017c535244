"""From a submitted notebook to a grading job, and from the job's messages to scores.

A submission's locked cells (grade cells and read-only instructor cells) are taken from the
instructor's source, never from the student: an edited one is restored and reported, a deleted
one is put back after the cell that preceded it in the source (as nbgrader's
``OverwriteCells.add_missing_cells`` does), and the submission is flagged ``tampered``.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.utils import determine_grade

from autograder.grade.assignments import NotebookDef

#: Statuses, most serious first; a submission takes the most serious of its notebooks'.
STATUSES = ("missing", "unreadable", "tampered", "kernel_died", "timed_out", "graded")


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


def fingerprint(folder: Path) -> str:
    """Changes when any submitted notebook changes, so a resubmission is graded again."""
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(folder.glob("*.ipynb")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook, or None and what is wrong with the file."""
    if not path.exists():
        return None, f"{path.name} was not submitted"
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # noqa: BLE001 - any parse failure makes it unreadable
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return None, f"{path.name} is not a readable notebook: {first[:300]}"
    return notebook, ""


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {}) if isinstance(cell.metadata, dict) else {}


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


def job_cells(notebook: nbformat.NotebookNode) -> list[dict]:
    """The code cells to execute, in order, with what kind each is."""
    cells = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        if meta.get("grade") and not meta.get("solution"):
            kind = "grade"
        elif meta.get("locked") and not meta.get("solution"):
            kind = "setup"
        else:
            kind = "code"
        cells.append({"index": index, "kind": kind, "source": cell.source})
    return cells


def score_notebook(
    name: str,
    notebook: nbformat.NotebookNode,
    notes: list[str],
    result: dict,
) -> NotebookResult:
    """Put the worker's outputs into the notebook and score its grade cells like nbgrader."""
    graded = copy.deepcopy(notebook)
    by_index = {}
    ended = False
    refusals = []
    check_ends = {}
    for message in result["messages"]:
        kind = message.get("kind")
        if kind == "cell" and isinstance(message.get("index"), int):
            by_index[message["index"]] = message
        elif kind == "check_end":
            check_ends[message.get("index")] = message
        elif kind == "tamper":
            refusals.append(str(message.get("what", "?")))
        elif kind == "end":
            ended = True
    runtime_tamper = list(dict.fromkeys(refusals))
    flags = {"timeout": False, "died": False}
    for index, cell in enumerate(graded.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        message = by_index.get(index)
        meta = _meta(cell)
        is_check = meta.get("grade") and not meta.get("solution")
        if message is None:
            end = check_ends.get(index)
            if end and end.get("how") == "timeout":
                flags["timeout"] = True
                cell.outputs = [_error("CellTimeout", "the check ran past the cell time limit")]
            elif end:
                flags["died"] = True
                why = "the process running this check died (crash, os._exit or a signal)"
                cell.outputs = [_error("KernelDied", why)]
            elif result.get("budget_exceeded"):
                cell.outputs = [_error("NotRun", "the notebook ran out of its time budget")]
            else:
                cell.outputs = [_error("NotRun", "the notebook's process died before this cell")]
            continue
        outputs = [nbformat.from_dict(o) for o in message.get("outputs", []) if isinstance(o, dict)]
        if message.get("status") == "timeout":
            flags["timeout"] = True
        for output in outputs:
            if output.get("output_type") == "error" and output.get("ename") == "MemoryError":
                output["evalue"] = f"{output.get('evalue', '')} (the memory cap was reached)"
        if is_check:
            found = list(message.get("tampered_before", [])) + list(
                message.get("tampered_during", [])
            )
            if found:
                runtime_tamper += found
                outputs.append(_error("Tampering", "; ".join(found)))
        cell.outputs = outputs
    if result.get("budget_exceeded"):
        flags["timeout"] = True
    if not ended and not result.get("budget_exceeded"):
        flags["died"] = True
    runtime_tamper = list(dict.fromkeys(runtime_tamper))
    scores, maxima = {}, {}
    for cell in graded.cells:
        meta = _meta(cell)
        if not meta.get("grade"):
            continue
        score, max_score = determine_grade(cell)
        maxima[meta["grade_id"]] = max_score
        scores[meta["grade_id"]] = 0.0 if runtime_tamper else score
    status = "graded"
    if flags["timeout"]:
        status = "timed_out"
    if flags["died"]:
        status = "kernel_died"
    if notes or runtime_tamper:
        status = "tampered"
    all_notes = notes + [f"tampering: {what}" for what in runtime_tamper]
    if flags["died"]:
        all_notes.append("the notebook's process died; cells that did not run score 0")
    return NotebookResult(
        name, status, scores, maxima, all_notes, graded, float(result.get("seconds", 0))
    )


def _error(name: str, value: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename=name, evalue=value, traceback=[])


def worst(statuses: list[str]) -> str:
    return min(statuses, key=STATUSES.index) if statuses else "missing"


def unreadable_result(name: str, definition: NotebookDef, status: str, why: str) -> NotebookResult:
    maxima = {g: c.points for g, c in definition.cells.items() if c.grade}
    return NotebookResult(name, status, dict.fromkeys(maxima, 0.0), maxima, [why])


def job_for(job_id: str, name: str, notebook, cell_timeout: float, budget: float) -> dict:
    return {
        "id": job_id,
        "notebook": name,
        "cells": job_cells(notebook),
        "cell_timeout": cell_timeout,
        "budget": budget,
    }
