r"""Create .venv and install the course's pinned stack into it, on Linux, macOS or Windows.

Run it with the Python that .venv should be made from::

    python3.11 scripts/install.py          # Linux, macOS
    py -3.11 scripts\install.py            # Windows (PowerShell)
    python3.11 scripts/install.py --dry-run   # print the commands, run nothing

It checks the Python version first, creates .venv (or reuses it), installs torch, then
requirements.txt and the project itself (``-e .``), and prints the commands that come next.
On Linux, torch comes from PyTorch's CPU wheel index in a step of its own: PyPI's Linux
torch is the CUDA build, several GB. On macOS and Windows PyPI's torch is the CPU (and MPS)
build, so torch is installed with the rest. ``make install`` runs this script.

Python older than 3.11 must reach the version check rather than fail on syntax, so this file
uses no syntax newer than 3.6 (no annotations, walrus or match), and imports only the
standard library.
"""

import argparse
import os
import shlex
import subprocess
import sys

REQUIRED = (3, 11)  # pyproject.toml's requires-python; tests/test_install.py keeps them equal
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Only the torch step reaches the CPU index, so these apply to it alone. Where the index
# cannot be reached but a local wheel satisfies the pin (a find-links mirror), pip's default
# of 5 retries with back-off costs 8 s before it takes the local file; 2 retries cost about 1 s.
TORCH_PIP_NETWORK = ["--retries", "2", "--timeout", "20"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def version_problem(found, platform=sys.platform, via_make=False):
    r"""The sentence refusing Python ``found``, or ``None`` when it is new enough.

    Args:
        found: a version tuple such as ``sys.version_info`` or ``(3, 10, 14)``.
        platform: ``sys.platform`` of the machine, which decides how to get the right Python.
        via_make: whether ``make install`` ran this script, so the rerun goes through make.

    Example:
        >>> version_problem((3, 12, 1)) is None
        True
    """
    if tuple(found[:2]) >= REQUIRED:
        return None
    needed = ".".join(str(part) for part in REQUIRED)
    if platform == "win32":
        how = f"install it from python.org, then run: py -{needed} scripts\\install.py"
    else:
        rerun = (
            f"make install PYTHON=python{needed}"
            if via_make
            else f"python{needed} scripts/install.py"
        )
        how = f"install it (python.org, Homebrew, your distribution or pyenv), then run: {rerun}"
    this = ".".join(str(part) for part in found[:3])
    return f"This course needs Python {needed} or newer, but this is Python {this}; {how}"


def venv_python(venv, platform=sys.platform):
    """The interpreter inside the virtual environment ``venv`` (a path)."""
    if platform == "win32":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


def torch_pin(requirements_text):
    """The ``torch==...`` line of requirements.txt, its one source."""
    for line in requirements_text.splitlines():
        if line.replace(" ", "").startswith("torch=="):
            return line.split("#")[0].strip()
    raise SystemExit("requirements.txt pins no torch==... line")


def pip_steps(python, torch, platform=sys.platform, torch_index=None):
    r"""The pip commands that install the stack with ``python``, each with what it does.

    Args:
        python: the venv's interpreter.
        torch: the torch requirement, for example ``"torch==2.13.0"``.
        platform: ``sys.platform``; on Linux torch gets a step of its own.
        torch_index: where that step takes torch from (default: PyTorch's CPU index).

    Returns:
        A list of ``(description, command)`` pairs, in the order they run.
    """
    pip = [python, "-m", "pip", "install"]
    rest = (
        "Installing requirements.txt and the course package (a minute or two)",
        pip + ["--quiet", "-r", "requirements.txt", "-e", "."],
    )
    if not platform.startswith("linux"):
        return [rest]
    index = torch_index or CPU_INDEX
    # --no-deps: only torch comes from the CPU index; its dependencies come with the rest,
    # where the installed CPU build already satisfies the torch pin.
    torch_step = (
        f"Installing {torch}, CPU build, from {index}",
        pip + ["--no-deps", "--index-url", index] + TORCH_PIP_NETWORK + [torch],
    )
    return [torch_step, rest]


def next_steps(platform=sys.platform):
    """The commands to run after the install, for this platform's shell."""
    if platform == "win32":
        bin_dir, sep = ".venv\\Scripts\\", "\\"
    else:
        bin_dir, sep = ".venv/bin/", "/"
    notebook = sep.join(["notebooks", "01_module", "module.ipynb"])
    return [
        ("open the exercises in JupyterLab", bin_dir + "jupyter lab notebooks"),
        ("build the book into _build/html", bin_dir + "jupyter-book build ."),
        ("check an exercise notebook", bin_dir + "python -m autograder check " + notebook),
        ("run the fast tests", bin_dir + 'python -m pytest -m "not slow and not browser"'),
    ]


def shown(command):
    """``command`` (a list) as the user would type it."""
    if sys.platform == "win32":
        return subprocess.list2cmdline(command)
    return shlex.join(command)


def run(command, dry_run):
    """Print ``command`` like make does, then run it in the repository; its exit code."""
    print("$ " + shown(command), flush=True)
    if dry_run:
        return 0
    return subprocess.call(command, cwd=ROOT)


def venv_too_old(python):
    """Whether the existing venv interpreter ``python`` is older than REQUIRED."""
    probe = "import sys; print(*sys.version_info[:2])"
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return True  # a broken venv (its Python removed) is made again too
    return tuple(int(part) for part in out.stdout.split()) < REQUIRED


def venv_step(venv):
    """How to make ``venv``: a ``(description, command)`` pair, or None to install into it."""
    python = venv_python(venv)
    name = os.path.basename(venv)
    this = f"Python {sys.version.split()[0]} ({sys.executable})"
    if not os.path.exists(python):
        return f"Creating {name} with {this}", [sys.executable, "-m", "venv", venv]
    if venv_too_old(python):
        return (
            f"{name} holds a Python older than {REQUIRED[0]}.{REQUIRED[1]}: making it again "
            f"with {this}",
            [sys.executable, "-m", "venv", "--clear", venv],
        )
    print(f"{name} exists: installing into it")
    return None


def install(args):
    """Create the venv and install into it; the exit code."""
    venv = os.path.join(ROOT, ".venv")
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as handle:
        torch = torch_pin(handle.read())
    steps = [venv_step(venv)] + pip_steps(venv_python(venv), torch, sys.platform, args.torch_index)
    for what, command in filter(None, steps):
        print(what)
        if run(command, args.dry_run) != 0:
            print(failure_hint(command, torch), file=sys.stderr)
            return 1
    if args.dry_run:
        print("Dry run: nothing was run.")
    elif not os.environ.get("MAKELEVEL"):  # make goes on with its own target
        print(f"\nDone. Next, from {ROOT}:")
        for what, command in next_steps():
            print(f"  {what:<34} {command}")
    return 0


def failure_hint(command, torch):
    """What to do when pip ``command`` failed."""
    if "--index-url" in command:
        index = command[command.index("--index-url") + 1]
        return (
            f"pip could not install {torch} from {index}. If that index is blocked here, "
            "rerun with --torch-index URL (a mirror of it): PyPI's Linux torch is the CUDA "
            "build, several GB."
        )
    if "venv" in command:
        return "Python could not make .venv (its message is above)."
    return "pip failed (its message is above); fix that and rerun: what is installed stays."


def parse_args(argv):
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    parser.add_argument(
        "--torch-index",
        metavar="URL",
        help=f"on Linux, the index torch is taken from (default: {CPU_INDEX})",
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Check the Python version, then install; the exit code."""
    problem = version_problem(sys.version_info, sys.platform, bool(os.environ.get("MAKELEVEL")))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    return install(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
