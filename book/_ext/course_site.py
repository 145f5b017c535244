"""Sphinx glue for the course site.

The theme's launch buttons open the page's own source. For a chapter, a learner wants the
*student notebook* of that chapter instead, so the buttons are re-aimed at
``notebooks/<stem>/<name>.ipynb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx


def student_notebook(repo_root: Path, pagename: str) -> str | None:
    """Path (relative to the repository) of the student notebook for ``book/<stem>``."""
    stem = Path(pagename).name
    found = sorted((repo_root / "notebooks" / stem).glob("*.ipynb"))
    return found[0].relative_to(repo_root).as_posix() if found else None


def aim_launch_buttons(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Point every launch button of a chapter page at that chapter's student notebook."""
    target = student_notebook(Path(app.srcdir), pagename)
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        if target is None:
            group["buttons"] = []
            continue
        for button in group["buttons"]:
            if "url" in button:
                for suffix in (".ipynb", ".md"):
                    button["url"] = button["url"].replace(pagename + suffix, target)


def setup(app: Sphinx) -> dict[str, Any]:
    # After sphinx-book-theme (priority 500) has added its buttons.
    app.connect("html-page-context", aim_launch_buttons, priority=501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
