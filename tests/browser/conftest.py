"""Fixtures for driving the built site in a real browser.

Debian's Chromium (``/usr/bin/chromium``) is driven by Playwright from PyPI; no browser is
downloaded. The site is served from ``_build/html`` by a local ``http.server`` (search needs
http, not ``file://``), and every request to any other host is blocked and recorded, so a page
that needs the network fails its test instead of silently working online only.

``make test-browser`` installs Chromium and axe-core (``scripts/install-browser.sh``) and builds
the book first.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .sitecheck import AXE, HOST, REPO, Offline, Visit, load_page


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def base_url(site: Path) -> Iterator[str]:
    """http://127.0.0.1:<port> serving the built site for the whole session."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def offline(browser: Any, base_url: str) -> Iterator[Offline]:
    """A fresh browser context that can reach only the local site."""
    recorder = Offline.open(browser, base_url)
    yield recorder
    recorder.close()


@pytest.fixture(scope="session")
def visit(browser: Any, base_url: str) -> Callable[[str], Visit]:
    """``visit("book/01_module")``: the page loaded once per session (see ``load_page``)."""
    if not AXE.exists():
        pytest.fail(f"{AXE.relative_to(REPO)} is missing: run `npm ci` (make test-browser does)")
    return functools.cache(functools.partial(load_page, browser, base_url))
