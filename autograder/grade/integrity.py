"""What student code must not change: a snapshot of torch, builtins and the checks, and a guard.

The grading worker imports torch and every check module, then calls :func:`snapshot` before any
student code runs. Student processes are forks of that worker, so the snapshot holds the very
objects the checks use. Before each grade cell the check process calls :func:`restore`, which puts
back every function, class or module a student replaced (and reports it); after the check,
:func:`changes` reports what the student's code replaced while the check ran.

:func:`install_audit_hook` adds a CPython audit hook (which cannot be removed once added) that
refuses, in student processes only, the operations used to reach past these defences: changing
attributes of torch's or the checks' classes, swapping a function's ``__code__``, walking the
garbage collector's object graph, and ``ctypes`` memory access. Each refusal is also written at
once to the worker's result pipe, so a student process that exits early cannot hide it.
"""

from __future__ import annotations

import operator
import os
import sys
import types
from collections.abc import Callable
from typing import Any

#: Top-level packages whose already-imported modules are protected, submodules included.
PROTECTED_PACKAGES = ("autograder",)
#: Individual modules that are protected (torch's namespace as the checks use it, and the stdlib).
PROTECTED_MODULES = (
    "builtins",
    "math",
    "random",
    "operator",
    "functools",
    "itertools",
    "copy",
    "numbers",
    "torch",
    "torch._tensor",
    "torch.functional",
    "torch.overrides",
    "torch.random",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.init",
    "torch.nn.parameter",
    "torch.autograd",
    "torch.autograd.grad_mode",
    "torch.autograd.function",
    "torch.optim",
    "torch.optim.optimizer",
    "torch.utils.data",
    "torch.testing",
    "torch.testing._comparison",
)
#: Packages whose modules under these prefixes are protected too (nn layers, optimizers, data).
PROTECTED_PREFIXES = ("torch.nn.modules.", "torch.optim.", "torch.utils.data.")
#: Class attributes Python or torch set by themselves during normal use.
CACHE_ATTRIBUTES = frozenset(
    {"__slotnames__", "_abc_impl", "__abstractmethods__", "__parameters__", "__annotations__"}
)
_MISSING = object()
_HEAPTYPE = 1 << 9

# name -> (module, its dict, keys, values); class -> (keys, values). Set once by snapshot().
_modules: dict[str, tuple[types.ModuleType, dict, list, list]] = {}
_classes: dict[type, tuple[frozenset, list, list]] = {}
_hooks: dict[str, int] = {}


def protected_module_names() -> list[str]:
    names = []
    for name, module in list(sys.modules.items()):
        if module is None:
            continue
        if (
            name in PROTECTED_MODULES
            or name.split(".")[0] in PROTECTED_PACKAGES
            or name.startswith(PROTECTED_PREFIXES)
        ):
            names.append(name)
    return sorted(names)


def _is_guarded_value(value: Any) -> bool:
    """Functions, classes and modules: what a patch replaces to change a check's result."""
    return callable(value) or isinstance(value, types.ModuleType)


def snapshot() -> None:
    """Remember the protected modules and classes as they are now (call before student code)."""
    _modules.clear()
    _classes.clear()
    for name in protected_module_names():
        module = sys.modules[name]
        namespace = vars(module)
        keys = [
            k
            for k, v in namespace.items()
            if _is_guarded_value(v) and (name == "builtins" or not k.startswith("__"))
        ]
        _modules[name] = (module, namespace, keys, [namespace[k] for k in keys])
        for value in list(namespace.values()):
            if _is_protected_class(value) and value not in _classes:
                items = dict(vars(value))
                keys = [k for k in items if k not in CACHE_ATTRIBUTES]
                _classes[value] = (frozenset(items), keys, [items[k] for k in keys])
    _hooks.update(_hook_counts())


def _is_protected_class(value: Any) -> bool:
    if not isinstance(value, type) or not value.__flags__ & _HEAPTYPE:
        return False
    owner = getattr(value, "__module__", None) or ""
    return owner.split(".")[0] in ("torch", "autograder")


def protected_class_ids() -> frozenset[int]:
    return frozenset(id(cls) for cls in _classes)


def _hook_counts() -> dict[str, int]:
    """Global state outside module dicts that can silently change what torch computes."""
    import torch
    from torch.nn.modules import module as nn_module

    counts = {
        "torch function modes": torch._C._len_torch_function_stack(),
        "torch dispatch modes": torch._C._len_torch_dispatch_stack(),
        "sys.settrace": int(sys.gettrace() is not None),
        "sys.setprofile": int(sys.getprofile() is not None),
        "sys.meta_path": len(sys.meta_path),
    }
    for name in dir(nn_module):
        if name.startswith("_global_") and name.endswith("hooks"):
            counts[f"torch.nn.modules.module.{name}"] = len(getattr(nn_module, name))
    return counts


