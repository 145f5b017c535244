#!/usr/bin/env bash
# Install what the PostgreSQL gradebook tests need: Debian's PostgreSQL server (initdb, postgres).
# The tests never use the cluster the package may set up and start on port 5432: they make their
# own with initdb in a temporary folder and serve it on a free port of 127.0.0.1
# (tests/servers.py). The Python driver (psycopg) comes from requirements.txt.
# Idempotent: does nothing when the server is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v initdb >/dev/null && command -v postgres >/dev/null; then
    exit 0
fi
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "install-postgres: no apt-get here. Install PostgreSQL's server (initdb and postgres)" >&2
    echo "  with your package manager (brew install postgresql, dnf install postgresql-server)," >&2
    echo "  so that initdb and postgres are on PATH." >&2
    exit 1
fi
source scripts/apt.sh
apt_install install-postgres postgresql
