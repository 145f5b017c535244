#!/usr/bin/env bash
# Install what the broker tests need: Debian's Redis server (redis-server).
# The tests never use a Redis the package may start on port 6379: they start their own, with a
# random password, on a free port of 127.0.0.1 and nothing on disk (tests/servers.py).
# Idempotent: does nothing when redis-server is already there.
set -euo pipefail

if command -v redis-server >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-redis: no apt-get here. Install Redis's server with your package manager" >&2
    echo "  (brew install redis, dnf install redis), so that redis-server is on PATH." >&2
    exit 1
fi
echo "install-redis: installing Debian's redis-server with apt-get" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-redis: need root (or sudo) to run apt-get install redis-server" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq redis-server >/dev/null
