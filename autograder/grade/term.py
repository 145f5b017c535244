"""A run's inputs about the class, checked before anything is graded or written.

This module imports nothing heavy, so that the command line refuses a malformed roster, an
unknown student or a bad late policy at once, before it starts the grader's processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.course import stems
from autograder.grade import deadlines, files
from autograder.grade import roster as roster_file


class TermError(ValueError):
    """An unknown assignment or student, or no submissions folder."""


@dataclass
class Term:
    """The class as a run sees it.

    ``students`` are everyone the report covers (the roster and the submitters); ``scope`` are
    those this run grades (``--student``, else all of them).
    """

    students: list[str]
    scope: list[str]
    roster: roster_file.Roster | None
    roster_source: Path | None
    policy: deadlines.Policy
    policy_given: bool


def check_inputs(
    submissions: Path,
    out: Path,
    assignments: list[str],
    roster: Path | None,
    policy: deadlines.Policy | None,
    students: list[str],
) -> Term:
    """Check a run's inputs: the roster (given, or the one kept in OUT_DIR), the late policy
    (given, or the one OUT_DIR recorded), the assignments and the ``--student`` names.

    Raises:
        roster.RosterError: the roster cannot be used.
        deadlines.DeadlineError: the late policy OUT_DIR recorded cannot be read.
        TermError: an unknown assignment or student, or no submissions folder.
    """
    out = out.resolve()
    unknown = sorted(set(assignments) - set(stems()))
    if unknown:
        raise TermError(f"unknown assignment(s): {', '.join(unknown)}; known: {stems()}")
    if not submissions.is_dir():
        raise TermError(f"the submissions folder {submissions} is not a folder")
    kept, source = roster_file.load(roster, out)
    chosen_policy, given = deadlines.load_policy(policy, out)
    everyone = set(files.student_folders(submissions.resolve()))
    everyone |= set(kept.rows if kept else ())
    strangers = sorted(set(students) - everyone)
    if strangers:
        where = "submitted anything or is on the roster" if kept else "submitted anything"
        raise TermError(f"--student: no such student {where}: {', '.join(strangers)}")
    scope = sorted(set(students)) if students else sorted(everyone)
    return Term(sorted(everyone), scope, kept, source, chosen_policy, given)
