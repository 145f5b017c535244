"""The batch grader against a student who has read this repository: one test per attack.

Every attack here once gave full marks, or crashed or hung the batch. Each test asserts that the
attacker earns nothing it did not answer, that the batch completes, and that the status says
what happened. The submissions are graded by the contract command in three chains that run side
by side (module-scoped, started once):

- ``main``: one batch of many attackers over 01_module, 03_backward, 04_optimizer and
  07_samplers (forged messages, frame walking, patches, delegation, hostile files, malformed
  notebooks), then the same command again (a resume that must grade nothing twice);
- ``resume``: one lane (``--jobs 1``): a victim and a memory scanner, a slow student and a
  child that floods the channel; graded with small limits, then larger ones, then into another
  gradebook;
- ``crosstalk``: the default limits, two lanes: an endless loop, an ``os._exit`` and a probe.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import attacks
import nbformat
import pytest
from attacks import write

from autograder.course import REPO, SOLUTIONS, venv_env
from autograder.grade.submissions import STATUSES

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("adversarial")]

if find_spec("autograder.delegation") is None:
    pytest.skip("autograder/delegation.py is not there yet", allow_module_level=True)

STEM = "01_module"
ASSIGNMENTS = ["01_module", "03_backward", "04_optimizer", "07_samplers"]
MAIN = ["--jobs", "2", "--cell-timeout", "20", "--budget", "60", "--memory-mb", "1024"]
SMALL = ["--jobs", "1", "--cell-timeout", "3", "--budget", "8", "--memory-mb", "1024"]
LARGER = ["--jobs", "1", "--cell-timeout", "10", "--budget", "30", "--memory-mb", "1024"]
FORKER_BUDGET = 8.0
#: A line of the instructor's MyLinear answer: it must never show for a file the grader refused.
SOLUTION_LINE = "y = x @ self.weight.T"


# --- running the grader ----------------------------------------------------------------------


@dataclass
class Run:
    """One ``python -m autograder grade`` and what it wrote."""

    out: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    extra: dict = field(default_factory=dict)

    def check(self) -> Run:
        assert self.returncode == 0, f"the batch failed:\n{self.stdout}\n{self.stderr[-4000:]}"
        return self

    @property
    def rows(self) -> dict[tuple[str, str], dict]:
        with open(self.out / "grades.csv") as handle:
            return {(r["student"], r["assignment"]): r for r in csv.DictReader(handle)}

    @property
    def ledger(self) -> list[dict]:
        return [json.loads(line) for line in (self.out / "ledger.jsonl").read_text().splitlines()]

    def last(self, student: str, stem: str = STEM) -> dict:
        rows = [r for r in self.ledger if (r["student"], r["assignment"]) == (student, stem)]
        assert rows, f"no ledger line for {student}/{stem}"
        return rows[-1]

    def status(self, student: str, stem: str = STEM) -> str:
        return self.rows[(student, stem)]["status"]

    def score(self, student: str, stem: str = STEM) -> float:
        return float(self.rows[(student, stem)]["score"])

    def scores(self, student: str, stem: str = STEM) -> dict[str, float]:
        found = {}
        for notebook in self.last(student, stem)["notebooks"].values():
            found.update(notebook["scores"])
        return found

    def notes(self, student: str, stem: str = STEM) -> str:
        notebooks = self.last(student, stem)["notebooks"].values()
        return "\n".join(note for nb in notebooks for note in nb["notes"])

    def feedback(self, student: str, stem: str = STEM) -> str:
        return (self.out / "feedback" / student / f"{stem}.html").read_text()

    def autograded(self, student: str, stem: str = STEM) -> list[nbformat.NotebookNode]:
        folder = self.out / "course" / "autograded" / student / stem
        return [nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))]

    def outputs(self, student: str, stem: str = STEM) -> str:
        text = []
        for notebook in self.autograded(student, stem):
            for cell in notebook.cells:
                for output in cell.get("outputs", []):
                    text += [output.get("text", ""), output.get("ename", "")]
                    text += [output.get("evalue", ""), *output.get("traceback", [])]
                    text += [str(v) for v in output.get("data", {}).values()]
        return "\n".join(text)

    @property
    def sandbox(self) -> dict:
        path = self.out / "sandbox.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def needs_sandbox(self, *parts: str) -> None:
        wanted = parts or ("network", "filesystem", "own_uid")
        if not all(self.sandbox.get(p) for p in wanted):
            pytest.skip(f"the sandbox is unavailable here: {self.sandbox.get('warnings')}")


def grade(subs: Path, out: Path, *args: str, env: dict | None = None, timeout=400) -> Run:
    command = [sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out)]
    started = time.monotonic()
    result = subprocess.run(
        [*command, *args, "--no-progress"],
        capture_output=True,
        text=True,
        env=env or venv_env(),
        timeout=timeout,
    )
    return Run(out, result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def assignments(*stems: str) -> list[str]:
    return [arg for stem in stems for arg in ("--assignment", stem)]


def review_text(page: str) -> str:
    """What the feedback page says about review: its notes and the checks' refusals."""
    notes = re.findall(r"<div class='notes'>(.*?)</div>", page, re.S)
    refusals = re.findall(r"<pre class='err'>((?:Delegated|NeedsReview): .*?)</pre>", page, re.S)
    return "\n".join(notes + refusals)


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (as root, every process is readable)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# --- the class -------------------------------------------------------------------------------


