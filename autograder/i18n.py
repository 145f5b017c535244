"""The checks' messages in the student's language: English by default, Korean for the Korean
notebooks.

Every sentence a check writes for a student goes through :func:`_` with named placeholders::

    why = _("expected {expected}, got {got}").format(expected=..., got=...)

so that its English is the gettext message id and a translation keeps the placeholders. The
Korean is in ``locales/ko/LC_MESSAGES/checks/<module>.po`` (one catalog per check module), compiled
by ``make release`` into ``autograder/locale/ko/LC_MESSAGES/autograder.mo``, which ships with the
package (so a student's kernel has it without babel). The language is chosen per notebook:
:func:`use` sets it for the current thread (the grader's judge threads each judge one notebook);
code, calls and values in a message are never translated.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
from collections.abc import Iterator
from pathlib import Path

LOCALE = Path(__file__).resolve().parent / "locale"
DOMAIN = "autograder"
LANGUAGES = ("en", "ko")
_language: contextvars.ContextVar[str | None] = contextvars.ContextVar("language", default=None)
#: The language where no :func:`use` block says otherwise: a Korean notebook's setup cell sets
#: it for its kernel (``selfcheck.track(..., language="ko")``).
_default = ["en"]


@functools.cache
def _catalog(language: str) -> gettext.NullTranslations:
    try:
        return gettext.translation(DOMAIN, LOCALE, [language])
    except OSError:
        return gettext.NullTranslations()


def _(text: str) -> str:
    """``text`` in the current language (itself in English, or when no translation exists)."""
    chosen = language()
    return text if chosen == "en" else _catalog(chosen).gettext(text)


def language() -> str:
    return _language.get() or _default[0]


def set_default(language_code: str) -> None:
    _default[0] = language_code if language_code in LANGUAGES else "en"


@contextlib.contextmanager
def use(language_code: str) -> Iterator[None]:
    """Messages in ``language_code`` inside the block (an unknown code means English)."""
    token = _language.set(language_code if language_code in LANGUAGES else "en")
    try:
        yield
    finally:
        _language.reset(token)


def compile_catalogs(sources: Path, target: Path = LOCALE) -> Path:
    """Merge ``sources/<language>/LC_MESSAGES/checks/*.po`` into one ``autograder.mo`` per
    language (translated, not fuzzy messages only); return the Korean one."""
    from datetime import UTC, datetime

    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    FIXED = datetime(2026, 1, 1, tzinfo=UTC)  # noqa: N806
    written = target / "ko" / "LC_MESSAGES" / f"{DOMAIN}.mo"
    for language in LANGUAGES[1:]:
        # Fixed dates: the same catalogs always compile to the same bytes (a test compares).
        merged = Catalog(locale=language, creation_date=FIXED, revision_date=FIXED, fuzzy=False)
        for path in sorted((sources / language / "LC_MESSAGES" / "checks").glob("*.po")):
            with open(path, "rb") as handle:
                for message in read_po(handle):
                    if message.id and message.string and not message.fuzzy:
                        merged.add(message.id, message.string)
        out = target / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as handle:
            write_mo(handle, merged)
    _catalog.cache_clear()
    return written
