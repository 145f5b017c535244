"""Checks that grade the course's exercises against an untouched torch, and the grading pipeline.

Each chapter has a module named after its stem (``autograder.module`` for ``01_module``,
``autograder.parameter`` for ``02_parameter`` …). Every check is a scenario, which exercises the
student's code and records plain data, and a judge, which computes torch's answer and compares
(:mod:`autograder.checking`). A failing check raises :class:`CheckFailure` with a message that
names the call, what torch gives and what the student's code gave.
"""

__all__ = ["CheckFailure"]


def __getattr__(name: str):
    # Imported on first use, so tools that need no torch (the batch grader's parent) start fast.
    if name == "CheckFailure":
        from autograder.report import CheckFailure

        return CheckFailure
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")
