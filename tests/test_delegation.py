"""The grader's reading of what an exercise hands to torch: each rule catches a realistic
delegation and leaves the instructor's solutions (and a student's honest scratch work) alone."""

from __future__ import annotations

import pytest
from conftest import solution_cells

import autograder.backward  # noqa: F401 - each chapter's checks register their rules
import autograder.dataloader  # noqa: F401
import autograder.module  # noqa: F401
import autograder.optimizer  # noqa: F401
import autograder.samplers  # noqa: F401
from autograder.checking import REGISTRY
from autograder.delegation import (
    MAX_STATEMENTS,
    NESTED,
    TOO_LONG,
    TOO_MANY,
    delegated,
    delegated_at_run_time,
    unfollowable,
)

# The rules the chapters' checks declare: what is tested here is what grading applies.
OPTIMIZER = REGISTRY["optimizer.sgd"].refuses
SAMPLER = REGISTRY["samplers.random_sampler"].refuses
LINEAR = REGISTRY["module.my_linear"].refuses
GRADIENTS = REGISTRY["backward.lr_backward"].refuses
SWISH = REGISTRY["backward.swish"].refuses
COLLATE = REGISTRY["dataloader.my_collate"].refuses
LOADER = REGISTRY["dataloader.simple_loader"].refuses

SETUP = {
    "module": "import math\n\nimport torch\nfrom torch import nn\n\n"
    "from autograder import module as checks\n",
    "optimizer": "import math\n\nimport torch\n\nfrom autograder import optimizer as checks\n",
    "samplers": "import math\nfrom collections.abc import Iterable, Iterator, Sequence, Sized\n\n"
    "import torch\nimport torch.distributed as dist\n"
    "from torch.utils.data import Dataset, Sampler\n\n"
    "from autograder import samplers as checks\n",
    "backward": "import torch\nfrom torch import nn\n\nfrom autograder import backward as checks\n",
    "dataloader": "from typing import Any\n\nimport torch\n"
    "from torch.utils.data import Dataset, default_collate\n\n"
    "from autograder import dataloader as checks\n",
}


def notebook(stem: str) -> tuple[list[str], list[str]]:
    """(the student's cells, the locked context) of a solution notebook."""
    student, context = [], []
    for cell in solution_cells(stem):
        nbgrader = cell.metadata.get("nbgrader", {})
        if nbgrader.get("solution", False):
            student.append(cell.source)
        elif not nbgrader.get("grade", False):
            context.append(cell.source)
    return student, context


SAMPLERS = (
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "DistributedSampler",
)
SOLUTIONS = [
    ("01_module", "MyLinear", LINEAR),
    ("01_module", "MLP", LINEAR),
    ("04_optimizer", "SGD", OPTIMIZER),
    ("04_optimizer", "Adam", OPTIMIZER),
    *(("07_samplers", name, SAMPLER) for name in SAMPLERS),
    ("03_backward", "LR", GRADIENTS),
    ("03_backward", "Swish", SWISH),
    ("06_dataloader", "pad_collate", COLLATE),
    ("06_dataloader", "my_collate", COLLATE),
    ("06_dataloader", "simple_loader", LOADER),
]


def sgd(step: str, before: str = "", after: str = "") -> list[str]:
    """A student's SGD whose step has the given body, with code before and after it."""
    cls = (
        "class SGD(torch.optim.Optimizer):\n"
        "    def __init__(self, params, lr=1e-3):\n"
        "        super().__init__(params, {'lr': lr})\n\n"
        "    @torch.no_grad()\n"
        "    def step(self, closure=None):\n"
        + "".join(f"        {line}\n" for line in step.split("\n"))
    )
    return [cell for cell in (before, cls, after) if cell]


def only(sentences: list[str]) -> str:
    assert len(sentences) == 1, sentences
    return sentences[0]


# --- the solutions ---------------------------------------------------------------------------


@pytest.mark.parametrize(("stem", "target", "rule"), SOLUTIONS)
def test_the_solutions_delegate_nothing(stem, target, rule):
    student, context = notebook(stem)
    assert any(f"class {target}(" in c or f"def {target}(" in c for c in student)
    assert delegated(student, target, rule, context) == []


