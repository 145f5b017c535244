"""Due dates and late penalties, as nbgrader's late-submission plugin applies them.

A due date lives where nbgrader keeps it, ``Assignment.duedate`` in the gradebook (UTC, without
a zone): ``nbgrader db assignment add 01_module --duedate=…``, ``--due 01_module=DATE`` or a
``--deadlines`` file put it there, and every later run reads it from there. A submission's time
is its ``timestamp.txt``. Lateness is nbgrader's ``SubmittedAssignment.total_seconds_late``: the
seconds from the due date, plus the student's extension, to the timestamp, or 0.

The penalty is computed per notebook from the notebook's score and the assignment's seconds
late, by :class:`autograder.grade.latepenalty.LatePenalty` (an nbgrader ``LateSubmissionPlugin``,
so plain ``nbgrader autograde`` can use it too), then clamped to ``[0, score]`` as nbgrader's
``AssignLatePenalties`` does: a penalty never makes a score negative. A notebook that is not
late has no penalty (``None``, which nbgrader reads as 0).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

#: The late policies: nbgrader's two, and a percentage per started hour or day.
METHODS = ("none", "zero", "per-hour", "per-day")
UNITS = {"per-hour": 3600, "per-day": 86400}
POLICY_FILE = "late_policy.json"


class DeadlineError(ValueError):
    """A due date or late policy that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Policy:
    r"""A late policy, checked when it is made.

    Args:
        method: ``none``, ``zero``, ``per-hour`` or ``per-day``.
        percent: for ``per-hour`` and ``per-day``, the percentage of a notebook's score lost
            for every started hour or day after the due date.
        cap: for ``per-hour`` and ``per-day``, at most this percentage is lost (default 100).

    Example:
        >>> Policy("per-day", 10, 50).penalty(8.0, 90_000)  # 25 h late: two started days
        1.6
    """

    method: str = "none"
    percent: float | None = None
    cap: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise DeadlineError(f"late policy should be one of {METHODS}, but got {self.method!r}")
        if self.method in UNITS:
            if self.percent is None or not math.isfinite(self.percent) or self.percent <= 0:
                raise DeadlineError(
                    f"late policy {self.method} needs a positive --late-percent, "
                    f"but got late_percent={self.percent}"
                )
            cap = 100.0 if self.cap is None else self.cap
            if not math.isfinite(cap) or not 0 < cap <= 100:
                raise DeadlineError(
                    f"--late-cap should be a percentage in (0, 100], but got late_cap={cap}"
                )
            object.__setattr__(self, "cap", float(cap))
            object.__setattr__(self, "percent", float(self.percent))
        elif self.percent is not None or self.cap is not None:
            raise DeadlineError(
                f"--late-percent and --late-cap apply to per-hour and per-day only, "
                f"but the late policy is {self.method}"
            )

    @cached_property
    def plugin(self):
        """The nbgrader plugin that computes this policy's penalties."""
        from autograder.grade.latepenalty import LatePenalty

        settings = {"penalty_method": self.method}
        if self.method in UNITS:
            settings |= {"percent": self.percent, "cap": self.cap}
        return LatePenalty(**settings)

    def penalty(self, score: float, seconds_late: float) -> float | None:
        """A notebook's penalty, as nbgrader's ``AssignLatePenalties`` stores it."""
        if seconds_late <= 0:
            return None
        value = self.plugin.late_submission_penalty("", score, seconds_late)
        if value is None:
            return None
        return min(max(value, 0.0), score)

    def describe(self) -> str:
        if self.method == "none":
            return "none"
        if self.method == "zero":
            return "zero (a late notebook scores 0)"
        unit = self.method.removeprefix("per-")
        return f"{self.percent:g}% of the score per started {unit}, at most {self.cap:g}%"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Policy:
        return cls(**json.loads(text))


def load_policy(given: Policy | None, out: Path) -> tuple[Policy, bool]:
    """The policy of this run and whether it was given: else the one ``OUT_DIR`` recorded."""
    if given is not None:
        return given, True
    kept = out / POLICY_FILE
    if not kept.exists():
        return Policy(), False
    try:
        return Policy.from_json(kept.read_text()), False
    except (ValueError, TypeError, OSError) as error:
        raise DeadlineError(
            f"{kept} is not a late policy ({error}); pass --late-policy to replace it"
        ) from None


def record_policy(policy: Policy, out: Path) -> None:
    (out / POLICY_FILE).write_text(policy.to_json() + "\n")


