"""The Korean edition: every page under ko/, translated from catalogs that follow the English,
with the English pages' code and outputs, and a search index built from morphemes.

The browser half (pages in Chromium, the language switch, Korean search, Hangul fonts) is in
tests/browser/test_korean_in_browser.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from test_site import toc_pages

from autograder.course import REPO

sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "book" / "_ext"))

import book_ko  # noqa: E402 - scripts/book_ko.py
import korean  # noqa: E402 - book/_ext/korean.py

#: Every Korean catalog: pages (book/), notebooks (notebooks/), the site's frame (sphinx.po).
CATALOGS = sorted(book_ko.LOCALES.glob("ko/LC_MESSAGES/**/*.po"))


def cells(html: str, kind: str) -> list[str]:
    """The text of every ``cell_input`` or ``cell_output`` block of a built page, figure
    captions left out (they are translated)."""
    html = re.sub(r"<figcaption>.*?</figcaption>", "", html, flags=re.S)
    blocks = re.findall(rf'<div class="{kind}[^"]*"[^>]*>(.*?)</div>\s*</div>', html, re.S)
    return [re.sub(r"<[^>]+>", "", block) for block in blocks]


def test_every_page_has_a_korean_page(site):
    for page in toc_pages():
        english = site / f"{page}.html"
        korean_page = site / "ko" / f"{page}.html"
        assert korean_page.exists(), f"ko/{page}.html was not built"
        html = korean_page.read_text()
        assert '<html lang="ko"' in html
        assert len(re.findall(r"[\uac00-\ud7a3]", html)) > 300, f"ko/{page} is hardly Korean"
        assert english.read_text().count('class="cell_input') == html.count('class="cell_input')


def test_korean_pages_show_the_english_pages_code_and_outputs(site):
    for page in toc_pages():
        english = (site / f"{page}.html").read_text()
        korean_page = (site / "ko" / f"{page}.html").read_text()
        assert cells(korean_page, "cell_input") == cells(english, "cell_input"), page
        assert cells(korean_page, "cell_output") == cells(english, "cell_output"), page


def test_figure_captions_are_translated(site):
    html = (site / "ko" / "book" / "04_optimizer.html").read_text()
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    assert len(captions) == 3 and all(re.search(r"[\uac00-\ud7a3]", c) for c in captions)


def test_the_korean_build_reuses_the_sites_math_wheel_and_canonical_urls(site):
    html = (site / "ko" / "book" / "03_backward.html").read_text()
    assert 'src="../_static/../../mathjax/tex-chtml.js' in html
    assert not (site / "ko" / "mathjax").exists(), "a second copy of MathJax"
    assert not (site / "ko" / "wheels").exists(), "a second wheel"
    canonical = re.search(r'<link rel="canonical" href="([^"]+)"', html).group(1)
    assert canonical.endswith("/ko/book/03_backward.html"), canonical


@pytest.mark.parametrize(
    "catalog", CATALOGS, ids=lambda p: p.relative_to(book_ko.LOCALES).as_posix()
)
def test_every_message_is_translated_and_keeps_code_math_and_links(catalog):
    assert book_ko.problems(catalog) == []


def test_the_catalogs_hold_every_english_paragraph_of_today(tmp_path):
    """Extract the English messages now: each must be translated (not fuzzy) in its catalog."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "book_ko.py"), "templates", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    templates = sorted((tmp_path / "book").glob("*.pot"))
    assert {p.stem for p in templates} == {p.stem for p in book_ko.CATALOGS.glob("*.po")}
    for template in templates:
        assert book_ko.stale(template, book_ko.CATALOGS / f"{template.stem}.po") == []
    frame = book_ko.LOCALES / "ko" / "LC_MESSAGES" / "sphinx.po"
    assert book_ko.stale(tmp_path / "sphinx.pot", frame) == [], "the course's templates"


def write(path: Path, messages: dict[str, str], fuzzy: tuple[str, ...] = ()) -> Path:
    catalog = Catalog(locale="ko")
    for english, translated in messages.items():
        catalog.add(english, translated, flags=("fuzzy",) if english in fuzzy else ())
    with open(path, "wb") as handle:
        write_po(handle, catalog)
    return path