def main_class(subs: Path, private: Path) -> dict:
    """Every attacker of the main batch; returns what the tests need to know about them."""
    from attacks import notebook as nb

    mod = "01_module"
    write(subs, "h01_correct", mod, nb(mod))
    write(subs, "h02_scratch_torch", mod, nb(mod, after=[attacks.SCRATCH_LINEAR]))
    write(
        subs, "h02_scratch_torch", "04_optimizer", nb("04_optimizer", after=[attacks.SCRATCH_SGD])
    )

    # 1, 2: the channel
    write(subs, "a01_forge_guessed", mod, nb(mod, False, before=[attacks.FORGE_GUESSED]))
    write(subs, "a02_forge_thread", mod, nb(mod, False, before=[attacks.FORGE_THREAD]))
    write(subs, "a03_impersonate", mod, nb(mod, False, before=[attacks.IMPERSONATE]))
    write(subs, "a04_patch_observe", mod, nb(mod, False, before=[attacks.PATCH_OBSERVE]))
    duplicate = [attacks.FORK_DUPLICATE, attacks.SLEEP_A_LITTLE]
    write(subs, "a05_fork_duplicate", mod, nb(mod, before=duplicate))
    # 3: frame walking, MLP unanswered
    for student, code in (
        ("a06_frame_walk", attacks.FRAME_WALK_GETFRAME),
        ("a07_frame_walk_traceback", attacks.FRAME_WALK_TRACEBACK),
    ):
        write(subs, student, mod, nb(mod, False, replace={"01_module_my_linear": code}))
    # 4: patches, with wrong answers (01) and no answers (07)
    wrong = attacks.wrong_answers(mod)
    write(
        subs, "a08_patches", mod, nb(mod, False, replace=wrong, before=[attacks.PATCH_EVERYTHING])
    )
    write(
        subs,
        "a08_patches",
        "07_samplers",
        nb("07_samplers", False, before=[attacks.CLEAR_SAMPLERS]),
    )

    # 6: delegation
    replace = {"04_optimizer_sgd": attacks.SGD_DELEGATES}
    write(
        subs,
        "d01_sgd_delegates",
        "04_optimizer",
        nb("04_optimizer", ["04_optimizer_adam"], replace),
    )
    replace = {"01_module_my_linear": attacks.LINEAR_SUBCLASS}
    write(subs, "d02_linear_subclass", mod, nb(mod, False, replace))
    replace = {"07_samplers_random_sampler": attacks.SAMPLER_COPIED}
    write(subs, "d03_sampler_copied", "07_samplers", nb("07_samplers", False, replace))
    write(
        subs,
        "d04_lr_autograd",
        "03_backward",
        nb("03_backward", False, {"03_backward_lr": attacks.LR_AUTOGRAD}),
    )
    replace = {"01_module_my_linear": attacks.LINEAR_VIA_COURSE}
    write(subs, "d05_course_helper", mod, nb(mod, False, replace))
    replace = {"07_samplers_random_sampler": attacks.SAMPLER_VIA_COURSE}
    write(subs, "d05_course_helper", "07_samplers", nb("07_samplers", False, replace))
    replace = {"01_module_my_linear": attacks.LINEAR_ZEROS}
    made = nb(mod, False, replace, before=[attacks.GLOBAL_FORWARD_HOOK])
    write(subs, "d06_global_forward_hook", mod, made)

    # 7: files the grader must not follow or wait for
    marker = f"rootonly-{uuid.uuid4().hex}"
    private.mkdir(mode=0o700)
    secret = private / "secret.ipynb"
    leaked = nb(mod, after=[f"print({marker!r})"])
    leaked.cells[0].source += f"\n\n{marker}"
    nbformat.write(leaked, str(secret))
    secret.chmod(0o600)
    name = attacks.NAMES[mod]
    honest = subs / "h01_correct" / mod
    links = {
        "f01_link_to_solution": SOLUTIONS / mod / name,
        "f02_link_to_other_student": honest / name,
        "f03_link_to_root_only": secret,
        "f08_link_to_dev_zero": Path("/dev/zero"),
    }
    for student, target in links.items():
        (subs / student / mod).mkdir(parents=True)
        (subs / student / mod / name).symlink_to(target)
    (subs / "f04_assignment_link").mkdir()
    (subs / "f04_assignment_link" / mod).symlink_to(honest, target_is_directory=True)
    (subs / "f05_student_link").symlink_to(subs / "h01_correct", target_is_directory=True)
    (subs / "f06_fifo_notebook" / mod).mkdir(parents=True)
    os.mkfifo(subs / "f06_fifo_notebook" / mod / name)
    write(subs, "f07_fifo_timestamp", mod, nb(mod))
    os.mkfifo(subs / "f07_fifo_timestamp" / mod / "timestamp.txt")
    write(subs, "f09_oversize", mod, attacks.oversize(mod))

    # 8: malformed input
    write(subs, "m01_bad_timestamp", mod, nb(mod))
    (subs / "m01_bad_timestamp" / mod / "timestamp.txt").write_text("the day before the deadline")
    for student, grade_id, mangle in (
        ("m02_nbgrader_list", "01_module_my_linear", lambda meta: []),
        ("m03_nbgrader_string", "01_module_my_linear_test", lambda meta: "grade"),
        (
            "m04_grade_id_list",
            "01_module_mlp_test",
            lambda meta: dict(meta, grade_id=[meta["grade_id"]]),
        ),
    ):
        made = nb(mod)
        cell = attacks.cell_with(made, grade_id)
        cell.metadata["nbgrader"] = mangle(dict(cell.metadata["nbgrader"]))
        write(subs, student, mod, made)
    made = nb(mod, False)
    grade_ids = ["01_module_my_linear_test", "01_module_mlp_test"]
    write(
        subs,
        "m05_partial_credit",
        mod,
        attacks.stored_outputs(made, grade_ids, attacks.PARTIAL_CREDIT),
    )
    made = nb(mod, after=["print(\"<script>alert('stdout')</script>\")"])
    attacks.cell_with(made, "01_module_my_linear").source += "\n# <script>alert('source')</script>"
    attacks.stored_outputs(made, ["01_module_my_linear", "01_module_mlp"], attacks.SCRIPT_OUTPUTS)
    made.cells.insert(
        1, nbformat.v4.new_markdown_cell("<script>alert('md')</script><img src=x onerror=alert(1)>")
    )
    write(subs, "m06_script_output", mod, made)
    made = nb(mod)
    made.cells.insert(1, nbformat.v4.new_markdown_cell("LONE SURROGATE"))
    text = nbformat.writes(made).replace("LONE SURROGATE", "\\ud800")  # valid JSON, not Unicode
    write(subs, "m07_lone_surrogate", mod, text.encode())
    return {"marker": marker, "secret": secret}


