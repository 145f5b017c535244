"""What the instructor reads: grades.csv, feedback pages, a histogram and a terminal summary."""

from __future__ import annotations

import csv
import html
import statistics
from collections import Counter
from pathlib import Path

import nbformat

from autograder.grade.assignments import Assignment, without_hidden_tests

CSV_COLUMNS = ("student", "assignment", "score", "max_score", "status")

STATUS_TEXT = {
    "graded": "graded",
    "timed_out": "a cell ran past its time limit; what did not finish scores 0",
    "kernel_died": "the notebook's process died; what did not run scores 0",
    "unreadable": "the submitted file is not a readable notebook",
    "missing": "no notebook was submitted",
    "tampered": "the notebook changed locked cells or broke the grading protocol; see the notes",
    "review": "the code hands an exercise to torch or cannot be read statically; an instructor "
    "will review it (see the notes)",
}


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


STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;border-radius:4px}
.cell{margin:1rem 0}.grade{border-left:4px solid #999;padding-left:.6rem}
.pass{border-color:#2a8a2a}.fail{border-color:#c0392b}.err{background:#fdecea}
.notes{background:#fff6d6;padding:.6rem;border-radius:4px}
"""


def feedback_html(
    student: str, assignment: Assignment, results: list, status: str, score: float
) -> str:
    """A self-contained page: the student's code and outputs, each check's visible part and result.

    Grade cells are shown without their hidden-test block, and the errors of a check are shown
    as name and message only, never as a traceback through the grade cell.
    """
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(assignment.stem)}: feedback for {esc(student)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{esc(assignment.stem)}: feedback for {esc(student)}</h1>",
        f"<p><strong>Score: {score:g} / {assignment.max_score:g}</strong> &middot; status: "
        f"<code>{esc(status)}</code> ({esc(STATUS_TEXT[status])})</p>",
    ]
    for result in results:
        parts.append(
            f"<h2>{esc(result.name)}: {result.score:g} / {sum(result.max_scores.values()):g}</h2>"
        )
        if result.notes:
            items = "".join(f"<li>{esc(n)}</li>" for n in result.notes)
            parts.append(f"<div class='notes'><ul>{items}</ul></div>")
        if result.notebook is not None:
            parts += [_cell_html(cell, result) for cell in result.notebook.cells]
    parts.append("</body></html>")
    return "\n".join(parts)


def _cell_html(cell: nbformat.NotebookNode, result) -> str:
    esc = html.escape
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type == "markdown":
        return f"<div class='cell'><pre>{esc(cell.source)}</pre></div>"
    if cell.cell_type != "code":
        return ""
    if meta.get("grade") and not meta.get("solution"):
        grade_id = meta["grade_id"]
        got, most = result.scores.get(grade_id, 0.0), result.max_scores.get(grade_id, 0.0)
        verdict = "pass" if got == most else "fail"
        shown = [f"<div class='cell grade {verdict}'><p><strong>Check {esc(grade_id)}: "]
        shown.append(f"{got:g} / {most:g}</strong></p>")
        shown.append(f"<pre>{esc(without_hidden_tests(cell.source))}</pre>")
        for output in cell.outputs:
            if output.output_type == "error":
                shown.append(f"<pre class='err'>{esc(output.ename)}: {esc(output.evalue)}</pre>")
            elif output.output_type == "stream":
                shown.append(f"<pre>{esc(output.text)}</pre>")
        shown.append("</div>")
        return "".join(shown)
    shown = [f"<div class='cell'><pre>{esc(cell.source)}</pre>"]
    for output in cell.outputs:
        if output.output_type == "stream":
            shown.append(f"<pre>{esc(output.text)}</pre>")
        elif output.output_type == "execute_result":
            shown.append(f"<pre>{esc(output.data.get('text/plain', ''))}</pre>")
        elif output.output_type == "error":
            text = "".join(output.traceback) or f"{output.ename}: {output.evalue}"
            shown.append(f"<pre class='err'>{esc(text)}</pre>")
    shown.append("</div>")
    return "".join(shown)
