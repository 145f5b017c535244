"""The feedback page a student reads: Markdown and math rendered offline, safely, status once.

The first half reads the HTML of pages built by ``feedback_html`` from small notebooks (one of
them full of what a student could type into a Markdown cell to run script on the page). The
second half grades demo students with the real batch grader and opens their pages in headless
Chromium, as the site's browser tests do: offline, 800 px wide; its screenshot is
``_build/screenshots/feedback.png``.
"""

from __future__ import annotations

import csv
import fcntl
import functools
import glob
import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pytest
from browser.conftest import _QuietHandler
from browser.sitecheck import AXE, HOST, SCREENSHOTS, Offline

from autograder.course import NOTEBOOKS, SOLUTIONS, venv_env
from autograder.grade.demo import write_demo_class
from autograder.grade.feedback import RESTATES_STATUS, STATUS_TEXT, markdown_html, math_html
from autograder.grade.outputs import feedback_html
from autograder.grade.submissions import NotebookResult

HIDDEN_LINE = "assert secret_case() == 42"
LONG_MESSAGE = "SGD([w], lr=0.01) " + "torch gives 0.123456789, yours gave 0.123456788; " * 12
ATTACKS = """# My answer

<script>alert('md')</script>
<img src=x onerror="window.pwned = 1">
<iframe src="https://example.com/"></iframe>
<a href="javascript:window.pwned = 2">raw link</a>

[click me](javascript:window.pwned=3) [again](JaVaScRiPt:window.pwned=4)
[entity](&#106;avascript:window.pwned=5) [data](data:text/html,<script>alert(6)</script>)
<javascript:window.pwned=7> ![pixel](https://example.com/pixel.png) [fine](https://pytorch.org/)

Math that tries: $\\text{<img src=x onerror=alert(8)>}$ and $\\href{javascript:alert(9)}{x}$,
$\\style{position:fixed}{y}$, broken $\\frac{1}{$, and money: it costs $5 and $10.
"""


def notebook(student_markdown: str = ATTACKS) -> nbformat.NotebookNode:
    """An instructor heading and math, a student's Markdown, long outputs and a grade cell."""
    v4 = nbformat.v4
    grade = v4.new_code_cell(
        "checks.check_sgd(SGD)\n### BEGIN HIDDEN TESTS\n" + HIDDEN_LINE + "\n### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "grade_id": "sgd_test", "points": 2}},
        outputs=[
            v4.new_output(
                "error",
                ename="CheckFailure",
                evalue=LONG_MESSAGE,
                traceback=["Traceback through the grade cell: " + HIDDEN_LINE],
            )
        ],
    )
    student = v4.new_markdown_cell(
        student_markdown, metadata={"nbgrader": {"solution": True, "grade_id": "answer"}}
    )
    instructor = v4.new_markdown_cell(
        "# Exercise 1: `SGD` (2 points)\n\n"
        "Each step does $\\theta \\leftarrow \\theta - \\gamma\\, g$, and the loss is\n\n"
        "$$L = \\frac{1}{m}\\sum_{i=1}^{m} \\ell_i$$\n\n"
        "| name | shape |\n|---|---|\n| `w` | $(d, 1)$ |"
    )
    code = v4.new_code_cell(
        "print('x' * 400)",
        outputs=[
            v4.new_output("stream", name="stdout", text="x" * 400 + "\n"),
            v4.new_output("display_data", data={"text/html": "<script>alert('out')</script>"}),
        ],
    )
    return v4.new_notebook(cells=[instructor, student, code, grade])


def page(status: str = "graded", notes: list[str] | None = None, results: int = 1) -> str:
    # feedback_html reads an assignment's stem and max_score only
    assignment = SimpleNamespace(stem="04_optimizer", max_score=2.0 * results)
    graded = [
        NotebookResult(f"part{i}.ipynb", status, {"sgd_test": 0.0}, {"sgd_test": 2.0})
        for i in range(results)
    ]
    for result in graded:
        result.notes = list(notes or [])
        result.notebook = notebook()
    return feedback_html("s99_student", assignment, graded, status, 0.0)


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text a reader sees (not the style)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style:
            self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


# --- the HTML ----------------------------------------------------------------------------------


