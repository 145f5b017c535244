"""The built site as a reader gets it: every TOC page in headless Chromium, with no network.

Generic over the pages in _toc.yml: nothing here depends on a chapter's text. Screenshots of
every page land in _build/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urldefrag, urlparse

import nbformat
import pytest

from .sitecheck import HOST, REPO, fetch, page_title, student_notebooks, toc_pages

pytestmark = pytest.mark.browser
PAGES = toc_pages()
STOPWORDS = {"with", "from", "into", "that", "this", "your", "what", "when", "and", "the"}


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_offline_without_errors(visit, page):
    seen = visit(page)
    assert not seen.blocked, f"{page} tried to reach the network: {seen.blocked}"
    assert not seen.errors, f"{page} logged errors: {seen.errors}"
    assert not seen.failed, f"{page} had failed requests: {seen.failed}"
    assert seen.screenshot.stat().st_size > 10_000, f"{seen.screenshot} looks empty"
    favicon = seen.facts["favicon"]
    assert favicon, f"{page} declares no favicon (browsers then ask for /favicon.ico: 404)"
    assert fetch(favicon).status == 200, f"{page}: favicon {favicon} is not served"


@pytest.mark.parametrize("page", PAGES)
def test_images_load_and_have_alt_text(visit, page):
    images = visit(page).facts["images"]
    for image in images:
        assert image["complete"] and image["naturalWidth"] > 0, f"{page}: broken image {image}"
        alt = (image["alt"] or "").strip()
        assert alt, f"{page}: image without alt text: {image['src']}"
        assert not re.search(r"\.(png|svg|jpe?g|gif)$", alt), (
            f"{page}: alt text is a file name, not a description: {alt!r}"
        )


@pytest.mark.parametrize("page", PAGES)
def test_math_is_rendered(visit, page):
    facts = visit(page).facts
    unrendered = [m["text"] for m in facts["math"] if not m["rendered"]]
    assert not unrendered, f"{page}: MathJax did not render {unrendered}"
    for delimiter in ("\\(", "\\[", "\\begin{"):
        where = facts["proseText"].find(delimiter)
        assert where < 0, (
            f"{page}: raw TeX left in the text: ...{facts['proseText'][where - 40 : where + 40]}..."
        )


@pytest.mark.parametrize("page", PAGES)
def test_headings_are_in_order(visit, page):
    headings = visit(page).facts["headings"]
    assert headings and headings[0]["level"] == 1, f"{page} does not start with an H1"
    assert sum(h["level"] == 1 for h in headings) == 1, f"{page} has several H1s"
    for before, after in zip(headings, headings[1:], strict=False):
        assert after["level"] <= before["level"] + 1, (
            f"{page}: heading {after['text']!r} (H{after['level']}) follows "
            f"{before['text']!r} (H{before['level']}): a level is skipped"
        )


@pytest.mark.parametrize("page", PAGES)
def test_no_serious_accessibility_violations(visit, page):
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in visit(page).axe["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not violations, f"{page}: axe-core reports\n" + "\n".join(violations)


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(visit, page):
    seen = visit(page)
    checked = 0
    for link in seen.facts["links"]:
        url = link["href"]
        if urlparse(url).hostname != HOST:
            continue
        target, anchor = urldefrag(url)
        response = fetch(target)
        assert response.status == 200, f"{page}: link {link['raw']!r} -> HTTP {response.status}"
        assert response.body, f"{page}: link {link['raw']!r} serves an empty file"
        if anchor and target.endswith(".html"):
            assert anchor in response.anchors, f"{page}: link {link['raw']!r}: no #{anchor}"
        checked += 1
    assert checked, f"{page} has no internal links at all"


@pytest.mark.parametrize("page", PAGES)
def test_download_buttons_serve_the_page_source(visit, page):
    source = REPO / f"{page}.md"
    buttons = visit(page).facts["sourceButtons"]
    markdown = [url for url in buttons if url.endswith(".md")]
    assert markdown, f"{page} has no download button for its source"
    for url in buttons:
        response = fetch(url)
        assert response.status == 200 and response.body, f"{page}: download {url} failed"
        if url.endswith(".md"):
            assert response.body == source.read_bytes(), f"{url} is not {source.name}"
        else:
            notebook = nbformat.reads(response.body.decode(), as_version=4)
            code_cells = [c for c in notebook.cells if c.cell_type == "code"]
            assert len(code_cells) == source.read_text().count("```{code-cell}"), (
                f"{url} does not hold the code cells of {source.name}"
            )


@pytest.mark.parametrize("page", PAGES)
def test_launch_buttons_open_the_student_notebook(visit, page):
    facts = visit(page).facts
    buttons = facts["launchButtons"]
    notebooks = [p.relative_to(REPO).as_posix() for p in student_notebooks(page)]
    if not notebooks:
        assert not facts["launchMenus"], f"{page} has no exercises, yet a launch menu: {buttons}"
        return
    assert buttons, f"{page} has exercises in notebooks/ but no launch buttons"
    hosts = {urlparse(url).hostname for url in buttons}
    assert {"mybinder.org", "colab.research.google.com"} <= hosts, f"{page}: {buttons}"
    for url in buttons:
        assert any(url.endswith(path) for path in notebooks), (
            f"{page}: launch button {url} does not open one of {notebooks}"
        )


@pytest.mark.parametrize("page", PAGES)
def test_exercises_link_the_student_notebook(visit, page):
    notebooks = student_notebooks(page)
    if not notebooks:
        pytest.skip(f"{page} has no notebooks/{Path(page).name}/")
    facts = visit(page).facts
    h2 = [h["text"] for h in facts["headings"] if h["level"] == 2]
    assert h2 and h2[-1].lower().startswith("exercises"), f"{page} does not end with Exercises"
    downloads = facts["downloads"]
    for notebook in notebooks:
        links = [d for d in downloads if d["href"].endswith("/" + notebook.name)]
        assert links, f"{page} has no download link to {notebook.relative_to(REPO)}"
        assert all(d["afterExercises"] for d in links), f"{page}: link not under Exercises"
        body = fetch(links[0]["href"]).body
        assert body == notebook.read_bytes(), f"{page} serves a different {notebook.name}"
        text = body.decode()
        for secret in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "_hidden("):
            assert secret not in text, f"{page}: the student notebook contains {secret!r}"
        assert nbformat.reads(text, as_version=4).cells, f"{notebook.name} has no cells"


def search_keyword(page: str) -> str:
    """The word of the page's own title that the fewest other page titles share."""
    titles = {p: page_title(p).lower() for p in PAGES}
    words = [w for w in re.findall(r"[a-z]{4,}", titles[page]) if w not in STOPWORDS] or re.findall(
        r"[a-z]+", titles[page]
    )
    assert words, f"{page} has no word in its title {titles[page]!r}"
    return min(words, key=lambda w: (sum(w in t for t in titles.values()), -len(w)))


