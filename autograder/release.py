"""Regenerate the student notebooks: ``python -m autograder.release`` (``make release``).

Each ``solutions/<stem>/`` is run through ``nbgrader generate_assignment`` in a scratch course
folder and the result replaces ``notebooks/<stem>/``. The scratch folder keeps the repository
free of nbgrader's gradebook.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from autograder.course import NOTEBOOKS, generate, make_course, stems


def release(destination: Path = NOTEBOOKS) -> list[Path]:
    """Write every chapter's student notebooks under ``destination``; return the files."""
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        course = make_course(Path(scratch) / "course")
        for stem in stems():
            released = generate(course, stem)
            target = destination / stem
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(released, target)
            written += sorted(target.rglob("*.ipynb"))
    return written


if __name__ == "__main__":
    for path in release():
        print(f"wrote {path}")