def changes(fix: bool = False) -> list[str]:
    """What student code replaced in the protected modules and classes; undo it when ``fix``."""
    found = []
    for name, (module, namespace, keys, values) in _modules.items():
        if sys.modules.get(name) is not module:
            found.append(f"sys.modules[{name!r}] was replaced")
            if fix:
                sys.modules[name] = module
        current = list(map(namespace.get, keys, [_MISSING] * len(keys)))
        if any(map(operator.is_not, current, values)):
            for key, was, now in zip(keys, values, current, strict=True):
                if now is not was:
                    if not _torch_wrapper(now, was):
                        how = "deleted" if now is _MISSING else "replaced"
                        found.append(f"{name}.{key} was {how}")
                    if fix:
                        namespace[key] = was
    for cls, (all_keys, keys, values) in _classes.items():
        namespace = vars(cls)
        current = [namespace.get(k, _MISSING) for k in keys]
        added = [k for k in namespace if k not in all_keys and k not in CACHE_ATTRIBUTES]
        if added or any(map(operator.is_not, current, values)):
            label = f"{cls.__module__}.{cls.__qualname__}"
            for key in added:
                found.append(f"{label}.{key} was added")
                if fix:
                    type.__delattr__(cls, key)
            for key, was, now in zip(keys, values, current, strict=True):
                if now is not was:
                    found.append(
                        f"{label}.{key} was {'deleted' if now is _MISSING else 'replaced'}"
                    )
                    if fix:
                        type.__setattr__(cls, key, was)
    for what, count in _hook_counts().items():
        if count != _hooks.get(what, 0):
            found.append(f"{what} changed ({_hooks.get(what, 0)} -> {count})")
            if fix:
                _reset_hooks()
    return found


def _torch_wrapper(new: Any, old: Any) -> bool:
    """torch's own lazy wrapping (importing torch._dynamo wraps torch.manual_seed, say).

    Such a wrapper is still undone like any change, but it is not the student's doing.
    """
    code = getattr(new, "__code__", None)
    if getattr(new, "__wrapped__", None) is not old or code is None:
        return False
    import torch

    return code.co_filename.startswith(os.path.dirname(torch.__file__) + os.sep)


def _reset_hooks() -> None:
    import torch
    from torch.nn.modules import module as nn_module

    while torch._C._len_torch_function_stack() > _hooks["torch function modes"]:
        torch._C._pop_torch_function_stack()
    while torch._C._len_torch_dispatch_stack() > _hooks["torch dispatch modes"]:
        torch._C._pop_torch_dispatch_stack()
    sys.settrace(None)
    sys.setprofile(None)
    del sys.meta_path[_hooks["sys.meta_path"] :]
    for name in dir(nn_module):
        if name.startswith("_global_") and name.endswith("hooks"):
            getattr(nn_module, name).clear()


def restore() -> list[str]:
    """Undo every change to the protected state; return what was changed."""
    return changes(fix=True)


#: Audit events refused in student processes, and why.
REFUSED_EVENTS = {
    "gc.get_objects": "walking the garbage collector's objects",
    "gc.get_referrers": "walking the garbage collector's objects",
    "gc.get_referents": "walking the garbage collector's objects",
    "ctypes.dlopen": "loading a C library with ctypes",
    "ctypes.dlsym": "looking up C symbols with ctypes",
    "ctypes.string_at": "reading raw memory with ctypes",
    "ctypes.wstring_at": "reading raw memory with ctypes",
    "ctypes.addressof": "taking raw addresses with ctypes",
    "ctypes.cdata": "reading raw memory with ctypes",
}


def install_audit_hook(trusted_pid: int, report: Callable[[str], None]) -> None:
    """Refuse the events above, and attribute changes on protected classes, outside trusted_pid.

    ``report`` is called with a description before the operation is refused; it must not rely on
    state that student code can reach (the worker passes a function writing to a fixed fd).
    """
    guarded = protected_class_ids()
    refused = dict(REFUSED_EVENTS)
    getpid = os.getpid
    getframe = sys._getframe
    restorer = changes.__code__
    import torch

    torch_dir = os.path.dirname(torch.__file__) + os.sep

    def hook(event: str, args: tuple) -> None:
        if event in refused:
            why = refused[event]
        elif event in ("object.__setattr__", "object.__delattr__"):
            target, name = args[0], args[1]
            if id(target) in guarded:
                caller = getframe(1).f_code
                if caller is restorer or caller.co_filename.startswith(torch_dir):
                    return  # putting back what was there, or torch's own lazy set-up
                why = f"changing {getattr(target, '__qualname__', '?')}.{name}"
            elif name == "__code__":
                why = f"replacing the code of {getattr(target, '__qualname__', '?')}"
            else:
                return
        elif event == "open" and isinstance(args[0], str) and args[0].startswith("/proc/"):
            if not args[0].endswith(("/mem", "/maps")) and "/fd" not in args[0]:
                return
            why = f"opening {args[0]}"
        else:
            return
        if getpid() == trusted_pid:
            return
        report(why)
        raise PermissionError(f"autograder: {why} is not allowed while grading")

    sys.addaudithook(hook)


__all__ = ["changes", "install_audit_hook", "restore", "snapshot"]
