"""The Korean student notebooks: the English release with its task text in Korean.

Each exercise notebook's text is in its locked Markdown cells (the introduction and one task per
exercise, each with an nbgrader ``grade_id``). Their Korean is in a gettext catalog per chapter,
``locales/ko/LC_MESSAGES/notebooks/<stem>.po`` (the message context is ``<notebook>:<grade_id>``,
the message the whole cell). ``make release`` writes ``notebooks/ko/<stem>/<name>.ipynb``: the
English release, cell for cell, with those cells in Korean (and nbgrader's checksums of them
computed again) and ``"autograder": {"language": "ko"}`` in its metadata. The code cells, the
grade ids and the points are the English release's, so the same checks grade both; the grader
knows the Korean notebooks as a release of their own
(:func:`autograder.grade.assignments.korean_release`).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from autograder.course import NOTEBOOKS, REPO

CATALOGS = REPO / "locales" / "ko" / "LC_MESSAGES" / "notebooks"
KOREAN = NOTEBOOKS / "ko"
LANGUAGE = {"language": "ko"}
#: The setup cell's call that tells the kernel the notebook's points (and, here, its language).
TRACK = re.compile(r"selfcheck\.track\(\s*(\{[^}]*\})\s*\)")


def texts(notebook: nbformat.NotebookNode, name: str) -> list[tuple[str, str]]:
    """(context, Markdown) of each locked Markdown cell with a grade id: what is translated."""
    found = []
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "markdown" and grade_id:
            found.append((f"{name}:{grade_id}", cell.source))
    return found


def update_catalog(stem: str) -> Path:
    """Bring ``<stem>.po`` in line with the English release: new cells untranslated, changed
    ones fuzzy (their old Korean kept for the translator), removed ones dropped."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    template = Catalog(locale="ko", project="Day 12 notebooks")
    for path in sorted((NOTEBOOKS / stem).glob("*.ipynb")):
        for context, text in texts(nbformat.read(path, as_version=4), path.name):
            template.add(text, context=context)
    target = CATALOGS / f"{stem}.po"
    if target.exists():
        with open(target, "rb") as handle:
            catalog = read_po(handle)
        catalog.update(template, no_fuzzy_matching=False)
        catalog.obsolete.clear()
    else:
        catalog = template
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        write_po(handle, catalog, width=100)
    return target


def translations(stem: str) -> dict[tuple[str, str], str]:
    """(context, English) -> Korean, for the translated, not fuzzy, messages of a chapter."""
    from babel.messages.pofile import read_po

    path = CATALOGS / f"{stem}.po"
    if not path.exists():
        return {}
    with open(path, "rb") as handle:
        done = [m for m in read_po(handle) if m.id and m.string and not m.fuzzy]
    return {(m.context, m.id): m.string for m in done}


def korean_notebook(
    release: nbformat.NotebookNode, name: str, korean: dict[tuple[str, str], str]
) -> tuple[nbformat.NotebookNode, list[str]]:
    """The Korean notebook of one English release notebook, and the cells left in English."""
    from nbgrader.utils import compute_checksum

    made = copy.deepcopy(release)
    missing = []
    for cell in made.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "markdown" or not grade_id:
            continue
        text = korean.get((f"{name}:{grade_id}", cell.source))
        if text is None:
            missing.append(grade_id)
            continue
        cell.source = text
        if "checksum" in cell.metadata["nbgrader"]:
            cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    for cell in made.cells:
        if cell.cell_type == "code" and TRACK.search(cell.source):
            from autograder.release import formatted

            cell.source = formatted(TRACK.sub(r'selfcheck.track(\1, language="ko")', cell.source))
            if "checksum" in cell.metadata.get("nbgrader", {}):
                cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    made.metadata["autograder"] = dict(LANGUAGE)
    return made, missing


def release(stem: str, destination: Path = KOREAN, english: Path = NOTEBOOKS) -> list[Path]:
    """Write ``destination/<stem>/*.ipynb`` from the English release in ``english/<stem>``."""
    korean = translations(stem)
    target = destination / stem
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted((english / stem).glob("*.ipynb")):
        made, missing = korean_notebook(nbformat.read(path, as_version=4), path.name, korean)
        if missing:
            print(f"{stem}/{path.name}: not yet in Korean (English kept): {', '.join(missing)}")
        nbformat.write(made, target / path.name)
        written.append(target / path.name)
    return written


def is_korean(notebook: nbformat.NotebookNode) -> bool:
    meta = notebook.metadata.get("autograder") if isinstance(notebook.metadata, dict) else None
    return isinstance(meta, dict) and meta.get("language") == "ko"
