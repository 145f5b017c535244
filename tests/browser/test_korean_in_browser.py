"""The Korean pages as a reader gets them, in headless Chromium with no network: they load
without errors, with rendered math, images and working links and downloads, in a font that
has Hangul; every page switches to the same page in the other language; and search finds a
word whatever particle or ending the page attaches to it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urldefrag, urlparse

import pytest

from .sitecheck import HOST, REPO, SITE, fetch, student_notebooks, toc_pages

pytestmark = pytest.mark.browser
ENGLISH = toc_pages()
KOREAN = [f"ko/{page}" for page in ENGLISH]
HANGUL = "\uac00-\ud7a3"
#: Nouns of docs/glossary-ko.md the search is tried on.
TERMS = ("텐서", "미분", "변화도", "옵티마이저", "데이터셋", "샘플러", "매개변수", "손실", "학습률")


@pytest.mark.parametrize("page", KOREAN)
def test_korean_page_loads_offline_without_errors(visit, page):
    seen = visit(page)
    assert not seen.blocked, f"{page} tried to reach the network: {seen.blocked}"
    assert not seen.errors, f"{page} logged errors: {seen.errors}"
    assert not seen.failed, f"{page} had failed requests: {seen.failed}"
    assert seen.facts["lang"] == "ko"
    assert seen.facts["hangulFont"], "no font with Hangul: install fonts-noto-cjk"
    assert seen.screenshot.stat().st_size > 10_000, f"{seen.screenshot} looks empty"


@pytest.mark.parametrize("page", KOREAN)
def test_korean_page_renders_math_and_images(visit, page):
    facts = visit(page).facts
    assert not [m["text"] for m in facts["math"] if not m["rendered"]], f"{page}: raw math"
    for image in facts["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, f"{page}: broken {image}"
        assert (image["alt"] or "").strip(), f"{page}: image without alt text: {image['src']}"


@pytest.mark.parametrize("page", KOREAN)
def test_korean_page_links_and_downloads_work(visit, page):
    facts = visit(page).facts
    for link in facts["links"]:
        if urlparse(link["href"]).hostname == HOST:
            target, _ = urldefrag(link["href"])
            assert fetch(target).status == 200, f"{page}: link {link['raw']!r} is broken"
    source = REPO / f"{page.removeprefix('ko/')}.md"
    for url in facts["sourceButtons"]:
        response = fetch(url)
        assert response.status == 200 and response.body, f"{page}: download {url} failed"
        if url.endswith(".md"):
            assert response.body == source.read_bytes(), "the one source of both languages"
    for download in facts["downloads"]:
        assert fetch(download["href"]).status == 200, f"{page}: {download['href']} is missing"


@pytest.mark.parametrize("page", ENGLISH + KOREAN)
def test_every_page_switches_to_the_same_page_in_the_other_language(visit, page):
    facts = visit(page).facts
    other = page.removeprefix("ko/") if page.startswith("ko/") else f"ko/{page}"
    assert facts["languageSwitch"], f"{page} has no language switch"
    assert facts["languageSwitch"].endswith(f"/{other}.html"), facts["languageSwitch"]
    assert fetch(facts["languageSwitch"]).status == 200


def only_with_particles() -> list[tuple[str, str]]:
    """(term, page) pairs where the Korean page has the term only with something attached
    (텐서를, 텐서는, never 텐서 alone): what a whole-word search would not find."""
    pairs = []
    for page in KOREAN:
        html = (SITE / f"{page}.html").read_text(encoding="utf-8")
        article = re.search(r"<article.*?</article>", html, re.S).group(0)
        text = re.sub(r"<pre.*?</pre>|<[^>]+>", " ", article, flags=re.S)
        for term in TERMS:
            after = re.findall(rf"(?<![{HANGUL}]){term}(.?)", text)
            if after and all(re.match(f"[{HANGUL}]", a) for a in after):
                pairs.append((term, page))
    return pairs


def search(offline, query: str) -> list[str]:
    tab = offline.new_page()
    tab.goto(f"{offline.base_url}/ko/search.html?q={quote(query)}")
    # The summary paragraph exists from the start; its text comes when the search has finished
    # (the results are listed one by one before it).
    tab.wait_for_function(
        "() => document.querySelector('#search-results p.search-summary')?.innerText.trim()",
        timeout=15_000,
    )
    found = tab.eval_on_selector_all("#search-results ul.search li a", "as => as.map(a => a.href)")
    assert not offline.blocked and not offline.errors, (offline.blocked, offline.errors)
    return [urldefrag(url).url for url in found]


def test_korean_search_finds_words_that_occur_only_with_particles(offline):
    pairs = only_with_particles()
    assert len(pairs) >= 3, f"too few words occur only with particles to test: {pairs}"
    for term, page in pairs:
        found = search(offline, term)
        assert any(url.endswith(f"/{page}.html") for url in found), (term, page, found)


def test_korean_search_analyses_the_query_as_the_index(offline):
    """A query with a particle or an ending finds the bare word's pages; English is English."""
    bare = search(offline, "미분")
    assert bare
    for query in ("미분하면", "미분을", "미분했다"):
        assert set(search(offline, query)) >= set(bare), query
    assert search(offline, "텐서를") == search(offline, "텐서")


def test_the_browser_splits_queries_as_kiwipiepy_does(offline):
    import sys

    sys.path.insert(0, str(REPO / "book" / "_ext"))
    import korean

    tab = offline.new_page()
    tab.goto(f"{offline.base_url}/ko/search.html?q=%ED%85%90%EC%84%9C")
    tab.wait_for_function("() => window.KO_LEXICON && Search._index", timeout=15_000)
    lexicon = tab.evaluate("() => window.KO_LEXICON")
    words = sorted(lexicon)[:: max(1, len(lexicon) // 200)]
    split = tab.evaluate("(words) => words.map((w) => splitQuery(w))", words)
    for word, terms in zip(words, split, strict=True):
        assert tuple(terms) == korean.analyse(word)[0], word


@pytest.mark.parametrize("page", [p for p in KOREAN if student_notebooks(p)])
def test_korean_exercises_offer_the_korean_student_notebook(visit, page):
    facts = visit(page).facts
    stem = page.rsplit("/", 1)[-1]
    notebooks = sorted((REPO / "notebooks" / "ko" / stem).glob("*.ipynb"))
    assert notebooks, f"notebooks/ko/{stem} is missing"
    for notebook in notebooks:
        links = [d["href"] for d in facts["downloads"] if d["href"].endswith("/" + notebook.name)]
        assert links and fetch(links[0]).body == notebook.read_bytes(), (page, links)
        target = f"notebooks/ko/{stem}/{notebook.name}"
        assert facts["launchButtons"], f"{page} has no launch buttons"
        assert all(url.endswith(target) for url in facts["launchButtons"]), facts["launchButtons"]
