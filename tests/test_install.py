"""scripts/install.py: the version check, the CPU torch step, and one real install.

Every run of the script works on a copy of it in a temporary folder (the script installs next
to itself), so no test touches the repository's own .venv.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from autograder.course import REPO

SCRIPT = REPO / "scripts" / "install.py"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def load_script():
    """scripts/install.py as a module, without running its main()."""
    spec = importlib.util.spec_from_file_location("install_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


install = load_script()


def copy_repo(dest: Path, *extra: str) -> Path:
    """The files the install needs (and ``extra`` ones), copied into ``dest``."""
    (dest / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, dest / "scripts" / "install.py")
    for name in ("requirements.txt", "pyproject.toml", "README.md", *extra):
        shutil.copy2(REPO / name, dest / name)
    return dest


def script_env() -> dict[str, str]:
    """The environment without make's variables: `make test` must not look like `make install`."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}


def run_script(python: str | Path, root: Path, *args: str, timeout: float = 60):
    return subprocess.run(
        [str(python), str(root / "scripts" / "install.py"), *args],
        cwd=root,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def old_pythons() -> list[Path]:
    """Real interpreters older than 3.11 on this machine (pyenv's, or python3.6 ... 3.10)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = {path for path in pyenv.glob("3.*/bin/python3") if path.is_file()}
    for minor in range(6, 11):
        which = shutil.which(f"python3.{minor}")
        if which and "shims" not in which:  # a pyenv shim runs only the selected version
            found.add(Path(which))
    old = []
    for path in sorted(found):
        probe = subprocess.run(
            [path, "-c", "import sys; print(sys.version_info < (3, 11))"],
            capture_output=True,
            text=True,
        )
        if probe.stdout.strip() == "True":
            old.append(path)
    return old


OLD_PYTHONS = old_pythons()


def test_required_version_is_pyprojects():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = ".".join(map(str, install.REQUIRED))
    assert pyproject["project"]["requires-python"] == f">={needed}", (
        "pyproject.toml's requires-python and scripts/install.py's REQUIRED disagree"
    )


@pytest.mark.parametrize(
    ("platform", "via_make", "rerun"),
    [
        ("linux", False, "python3.11 scripts/install.py"),
        ("darwin", False, "python3.11 scripts/install.py"),
        ("win32", False, "py -3.11 scripts\\install.py"),
        ("linux", True, "make install PYTHON=python3.11"),
    ],
)
def test_an_old_python_gets_one_sentence_naming_both_versions(platform, via_make, rerun):
    sentence = install.version_problem((3, 10, 14, "final", 0), platform, via_make)
    assert sentence.startswith(
        "This course needs Python 3.11 or newer, but this is Python 3.10.14;"
    )
    assert sentence.endswith(f"then run: {rerun}")
    assert "\n" not in sentence


@pytest.mark.parametrize("version", [(3, 11, 0), (3, 12, 1), (3, 13, 0), (4, 0, 0)])
def test_a_new_enough_python_passes(version):
    assert install.version_problem(version) is None


def test_the_script_refuses_a_faked_old_python_before_doing_anything(tmp_path):
    root = copy_repo(tmp_path)
    fake = (
        "import runpy, sys; sys.version_info = (3, 10, 14, 'final', 0); "
        f"sys.argv = [{str(root / 'scripts' / 'install.py')!r}]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", fake], cwd=root, env=script_env(), capture_output=True, text=True
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == install.version_problem((3, 10, 14), sys.platform)
    assert done.stdout == ""
    assert not (root / ".venv").exists()


def test_the_script_uses_no_syntax_newer_than_python_3_6():
    ast.parse(SCRIPT.read_text(), feature_version=(3, 6))


@pytest.mark.skipif(not OLD_PYTHONS, reason="no Python older than 3.11 on this machine")
@pytest.mark.parametrize("python", OLD_PYTHONS, ids=str)
def test_a_real_old_python_gets_the_sentence_not_a_syntax_error(python, tmp_path):
    root = copy_repo(tmp_path)
    done = run_script(python, root)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("This course needs Python 3.11 or newer, but this is Python 3.")
    assert "Traceback" not in done.stderr
    assert not (root / ".venv").exists()


@pytest.mark.skipif(
    not OLD_PYTHONS or not shutil.which("make"), reason="needs make and an old Python"
)
def test_make_install_with_an_old_python_names_the_version_needed(tmp_path):
    root = copy_repo(tmp_path, "Makefile")
    done = subprocess.run(
        ["make", "install", f"PYTHON={OLD_PYTHONS[0]}"],
        cwd=root,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "This course needs Python 3.11 or newer" in done.stderr
    assert "then run: make install PYTHON=python3.11" in done.stderr
    assert not (root / ".venv" / ".installed").exists()


def test_the_torch_pin_is_read_from_requirements_txt():
    pin = install.torch_pin((REPO / "requirements.txt").read_text())
    assert pin == "torch==2.13.0"


def dry_run_commands(tmp_path: Path) -> list[str]:
    root = copy_repo(tmp_path)
    done = run_script(sys.executable, root, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert not (root / ".venv").exists(), "--dry-run made .venv"
    return [line[2:] for line in done.stdout.splitlines() if line.startswith("$ ")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CPU index step is Linux's")
def test_on_linux_torch_comes_alone_from_the_cpu_index(tmp_path):
    venv_step, torch_step, rest_step = dry_run_commands(tmp_path)
    assert venv_step.endswith(f"-m venv {tmp_path / '.venv'}")
    assert f"--index-url {CPU_INDEX}" in torch_step
    assert "--no-deps" in torch_step
    assert torch_step.endswith(" torch==2.13.0")
    assert "--retries 2 --timeout 20" in torch_step, "an unreachable index should cost ~1 s"
    assert rest_step.endswith("-r requirements.txt -e .")
    assert "--index-url" not in rest_step and "--retries" not in rest_step
    assert str(REPO / ".venv") not in torch_step + rest_step


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_on_macos_and_windows_torch_comes_from_pypi_with_the_rest(platform):
    [(_, command)] = install.pip_steps("python", "torch==2.13.0", platform)
    assert "--index-url" not in command
    assert command[-4:] == ["-r", "requirements.txt", "-e", "."]


def test_a_torch_index_can_be_chosen():
    (_, torch_step), _ = install.pip_steps("python", "torch==2.13.0", "linux", "https://m/cpu")
    assert torch_step[torch_step.index("--index-url") + 1] == "https://m/cpu"


@pytest.mark.parametrize(
    ("platform", "prefix", "python"),
    [
        ("win32", ".venv\\Scripts\\", ".venv\\Scripts\\python.exe"),
        ("linux", ".venv/bin/", ".venv/bin/python"),
        ("darwin", ".venv/bin/", ".venv/bin/python"),
    ],
)
def test_next_steps_use_the_platforms_venv_folder(platform, prefix, python):
    steps = [command for _, command in install.next_steps(platform)]
    assert all(command.startswith(prefix) for command in steps)
    assert any(command.endswith("jupyter-book build .") for command in steps)
    assert any("-m autograder check notebooks" in command for command in steps)
    assert install.venv_python(".venv", platform).replace(os.sep, "/") == python.replace("\\", "/")


def test_make_install_runs_the_script():
    makefile = (REPO / "Makefile").read_text()
    rule = makefile[makefile.index("$(STAMP):") :].split("\n\n")[0]
    assert "$(PYTHON) scripts/install.py" in rule
    assert "touch $@" in rule


# The real install is not repeated here: `make test` (and so CI, on a fresh machine) starts with
# `make install`, which runs this script, and the tests then use the .venv it made. The check
# that it made the CPU build is below.


def test_this_venv_has_the_cpu_build_of_torch():
    import torch

    assert torch.__version__.startswith("2.13.0")
    if sys.platform.startswith("linux"):
        assert torch.__version__.endswith("+cpu"), f"torch {torch.__version__}, not the CPU build"
