"""A student notebook opened anywhere: copied alone into an empty folder, in a fresh environment
that holds only torch and Jupyter, its setup cell installs the checks from the course site.

The site is the built ``_build/html``, served on 127.0.0.1 (``COURSE_SITE_URL`` points at it, as
the contract says). The fresh environment is a new venv whose site-packages links only the
distributions torch, ipykernel and nbclient need from this one: no ``autograder``, no nbgrader.
"""

from __future__ import annotations

import http.server
import importlib.metadata
import os
import subprocess
import sys
import threading
import zipfile
from functools import partial
from pathlib import Path

import nbformat
import pytest
from conftest import execute
from packaging.requirements import Requirement

from autograder.course import NOTEBOOKS, SOLUTIONS, answers, fill_in

# One fresh environment for the module's tests, on one xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("anywhere")]

#: What a student's Jupyter environment holds: torch, a kernel and a notebook runner.
JUPYTER_AND_TORCH = ("torch", "ipykernel", "nbclient")


@pytest.fixture(scope="module")
def served(site):
    """``_build/html`` on an HTTP server at 127.0.0.1; yields its URL."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def closure(names: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``names`` need, with everything they require (no extras)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        requirement = Requirement(todo.pop())
        key = requirement.name.lower().replace("_", "-")
        if key in found:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            distribution = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional dependency this environment does without
        found[key] = distribution
        todo += distribution.requires or []
    return list(found.values())


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """A new venv (with pip) that sees torch and Jupyter, and nothing else of this environment."""
    root = tmp_path_factory.mktemp("fresh")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    site_packages = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    for distribution in closure(JUPYTER_AND_TORCH):
        base = Path(distribution.locate_file(""))
        for top in {Path(str(f)).parts[0] for f in distribution.files or []}:
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            if not (site_packages / top).exists() and (base / top).exists():
                (site_packages / top).symlink_to(base / top)
    return python


def environment(root: Path, site_url: str) -> dict[str, str]:
    """A student's shell: this machine's pip settings ignored, no user site, no venv leaking."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    env |= {
        "COURSE_SITE_URL": site_url,
        "PIP_CONFIG_FILE": os.devnull,
        "PYTHONNOUSERSITE": "1",
        "HOME": str(root),
        "PATH": os.pathsep.join([str(root / "venv" / "bin"), env.get("PATH", "")]),
    }
    return env


def run_alone(python: Path, notebook: nbformat.NotebookNode, site_url: str, tmp_path: Path):
    """Copy ``notebook`` alone into an empty folder and execute it there; return the result."""
    folder = tmp_path / "empty"
    folder.mkdir()
    path = folder / "exercises.ipynb"
    nbformat.write(notebook, path)
    env = environment(python.parents[2], site_url)
    return execute(path, python, cwd=folder, env=env), env


def errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def test_the_site_serves_the_checks_as_a_wheel_with_torch_as_its_only_dependency(site):
    (wheel,) = (site / "wheels").glob("day12_autograder-*-py3-none-any.whl")
    assert wheel.name in (site / "wheels" / "index.html").read_text()
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    assert "autograder/samplers.py" in names and "autograder/selfcheck.py" in names
    assert not [n for n in names if n.startswith(("solutions/", "tests/", "notebooks/"))]
    assert [r for r in requires if "extra ==" not in r] == ["torch>=2.4"]


def test_a_lone_notebook_installs_the_checks_from_the_site_and_runs(fresh, served, tmp_path):
    lone = subprocess.run([fresh, "-c", "import autograder"], cwd=tmp_path, capture_output=True)
    assert lone.returncode != 0, "the fresh environment must not hold the checks already"
    release = nbformat.read(NOTEBOOKS / "02_parameter" / "parameter.ipynb", as_version=4)
    ran, env = run_alone(fresh, release, served, tmp_path)
    setup = ran.cells[1]
    assert setup.metadata["nbgrader"]["grade_id"] == "02_parameter_install"
    assert not errors(setup), errors(setup)
    where = subprocess.check_output(
        [fresh, "-c", "import autograder; print(autograder.__file__)"],
        cwd=tmp_path,
        env=env,
        text=True,
    )
    assert Path(where).resolve().is_relative_to(fresh.parents[1].resolve()), where
    tests = [c for c in ran.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all(
        errors(c) and errors(c)[0].startswith("CheckFailure") and "not implemented" in errors(c)[0]
        for c in tests
    ), [errors(c) for c in tests]
    summary = "".join(o.get("text", "") for o in ran.cells[-1].outputs)
    assert summary.startswith("Visible tests: 0/7 points"), summary

    # The same student, answered, checks their score in that environment before submitting.
    source = nbformat.read(SOLUTIONS / "02_parameter" / "parameter.ipynb", as_version=4)
    path = tmp_path / "empty" / "answered.ipynb"
    nbformat.write(fill_in(release, answers(source)), path)
    done = subprocess.run(
        [fresh, "-m", "autograder", "check", path],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7/7 points" in done.stdout.splitlines()


def test_with_the_site_out_of_reach_the_setup_cell_says_what_to_run(fresh, tmp_path):
    closed = "http://127.0.0.1:9/"  # the discard port: nothing listens there
    check = subprocess.run([fresh, "-c", "import autograder"], cwd=tmp_path, capture_output=True)
    if check.returncode == 0:  # the other test installed it: take it out again
        subprocess.run([fresh, "-m", "pip", "uninstall", "-q", "-y", "day12-autograder"])
    release = nbformat.read(NOTEBOOKS / "02_parameter" / "parameter.ipynb", as_version=4)
    ran, _ = run_alone(fresh, release, closed, tmp_path)
    (message,) = errors(ran.cells[1])
    assert message.startswith("ModuleNotFoundError: The course's checks could not be installed")
    assert f"pip install day12-autograder --find-links {closed}wheels/" in message
