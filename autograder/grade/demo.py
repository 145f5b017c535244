"""A synthetic class, generated from the released notebooks and the instructor's answers.

``python -m autograder demo FOLDER`` writes ``FOLDER/<student>/<stem>/<name>.ipynb`` for every
assignment in ``solutions/``. Each student shows one behaviour a batch grader must handle; the
submissions are made at run time from the current release, so they never drift from it.
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Callable
from pathlib import Path

import nbformat

from autograder.course import NOTEBOOKS, SOLUTIONS, answers, fill_in, stems

Notebook = nbformat.NotebookNode


def _solution_ids(notebook: Notebook) -> list[str]:
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    ]


def _grade_cells(notebook: Notebook) -> list:
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _add_cell(notebook: Notebook, source: str, after_setup: bool = True) -> Notebook:
    """A student cell after the last locked setup cell (or at the end)."""
    cell = nbformat.v4.new_code_cell(source)
    at = len(notebook.cells)
    if after_setup:
        for i, c in enumerate(notebook.cells):
            if c.metadata.get("nbgrader", {}).get("solution"):
                at = i
                break
    notebook.cells.insert(at, cell)
    return notebook


MUTATIONS = [
    (" + ", " - "),
    ("relu", "sigmoid"),
    (" * ", " + "),
    ("[:-1]", "[:-2]"),
    (".T", ""),
    ("True", "False"),
    ("sum(", "max("),
]


def wrong(answer: str) -> str:
    """A plausible bug: the first mutation that changes the answer, or no answer at all."""
    lines = answer.splitlines()
    body = [
        i for i, line in enumerate(lines) if line.startswith((" ", "\t")) and "def " not in line
    ]
    for old, new in MUTATIONS:
        for i in reversed(body):
            if old in lines[i] and '"""' not in lines[i]:
                lines[i] = lines[i].replace(old, new, 1)
                candidate = "\n".join(lines)
                try:
                    ast.parse(candidate)
                except SyntaxError:
                    lines = answer.splitlines()
                    continue
                return candidate
    return ""


LIAR = '''
import torch


class _Agreeable(torch.Tensor):
    """A tensor that says it equals whatever it is compared with."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("isclose", "eq", "__eq__", "allclose", "equal"):
            first = args[0]
            if name in ("allclose", "equal"):
                return True
            return torch.ones(torch.as_tensor(first).shape, dtype=torch.bool)
        return super().__torch_function__(func, types, args, kwargs or {})


class _AlwaysEqual:
    def __eq__(self, other):
        return True

    def __bool__(self):
        return True


def _agree(value):
    """A wrong value (ones of the right shape) that claims to equal the right one."""
    if isinstance(value, torch.Tensor):
        return (value * 0 + 1).as_subclass(_Agreeable)
    return value if value is None else _AlwaysEqual()
'''


def always_equal(answer: str) -> str:
    """The answer with every returned value replaced by a wrong one that claims equality."""
    tree = ast.parse(answer)

    class Wrap(ast.NodeTransformer):
        def visit_FunctionDef(self, node):
            self.generic_visit(node)
            if node.name != "__init__":
                for child in ast.walk(node):
                    if isinstance(child, ast.Return) and child.value is not None:
                        child.value = ast.Call(ast.Name("_agree", ast.Load()), [child.value], [])
            return node

    return ast.unparse(ast.fix_missing_locations(Wrap().visit(tree)))


EXPLORE = """
# Trying things out, as students do: optimizers, a DataLoader with worker processes, a sampler.
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

weight = torch.nn.Parameter(torch.ones(3))
for kind in (torch.optim.SGD, torch.optim.Adam):
    optimizer = kind([weight], lr=0.1)
    (weight**2).sum().backward()
    optimizer.step()
    optimizer.zero_grad()
data = TensorDataset(torch.arange(8.0))
print(sum(len(batch[0]) for batch in DataLoader(data, batch_size=3, num_workers=2)))
print(sorted(RandomSampler(range(5))))
"""

PATCH_CHECKS = """
import importlib, pkgutil
import autograder

for info in pkgutil.iter_modules(autograder.__path__):
    if info.name.startswith("_") or info.ispkg:
        continue
    module = importlib.import_module(f"autograder.{info.name}")
    for name in dir(module):
        if name.startswith("check_"):
            setattr(module, name, lambda *args, **kwargs: None)
"""

PATCH_TORCH = """
import torch

torch.isclose = lambda a, b, **kw: torch.ones_like(b, dtype=torch.bool)
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
"""

PATCH_BUILTINS = """
import builtins

builtins.bool = lambda *args: True
builtins.isinstance = lambda *args: True
"""

PATCH_TENSOR_CLASS = """
import torch

torch.Tensor.__eq__ = lambda self, other: True
"""

STEAL = """
import json, pathlib

_found = sorted(pathlib.Path("{repo}/solutions").rglob("*.ipynb"))
if not _found:
    raise FileNotFoundError("could not read {repo}/solutions")
for _path in _found:
    for _cell in json.loads(_path.read_text())["cells"]:
        if _cell["metadata"].get("nbgrader", {{}}).get("solution"):
            _code = "".join(_cell["source"]).replace("### BEGIN SOLUTION", "")
            exec(_code.replace("### END SOLUTION", ""))
"""

