"""Isolation of student code: namespaces for the worker, rights and limits for each student.

A grading worker calls :func:`isolate_worker` once, before it imports anything a student could
reach. As root on Linux it enters its own network namespace (no network at all) and mount
namespace, where it hides the folders student code must not read (other submissions, the
solutions, the gradebook) under empty tmpfs mounts, makes every other mount read-only and mounts
a small writable tmpfs for scratch folders. Each student process then drops to a uid of its own
(:func:`enter_student`), so it can write only to its scratch folder, cannot signal other
students' processes and cannot undo the mounts. Resource limits bound memory, file size and
process count.

Where a mechanism is unavailable (not root, no namespaces) the worker says which one, and grading
goes on with what remains: per-cell timeouts, the wall budget and the resource limits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import sys
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

#: Folders anyone may write to on a usual Linux; each gets a read-only empty tmpfs.
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
SHARED_MEMORY = "/dev/shm"
#: Mounts left as they are: kernel interfaces, not files a student could change.
KEEP_MOUNTS = ("/proc", "/sys", "/dev")


@dataclass
class Isolation:
    """What :func:`isolate_worker` achieved, and what it could not."""

    network: bool = False
    filesystem: bool = False
    processes: bool = False
    own_uid: bool = False
    scratch_root: Path | None = None
    warnings: list[str] = field(default_factory=list)


_LIBC: list[ctypes.CDLL] = []
PR_SET_PDEATHSIG = 1


def _libc() -> ctypes.CDLL:
    """libc, loaded once in the worker (student processes may not load libraries)."""
    if not _LIBC:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl, libc.unshare, libc.mount, libc.umount2  # noqa: B018 - look up symbols now
        _LIBC.append(libc)
    return _LIBC[0]


def die_with_parent(signum: int = 9) -> None:
    """Ask the kernel to send ``signum`` (SIGKILL) when this process's parent dies (Linux)."""
    if _LIBC:
        _LIBC[0].prctl(PR_SET_PDEATHSIG, signum)


def die_with_parent_signal(signum: int) -> None:
    """The worker's variant: load libc if needed, then :func:`die_with_parent`."""
    try:
        _libc()
    except OSError:
        return
    die_with_parent(signum)


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data: str | None):
    enc = [None if x is None else x.encode() for x in (source, target, fstype, data)]
    if libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {target}: {os.strerror(error)}")


def isolate_worker(hide: list[Path], scratch_mb: int = 512) -> Isolation:
    """Enter new network and mount namespaces, hide ``hide``, make the rest read-only."""
    result = Isolation()
    try:
        libc = _libc()
    except OSError:
        result.warnings.append("cannot load libc: no namespaces")
        return result
    if os.geteuid() != 0:
        result.warnings.append(
            "not running as root: student code is NOT isolated from the network or the file "
            "system and runs with your rights (use a container or run as root for the sandbox)"
        )
        return result
    if libc.unshare(CLONE_NEWNET) == 0:
        result.network = True
    else:
        result.warnings.append(f"no network namespace ({os.strerror(ctypes.get_errno())})")
    if libc.unshare(CLONE_NEWNS) != 0:
        result.warnings.append(f"no mount namespace ({os.strerror(ctypes.get_errno())})")
        return result
    try:
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE, None)
        mount_points = _mount_points()
        for path in hide:
            if path.is_dir():
                _mount(libc, "tmpfs", str(path), "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=000")
            elif path.exists():
                _mount(libc, "/dev/null", str(path), None, MS_BIND, None)
        for path in WORLD_WRITABLE:
            if Path(path).is_dir():
                # /dev/shm stays writable (DataLoader workers need semaphores and shared
                # tensors there); the zygote empties it after every notebook.
                mode = "size=256m,mode=1777" if path == SHARED_MEMORY else "size=4k,mode=755"
                _cover(libc, Path(path), mode, _needed())
        scratch = Path("/tmp") / "autograder-scratch"
        scratch.mkdir(mode=0o711)
        for point in mount_points:
            if point.startswith(KEEP_MOUNTS) and point != "/":
                continue
            try:
                _mount(
                    libc, None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _flags(point), None
                )
            except OSError as error:
                result.warnings.append(f"could not make {point} read-only: {error.strerror}")
        result.processes = _hide_processes(libc, result.warnings)
        options = f"size={scratch_mb}m,mode=711"
        _mount(libc, "tmpfs", str(scratch), "tmpfs", MS_NOSUID | MS_NODEV, options)
        for needed in {Path(sys.base_prefix), Path(sys.prefix)}:
            _expose(libc, needed, scratch)
        result.scratch_root = scratch
        result.filesystem = True
        result.own_uid = True
    except OSError as error:
        result.warnings.append(f"file system isolation failed: {error}")
    return result


