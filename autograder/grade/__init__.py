"""Grading a whole class: parallel, sandboxed, resumable, and written to nbgrader's gradebook.

Entry point: ``python -m autograder grade SUBMISSIONS_DIR --out OUT_DIR`` (see ``docs/grading.md``).
"""
