"""The assignments as the grader needs them: nbgrader course folder, gradebook, source cells.

:func:`prepare` lays out ``OUT_DIR/course`` (nbgrader's config and a copy of ``solutions/``) and
runs ``nbgrader generate_assignment`` for each assignment that the gradebook lacks or whose source
changed, so that the gradebook holds the assignment, its notebooks and its grade, solution and
source cells, exactly as nbgrader's own tools expect.

Every version it generates is kept, source and release, in ``OUT_DIR/course/versions/<stem>/``:
a student who was handed an earlier release is graded against that release's cells
(:meth:`Assignment.releases`, which also reads the releases committed to git). nbgrader itself
keeps one version per assignment and cannot add or remove the cells of one that has submissions;
:func:`prepare` then stops and says which cells changed and what to run (:func:`refusal`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from autograder import course as course_paths

#: The text of a grade cell that the student's release did not have: no check runs, it scores 0.
NOT_RELEASED = (
    "# {grade_id} ({points}) is not in the release of this assignment that this\n"
    "# notebook came from, so no check ran here; it scores 0 until an instructor grades it."
)


@dataclass
class SourceCell:
    """One cell of the instructor's source notebook that carries nbgrader metadata.

    ``released`` is False for a grade cell of the current version that a student's earlier
    release lacked: it is put into their notebook to be counted (0 points), never run.
    """

    grade_id: str
    cell_type: str
    source: str
    release: str
    metadata: dict
    locked: bool
    grade: bool
    solution: bool
    points: float
    released: bool = True


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
class Release:
    """One version of an assignment as it was released: its notebooks' source and release."""

    id: str  #: :func:`source_hash` of its source notebooks
    label: str  #: where it was found, for notes: "commit 1a2b3c4 of 2025-03-02"
    when: str  #: ISO time, to order releases newest first
    notebooks: dict[str, NotebookDef]
    #: "ko" for the Korean edition of the current release (:func:`korean_release`)
    edition: str = ""


@dataclass
class Assignment:
    stem: str
    notebooks: dict[str, NotebookDef]
    version: str = ""  #: :func:`source_hash` of the current source
    course: Path | None = None
    _releases: list[Release] | None = field(default=None, repr=False)

    @property
    def max_score(self) -> float:
        return sum(nb.max_score for nb in self.notebooks.values())

    def releases(self) -> list[Release]:
        """The other versions of this assignment the grader knows, newest first: those kept in
        ``OUT_DIR/course/versions`` and those committed to git. Read once, when first needed
        (only a notebook that does not match the current release needs them)."""
        if self._releases is None:
            found: dict[str, Release] = {}
            stored = self.course / "versions" / self.stem if self.course else None
            for release in [*stored_releases(stored), *git_releases(self.stem)]:
                if release.id != self.version:
                    found.setdefault(release.id, release)
            korean = korean_release(self.stem, self.notebooks)
            self._releases = ([korean] if korean else []) + sorted(
                found.values(), key=lambda r: r.when, reverse=True
            )
        return self._releases


def course_dir(out_dir: Path) -> Path:
    return out_dir / "course"


def source_hash(stem: str) -> str:
    return _files_hash(
        {p.name: p.read_bytes() for p in (course_paths.SOLUTIONS / stem).glob("*.ipynb")}
    )


def _files_hash(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + files[name])
    return digest.hexdigest()