def resume_class(subs: Path) -> dict:
    from attacks import notebook as nb

    secret = uuid.uuid4().hex
    write(subs, "k1_victim", STEM, nb(STEM, before=[attacks.VICTIM.format(hex=secret)]))
    write(subs, "k2_scanner", STEM, nb(STEM, False, before=[attacks.SCANNER]))
    write(subs, "k3_sleeper", STEM, nb(STEM, before=[attacks.SLEEPER]))
    forker = attacks.FORKER.format(delay=FORKER_BUDGET - 0.5)
    write(subs, "k4_forker", STEM, nb(STEM, False, before=[forker]))
    return {"secret": secret}


def crosstalk_class(subs: Path, host_file: Path) -> None:
    from attacks import notebook as nb

    for student, first in (("x1_loop", attacks.LOOP_FIRST), ("x2_exit", attacks.EXIT_FIRST)):
        made = nb(STEM)
        cell = attacks.cell_with(made, "01_module_my_linear")
        cell.source = first + cell.source
        write(subs, student, STEM, made)
    probe = attacks.PROBE.format(repo=REPO, host_file=host_file)
    write(subs, "x3_probe", STEM, nb(STEM, before=[probe]))


# --- the three chains, side by side ----------------------------------------------------------


def main_chain(root: Path) -> dict:
    subs = root / "submitted"
    subs.mkdir()
    made = main_class(subs, root / "private")
    args = [*assignments(*ASSIGNMENTS), *MAIN]
    first = grade(subs, root / "out", *args).check()
    ledger = (first.out / "ledger.jsonl").read_text()
    again = grade(subs, root / "out", *args)
    return {"first": first, "ledger_before": ledger, "again": again, "subs": subs, **made}


