#!/usr/bin/env bash
# Install what the broker tests need: Debian's Redis server (redis-server).
# The tests never use a Redis the package may start on port 6379: they start their own, with a
# random password, on a free port of 127.0.0.1 and nothing on disk (tests/servers.py).
# Idempotent: does nothing when redis-server is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v redis-server >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-redis: no apt-get here. Install Redis's server with your package manager" >&2
    echo "  (brew install redis, dnf install redis), so that redis-server is on PATH." >&2
    exit 1
fi
source scripts/apt.sh
apt_install install-redis redis-server