@pytest.mark.parametrize("stem", sorted({stem for stem, _, _ in SOLUTIONS}))
def test_the_solutions_are_followable(stem):
    student, context = notebook(stem)
    assert student and context
    assert unfollowable(student, context) == []


@pytest.mark.parametrize(("stem", "target", "rule"), SOLUTIONS)
def test_a_solution_with_torchs_method_copied_onto_it_is_caught(stem, target, rule):
    """The same solutions, then one top-level line that hands the work to torch: the reading
    does reach the solution's target (the [] above is not for want of finding it)."""
    student, context = notebook(stem)
    torchs = {
        "MyLinear": "MyLinear.forward = torch.nn.Linear.forward",
        "MLP": "MLP.forward = torch.nn.Sequential.forward",
        "SGD": "SGD.step = torch.optim.SGD.step",
        "Adam": "setattr(Adam, 'step', torch.optim.Adam.step)",
        "LR": "LR.backward = lambda self, x, yhat, y: self.w.backward()",
        "Swish": "Swish.backward = staticmethod(torch.autograd.Function.backward)",
        "pad_collate": "pad_collate = torch.utils.data.DataLoader",
        "my_collate": "my_collate = default_collate",
        "simple_loader": "simple_loader = torch.utils.data.DataLoader",
    }.get(target, f"{target}.__iter__ = torch.utils.data.{target}.__iter__")
    assert delegated([*student, torchs], target, rule, context) != []


# --- forbidden, however it is spelled --------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "shown"),
    [
        (sgd("torch.optim.SGD(self.param_groups).step()"), "torch.optim.SGD (torch.optim.sgd.SGD)"),
        (sgd("optim.SGD(self.param_groups)", before="from torch import optim"), "torch.optim.SGD"),
        (sgd("S(self.param_groups)", before="from torch.optim import SGD as S"), "torch.optim.SGD"),
        (sgd("o.sgd(self.param_groups)", before="import torch.optim as o"), "torch.optim.sgd"),
        (
            sgd("o._functional.sgd([], [], [])", before="import torch.optim as o"),
            "torch.optim._functional.sgd",
        ),
        (sgd("getattr(torch.optim, 'SGD')(self.param_groups)"), "torch.optim.SGD"),
        (sgd("from torch.optim import SGD as S\nS(self.param_groups)"), "torch.optim.SGD"),
        (sgd("Adam(self.param_groups)", before="from torch.optim import *"), "torch.optim.Adam"),
        (
            sgd("torch.utils.data.sampler.torch.optim.SGD(self.param_groups)"),
            "torch.utils.data.sampler.torch.optim.SGD (torch.optim.sgd.SGD)",
        ),
    ],
    ids=["torch.optim", "from-torch", "as", "submodule", "_functional", "getattr", "local", "star"]
    + ["through-another-module"],
)
def test_sgd_calling_torchs_optimizer_is_caught(cells, shown):
    sentence = only(delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]))
    assert sentence.startswith(f"SGD uses {shown}")
    assert sentence.endswith("write the update yourself")


def test_a_module_level_alias_used_in_step_is_caught():
    cells = sgd("_helper(self.param_groups)", before="_helper = torch.optim.Adam")
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == [
        "SGD uses torch.optim.Adam (torch.optim.adam.Adam): write the update yourself"
    ]


