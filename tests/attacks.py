"""Submissions written by a student who has read this repository: notebooks and cell sources.

Used by ``tests/test_adversarial.py``. Every notebook is made from the released notebook and the
instructor's answers (as :mod:`autograder.grade.demo` makes the demo class), so the attacks never
drift from the current release. Each attack cell is plain Python text.
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import nbformat

from autograder.course import NOTEBOOKS, SOLUTIONS, answers, fill_in

NAMES = {
    "01_module": "module.ipynb",
    "03_backward": "backward.ipynb",
    "04_optimizer": "optimizer.ipynb",
    "07_samplers": "samplers.ipynb",
}


def release(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / stem / NAMES[stem], as_version=4)


def solution_answers(stem: str) -> dict[str, str]:
    return answers(nbformat.read(SOLUTIONS / stem / NAMES[stem], as_version=4))


def notebook(
    stem: str,
    answered: bool | list[str] = True,
    replace: dict[str, str] | None = None,
    before: list[str] = (),
    after: list[str] = (),
) -> nbformat.NotebookNode:
    """The release of ``stem`` with the instructor's answers (all, some ids, or none), some
    answers replaced, and extra code cells before the first exercise or at the end."""
    found = solution_answers(stem)
    if answered is False:
        found = {}
    elif answered is not True:
        found = {k: v for k, v in found.items() if k in answered}
    found.update(replace or {})
    made = fill_in(release(stem), found)
    first = next(
        i for i, c in enumerate(made.cells) if c.metadata.get("nbgrader", {}).get("solution")
    )
    for offset, source in enumerate(before):
        made.cells.insert(first + offset, nbformat.v4.new_code_cell(textwrap.dedent(source)))
    for source in after:
        made.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(source)))
    return made


def write(subs: Path, student: str, stem: str, made: nbformat.NotebookNode | bytes) -> Path:
    folder = subs / student / stem
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAMES[stem]
    if isinstance(made, bytes):
        path.write_bytes(made)
    else:
        nbformat.write(made, str(path))
    return path


def cell_with(made: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in made.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def wrong_answers(stem: str) -> dict[str, str]:
    from autograder.grade.demo import wrong

    return {k: wrong(v) or v for k, v in solution_answers(stem).items()}


# --- 1. forged channel messages --------------------------------------------------------------

FORGE_GUESSED = """
import json, os

# Answers for requests the judge has not even sent yet, with the ids a student might guess.
for guess in ["0" * 16, "1", 1, None, "ffffffffffffffff"]:
    for message in (
        {"id": guess, "op": "ran", "status": "ok", "outputs": []},
        {"id": guess, "op": "observed", "status": "ok", "observation": {}},
    ):
        os.write(3, (json.dumps(message) + "\\n").encode())
"""

#: Builds, in the student's process, observations of torch's own layers labelled as the
#: student's (unanswered) classes. Finds the course's checking module without naming it.
FORGE = """
import sys as _sys
import torch as _torch
from torch import nn as _nn

_checking = next(
    _sys.modules[kind.__module__]
    for kind in dict.__subclasses__()
    if kind.__name__ == "Recorder" and hasattr(_sys.modules[kind.__module__], "REGISTRY")
)
_real_observe = _checking.observe


