"""Plain nbgrader, for comparison: the same submissions through ``nbgrader autograde``.

Used by the tests (identical scores on honest submissions) and by ``benchmarks/grading.py``
(seconds per submission, side by side in one run).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder.course import generate, make_course, nbgrader


def nbgrader_autograde(
    submissions: Path, students: list[str], stems: list[str], workdir: Path
) -> tuple[dict[tuple[str, str], float], float]:
    """Scores by (student, stem) from sequential ``nbgrader autograde``, and its seconds.

    The course folder is prepared (``generate_assignment``) before the clock starts; the time
    covers ``nbgrader autograde`` only, one assignment at a time, as an instructor runs it.
    """
    course = make_course(workdir / "course")
    for stem in stems:
        generate(course, stem)
        for student in students:
            folder = submissions / student / stem
            if folder.is_dir():
                shutil.copytree(folder, course / "submitted" / student / stem)
    started = time.perf_counter()
    for stem in stems:
        nbgrader(course, "autograde", stem, "--force")
    seconds = time.perf_counter() - started
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for stem in stems:
            for student in students:
                try:
                    scores[(student, stem)] = gradebook.find_submission(stem, student).score
                except MissingEntry:
                    continue
    return scores, seconds
