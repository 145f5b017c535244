"""Servers the tests start for themselves, on 127.0.0.1 and a free port: a throwaway PostgreSQL
cluster (:func:`postgres`), a Redis broker (:func:`redis`) and JupyterLab with nbgrader's
formgrader (:func:`formgrader`).

Nothing here uses a server that was already running, and each one is stopped, by the process id
it was started with, when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.course import venv_env

#: How to get initdb and postgres (Debian's postgresql package) when they are missing.
INSTALL = "bash scripts/install-postgres.sh (make test runs it)"


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip a test whose server cannot run here; on CI, where it must run, fail instead."""
    if on_ci():
        pytest.fail(f"{reason} (CI=true: this test must run here)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(ready, process: subprocess.Popen, log: Path, what: str, seconds: float) -> None:
    """Poll ``ready()`` until it is true; raise with the server's log if it exits or is late."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} was not ready after {seconds:.0f} s:\n{log.read_text()}")


def stop(process: subprocess.Popen, sig: signal.Signals) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- PostgreSQL ----------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """Where initdb and postgres are: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    return versions[-1].parent if versions else None


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: ``postgres`` when we are root (initdb and postgres
    refuse to run as root), else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        unavailable("running as root, and there is no `postgres` user for the server to run as")


def _folder_for(user: pwd.struct_passwd | None) -> Path:
    """A private folder for the cluster, under a parent the server's user can traverse."""
    parent = Path(tempfile.gettempdir())
    if user is not None and not all(os.stat(p).st_mode & 0o001 for p in [parent, *parent.parents]):
        parent = Path("/tmp")
    folder = Path(tempfile.mkdtemp(prefix="pytest-postgres-", dir=parent))
    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)
    return folder