def test_the_page_has_no_script_and_nothing_to_fetch():
    tags = Tags(page())
    names = {name for name, _ in tags.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "link", "base", "form"}
    assert len(tags.named("style")) == 1, "one style element: the page's own"
    for name, attrs in tags.tags:
        assert not [a for a in attrs if a.startswith("on") or a in ("src", "style")], (name, attrs)
    links = [attrs["href"] for attrs in tags.named("a")]
    assert links == ["https://pytorch.org/"], links


def test_a_students_markup_is_shown_as_text():
    text = page()
    seen = "".join(Tags(text).text)
    assert "<script>alert('md')</script>" in seen and "&lt;script&gt;" in text
    assert '<img src=x onerror="window.pwned = 1">' in seen and "<iframe src=" in seen
    assert "[click me](javascript:window.pwned=3)" in text, "a refused link stays text"
    assert "[image: pixel]" in text, "an image is named, not fetched"
    assert "alert('out')" not in text, "HTML outputs are never shown"


def test_math_becomes_mathml_with_every_text_escaped():
    text = page()
    tags = Tags(text)
    assert len(tags.named("math")) >= 5 and tags.named("mfrac") and tags.named("munderover")
    assert {"display": "block"} in tags.named("math")
    assert "<mtext>&lt;img src=x onerror=alert(8)&gt;</mtext>" in text.replace("\xa0", " ")
    for name, attrs in tags.tags:
        assert "href" not in attrs or name == "a", (name, attrs)
    assert "<code class='tex' title='not typeset'>$\\frac{1}{$</code>" in text, "shown as TeX"
    assert "it costs $5 and $10." in text, "dollars next to digits are money, not math"


def test_instructor_math_of_every_chapter_is_typeset():
    cells = [
        cell.source
        for path in sorted(glob.glob(str(SOLUTIONS / "*" / "*.ipynb")))
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "markdown"
    ]
    rendered = [markdown_html(source) for source in cells]
    assert sum(r.count("<math") for r in rendered) >= 20
    for source, html in zip(cells, rendered, strict=True):
        assert "class='tex'" not in html, f"latex2mathml could not read math in:\n{source}"
        for formula in re.findall(r"<math.*?</math>", html, re.S):
            assert "\\" not in formula, f"a TeX command was left as text: {formula}"
        prose = re.sub(r"<code.*?</code>|<math.*?</math>", "", html, flags=re.S)
        assert "$" not in prose, f"raw $ left in:\n{source}"


def test_markdown_headings_sit_under_the_notebook_heading():
    tags = Tags(page())
    assert len(tags.named("h1")) == 1 and len(tags.named("h2")) == 1
    assert len(tags.named("h3")) == 2, "'# Exercise 1' and '# My answer' become h3"
    assert markdown_html("###### six") == "<h6>six</h6>\n"


def test_code_stays_code_and_every_pre_wraps():
    text = page()
    assert "<pre class='code'><code>print(&#x27;x&#x27; * 400)</code></pre>" in text
    style = re.search(r"<style>(.*?)</style>", text, re.S)[1]
    rule = re.search(r"(?:^|\})pre\{([^}]*)\}", style.replace("\n", ""))[1]
    assert "white-space:pre-wrap" in rule and "overflow-wrap:anywhere" in rule
    assert "overflow-x" not in rule, "a pre never scrolls sideways"


def test_grade_cells_show_no_hidden_tests_and_errors_as_name_and_message():
    text = page()
    assert HIDDEN_LINE not in text and "Traceback through the grade cell" not in text
    assert "# (hidden tests ran here)" in text
    assert f"<pre class='err'>CheckFailure: {LONG_MESSAGE}</pre>" in text


@pytest.mark.parametrize("status", sorted(STATUS_TEXT))
def test_the_status_is_said_once_in_words(status):
    note = RESTATES_STATUS.get(status, "")
    text = page(status, notes=[note] if note else [])
    seen = "".join(Tags(text).text)
    assert seen.count(STATUS_TEXT[status]) == 1
    assert status not in seen or status in STATUS_TEXT[status], "said in words, not as a code"
    if note:
        assert note not in seen, "a note that restates the status is not repeated"
        assert "".join(Tags(page(status, [note], results=2)).text).count(note) == 2, (
            "with several notebooks it says which one"
        )


def test_hostile_input_neither_raises_nor_leaves_the_schema():
    nested = "$" + "{" * 3000 + "x" + "}" * 3000 + "$"
    assert "<code class='tex'" in markdown_html(nested), "too deep for latex2mathml: source"
    assert "\ufffd" in math_html("\\text{&#xD800;&#x110000;}", display=False)
    assert markdown_html(">" * 200 + " deep").startswith("<blockquote>")  # cut at depth 20
    page().encode("utf-8")  # no lone surrogate reached the page