def test_a_module_alias_for_the_allowed_base_is_fine_and_for_the_rest_is_not():
    honest = ["optim = torch.optim", "class SGD(optim.Optimizer):\n    pass"]
    assert delegated(honest, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == []
    assert delegated(
        [*honest, "SGD.step = optim.SGD.step"], "SGD", OPTIMIZER, [SETUP["optimizer"]]
    ) == ["SGD uses torch.optim.SGD.step (torch.optim.sgd.SGD.step): write the update yourself"]


def test_the_allowed_base_and_its_methods_are_fine():
    cells = sgd("torch.optim.Optimizer.zero_grad(self)\nsuper().zero_grad()")
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == []
    deep = ["class SGD(torch.optim.optimizer.Optimizer):\n    pass"]
    assert delegated(deep, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == []


def test_a_subclass_of_torchs_layer_is_caught():
    cells = ["class MyLinear(nn.Linear):\n    pass"]
    assert delegated(cells, "MyLinear", LINEAR, [SETUP["module"]]) == [
        "MyLinear subclasses torch.nn.Linear: write the linear layer yourself"
    ]


@pytest.mark.parametrize(
    "forward",
    [
        "return F.linear(x, self.weight, self.bias)",
        "return torch.nn.functional.linear(x, self.weight, self.bias)",
        "return torch._C._nn.linear(x, self.weight, self.bias)",
    ],
    ids=["F", "full-path", "the-builtin"],
)
def test_functional_linear_in_forward_is_caught_by_identity(forward):
    cells = [
        "import torch.nn.functional as F",
        f"class MyLinear(nn.Module):\n    def forward(self, x):\n        {forward}",
    ]
    sentence = only(delegated(cells, "MyLinear", LINEAR, [SETUP["module"]]))
    assert sentence.startswith("MyLinear uses torch.")
    assert "linear" in sentence


def test_mlp_through_a_helper_that_builds_sequential_is_caught():
    cells = [
        "def layers(sizes):\n"
        "    return nn.Sequential(*(MyLinear(a, b) for a, b in zip(sizes, sizes[1:])))",
        "class MyLinear(nn.Module):\n    pass",
        "class MLP(nn.Module):\n    def __init__(self, sizes):\n        super().__init__()\n"
        "        self.net = layers(sizes)",
    ]
    assert delegated(cells, "MLP", LINEAR, [SETUP["module"]]) == [
        "MLP uses torch.nn.Sequential (torch.nn.modules.container.Sequential): "
        "write the linear layer yourself"
    ]


SAMPLER_HEAD = (
    "class RandomSampler(Sampler[int]):\n    def __init__(self, data):\n        self.data = data\n"
)


@pytest.mark.parametrize(
    "cells",
    [
        [SAMPLER_HEAD, "RandomSampler.__iter__ = torch.utils.data.RandomSampler.__iter__"],
        [SAMPLER_HEAD + "    __iter__ = torch.utils.data.sampler.RandomSampler.__iter__"],
        [SAMPLER_HEAD, "S = RandomSampler\nS.__iter__ = torch.utils.data.RandomSampler.__iter__"],
        [
            SAMPLER_HEAD,
            "def patch(cls):\n    cls.__iter__ = torch.utils.data.RandomSampler.__iter__",
            "patch(RandomSampler)",
        ],
        ["class RandomSampler(torch.utils.data.RandomSampler):\n    pass"],
        [
            SAMPLER_HEAD + "    def __iter__(self):\n"
            "        return iter(torch.utils.data.distributed.DistributedSampler(self.data))"
        ],
    ],
    ids=["assigned", "class-body", "through-an-alias", "through-a-function", "base", "distributed"],
)
def test_torchs_sampler_copied_or_subclassed_is_caught(cells):
    sentence = only(delegated(cells, "RandomSampler", SAMPLER, [SETUP["samplers"]]))
    assert "torch.utils.data." in sentence
    assert sentence.endswith("write the sampler yourself")


LR_HEAD = (
    "class LR(nn.Module):\n"
    "    def forward(self, x):\n        return self.sigmoid(self.w.T @ x + self.b)\n"
    "    def backward(self, x, yhat, y):\n"
)


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("loss = ((yhat - y) ** 2).mean()\n        loss.backward()", "calls .backward()"),
        ("torch.Tensor.backward(yhat.sum())", "calls .backward()"),
        ("self.w.requires_grad_()", "calls .requires_grad_()"),
        ("w = torch.zeros(3, requires_grad=True)", "passes requires_grad="),
        ("self.w.requires_grad = True", "sets .requires_grad"),
        ("getattr(yhat.sum(), 'back' + 'ward')()", "uses getattr() with a computed name"),
        ("dw, = torch.autograd.grad(yhat.sum(), [self.w])", "uses torch.autograd.grad"),
        ("with torch.enable_grad():\n            pass", "uses torch.enable_grad"),
        ("dw = torch.func.grad(lambda w: w.sum())(self.w)", "uses torch.func.grad"),
        ("loss = nn.BCELoss()(yhat, y)", "uses torch.nn.BCELoss"),
    ],
    ids=["loss.backward", "Tensor.backward", "requires_grad_", "requires_grad=", "set-flag"]
    + ["getattr", "autograd.grad", "enable_grad", "func.grad", "BCELoss"],
)
def test_autograd_in_a_hand_written_backward_is_caught(body, what):
    sentences = delegated([LR_HEAD + f"        {body}"], "LR", GRADIENTS, [SETUP["backward"]])
    assert any(s.startswith(f"LR {what}") for s in sentences), sentences
    assert all(s.endswith("write the gradients and the update yourself") for s in sentences)


