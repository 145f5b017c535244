"""Command line: ``python -m autograder grade SUBMISSIONS_DIR --out OUT_DIR``, ``check NOTEBOOK``
and ``demo FOLDER``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser(
        "grade",
        help="grade a class: parallel, sandboxed, resumable",
        description="Grade SUBMISSIONS_DIR/<student>/<assignment>/*.ipynb into OUT_DIR: "
        "gradebook, grades.csv, feedback/, histogram.png.",
    )
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    grade.add_argument("--out", type=Path, required=True, metavar="OUT_DIR")
    grade.add_argument(
        "--assignment", action="append", default=[], metavar="STEM", help="repeatable; default all"
    )
    grade.add_argument("--jobs", type=int, default=0, help="workers (default: one per core)")
    grade.add_argument("--cell-timeout", type=float, default=60.0, help="seconds per cell")
    grade.add_argument("--budget", type=float, default=300.0, help="seconds per notebook")
    grade.add_argument("--memory-mb", type=int, default=1024, help="memory cap per notebook")
    grade.add_argument(
        "--db",
        default="",
        metavar="DB_URL",
        help="gradebook URL (default sqlite OUT_DIR/gradebook.db)",
    )
    grade.add_argument("--hide", type=Path, action="append", default=[], help="also hide PATH")
    grade.add_argument("--no-sandbox", action="store_true", help="no namespaces, no uid drop")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    check = commands.add_parser(
        "check",
        help="run a notebook's visible tests in a fresh kernel: a line per test, N/M points",
        description="Run NOTEBOOK's visible tests in a fresh Jupyter kernel and print each "
        "test's points, pass or fail and the first line of its message, then the total. "
        "Exit code 0 only when every test passes.",
    )
    check.add_argument("notebook", type=Path, metavar="NOTEBOOK.ipynb")
    check.add_argument("--timeout", type=float, default=300.0, help="seconds per cell")
    demo = commands.add_parser("demo", help="write the synthetic demo class into a folder")
    demo.add_argument("folder", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        from autograder import selfcheck

        return selfcheck.main(args.notebook, args.timeout)
    if args.command == "demo":
        from autograder.grade.demo import write_demo_class

        students = write_demo_class(args.folder)
        print(f"wrote {len(students)} demo students into {args.folder}")
        return 0
    from autograder.grade import lanes as lanes_module

    started = time.monotonic()
    # The zygotes start importing torch now, while this process imports the grader.
    out = args.out.resolve()
    db_url = args.db or lanes_module.default_db_url(out)
    lanes = lanes_module.start(
        args.jobs, args.submissions.resolve(), out, db_url, args.hide, not args.no_sandbox
    )
    from autograder.grade import outputs
    from autograder.grade.batch import Options, grade_class

    options = Options(
        submissions=args.submissions,
        out=args.out,
        assignments=args.assignment,
        jobs=args.jobs,
        cell_timeout=args.cell_timeout,
        budget=args.budget,
        memory_mb=args.memory_mb,
        db_url=args.db,
        sandbox=not args.no_sandbox,
        hide=args.hide,
        progress=not args.no_progress,
    )
    rows = grade_class(options, lanes)
    stems = list(dict.fromkeys(r["assignment"] for r in rows))
    print(outputs.summary_table(rows, stems))
    print(
        f"\n{len(rows)} rows in {args.out / 'grades.csv'}; feedback in {args.out / 'feedback'}; "
        f"histogram {args.out / 'histogram.png'}; {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