def resume_chain(root: Path) -> dict:
    subs = root / "submitted"
    subs.mkdir()
    made = resume_class(subs)
    out = root / "out"
    mark = f"ADV_FORKER_MARK={uuid.uuid4().hex}"
    env = dict(venv_env(), ADV_FORKER_MARK=mark.split("=", 1)[1])
    small = grade(subs, out, *assignments(STEM), *SMALL, env=env).check()
    survivors = []
    for _ in range(30):  # the grader's helpers take a moment to see their pipes close
        survivors = processes_with(mark)
        if not survivors:
            break
        time.sleep(0.1)
    for pid in survivors:  # processes this test started, by their ids
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    small.extra["survivors"] = survivors
    small.extra["ledger"] = small.ledger
    shutil.rmtree(subs / "k4_forker")
    larger = grade(subs, out, *assignments(STEM), *LARGER).check()
    larger.extra["ledger"] = larger.ledger
    other_db = root / "other" / "OTHER.db"
    other_db.parent.mkdir()
    other = grade(subs, out, *assignments(STEM), *LARGER, "--db", f"sqlite:///{other_db}").check()
    return {"small": small, "larger": larger, "other": other, "other_db": other_db, **made}


def crosstalk_chain(root: Path) -> dict:
    subs = root / "submitted"
    subs.mkdir()
    # A world-readable file in the host's /tmp, which the sandbox covers with an empty tmpfs.
    host_file = Path("/tmp") / f"adversarial-{uuid.uuid4().hex}.txt"
    host_file.write_text("a file of the host's /tmp")
    host_file.chmod(0o644)
    crosstalk_class(subs, host_file)
    try:
        # Default cell timeout and budget: no limits on the command line.
        run = grade(subs, root / "out", "--assignment", STEM, "--jobs", "2", timeout=500)
    finally:
        host_file.unlink()
    return {"run": run.check(), "host_file": host_file}


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    pool = ThreadPoolExecutor(max_workers=3)
    started = time.monotonic()
    futures = {
        # the longest (60 s of an endless loop) first
        "crosstalk": pool.submit(crosstalk_chain, tmp_path_factory.mktemp("crosstalk")),
        "main": pool.submit(main_chain, tmp_path_factory.mktemp("main")),
        "resume": pool.submit(resume_chain, tmp_path_factory.mktemp("resume")),
    }
    yield futures
    pool.shutdown(wait=True)
    print(f"\nadversarial batches: {time.monotonic() - started:.1f} s wall")


@pytest.fixture(scope="module")
def main(chains) -> dict:
    return chains["main"].result()


@pytest.fixture(scope="module")
def resumed(chains) -> dict:
    return chains["resume"].result()


@pytest.fixture(scope="module")
def crosstalk(chains) -> dict:
    return chains["crosstalk"].result()


# --- sanity ------------------------------------------------------------------------------------


def test_the_honest_student_gets_full_marks(main):
    run = main["first"]
    assert run.status("h01_correct") == "graded"
    assert run.score("h01_correct") == float(run.rows[("h01_correct", STEM)]["max_score"]) == 5


# --- 1, 2: the channel -----------------------------------------------------------------------