def test_the_class_may_call_its_own_backward_and_turn_autograd_off():
    body = (
        "        self.grads = {}\n"
        "    def optimize(self, x, yhat, y):\n"
        "        self.backward(x, yhat, y)\n        LR.backward(self, x, yhat, y)\n"
        "        super().backward() if False else None\n"
        "        with torch.no_grad():\n            self.w = self.w - 0.1\n"
    )
    assert delegated([LR_HEAD + body], "LR", GRADIENTS, [SETUP["backward"]]) == []


def test_swish_may_subclass_the_allowed_function_but_not_use_autograd():
    honest = (
        "class Swish(torch.autograd.Function):\n"
        "    @staticmethod\n    def forward(ctx, x):\n"
        "        s = torch.sigmoid(x)\n        ctx.save_for_backward(x, s)\n        return x * s\n"
    )
    assert delegated([honest], "Swish", SWISH, [SETUP["backward"]]) == []
    lazy = honest + (
        "    @staticmethod\n    def backward(ctx, grad):\n"
        "        x, _ = ctx.saved_tensors\n"
        "        with torch.enable_grad():\n"
        "            x = x.detach().requires_grad_()\n"
        "            return torch.autograd.grad(torch.nn.functional.silu(x), x, grad)\n"
    )
    sentences = delegated([lazy], "Swish", SWISH, [SETUP["backward"]])
    assert (
        "Swish calls .requires_grad_() (autograd): write Swish's forward and backward yourself"
        in (sentences)
    )
    assert any("torch.nn.functional.silu" in s for s in sentences)
    assert any("torch.autograd.grad" in s for s in sentences)


@pytest.mark.parametrize(
    ("cells", "context"),
    [
        (["def my_collate(batch):\n    return default_collate(batch)"], [SETUP["dataloader"]]),
        (
            [
                "from torch.utils.data import default_collate",
                "def my_collate(batch):\n    return default_collate(batch)",
            ],
            [],
        ),
        (
            [
                "def my_collate(batch):\n"
                "    return torch.utils.data._utils.collate.default_collate(batch)"
            ],
            [SETUP["dataloader"]],
        ),
        (["my_collate = default_collate"], [SETUP["dataloader"]]),
    ],
    ids=["setup-import", "own-import", "private-path", "rebound"],
)
def test_default_collate_in_my_collate_is_caught(cells, context):
    sentence = only(delegated(cells, "my_collate", COLLATE, context))
    assert "default_collate" in sentence
    assert sentence.endswith("write the collation yourself")


def test_simple_loader_may_default_to_default_collate_but_not_wrap_dataloader():
    honest = (
        "def simple_loader(dataset, collate_fn=None):\n"
        "    collate = collate_fn or default_collate\n"
    )
    assert delegated([honest], "simple_loader", LOADER, [SETUP["dataloader"]]) == []
    lazy = honest + "    yield from torch.utils.data.DataLoader(dataset, collate_fn=collate)\n"
    assert delegated([lazy], "simple_loader", LOADER, [SETUP["dataloader"]]) == [
        "simple_loader uses torch.utils.data.DataLoader "
        "(torch.utils.data.dataloader.DataLoader): write the loader loop yourself"
    ]


# --- the course's own helpers ----------------------------------------------------------------


def test_the_course_helpers_are_refused_whatever_the_rule():
    cells = sgd("checks.some_helper(self)")
    expected = (
        "SGD uses autograder.optimizer.some_helper, one of the course's own reference helpers: "
        "write the update yourself"
    )
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == [expected]
    sentence = only(delegated(cells, "SGD", None, [SETUP["optimizer"]]))
    assert "autograder.optimizer.some_helper" in sentence


def test_code_the_grader_cannot_read_is_refused():
    cells = ["import mysgd", "class SGD(mysgd.Base):\n    pass"]
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == [
        "SGD uses mysgd.Base, from code the grader cannot read: write the update yourself"
    ]


