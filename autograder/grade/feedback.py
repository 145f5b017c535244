"""The feedback page a student reads: one self-contained HTML file, without scripts or requests.

Markdown cells are rendered with markdown-it (CommonMark and tables) with raw HTML turned off,
so a student's ``<script>`` or ``<img onerror=…>`` shows as text; links may only go to
``http``, ``https`` and ``mailto`` addresses, and images are shown as their alt text, so opening
the page fetches nothing. ``$…$`` and ``$$…$$`` become MathML (latex2mathml), which the browser
typesets itself: no MathJax, no JavaScript. The MathML is written out here, element by element,
from an allow-list of tags and attributes, with every text escaped: latex2mathml's own string
output passes ``\\text{<img …>}`` through as markup. Instructor and student cells are rendered
the same way.

Code cells stay code; every ``<pre>`` wraps its long lines, so a long check message is read
without scrolling sideways. The status is said once, in words, next to the score.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from typing import Any

import nbformat
from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin

from autograder.grade.assignments import Assignment
from autograder.selfcheck import without_hidden_tests

STATUS_TEXT = {
    "graded": "every cell ran and every check was scored",
    "timed_out": "a cell ran past its time limit; what did not finish scores 0",
    "kernel_died": "the notebook's process died; what did not run scores 0",
    "worker_lost": "grading this notebook stopped the grading machine again and again; it "
    "scores 0 until an instructor looks at it",
    "unreadable": "the submitted file is not a readable notebook",
    "missing": "no notebook was submitted",
    "tampered": "the notebook changed locked cells or broke the grading protocol; see the notes",
    "review": "the code hands an exercise to torch or cannot be read statically; an instructor "
    "will review it (see the notes)",
}

#: Notes that only say again what the status line says (``score_notebook`` adds this one).
RESTATES_STATUS = {"kernel_died": "the notebook's process died; cells that did not run score 0"}

STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;
line-height:1.45}
pre{background:#f6f6f6;padding:.6rem;border-radius:4px;white-space:pre-wrap;
overflow-wrap:anywhere}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
.cell{margin:1rem 0}.grade{border-left:4px solid #999;padding-left:.6rem}
.pass{border-color:#2a8a2a}.fail{border-color:#c0392b}.err{background:#fdecea}
.notes{background:#fff6d6;padding:.6rem;border-radius:4px}
.status{font-size:1.1rem}
.md{overflow-wrap:anywhere}.md :not(pre)>code{background:#f0f0f0;padding:0 .2em;border-radius:3px}
.md table{border-collapse:collapse;display:block;max-width:100%;overflow-x:auto}
.md th,.md td{border:1px solid #ccc;padding:.2rem .5rem}
.md blockquote{margin-left:0;padding-left:1rem;border-left:3px solid #ccc;color:#555}
div.math{overflow-x:auto;margin:.6rem 0}
math{font-family:"Latin Modern Math","STIX Two Math","Cambria Math","Noto Sans Math",math}
math[display=block]{margin:.4rem 0}
[mathvariant=monospace]{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
mtd[columnalign=right]{text-align:right;padding-right:0}
mtd[columnalign=left]{text-align:left;padding-left:0}
.tex{color:#a04000}
"""


