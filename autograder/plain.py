"""Plain data: the only thing that crosses between a student's process and the judge.

A scenario's observations are encoded with :func:`encode` into values JSON can carry: ``None``,
booleans, numbers, strings, lists and string-keyed dicts. A few other values get a tagged dict:

- a tensor: ``{"$tensor": {"dtype": "float64", "shape": [2, 3], "data": base64, ...}}``,
  the raw bytes of its values, nothing else (no subclass, no hooks, no storage sharing);
- a tuple ``{"$tuple": [...]}`` and a dict with keys that are not strings
  ``{"$dict": [[key, value], ...]}``, so a collate function's structure survives;
- an exception ``{"$error": {"type": ..., "message": ...}}``;
- anything else ``{"$object": {"type": ..., "repr": ...}}``: a description, never the object.

:func:`decode` turns such a value back, refusing anything outside this schema or over the size
limits with :class:`NotPlain`. It builds tensors from bytes only: nothing in the data can name
code to run, so decoding a hostile message is safe (no pickle anywhere).
"""

from __future__ import annotations

import base64
import ctypes
import json
import math
from dataclasses import dataclass
from typing import Any

import torch

#: Limits on one message from a student's process.
MAX_BYTES = 32 * 2**20
MAX_DEPTH = 24
MAX_ITEMS = 200_000
MAX_TENSOR_BYTES = 16 * 2**20
MAX_TEXT = 200_000
MAX_REPR = 300

DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.float64,
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.complex128,
        torch.complex64,
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.bool,
    )
}
#: How a tensor subclass is described (it never crosses as a tensor).
SUBCLASS = "torch.Tensor subclass "
TENSOR_FIELDS = {"dtype", "shape", "data", "requires_grad", "parameter"}
TAGS = ("$tensor", "$tuple", "$dict", "$error", "$object")


class NotPlain(ValueError):
    """A value (or a message) outside the plain-data schema."""


@dataclass(frozen=True)
class Opaque:
    """What came back for a value that is not plain data: its type's name and a short repr."""

    type: str
    repr: str

    def __repr__(self) -> str:
        return f"<{self.type}: {self.repr}>"


@dataclass(frozen=True)
class RaisedError:
    """An exception observed in the student's code: its type's name and its message."""

    type: str
    message: str

    def __repr__(self) -> str:
        return f"{self.type}({self.message!r})"


def type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module == "builtins" else f"{module}.{name}"