# --- what is the exercise's code -------------------------------------------------------------


def test_honest_scratch_work_outside_the_target_is_not_flagged():
    student, context = notebook("04_optimizer")
    scratch = [
        "model = torch.nn.Linear(3, 1)\nref = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "mine = SGD(model.parameters(), lr=0.1)\nfor opt in (ref, mine):\n    opt.zero_grad()",
        "def train(make, steps=3):\n    model = torch.nn.Linear(3, 1)\n"
        "    opt = make(model.parameters(), lr=0.1)\n    return opt\n"
        "train(SGD)\ntrain(torch.optim.SGD)",
        "checks.check_sgd(SGD)\nopts = [SGD, torch.optim.SGD]",
    ]
    try_torchs_first = "from torch.optim import SGD\nSGD([torch.zeros(1, requires_grad=True)])"
    cells = [try_torchs_first, *student, *scratch]
    assert delegated(cells, "SGD", OPTIMIZER, context) == []
    assert delegated(cells, "Adam", OPTIMIZER, context) == []
    assert unfollowable(cells, context) == []


def test_a_local_variable_named_like_a_scratch_binding_is_not_that_binding():
    cells = [
        "y = nn.Linear(3, 2)(torch.randn(3))",
        "class MyLinear(nn.Module):\n    def forward(self, x):\n        y = x @ self.weight.T\n"
        "        return y",
    ]
    assert delegated(cells, "MyLinear", LINEAR, [SETUP["module"]]) == []


def test_rebinding_the_target_after_its_definition_is_caught():
    cells = sgd("pass", after="from torch.optim import SGD")
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == [
        "SGD is torch.optim.SGD (torch.optim.sgd.SGD): write the update yourself"
    ]
    cells = sgd("pass", after="SGD = torch.optim.SGD")
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == [
        "SGD is torch.optim.SGD (torch.optim.sgd.SGD): write the update yourself"
    ]


def test_every_definition_counts_even_a_conditional_one():
    cells = ["if True:\n    class SGD(torch.optim.SGD):\n        pass"]
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == [
        "SGD subclasses torch.optim.SGD: write the update yourself"
    ]
    cells = [*sgd("pass"), "class SGD(torch.optim.Adam):\n    pass"]
    assert only(delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]])).startswith(
        "SGD subclasses torch.optim.Adam"
    )


def test_magics_do_not_hide_a_cell():
    cells = ["%%time\nclass SGD(torch.optim.SGD):\n    pass"]
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) != []
    cells = ["%matplotlib inline\nclass SGD(torch.optim.SGD):\n    pass"]
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) != []
    cells = sgd("%time torch.optim.SGD(self.param_groups)")
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) != []


def test_a_cell_that_does_not_parse_is_skipped():
    cells = ["class SGD(torch.optim.SGD:\n    pass", *sgd("pass")]
    assert delegated(cells, "SGD", OPTIMIZER, [SETUP["optimizer"]]) == []
    assert unfollowable(cells, [SETUP["optimizer"]]) == []


def test_the_setup_is_never_flagged():
    context = [SETUP["optimizer"], "import sys\nimport inspect\nref = torch.optim.SGD"]
    student = sgd("pass")
    assert delegated(student, "SGD", OPTIMIZER, context) == []
    assert unfollowable(student, context) == []


# --- unfollowable ----------------------------------------------------------------------------

