"""Sphinx glue for the course site.

The theme's launch buttons open the page's own source. For a chapter, a learner wants the
*student notebook* of that chapter instead, so the buttons are re-aimed at
``notebooks/<stem>/<name>.ipynb``.

sphinx-thebe registers an inline script (``const THEBE_JS_URL = ...``) once, but Sphinx 7.4
lists it twice (once as filename ``None``, once as ``""``), so every page threw "Identifier
'THEBE_JS_URL' has already been declared". Each page's scripts are de-duplicated here.

myst-nb labels the summary of a hidden code cell "Toggle hidden content" while it shows
"Show code cell source": a screen reader then announces a name that is not the visible text
(axe: label-content-name-mismatch). The summary is rendered here without that label, so its
name is the text it shows.

The site also serves the course's ``autograder`` package as a wheel under ``wheels/``, with an
``index.html`` listing it, so that a student notebook opened anywhere (downloaded alone, Colab,
Binder) can ``pip install --find-links <site>/wheels/ day12-autograder`` from its setup cell.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from docutils import nodes
from markupsafe import escape
from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput
from sphinx.application import Sphinx


def student_notebook(repo_root: Path, pagename: str, language: str | None = None) -> str | None:
    """Path (relative to the repository) of the student notebook for ``book/<stem>``: the
    Korean one (``notebooks/ko/<stem>``) on the Korean pages."""
    stem = Path(pagename).name
    folder = repo_root / "notebooks" / ("ko" if language == "ko" else "") / stem
    found = sorted(folder.glob("*.ipynb"))
    return found[0].relative_to(repo_root).as_posix() if found else None


def aim_launch_buttons(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Point every launch button of a chapter page at that chapter's student notebook."""
    target = student_notebook(Path(app.srcdir), pagename, app.config.language)
    groups = context.get("header_buttons", [])
    if target is None:
        # No exercises: no launch menu at all (an emptied one still shows its rocket icon).
        groups[:] = [group for group in groups if group.get("label") != "launch-buttons"]
        return
    for group in groups:
        if group.get("label") != "launch-buttons":
            continue
        for button in group["buttons"]:
            if "url" in button:
                for suffix in (".ipynb", ".md"):
                    button["url"] = button["url"].replace(pagename + suffix, target)


def _script_key(script: Any) -> tuple[Any, ...]:
    attributes = getattr(script, "attributes", {})
    return (
        getattr(script, "filename", script) or "",
        getattr(script, "priority", None),
        tuple(sorted(attributes.items())),
    )


def drop_duplicate_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Keep the first of scripts that differ only by a ``None``/``""`` filename."""
    unique: dict[tuple[Any, ...], Any] = {}
    for script in context.get("script_files", []):
        unique.setdefault(_script_key(script), script)
    context["script_files"] = list(unique.values())


def visit_hidden_cell(self: Any, node: nodes.Element) -> None:
    """myst-nb's ``visit_HideCellInput`` minus the summary's mismatching ``aria-label``."""
    classes = " ".join(node["classes"])
    self.body.append(f'<details class="admonition hide {classes}">\n')
    self.body.append("<summary>\n")
    self.body.append(f'<p class="collapsed admonition-title">{escape(node["prompt_show"])}</p>\n')
    self.body.append(f'<p class="expanded admonition-title">{escape(node["prompt_hide"])}</p>\n')
    self.body.append("</summary>\n")


#: What the wheel is built from: the package and the files its metadata names.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "autograder")


def build_wheel(repo_root: Path, destination: Path) -> Path:
    """Build the ``autograder`` wheel into ``destination``; write an index page; return the wheel.

    It is built from a scratch copy of the package, so setuptools leaves no ``build/`` or
    ``*.egg-info`` in the repository, and with no build isolation, so nothing is downloaded.
    """
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name in WHEEL_SOURCES:
            source = repo_root / name
            if source.is_dir():
                shutil.copytree(
                    source, Path(scratch) / name, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy(source, Path(scratch) / name)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        subprocess.run(
            [*command, "--quiet", "--wheel-dir", str(destination), scratch],
            check=True,
            capture_output=True,
        )
    (wheel,) = destination.glob("*.whl")
    links = f'<a href="{wheel.name}">{wheel.name}</a>'
    (destination / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>The course's checks</title></head>\n"
        f"<body><h1>The course's checks</h1><p>{links}</p></body></html>\n"
    )
    return wheel


def publish_wheel(app: Sphinx, exception: Exception | None) -> None:
    """The wheel at the site's root, once: the Korean build under ``ko/`` publishes none."""
    if exception is None and app.builder.format == "html" and app.config.language != "ko":
        build_wheel(Path(app.srcdir), Path(app.outdir) / "wheels")


def setup(app: Sphinx) -> dict[str, Any]:
    # After sphinx-book-theme (priority 500) has added its buttons.
    app.connect("html-page-context", aim_launch_buttons, priority=501)
    app.connect("html-page-context", drop_duplicate_scripts)
    app.connect("build-finished", publish_wheel)
    app.add_node(HideCodeCellNode, override=True, html=(visit_hidden_cell, depart_HideCellInput))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
