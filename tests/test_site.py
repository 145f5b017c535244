"""The built site: every TOC page, math served locally, nothing unpublished leaks in."""

from __future__ import annotations

import re
import tomllib

import yaml

from autograder.course import REPO


def toc_pages() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    chapters = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [toc["root"], *chapters]


def test_every_toc_page_is_built(site):
    pages = toc_pages()
    assert len(pages) == 9  # the front page and eight chapters
    for page in pages:
        assert (site / f"{page}.html").exists(), f"{page} was not built"


def test_math_is_served_from_the_site(site):
    assert (site / "mathjax" / "tex-chtml.js").exists()
    assert list((site / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    for page in toc_pages():
        html = (site / f"{page}.html").read_text()
        for src in re.findall(r'<script[^>]+src="([^"]+)"', html):
            assert "://" not in src, f"{page} loads a script from the network: {src}"
        if "math notranslate" in html:
            assert "mathjax/tex-chtml.js" in html, f"{page} has math but no local MathJax"


def test_instructor_material_is_not_published(site):
    for folder in ("solutions", "notebooks", "autograder", "tests", ".venv"):
        assert not (site / folder).exists(), f"{folder}/ was published"
    assert not list(site.rglob("*.py")), "python sources were published"


def test_launch_buttons_open_the_student_notebook(site):
    html = (site / "book" / "01_module.html").read_text()
    assert "notebooks/01_module/module.ipynb" in html
    assert "book/01_module.md" not in re.findall(r'href="([^"]*mybinder[^"]*)"', html)[0]
    repository = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    owner_and_name = repository.removeprefix("https://github.com/")
    colab = "https://colab.research.google.com/github/"
    assert f"{colab}{owner_and_name}/blob/main/notebooks/01_module/module.ipynb" in html


def test_binder_runs_the_python_the_project_requires():
    runtime = (REPO / "binder" / "runtime.txt").read_text().strip()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert runtime == "python-" + project["requires-python"].removeprefix(">="), runtime