DYNAMIC = [
    "exec('SGD.step = torch.optim.SGD.step')",
    "x = eval('torch.optim')",
    "code = compile('1', 'f', 'eval')",
    "__import__('torch').optim",
    "import importlib",
    "from importlib import import_module",
    "globals()['SGD'] = torch.optim.SGD",
    "locals()",
    "vars(torch.optim)",
    "breakpoint()",
    "import sys",
    "from sys import modules",
    "import inspect",
    "import gc",
    "import ctypes",
    "import builtins",
    "import marshal",
    "import types",
    "from operator import attrgetter",
    "import operator\noperator.methodcaller('backward')",
    "import pickle",
    "import dill",
    "f.__globals__",
    "f.__code__",
    "f.__closure__",
    "SGD.__dict__",
    "object.__subclasses__()",
    "__builtins__",
    "f.__defaults__",
    "f.__kwdefaults__",
    "SGD.__mro__",
    "SGD.__bases__",
    "object.__getattribute__(x, 'y')",
    "frame.f_back",
    "frame.f_locals",
    "frame.f_globals",
    "tb.tb_frame",
    "g.gi_frame",
    "c.cr_frame",
    "m.__loader__",
    "m.__spec__",
    "getattr(f, '__globals__')",
    "getattr(torch, name)",
    "setattr(torch.optim, name, None)",
    "delattr(SGD, name)",
    "getattr(type(x), name)",
    "g = getattr",
    "import os\nos.sys.modules",
    "get_ipython().run_cell('x = 1')",
    "%run other.py",
    "def f(x):\n    return eval(x)",
]
HELPERS = [
    "checks.REGISTRY",
    "checks.check_sgd = lambda target: None",
    "checks = None",
    "f = checks.check_sgd",
    "print(checks)",
    "checks.check_sgd.check.judge",
    "from autograder import checking",
    "import autograder.report",
    "from autograder.optimizer import *",
]


@pytest.mark.parametrize("code", DYNAMIC)
def test_dynamic_code_is_unfollowable(code):
    sentences = unfollowable([*sgd("pass"), code], [SETUP["optimizer"]])
    assert sentences
    assert all(s.endswith("the grader cannot follow dynamic code") for s in sentences)
    assert all(s.startswith("line ") for s in sentences)


@pytest.mark.parametrize("code", HELPERS)
def test_reaching_the_graders_internals_is_unfollowable(code):
    sentences = unfollowable([*sgd("pass"), code], [SETUP["optimizer"]])
    assert sentences
    assert all("only the check_* functions" in s for s in sentences)


@pytest.mark.parametrize(
    "code",
    [
        "checks.check_sgd(SGD)",
        "checks.check_sgd_hidden(SGD)",
        "getattr(self, name)",
        "for name in ('weight', 'bias'):\n    print(getattr(layer, name))",
        "hasattr(first, '_fields')",
        "def f(eval):\n    return eval + 1",
        "model.compile()\nimport re\nre.compile('x')",
        "x = 5 % 3\ny = (1\n     % 2)",
        "%matplotlib inline\nimport torch",
        "!ls",
        "import math, os, collections.abc, typing",
    ],
)
def test_honest_code_is_followable(code):
    assert unfollowable([*sgd("pass"), code], [SETUP["optimizer"]]) == []


GLOBAL_HOOK = (
    "def compare(module, inputs, output):\n"
    '    if hasattr(module, "weight") and not isinstance(module, torch.nn.Linear):\n'
    "        return torch.nn.functional.linear(inputs[0], module.weight, module.bias)\n"
    "    return output\n"
)
PROCESS_WIDE = [
    GLOBAL_HOOK + "torch.nn.modules.module.register_module_forward_hook(compare)",
    GLOBAL_HOOK + "from torch.nn.modules.module import register_module_forward_hook as r\n"
    "r(compare)",
    GLOBAL_HOOK
    + "import torch.nn.modules.module as m\nm.register_module_forward_pre_hook(compare)",
    GLOBAL_HOOK + "hooks = torch.nn.modules.module._global_forward_hooks\nhooks[0] = compare",
    GLOBAL_HOOK + "torch.nn.modules.module._global_forward_hooks.update({0: compare})",
    "torch.nn.modules.module.register_module_full_backward_hook(print)",
    "from torch.overrides import TorchFunctionMode\n"
    "class Mode(TorchFunctionMode):\n"
    "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
    "        return func(*args, **(kwargs or {}))\n"
    "with Mode():\n"
    "    y = torch.ones(2) + 1",
    "from torch.utils._python_dispatch import TorchDispatchMode as Base\nclass Mode(Base):\n"
    "    pass",
    "from torch._subclasses.fake_tensor import FakeTensorMode\nmode = FakeTensorMode()",
    "class Sneaky:\n    @classmethod\n"
    "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n        return 0",
    "class Sneaky:\n    __torch_dispatch__ = staticmethod(print)",
    'lib = torch.library.Library("aten", "IMPL")',
    "with torch.autograd.graph.saved_tensors_hooks(print, print):\n    y = torch.ones(2) * 2",
    "torch._C._set_grad_enabled(True)",
    "import threading\nthreading.settrace(print)",
    "torch.isclose = lambda *a, **k: True",
    "torch.Tensor.__eq__ = lambda a, b: True",
    "nn.Linear.forward = lambda self, x: x",
    "del torch.allclose",
    "math.pi += 1",
    "import json\njson.dumps = str",
    "import csv\ncsv.reader = iter",
    "import numpy as np\nnp.allclose = print",
    "def patch():\n    import json as j\n    j.loads = str",
    'setattr(torch, "allclose", print)',
    'object.__setattr__(torch, "allclose", print)',
    'torch.__setattr__("allclose", print)',
    'delattr(torch.nn.Module, "__call__")',
]


