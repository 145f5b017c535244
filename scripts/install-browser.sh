#!/usr/bin/env bash
# Install what the browser tests need, without downloading any browser build of Playwright's own:
#  - Debian's Chromium (driven by Playwright from PyPI through executable_path), and Noto CJK
#    for the Korean pages;
#  - axe-core from npm (package-lock.json), injected into pages for accessibility checks.
# Idempotent: does nothing when both are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
# Hangul in screenshots of the Korean pages (without it Chromium draws empty boxes).
fc-list :lang=ko 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
    source scripts/apt.sh
    apt_install install-browser "${missing[@]}"
fi

if [ ! -f node_modules/axe-core/axe.min.js ]; then
    if ! command -v npm >/dev/null; then
        echo "install-browser: npm is not installed. The accessibility tests need node and npm" >&2
        echo "  (Debian: apt-get install nodejs npm), then run: npm ci" >&2
        exit 1
    fi
    echo "install-browser: installing axe-core from package-lock.json (npm ci)" >&2
    npm ci --no-audit --no-fund --loglevel=error
fi