def test_forged_answers_with_guessed_ids_are_tampering(main):
    run = main["first"]
    assert run.status("a01_forge_guessed") == "tampered"
    assert run.score("a01_forge_guessed") == 0
    assert "tampering" in run.notes("a01_forge_guessed")


@pytest.mark.parametrize(
    "student",
    [
        "a02_forge_thread",  # a thread reads the requests from fd 3 and answers them
        "a03_impersonate",  # the cell takes over the serve loop (request id from its frame)
    ],
)
def test_answers_forged_from_inside_the_student_process_earn_nothing(main, student):
    """Observations of torch's own nn.Linear, sent as the (unanswered) MyLinear's."""
    run = main["first"]
    assert run.score(student) == 0, run.scores(student)
    assert run.status(student) in ("tampered", "review")


def test_a_patched_scenario_in_the_student_process_earns_nothing(main):
    """No message forged: checking.observe itself is replaced in the student's process (the
    module found through dict.__subclasses__(), never named)."""
    run = main["first"]
    assert run.score("a04_patch_observe") == 0, run.scores("a04_patch_observe")
    assert run.status("a04_patch_observe") in ("graded", "review", "tampered")


def test_a_forked_child_answering_again_is_tampering(main):
    """Correct answers, and a child that repeats the parent's answer after it: no points."""
    run = main["first"]
    assert run.status("a05_fork_duplicate") == "tampered"
    assert run.score("a05_fork_duplicate") == 0
    assert "tampering" in run.notes("a05_fork_duplicate")


# --- 3: frame walking --------------------------------------------------------------------------


@pytest.mark.parametrize("student", ["a06_frame_walk", "a07_frame_walk_traceback"])
def test_frame_walking_finds_no_answer(main, student):
    run = main["first"]
    assert run.scores(student)["01_module_my_linear_test"] == 0, run.outputs(student)
    assert run.score(student) == 0
    assert run.status(student) in ("graded", "review")


# --- 4: patches ------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["01_module", "07_samplers"])
def test_patched_json_ast_csv_torch_and_course_modules_earn_nothing(main, stem):
    run = main["first"]
    assert run.score("a08_patches", stem) == 0, run.scores("a08_patches", stem)
    assert run.status("a08_patches", stem) in ("graded", "review")


# --- 6: delegation ---------------------------------------------------------------------------

DELEGATIONS = [
    # student, stem, refused grade cells, what the page must name (any of)
    ("d01_sgd_delegates", "04_optimizer", ["04_optimizer_sgd_test"], ["torch.optim"]),
    ("d02_linear_subclass", "01_module", ["01_module_my_linear_test"], ["Linear"]),
    ("d03_sampler_copied", "07_samplers", ["07_samplers_RandomSampler_test"], ["RandomSampler"]),
    ("d04_lr_autograd", "03_backward", ["03_backward_lr_backward_test"], ["backward", "autograd"]),
    ("d05_course_helper", "01_module", ["01_module_my_linear_test"], ["autograder"]),
    ("d05_course_helper", "07_samplers", ["07_samplers_RandomSampler_test"], ["autograder"]),
]


@pytest.mark.parametrize(("student", "stem", "refused", "named"), DELEGATIONS)
def test_delegation_scores_zero_and_is_flagged_for_review(main, student, stem, refused, named):
    from nbgrader.api import Gradebook

    run = main["first"]
    scores = run.scores(student, stem)
    assert all(scores[g] == 0 for g in refused), scores
    assert run.status(student, stem) == "review"
    said = review_text(run.feedback(student, stem)).lower()
    assert any(word.lower() in said for word in named), said
    notebook = Path(attacks.NAMES[stem]).stem
    with Gradebook(f"sqlite:///{run.out / 'gradebook.db'}") as gradebook:
        for grade_id in refused:
            grade = gradebook.find_grade(grade_id, notebook, stem, student)
            assert grade.needs_manual_grade, grade_id
            assert (grade.auto_score or 0) == 0


def test_a_global_module_hook_in_a_scratch_cell_earns_nothing(main):
    """MyLinear.forward returns zeros; a scratch cell that never names MyLinear registers a
    forward hook on every module (torch.nn.modules.module.register_module_forward_hook) that
    returns torch.nn.functional.linear of the module's own weights."""
    run = main["first"]
    scores = run.scores("d06_global_forward_hook")
    assert scores["01_module_my_linear_test"] == 0, (scores, run.notes("d06_global_forward_hook"))
    assert run.status("d06_global_forward_hook") in ("review", "tampered")