@pytest.mark.parametrize("code", PROCESS_WIDE)
def test_changing_how_torch_runs_for_the_whole_process_is_unfollowable(code):
    """A scratch cell that never names the exercise can still compute its answer, through a
    hook, a mode or a patch that torch consults for every module and every op: what it does
    is out of reach of a reading that starts from the exercise."""
    sentences = unfollowable([*sgd("pass"), code], [SETUP["module"]])
    assert sentences
    assert all(s.startswith("line ") for s in sentences)
    assert all(s.endswith("the grader cannot tell what it computes") for s in sentences)
    assert delegated([*sgd("pass"), code], "SGD", OPTIMIZER, [SETUP["module"]]) == []


def test_the_process_wide_change_is_named():
    code = GLOBAL_HOOK + "torch.nn.modules.module.register_module_forward_hook(compare)"
    assert unfollowable([code], [SETUP["module"]]) == [
        "line 5 of a cell changes how torch runs for the whole process "
        "(register_module_forward_hook): the grader cannot tell what it computes"
    ]
    assert unfollowable(["x = 1\ntorch.isclose = lambda *a, **k: True"], [SETUP["module"]]) == [
        "line 2 of a cell changes torch.isclose for the whole process: "
        "the grader cannot tell what it computes"
    ]
    assert unfollowable(['setattr(torch, "allclose", print)'], [SETUP["module"]]) == [
        "line 1 of a cell changes torch.allclose for the whole process: "
        "the grader cannot tell what it computes"
    ]


@pytest.mark.parametrize(
    "code",
    [
        "torch.manual_seed(0)",
        "torch.set_printoptions(precision=3)",
        "model = nn.Linear(3, 1)\nhandle = model.register_forward_hook(lambda m, i, o: o)\n"
        "handle.remove()",
        "with torch.no_grad():\n    y = torch.ones(2) * 2",
        "x = torch.ones(2, requires_grad=True)\nx.register_hook(print)",
        "class Own:\n    pass\nOwn.scale = 2\nsetattr(Own, 'shift', 1)\nown = Own()\nown.x = 3",
        "class Own:\n    def __setattr__(self, name, value):\n"
        "        object.__setattr__(self, name, value)",
        "model = nn.Linear(3, 1)\nmodel.weight.data[0] = 1\nmodel.bias = None",
        "torch.backends.cudnn.deterministic = True\ntorch.backends.cudnn.benchmark = False",
        "import os\nos.environ['OMP_NUM_THREADS'] = '1'",
        "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (4, 3)",
        "torch.Tensor.add(torch.ones(1), 1)\nsizes = []\nsizes.append(1)",
        "g = torch.Generator()\ng.manual_seed(0)\nF = torch.nn.functional\n"
        "y = F.linear(torch.ones(2), torch.ones(2, 2))",
    ],
)
def test_honest_settings_and_hooks_on_own_objects_are_followable(code):
    assert unfollowable([*sgd("pass"), code], [SETUP["module"]]) == []


def test_the_line_is_named():
    assert unfollowable(["x = 1\n\ny = exec('2')"]) == [
        "line 3 of a cell uses exec(): the grader cannot follow dynamic code"
    ]


def test_hostile_input_is_refused_not_crashed_on():
    assert unfollowable(["a" + ".b" * 100_000]) == [NESTED]
    assert unfollowable(["+".join(["1"] * 100_000)]) == [NESTED]
    huge = "x = '" + "a" * 1_500_000 + "'"
    assert unfollowable([huge, huge]) == [TOO_LONG]
    assert unfollowable(["x = 1\n" * (MAX_STATEMENTS + 1)]) == [TOO_MANY]
    assert unfollowable([None, 3, b"import sys"]) == []  # type: ignore[list-item]
    assert delegated([None, 3], "SGD", OPTIMIZER) == []  # type: ignore[list-item]


