"""The Korean edition's Sphinx glue: a language switch on every page, the settings of the build
under ``ko/``, and search that understands Korean.

**Language switch.** Every page, in both builds, links to the same page in the other language
(``book/01_module.html`` ⇄ ``ko/book/01_module.html``), from the article header and as
``<link rel="alternate" hreflang>``.

**The build under ko/** (``scripts/book_ko.py html``, ``language = "ko"``): its canonical URLs
are under ``ko/``, it uses the site root's MathJax (``../../mathjax``) and copies no second
``vendor/``, and it publishes no second wheel.

**Korean search.** Sphinx has no Korean search language: its fallback splits on word characters
and matches whole words, so 텐서 never finds 텐서를 (the particle is part of the word). Here
every Korean word of the site is analysed with kiwipiepy, a morphological analyser, and indexed
as its content morphemes (nouns, roots, verb and adjective stems): 텐서를 → 텐서, 미분하면 →
미분. The browser analyses a query the same way: ``_static/ko-lexicon.js`` holds kiwipiepy's
analysis of every Korean word on the site, and a word that is not on it is split into the
longest indexed term it starts with and an ending or particle the site uses (or kiwipiepy
generates from the glossary's nouns). English pages keep Sphinx's English search.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.search import SearchLanguage

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary-ko.md"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
WORD = re.compile(r"[\w\-.]+")
#: Content morphemes: nouns, roots, foreign words and numbers, verb and adjective stems.
CONTENT = ("NN", "XR", "SL", "SH", "SN", "VV", "VA")
#: Stems that carry grammar, not meaning (미분하면's 하): left out like endings.
LIGHT = {"하", "되", "시키", "있", "없", "않", "이", "아니"}
#: Particles and endings the query side may strip even when the site happens not to use them.
PARTICLES = (
    "이",
    "가",
    "은",
    "는",
    "을",
    "를",
    "의",
    "에",
    "에서",
    "로",
    "으로",
    "와",
    "과",
    "도",
    "만",
)
ENDINGS = (
    "하다",
    "한다",
    "합니다",
    "하면",
    "하는",
    "했다",
    "해서",
    "하고",
    "된다",
    "됩니다",
    "되는",
)


def glossary_terms() -> list[str]:
    """The Korean words of docs/glossary-ko.md's table, for kiwipiepy's dictionary."""
    terms = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and HANGUL.search(cells[1]):
            words = re.split(r"[,\s()]+", cells[1])
            terms += [w for w in words if re.fullmatch(r"[가-힣]+", w) and not w.endswith("다")]
    return sorted(set(terms))


@functools.cache
def kiwi():
    from kiwipiepy import Kiwi

    analyser = Kiwi()
    for term in glossary_terms():
        analyser.add_user_word(term, "NNG", 0)
    return analyser


@functools.cache
def analyse(word: str) -> tuple[tuple[str, ...], str]:
    """The index terms of one word (eojeol), and what follows its last content morpheme."""
    if not HANGUL.search(word):
        return tuple(w.lower() for w in re.findall(r"\w+", word)), ""
    terms, current, nounish, end = [], "", False, 0
    for token in kiwi().tokenize(word):
        tag = token.tag.split("-")[0]
        noun = tag.startswith(("NN", "XR", "XPN")) or (tag == "XSN" and nounish)
        if noun and nounish:  # 역+전파, 학습+률: one term
            current += token.form
        elif noun or (tag.startswith(CONTENT) and token.form not in LIGHT):
            if current:
                terms.append(current)
            current = token.form
        else:
            if current:
                terms.append(current)
            current, nounish = "", False
            continue
        nounish, end = noun, token.start + token.len
    if current:
        terms.append(current)
    return tuple(t.lower() for t in terms), word[end:]


#: The browser's half: the lexicon first, else the longest indexed term plus a known ending.
SPLIT_QUERY = r"""
var splitQuery = (query) => {
  const terms = (typeof Search !== "undefined" && Search._index) ? Search._index.terms : {};
  const lexicon = window.KO_LEXICON || {}, endings = new Set(window.KO_ENDINGS || []);
  const found = [];
  for (const raw of query.match(/[\p{L}\p{N}_\-.]+/gu) || []) {
    const word = raw.replace(/^[.\-]+|[.\-]+$/g, "");
    if (lexicon[word]) { found.push(...lexicon[word]); continue; }
    for (const part of word.match(/\p{Script=Hangul}+|[\p{L}\p{N}_]+/gu) || []) {
      if (!/\p{Script=Hangul}/u.test(part) || terms[part]) { found.push(part); continue; }
      let stem = null;
      for (let i = part.length - 1; i > 0 && !stem; i--)
        if (terms[part.slice(0, i)] && endings.has(part.slice(i))) stem = part.slice(0, i);
      found.push(stem || part);
    }
  }
  return found;
};
"""


class SearchKorean(SearchLanguage):
    lang = "ko"
    language_name = "Korean"
    js_splitter_code = SPLIT_QUERY
    #: Every Korean word met while indexing, with its terms; every ending met after a term.
    lexicon: dict[str, tuple[str, ...]] = {}
    endings: set[str] = set()

    def split(self, input: str) -> list[str]:  # noqa: A002 - Sphinx's signature
        words = [w.strip(".-") for w in WORD.findall(input)]
        # Text that starts right after inline code or a link (`net(X)`를) starts with a bare
        # particle; analysed after a letter it yields nothing of its own, so it is dropped.
        if words and HANGUL.match(input[:1]) and analyse("A" + words[0])[0] == ("a",):
            words = words[1:]
        found = []
        for word in words:
            terms, ending = analyse(word)
            found += terms
            if HANGUL.search(word):
                SearchKorean.lexicon[word] = terms
                if ending and terms:
                    SearchKorean.endings.add(ending)
        return found


def write_lexicon(app: Sphinx):
    """``_static/ko-lexicon.js``, from every page (an incremental build indexes only some)."""
    if app.config.language != "ko" or app.builder.format != "html":
        return []
    language = app.builder.indexer.lang
    for name in sorted(app.env.found_docs):
        for node in app.env.get_doctree(name).findall(nodes.Text):
            language.split(node.astext())
    lexicon = {w: t for w, t in SearchKorean.lexicon.items() if t != (w.lower(),)}
    endings = SearchKorean.endings | set(PARTICLES) | set(ENDINGS)
    text = (
        f"window.KO_LEXICON = {json.dumps(lexicon, ensure_ascii=False, sort_keys=True)};\n"
        f"window.KO_ENDINGS = {json.dumps(sorted(endings), ensure_ascii=False)};\n"
    )
    Path(app.outdir, "_static", "ko-lexicon.js").write_text(text, encoding="utf-8")
    return []


def korean_settings(app: Sphinx, config: Any) -> None:
    """The build under ko/: its own canonical URLs, the root's MathJax, no second vendor/."""
    if config.language != "ko":
        return
    if config.html_baseurl:
        config.html_baseurl = config.html_baseurl.rstrip("/") + "/ko/"
    config.mathjax_path = "../../mathjax/tex-chtml.js"
    config.html_extra_path = []
    config.html_title = "Day 12: PyTorch 자동 미분과 옵티마이저, Dataset과 DataLoader"
    config.html_theme_options["search_bar_text"] = "이 책에서 검색…"
    app.add_js_file("ko-lexicon.js")