class _TorchMLP(_nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = _nn.ModuleList(_nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = _torch.relu(x)
        return x


_REAL = {"module.my_linear": _nn.Linear, "module.mlp": _TorchMLP}


def _forge(name, case, stub):
    data = _real_observe(_checking.REGISTRY[name], _REAL[name], case)
    data[_checking.TARGET] = _checking.plain.encode(_checking.describe(stub))
    return data
"""

FORGE_THREAD = (
    FORGE
    + """
import json as _json
import os as _os
import threading as _threading

_namespace = globals()


def _send(message):
    data = (_json.dumps(message, separators=(",", ":")) + "\\n").encode()
    while data:
        data = data[_os.write(3, data):]


def _steal():
    buffer = b""
    while True:
        chunk = _os.read(3, 1 << 16)
        if not chunk:
            return
        buffer += chunk
        while b"\\n" in buffer:
            line, _, buffer = buffer.partition(b"\\n")
            request = _json.loads(line)
            if request.get("op") == "run":
                try:
                    exec(request["source"], _namespace)
                except BaseException:
                    pass
                _send({"id": request["id"], "op": "ran", "status": "ok", "outputs": []})
            elif request.get("op") == "observe":
                stub = _namespace[request["target"]]
                observation = _forge(request["check"], request["case"], stub)
                _send({"id": request["id"], "op": "observed", "status": "ok",
                       "observation": observation})
            else:
                _os._exit(0)


_threading.Thread(target=_steal, daemon=True).start()
"""
)

#: Takes over the student process's side of the protocol: answers the current request (its id
#: read from the serve loop's frame), then every later one, with forged observations.
IMPERSONATE = (
    FORGE
    + """
import json as _json
import os as _os
import signal as _signal


def _take_over():
    _signal.setitimer(_signal.ITIMER_REAL, 0)
    frame = _sys._getframe()
    while not ("request" in frame.f_locals and "reader" in frame.f_locals):
        frame = frame.f_back
    request, namespace = frame.f_locals["request"], frame.f_locals["namespace"]

    def send(message):
        data = (_json.dumps(message, separators=(",", ":")) + "\\n").encode()
        while data:
            data = data[_os.write(3, data):]

    send({"id": request["id"], "op": "ran", "status": "ok", "outputs": []})
    buffer = b""
    while True:
        while b"\\n" not in buffer:
            chunk = _os.read(3, 1 << 16)
            if not chunk:
                _os._exit(0)
            buffer += chunk
        line, _, buffer = buffer.partition(b"\\n")
        request = _json.loads(line)
        if request.get("op") == "run":
            try:
                exec(request["source"], namespace)
            except BaseException:
                pass
            send({"id": request["id"], "op": "ran", "status": "ok", "outputs": []})
        elif request.get("op") == "observe":
            observation = _forge(request["check"], request["case"], namespace[request["target"]])
            send({"id": request["id"], "op": "observed", "status": "ok",
                  "observation": observation})
        else:
            _os._exit(0)


_take_over()
"""
)

#: No message forged at all: the scenario itself, in the student's process, is replaced.
PATCH_OBSERVE = (
    FORGE
    + """
_checking.observe = lambda check, target, case: _forge(check.name, case, target)
"""
)

# --- 2. duplicate answers ----------------------------------------------------------------------

FORK_DUPLICATE = """
import json, os, sys, time

frame = sys._getframe()
while not ("request" in frame.f_locals and "reader" in frame.f_locals):
    frame = frame.f_back
request_id = frame.f_locals["request"]["id"]
if os.fork() == 0:
    try:
        time.sleep(0.3)  # the parent has answered by now
        answer = {"id": request_id, "op": "ran", "status": "ok", "outputs": []}
        os.write(3, (json.dumps(answer) + "\\n").encode())
    finally:
        os._exit(0)
"""

SLEEP_A_LITTLE = """
import time

time.sleep(1.5)
"""

# --- 3. frame walking ---------------------------------------------------------------------------

FRAME_WALK_LINEAR = '''
class MyLinear(nn.Module):
    """Registers its parameters honestly; forward looks for torch's answer in the callers."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frame = FRAMES()
        while frame is not None:
            for name in ("expected", "reference", "ref", "ref_net"):
                found = frame.f_locals.get(name)
                if isinstance(found, torch.Tensor) and found.shape[:-1] == x.shape[:-1]:
                    return found
                if isinstance(found, nn.Linear):
                    for pname, parameter in list(found.named_parameters()):
                        setattr(self, pname, parameter)  # torch's parameters get the grads
                    return found(x)
            frame = frame.f_back
        raise NotImplementedError()
'''

FRAME_WALK_GETFRAME = FRAME_WALK_LINEAR.replace(
    "frame = FRAMES()", "import sys\n\n        frame = sys._getframe().f_back"
)
FRAME_WALK_TRACEBACK = FRAME_WALK_LINEAR.replace(
    "frame = FRAMES()",
    "try:\n            raise RuntimeError()\n        except RuntimeError as error:\n"
    '            frame = getattr(error.__traceback__.tb_frame, "f_" + "back")',
)

# --- 4. patched helpers ---------------------------------------------------------------------

PATCH_EVERYTHING = """
import ast, csv, importlib, io, json, pkgutil, sys
import torch
import autograder
from autograder import checking, plain, report

_saved = {}


def _patch(owner, name, value):
    _saved[(owner, name)] = getattr(owner, name)
    setattr(owner, name, value)


def _clean(value):
    # observations without the exception that stopped them
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k != "@raised"}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


_loads, _dumps, _parse = json.loads, json.dumps, ast.parse
_patch(json, "dumps", lambda obj, *a, **k: _dumps(_clean(obj), *a, **k))
_patch(json, "loads", lambda s, *a, **k: _loads(s, *a, **k))
_patch(ast, "parse", lambda src, *a, **k: _parse("pass" if "check" in str(src) else src, *a, **k))
_patch(csv, "reader", lambda *a, **k: iter([["student", "score"], ["me", "1000"]]))
_patch(csv, "DictReader", lambda *a, **k: iter([{"score": "1000", "status": "graded"}]))
_patch(
    torch,
    "isclose",
    lambda a, b, *x, **k: torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool),
)
_patch(torch, "allclose", lambda *a, **k: True)
_patch(torch, "equal", lambda *a, **k: True)
_patch(report, "expect", lambda *a, **k: None)
_patch(report, "expect_tensor", lambda *a, **k: None)
for info in pkgutil.iter_modules(autograder.__path__):
    if info.ispkg or info.name.startswith("_") or info.name in ("plain", "checking", "course"):
        continue  # the process's own plumbing: breaking it would only end the notebook
    module = importlib.import_module(f"autograder.{info.name}")
    for name in ("expect", "expect_tensor", "fail"):
        if hasattr(module, name):
            _patch(module, name, lambda *a, **k: None)
    for value in list(vars(module).values()):
        defaults = getattr(value, "__defaults__", None)
        if isinstance(defaults, tuple) and defaults:
            try:
                value.__defaults__ = tuple(None for _ in defaults)
            except (AttributeError, TypeError):
                pass

try:
    _library = torch.library.Library("aten", "IMPL")
    _library.impl("isclose", lambda a, b, *x, **k: torch.ones_like(a, dtype=torch.bool), "CPU")
    _library.impl("allclose", lambda *a, **k: True, "CPU")
    print("aten::isclose replaced")
except Exception as error:
    print("torch refused the kernel:", type(error).__name__)


class _PutBack:
    # restores everything when the notebook's process ends, so nothing looks patched afterwards
    def __del__(self):
        for (owner, name), value in _saved.items():
            setattr(owner, name, value)


_keeper = _PutBack()
print("patched", len(_saved))
"""

CLEAR_SAMPLERS = """
import autograder.samplers as _samplers
import autograder.checking as _checking

for _name, _value in list(vars(_samplers).items()):
    if _name.startswith("__"):
        continue
    if isinstance(_value, (dict, list, set)):
        _value.clear()
    elif isinstance(_value, tuple):
        setattr(_samplers, _name, ())
for _check in _checking.REGISTRY.values():
    for _part in (_check.scenario, _check.judge, _check.reference):
        if getattr(_part, "__defaults__", None):
            _part.__defaults__ = tuple(None for _ in _part.__defaults__)
print("cleared")
"""

# --- 6. delegation ---------------------------------------------------------------------------

LINEAR_SUBCLASS = '''
class MyLinear(nn.Linear):
    """nn.Linear under another name."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
'''

LINEAR_VIA_COURSE = '''
class MyLinear(nn.Module):
    """Honest parameters; the product comes from torch, reached through the course's module."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checks.nn.functional.linear(x, self.weight, self.bias)
'''

LINEAR_ZEROS = '''
class MyLinear(nn.Module):
    """Registers its parameters; forward only returns zeros of the right shape."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*x.shape[:-1], self.weight.shape[0], dtype=x.dtype)
'''

#: A scratch cell that never names the exercise: a forward hook on every module of the process
#: replaces the output of any module with a weight (but torch's own) by torch's linear layer.
GLOBAL_FORWARD_HOOK = """
# Trying torch's linear layer on every module, to compare with mine.
def compare(module, inputs, output):
    if hasattr(module, "weight") and not isinstance(module, torch.nn.Linear):
        return torch.nn.functional.linear(inputs[0], module.weight, module.bias)
    return output


torch.nn.modules.module.register_module_forward_hook(compare)
"""

SGD_DELEGATES = '''
class SGD(torch.optim.Optimizer):
    """Validates its arguments itself; the update is torch.optim.SGD's."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            keys = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
            inner = torch.optim.SGD(group["params"], **{k: group[k] for k in keys})
            inner.state = self.state
            inner.step()
        return loss
'''

SAMPLER_COPIED = '''
class RandomSampler(Sampler[int]):
    """Honest arguments; the iteration is torch's own."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got {replacement=}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, "
                f"but got num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    __iter__ = torch.utils.data.RandomSampler.__iter__

    def __len__(self) -> int:
        return self.num_samples
'''

SAMPLER_VIA_COURSE = SAMPLER_COPIED.replace(
    "    __iter__ = torch.utils.data.RandomSampler.__iter__\n",
    "    def __iter__(self):\n"
    '        yield from checks.TORCH["RandomSampler"](\n'
    "            self.data_source, self.replacement, self._num_samples, self.generator\n"
    "        )\n",
)

LR_AUTOGRAD = '''
class LR(nn.Module):
    """Logistic regression whose backward asks autograd."""

    def __init__(self, dim: int, lr: float = 0.01) -> None:
        super().__init__()
        self.lr = lr
        self.register_buffer("w", torch.zeros(dim, 1))
        self.register_buffer("b", torch.zeros(()))
        self.grads = {"dw": torch.zeros(dim, 1), "db": torch.zeros(())}

    @staticmethod
    def sigmoid(z: torch.Tensor) -> torch.Tensor:
        small = torch.exp(-z.abs())
        return torch.where(z >= 0, 1 / (1 + small), small / (1 + small))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigmoid(self.w.T @ x + self.b)

    def backward(self, x: torch.Tensor, yhat: torch.Tensor, y: torch.Tensor) -> None:
        w = self.w.detach().clone().requires_grad_(True)
        b = self.b.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            z = w.T @ x + b
            loss = (torch.logaddexp(torch.zeros_like(z), z) - y * z).mean()
            loss.backward()
        self.grads["dw"] = w.grad.detach()
        self.grads["db"] = b.grad.detach()

    def optimize(self) -> None:
        self.w = self.w - self.lr * self.grads["dw"]
        self.b = self.b - self.lr * self.grads["db"]
'''

SCRATCH_SGD = """
# Trying torch's optimizer outside the exercise, to compare with mine.
import torch

weight = torch.nn.Parameter(torch.ones(3))
reference = torch.optim.SGD([weight], lr=0.1, momentum=0.9)
(weight**2).sum().backward()
reference.step()
print(weight)
"""

SCRATCH_LINEAR = """
import torch

probe = torch.nn.Linear(3, 2)
print(probe(torch.ones(1, 3)).shape)
"""

# --- 5. memory scan ------------------------------------------------------------------------

VICTIM = """
SECRET = "ADVSECRET-victim-{hex}"
with open("leftover.txt", "w") as handle:
    handle.write(SECRET)
try:
    with open("/dev/shm/adv-secret", "w") as handle:
        handle.write(SECRET)
except OSError:
    pass
print(len(SECRET))
"""

SCANNER = r"""
import ctypes, os, re, uuid

_control = "ADVCONTROL-" + uuid.uuid4().hex  # only in this process: proves the scan sees memory
secret = re.compile(rb"ADVSECRET-victim-[0-9a-f]{32}")
control = re.compile(rb"ADVCONTROL-[0-9a-f]{32}")
try:
    libc = ctypes.CDLL(None)
    libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE, so /proc/self/mem may be opened
except OSError:
    pass
regions = []
with open("/proc/self/maps") as maps:
    for line in maps:
        fields = line.split()
        start, end = (int(v, 16) for v in fields[0].split("-"))
        name = fields[5] if len(fields) > 5 else ""
        if fields[1][0] == "r" and not name.startswith(("[vvar", "[vsyscall")):
            regions.append((start, end))
try:
    mem = open("/proc/self/mem", "rb", buffering=0)
    method = "/proc/self/mem"

    def read(start, size):
        mem.seek(start)
        return mem.read(size)

except OSError as error:
    method = f"ctypes.string_at ({error.strerror})"

    def read(start, size):
        return ctypes.string_at(start, size)

found, seen, scanned = set(), False, 0
for start, end in regions:
    position, tail = start, b""
    while position < end:
        size = min(end - position, 1 << 24)
        try:
            chunk = read(position, size)
        except (OSError, ValueError):
            break
        if not chunk:
            break
        window = tail + chunk
        found.update(m.decode() for m in secret.findall(window))
        seen = seen or bool(control.search(window))
        tail = window[-64:]
        position += len(chunk)
        scanned += len(chunk)
leftovers = []
for folder in ("/dev/shm", os.path.dirname(os.getcwd())):
    try:
        for root, _, names in os.walk(folder):
            for name in names:
                try:
                    with open(os.path.join(root, name), "rb") as handle:
                        if secret.search(handle.read(1 << 20)):
                            leftovers.append(os.path.join(root, name))
                except OSError:
                    pass
    except OSError:
        pass
print("method:", method, "scanned MB:", scanned >> 20)
print("CONTROL FOUND" if seen else "CONTROL NOT FOUND")
print("FOUND " + " ".join(sorted(found)) if found else "NOT FOUND")
print("FILES FOUND " + " ".join(leftovers) if leftovers else "FILES NOT FOUND")
"""

SLEEPER = """
import time

time.sleep(4)
"""

#: A child that outlives the notebook's budget and floods the channel; the parent ignores the
#: cell's alarm so that the notebook lasts until its budget.
FORKER = """
import os, signal, time

signal.signal(signal.SIGALRM, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    time.sleep({delay})
    junk = b"{{" * 65536
    while True:  # fd 3 is the channel; 211 was the previous design's result pipe
        for fd in (3, 211):
            try:
                os.write(fd, junk)
            except OSError:
                time.sleep(0.001)
while True:
    time.sleep(0.1)
"""

# --- 10. cross-talk ------------------------------------------------------------------------

LOOP_FIRST = "while True:\n    pass\n\n"
EXIT_FIRST = "import os\n\nos._exit(0)\n\n"

PROBE = """
import os

for path in ["/", "/proc", "/tmp", "/root", "/home", "/dev/shm", "{repo}", "{repo}/solutions"]:
    try:
        print("list", path, sorted(os.listdir(path))[:30])
    except OSError as error:
        print("list blocked", path, error.strerror)
for path in [
    "/etc/shadow", "/proc/1/environ", "/proc/1/mem", "{repo}/solutions/01_module/module.ipynb",
    "{repo}/.git/config", "/root/.bash_history", "{host_file}",
]:
    try:
        with open(path, "rb") as handle:
            handle.read(64)
        print("read", path)
    except OSError as error:
        print("read blocked", path, error.strerror)
others = 0
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            with open(f"/proc/{{pid}}/environ", "rb") as handle:
                handle.read(64)
            others += 1
        except OSError:
            pass
print("environ of other processes readable:", others)
"""


# --- 8. malformed ---------------------------------------------------------------------------


def stored_outputs(made: nbformat.NotebookNode, grade_ids: list[str], outputs: list[dict]):
    for grade_id in grade_ids:
        cell = cell_with(made, grade_id)
        cell.outputs = [nbformat.from_dict(copy.deepcopy(o)) for o in outputs]
        cell.execution_count = 1
    return made


PARTIAL_CREDIT = [
    {
        "output_type": "execute_result",
        "data": {"text/plain": "1000"},
        "metadata": {},
        "execution_count": 1,
    }
]

SCRIPT = "<script>alert('stored')</script>"
SCRIPT_OUTPUTS = [
    {
        "output_type": "display_data",
        "data": {"text/html": SCRIPT, "text/plain": "look"},
        "metadata": {},
    },
    {
        "output_type": "execute_result",
        "data": {"text/html": SCRIPT, "text/plain": "1000"},
        "metadata": {},
        "execution_count": 1,
    },
]


def oversize(stem: str) -> bytes:
    made = release(stem)
    made.cells.append(nbformat.v4.new_markdown_cell("x" * (9 * 2**20)))
    return json.dumps(made).encode()
