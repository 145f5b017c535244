"""Helpers of the browser tests: the pages, the offline browser context, the local fetcher."""

from __future__ import annotations

import functools
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlparse

import yaml

from autograder.course import REPO

SITE = REPO / "_build" / "html"
SCREENSHOTS = REPO / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOST = "127.0.0.1"
VIEWPORT = {"width": 1280, "height": 900}


def toc_pages() -> list[str]:
    """Every page of the book, as listed in _toc.yml (root first), e.g. ``book/01_module``."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    chapters = [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    chapters += [c["file"] for c in toc.get("chapters", [])]
    return [toc["root"], *chapters]


def student_notebooks(page: str) -> list[Path]:
    """The student notebooks released for a page (``notebooks/<stem>/*.ipynb``), if any."""
    return sorted((REPO / "notebooks" / Path(page).name).glob("*.ipynb"))


def page_title(page: str) -> str:
    """The H1 of a built page, read from its HTML."""
    html = (SITE / f"{page}.html").read_text()
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match, f"{page}.html has no <h1>"
    return re.sub(r"<[^>]+>|#", "", match.group(1)).strip()


@dataclass
class Offline:
    """A browser context that may only talk to the local server; what went wrong is recorded.

    Every request to another host is aborted and listed in ``blocked``; console errors and
    uncaught exceptions go to ``errors``; local requests that fail or answer >= 400 to
    ``failed``.
    """

    context: Any
    base_url: str
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Any, base_url: str) -> Offline:
        recorder = cls(browser.new_context(viewport=VIEWPORT), base_url)
        recorder.context.route("**/*", recorder._only_local)
        return recorder

    def _only_local(self, route: Any) -> None:
        if urlparse(route.request.url).hostname == HOST:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _request_failed(self, request: Any) -> None:
        if urlparse(request.url).hostname == HOST:
            self.failed.append(f"{request.url}: {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.url}: HTTP {response.status}")

    def new_page(self) -> Any:
        page = self.context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)
        return page

    def close(self) -> None:
        self.context.close()


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value or "")


@dataclass
class Fetched:
    """A local URL's status and body; ``anchors`` are the ids an HTML body defines."""

    status: int
    body: bytes

    @functools.cached_property
    def anchors(self) -> set[str]:
        parser = _Anchors()
        parser.feed(self.body.decode("utf-8", errors="replace"))
        return parser.ids


@functools.cache
def fetch(url: str) -> Fetched:
    """GET a URL of the local site (fragment dropped, cached)."""
    url = urldefrag(url).url
    assert urlparse(url).hostname == HOST, f"not a local URL: {url}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return Fetched(response.status, response.read())
    except urllib.error.HTTPError as error:
        return Fetched(error.code, b"")


# What a page holds once loaded, read from the DOM in one go.
FACTS_JS = """() => {
  const article = document.querySelector("article.bd-article")
    || document.querySelector("main") || document.body;
  const textOutside = (root, skip) => {
    const clone = root.cloneNode(true);
    clone.querySelectorAll(skip).forEach((el) => el.remove());
    return clone.textContent;
  };
  const exercises = [...article.querySelectorAll("h2")].filter(
    (h) => /exercises|연습 문제/i.test(h.textContent));
  return {
    headings: [...article.querySelectorAll("h1, h2, h3, h4, h5, h6")].map((h) => ({
      level: Number(h.tagName[1]),
      text: h.textContent.replace(/#$/, "").trim(),
    })),
    images: [...document.querySelectorAll("img")].map((img) => ({
      src: img.currentSrc || img.src,
      alt: img.getAttribute("alt"),
      complete: img.complete,
      naturalWidth: img.naturalWidth,
    })),
    math: [...article.querySelectorAll(".math")].map((m) => ({
      rendered: m.querySelector("mjx-container") !== null,
      text: m.textContent.slice(0, 80),
    })),
    proseText: textOutside(article, "pre, code, .math, mjx-container, script, style"),
    links: [...document.querySelectorAll("a[href]")].map((a) => ({
      href: a.href,
      raw: a.getAttribute("href"),
    })),
    downloads: [...article.querySelectorAll("a.reference.download")].map((a) => ({
      href: a.href,
      afterExercises: exercises.some(
        (h) => h.compareDocumentPosition(a) & Node.DOCUMENT_POSITION_FOLLOWING),
    })),
    sourceButtons: [...document.querySelectorAll(
      "a.btn-download-source-button, a.btn-download-notebook-button")].map((a) => a.href),
    launchMenus: document.querySelectorAll(".dropdown-launch-buttons").length,
    launchButtons: [...document.querySelectorAll(".dropdown-launch-buttons a[href]")].map(
      (a) => a.href),
    favicon: (document.querySelector("link[rel~='icon']") || {}).href || null,
    lang: document.documentElement.lang,
    languageSwitch: (document.querySelector("a.language-switch") || {}).href || null,
    hangulFont: document.fonts.check('16px "Noto Sans CJK KR"', "한"),
  };
}"""

IMAGES_LOADED_JS = "() => [...document.images].every((img) => img.complete)"


@dataclass
class Visit:
    """One page, loaded offline: what went wrong while loading, and what the DOM holds."""

    page: str
    url: str
    blocked: list[str]
    errors: list[str]
    failed: list[str]
    facts: dict[str, Any]
    axe: dict[str, Any]
    screenshot: Path


def load_page(browser: Any, base_url: str, page_name: str) -> Visit:
    """Load a TOC page offline, wait for MathJax and the images, screenshot it, read the DOM
    and run axe-core in it."""
    recorder = Offline.open(browser, base_url)
    try:
        page = recorder.new_page()
        url = f"{base_url}/{page_name}.html"
        page.goto(url, wait_until="load")
        page.evaluate("() => window.MathJax?.startup?.promise")
        page.wait_for_function(IMAGES_LOADED_JS, timeout=10_000)
        page.wait_for_load_state("networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        prefix = "ko-" if page_name.startswith("ko/") else ""
        screenshot = SCREENSHOTS / f"{prefix}{Path(page_name).name}.png"
        page.screenshot(path=str(screenshot), full_page=True)
        facts = page.evaluate(FACTS_JS)
        page.add_script_tag(path=str(AXE))
        axe = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        return Visit(
            page=page_name,
            url=url,
            blocked=list(recorder.blocked),
            errors=list(recorder.errors),
            failed=list(recorder.failed),
            facts=facts,
            axe=axe,
            screenshot=screenshot,
        )
    finally:
        recorder.close()