def test_a_changed_english_paragraph_makes_its_translation_stale(tmp_path):
    before = "Call `net(X)`, not `net.forward(X)`."
    po = write(tmp_path / "page.po", {before: "`net.forward(X)`가 아니라 `net(X)`를 호출합니다."})
    same = write(tmp_path / "same.pot", {before: ""})
    assert book_ko.stale(same, po) == []
    changed = write(tmp_path / "changed.pot", {before.replace("Call", "Always call"): ""})
    (problem,) = book_ko.stale(changed, po)
    assert "not translated" in problem and "Always call" in problem


def test_a_translation_that_loses_code_a_link_or_a_role_target_is_caught(tmp_path):
    english = (
        "Open the {download}`notebook <../notebooks/01_module/module.ipynb>` and call `net(X)`."
    )
    good = "{download}`노트북 <../notebooks/01_module/module.ipynb>`을 열고 `net(X)`를 호출합니다."
    assert book_ko.problems(write(tmp_path / "good.po", {english: good})) == []
    for wrong in (
        good.replace("`net(X)`", "`net (X)`"),  # a code span changed
        good.replace("01_module/module", "01_module/modul"),  # a role's target changed
        "노트북을 열고 `net(X)`를 호출합니다.",  # the role dropped
    ):
        assert book_ko.problems(write(tmp_path / "wrong.po", {english: wrong})), wrong
    assert book_ko.problems(write(tmp_path / "empty.po", {english: ""}))
    assert book_ko.problems(write(tmp_path / "fuzzy.po", {english: good}, fuzzy=(english,)))


@pytest.mark.parametrize(
    ("word", "terms"),
    [
        ("텐서를", ("텐서",)),
        ("텐서는", ("텐서",)),
        ("미분하면", ("미분",)),
        ("변화도가", ("변화도",)),
        ("옵티마이저의", ("옵티마이저",)),
        ("데이터로더로", ("데이터로더",)),
        ("역전파했습니다", ("역전파",)),
        ("Tensor", ("tensor",)),
    ],
)
def test_the_index_keeps_a_words_content_without_its_particle_or_ending(word, terms):
    assert korean.analyse(word)[0] == terms


def search_terms(index: Path) -> dict:
    """The word -> pages table of a Sphinx ``searchindex.js``."""
    text = index.read_text(encoding="utf-8")
    return json.loads(text.removeprefix("Search.setIndex(").removesuffix(")"))["terms"]


def test_the_korean_search_index_and_lexicon(site):
    terms = search_terms(site / "ko" / "searchindex.js")
    for term in ("텐서", "미분", "변화도", "옵티마이저", "데이터로더", "역전파"):
        assert term in terms, term
    glued = [n + p for n in ("텐서", "변화도", "옵티마이저", "미분") for p in "을를은는이가의로"]
    assert not set(glued) & set(terms), "words are indexed without their particles"
    lexicon = (site / "ko" / "_static" / "ko-lexicon.js").read_text(encoding="utf-8")
    assert '"텐서를": ["텐서"]' in lexicon
    english = search_terms(site / "searchindex.js")
    assert not [t for t in english if re.search(r"[가-힣]", t)], "the English index holds Korean"


def test_the_glossary_feeds_the_analyser():
    terms = korean.glossary_terms()
    assert {"텐서", "변화도", "옵티마이저", "데이터로더", "역전파"} <= set(terms)
    assert all(re.fullmatch(r"[\uac00-\ud7a3]+", t) for t in terms)


def test_korean_translations_use_the_glossarys_word_for_gradient():
    for catalog in CATALOGS:
        with open(catalog, "rb") as handle:
            for message in read_po(handle):
                if message.id and re.search(r"\bgradients?\b(?! descent)", message.id, re.I):
                    assert "기울기" not in message.string and "그래디언트" not in message.string, (
                        f"{catalog.name}:{message.lineno}: gradient is 변화도 (docs/glossary-ko.md)"
                    )
