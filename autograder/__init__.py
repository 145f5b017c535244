"""Checks that grade the course's exercises against an untouched torch, and the grading pipeline.

Each chapter has a module named after its stem (``autograder.module`` for ``01_module``,
``autograder.parameter`` for ``02_parameter`` …). A check raises :class:`CheckFailure` with a
message that names the call, what torch gives and what the student's code gave.
"""

from autograder.report import CheckFailure

__all__ = ["CheckFailure"]
