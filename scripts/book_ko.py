"""The Korean edition: ``python scripts/book_ko.py catalogs|html``.

The pages are kept once, in English (``book/*.md``); their Korean is in gettext catalogs,
``locales/ko/LC_MESSAGES/book/<stem>.po``, one message per paragraph, heading or list item. Code
cells never reach a catalog, so the code of both editions is the same code.

- ``catalogs`` extracts the messages of every page (Sphinx's gettext builder, with the English
  build's outputs, so figure captions are messages too) into ``_build/gettext`` and updates the
  catalogs with sphinx-intl: a new English paragraph gets an empty Korean one, a changed one is
  marked fuzzy (tests/test_korean.py fails on either until a translator has looked at it).
- ``templates DIR`` extracts the messages alone, into ``DIR`` (tests/test_korean.py compares
  them with the catalogs); ``check [CATALOG.po ...]`` lists what a catalog lacks or lost.
- ``html`` builds the Korean site into ``_build/ko/html`` with the English build's execution
  cache (no notebook runs twice: the outputs are the English build's own) and, when the build
  succeeds, puts it at ``_build/html/ko``. ``make book`` runs it after the English build.

Both use Jupyter Book's own configuration (``_config.yml``, ``_toc.yml``) through
``jupyter_book.sphinx.build_sphinx``, with a few settings overridden for the Korean build.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from jupyter_book.sphinx import build_sphinx

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
CATALOGS = LOCALES / "ko" / "LC_MESSAGES" / "book"
BUILD = ROOT / "_build"
SITE = BUILD / "html"


def _sphinx(outdir: Path, doctrees: Path, builder: str, **overrides) -> int:
    settings = {
        "latex_individualpages": False,  # jupyter-book's config reader expects it
        "external_toc_path": str(ROOT / "_toc.yml"),
        "gettext_compact": False,
        "nitpicky": True,
        **overrides,
    }
    return build_sphinx(
        ROOT,
        outdir,
        noconfig=True,
        path_config=str(ROOT / "_config.yml"),
        confoverrides=settings,
        doctreedir=doctrees,
        builder=builder,
        warningiserror=True,
        keep_going=True,
        quiet=True,
    )


#: The English build's execution cache: the Korean build takes every notebook page's outputs
#: from it (none is run again), and the messages are extracted with them (figure captions).
CACHE = BUILD / ".jupyter_cache"


def templates(out: Path) -> int:
    """Every page's English messages, as ``out/book/<stem>.pot``, figure captions included."""
    return _sphinx(out, out / ".doctrees", "gettext", nb_execution_cache_path=str(CACHE))


def catalogs() -> int:
    pot = BUILD / "gettext"
    code = templates(pot)
    if code:
        return code
    # The frame's catalog (sphinx.po) holds the themes' words as well, kept by hand: not updated
    # from the templates' few messages (tests/test_korean.py checks it still covers them).
    (pot / "sphinx.pot").unlink(missing_ok=True)
    command = [sys.executable, "-m", "sphinx_intl", "update", "-p", str(pot), "-l", "ko"]
    command += ["-d", str(LOCALES), "-w", "100", "--no-obsolete"]
    return subprocess.run(command, check=False).returncode


def html() -> int:
    # From scratch each time (about 10 s): Sphinx would keep an unchanged page's old search
    # terms, which a better Korean analysis (a glossary word added) must replace.
    shutil.rmtree(BUILD / "ko", ignore_errors=True)
    out = BUILD / "ko" / "html"
    code = _sphinx(
        out,
        BUILD / "ko" / ".doctrees",
        "html",
        language="ko",
        locale_dirs=[str(LOCALES)],
        nb_execution_cache_path=str(CACHE),
    )
    if code:
        return code
    shutil.rmtree(SITE / "ko", ignore_errors=True)
    shutil.copytree(out, SITE / "ko")
    return 0


ROLE = re.compile(r"\{([a-z:-]+)\}`([^`]*)`")
TARGET = re.compile(r"<([^<>]+)>$")
#: Code spans, inline math and link targets: kept exactly as the English has them.
KEPT = [
    re.compile(r"`[^`]+`"),
    re.compile(r"(?<!\\)\$\$.+?\$\$|(?<!\\)\$[^$]+\$", re.S),
    re.compile(r"\]\([^)]+\)"),
]


def kept(text: str) -> list[str]:
    """What a translation must keep of ``text``: each role with its target (``{doc}`words
    <target>```: the words are translated), code spans, inline math and link targets."""
    tokens = []

    def role(match: re.Match) -> str:
        target = TARGET.search(match.group(2))
        kept_target = target.group(1) if target else match.group(2)
        # The Korean page offers the Korean student notebook: notebooks/ko/<stem>/...
        kept_target = kept_target.replace("notebooks/ko/", "notebooks/")
        tokens.append(f"{{{match.group(1)}}}{kept_target}")
        return " "

    rest = ROLE.sub(role, text)
    for pattern in KEPT:
        tokens += pattern.findall(rest)
    return sorted(tokens)


def problems(path: Path) -> list[str]:
    """What is wrong with one catalog: messages without Korean, fuzzy ones (their English
    changed), and translations that lost or changed what must be kept."""
    from babel.messages.pofile import read_po

    with open(path, "rb") as handle:
        catalog = read_po(handle)
    found = []
    for message in catalog:
        if not message.id:
            continue
        where = f"{path.name}:{message.lineno}"
        if message.fuzzy:
            found.append(f"{where}: fuzzy (the English changed): {message.id[:60]!r}")
        elif not message.string:
            found.append(f"{where}: not translated: {message.id[:60]!r}")
        elif kept(message.id) != kept(message.string):
            theirs, ours = kept(message.id), kept(message.string)
            lost = sorted(set(theirs) - set(ours)) or sorted(set(ours) - set(theirs)) or theirs
            found.append(f"{where}: must keep {lost[:3]} exactly, as in {message.id[:50]!r}")
    return found


def stale(template: Path, catalog: Path) -> list[str]:
    """The English messages of ``template`` that ``catalog`` does not translate (new or changed
    paragraphs: a changed one is a new message, its old translation is fuzzy or gone)."""
    from babel.messages.pofile import read_po

    with open(catalog, "rb") as handle:
        done = {m.id for m in read_po(handle) if m.id and m.string and not m.fuzzy}
    with open(template, "rb") as handle:
        wanted = [m for m in read_po(handle) if m.id]
    return [f"{catalog.name}: not translated: {m.id[:70]!r}" for m in wanted if m.id not in done]


def check(paths: list[str]) -> int:
    every = [*sorted(LOCALES.glob("ko/LC_MESSAGES/**/*.po"))]
    found = [p for path in paths or every for p in problems(Path(path))]
    print("\n".join(found) or "every message translated, nothing lost")
    return 1 if found else 0


if __name__ == "__main__":
    commands = {"catalogs": catalogs, "html": html}
    if len(sys.argv) >= 2 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2:]))
    if len(sys.argv) == 3 and sys.argv[1] == "templates":
        sys.exit(templates(Path(sys.argv[2]).resolve()))
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python {sys.argv[0]} catalogs|html|templates DIR|check [CATALOG.po ...]")
    sys.exit(commands[sys.argv[1]]())
