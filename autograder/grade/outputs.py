"""What the instructor reads: grades.csv, totals.csv, feedback pages, a histogram and a
terminal summary.

The feedback page itself is :mod:`autograder.grade.feedback`.
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from pathlib import Path

from autograder.grade.feedback import STATUS_TEXT, feedback_html
from autograder.grade.roster import GRADE_COLUMNS, ROSTER_COLUMNS, TOTAL_COLUMNS

__all__ = [
    "CSV_COLUMNS",
    "GRADE_COLUMNS",
    "STATUS_TEXT",
    "feedback_html",
    "summary_table",
    "write_csv",
    "write_histogram",
    "write_totals",
]

#: grades.csv's columns for a roster without extra columns (or no roster).
CSV_COLUMNS = ("student", *ROSTER_COLUMNS[1:], *GRADE_COLUMNS)
NUMBERS = ("score", "max_score", "raw_score", "penalty", "late_seconds")


def write_csv(path: Path, rows: list[dict], roster_columns: list[str] | None = None) -> None:
    """grades.csv: a row per student and assignment, the roster's columns after ``student``."""
    columns = ["student", *(roster_columns or ROSTER_COLUMNS[1:]), *GRADE_COLUMNS]
    _write_rows(path, columns, [{k: _cell(k, row.get(k, "")) for k in columns} for row in rows])


def write_totals(
    path: Path, rows: list[dict], stems: list[str], roster_columns: list[str] | None = None
) -> None:
    """totals.csv: a row per student, the score (after penalties) per assignment, then
    ``total``, ``max`` and ``percent``. A student with an ``ungraded`` submission has that
    word in its column and no total, so that no partial total passes for a whole one."""
    identity = ["student", *(roster_columns or ROSTER_COLUMNS[1:])]
    by_student: dict[str, list[dict]] = {}
    for row in rows:
        by_student.setdefault(row["student"], []).append(row)
    lines = []
    for mine in by_student.values():
        line = {k: mine[0].get(k, "") for k in identity}
        for row in mine:
            score = row["score"]
            line[row["assignment"]] = "ungraded" if score is None else _number(score)
        if all(row["score"] is not None for row in mine):
            total = sum(row["score"] for row in mine)
            most = sum(row["max_score"] for row in mine)
            line |= {"total": _number(total), "max": _number(most)}
            line["percent"] = _number(round(100 * total / most, 2)) if most else ""
        lines.append(line)
    _write_rows(path, [*identity, *stems, *TOTAL_COLUMNS], lines)


def _write_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    """A CSV file written whole, then moved into place: a reader never sees half of it."""
    temporary = path.with_name(path.name + ".part")
    with open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    temporary.replace(path)


def _cell(column: str, value) -> str:
    if value is None:
        return ""
    return _number(value) if column in NUMBERS else value


def _number(value: float) -> str:
    """``7``, ``2.5``, ``0.333333``, ``90000``: no exponent, at most six decimals."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def write_histogram(path: Path, rows: list[dict], stems: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [*stems, "total"]
    columns = min(4, len(panels))
    rows_of_panels = -(-len(panels) // columns)
    fig, axes = plt.subplots(
        rows_of_panels, columns, figsize=(3.2 * columns, 2.6 * rows_of_panels), squeeze=False
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    rows = [row for row in rows if row["score"] is not None]  # ungraded: no score to plot
    bins = [i * 10 for i in range(11)]
    for ax, stem in zip(axes.flat, panels, strict=False):
        if stem == "total":
            by_student: dict[str, list[float]] = {}
            for row in rows:
                by_student.setdefault(row["student"], [0.0, 0.0])
                by_student[row["student"]][0] += row["score"]
                by_student[row["student"]][1] += row["max_score"]
            values = [100 * s / m for s, m in by_student.values() if m]
        else:
            values = [
                100 * r["score"] / r["max_score"]
                for r in rows
                if r["assignment"] == stem and r["max_score"]
            ]
        ax.hist(values, bins=bins, color="#4063d8", edgecolor="white")
        ax.set_title(f"{stem} (n={len(values)})", fontsize=9)
        ax.set_xlabel("score (% of max)")
        ax.set_xlim(0, 100)
    for row_axes in axes:
        row_axes[0].set_ylabel("students")
    fig.suptitle("Grade distribution", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def summary_table(rows: list[dict], stems: list[str]) -> str:
    """One line per assignment: count, mean, median (after late penalties), how many were
    late, and how many of each status."""
    header = f"{'assignment':<16}{'n':>4}{'mean %':>8}{'median %':>10}{'late':>6}  statuses"
    lines = [header, "-" * len(header)]
    for stem in stems:
        mine = [r for r in rows if r["assignment"] == stem]
        percents = [
            100 * r["score"] / r["max_score"]
            for r in mine
            if r["max_score"] and r["score"] is not None
        ]
        counts = Counter(r["status"] for r in mine)
        late = sum(1 for r in mine if r.get("late_seconds"))
        mean = statistics.mean(percents) if percents else 0.0
        median = statistics.median(percents) if percents else 0.0
        states = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        lines.append(f"{stem:<16}{len(mine):>4}{mean:>8.1f}{median:>10.1f}{late:>6}  {states}")
    return "\n".join(lines)