def encode(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain data (see the module docstring). Runs in the student's process."""
    if _depth > MAX_DEPTH:
        return {"$object": {"type": "too deep", "repr": ""}}
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        return value if abs(value) < 2**63 else float(value)
    if kind is float:
        return value
    if kind in (torch.Tensor, torch.nn.Parameter):
        try:
            return _encode_tensor(value)
        except Exception as error:  # noqa: BLE001 - sparse, meta, or otherwise unusual tensors
            return {"$object": {"type": "torch.Tensor", "repr": f"not encodable: {error}"[:300]}}
    if kind in (list, tuple):
        items = [encode(item, _depth + 1) for item in value]
        return items if kind is list else {"$tuple": items}
    if kind is dict:
        if all(type(key) is str and not key.startswith("$") for key in value):
            return {key: encode(item, _depth + 1) for key, item in value.items()}
        return {"$dict": [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in value.items()]}
    if isinstance(value, torch.Tensor):
        # A subclass can override __torch_function__ and claim anything: described, not sent.
        return {"$object": {"type": f"{SUBCLASS}{kind.__name__}", "repr": ""}}
    if isinstance(value, BaseException):
        return {"$error": {"type": type(value).__name__, "message": _text(value)}}
    return {"$object": {"type": type_name(value), "repr": _short_repr(value)}}


def _encode_tensor(tensor: torch.Tensor) -> dict:
    plain = tensor.detach().to("cpu").resolve_conj().resolve_neg().contiguous()
    dtype = str(plain.dtype).removeprefix("torch.")
    if dtype not in DTYPES or plain.layout != torch.strided:
        return {"$object": {"type": f"tensor of {dtype}", "repr": ""}}
    # The bytes of a contiguous CPU tensor, read where they lie: numpy may not be installed
    # (a student's environment need not have it), and bytes(storage) is slow.
    raw = ctypes.string_at(plain.data_ptr(), plain.numel() * plain.element_size())
    return {
        "$tensor": {
            "dtype": dtype,
            "shape": list(plain.shape),
            "data": base64.b64encode(raw).decode("ascii"),
            "requires_grad": bool(tensor.requires_grad),
            "parameter": type(tensor) is torch.nn.Parameter,
        }
    }


def _text(value: Any) -> str:
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a student's __str__ may raise
        text = "(str() failed)"
    return text[:MAX_TEXT]


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a student's __repr__ may raise
        text = "(repr() failed)"
    return text[:MAX_REPR]


def decode(value: Any) -> Any:
    """The value :func:`encode` made, rebuilt from plain data; :class:`NotPlain` otherwise."""
    budget = [MAX_ITEMS]
    return _decode(value, 0, budget)


def _decode(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise NotPlain("too many values")
    if depth > MAX_DEPTH + 2:
        raise NotPlain("nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, float):
        return value
    if kind is str:
        if len(value) > MAX_TEXT:
            raise NotPlain("a string is too long")
        return value
    if kind is list:
        return [_decode(item, depth + 1, budget) for item in value]
    if kind is not dict:
        raise NotPlain(f"unexpected {kind.__name__}")
    tags = [key for key in value if key.startswith("$")]
    if not tags:
        return {key: _decode(item, depth + 1, budget) for key, item in value.items()}
    if len(value) != 1 or tags[0] not in TAGS:
        raise NotPlain(f"unknown tag {tags[0]!r}")
    tag, body = tags[0], value[tags[0]]
    if tag == "$tuple":
        return tuple(_decode(_list(body), depth + 1, budget))
    if tag == "$dict":
        pairs = [_pair(item) for item in _list(body)]
        return {
            _key(_decode(k, depth + 1, budget)): _decode(v, depth + 1, budget) for k, v in pairs
        }
    if tag == "$tensor":
        return _decode_tensor(_fields(body, TENSOR_FIELDS))
    fields = _fields(body, {"type", "message"} if tag == "$error" else {"type", "repr"})
    texts = [_decode(fields[k], depth + 1, budget) for k in sorted(fields)]
    if not all(isinstance(text, str) for text in texts):
        raise NotPlain(f"{tag} fields must be strings")
    if tag == "$error":
        return RaisedError(fields["type"][:MAX_REPR], fields["message"])
    return Opaque(fields["type"][:MAX_REPR], fields["repr"][:MAX_REPR])


def _list(value: Any) -> list:
    if type(value) is not list:
        raise NotPlain("expected a list")
    return value


def _pair(value: Any) -> list:
    if type(value) is not list or len(value) != 2:
        raise NotPlain("expected a [key, value] pair")
    return value


def _key(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise NotPlain("a dict key must be hashable") from None
    return value


def _fields(body: Any, names: set[str]) -> dict:
    if type(body) is not dict or set(body) != names:
        raise NotPlain(f"expected the fields {sorted(names)}")
    return body


def _decode_tensor(body: dict) -> torch.Tensor:
    dtype = DTYPES.get(body["dtype"]) if type(body["dtype"]) is str else None
    shape = body["shape"]
    if dtype is None:
        raise NotPlain(f"unknown dtype {body['dtype']!r}")
    if type(shape) is not list or not all(type(n) is int and 0 <= n < 2**31 for n in shape):
        raise NotPlain("a tensor shape must be a list of sizes")
    if type(body["data"]) is not str or len(body["data"]) > MAX_TENSOR_BYTES * 4 // 3 + 4:
        raise NotPlain("tensor data must be base64 text within the size limit")
    if type(body["requires_grad"]) is not bool or type(body["parameter"]) is not bool:
        raise NotPlain("tensor flags must be booleans")
    try:
        raw = base64.b64decode(body["data"], validate=True)
    except ValueError:
        raise NotPlain("tensor data is not base64") from None
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != math.prod(shape) * itemsize:
        raise NotPlain("tensor data does not fit its shape and dtype")
    if not raw:
        return torch.empty(shape, dtype=dtype)
    flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype)
    tensor = flat.reshape(shape).clone()
    if body["requires_grad"] and tensor.is_floating_point():
        tensor.requires_grad_(True)
    return (
        torch.nn.Parameter(tensor, requires_grad=tensor.requires_grad)
        if body["parameter"]
        else tensor
    )


def dumps(value: Any) -> bytes:
    """One line of JSON (no NaN is lost: Python's json writes NaN and Infinity)."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def loads(line: bytes) -> Any:
    """Parse one message within :data:`MAX_BYTES`; :class:`NotPlain` when it is not JSON."""
    if len(line) > MAX_BYTES:
        raise NotPlain(f"a message of {len(line)} bytes is over the {MAX_BYTES}-byte limit")
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as error:
        raise NotPlain(f"not JSON: {str(error)[:200]}") from None


def roundtrip(value: Any) -> Any:
    """Encode, serialise, parse and decode: exactly what the judge receives from ``value``."""
    return decode(loads(dumps(encode(value))))
