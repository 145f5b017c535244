r"""Whether a student handed an exercise to torch (or the course's helpers) instead of writing it.

Read on the trusted side, where no student code ever runs: the submitted cells are parsed, never
executed, and the names they use are resolved against the grader's own torch.

* :func:`delegated` reads the code that the exercise's target reaches (its definitions, their
  bases and decorators, the student's top-level helpers they use, and top-level statements that
  change them) and names what of it is forbidden by the exercise's
  :class:`~autograder.checking.Delegation`: ``class SGD(Optimizer): def step(self):
  torch.optim.SGD(...)``, ``class MyLinear(nn.Linear)``, ``loss.backward()`` in a hand-written
  backward, the course's own reference helpers. A scratch cell that tries torch's version outside
  that code is not the exercise, and is left alone.
* :func:`unfollowable` names code anywhere in the student's cells that a static reading cannot
  follow (``exec``, ``getattr(torch, name)``, frames, ``__dict__`` …), that reaches into the
  grader's own modules (anything in :mod:`autograder` except calling a ``check_*`` function), or
  that changes how torch or Python runs for the whole process: a global module hook, a
  ``TorchFunctionMode``, ``torch.library``, a ``__torch_function__``, a patched module
  (``torch.isclose = …``, ``nn.Linear.forward = …``). Delegation is judged from the code the
  exercise reaches, and such code moves computation out of that reach.
* :func:`delegated_at_run_time` reads what the student's process reported about the target
  (:func:`autograder.checking.describe`: its MRO and where its methods come from) and names a
  forbidden base class or a method copied from torch.

A name is resolved by walking modules and classes with :func:`inspect.getattr_static` from a
top-level module that is already loaded (or is torch or autograder): no property, module
``__getattr__`` or import of the student's choosing runs here.
"""

from __future__ import annotations

import ast
import builtins
import functools
import gc
import importlib
import importlib.util
import inspect
import itertools
import re
import sys
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the grader's parent reads code without importing torch
    from autograder.checking import Delegation

#: Student code beyond this many characters is not read (and says so).
MAX_CHARS = 2_000_000

NESTED = "code too deeply nested to read"
TOO_LONG = "the code is over 2 MB: the grader read only its first 2 MB"
#: Top-level statements beyond this many are not read either (and say so).
MAX_STATEMENTS = 20_000
TOO_MANY = f"the code has over {MAX_STATEMENTS} top-level statements: the grader read only those"
DYNAMIC = "the grader cannot follow dynamic code"
HELPERS = "only the check_* functions of the course's helpers may be called from your code"