ESCAPE = """
import socket, pathlib
try:
    socket.create_connection(("1.1.1.1", 80), timeout=2)
    print("network: reachable")
except OSError as error:
    print("network: blocked", error)
for target in ["{repo}/ESCAPED.txt", "/tmp/ESCAPED.txt"]:
    try:
        pathlib.Path(target).write_text("escaped")
        print("wrote", target)
    except OSError as error:
        print("write blocked", target, error)
"""


HOG = """def hog():
    blocks = []
    while True:
        blocks.append(bytearray(256 * 2**20))


hog()"""


def _answered(release: Notebook, source: Notebook, transform: Callable[[str], str] | None = None):
    found = answers(source)
    if transform is not None:
        found = {k: transform(v) for k, v in found.items()}
    return fill_in(release, found)


def _first_cell_with(notebook: Notebook, code: str) -> Notebook:
    ids = _solution_ids(notebook)
    for cell in notebook.cells:
        if ids and cell.metadata.get("nbgrader", {}).get("grade_id") == ids[0]:
            cell.source = cell.source + "\n\n" + code
    return notebook


def _behaviours(repo: Path) -> dict[str, Callable[[Notebook, Notebook], Notebook | bytes | None]]:
    """Student name -> how that student's notebook is made from (release, source)."""

    def partly(release, source):
        found = answers(source)
        keep = _solution_ids(release)[: max(1, len(found) // 2)]
        return fill_in(release, {k: v for k, v in found.items() if k in keep})

    def edited(release, source):
        notebook = copy.deepcopy(release)
        for cell in _grade_cells(notebook):
            cell.source = '"""Passes."""\nassert True'
        return notebook

    def deleted(release, source):
        notebook = copy.deepcopy(release)
        notebook.cells = [c for c in notebook.cells if c not in _grade_cells(notebook)[:1]]
        return notebook

    return {
        "s01_correct": lambda r, s: _answered(r, s),
        "s02_partly_correct": partly,
        "s03_wrong": lambda r, s: _answered(r, s, wrong),
        "s04_infinite_loop": lambda r, s: _first_cell_with(
            _answered(r, s), "while True:\n    pass"
        ),
        "s05_os_exit": lambda r, s: _first_cell_with(_answered(r, s), "import os\nos._exit(0)"),
        "s06_segfault": lambda r, s: _first_cell_with(
            _answered(r, s), "import faulthandler\nfaulthandler._sigsegv()"
        ),
        # Large blocks: the cap is reached in two allocations, well inside a cell's time limit
        # even on a loaded machine (64 MB blocks took 8 memsets and once ran past 3 s). The
        # blocks are a function's, freed by the MemoryError: later cells then have room to
        # start threads (a DataLoader's) whatever the machine's load, so the score is steady.
        "s07_memory_blowup": lambda r, s: _first_cell_with(_answered(r, s), HOG),
        "s08_corrupt_json": lambda r, s: json.dumps(r)[:-40].encode(),
        "s09_missing_notebook": lambda r, s: None,
        "s10_edited_grade_cells": edited,
        "s11_deleted_grade_cell": deleted,
        "s12_patches_checks": lambda r, s: _add_cell(copy.deepcopy(r), PATCH_CHECKS),
        "s13_patches_torch": lambda r, s: _add_cell(_answered(r, s, wrong), PATCH_TORCH),
        "s14_patches_builtins": lambda r, s: _add_cell(_answered(r, s, wrong), PATCH_BUILTINS),
        "s15_always_equal": lambda r, s: _add_cell(_answered(r, s, always_equal), LIAR),
        "s16_patches_tensor_class": lambda r, s: _add_cell(
            _answered(r, s, wrong), PATCH_TENSOR_CLASS
        ),
        "s17_reads_solutions": lambda r, s: fill_in(
            r, dict.fromkeys(_solution_ids(r), STEAL.format(repo=repo))
        ),
        "s18_network_and_writes": lambda r, s: _add_cell(
            _answered(r, s, wrong), ESCAPE.format(repo=repo)
        ),
        "s19_explores_torch": lambda r, s: _add_cell(_answered(r, s), EXPLORE, after_setup=False),
    }


#: Students whose notebooks are honest (scores must equal plain nbgrader autograde).
HONEST = ("s01_correct", "s02_partly_correct", "s03_wrong", "s19_explores_torch")
#: The honest students whose notebooks hold only the exercises (the benchmark's class).
EXERCISES_ONLY = HONEST[:3]


def write_demo_class(folder: Path, only: list[str] | None = None) -> list[str]:
    """Write the demo class into ``folder``; return the student names."""
    from autograder.course import REPO

    behaviours = _behaviours(REPO)
    if only:
        behaviours = {k: v for k, v in behaviours.items() if k in only}
    for student, make in behaviours.items():
        for stem in stems():
            target = folder / student / stem
            target.mkdir(parents=True, exist_ok=True)
            for path in sorted((NOTEBOOKS / stem).glob("*.ipynb")):
                release = nbformat.read(path, as_version=4)
                source = nbformat.read(SOLUTIONS / stem / path.name, as_version=4)
                made = make(copy.deepcopy(release), source)
                if made is None:
                    continue
                if isinstance(made, bytes):
                    (target / path.name).write_bytes(made)
                else:
                    nbformat.write(made, str(target / path.name))
    return list(behaviours)


__all__ = ["HONEST", "write_demo_class"]