# --- in the browser ----------------------------------------------------------------------------

STEM = "03_backward"  # fractions, sums, hats and a table in its Markdown
STUDENTS = ["s03_wrong", "s05_os_exit", "s10_edited_grade_cells"]
VIEWPORT = {"width": 800, "height": 900}
FAST = ["--cell-timeout", "5", "--budget", "30", "--memory-mb", "512", "--no-progress"]

# What a student sees, read from the DOM at 800 px.
FACTS_JS = """() => {
  const text = (root, skip) => {
    const clone = root.cloneNode(true);
    clone.querySelectorAll(skip).forEach((el) => el.remove());
    return clone.textContent;
  };
  const wide = (el) => el.scrollWidth > el.clientWidth + 1;
  const fraction = document.querySelector("mfrac");
  const [top, bottom] = fraction ? [...fraction.children].map((c) => c.getBoundingClientRect())
    : [null, null];
  return {
    text: document.body.innerText,
    mdProse: [...document.querySelectorAll(".md")].map((m) => text(m, "code, math")).join(" "),
    math: [...document.querySelectorAll(".math")].map((m) => ({
      typeset: m.querySelector(":scope > math") !== null,
      display: m.querySelector("math") && getComputedStyle(m.querySelector("math")).display,
      width: m.getBoundingClientRect().width,
    })),
    fractionStacked: fraction ? top.bottom <= bottom.top + 1 : null,
    headings: [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")].map((h) => ({
      level: Number(h.tagName[1]), text: h.textContent.trim()})),
    widePre: [...document.querySelectorAll("pre")].filter(wide).map((p) => p.textContent
      .slice(0, 80)),
    wideMath: [...document.querySelectorAll("div.math, table")].filter(wide).length,
    pageWidth: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
    active: document.querySelectorAll("script, img, iframe, object, embed").length,
    jsLinks: [...document.querySelectorAll("a[href]")].filter((a) =>
      !/^https?:|^mailto:|^#/.test(a.getAttribute("href"))).length,
    pwned: window.pwned ?? null,
  };
}"""


def grade_demo_students(root: Path) -> Path:
    """The demo students' pages from the real grader, and the page of a hostile notebook."""
    write_demo_class(root / "submitted", only=STUDENTS)
    out = root / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(root / "submitted")]
    result = subprocess.run(
        [*command, "--out", str(out), "--assignment", STEM, *FAST],
        capture_output=True,
        text=True,
        env=venv_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (out / "feedback" / "hostile").mkdir()
    (out / "feedback" / "hostile" / f"{STEM}.html").write_text(page())
    (root / "done").touch()
    return out


@pytest.fixture(scope="module")
def feedback_dir(tmp_path_factory, worker_id) -> Path:
    """Graded once per test session: xdist workers share the session's temporary folder.

    (``xdist_group`` cannot keep these tests on one worker: with pytest 9 the group suffix that
    xdist writes into ``item._nodeid`` is ignored.)
    """
    if worker_id == "master":
        return grade_demo_students(tmp_path_factory.mktemp("feedback"))
    root = tmp_path_factory.getbasetemp().parent / "feedback"
    with open(root.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "done").exists():
            return root / "out"
        shutil.rmtree(root, ignore_errors=True)  # a worker that died half-way
        root.mkdir()
        return grade_demo_students(root)


@pytest.fixture(scope="module")
def statuses(feedback_dir) -> dict[str, str]:
    with open(feedback_dir / "grades.csv") as handle:
        return {row["student"]: row["status"] for row in csv.DictReader(handle)} | {
            "hostile": "graded"
        }


@pytest.fixture(scope="module")
def served(feedback_dir) -> Iterator[str]:
    """The feedback folder over http on 127.0.0.1, as a student's browser would get it."""
    handler = functools.partial(_QuietHandler, directory=str(feedback_dir / "feedback"))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@functools.cache
def _opened(chromium: Any, base_url: str, student: str) -> dict[str, Any]:
    """Open one page at 800 px, offline; what it requested, logged and holds; axe's verdict."""
    recorder = Offline.open(chromium, base_url)
    try:
        tab = recorder.new_page()
        tab.set_viewport_size(VIEWPORT)
        requests: list[str] = []
        dialogs: list[str] = []
        tab.on("request", lambda request: requests.append(request.url))
        tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        url = f"{base_url}/{student}/{STEM}.html"
        tab.goto(url, wait_until="load")
        tab.wait_for_load_state("networkidle")
        if student == STUDENTS[0]:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(SCREENSHOTS / "feedback.png"), full_page=True)
        facts = tab.evaluate(FACTS_JS)
        if AXE.exists():
            tab.add_script_tag(path=str(AXE))
            facts["axe"] = tab.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        return facts | {
            "url": url,
            "requests": requests,
            "dialogs": dialogs,
            "blocked": list(recorder.blocked),
            "errors": list(recorder.errors),
            "failed": list(recorder.failed),
        }
    finally:
        recorder.close()