def test_the_honest_part_of_a_delegating_notebook_is_kept_exactly(main):
    """SGD's update is torch's; Adam is the student's own: at most Adam's points."""
    run = main["first"]
    scores = run.scores("d01_sgd_delegates", "04_optimizer")
    assert scores["04_optimizer_sgd_test"] == scores["04_optimizer_sgd_arguments_test"] == 0
    assert run.score("d01_sgd_delegates", "04_optimizer") <= 5


@pytest.mark.parametrize("stem", ["01_module", "04_optimizer"])
def test_torch_in_a_scratch_cell_is_not_delegation(main, stem):
    from nbgrader.api import Gradebook

    run = main["first"]
    row = run.rows[("h02_scratch_torch", stem)]
    assert row["status"] == "graded", run.notes("h02_scratch_torch", stem)
    assert float(row["score"]) == float(row["max_score"]) > 0
    notebook = Path(attacks.NAMES[stem]).stem
    with Gradebook(f"sqlite:///{run.out / 'gradebook.db'}") as gradebook:
        for grade_id in run.scores("h02_scratch_torch", stem):
            assert not gradebook.find_grade(
                grade_id, notebook, stem, "h02_scratch_torch"
            ).needs_manual_grade


# --- 7: files --------------------------------------------------------------------------------

UNREADABLE = [
    "f01_link_to_solution",
    "f02_link_to_other_student",
    "f03_link_to_root_only",
    "f04_assignment_link",
    "f05_student_link",
    "f06_fifo_notebook",
    "f08_link_to_dev_zero",
    "f09_oversize",
]


@pytest.mark.parametrize("student", UNREADABLE)
def test_files_the_grader_must_not_read_are_unreadable(main, student):
    run = main["first"]
    assert run.status(student) == "unreadable"
    assert run.score(student) == 0
    assert run.notes(student), "an unreadable submission says why"
    assert run.autograded(student) == [], "nothing of it is shown"
    page = run.feedback(student)
    assert SOLUTION_LINE not in page and "BEGIN SOLUTION" not in page
    assert main["marker"] not in page


def test_a_root_only_file_leaves_no_byte_in_the_outputs(main):
    marker = main["marker"].encode()
    for path in main["first"].out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert marker not in path.read_bytes(), path


def test_a_fifo_timestamp_is_ignored_and_does_not_hang(main):
    run = main["first"]
    assert run.status("f07_fifo_timestamp") == "graded"
    assert run.score("f07_fifo_timestamp") == 5
    assert "timestamp" in run.notes("f07_fifo_timestamp")


def test_the_second_run_completes_and_grades_nothing_twice(main):
    again = main["again"].check()
    assert (again.out / "ledger.jsonl").read_text() == main["ledger_before"]
    assert again.rows == main["first"].rows


# --- 8: malformed input ----------------------------------------------------------------------


def test_a_timestamp_that_is_not_a_date_is_noted_and_ignored(main):
    run = main["first"]
    assert run.status("m01_bad_timestamp") == "graded"
    assert run.score("m01_bad_timestamp") == 5
    assert "ignored" in run.notes("m01_bad_timestamp")


@pytest.mark.parametrize(
    "student", ["m02_nbgrader_list", "m03_nbgrader_string", "m04_grade_id_list"]
)
def test_malformed_nbgrader_metadata_is_graded_within_the_maximum(main, student):
    run = main["first"]
    assert run.status(student) in STATUSES and run.status(student) != "kernel_died"
    assert 0 <= run.score(student) <= 5
    assert run.rows[(student, STEM)]["max_score"] == "5"
    if run.status(student) != "unreadable":
        sources = {c.source for nb in run.autograded(student) for c in nb.cells}
        assert any("checks.check_my_linear(MyLinear)" in s for s in sources)
        assert any("checks.check_mlp(MLP)" in s for s in sources)