#: Builtins that run, reach or rewrite code by name.
DYNAMIC_NAMES = frozenset(
    {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint"}
    | {"get_ipython"}
)
#: Modules that reach frames, namespaces, raw objects or other code.
DYNAMIC_MODULES = (
    *("sys", "inspect", "gc", "ctypes", "builtins", "marshal", "types", "pickle", "dill"),
    *("importlib", "_pickle", "copyreg", "cloudpickle", "shelve", "runpy", "code", "codeop"),
    *("imp", "zipimport", "IPython", "__main__", "_ctypes", "_imp"),
)
DYNAMIC_CALLABLES = ("operator.attrgetter", "operator.methodcaller")
#: Attributes that reach namespaces, frames, code objects or the class hierarchy.
DYNAMIC_ATTRIBUTES = frozenset(
    {"__globals__", "__code__", "__closure__", "__dict__", "__subclasses__", "__builtins__"}
    | {"__defaults__", "__kwdefaults__", "__mro__", "__bases__", "__getattribute__", "f_back"}
    | {"f_locals", "f_globals", "tb_frame", "gi_frame", "cr_frame", "__loader__", "__spec__"}
)
#: Autograd itself, refused with ``Delegation.autograd``.
AUTOGRAD = (
    *("torch.autograd", "torch.func", "torch._functorch", "torch._C._autograd"),
    *("torch._C._functorch", "functorch"),
)
#: torch's and Python's process-wide interception (every module call, every saved tensor, every
#: line run), refused anywhere in the student's cells, whatever they are reached as.
INTERCEPTING = (
    *(
        f"torch.nn.modules.module.register_module_{hook}"
        for hook in (
            *("forward_hook", "forward_pre_hook", "full_backward_hook", "full_backward_pre_hook"),
            *("backward_hook", "buffer_registration_hook", "module_registration_hook"),
            "parameter_registration_hook",
        )
    ),
    "torch.autograd.graph.saved_tensors_hooks",
    *("threading.settrace", "threading.setprofile"),
    *("threading.settrace_all_threads", "threading.setprofile_all_threads"),
)
#: Modules all of whose contents intercept or rewrite what torch runs.
INTERCEPTING_MODULES = (
    *("torch.library", "torch._library", "torch.overrides", "torch.utils._python_dispatch"),
    *("torch._C", "torch._ops", "torch._custom_op", "torch._custom_ops"),
)
#: Methods that make torch hand its calls to the class that defines them.
INTERCEPTING_METHODS = frozenset({"__torch_function__", "__torch_dispatch__"})
#: Settings an honest notebook changes for the whole process: flags, not code.
SETTINGS = (
    *("torch.backends", "os.environ", "pandas.options"),
    *("matplotlib.rcParams", "matplotlib.pyplot.rcParams"),
)
OPAQUE = "the grader cannot tell what it computes"
#: Always allowed: they only turn autograd off.
HARMLESS = ("torch.no_grad", "torch.inference_mode")

#: Top-level modules the grader may import to resolve a name (others must be loaded already).
_IMPORTABLE = ("torch", "autograder")
#: Cell magics whose body is Python run in the kernel, and magics that run other code.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
_RUNNING_MAGICS = frozenset(
    {"run", "load", "loadpy", "rerun", "r", "recall", "macro", "paste", "cpaste", "edit", "ed"}
    | {"aimport", "autoreload", "store", "load_ext", "reload_ext"}
)
#: Method names that change the object they are called on.
_MUTATORS = frozenset(
    {"append", "extend", "insert", "update", "setdefault", "add", "pop", "remove", "clear"}
    | {"discard", "__setitem__", "__delitem__", "__setattr__", "__delattr__"}
)
_MISSING: Any = object()
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
#: Nodes with nothing to read in them.
_LEAVES = frozenset(
    {ast.Constant, ast.Load, ast.Store, ast.Del, ast.Pass, ast.Break, ast.Continue}
    | {
        kind
        for base in (ast.operator, ast.boolop, ast.cmpop, ast.unaryop)
        for kind in base.__subclasses__()
    }
)
_MAX_PATHS = 32
_MAX_PARTS = 64
_MAX_SENTENCES = 50


# --- public ---------------------------------------------------------------------------------


def delegated(
    cells: list[str], target: str, rule: Delegation | None, context: list[str] = ()
) -> list[str]:
    """Sentences naming what the student's code for ``target`` hands to torch or to the course's
    helpers; ``[]`` when nothing.

    ``cells`` are the student's code cells in notebook order (a cell that does not parse, even
    with its IPython magics removed, is skipped); ``context`` the instructor's locked setup cells,
    whose imports define names (``checks``, ``nn``) and whose code is never itself flagged.
    """
    with _quiet_gc():
        return _unique(_Program(cells, context).delegated(str(target), _Judge(rule)))


def unfollowable(cells: list[str], context: list[str] = ()) -> list[str]:
    """Sentences naming code anywhere in the student's cells that a static reading cannot follow,
    or that reaches the grader's internals; ``[]`` when nothing."""
    with _quiet_gc():
        return _unique(_Program(cells, context).unfollowable())


def delegated_at_run_time(description: dict, rule: Delegation | None) -> list[str]:
    """Sentences from the target's description as the student's process reported it
    (:func:`autograder.checking.describe`): a forbidden class in its MRO, a method whose origin
    is forbidden, a function that is torch's. Untrusted plain data: any other shape gives ``[]``."""
    if not isinstance(description, dict):
        return []
    judge = _Judge(rule)
    name = description.get("name")
    name = name if isinstance(name, str) and 0 < len(name) <= 300 else "the target"
    short = name.rsplit(".", 1)[-1] or name
    out = []
    verdict = judge.run_time(name)
    if verdict:
        out.append(f"{short} is {verdict}: write {judge.task} yourself")
    mro = description.get("mro")
    if isinstance(mro, list):
        for entry in mro[:200]:
            if isinstance(entry, str) and entry != name and (verdict := judge.run_time(entry)):
                out.append(f"{short} subclasses {verdict}: write {judge.task} yourself")
    methods = description.get("methods")
    if isinstance(methods, dict):
        for method, origin in itertools.islice(methods.items(), 2000):
            if not (isinstance(method, str) and isinstance(origin, str)) or len(method) > 200:
                continue
            if verdict := judge.run_time(origin):
                out.append(f"{short}.{method} is {verdict}: write {judge.task} yourself")
    return _unique(out)


@contextmanager
def _quiet_gc() -> Iterator[None]:
    """No cyclic garbage collection while a large tree is read: it holds no cycles to free,
    and collecting it again and again makes reading 2 MB of code several times slower."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- resolving dotted paths against the grader's own modules ---------------------------------


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@functools.lru_cache(maxsize=8192)
def _lookup(path: str) -> tuple[Any, tuple[Any, ...]]:
    """The object a dotted path names (or _MISSING), and the objects met on the way there."""
    parts = path.split(".")
    if len(parts) > _MAX_PARTS or not all(part.isidentifier() for part in parts):
        return _MISSING, ()
    current = sys.modules.get(parts[0])
    if current is None and parts[0] in _IMPORTABLE:
        try:
            current = importlib.import_module(parts[0])
        except Exception:  # noqa: BLE001 - an unresolved name is judged by its spelling
            current = None
    if not isinstance(current, types.ModuleType):
        return _MISSING, ()
    trace = [current]
    for part in parts[1:]:
        if not isinstance(current, (types.ModuleType, type)):
            return _MISSING, tuple(trace)
        try:
            found = inspect.getattr_static(current, part)
        except AttributeError:
            found = _MISSING
            if isinstance(current, types.ModuleType):
                found = sys.modules.get(f"{current.__name__}.{part}", _MISSING)
        except Exception:  # noqa: BLE001 - a hostile metaclass; judged by spelling
            found = _MISSING
        if isinstance(found, (staticmethod, classmethod)):
            found = found.__func__
        if found is _MISSING:
            return _MISSING, tuple(trace)
        trace.append(found)
        current = found
    return current, tuple(trace)


def _home(value: Any) -> str | None:
    """The module a module, class or function belongs to (its own name for a module)."""
    try:
        if isinstance(value, types.ModuleType):
            name = value.__name__
        elif isinstance(value, type) or inspect.isroutine(value):
            name = getattr(value, "__module__", None)
        else:
            return None
    except Exception:  # noqa: BLE001
        return None
    return name if isinstance(name, str) else None


def _qualified(value: Any) -> str | None:
    try:
        if isinstance(value, types.ModuleType):
            return value.__name__
        module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    except Exception:  # noqa: BLE001
        return None
    return f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else None


@functools.lru_cache(maxsize=1024)
def _unreadable(top: str) -> bool:
    """A top-level module the grader cannot find (the student's own file, say)."""
    if top in sys.modules or top in _IMPORTABLE:
        return False
    try:
        return not top.isidentifier() or importlib.util.find_spec(top) is None
    except Exception:  # noqa: BLE001
        return True


def _dynamic_module(path: str) -> str | None:
    """The dynamic module (sys, inspect …) a path is or passes through, if any."""
    for module in DYNAMIC_MODULES:
        if _under(path, module):
            return module
    for value in _lookup(path)[1]:
        if isinstance(value, types.ModuleType):
            for module in DYNAMIC_MODULES:
                if _under(value.__name__, module):
                    return module
    return None


def _dynamic_callable(path: str) -> str | None:
    if path in DYNAMIC_CALLABLES:
        return path
    found = _lookup(path)[0]
    for name in DYNAMIC_CALLABLES:
        if found is not _MISSING and found is _lookup(name)[0]:
            return name
    return None


@functools.cache
def _intercepting_objects() -> tuple[tuple[str, Any], ...]:
    return tuple(
        (name, found) for name in INTERCEPTING if (found := _lookup(name)[0]) is not _MISSING
    )


def _defined_in_intercepting(value: Any) -> str | None:
    """The interception module a class (or one of its bases) or function is defined in. Not
    ``torch._C``: torch's own builtins (``torch.Generator``, ``F.linear``) say they are from it."""
    kinds = getattr(value, "__mro__", ()) if isinstance(value, type) else (value,)
    for kind in kinds if isinstance(kinds, tuple) else ():
        home = _home(kind)
        for module in INTERCEPTING_MODULES:
            if home and module != "torch._C" and _under(home, module):
                return module
    return None


@functools.lru_cache(maxsize=8192)
def _intercepting(path: str) -> str | None:
    """How to name the process-wide interception a path is, passes through or derives from:
    the hook's name, or the path itself when it is in (or from) an interception module."""

    def shown(name: str) -> str:
        return name.rsplit(".", 1)[-1] if name.startswith("torch") else name

    for name in INTERCEPTING:
        hook = name.rsplit(".", 1)[-1]
        spelled = (name, f"torch.nn.modules.{hook}") if hook.startswith("register_") else (name,)
        if any(_under(path, spelling) for spelling in spelled):
            return shown(name)
    if any(_under(path, module) for module in INTERCEPTING_MODULES):
        return path
    if len(path.split(".")) > _MAX_PARTS:
        return None
    for value in _lookup(path)[1]:
        for name, found in _intercepting_objects():
            if value is found:
                return shown(name)
        if isinstance(value, types.ModuleType):
            home = value.__name__
            if isinstance(home, str) and any(_under(home, m) for m in INTERCEPTING_MODULES):
                return path
        elif (isinstance(value, type) or inspect.isroutine(value)) and _defined_in_intercepting(
            value
        ):
            return path
    return None


def _code_like(value: Any) -> bool:
    return isinstance(value, (types.ModuleType, type)) or inspect.isroutine(value)


@functools.lru_cache(maxsize=8192)
def _patches(path: str, container: bool, modules: frozenset[str]) -> bool:
    """Whether changing ``path`` (an attribute, or a container's contents) changes a module, a
    class or an object held by one, for the whole process. ``modules`` are the names an
    ``import`` statement binds to modules, for those the grader has not loaded."""
    parts = path.split(".")
    if len(parts) < 2 or len(parts) > _MAX_PARTS:
        return False
    found = _lookup(path)[0]
    setting = any(_under(path, setting) for setting in SETTINGS)
    if setting and (found is _MISSING or not _code_like(found)):
        return False
    if container:
        # ``torch.nn.modules.module._global_forward_hooks[0] = f``; not ``torch.Tensor.add(…)``.
        return found is not _MISSING and not _code_like(found)
    owner = ".".join(parts[:-1])
    found, trace = _lookup(owner)
    if found is not _MISSING or owner in modules:
        return True
    # An attribute of a loaded module that is not there yet: a submodule not imported here.
    return len(trace) == len(parts) - 2 and isinstance(trace[-1], types.ModuleType)


class _Judge:
    """A Delegation, resolved: whether a dotted path is forbidden, and how to name it."""

    def __init__(self, rule: Any) -> None:
        forbidden = [p for p in getattr(rule, "forbidden", ()) or () if isinstance(p, str)]
        allowed = [p for p in getattr(rule, "allowed", ()) or () if isinstance(p, str)]
        self.autograd = bool(getattr(rule, "autograd", False))
        if self.autograd:
            forbidden += AUTOGRAD
        allowed += HARMLESS
        task = getattr(rule, "task", None)
        self.task = task if isinstance(task, str) and task else "this exercise"
        self._verdicts: dict[tuple[str, int], tuple[str, str] | None] = {}
        self.forbidden = [(path, _lookup(path)[0]) for path in forbidden]
        self.allowed = [(path, _lookup(path)[0]) for path in allowed]
        # The bases of an allowed class (torch.autograd.Function's) come with it at run time.
        self.allowed_mro: set[str] = set()
        for _, value in self.allowed:
            for kind in getattr(value, "__mro__", ()) if isinstance(value, type) else ():
                if name := _qualified(kind):
                    self.allowed_mro.add(name)

    def _matches(self, value: Any, path: str, forbidden: Any) -> bool:
        if forbidden is not _MISSING and value is forbidden:
            return True
        home = _home(value)
        if home is None or not (forbidden is _MISSING or isinstance(forbidden, types.ModuleType)):
            return False
        names = {path} | ({forbidden.__name__} if forbidden is not _MISSING else set())
        return any(_under(home, name) for name in names)

    def _forbidden(self, path: str, trace: tuple[Any, ...]) -> bool:
        parts = path.split(".")
        allowed_at = -1
        for index, value in enumerate(trace):
            if any(a is not _MISSING and value is a for _, a in self.allowed):
                allowed_at = index
        for index in range(len(parts)):
            prefix = ".".join(parts[: index + 1])
            if any(_under(prefix, a) for a, _ in self.allowed):
                allowed_at = max(allowed_at, index)
                break
        if allowed_at >= 0:
            # An allowed class reached through a forbidden module is fine, and so are its
            # methods, unless what they lead to is itself forbidden.
            return any(
                f is not _MISSING and value is f
                for value in trace[allowed_at + 1 :]
                for _, f in self.forbidden
            )
        if any(_under(path, f) for f, _ in self.forbidden):
            return True
        return any(self._matches(value, f, fv) for value in trace for f, fv in self.forbidden)

    def verdict(self, path: str, depth: int = 0) -> tuple[str, str] | None:
        """("helper" | "forbidden" | "unreadable", how to name it) when ``path`` is refused."""
        key = (path, depth)
        if key not in self._verdicts:
            self._verdicts[key] = self._verdict(path, depth)
        return self._verdicts[key]

    def _verdict(self, path: str, depth: int) -> tuple[str, str] | None:
        parts = path.split(".")
        if parts[0] == "autograder":
            return "helper", path
        found, trace = _lookup(path)
        if any(_under(_home(value) or "", "autograder") for value in trace):
            return "helper", path
        if self._forbidden(path, trace):
            qualified = _qualified(found) if found is not _MISSING else None
            shown = f"{path} ({qualified})" if qualified and qualified != path else path
            return "forbidden", shown
        if not trace and depth == 0:
            # A module the grader did not load may re-export torch: judge what follows it.
            for index in range(1, min(len(parts), _MAX_PARTS)):
                if parts[index] in _IMPORTABLE:
                    inner = self.verdict(".".join(parts[index:]), depth + 1)
                    if inner:
                        return inner[0], path
            if _unreadable(parts[0]):
                return "unreadable", path
        return None

    def run_time(self, qualified: str) -> str | None:
        """How to name a qualified name reported at run time, when it is refused."""
        if not 0 < len(qualified) <= 500 or qualified in self.allowed_mro:
            return None
        if _under(qualified, "autograder"):
            return f"{qualified} (the course's own reference helpers)"
        if "<" in qualified or "?" in qualified:
            if any(_under(qualified.split(".<", 1)[0], f) for f, _ in self.forbidden):
                return qualified
            return None
        verdict = self.verdict(qualified, depth=1)
        if verdict is None or verdict[0] == "unreadable":
            return None
        if verdict[0] == "helper":
            return f"{qualified} (the course's own reference helpers)"
        return qualified

    def sentence(self, who: str, kind: str, shown: str, role: str, owner: str) -> str:
        yourself = f"write {self.task} yourself"
        if kind == "helper":
            return f"{who} uses {shown}, one of the course's own reference helpers: {yourself}"
        if kind == "unreadable":
            return f"{who} uses {shown}, from code the grader cannot read: {yourself}"
        if role == "base":
            return f"{owner or who} subclasses {shown.split(' (')[0]}: {yourself}"
        if role == "is":
            return f"{who} is {shown}: {yourself}"
        return f"{who} uses {shown}: {yourself}"


# --- reading cells --------------------------------------------------------------------------


def _python_tail(arguments: str) -> str:
    """The Python a line magic runs (``%time x = f()``), or "pass"."""
    text = arguments.strip()
    for skip in range(9):
        pieces = re.split(r"\s+", text, maxsplit=skip) if skip else [text]
        if len(pieces) <= skip and skip:
            break
        tail = pieces[-1]
        if not tail:
            break
        try:
            ast.parse(tail)
        except Exception:  # noqa: BLE001 - not Python: try without the next option
            continue
        return tail
    return "pass"


def _strip_magics(source: str) -> tuple[str | None, list[tuple[int, str]]]:
    """The cell with its IPython magics turned into Python (same line numbers), or None when
    the cell is not Python (a %%bash cell); and the magics that run other code."""
    lines = source.split("\n")
    magics: list[tuple[int, str]] = []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].lstrip()[2:].split()
        name = words[0] if words else ""
        if name not in _PYTHON_CELL_MAGICS:
            return None, []
        lines[first] = ""
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("%"):
            words = stripped.lstrip("%").split(None, 1)
            name = words[0] if words else ""
            if name in _RUNNING_MAGICS:
                magics.append((index + 1, name))
            lines[index] = indent + _python_tail(words[1] if len(words) > 1 else "")
        elif stripped.startswith("!") or (stripped.endswith("?") and not stripped.startswith("#")):
            lines[index] = indent + "pass"
        elif match := re.match(r"[\w.,\s\[\]()]+?=\s*([%!])\s*(\S*)", stripped):
            if match.group(1) == "%" and match.group(2) in _RUNNING_MAGICS:
                magics.append((index + 1, match.group(2)))
            lines[index] = indent + "pass"
    return "\n".join(lines), magics


def _parse(source: str) -> tuple[ast.Module | None, str | None, list[tuple[int, str]]]:
    """(tree, reason it could not be read, running magics); a SyntaxError skips the cell."""
    try:
        return ast.parse(source), None, []
    except SyntaxError:
        pass
    except (RecursionError, MemoryError, ValueError, OverflowError):
        return None, NESTED, []
    stripped, magics = _strip_magics(source)
    if stripped is None:
        return None, None, []
    try:
        return ast.parse(stripped), None, magics
    except SyntaxError:
        return None, None, []
    except (RecursionError, MemoryError, ValueError, OverflowError):
        return None, NESTED, []


# --- what one piece of code does, scope by scope ---------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    """A scope: the names local to it (not counting local imports), its local imports."""

    module: bool = True
    locals: frozenset[str] = frozenset()
    imports: dict[str, tuple[str, ...]] = field(default_factory=dict)
    params: frozenset[str] = frozenset()
    globals: frozenset[str] = frozenset()
    #: In a class body: the scope its methods, lambdas and comprehensions see instead.
    enclosing: _Ctx | None = None


@dataclass(frozen=True)
class _Chain:
    """A name (``root``) and the attributes taken of it, as the code wrote them."""

    root: str
    attrs: tuple[str, ...]
    line: int
    role: str  # "load", "call", "store", "base"
    owner: str = ""  # the class, for a base
    local: tuple[str, ...] | None = None  # paths, when the root is a local import


@dataclass(frozen=True)
class _Import:
    bound: str  # the name it binds
    path: str  # what that name refers to
    imported: str  # what was imported (``import a.b`` binds ``a`` and imports ``a.b``)
    line: int
    module_scope: bool
    statement: bool = False  # ``import a.b``: a, a.b are modules, whatever the grader loaded


@dataclass(slots=True)
class _Facts:
    free: set[str] = field(default_factory=set)
    chains: list[_Chain] = field(default_factory=list)
    imports: list[_Import] = field(default_factory=list)
    stars: list[tuple[str, int]] = field(default_factory=list)
    stores: list[tuple[str, int]] = field(default_factory=list)
    global_stores: set[str] = field(default_factory=set)
    autograd: list[tuple[int, str, str | None]] = field(default_factory=list)
    dynamic: list[tuple[int, str]] = field(default_factory=list)
    getattrs: list[tuple[int, str, str | None, str | None]] = field(default_factory=list)
    mutated: set[str] = field(default_factory=set)
    mutates_params: bool = False
    passes: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    #: What code changes in place: an attribute (``x.a = …``, ``setattr(x, "a", …)``), or the
    #: contents of a container (``x.a[k] = …``, ``x.a.update(…)``), when True.
    patches: list[tuple[_Chain, bool]] = field(default_factory=list)
    #: ``__torch_function__`` and the like, named anywhere.
    intercepts: list[tuple[int, str]] = field(default_factory=list)


def _getattr_constant(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and 2 <= len(node.args) <= 3
        and not node.keywords
        and not any(isinstance(arg, ast.Starred) for arg in node.args)
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    )


def _chain(node: ast.AST) -> tuple[ast.AST, tuple[str, ...], list[ast.AST]]:
    """The innermost expression of ``a.b.c`` / ``getattr(a, "b")``, the names taken of it, and
    the default arguments of those getattr calls."""
    attrs: list[str] = []
    extras: list[ast.AST] = []
    current = node
    while True:
        if isinstance(current, ast.Attribute):
            attrs.append(current.attr)
            current = current.value
        elif _getattr_constant(current):
            attrs.append(current.args[1].value)
            extras.extend(current.args[2:])
            current = current.args[0]
        else:
            break
    attrs.reverse()
    return current, tuple(attrs), extras


def _pure(node: ast.AST | None) -> tuple[str, tuple[str, ...]] | None:
    """``(root, attrs)`` when ``node`` is only a name and attributes of it."""
    if node is None:
        return None
    root, attrs, extras = _chain(node)
    return (root.id, attrs) if isinstance(root, ast.Name) and not extras else None


def _root_name(node: ast.AST) -> str | None:
    while True:
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            node = node.value
        elif _getattr_constant(node):
            node = node.args[0]
        else:
            return node.id if isinstance(node, ast.Name) else None


def _base_token(node: ast.AST) -> str | None:
    """How the receiver of ``.backward`` is spelled, for the ones a class may call."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "super":
            return "super()"
        if node.func.id == "type" and len(node.args) == 1 and isinstance(node.args[0], ast.Name):
            return "type(self)" if node.args[0].id in ("self", "cls") else None
    return None


def _arguments(args: ast.arguments) -> list[ast.arg]:
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]


def _collect(body: list[ast.AST]) -> tuple[set[str], dict[str, tuple[str, ...]], set[str]]:
    """The names a scope's body binds (not by import), the ones it imports, its globals."""
    stores: set[str] = set()
    imports: dict[str, tuple[str, ...]] = {}
    declared: set[str] = set()
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stores.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, *_COMPREHENSIONS)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            stores.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for imported in _imports(node, 0, False):
                imports[imported.bound] = (*imports.get(imported.bound, ()), imported.path)
        elif isinstance(node, ast.Global):
            declared.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            stores.update(node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            stores.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            stores.add(node.rest)
        stack.extend(ast.iter_child_nodes(node))
    return stores, imports, declared


def _imports(node: ast.Import | ast.ImportFrom, line: int, module_scope: bool) -> Iterator[_Import]:
    for alias in node.names:
        if isinstance(node, ast.Import):
            top = alias.name.split(".")[0]
            bound = alias.asname or top
            path = alias.name if alias.asname else top
            yield _Import(bound, path, alias.name, line, module_scope, statement=True)
        elif alias.name != "*":
            base = "." * node.level + (node.module or "")
            path = f"{base}.{alias.name}" if base and not base.endswith(".") else base + alias.name
            yield _Import(alias.asname or alias.name, path, path, line, module_scope)


class _Walker:
    """Everything :func:`delegated` and :func:`unfollowable` need to know about some code."""

    def __init__(self) -> None:
        self.facts = _Facts()
        self.roles: dict[int, tuple[str, str]] = {}

    def module(self, nodes: list[ast.AST]) -> _Facts:
        self._walk(nodes, _Ctx())
        return self.facts

    # scopes

    def _nested(self, ctx: _Ctx) -> _Ctx:
        return ctx.enclosing or ctx

    def _function(self, args: ast.arguments, body: list[ast.AST], ctx: _Ctx) -> None:
        outer = self._nested(ctx)
        params = {a.arg for a in _arguments(args) if a is not None}
        stores, imports, declared = _collect(body)
        own = (params | stores) - declared - set(imports)
        merged = {**outer.imports, **imports}
        inner = _Ctx(
            module=False,
            locals=frozenset((outer.locals - set(imports) | own) - declared),
            imports={name: paths for name, paths in merged.items() if name not in own},
            params=frozenset(params),
            globals=frozenset(declared),
        )
        self._walk(body, inner)

    def _class(self, body: list[ast.AST], ctx: _Ctx) -> None:
        outer = self._nested(ctx)
        stores, imports, _ = _collect(body)
        merged = {**outer.imports, **imports}
        inner = replace(
            outer,
            module=False,
            locals=frozenset(outer.locals - set(imports) | stores),
            imports={name: paths for name, paths in merged.items() if name not in stores},
            enclosing=outer,
        )
        self._walk(body, inner)

    def _comprehension(self, node: ast.AST, ctx: _Ctx) -> None:
        generators = node.generators
        self._walk([generators[0].iter], ctx)
        outer = self._nested(ctx)
        targets = set()
        for generator in generators:
            targets |= {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
        inner = replace(
            outer,
            module=False,
            locals=frozenset(outer.locals | targets),
            imports={k: v for k, v in outer.imports.items() if k not in targets},
            enclosing=None,
        )
        parts: list[ast.AST] = [*generators[0].ifs]
        for generator in generators[1:]:
            parts += [generator.iter, *generator.ifs]
        if isinstance(node, ast.DictComp):
            parts += [node.key, node.value]
        else:
            parts.append(node.elt)
        self._walk(parts, inner)

    # nodes

    def _walk(self, nodes: list[ast.AST], ctx: _Ctx) -> None:
        stack = [node for node in reversed(nodes) if node is not None]
        while stack:
            node = stack.pop()
            kind = type(node)
            if kind is ast.Name:
                self._name(node, ctx)
            elif kind in _LEAVES:
                continue
            elif kind is ast.Attribute or (kind is ast.Call and _getattr_constant(node)):
                self._attribute(node, ctx, stack)
            elif kind is ast.Call:
                self._call(node, ctx, stack)
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                if node.name in INTERCEPTING_METHODS:
                    self.facts.intercepts.append((node.lineno, node.name))
                args = node.args
                parts = [*node.decorator_list, *args.defaults, *args.kw_defaults, node.returns]
                parts += [a.annotation for a in _arguments(args) if a is not None]
                stack += [part for part in parts if part is not None]
                self._function(args, node.body, ctx)
            elif kind is ast.Lambda:
                stack += [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
                self._function(node.args, [node.body], ctx)
            elif kind is ast.ClassDef:
                for base in node.bases:
                    spelled = base.value if isinstance(base, ast.Subscript) else base
                    self.roles[id(spelled)] = ("base", node.name)
                stack += [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]
                self._class(node.body, ctx)
            elif kind in _COMPREHENSIONS:
                self._comprehension(node, ctx)
            elif kind is ast.Import or kind is ast.ImportFrom:
                self._import(node, ctx)
            else:
                if kind is ast.Subscript and isinstance(node.ctx, (ast.Store, ast.Del)):
                    self._mutate(_root_name(node.value), ctx)
                    self._patch(node.value, (), node.lineno, ctx, container=True)
                elif kind is ast.keyword and node.arg == "requires_grad":
                    value = node.value
                    if not (isinstance(value, ast.Constant) and value.value in (False, None)):
                        self.facts.autograd.append((value.lineno, "passes requires_grad=", None))
                elif kind is ast.Dict:
                    for key in node.keys:
                        if isinstance(key, ast.Constant) and key.value == "requires_grad":
                            self.facts.autograd.append((key.lineno, "passes requires_grad=", None))
                        if isinstance(key, ast.Constant) and key.value in INTERCEPTING_METHODS:
                            self.facts.intercepts.append((key.lineno, key.value))
                if kind is ast.keyword and node.arg in INTERCEPTING_METHODS:
                    self.facts.intercepts.append((node.value.lineno, node.arg))
                for name in reversed(node._fields):
                    value = getattr(node, name, None)
                    if isinstance(value, list):
                        stack += [item for item in reversed(value) if isinstance(item, ast.AST)]
                    elif isinstance(value, ast.AST):
                        stack.append(value)

    def _name(self, node: ast.Name, ctx: _Ctx) -> None:
        if node.id in INTERCEPTING_METHODS:
            self.facts.intercepts.append((node.lineno, node.id))
        if isinstance(node.ctx, ast.Load):
            role = self.roles.get(id(node), ("load", ""))
            self._use(node.id, (), node.lineno, ctx, role)
        elif ctx.module or node.id in ctx.globals:
            self.facts.stores.append((node.id, node.lineno))
            if not ctx.module:
                self.facts.global_stores.add(node.id)

    def _use(self, root: str, attrs: tuple[str, ...], line: int, ctx: _Ctx, role) -> None:
        if root in ctx.locals:
            return
        local = ctx.imports.get(root)
        if local is None:
            self.facts.free.add(root)
        if root in DYNAMIC_NAMES:
            self.facts.dynamic.append((line, f"{root}()"))
        if root in ("getattr", "setattr", "delattr") and not attrs and role[0] != "call":
            self.facts.dynamic.append((line, f"{root} as a value"))
        if root in DYNAMIC_ATTRIBUTES:
            self.facts.dynamic.append((line, root))
        self.facts.chains.append(_Chain(root, attrs, line, role[0], role[1], local))

    def _attribute(self, node: ast.AST, ctx: _Ctx, stack: list[ast.AST]) -> None:
        root, attrs, extras = _chain(node)
        stack.extend(extras)
        line = node.lineno
        stored = isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del))
        token = _base_token(root)
        for index, attr in enumerate(attrs):
            if attr in DYNAMIC_ATTRIBUTES:
                self.facts.dynamic.append((line, f".{attr}"))
            if attr in INTERCEPTING_METHODS:
                self.facts.intercepts.append((line, attr))
            receiver = token if index == 0 else None
            if attr == "backward":
                self.facts.autograd.append((line, "calls .backward()", receiver))
            elif attr in ("requires_grad_", "retain_grad", "register_hook"):
                self.facts.autograd.append((line, f"calls .{attr}()", None))
            elif attr == "grad_fn":
                self.facts.autograd.append((line, "reads .grad_fn", None))
            elif attr == "requires_grad" and stored and index == len(attrs) - 1:
                self.facts.autograd.append((line, "sets .requires_grad", None))
        role = ("store", "") if stored else self.roles.get(id(node), ("load", ""))
        if isinstance(root, ast.Name):
            if stored:
                self._mutate(root.id, ctx)
                self._patch(root, attrs, line, ctx)
            self._use(root.id, attrs, line, ctx, role)
        else:
            stack.append(root)

    def _call(self, node: ast.Call, ctx: _Ctx, stack: list[ast.AST]) -> None:
        func, args, line = node.func, node.args, node.lineno
        if isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "delattr"):
            if func.id not in ctx.locals:
                name = args[1] if len(args) > 1 else None
                constant = isinstance(name, ast.Constant) and isinstance(name.value, str)
                if not constant:
                    self.facts.getattrs.append((line, func.id, *self._receiver(args, ctx)))
                elif name.value in DYNAMIC_ATTRIBUTES:
                    self.facts.dynamic.append((line, f".{name.value}"))
                elif name.value == "requires_grad" and func.id == "setattr":
                    self.facts.autograd.append((line, "sets .requires_grad", None))
                if constant and name.value in INTERCEPTING_METHODS:
                    self.facts.intercepts.append((line, name.value))
                if func.id != "getattr" and args:
                    self._mutate(_root_name(args[0]), ctx)
                    if constant:
                        self._patch(args[0], (name.value,), line, ctx)
        elif isinstance(func, ast.Attribute) and func.attr in _MUTATORS:
            self._mutate(_root_name(func.value), ctx)
            if func.attr in ("__setattr__", "__delattr__") and args:
                self._mutate(_root_name(args[0]), ctx)
                # ``torch.__setattr__("isclose", f)``, ``object.__setattr__(torch, "isclose", f)``
                second = args[1] if len(args) > 1 else None
                for owner, name in ((func.value, args[0]), (args[0], second)):
                    named = isinstance(name, ast.Constant) and isinstance(name.value, str)
                    self._patch(owner, (name.value if named else func.attr,), line, ctx)
                    if named and name.value in INTERCEPTING_METHODS:
                        self.facts.intercepts.append((line, name.value))
            else:
                self._patch(func.value, (), line, ctx, container=True)
        if isinstance(func, ast.Name):
            names = [a.id for a in args if isinstance(a, ast.Name)]
            names += [k.value.id for k in node.keywords if isinstance(k.value, ast.Name)]
            if names:
                self.facts.passes.append((func.id, tuple(names)))
        self.roles[id(func)] = ("call", "")
        stack += [*reversed(node.keywords), *reversed(args), func]

    def _receiver(self, args: list[ast.AST], ctx: _Ctx) -> tuple[str | None, str | None]:
        """What a getattr with a computed name is taken of: ("type", None) for type(x),
        super() or a dunder; ("name", root) for a name not local to the function."""
        if not args:
            return None, None
        root, attrs, _ = _chain(args[0])
        if any(a.startswith("__") for a in attrs):
            return "type", None
        if (
            isinstance(root, ast.Call)
            and isinstance(root.func, ast.Name)
            and root.func.id in ("type", "super")
            and root.func.id not in ctx.locals
        ):
            return "type", None
        if isinstance(root, ast.Name) and root.id not in ctx.locals:
            return "name", root.id
        return None, None

    def _patch(
        self, node: ast.AST, attrs: tuple[str, ...], line: int, ctx: _Ctx, container: bool = False
    ) -> None:
        """Note that code changes ``node.attrs`` (or its contents): judged once names resolve."""
        while isinstance(node, ast.Subscript):  # ``x.hooks[0][1] = f`` changes x.hooks
            node = node.value
        if (chain := _pure(node)) is None or chain[0] in ctx.locals:
            return
        root, inner = chain
        local = ctx.imports.get(root)
        self.facts.patches.append(
            (_Chain(root, (*inner, *attrs), line, "store", "", local), container)
        )

    def _mutate(self, root: str | None, ctx: _Ctx) -> None:
        if root is None:
            return
        if root in ctx.params:
            self.facts.mutates_params = True
        if root not in ctx.locals and root not in ctx.imports:
            self.facts.mutated.add(root)

    def _import(self, node: ast.Import | ast.ImportFrom, ctx: _Ctx) -> None:
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            self.facts.stars.append(("." * node.level + (node.module or ""), node.lineno))
        for imported in _imports(node, node.lineno, ctx.module):
            self.facts.imports.append(imported)
            if ctx.module or imported.bound in ctx.globals:
                self.facts.stores.append((imported.bound, node.lineno))
                if not ctx.module:
                    self.facts.global_stores.add(imported.bound)


