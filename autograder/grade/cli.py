"""Command line: ``python -m autograder grade SUBMISSIONS_DIR --out OUT_DIR [--broker URL]``,
``worker --broker URL``, ``check NOTEBOOK``, ``export OUT_DIR`` and ``demo FOLDER``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from autograder.grade.export import add_arguments as add_export_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser(
        "grade",
        help="grade a class: parallel, sandboxed, resumable",
        description="Grade SUBMISSIONS_DIR/<student>/<assignment>/*.ipynb into OUT_DIR: "
        "gradebook, grades.csv, totals.csv, feedback/, histogram.png.",
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
    grade.add_argument(
        "--broker",
        metavar="URL",
        default="",
        help="send the notebooks to `python -m autograder worker` processes through this Celery "
        "broker (redis://:PASSWORD@HOST:6379/0) instead of grading here; see docs/scaling.md",
    )
    grade.add_argument(
        "--results", metavar="URL", default="", help="with --broker: the Redis result store "
        "(default: the broker)"
    )  # fmt: skip
    term = grade.add_argument_group(
        "term", "roster, due dates, late policy and regrades (OUT_DIR remembers the first three)"
    )
    term.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="columns student,name,email,lms_id,section (+ any); kept as OUT_DIR/roster.csv",
    )
    term.add_argument(
        "--due",
        action="append",
        default=[],
        metavar="STEM=DATE",
        help="due date with its zone, e.g. 01_module=2026-12-01T23:59:00+09:00 (repeatable; "
        "'none' clears); written to the gradebook",
    )
    term.add_argument(
        "--deadlines", type=Path, metavar="CSV", help="due dates from a file: assignment,duedate"
    )
    term.add_argument(
        "--late-policy",
        choices=("none", "zero", "per-hour", "per-day"),
        help="penalty after the due date (default: as recorded in OUT_DIR, else none)",
    )
    term.add_argument(
        "--late-percent",
        type=float,
        metavar="P",
        help="per-hour/per-day: percent of the score lost per started hour/day",
    )
    term.add_argument(
        "--late-cap", type=float, metavar="P", help="per-hour/per-day: at most P%% lost (100)"
    )
    term.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="NAME",
        help="grade only this student (repeatable); the report still covers the class",
    )
    term.add_argument(
        "--regrade",
        action="store_true",
        help="grade again what the ledger holds: everything, or the --student/--assignment",
    )
    check = commands.add_parser(
        "check",
        help="run a notebook's visible tests in a fresh kernel: a line per test, N/M points",
        description="Run NOTEBOOK's visible tests in a fresh Jupyter kernel and print each "
        "test's points, pass or fail and the first line of its message, then the total. "
        "Exit code 0 only when every test passes.",
    )
    check.add_argument("notebook", type=Path, metavar="NOTEBOOK.ipynb")
    check.add_argument("--timeout", type=float, default=300.0, help="seconds per cell")
    worker = commands.add_parser(
        "worker",
        help="grade the notebooks a `grade --broker` run sends (Celery worker, sandboxed)",
        description="Take notebooks to grade from the broker, run each in a sandboxed student "
        "process forked from a warm zygote, judge it, and send the decision back. Run one per "
        "host, as root for the sandbox. See docs/scaling.md.",
    )
    worker.add_argument("--broker", metavar="URL", required=True, help="the Celery broker")
    worker.add_argument(
        "--results", metavar="URL", default="", help="the Redis result store (default: broker)"
    )
    worker.add_argument("--jobs", type=int, default=0, help="notebooks at once (default: cores)")
    worker.add_argument("--name", default="", help="worker name (default: autograder-PID@HOST)")
    worker.add_argument("--hide", type=Path, action="append", default=[], help="also hide PATH")
    worker.add_argument("--no-sandbox", action="store_true", help="no namespaces, no uid drop")
    worker.add_argument(
        "--visibility-timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="Redis: a task a vanished worker held is handed out again after this long; keep it "
        "above the grade run's --budget (default 900)",
    )
    worker.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO)")
    demo = commands.add_parser("demo", help="write the synthetic demo class into a folder")
    demo.add_argument("folder", type=Path)
    export = commands.add_parser(
        "export",
        help="write grades.csv as the CSV Canvas or Moodle imports, or one row per student",
        description="Write OUT_DIR/grades.csv, with a roster, as Canvas's gradebook CSV, "
        "Moodle's grade import CSV or a wide CSV (a row per student). Prints the file written.",
    )
    add_export_arguments(export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        from autograder import selfcheck

        return selfcheck.main(args.notebook, args.timeout)
    if args.command == "export":
        from autograder.grade import export

        return export.main(args)
    if args.command == "worker":
        from autograder.grade import workers

        return workers.work(
            args.broker,
            args.results,
            args.jobs,
            args.name,
            args.hide,
            not args.no_sandbox,
            args.visibility_timeout,
            args.loglevel,
        )
    if args.command == "demo":
        from autograder.grade.demo import write_demo_class

        students = write_demo_class(args.folder)
        print(f"wrote {len(students)} demo students into {args.folder}")
        return 0
    return _grade(args)


def _grade(args: argparse.Namespace) -> int:
    """The grade command: check the inputs, start the zygotes, grade, print the summary."""
    from autograder.course import stems as all_stems
    from autograder.grade import deadlines, roster
    from autograder.grade.term import TermError, check_inputs

    started = time.monotonic()
    out = args.out.resolve()
    try:  # a bad roster, date or policy is refused before anything starts
        policy = _late_policy(args, deadlines)
        due = deadlines.due_dates(args.due, args.deadlines, all_stems())
        term = check_inputs(
            args.submissions, out, args.assignment, args.roster, policy, args.student
        )
    except (roster.RosterError, deadlines.DeadlineError, TermError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from autograder.grade import lanes as lanes_module

    db_url = args.db or lanes_module.default_db_url(out)
    lanes = None
    if args.broker:
        from autograder.grade import workers

        try:
            workers.configure(args.broker, args.results)
            workers.reach(args.broker)
        except workers.BrokerError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    else:
        # The zygotes start importing torch now, while this process imports the grader.
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
        roster=args.roster,
        due=due,
        policy=policy,
        students=args.student,
        regrade=args.regrade,
        broker=args.broker,
        results=args.results,
    )
    report = grade_class(options, lanes, term)
    print(outputs.summary_table(report.rows, report.stems))
    for notice in report.notices:
        print(f"\n{notice}")
    print(
        f"\n{len(report.rows)} rows in {args.out / 'grades.csv'}, a row per student in "
        f"{args.out / 'totals.csv'}; feedback in {args.out / 'feedback'}; "
        f"histogram {args.out / 'histogram.png'}; {time.monotonic() - started:.1f} s"
    )
    return 0


def _late_policy(args: argparse.Namespace, deadlines):
    """``--late-policy`` and its numbers as a checked policy; None keeps OUT_DIR's."""
    if args.late_policy is None:
        if args.late_percent is not None or args.late_cap is not None:
            raise deadlines.DeadlineError(
                "--late-percent and --late-cap need --late-policy per-hour or per-day"
            )
        return None
    return deadlines.Policy(args.late_policy, args.late_percent, args.late_cap)


if __name__ == "__main__":
    sys.exit(main())
