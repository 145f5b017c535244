"""Reading what students submitted without following links or blocking on special files.

Every path under the submissions folder is opened one component at a time, relative to its
parent's descriptor, with ``O_NOFOLLOW``: a symlink anywhere (the student's folder, the
assignment folder, the notebook) is refused, so a submission cannot point the grader at the
solutions, another student's notebook or a file only root may read. Only regular files are read,
opened with ``O_NONBLOCK`` (a FIFO cannot make the grader wait) and up to a size cap.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

MAX_NOTEBOOK_BYTES = 8 * 2**20
MAX_SMALL_FILE = 4096


class Unreadable(Exception):
    """The file is not something the grader reads; the message says why (never its content)."""


def read_under(root: Path, parts: list[str], limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of ``root/parts…``, refusing links, special files and files over ``limit``."""
    name = "/".join(parts)
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for part in parts[:-1]:
            fds.append(_open(part, fds[-1], os.O_DIRECTORY, name))
        fd = _open(parts[-1], fds[-1], os.O_NONBLOCK, name)
        fds.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"{name} is not a regular file")
        if info.st_size > limit:
            raise Unreadable(f"{name} is larger than {limit} bytes")
        data = os.read(fd, limit + 1)
        if len(data) > limit:
            raise Unreadable(f"{name} is larger than {limit} bytes")
        return data
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _open(part: str, parent: int, flags: int, name: str) -> int:
    try:
        return os.open(part, os.O_RDONLY | os.O_NOFOLLOW | flags, dir_fd=parent)
    except FileNotFoundError:
        raise Unreadable(f"{name} was not submitted") from None
    except OSError as error:
        # ELOOP: a symlink; ENOTDIR: a link or file where a folder should be.
        raise Unreadable(f"{name} cannot be read ({os.strerror(error.errno)})") from None


def kind_of(root: Path, parts: list[str]) -> str:
    """``"dir"``, ``"missing"`` or ``"other"`` (a link, file or special file) for a folder."""
    try:
        info = os.lstat(root.joinpath(*parts))
    except FileNotFoundError:
        return "missing"
    return "dir" if stat.S_ISDIR(info.st_mode) else "other"


def student_folders(root: Path) -> list[str]:
    """Every entry of the submissions folder that could be a student (links included, to be
    reported as unreadable rather than silently skipped); hidden entries are not students."""
    with os.scandir(root) as entries:
        return sorted(
            e.name
            for e in entries
            if not e.name.startswith(".") and not e.is_file(follow_symlinks=False)
        )
