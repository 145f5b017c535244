"""From a submitted notebook to a grading job, and from the job's messages to scores.

A submission's locked cells (grade cells and read-only instructor cells) are taken from the
instructor's source, never from the student: an edited one is restored and reported, a deleted
one is put back after the cell that preceded it in the source (as nbgrader's
``OverwriteCells.add_missing_cells`` does), and the submission is flagged ``tampered``.

The source is that of the release the notebook came from (:func:`restore_locked_cells`): when
the assignment changed after a student was handed it, their notebook is graded against the
earlier release whose locked cells it holds unchanged, never flagged for cells it was not given.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat

from autograder.grade.assignments import Assignment, NotebookDef, Release, as_released
from autograder.grade.judge import Cell, Graded, grade_calls

#: Statuses, most serious first; a submission takes the most serious of its notebooks'.
STATUSES = (
    "missing", "unreadable", "tampered", "review", "worker_lost", "kernel_died", "timed_out",
    "graded",
)  # fmt: skip

#: The key of cell metadata the grader writes: ``{"not_in_release": true}`` on a grade cell that
#: the student's release did not have. A submitted notebook's own is dropped.
OWN = "autograder"


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
    #: Where a broker's worker graded it: ``{"host": name, "try": n}`` (empty on one machine).
    worker: dict = field(default_factory=dict)

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


@dataclass
class Change:
    """A difference between a submitted notebook and the release it is restored from."""

    grade_id: str
    kind: str  #: "edited", "deleted" (locked cells) or "type" (a solution cell's cell type)
    #: the submitted cell is as nbgrader released it: its checksum matches its text, so it comes
    #: from a release (one the grader does not know, if it differs), not from an edit
    as_released: bool = False

    def note(self, cell_type: str = "") -> str:
        if self.kind == "edited":
            return f"locked cell {self.grade_id} was edited; the original was restored"
        if self.kind == "deleted":
            return f"locked cell {self.grade_id} was deleted; it was put back"
        return f"cell {self.grade_id} changed type; graded as {cell_type}"


def restore_from(
    notebook: nbformat.NotebookNode, definition: NotebookDef
) -> tuple[nbformat.NotebookNode, list[Change]]:
    """Locked cells from the source (hidden tests included); what differs from it.

    Grade cells that the student's release did not have (``released=False``) are put in where
    the source has them, with no change recorded: the student could not have kept them.
    """
    restored = copy.deepcopy(notebook)
    changes: list[Change] = []
    seen: dict[str, int] = {}
    cells = []
    for cell in restored.cells:
        if isinstance(cell.metadata, dict):
            cell.metadata.pop(OWN, None)  # the grader's own marks come only from the grader
        grade_id = _meta(cell).get("grade_id")
        known = definition.cells.get(grade_id) if grade_id else None
        if known is None or not known.released or grade_id in seen:
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
                changes.append(Change(grade_id, "edited", _as_released(cell)))
            cell = _from_source(known)
        else:
            cell.metadata["nbgrader"] = dict(known.metadata)
            if cell.cell_type != known.cell_type:
                changes.append(Change(grade_id, "type"))
                cell = _converted(cell, known.cell_type)
        cells.append(cell)
    for position, grade_id in enumerate(definition.order):
        known = definition.cells[grade_id]
        if grade_id in seen or not known.locked:
            continue
        if known.released:
            changes.append(Change(grade_id, "deleted"))
        previous = [g for g in definition.order[:position] if g in seen]
        at = max(seen[g] for g in previous) + 1 if previous else 0
        cells.insert(at, _from_source(known))
        seen = {g: (i + 1 if i >= at else i) for g, i in seen.items()}
        seen[grade_id] = at
    restored.cells = cells
    return restored, changes


def _as_released(cell) -> bool:
    """Whether a submitted locked cell is as nbgrader released it: the checksum nbgrader wrote
    into its metadata is that of its text, type and flags. (A student can recompute it; the cell
    is restored all the same, only the flag is spared.)"""
    from nbgrader.utils import compute_checksum

    checksum = _meta(cell).get("checksum")
    try:
        return isinstance(checksum, str) and compute_checksum(cell) == checksum
    except Exception:  # noqa: BLE001 - metadata a checksum cannot be computed from
        return False


@dataclass
class Restored:
    """A submitted notebook with its locked cells restored from the release it came from."""

    notebook: nbformat.NotebookNode
    notes: list[str]  #: what the student changed; any makes the notebook ``tampered``
    definition: NotebookDef  #: the cells it is judged with
    release: Release | None = None  #: the other release it came from; None: the current one
    about: str = ""  #: which release it was graded against, when not the current one exactly
    #: what the grade depends on beyond the files, for the ledger: empty for a notebook of the
    #: current release; else the release chosen and the releases it was chosen from (so that a
    #: release found later grades it again)
    key: str = ""


def restore_locked_cells(
    notebook: nbformat.NotebookNode, assignment: Assignment, name: str
) -> Restored:
    """The notebook restored from the release it came from; notes on what the student changed.

    A notebook whose locked cells are those of the current release is restored from it, as
    always. Another is compared with every other release the grader knows (newest first) and
    restored from the one it matches with the fewest edited, deleted or foreign locked cells
    (the current release on a tie): an honest student of an earlier release matches it exactly
    and is graded against its cells with no flag. Of what still differs, a locked cell that is
    as nbgrader released it (its checksum says so) is the mark of a release the grader does not
    know: it is restored and named, not flagged, and neither are the cells that release lacked.
    Only the rest are the student's edits, and make the notebook ``tampered``.
    """
    current = assignment.notebooks[name]
    restored, changes = restore_from(notebook, current)
    distance = len(changes) + _foreign(notebook, current)
    if distance == 0:
        return Restored(restored, [], current)
    best, best_changes = Restored(restored, [], current), changes
    for release in assignment.releases():
        given = release.notebooks.get(name)
        if given is None:
            continue
        merged = as_released(current, given)
        candidate, changed = restore_from(notebook, merged)
        away = len(changed) + _foreign(notebook, given)
        if away < distance:
            best, best_changes, distance = Restored(candidate, [], merged, release), changed, away
        if distance == 0:
            break
    known = ",".join(release.id for release in assignment.releases())
    best.key = (best.release.id if best.release else "current") + ":" + known
    unknown = any(change.as_released for change in best_changes)
    quiet = [c for c in best_changes if unknown and (c.as_released or c.kind == "deleted")]
    cell_types = {g: c.cell_type for g, c in best.definition.cells.items()}
    best.notes = [c.note(cell_types[c.grade_id]) for c in best_changes if c not in quiet]
    best.about = _about(best, name, assignment.stem, quiet)
    return best


def _foreign(notebook: nbformat.NotebookNode, definition: NotebookDef) -> int:
    """How many nbgrader cells of the notebook the definition has no cell for."""
    ids = {_meta(cell).get("grade_id") for cell in notebook.cells}
    return len({g for g in ids if g} - {g for g, c in definition.cells.items() if c.released})


def _about(restored: Restored, name: str, stem: str, quiet: list[Change]) -> str:
    """The note saying which release the notebook was graded against, and what that changes."""
    said = []
    release = restored.release
    if release is not None and release.edition and not restored.notes and not quiet:
        return ""  # the current release in another language: nothing to say
    if release is not None:
        how = "its locked cells match it" if not restored.notes and not quiet else "the closest"
        said.append(
            f"{name} came from another release of {stem} than the current one "
            f"({release.label}; {how}), so it was graded against that release's cells and "
            f"checks (a check it shows as the current release does runs as it is now), each "
            f"check worth its current points."
        )
    if quiet:
        which = "that release" if release else "every release of it the grader knows"
        edited = ", ".join(c.grade_id for c in quiet if c.kind == "edited")
        deleted = ", ".join(c.grade_id for c in quiet if c.kind == "deleted")
        said.append(
            f"{name} holds locked cells that differ from {which} yet are as nbgrader released "
            f"them (their checksums match), so it came from a release the grader has not seen: "
            f"{edited}. {'That release' if release else 'The current release'}'s cells were used "
            f"instead" + (f", and put in where it had none: {deleted}." if deleted else ".")
        )
    cells = restored.definition.cells.values()
    added = [f"{c.grade_id} ({_points(c.points)})" for c in cells if not c.released]
    dropped = [c.grade_id for c in cells if c.grade and c.released and not c.metadata.get("grade")]
    if added:
        said.append(
            "A check that release did not have scores 0 until an instructor grades it: "
            + ", ".join(added)
            + "."
        )
    if dropped:
        said.append(
            "Its checks that the current release no longer has ran but do not count: "
            + ", ".join(dropped)
            + "."
        )
    return " ".join(said)


def _points(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def _from_source(known) -> nbformat.NotebookNode:
    metadata = {"nbgrader": dict(known.metadata), "editable": False, "deletable": False}
    if not known.released:
        metadata[OWN] = {"not_in_release": True}
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
        if known is not None and not known.released:
            # a check the student was not given: its text is a comment, so that nothing runs
            # and later cells keep their numbers; it scores nothing
            cells.append(Cell(index, "code", known.source))
        elif known is not None and known.grade and not known.solution:
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
            if cell.metadata.get(OWN, {}).get("not_in_release"):
                continue  # no auto score: the gradebook keeps it for an instructor to grade
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
