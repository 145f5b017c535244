"""What the instructor reads: grades.csv, feedback pages, a histogram and a terminal summary.

The feedback page itself is :mod:`autograder.grade.feedback`.
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from pathlib import Path

from autograder.grade.feedback import STATUS_TEXT, feedback_html

__all__ = [
    "CSV_COLUMNS",
    "STATUS_TEXT",
    "feedback_html",
    "summary_table",
    "write_csv",
    "write_histogram",
]

CSV_COLUMNS = ("student", "assignment", "score", "max_score", "status")


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _number(row[k]) if "score" in k else row[k] for k in CSV_COLUMNS})


def _number(value: float) -> str:
    return f"{value:g}"


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
    """One line per assignment: count, mean, median, and how many of each status."""
    header = f"{'assignment':<16}{'n':>4}{'mean %':>8}{'median %':>10}  statuses"
    lines = [header, "-" * len(header)]
    for stem in stems:
        mine = [r for r in rows if r["assignment"] == stem]
        percents = [100 * r["score"] / r["max_score"] for r in mine if r["max_score"]]
        counts = Counter(r["status"] for r in mine)
        mean = statistics.mean(percents) if percents else 0.0
        median = statistics.median(percents) if percents else 0.0
        states = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        lines.append(f"{stem:<16}{len(mine):>4}{mean:>8.1f}{median:>10.1f}  {states}")
    return "\n".join(lines)