def test_stored_partial_credit_outputs_earn_nothing(main):
    from nbgrader.api import Gradebook

    run = main["first"]
    assert run.score("m05_partial_credit") == 0
    assert "1000" not in run.outputs("m05_partial_credit")
    with Gradebook(f"sqlite:///{run.out / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(STEM, "m05_partial_credit")
        assert submission.score == 0 and submission.score <= submission.max_score


def test_a_lone_surrogate_is_unreadable_and_does_not_stop_the_batch(main):
    """Once, one such notebook made writing its graded copy fail and ended the whole batch."""
    run = main["first"]
    assert run.status("m07_lone_surrogate") == "unreadable"
    assert "not Unicode" in run.notes("m07_lone_surrogate")
    assert run.status("m06_script_output") == "graded"  # and the batch went on


def test_stored_html_and_scripts_are_not_shown(main):
    run = main["first"]
    assert run.score("m06_script_output") == 5
    for notebook in run.autograded("m06_script_output"):
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                assert output.output_type != "display_data", output
                assert "text/html" not in output.get("data", {}), output
                assert "alert('stored')" not in json.dumps(output), output
    page = run.feedback("m06_script_output").lower()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page, "the student's text is shown, escaped"


# --- 5, 9, 11: one lane, limits, another gradebook ----------------------------------------


def test_a_student_finds_nothing_of_the_previous_notebook_in_its_memory(resumed):
    run = resumed["larger"]
    order = [r["student"] for r in run.extra["ledger"][-3:]]
    assert order == ["k1_victim", "k2_scanner", "k3_sleeper"], "one lane, in name order"
    text = run.outputs("k2_scanner")
    assert "CONTROL FOUND" in text, f"the scan is inconclusive:\n{text}"
    assert "NOT FOUND" in text.replace("CONTROL NOT FOUND", "")
    assert resumed["secret"] not in text
    if run.sandbox.get("filesystem"):
        assert "FILES NOT FOUND" in text


def test_a_child_flooding_the_channel_after_the_budget_ends_with_the_notebook(resumed):
    run = resumed["small"]
    row = [r for r in run.extra["ledger"] if r["student"] == "k4_forker"][-1]
    assert row["status"] in ("timed_out", "tampered"), row
    assert row["score"] == 0
    assert row["seconds"] <= FORKER_BUDGET + 3, row["seconds"]
    run.needs_sandbox("own_uid")
    assert run.extra["survivors"] == [], "a student's process outlived the batch"


def test_a_larger_budget_replaces_a_stale_timeout(resumed):
    from nbgrader.api import Gradebook

    small, larger = resumed["small"], resumed["larger"]
    assert [r["status"] for r in small.extra["ledger"] if r["student"] == "k3_sleeper"] == [
        "timed_out"
    ]
    assert larger.status("k3_sleeper") == "graded"
    assert larger.score("k3_sleeper") == 5
    assert larger.last("k3_sleeper")["status"] == "graded"
    with Gradebook(f"sqlite:///{larger.out / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission(STEM, "k3_sleeper").score == 5


def test_another_gradebook_receives_every_submission(resumed):
    from nbgrader.api import Gradebook

    run = resumed["other"]
    with Gradebook(f"sqlite:///{resumed['other_db']}") as gradebook:
        for (student, stem), row in run.rows.items():
            submission = gradebook.find_submission(stem, student)
            assert submission.score == pytest.approx(float(row["score"])), student
    assert {s for s, _ in run.rows} == {"k1_victim", "k2_scanner", "k3_sleeper"}


# --- 10: cross-talk with the default limits ---------------------------------------------


def test_default_limits_two_lanes_loop_exit_and_probe(crosstalk):
    run = crosstalk["run"]
    assert run.status("x1_loop") == "timed_out", run.notes("x1_loop")
    assert "CellTimeout" in run.outputs("x1_loop")
    assert run.status("x2_exit") == "kernel_died"
    assert run.score("x2_exit") == 0
    assert run.status("x3_probe") == "graded" and run.score("x3_probe") == 5
    run.needs_sandbox("filesystem")
    lines = run.outputs("x3_probe").splitlines()
    assert f"read {SOLUTIONS}/01_module/module.ipynb" not in lines
    assert "read /etc/shadow" not in lines


def test_the_hosts_tmp_is_hidden_from_students(crosstalk):
    """/tmp is one of the world-writable folders the sandbox covers with an empty tmpfs."""
    run = crosstalk["run"]
    run.needs_sandbox("filesystem")
    lines = run.outputs("x3_probe").splitlines()
    assert f"read {crosstalk['host_file']}" not in lines, "a file of the host's /tmp was read"