def prepare(out_dir: Path, db_url: str, stems: list[str]) -> dict[str, Assignment]:
    """The course folder and gradebook for ``stems``; generate only what is missing or stale."""
    course = course_dir(out_dir)
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy(course_paths.REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    with Gradebook(db_url) as gradebook:
        known = {assignment.name for assignment in gradebook.assignments}
    versions = {}
    for stem in stems:
        stamp = course / f".source-{stem}.sha256"
        current = versions[stem] = source_hash(stem)
        fresh = stamp.exists() and stamp.read_text() == current
        if not (stem in known and fresh and (course / "release" / stem).is_dir()):
            problem = refusal(db_url, stem, out_dir)
            if problem:
                raise SystemExit(problem)
            keep_generated(course, stem)  # the version being replaced, if nothing kept it yet
            shutil.rmtree(course / "solutions" / stem, ignore_errors=True)
            shutil.copytree(course_paths.SOLUTIONS / stem, course / "solutions" / stem)
            try:
                generate_assignment(course, db_url, stem)
            except RuntimeError as error:
                raise SystemExit(f"cannot grade {stem}: {error}") from None
            stamp.write_text(current)
        keep_release(course, stem, current)
    return {stem: load(course, stem, versions[stem]) for stem in stems}


def generate_assignment(course: Path, db_url: str, stem: str) -> None:
    """``nbgrader generate_assignment STEM --force``, in this process, through nbgrader's API.

    The course's ``nbgrader_config.py`` is loaded as the command would load it; the release goes
    to ``course/release`` and the gradebook to ``db_url``. When nbgrader fails, the error says
    what nbgrader logged, not only its closing "Please see the above traceback".
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.db_url = db_url
    # The course Gradebook(db_url) creates. A blank course id would leave the assignment's
    # foreign key dangling: SQLite does not check it, PostgreSQL refuses the row.
    config.CourseDirectory.course_id = config.CourseDirectory.get("course_id") or "default_course"
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    result = api.generate_assignment(stem, force=True)
    if not result.get("success"):
        raise RuntimeError(
            f"nbgrader generate_assignment {stem} failed: {_nbgrader_reason(result)}"
        )


def _nbgrader_reason(result: dict) -> str:
    """The exceptions nbgrader logged (their tracebacks are in its log), else its own last line:
    "RuntimeError: Cannot add or remove cells ...", not "Please see the above traceback"."""
    raised = re.compile(r"^\s*(\w+\.)*\w*(Error|Exception): .")
    logged = [line.strip() for line in result.get("log", "").splitlines() if raised.match(line)]
    error = result.get("error", "").strip().splitlines()
    return "; ".join(dict.fromkeys(logged or error[-1:]))


# --- nbgrader's rule: no cells added to or removed from an assignment with submissions -------

KINDS = ("grade", "solution", "task", "source")


def source_cell_names(notebook: nbformat.NotebookNode) -> dict[str, set[str]]:
    """The cells nbgrader's ``SaveCells`` records for a source notebook, by kind."""
    from nbgrader import utils

    names: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        kinds = {
            "grade": utils.is_grade(cell),
            "solution": utils.is_solution(cell),
            "task": utils.is_task(cell),
        }
        kinds["source"] = any(kinds.values()) or utils.is_locked(cell)
        for kind, is_kind in kinds.items():
            if is_kind and grade_id:
                names[kind].add(grade_id)
    return names


def gradebook_cell_names(notebook) -> dict[str, set[str]]:
    """The cells the gradebook holds for one notebook of an assignment, by kind."""
    return {kind: {cell.name for cell in getattr(notebook, f"{kind}_cells")} for kind in KINDS}


def cell_changes(old: dict[str, dict[str, set[str]]], new: dict[str, dict[str, set[str]]]) -> str:
    """What nbgrader would refuse, said per notebook: "module.ipynb adds cells a, b"."""
    said = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            said.append(f"adds notebook {name}.ipynb")
        elif name not in new:
            said.append(f"removes notebook {name}.ipynb")
        elif old[name] != new[name]:
            before = set().union(*old[name].values())
            after = set().union(*new[name].values())
            parts = []
            if after - before:
                parts.append("adds cells " + ", ".join(sorted(after - before)))
            if before - after:
                parts.append("removes cells " + ", ".join(sorted(before - after)))
            if not parts:
                kinds = sorted(g for k in KINDS for g in old[name][k] ^ new[name][k])
                parts.append("changes the kind of cells " + ", ".join(dict.fromkeys(kinds)))
            said.append(f"{name}.ipynb " + " and ".join(parts))
    return "; ".join(said)


def hand_work(assignment) -> list[str]:
    """What an instructor entered by hand for an assignment, which removing it would lose."""
    counts = dict.fromkeys(("manual scores", "extra credits", "comments", "extensions"), 0)
    flagged = 0
    for submission in assignment.submissions:
        counts["extensions"] += submission.extension is not None
        for notebook in submission.notebooks:
            flagged += bool(notebook.flagged)
            for grade in notebook.grades:
                counts["manual scores"] += grade.manual_score is not None
                counts["extra credits"] += grade.extra_credit is not None
            for comment in notebook.comments:
                counts["comments"] += bool(comment.manual_comment)
    counts["flags"] = flagged
    lost = [f"{n} {what}" if n != 1 else f"1 {what[:-1]}" for what, n in counts.items() if n]
    return lost + (["its due date"] if assignment.duedate is not None else [])


def refusal(db_url: str, stem: str, out_dir: Path) -> str:
    """Why nbgrader would refuse to generate ``stem`` into this gradebook, and what to run;
    empty when it will not refuse.

    nbgrader keeps one version of an assignment. Once it has submissions, ``generate_assignment``
    may change the contents of its cells (sources, points) but refuses to add or remove cells or
    notebooks (``SaveCells``: "Cannot add or remove cells for notebook ... because there are
    submissions associated with it").
    """
    with Gradebook(db_url) as gradebook:
        try:
            assignment = gradebook.find_assignment(stem)
        except MissingEntry:
            return ""
        if not assignment.submissions:
            return ""  # nbgrader replaces an assignment nobody submitted to
        old = {nb.name: gradebook_cell_names(nb) for nb in assignment.notebooks}
        new = {
            path.stem: source_cell_names(nbformat.read(path, as_version=4))
            for path in sorted((course_paths.SOLUTIONS / stem).glob("*.ipynb"))
        }
        if old == new:
            return ""
        submitted = len(assignment.submissions)
        lost = hand_work(assignment)
    from sqlalchemy.engine import make_url

    shown_db = make_url(db_url).render_as_string(hide_password=True)
    lose = ", ".join(lost) if lost else "nothing was entered by hand"
    return (
        f"cannot grade {stem}: its source changed which cells it has ({cell_changes(old, new)}), "
        f"and nbgrader cannot add or remove the cells of an assignment that already has "
        f"submissions in its gradebook ({shown_db} holds {submitted} for {stem}). Either\n"
        f"  - grade into a new OUT_DIR: python -m autograder grade SUBMISSIONS_DIR --out NEW_DIR\n"
        f"    (releases committed to git are recognised there; to carry over the releases this "
        f"OUT_DIR kept, first: mkdir -p NEW_DIR/course && cp -r {out_dir}/course/versions "
        f"NEW_DIR/course/), or\n"
        f"  - remove {stem} from this gradebook, then run the same command again; every "
        f"submission of {stem} is graded again, and what an instructor entered by hand for it is "
        f"lost ({lose}):\n"
        f"    nbgrader db assignment remove {stem} --force --db '{shown_db}'\n"
        f'See "Changing an exercise during the term" in docs/grading.md.'
    )


# --- the cells of one version --------------------------------------------------------------


def load(course: Path, stem: str, current: str = "") -> Assignment:
    """Source and release cells of every notebook of one generated assignment."""
    notebooks = {}
    for path in sorted((course / "solutions" / stem).glob("*.ipynb")):
        source = nbformat.read(path, as_version=4)
        release = nbformat.read(course / "release" / stem / path.name, as_version=4)
        notebooks[path.name] = definition(path.name, source, release)
    return Assignment(stem, notebooks, current, course)


def definition(
    name: str, source: nbformat.NotebookNode, release: nbformat.NotebookNode
) -> NotebookDef:
    """One notebook's cells with nbgrader metadata, from its source and its release."""
    released = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in release.cells
        if "grade_id" in c.metadata.get("nbgrader", {})
    }
    found = NotebookDef(name, source, release)
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if "grade_id" not in meta:
            continue
        grade_id = meta["grade_id"]
        found.order.append(grade_id)
        found.cells[grade_id] = SourceCell(
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
    return found


def as_released(current: NotebookDef, given: NotebookDef) -> NotebookDef:
    """The cells to grade a notebook of another release with: that release's cells (its locked
    cells, its tests), counted as the current version counts them.

    A grade cell of both versions scores the current version's points; when the student saw it
    as it is now (the same visible text), it runs as it is now, hidden tests included, so that a
    corrected hidden test applies to everyone. A grade cell the current version no longer has is
    run for its messages (its released text, no hidden tests) but not counted; a grade cell the
    release did not have is put in unrun (``released=False``) and scores 0, so that every
    student's score is out of the same maximum, the gradebook's.
    """
    merged = NotebookDef(current.name, given.source, given.release)
    for grade_id in given.order:
        cell, now = given.cells[grade_id], current.cells.get(grade_id)
        if cell.grade and now is not None and now.grade:
            if cell.release.strip() == now.release.strip() and cell.cell_type == now.cell_type:
                cell = now
            else:
                points = {"points": now.points}
                cell = replace(cell, points=now.points, metadata=cell.metadata | points)
        elif cell.grade:  # judged as a check (0 points) but, for nbgrader, no grade cell
            quiet = cell.metadata | {"grade": False, "points": 0}
            cell = replace(cell, source=cell.release, points=0.0, metadata=quiet)
        elif now is None and not cell.locked:
            cell = replace(cell, metadata={})  # a solution cell the gradebook no longer has
        merged.cells[grade_id] = cell
        merged.order.append(grade_id)
    for position, grade_id in enumerate(current.order):
        now = current.cells[grade_id]
        if grade_id in merged.cells or not now.grade:
            continue
        worth = f"{now.points:g} point" + ("" if now.points == 1 else "s")
        text = NOT_RELEASED.format(grade_id=grade_id, points=worth)
        merged.cells[grade_id] = replace(now, source=text, release="", released=False)
        before = [g for g in current.order[:position] if g in merged.cells]
        at = merged.order.index(before[-1]) + 1 if before else 0
        merged.order.insert(at, grade_id)
    return merged


# --- where earlier releases are found ------------------------------------------------------


def keep_release(course: Path, stem: str, version: str) -> None:
    """Keep the version just generated in ``course/versions/<stem>/<hash>/``, once."""
    folder = course / "versions" / stem / version[:16]
    if folder.is_dir():
        return
    scratch = folder.with_name(folder.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(course / "solutions" / stem, scratch / "source")
    shutil.copytree(course / "release" / stem, scratch / "release")
    stamp = course / f".source-{stem}.sha256"  # written when this version was generated
    made = stamp.stat().st_mtime if stamp.exists() else datetime.now(UTC).timestamp()
    when = datetime.fromtimestamp(made, UTC).isoformat(timespec="seconds")
    (scratch / "version.json").write_text(json.dumps({"id": version, "kept": when}) + "\n")
    scratch.rename(folder)


def keep_generated(course: Path, stem: str) -> None:
    """Keep the version ``course`` holds for ``stem``, when its stamp says it was generated."""
    stamp = course / f".source-{stem}.sha256"
    solutions = course / "solutions" / stem
    if not (stamp.exists() and solutions.is_dir() and (course / "release" / stem).is_dir()):
        return
    version = _files_hash({p.name: p.read_bytes() for p in solutions.glob("*.ipynb")})
    if stamp.read_text() == version:
        keep_release(course, stem, version)


def stored_releases(folder: Path | None) -> list[Release]:
    """The versions :func:`keep_release` kept for one assignment."""
    found = []
    for version in sorted(folder.iterdir()) if folder and folder.is_dir() else []:
        try:
            about = json.loads((version / "version.json").read_text())
            sources = {p.name: p.read_bytes() for p in (version / "source").glob("*.ipynb")}
            releases = {n: (version / "release" / n).read_bytes() for n in sources}
        except (OSError, ValueError):
            continue  # a version folder cut short
        notebooks = _definitions(sources, releases)
        if notebooks and about.get("id") == _files_hash(sources):
            label = f"the version graded from {about['kept'][:10]}"
            found.append(Release(about["id"], label, about["kept"], notebooks))
    return found


def git_releases(stem: str) -> list[Release]:
    """Each version of ``solutions/<stem>`` committed to git with its ``notebooks/<stem>``.

    The committed release is the student notebook of that commit (a test keeps it current).
    None when the solutions are not in a git repository or git is missing.
    """
    solutions, notebooks = course_paths.SOLUTIONS / stem, course_paths.NOTEBOOKS / stem
    top = _git(solutions.parent, "rev-parse", "--show-toplevel")
    if top is None:
        return []
    root = Path(top.decode().strip())
    try:
        source_dir = solutions.resolve().relative_to(root).as_posix()
        release_dir = notebooks.resolve().relative_to(root).as_posix()
    except ValueError:
        return []
    log = _git(root, "log", "--format=%H %cI", "--", source_dir, release_dir) or b""
    found = []
    for line in log.decode().splitlines():
        commit, when = line.split(" ", 1)
        listed = _git(root, "ls-tree", "--name-only", f"{commit}:{source_dir}") or b""
        sources, releases = {}, {}
        for name in listed.decode().splitlines():
            if name.endswith(".ipynb"):
                sources[name] = _git(root, "show", f"{commit}:{source_dir}/{name}")
                releases[name] = _git(root, "show", f"{commit}:{release_dir}/{name}")
        if not sources or None in sources.values() or None in releases.values():
            continue
        notebooks = _definitions(sources, releases)
        if notebooks:
            label = f"the release of commit {commit[:7]} of {when[:10]}"
            found.append(Release(_files_hash(sources), label, when, notebooks))
    return found


def korean_release(stem: str, current: dict[str, NotebookDef]) -> Release | None:
    """The Korean edition of the current release (``notebooks/ko/<stem>``, :mod:`autograder.korean`)
    as a release of its own: the current source with its locked Markdown cells in Korean. Its
    code, grade ids, points and hidden tests are the current release's; None when the Korean
    notebooks are missing or do not come from the current release."""
    folder = course_paths.NOTEBOOKS / "ko" / stem
    sources, releases = {}, {}
    for name, definition in current.items():
        try:
            released = (folder / name).read_bytes()
            korean = nbformat.reads(released.decode(), as_version=4)
        except (OSError, ValueError):
            return None
        # The Korean task text, and the setup cell that sets the kernel's language.
        text = {
            cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source
            for cell in korean.cells
            if cell.cell_type == "markdown" or "selfcheck.track(" in cell.source
        }
        source = copy.deepcopy(definition.source)
        for cell in source.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            kept = cell.cell_type == "markdown" or "selfcheck.track(" in cell.source
            if grade_id in text and kept:
                cell.source = text[grade_id]
        sources[name] = nbformat.writes(source).encode()
        releases[name] = released
    notebooks = _definitions(sources, releases)
    if not notebooks:
        return None
    label = "the Korean edition of the current release"
    return Release(_files_hash(sources), label, "", notebooks, edition="ko")


def _git(where: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _definitions(sources: dict[str, bytes], releases: dict[str, bytes]) -> dict[str, NotebookDef]:
    """Definitions of a version's notebooks; none when a file is not a notebook, or when its
    release does not come from its source (a release committed stale)."""
    notebooks = {}
    for name in sorted(sources):
        try:
            source = nbformat.reads(sources[name].decode(), as_version=4)
            release = nbformat.reads(releases[name].decode(), as_version=4)
        except Exception:  # noqa: BLE001 - an unreadable version is not a version
            return {}
        found = definition(name, source, release)
        released = {c.metadata.get("nbgrader", {}).get("grade_id") for c in release.cells}
        if any(c.locked and c.grade_id not in released for c in found.cells.values()):
            return {}
        notebooks[name] = found
    return notebooks