# --- at run time -----------------------------------------------------------------------------


def test_a_forbidden_class_in_the_mro_is_caught():
    description = {
        "kind": "class",
        "name": "__main__.SGD",
        "mro": ["__main__.SGD", "torch.optim.sgd.SGD", "torch.optim.optimizer.Optimizer"]
        + ["builtins.object"],
        "methods": {"__init__": "__main__.SGD.__init__"},
    }
    assert delegated_at_run_time(description, OPTIMIZER) == [
        "SGD subclasses torch.optim.sgd.SGD: write the update yourself"
    ]


def test_a_method_copied_from_torch_is_caught():
    description = {
        "kind": "class",
        "name": "__main__.RandomSampler",
        "mro": ["__main__.RandomSampler", "torch.utils.data.sampler.Sampler", "typing.Generic"]
        + ["builtins.object"],
        "methods": {
            "__iter__": "torch.utils.data.sampler.RandomSampler.__iter__",
            "__len__": "__main__.RandomSampler.__len__",
        },
    }
    assert delegated_at_run_time(description, SAMPLER) == [
        "RandomSampler.__iter__ is torch.utils.data.sampler.RandomSampler.__iter__: "
        "write the sampler yourself"
    ]


def test_builtins_and_functions_are_caught_at_run_time_too():
    linear = {"kind": "class", "name": "__main__.MyLinear", "mro": ["__main__.MyLinear"]}
    linear["methods"] = {"forward": "torch._C._nn.linear"}
    assert delegated_at_run_time(linear, LINEAR) == [
        "MyLinear.forward is torch._C._nn.linear: write the linear layer yourself"
    ]
    collate = {"kind": "function", "name": "torch.utils.data._utils.collate.default_collate"}
    assert delegated_at_run_time(collate, COLLATE) == [
        "default_collate is torch.utils.data._utils.collate.default_collate: "
        "write the collation yourself"
    ]
    helper = {"kind": "function", "name": "autograder.optimizer.reference_sgd"}
    assert delegated_at_run_time(helper, None) != []


def test_honest_descriptions_pass_at_run_time():
    sgd_ = {
        "kind": "class",
        "name": "__main__.SGD",
        "mro": ["__main__.SGD", "torch.optim.optimizer.Optimizer", "builtins.object"],
        "methods": {
            "step": "__main__.SGD.step",
            "zero_grad": "torch.optim.optimizer.Optimizer.zero_grad",
        },
    }
    assert delegated_at_run_time(sgd_, OPTIMIZER) == []
    swish = {
        "kind": "class",
        "name": "__main__.Swish",
        "mro": [
            "__main__.Swish",
            "torch.autograd.function.Function",
            "torch.autograd.function._SingleLevelFunction",
            "torch._C._FunctionBase",
            "torch.autograd.function.FunctionCtx",
            "torch.autograd.function._HookMixin",
            "builtins.object",
        ],
        "methods": {"forward": "__main__.Swish.forward", "backward": "__main__.Swish.backward"},
    }
    assert delegated_at_run_time(swish, SWISH) == []
    function = {"kind": "function", "name": "__main__.my_collate"}
    assert delegated_at_run_time(function, COLLATE) == []


@pytest.mark.parametrize(
    "description",
    [
        None,
        [],
        ["torch.optim.sgd.SGD"],
        3,
        "torch.optim.sgd.SGD",
        {"mro": 5, "methods": "x"},
        {"mro": [1, None, {}, ["torch.optim.sgd.SGD"]], "methods": [1]},
        {"methods": {1: 2, "a": None, "b": ["torch.optim.sgd.SGD"]}},
        {"name": 5, "mro": ["?", "", "x" * 10_000]},
        {"name": "x" * 10_000, "kind": object()},
    ],
)
def test_garbage_descriptions_give_nothing(description):
    assert delegated_at_run_time(description, OPTIMIZER) == []
    assert delegated_at_run_time(description, None) == []