def _hide_processes(libc, warnings: list[str]) -> bool:
    """A /proc of its own where a student process sees only processes of its own uid: no other
    notebook's, and no command line of the grader's or a worker's (a broker's password)."""
    try:
        _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
    except OSError as error:
        warnings.append(
            f"other processes stay visible in /proc ({error.strerror}): student code can read "
            "their command lines"
        )
        return False
    return True


def _needed() -> list[Path]:
    """What student processes must still reach: the interpreter, the packages, the course."""
    import autograder

    course = Path(autograder.__file__).resolve().parents[1]
    return [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), course]


def _cover(libc, folder: Path, options: str, keep: list[Path]) -> None:
    """An empty tmpfs over ``folder`` (the host's /tmp, say), with the ``keep`` paths under it
    bound back, read-only, as they were (a clone or a virtual environment under /tmp)."""
    kept = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in keep if p.is_relative_to(folder)}
    try:
        _mount(libc, "tmpfs", str(folder), "tmpfs", MS_NOSUID | MS_NODEV, options)
        for path, fd in sorted(kept.items()):
            path.mkdir(parents=True, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", str(path), None, MS_BIND | MS_REC, None)
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY | _flags(str(path))
            _mount(libc, None, str(path), None, flags, None)
    finally:
        for fd in kept.values():
            os.close(fd)


def empty_shared_memory() -> None:
    """Remove what the last notebook left in /dev/shm (only in the worker's own namespace)."""
    import shutil

    for entry in Path(SHARED_MEMORY).iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _expose(libc, path: Path, scratch: Path) -> None:
    """Make ``path`` reachable by other users when an ancestor (say ``/root``) is private.

    The private ancestor is covered by an empty tmpfs that others may traverse, and only the one
    child on the way to ``path`` is bound back into it; the rest of the ancestor stays hidden.
    """
    path = path.resolve()
    for ancestor in reversed(path.parents):
        if ancestor == Path("/") or os.stat(ancestor).st_mode & 0o001:
            continue
        child = path.relative_to(ancestor).parts[0]
        stash = scratch / f".stash-{abs(hash(str(ancestor)))}"
        stash.mkdir(mode=0o700)
        _mount(libc, str(ancestor), str(stash), None, MS_BIND | MS_REC, None)
        _mount(libc, "tmpfs", str(ancestor), "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=711")
        (ancestor / child).mkdir()
        _mount(libc, str(stash / child), str(ancestor / child), None, MS_BIND | MS_REC, None)
        libc.umount2(str(stash).encode(), 2)
        stash.rmdir()


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as table:
        for line in table:
            points.append(line.split()[4].replace("\\040", " "))
    return sorted(set(points), key=len)


def _flags(point: str) -> int:
    """The nosuid/nodev/noexec flags a bind remount must keep."""
    stat = os.statvfs(point)
    flags = 0
    for bit, flag in (
        (os.ST_NOSUID, MS_NOSUID),
        (os.ST_NODEV, MS_NODEV),
        (os.ST_NOEXEC, MS_NOEXEC),
    ):
        if stat.f_flag & bit:
            flags |= flag
    return flags


def current_address_space() -> int:
    """Bytes of virtual memory this process maps now (torch maps a lot before any tensor)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def enter_student(uid: int | None, scratch: Path, memory_mb: int, max_file_mb: int = 64) -> None:
    """In a fresh fork: limits, scratch folder as home, and (as root) a uid of its own."""
    limit = current_address_space() + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_mb * 2**20, max_file_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.chdir(scratch)
    for name in ("HOME", "TMPDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME"):
        os.environ[name] = str(scratch)
    import tempfile

    tempfile.tempdir = str(scratch)  # gettempdir() may have cached /tmp in the worker
    if uid is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    die_with_parent()


REAPER = """
import os, sys
for line in sys.stdin:
    uid = int(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, 9)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    sys.stdout.write("k\\n")
    sys.stdout.flush()
"""


class Reaper:
    """Kills every process of a uid, from a small helper process of its own.

    ``kill(-1, SIGKILL)`` sent *as* a uid reaches all of that uid's processes, a student's
    escaped forks included. The helper is a bare interpreter (no torch), so the fork it needs
    for each kill is cheap, where forking the worker is not.
    """

    def __init__(self) -> None:
        import subprocess

        self.process = subprocess.Popen(
            [sys.executable, "-S", "-c", REAPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def kill(self, uid: int) -> None:
        self.process.stdin.write(f"{uid}\n")
        self.process.stdin.flush()
        self.process.stdout.readline()