def parse_due(text: str, where: str) -> datetime | None:
    """An ISO 8601 date and time with its zone, as nbgrader stores it (UTC, no zone); ``none``
    clears a due date."""
    text = text.strip()
    if text.lower() == "none":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DeadlineError(
            f"{where}: {text!r} is not an ISO 8601 date and time, e.g. 2026-12-01T23:59:00+09:00"
        ) from None
    if moment.tzinfo is None:
        raise DeadlineError(
            f"{where}: {text!r} has no time zone; write its offset, e.g. {text}+09:00, or "
            f"{text}Z for UTC"
        )
    return moment.astimezone(UTC).replace(tzinfo=None)


def due_dates(flags: list[str], file: Path | None, known: list[str]) -> dict[str, datetime | None]:
    """Due dates from a ``--deadlines`` file and ``--due STEM=DATE`` flags (flags win)."""
    found = read_deadlines(file, known) if file is not None else {}
    given: dict[str, datetime | None] = {}
    for flag in flags:
        stem, sep, text = flag.partition("=")
        stem = stem.strip()
        if not sep:
            raise DeadlineError(f"--due should be STEM=DATE, but got {flag!r}")
        _check_stem(stem, known, f"--due {flag}")
        due = parse_due(text, f"--due {stem}")
        if stem in given and given[stem] != due:
            raise DeadlineError(f"--due gives {stem} two different due dates")
        given[stem] = due
    return found | given


def read_deadlines(path: Path, known: list[str]) -> dict[str, datetime | None]:
    """A CSV file with columns ``assignment,duedate``, one line per assignment."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise DeadlineError(f"deadlines {path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise DeadlineError(f"deadlines {path}: not UTF-8; save it as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    if not {"assignment", "duedate"} <= set(header):
        raise DeadlineError(
            f"deadlines {path}: the header should have columns assignment,duedate, "
            f"but is {','.join(header)}"
        )
    reader.fieldnames = header
    found: dict[str, datetime | None] = {}
    for row in reader:
        where = f"deadlines {path}, line {reader.line_num}"
        stem = (row.get("assignment") or "").strip()
        if not stem and not (row.get("duedate") or "").strip():
            continue
        _check_stem(stem, known, where)
        if stem in found:
            raise DeadlineError(f"{where}: {stem} has a due date already")
        found[stem] = parse_due(row.get("duedate") or "", where)
    return found


def _check_stem(stem: str, known: list[str], where: str) -> None:
    if stem not in known:
        raise DeadlineError(f"{where}: unknown assignment {stem!r}; known: {', '.join(known)}")


def seconds_late(
    stamp: str | None, due: datetime | None, extension: timedelta | None = None
) -> float:
    """nbgrader's ``SubmittedAssignment.total_seconds_late`` for a timestamp and a due date."""
    from nbgrader.utils import parse_utc

    if stamp is None or due is None:
        return 0.0
    deadline = due + extension if extension is not None else due
    return max(0.0, (parse_utc(stamp) - deadline).total_seconds())


def late_key(stamp: str | None, late: float, policy: Policy) -> str:
    """What of the deadline a grade depends on, for the ledger: the timestamp (it is stored in
    the gradebook) and, for a late submission, the seconds late and the policy. A changed due
    date or policy regrades only the submissions whose penalty it can change."""
    parts = [stamp or "", f"{late:.3f}", policy.to_json() if late > 0 else ""]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def utc_text(moment: datetime | None) -> str:
    """A gradebook time (UTC, no zone) as ISO 8601 with its zone; empty for none."""
    return "" if moment is None else moment.replace(tzinfo=UTC).isoformat()


def stamp_text(stamp: str | None) -> str:
    from nbgrader.utils import parse_utc

    return "" if stamp is None else utc_text(parse_utc(stamp))


def duration(seconds: float) -> str:
    """``1 d 2 h 5 min``, ``42 s``: how late, for a person (started minutes count)."""
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    days, rest = divmod(math.ceil(seconds / 60), 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n)


def late_note(late: float, due: datetime | None, penalty: float, policy: Policy) -> str:
    """The feedback note of a late submission."""
    text = f"submitted {duration(late)} after the due date ({utc_text(due)})"
    if penalty > 0:
        return f"{text}: late penalty {penalty:g} points (policy: {policy.describe()})"
    return f"{text}: no late penalty (policy: {policy.describe()})"