# --- the program: top-level units of code and what binds what --------------------------------


@dataclass(slots=True)
class _Unit:
    """One top-level definition or statement (or the header of a top-level if/for/with…)."""

    nodes: list[ast.AST]
    order: int
    student: bool
    facts: _Facts
    defines: str | None = None  # the def/class name
    is_class: bool = False
    binds: set[str] = field(default_factory=set)
    #: ``name = a.b.c``: name -> [(root, attrs)]; the code of such a statement is only an alias.
    aliases: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    pure: bool = False


def _alias_pairs(stmt: ast.AST) -> tuple[list[tuple[str, str, tuple[str, ...]]], bool]:
    """``x = a.b``, ``x, y = a, b.c``, ``for x in (a, b):`` as (name, root, attrs) triples,
    and whether the statement is nothing but such aliases."""
    pairs: list[tuple[str, str, tuple[str, ...]]] = []

    def pair(target: ast.AST, value: ast.AST | None) -> bool:
        if isinstance(target, ast.Name) and (chain := _pure(value)):
            pairs.append((target.id, *chain))
            return True
        if (
            isinstance(target, (ast.Tuple, ast.List))
            and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
        ):
            return all([pair(t, v) for t, v in zip(target.elts, value.elts, strict=True)])
        return False

    if isinstance(stmt, ast.Assign):
        return pairs, all([pair(target, stmt.value) for target in stmt.targets])
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        return pairs, pair(stmt.target, stmt.value)
    if (
        isinstance(stmt, (ast.For, ast.AsyncFor))
        and isinstance(stmt.target, ast.Name)
        and isinstance(stmt.iter, (ast.Tuple, ast.List))
    ):
        return pairs, all([pair(stmt.target, element) for element in stmt.iter.elts])
    return pairs, False