def translate_toc_captions(app: Sphinx, doctree: nodes.document) -> None:
    """The part captions of _toc.yml in Korean: Jupyter Book puts the toctree into the root page
    after Sphinx has translated it, so its captions are translated here, from the root page's
    catalog (intro.po)."""
    if app.config.language != "ko" or app.env.docname != app.config.root_doc:
        return
    from babel.messages.pofile import read_po

    for directory in app.config.locale_dirs:
        catalog = Path(app.srcdir, directory, "ko", "LC_MESSAGES", f"{app.env.docname}.po")
        if catalog.exists():
            with open(catalog, "rb") as handle:
                korean = {m.id: m.string for m in read_po(handle) if m.string and not m.fuzzy}
            for toctree in doctree.findall(addnodes.toctree):
                toctree["caption"] = korean.get(toctree.get("caption"), toctree.get("caption"))


def language_switch(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    up = "../" * pagename.count("/")
    if app.config.language == "ko":
        other = {"href": f"../{up}{pagename}.html", "label": "English", "lang": "en"}
    else:
        other = {"href": f"{up}ko/{pagename}.html", "label": "한국어", "lang": "ko"}
    context["other_language"] = other
    link = f'<link rel="alternate" hreflang="{other["lang"]}" href="{other["href"]}">'
    context["metatags"] = context.get("metatags", "") + "\n" + link


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_search_language(SearchKorean)
    app.connect("config-inited", korean_settings)
    app.connect("doctree-read", translate_toc_captions)
    app.connect("html-page-context", language_switch)
    app.connect("html-collect-pages", write_lexicon)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