def _as(user: pwd.struct_passwd | None) -> dict:
    return {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _accepts(login: dict) -> bool:
    import psycopg

    try:
        psycopg.connect(**login, dbname="postgres", connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


@contextlib.contextmanager
def postgres(database: str = "course") -> Iterator[str]:
    """A PostgreSQL server of its own with an empty ``database``; yields its SQLAlchemy URL.

    The cluster is made by ``initdb`` in a temporary folder (password authentication, a random
    password), served on 127.0.0.1 only (no Unix socket) with durability off, and removed at
    the end. Skips (fails on CI) when the server or the driver is not installed.
    """
    bindir = postgres_bindir()
    if bindir is None:
        unavailable(f"PostgreSQL's initdb and postgres are not installed: run {INSTALL}")
    try:
        import psycopg
    except ImportError:
        unavailable("the PostgreSQL driver is not installed: pip install 'psycopg[binary]'")
    user = _server_user()
    folder = _folder_for(user)
    password = secrets.token_urlsafe(16)
    (folder / "password").write_text(password)
    log = folder / "postgres.log"
    data = folder / "data"
    command = [bindir / "initdb", "-D", data, "-U", "grader", "--auth=scram-sha-256"]
    command += ["--pwfile", folder / "password", "-E", "UTF8", "--locale=C", "--no-sync"]
    with open(log, "w") as output:
        subprocess.run(command, stdout=output, stderr=output, check=True, **_as(user))
    server = None
    try:
        for _ in range(3):  # another process may take the free port before the server does
            port = free_port()
            command = [bindir / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port)]
            command += ["-k", "", "-c", "fsync=off", "-c", "synchronous_commit=off"]
            with open(log, "a") as output:
                server = subprocess.Popen(command, stdout=output, stderr=output, **_as(user))
            login = dict(host="127.0.0.1", port=port, user="grader", password=password)
            try:
                wait_for(functools.partial(_accepts, login), server, log, "postgres", 60)
                break
            except RuntimeError:
                if "could not bind" not in log.read_text():
                    raise
        else:
            raise RuntimeError(f"postgres found no free port:\n{log.read_text()}")
        with psycopg.connect(**login, dbname="postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        yield f"postgresql://grader:{password}@127.0.0.1:{port}/{database}"
    finally:
        if server is not None:
            stop(server, signal.SIGINT)  # PostgreSQL's "fast" shutdown
        shutil.rmtree(folder, ignore_errors=True)


# --- Redis ---------------------------------------------------------------------------------


def _pings(url: str) -> bool:
    import redis as client

    try:
        return bool(client.Redis.from_url(url, socket_timeout=2).ping())
    except client.RedisError:
        return False


@contextlib.contextmanager
def redis() -> Iterator[str]:
    """A Redis server of its own (Debian's ``redis-server``); yields its URL, password included.

    It listens on 127.0.0.1 only, with a random password given in its config file (not on its
    command line), and keeps nothing on disk. Skips (fails on CI) when it is not installed.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("Redis's server is not installed: run bash scripts/install-redis.sh")
    folder = Path(tempfile.mkdtemp(prefix="pytest-redis-"))
    password = secrets.token_urlsafe(16)
    log = folder / "redis.log"
    server = None
    try:
        for _ in range(3):  # another process may take the free port before the server does
            port = free_port()
            config = folder / "redis.conf"
            config.write_text(
                f'port {port}\nbind 127.0.0.1\nrequirepass {password}\nsave ""\n'
                f"appendonly no\ndir {folder}\nlogfile {log}\n"
            )
            config.chmod(0o600)
            server = subprocess.Popen([binary, str(config)])
            url = f"redis://:{password}@127.0.0.1:{port}/0"
            try:
                wait_for(functools.partial(_pings, url), server, log, "redis-server", 30)
                break
            except RuntimeError:
                if "Address already in use" not in log.read_text():
                    raise
        else:
            raise RuntimeError(f"redis-server found no free port:\n{log.read_text()}")
        yield url
    finally:
        if server is not None:
            stop(server, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


# --- formgrader ------------------------------------------------------------------------------


@dataclass
class Formgrader:
    """A running Jupyter server with formgrader; ``get`` fetches a page as the instructor."""

    url: str
    token: str
    log: Path

    def get(self, path: str) -> tuple[int, str]:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"token {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def answers(self) -> bool:
        try:
            return self.get("/api/status")[0] == 200
        except OSError:  # not listening yet
            return False

    def json(self, path: str):
        status, body = self.get(path)
        assert status == 200, f"GET {path}: HTTP {status}\n{body[:2000]}\n{self.log.read_text()}"
        return json.loads(body)


@contextlib.contextmanager
def formgrader(course: Path, command: list[str], scratch: Path) -> Iterator[Formgrader]:
    """Run ``command`` (``jupyter lab ...`` as docs/grading.md gives it) in ``course``, with
    what a test adds: 127.0.0.1, a free port, a random token, no browser, and Jupyter's config
    and runtime folders in ``scratch`` (so no user's own config is read)."""
    token = secrets.token_hex(16)
    env = venv_env()
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
        env[name] = str(scratch / name.lower())
    executable = Path(sys.executable).parent / command[0]
    log = scratch / "jupyter.log"
    server = None
    try:
        for _ in range(3):  # another process may take the free port before the server does
            port = free_port()
            extra = ["--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}"]
            extra += ["--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
            extra += ["--allow-root"] if os.geteuid() == 0 else []
            with open(log, "w") as output:
                server = subprocess.Popen(
                    [executable, *command[1:], *extra],
                    cwd=course,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            running = Formgrader(f"http://127.0.0.1:{port}", token, log)
            try:
                wait_for(running.answers, server, log, "jupyter", 120)
                break
            except RuntimeError:
                if "already in use" not in log.read_text():
                    raise
        else:
            raise RuntimeError(f"jupyter found no free port:\n{log.read_text()}")
        yield running
    finally:
        if server is not None:
            stop(server, signal.SIGTERM)