def feedback_html(
    student: str, assignment: Assignment, results: list, status: str, score: float
) -> str:
    """A self-contained page: the student's notebook, each check's visible part and its result.

    Grade cells are shown without their hidden-test block, and the errors of a check are shown
    as name and message only, never as a traceback through the grade cell. Only text outputs
    are shown, escaped.
    """
    esc = html.escape
    title = f"{esc(assignment.stem)}: feedback for {esc(student)}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{title}</title>",
        f"<style>{STYLE}</style></head><body><main>",
        f"<h1>{title}</h1>",
        f"<p class='status'><strong>Score: {score:g} / "
        f"{assignment.max_score:g}</strong><br>Status: {esc(STATUS_TEXT[status])}</p>",
    ]
    for result in results:
        parts.append(
            f"<h2>{esc(result.name)}: {result.score:g} / {sum(result.max_scores.values()):g}</h2>"
        )
        notes = [n for n in result.notes if len(results) > 1 or n != RESTATES_STATUS.get(status)]
        if notes:
            items = "".join(f"<li>{esc(n)}</li>" for n in notes)
            parts.append(f"<div class='notes'><ul>{items}</ul></div>")
        if result.notebook is not None:
            parts += [_cell_html(cell, result) for cell in result.notebook.cells]
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _cell_html(cell: nbformat.NotebookNode, result) -> str:
    esc = html.escape
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type == "markdown":
        return f"<div class='cell md'>{markdown_html(cell.source)}</div>"
    if cell.cell_type != "code":
        return ""
    if meta.get("grade") and not meta.get("solution"):
        grade_id = meta["grade_id"]
        got, most = result.scores.get(grade_id, 0.0), result.max_scores.get(grade_id, 0.0)
        verdict = "pass" if got == most else "fail"
        shown = [f"<div class='cell grade {verdict}'><p><strong>Check {esc(grade_id)}: "]
        shown.append(f"{got:g} / {most:g}</strong></p>")
        shown.append(_code(without_hidden_tests(cell.source, "# (hidden tests ran here)")))
        for output in cell.outputs:
            if output.output_type == "error":
                shown.append(f"<pre class='err'>{esc(output.ename)}: {esc(output.evalue)}</pre>")
            elif output.output_type == "stream":
                shown.append(f"<pre class='out'>{esc(output.text)}</pre>")
        shown.append("</div>")
        return "".join(shown)
    shown = [f"<div class='cell'>{_code(cell.source)}"]
    for output in cell.outputs:
        if output.output_type == "stream":
            shown.append(f"<pre class='out'>{esc(output.text)}</pre>")
        elif output.output_type == "execute_result":
            shown.append(f"<pre class='out'>{esc(output.data.get('text/plain', ''))}</pre>")
        elif output.output_type == "error":
            text = "".join(output.traceback) or f"{output.ename}: {output.evalue}"
            shown.append(f"<pre class='err'>{esc(text)}</pre>")
    shown.append("</div>")
    return "".join(shown)


def _code(source: str) -> str:
    return f"<pre class='code'><code>{html.escape(source)}</code></pre>"


# --- Markdown ----------------------------------------------------------------------------------

#: Schemes a link may use; anything else (``javascript:``, ``data:``, ``file:``) stays text.
LINK_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.I)
#: A cell's headings sit under the page's h1 (title) and h2 (notebook): ``#`` becomes h3.
HEADING_SHIFT = 2


@functools.lru_cache(maxsize=4096)  # a release's Markdown cells are in every student's page
def markdown_html(source: str) -> str:
    """A Markdown cell as HTML: no raw HTML, no images, safe links, math as MathML.

    Example:
        >>> markdown_html("# Loss\\n\\n$L = x^2$ <b>")  # doctest: +ELLIPSIS
        '<h3>Loss</h3>\\n<p><span class="math inline"><math display="inline">...&lt;b&gt;</p>\\n'
    """
    md = _markdown()
    try:
        tokens = md.parse(source)
        for token in tokens:
            if token.type in ("heading_open", "heading_close"):
                token.tag = f"h{min(6, int(token.tag[1]) + HEADING_SHIFT)}"
        return md.renderer.render(tokens, md.options, {})
    except Exception:  # noqa: BLE001 - a student's cell must never stop the batch
        return f"<pre>{html.escape(source)}</pre>"


def _safe_link(url: str) -> bool:
    scheme = _SCHEME.match(url)
    return scheme is None or scheme[1].lower() in LINK_SCHEMES


@functools.cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = _safe_link
    md.use(
        dollarmath_plugin,
        allow_labels=False,
        allow_digits=False,  # "$5 and $10" is money, not math
        double_inline=True,
    )
    md.use(amsmath_plugin)
    md.add_render_rule("math_inline", _math_rule("span", "inline", display=False))
    md.add_render_rule("math_inline_double", _math_rule("span", "inline", display=True))
    md.add_render_rule("math_block", _math_rule("div", "block", display=True))
    md.add_render_rule("amsmath", _math_rule("div", "block", display=True))
    md.add_render_rule("image", _image_as_text)
    md.add_render_rule("link_open", _link_open)
    return md