@pytest.mark.parametrize("page", PAGES)
def test_search_finds_the_page(offline, page):
    keyword = search_keyword(page)
    tab = offline.new_page()
    tab.goto(f"{offline.base_url}/search.html?q={quote(keyword)}")
    tab.wait_for_function(
        """() => {
          const title = document.querySelector("#search-results h2");
          return title && title.textContent.startsWith("Search Results");
        }""",
        timeout=15_000,
    )
    found = tab.eval_on_selector_all("#search-results ul.search li a", "as => as.map(a => a.href)")
    assert any(urldefrag(url).url.endswith(f"/{page}.html") for url in found), (
        f"searching {keyword!r} does not find {page}: {found}"
    )
    assert not offline.blocked, f"search tried to reach the network: {offline.blocked}"
    assert not offline.errors, f"search logged errors: {offline.errors}"


def test_search_field_takes_a_reader_to_the_results(offline):
    """Click the sidebar's search field, type, press Enter: the results page lists chapters."""
    page = PAGES[1]
    keyword = search_keyword(page)
    tab = offline.new_page()
    tab.goto(f"{offline.base_url}/{PAGES[0]}.html")
    tab.locator(".bd-sidebar-primary .search-button-field").click()
    field = tab.locator("#pst-search-dialog input[name='q']")
    field.wait_for(state="visible", timeout=5_000)
    field.fill(keyword)
    field.press("Enter")
    tab.wait_for_url("**/search.html?q=*", timeout=10_000)
    tab.wait_for_selector("#search-results ul.search li a", timeout=15_000)
    found = tab.eval_on_selector_all("#search-results ul.search li a", "as => as.map(a => a.href)")
    assert any(urldefrag(url).url.endswith(f"/{page}.html") for url in found), found
    assert not offline.blocked and not offline.errors, (offline.blocked, offline.errors)