@pytest.fixture(scope="module")
def opened(browser, served) -> Any:
    return functools.partial(_opened, browser, served)


def markdown_headings(stem: str) -> list[tuple[int, str]]:
    """The Markdown headings of a chapter's released notebook, as (level, text)."""
    found = []
    for path in sorted((NOTEBOOKS / stem).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                for hashes, text in re.findall(r"^(#{1,6})\s+(.+?)\s*$", cell.source, re.M):
                    found.append((len(hashes), re.sub(r"[`*]", "", text)))
    return found


def in_browser(test):
    """Marks of a test that opens the real grader's pages in Chromium."""
    return pytest.mark.browser(pytest.mark.slow(test))


PAGES = [*STUDENTS, "hostile"]


@in_browser
@pytest.mark.parametrize("student", PAGES)
def test_the_page_is_self_contained_and_runs_nothing(opened, student):
    seen = opened(student)
    assert seen["requests"] == [seen["url"]], "the page fetched nothing but itself"
    assert not seen["blocked"] and not seen["failed"], (seen["blocked"], seen["failed"])
    assert not seen["errors"], seen["errors"]
    assert not seen["dialogs"] and seen["pwned"] is None, "no student script ran"
    assert seen["active"] == 0 and seen["jsLinks"] == 0


@in_browser
@pytest.mark.parametrize("student", STUDENTS)
def test_math_is_typeset_by_the_browser_as_mathml(opened, student):
    seen = opened(student)
    assert len(seen["math"]) >= 10
    for math in seen["math"]:
        assert math["typeset"] and math["display"] in ("math", "block math"), math
        assert math["width"] > 0, math
    assert seen["fractionStacked"], "a fraction's numerator sits above its denominator"
    assert "$" not in seen["mdProse"] and "\\" not in seen["mdProse"], "no raw TeX in the text"


@in_browser
@pytest.mark.parametrize("student", STUDENTS)
def test_markdown_headings_are_headings(opened, student):
    got = [(h["level"], h["text"]) for h in opened(student)["headings"]]
    expected = markdown_headings(STEM)
    assert expected, f"{STEM}'s notebook has no Markdown headings"
    for level, text in expected:
        assert (level + 2, text) in got, f"heading {text!r} missing from {got}"
    for before, after in zip(got, got[1:], strict=False):
        assert after[0] <= before[0] + 1, f"{after} follows {before}: a level is skipped"


@in_browser
@pytest.mark.parametrize("student", PAGES)
def test_nothing_scrolls_sideways_at_800_px(opened, student):
    seen = opened(student)
    assert not seen["widePre"], f"pre blocks wider than the page: {seen['widePre']}"
    assert seen["wideMath"] == 0, "a formula or table scrolls"
    width, viewport = seen["pageWidth"]
    assert width <= viewport, f"the page is {width} px wide in a {viewport} px window"


@in_browser
@pytest.mark.parametrize("student", PAGES)
def test_the_status_is_said_once(opened, statuses, student):
    status = statuses[student]
    text = opened(student)["text"]
    assert text.count(STATUS_TEXT[status]) == 1, (status, text[:400])
    if status in RESTATES_STATUS:
        assert RESTATES_STATUS[status] not in text


@in_browser
@pytest.mark.parametrize("student", PAGES)
def test_no_serious_accessibility_violations(opened, student):
    seen = opened(student)
    if "axe" not in seen:
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test-browser does)")
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in seen["axe"]["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not violations, "\n".join(violations)


@in_browser
def test_a_screenshot_is_saved(opened):
    opened(STUDENTS[0])
    assert (SCREENSHOTS / "feedback.png").stat().st_size > 20_000