def _math_rule(tag: str, where: str, display: bool):
    def render(renderer, tokens: Sequence[Token], idx: int, options, env) -> str:
        return f'<{tag} class="math {where}">{math_html(tokens[idx].content, display)}</{tag}>'

    return render


def _image_as_text(renderer, tokens: Sequence[Token], idx: int, options, env) -> str:
    alt = renderer.renderInlineAsText(tokens[idx].children or [], options, env)
    return f"<span class='image'>[image: {html.escape(alt)}]</span>"


def _link_open(renderer, tokens: Sequence[Token], idx: int, options, env) -> str:
    tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
    return renderer.renderToken(tokens, idx, options, env)


# --- Math --------------------------------------------------------------------------------------

#: What latex2mathml writes and a browser only typesets (no ``href``, ``style``, colours or
#: ``annotation-xml``, which could carry HTML); any other tag becomes an ``mrow``.
_TAG_NAMES = (
    "math mrow mi mn mo ms mtext mspace msub msup msubsup munder mover munderover mfrac msqrt "
    "mroot mstyle mtable mtr mtd mpadded mphantom menclose merror mmultiscripts mprescripts "
    "none"
)
_ATTRIBUTE_NAMES = (
    "display displaystyle scriptlevel mathvariant stretchy fence form separator accent "
    "accentunder largeop movablelimits symmetric minsize maxsize lspace rspace width height "
    "depth linethickness notation columnalign rowalign columnspacing rowspacing columnlines "
    "rowlines frame columnspan rowspan"
)
MATHML_TAGS = frozenset(_TAG_NAMES.split())
MATHML_ATTRIBUTES = frozenset(_ATTRIBUTE_NAMES.split())
#: Longer TeX than this is shown as source (latex2mathml's time grows with it).
MAX_TEX = 10_000
_REFERENCE = re.compile(r"&#x([0-9a-fA-F]{1,8});")
_TEXT_ESCAPE = re.compile(r"\\([_$%&#])")
# latex2mathml knows align* but not amsmath's aligned, which the chapters use inside $$; align
# would number its lines, which a notebook (MathJax without tags) does not.
_ALIASES = {"aligned": "align*", "align": "align*"}
_ENVIRONMENT = re.compile(r"\\(begin|end)\{(" + "|".join(_ALIASES) + r")\}")


def math_html(tex: str, display: bool) -> str:
    """TeX as MathML, or, if latex2mathml cannot read it, its source as code."""
    tex = tex.strip()
    try:
        if len(tex) > MAX_TEX:
            raise ValueError("too long")
        tex = _ENVIRONMENT.sub(lambda m: f"\\{m[1]}{{{_ALIASES[m[2]]}}}", tex)
        element = convert_to_element(tex, display="block" if display else "inline")
        return _mathml(element)
    except Exception:  # noqa: BLE001 - malformed TeX (any of latex2mathml's errors, recursion)
        marks = "$$" if display else "$"
        return f"<code class='tex' title='not typeset'>{html.escape(marks + tex + marks)}</code>"


def _mathml(element: Any) -> str:
    tag = element.tag if element.tag in MATHML_TAGS else "mrow"
    attributes = "".join(
        f' {name}="{html.escape(value)}"'
        for name, value in sorted(element.attrib.items())
        if name in MATHML_ATTRIBUTES
    )
    text = element.text or ""
    if tag == "mtext":  # latex2mathml keeps TeX's escapes in \text{…}: weight\_decay
        text = _TEXT_ESCAPE.sub(r"\1", text)
    inner = _text(text) + "".join(_mathml(c) + _text(c.tail) for c in element)
    return f"<{tag}{attributes}>{inner}</{tag}>"


def _text(text: str | None) -> str:
    """latex2mathml's text with its character references resolved, then escaped."""
    return html.escape(_REFERENCE.sub(_character, text or ""), quote=False)


def _character(match: re.Match) -> str:
    code = int(match[1], 16)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
