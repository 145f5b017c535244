"""The checks' messages through gettext: English by default and byte for byte as before, Korean
for the Korean notebooks; every message of every check has Korean with the same placeholders,
and the compiled catalog the package ships is current."""

from __future__ import annotations

import re
import string

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from autograder import i18n
from autograder.course import REPO

CHECKS = REPO / "locales" / "ko" / "LC_MESSAGES" / "checks"
MODULES = sorted((REPO / "autograder").glob("*.py"))


def korean() -> dict[str, str]:
    found = {}
    for path in sorted(CHECKS.glob("*.po")):
        with open(path, "rb") as handle:
            found |= {m.id: m.string for m in read_po(handle) if m.id and not m.fuzzy}
    return found


def extracted() -> dict[str, str]:
    """Every ``_("...")`` message id of the package's modules, with where it is."""
    found = {}
    for path in MODULES:
        for line, message, _, _ in extract_from_file("python", str(path), keywords={"_": None}):
            found.setdefault(message, f"{path.name}:{line}")
    return found


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_message_of_the_checks_has_korean():
    translated = {k for k, v in korean().items() if v}
    missing = [
        f"{where}: {message!r}"
        for message, where in extracted().items()
        if message not in translated
    ]
    assert not missing, "no Korean in locales/ko/LC_MESSAGES/checks for:\n" + "\n".join(missing)


def test_korean_messages_keep_the_placeholders():
    for english, translation in korean().items():
        assert fields(translation) == fields(english), (english, translation)


def test_no_sentence_is_written_past_gettext():
    """A student-facing sentence is a literal inside _(); an f-string inside _() would never
    match its catalog entry."""
    for path in MODULES:
        assert not re.search(r"\b_\(\s*f[\"']", path.read_text()), path.name


def test_english_is_the_default_and_korean_is_chosen_per_block():
    text = "not implemented yet (raise NotImplementedError)"
    assert i18n._(text) == text
    with i18n.use("ko"):
        assert i18n._(text) == "아직 구현하지 않았습니다 (raise NotImplementedError)"
        with i18n.use("xx"):
            assert i18n._(text) == text, "an unknown language is English"
    assert i18n._(text) == text


def test_the_shipped_catalog_is_current(tmp_path):
    fresh = i18n.compile_catalogs(REPO / "locales", tmp_path)
    shipped = i18n.LOCALE / "ko" / "LC_MESSAGES" / "autograder.mo"
    assert shipped.read_bytes() == fresh.read_bytes(), "run make release and commit the .mo"


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_failure_message_in_each_language(language):
    from autograder.report import CheckFailure, fail

    with i18n.use(language), pytest.raises(CheckFailure) as raised:
        fail("f(x)", 1, 2, hint="look at f")
    first, *rest = str(raised.value).splitlines()
    if language == "en":
        assert first == "f(x): expected 1, got 2"
        assert rest[-1] == "  hint: look at f"
    else:
        assert first.startswith("f(x): ") and re.search("[가-힣]", first)
        assert rest[-1] == "  힌트: look at f"