class _Full(Exception):
    """More top-level statements than the grader reads."""


class _Program:
    """The student's cells and the instructor's context, read into top-level units."""

    def __init__(self, cells: Any, context: Any) -> None:
        self.reasons: list[str] = []
        self.units: list[_Unit] = []
        self._order = 0
        for source in self._sources(context, student=False):
            tree, _, _ = _parse(source)
            if tree is not None:
                self._add(tree, student=False)
        for source in self._sources(cells, student=True):
            tree, reason, magics = _parse(source)
            if reason:
                self.reasons.append(reason)
            for line, magic in magics:
                self.reasons.append(f"line {line} of a cell uses the %{magic} magic: {DYNAMIC}")
            if tree is not None and not self._add(tree, student=True):
                break
        self.student = [unit for unit in self.units if unit.student]
        self.classes = {unit.defines for unit in self.student if unit.is_class}
        self.stars = list(dict.fromkeys(s for unit in self.units for s, _ in unit.facts.stars))

    def _sources(self, cells: Any, student: bool) -> list[str]:
        """The cells that fit in MAX_CHARS, in order."""
        if isinstance(cells, str) or not isinstance(cells, Iterable):
            cells = [cells]
        sources, total = [], 0
        for source in cells:
            if not isinstance(source, str):
                continue
            total += len(source)
            if total > MAX_CHARS:
                if student:
                    self.reasons.append(TOO_LONG)
                break
            sources.append(source)
        return sources

    def _add(self, tree: ast.Module, student: bool) -> bool:
        """Read a cell's statements; False when there is no room for more."""
        start = len(self.units)
        try:
            self._statements(tree.body, student)
        except (RecursionError, MemoryError):
            del self.units[start:]
            if student:
                self.reasons.append(NESTED)
        except _Full:
            if student:
                self.reasons.append(TOO_MANY)
            return False
        return True

    def _unit(self, nodes: list[ast.AST], student: bool, stmt: ast.AST | None = None) -> None:
        if len(self.units) >= MAX_STATEMENTS:
            raise _Full
        facts = _Walker().module(nodes)
        unit = _Unit(nodes, self._order, student, facts)
        self._order += 1
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            unit.defines = stmt.name
            unit.is_class = isinstance(stmt, ast.ClassDef)
            unit.binds.add(stmt.name)
        elif isinstance(stmt, ast.ExceptHandler) and stmt.name:
            unit.binds.add(stmt.name)
        unit.binds |= {name for name, _ in facts.stores} | facts.global_stores
        if stmt is not None:
            unit.aliases, unit.pure = _alias_pairs(stmt)
        self.units.append(unit)

    def _statements(self, body: list[ast.stmt], student: bool) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.If, ast.While)):
                self._unit([stmt.test], student)
                self._statements(stmt.body + stmt.orelse, student)
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                self._unit([stmt.target, stmt.iter], student, stmt)
                self._statements(stmt.body + stmt.orelse, student)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                self._unit(list(stmt.items), student)
                self._statements(stmt.body, student)
            elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                self._statements(stmt.body, student)
                for handler in stmt.handlers:
                    self._unit([handler.type] if handler.type else [], student, handler)
                    self._statements(handler.body, student)
                self._statements(stmt.orelse + stmt.finalbody, student)
            elif isinstance(stmt, ast.Match):
                self._unit([stmt.subject], student)
                for case in stmt.cases:
                    self._unit([case.pattern, case.guard], student)
                    self._statements(case.body, student)
            else:
                self._unit([stmt], student, stmt)

    # names

    def aliases(self, live=lambda unit, name: True) -> dict[str, set[str]]:
        """Every top-level name an import (or ``x = alias.attr``) binds, to the dotted paths
        it may stand for."""
        paths: dict[str, set[str]] = {}
        pending: list[tuple[str, str, tuple[str, ...]]] = []
        for unit in self.units:
            for imported in unit.facts.imports:
                if imported.module_scope and live(unit, imported.bound):
                    paths.setdefault(imported.bound, set()).add(imported.path)
            pending += [entry for entry in unit.aliases if live(unit, entry[0])]
        for _ in range(8):
            changed = False
            for name, root, attrs in pending:
                for path in list(paths.get(root, ())):
                    new = ".".join((path, *attrs))
                    known = paths.setdefault(name, set())
                    if new not in known and len(known) < _MAX_PATHS:
                        known.add(new)
                        changed = True
            if not changed:
                break
        return paths

    def _paths(self, chain: _Chain, aliases: dict[str, set[str]], bound: set[str]) -> set[str]:
        if chain.local is not None:
            roots = set(chain.local)
        elif chain.root in aliases:
            roots = aliases[chain.root]
        elif chain.root not in bound and not hasattr(builtins, chain.root):
            # ``from torch.optim import *`` may be where an unbound name comes from.
            roots = set()
            for star in self.stars:
                found = _lookup(star)[0]
                if isinstance(found, types.ModuleType):
                    try:
                        inspect.getattr_static(found, chain.root)
                    except AttributeError:
                        continue
                    roots.add(f"{star}.{chain.root}")
                elif star and _unreadable(star.split(".")[0]):
                    roots.add(f"{star}.{chain.root}")
        else:
            roots = set()
        return {".".join((root, *chain.attrs)) for root in roots}

    # delegated

    def delegated(self, target: str, judge: _Judge) -> list[str]:
        defs = [unit for unit in self.student if unit.defines == target]
        first = min((unit.order for unit in defs), default=None)

        def live(unit: _Unit, name: str) -> bool:
            # A binding of the target before it is defined (``from torch.optim import SGD`` to
            # try torch's) is not what the exercise's check receives.
            return not (
                name == target
                and first is not None
                and unit.order < first
                and name not in unit.facts.global_stores
            )

        aliases = self.aliases(live)
        bindings: dict[str, list[_Unit]] = {}
        for unit in self.student:
            for name in unit.binds:
                if live(unit, name):
                    bindings.setdefault(name, []).append(unit)
        bound = {name for unit in self.units for name in unit.binds}
        own = {
            name
            for unit in self.student
            for name in unit.binds - {i.bound for i in unit.facts.imports if i.module_scope}
        }
        mutates_params = {u.defines for u in self.student if u.defines and u.facts.mutates_params}

        # Indexes for what reaches what: code that changes a name (``SGD.step = …``,
        # ``setattr(SGD, …)``), names that alias one (``S = SGD``), functions that change
        # what they are passed (``patch(SGD)``).
        changers: dict[str, list[_Unit]] = {}
        aliased: dict[str, list[str]] = {}
        passed_to: dict[str, list[str]] = {}
        for unit in self.student:
            for name in unit.facts.mutated:
                changers.setdefault(name, []).append(unit)
            for name, root, _ in unit.aliases:
                aliased.setdefault(root, []).append(name)
            for callee, passed in unit.facts.passes:
                if callee in mutates_params:
                    for name in passed:
                        passed_to.setdefault(name, []).append(callee)

        names: set[str] = set()
        related: set[str] = set()
        reached: list[_Unit] = []
        seen: set[int] = set()
        units: list[_Unit] = []
        to_reach, to_relate = [target], []
        while units or to_reach or to_relate:
            if to_reach:
                name = to_reach.pop()
                if name not in names:
                    names.add(name)
                    units += bindings.get(name, [])
                    to_relate.append(name)
            elif to_relate:
                name = to_relate.pop()
                if name not in related:
                    related.add(name)
                    if name in own:
                        units += changers.get(name, [])
                    to_reach += passed_to.get(name, [])
                    to_relate += aliased.get(name, [])
            else:
                unit = units.pop()
                if id(unit) not in seen:
                    seen.add(id(unit))
                    reached.append(unit)
                    to_reach += unit.facts.free - names

        out: list[str] = []
        for unit in reached:
            if unit.pure and target not in unit.binds:
                continue  # ``helper = torch.optim.Adam``: judged where helper is used
            aliasing = unit.pure and target in unit.binds  # ``SGD = torch.optim.SGD``
            for chain in unit.facts.chains:
                role = "is" if aliasing and chain.role == "load" else chain.role
                for path in sorted(self._paths(chain, aliases, bound)):
                    if verdict := judge.verdict(path):
                        out.append(judge.sentence(target, *verdict, role, chain.owner))
            for imported in unit.facts.imports:
                binding = imported.module_scope and imported.bound == target
                if binding and live(unit, target) and (verdict := judge.verdict(imported.path)):
                    out.append(judge.sentence(target, *verdict, "is", ""))
            if judge.autograd:
                out += self._autograd(unit, target, judge)
        return out

    def _autograd(self, unit: _Unit, target: str, judge: _Judge) -> Iterator[str]:
        receivers = {"self", "cls", "super()", "type(self)", target} | self.classes
        yourself = f"write {judge.task} yourself"
        for _, what, receiver in unit.facts.autograd:
            if what == "calls .backward()" and receiver in receivers:
                continue
            yield f"{target} {what} (autograd): {yourself}"
        for _, function, _, _ in unit.facts.getattrs:
            hides = "with a computed name, which could hide .backward()"
            yield f"{target} uses {function}() {hides}: {yourself}"

    # unfollowable

    def unfollowable(self) -> list[str]:
        aliases = self.aliases()
        context_helpers = {
            name
            for unit in self.units
            if not unit.student
            for imported in unit.facts.imports
            if imported.module_scope and _under(imported.path, "autograder")
            for name in [imported.bound]
        }
        bound = {name for unit in self.units for name in unit.binds}
        typeish = set(aliases) | {u.defines for u in self.student if u.defines}
        modules = frozenset(
            ".".join(parts[: index + 1])
            for unit in self.units
            for imported in unit.facts.imports
            if imported.statement
            for parts in [imported.imported.split(".")]
            for index in range(len(parts))
        )
        out = list(self.reasons)
        for unit in self.student:
            facts = unit.facts
            out += self._process_wide(facts, aliases, bound, modules)
            out += [f"line {line} of a cell uses {what}: {DYNAMIC}" for line, what in facts.dynamic]
            for imported in facts.imports:
                where = f"line {imported.line} of a cell"
                if module := _dynamic_module(imported.imported):
                    out.append(f"{where} uses the {module} module: {DYNAMIC}")
                if name := _dynamic_callable(imported.path):
                    out.append(f"{where} uses {name}: {DYNAMIC}")
                if _under(imported.imported, "autograder"):
                    out.append(f"{where} imports {imported.imported}: {HELPERS}")
            for star, line in facts.stars:
                if module := _dynamic_module(star):
                    out.append(f"line {line} of a cell uses the {module} module: {DYNAMIC}")
                if _under(star, "autograder"):
                    out.append(f"line {line} of a cell imports {star}: {HELPERS}")
            for line, function, kind, root in facts.getattrs:
                if kind == "type" or (
                    kind == "name"
                    and (
                        root in typeish
                        or (root not in bound and isinstance(getattr(builtins, root, None), type))
                    )
                ):
                    out.append(
                        f"line {line} of a cell uses {function}() with a computed name: {DYNAMIC}"
                    )
            for chain in facts.chains:
                where = f"line {chain.line} of a cell"
                roots = set(chain.local) if chain.local is not None else aliases.get(chain.root)
                for root in sorted(roots or ()):
                    path = ".".join((root, *chain.attrs))
                    if module := _dynamic_module(path):
                        out.append(f"{where} uses the {module} module: {DYNAMIC}")
                    if name := _dynamic_callable(path):
                        out.append(f"{where} uses {name}: {DYNAMIC}")
                    if _under(path, "autograder") and not self._self_check(chain, roots):
                        out.append(f"{where} uses {path}: {HELPERS}")
            for name, line in facts.stores:
                if name in context_helpers:
                    out.append(f"line {line} of a cell rebinds {name}: {HELPERS}")
        return out

    def _process_wide(
        self, facts: _Facts, aliases: dict[str, set[str]], bound: set[str], modules: frozenset[str]
    ) -> Iterator[str]:
        """Code that changes how torch or Python runs for the whole process: what it computes
        is out of reach of any reading that starts from the exercise."""

        def changes(line: int, what: str) -> str:
            runs = "Python" if what.startswith("threading") else "torch"
            where = f"line {line} of a cell"
            return f"{where} changes how {runs} runs for the whole process ({what}): {OPAQUE}"

        for imported in facts.imports:
            for path in (imported.path, imported.imported):
                if what := _intercepting(path):
                    yield changes(imported.line, what)
        for star, line in facts.stars:
            if what := _intercepting(star):
                yield changes(line, what)
        for line, name in facts.intercepts:
            yield changes(line, name)
        for chain in facts.chains:
            for path in sorted(self._paths(chain, aliases, bound)):
                if what := _intercepting(path):
                    yield changes(chain.line, what)
        for chain, container in facts.patches:
            for path in sorted(self._paths(chain, aliases, bound)):
                refused = _under(path, "autograder") or _dynamic_module(path)  # said already
                if not refused and _patches(path, container, modules):
                    where = f"line {chain.line} of a cell"
                    yield f"{where} changes {path} for the whole process: {OPAQUE}"

    @staticmethod
    def _self_check(chain: _Chain, roots: set[str]) -> bool:
        """``checks.check_sgd(SGD)``: a student may run the visible checks on their code."""
        return (
            chain.role == "call"
            and len(chain.attrs) == 1
            and chain.attrs[0].startswith("check_")
            and all(len(root.split(".")) == 2 and _under(root, "autograder") for root in roots)
        )


def _unique(sentences: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(sentences))[:_MAX_SENTENCES]


__all__ = ["delegated", "delegated_at_run_time", "unfollowable"]
