"""The late-submission plugin: nbgrader's ``none`` and ``zero``, and a percentage per started
hour or day with a cap. A module of its own because importing nbgrader takes seconds and the
command line checks a policy before it starts the grader."""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float

from autograder.grade.deadlines import METHODS, UNITS


class LatePenalty(LateSubmissionPlugin):
    """nbgrader's ``LateSubmissionPlugin`` with two more methods, ``per-hour`` and ``per-day``.

    For plain nbgrader, in ``nbgrader_config.py``::

        c.AssignLatePenalties.plugin_class = "autograder.grade.latepenalty.LatePenalty"
        c.LatePenalty.penalty_method = "per-day"
        c.LatePenalty.percent = 10
        c.LatePenalty.cap = 50
    """

    penalty_method = Enum(
        METHODS,
        default_value="none",
        help="none: no penalty; zero: a late notebook scores 0; per-hour, per-day: `percent` "
        "of the notebook's score for every started hour or day, at most `cap` percent.",
    ).tag(config=True)
    percent = Float(0.0, help="percent of the score lost per started hour or day").tag(config=True)
    cap = Float(100.0, help="at most this percent of the score is lost").tag(config=True)

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        if self.penalty_method not in UNITS:
            return super().late_submission_penalty(student_id, score, total_seconds_late)
        periods = math.ceil(total_seconds_late / UNITS[self.penalty_method])
        return score * min(self.cap, self.percent * periods) / 100
