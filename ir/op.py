"""The op base class, field kinds and the op registry.

An op is a frozen, keyword-only dataclass with a dotted IR name (``snn.lif``). Its fields
are its parameters; their type annotations decide how they are checked, printed and
parsed, so registering an op makes it printable, parseable and interpretable without
touching the grammar.

Field annotations understood here:

* ``FloatTensor`` / ``IntTensor`` / ``AnyTensor``: a read-only ``numpy.ndarray``
  (Python numbers and lists are converted: float32 for float tensors, int64 for int
  tensors);
* ``float``, ``int``, ``bool``, ``str``, ``tuple[int, ...]``;
* any of these ``| None``.

An op's meaning is given by its methods: stateless ops implement :meth:`Op.apply`, ops
with state over time (``stateful = True``) implement :meth:`Op.init_state` and
:meth:`Op.step`. The reference interpreter (``ir.interpret``) calls them.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Annotated, Any, ClassVar, TypeVar

import numpy as np
import torch

from ir.errors import VerifyError

__all__ = [
    "DTYPES",
    "AnyTensor",
    "FieldKind",
    "FloatTensor",
    "IntTensor",
    "Op",
    "Params",
    "Shape",
    "dialect_ops",
    "get_op",
    "register_op",
    "registered_ops",
]

Shape = tuple[int, ...]
"""A feature shape: excludes the batch and time dimensions."""

#: Array dtypes the IR can hold, by their text code.
DTYPES: dict[str, np.dtype[Any]] = {
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "u8": np.dtype(np.uint8),
    "u16": np.dtype(np.uint16),
    "bool": np.dtype(np.bool_),
}


@dataclass(frozen=True)
class _TensorMarker:
    element: str  # "float" | "int" | "any"


FloatTensor = Annotated[np.ndarray, _TensorMarker("float")]
"""A floating-point array field (float32 or float64)."""
IntTensor = Annotated[np.ndarray, _TensorMarker("int")]
"""An integer array field."""
AnyTensor = Annotated[np.ndarray, _TensorMarker("any")]
"""An array field of any supported dtype."""


@dataclass(frozen=True)
class FieldKind:
    """How one op field is checked, printed and parsed.

    Attributes:
        kind: ``tensor``, ``float``, ``int``, ``bool``, ``str`` or ``ints``.
        element: for tensors, ``float``, ``int`` or ``any``.
        optional: whether ``None`` is allowed.
    """

    kind: str
    element: str = "any"
    optional: bool = False

    def describe(self) -> str:
        """Return the kind in words, for error messages."""
        base = {
            "tensor": f"{self.element} tensor" if self.element != "any" else "tensor",
            "ints": "tuple of ints",
        }.get(self.kind, self.kind)
        return f"{base} or none" if self.optional else base

    def coerce(self, value: Any) -> Any:
        """Convert ``value`` to this kind's canonical Python value.

        Raises:
            TypeError: ``value`` cannot be converted without loss.
        """
        if value is None:
            if self.optional:
                return None
            raise TypeError(f"expected {self.describe()}, got none")
        return _COERCE[self.kind](self, value)


def _coerce_tensor(kind: FieldKind, value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        arr = value
    else:
        default = np.int64 if kind.element == "int" else np.float32
        try:
            arr = np.asarray(value, dtype=default)
        except (TypeError, ValueError) as err:
            raise TypeError(f"expected {kind.describe()}, got {value!r}") from err
    if arr.dtype not in DTYPES.values():
        raise TypeError(
            f"dtype {arr.dtype} is not supported; use one of {', '.join(DTYPES)}"
        )
    if kind.element == "float" and arr.dtype.kind != "f":
        if arr.dtype.kind in "iu" and not isinstance(value, np.ndarray):
            arr = arr.astype(np.float32)
        else:
            raise TypeError(f"expected a float tensor, got dtype {arr.dtype}")
    if kind.element == "int" and arr.dtype.kind not in "iu":
        raise TypeError(f"expected an integer tensor, got dtype {arr.dtype}")
    if arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.array(arr, copy=True, order="C")
        arr.flags.writeable = False
    return arr


def _coerce_float(kind: FieldKind, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"expected a float, got {value!r}")
    return float(value)


def _coerce_int(kind: FieldKind, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"expected an int, got {value!r}")
    try:
        return (
            int(np.asarray(value).item())
            if isinstance(value, np.ndarray)
            else (value.__index__())
        )
    except (AttributeError, TypeError, ValueError) as err:
        raise TypeError(f"expected an int, got {value!r}") from err


def _coerce_bool(kind: FieldKind, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"expected true or false, got {value!r}")
    return bool(value)


def _coerce_str(kind: FieldKind, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _coerce_ints(kind: FieldKind, value: Any) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),)
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"expected a tuple of ints, got {value!r}")
    return tuple(_coerce_int(kind, v) for v in value)


_COERCE = {
    "tensor": _coerce_tensor,
    "float": _coerce_float,
    "int": _coerce_int,
    "bool": _coerce_bool,
    "str": _coerce_str,
    "ints": _coerce_ints,
}


def _field_kind(annotation: Any) -> FieldKind:
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported field annotation {annotation!r}")
        optional = True
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if origin is Annotated:
        marker = typing.get_args(annotation)[1]
        if isinstance(marker, _TensorMarker):
            return FieldKind("tensor", marker.element, optional)
    if origin is tuple:
        return FieldKind("ints", optional=optional)
    simple = {float: "float", int: "int", bool: "bool", str: "str"}
    if annotation in simple:
        return FieldKind(simple[annotation], optional=optional)
    raise TypeError(f"unsupported field annotation {annotation!r}")


class Params(dict[str, Any]):
    """An op's parameters as the interpreter hands them to the op's semantics.

    Tensor fields are ``torch.Tensor`` (possibly overridden by trainable tensors);
    other fields keep their Python value. ``dt`` is the graph's time step in seconds.
    """

    def __init__(self, values: Mapping[str, Any], dt: float | None) -> None:
        super().__init__(values)
        self.dt = dt

    def require_dt(self) -> float:
        """Return ``dt``; the verifier guarantees it is set for ops that need it."""
        if self.dt is None:
            raise VerifyError("this op needs the graph's dt, which is not set")
        return self.dt


@dataclass(frozen=True, kw_only=True, eq=False)
class Op:
    """Base of every IR op.

    Subclasses set ``name`` (``dialect.op``), declare their parameters as fields, and
    implement ``infer_shape`` plus either ``apply`` (stateless) or ``init_state`` and
    ``step`` (stateful). Ops compare by identity; use :meth:`equivalent` for
    structural equality (bitwise for arrays).
    """

    name: ClassVar[str] = ""
    input_ports: ClassVar[tuple[str, ...]] = ("input",)
    output_ports: ClassVar[tuple[str, ...]] = ("output",)
    stateful: ClassVar[bool] = False
    needs_dt: ClassVar[bool] = False
    fields_: ClassVar[dict[str, FieldKind]] = {}

    def __post_init__(self) -> None:
        for field, kind in self.fields_.items():
            value = getattr(self, field)
            try:
                object.__setattr__(self, field, kind.coerce(value))
            except TypeError as err:
                raise VerifyError(f"{self.name}: field '{field}': {err}") from None

    # -- structure -----------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Return the field values in declaration order."""
        return {f: getattr(self, f) for f in self.fields_}

    def replace(self, **changes: Any) -> Op:
        """Return a copy with some fields changed (checked like a new op)."""
        return dataclasses.replace(self, **changes)

    def equivalent(self, other: Op) -> bool:
        """Return whether ``other`` is the same op with bitwise-equal parameters."""
        if type(self) is not type(other):
            return False
        return all(
            _same_value(getattr(self, f), getattr(other, f)) for f in self.fields_
        )

    def verify_(self) -> None:
        """Check the op's own invariants; raise ``VerifyError`` (node is added later)."""

    def verify_dt_(self, dt: float) -> None:
        """Check the op against the graph's time step (for ops with ``needs_dt``)."""

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        """Return the output shape given the (already checked) input port shapes."""
        raise NotImplementedError(f"{self.name} does not define infer_shape")

    # -- semantics -----------------------------------------------------------------
    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        """Stateless meaning: ``x`` is ``(N, *features)``; returns ``(N, *out)``."""
        raise NotImplementedError(f"{self.name} is stateful; use step()")

    def init_state(self, p: Params, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Initial state for a batch; ``x`` is the first step's input ``(B, *f)``."""
        raise NotImplementedError(f"{self.name} is stateless; use apply()")

    def step(
        self, p: Params, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One time step: returns the output ``(B, *out)`` and the new state."""
        raise NotImplementedError(f"{self.name} is stateless; use apply()")


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float) and isinstance(b, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    if isinstance(a, tuple) and isinstance(b, tuple):
        # Element by element: tuple == would call 1 == True and 0.0 == -0.0 equal, and
        # fails on arrays inside (meta values may hold them).
        if len(a) != len(b):
            return False
        return all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# -- registry ------------------------------------------------------------------------

_OPS: dict[str, type[Op]] = {}

#: Built-in dialects and the module that registers each. Third-party dialects come
#: from the entry-point group ``spikeforge.dialects`` (name -> module).
_DIALECT_MODULES: dict[str, str] = {
    "io": "ir.ops.io",
    "nn": "ir.ops.nn",
    "snn": "ir.ops.snn",
}
_ENTRY_POINT_GROUP = "spikeforge.dialects"
_OP_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

OpClass = TypeVar("OpClass", bound=type[Op])


def register_op(cls: OpClass) -> OpClass:
    """Class decorator: register an op class under its ``name``.

    Raises:
        ValueError: the name is malformed or already registered.
    """
    if not _OP_NAME.fullmatch(cls.name):
        raise ValueError(f"op name {cls.name!r} must look like 'dialect.op'")
    if cls.name in _OPS and _OPS[cls.name] is not cls:
        raise ValueError(f"op {cls.name!r} is already registered")
    hints = typing.get_type_hints(cls, include_extras=True)
    cls.fields_ = {
        f.name: _field_kind(hints[f.name]) for f in dataclasses.fields(cls) if f.init
    }
    _OPS[cls.name] = cls
    return cls


def _dialect_entry_points() -> dict[str, metadata.EntryPoint]:
    """Installed dialects by name (a built-in dialect's name is not taken over)."""
    from ir.plugins import entry_points

    return {
        ep.name: ep
        for ep in entry_points(_ENTRY_POINT_GROUP)
        if ep.name not in _DIALECT_MODULES
    }


def _dialect_modules() -> dict[str, str]:
    table = dict(_DIALECT_MODULES)
    for name, ep in _dialect_entry_points().items():
        table[name] = ep.value
    return table


def _load_dialect(dialect: str) -> None:
    if dialect in _DIALECT_MODULES:
        importlib.import_module(_DIALECT_MODULES[dialect])
        return
    ep = _dialect_entry_points().get(dialect)
    if ep is None:
        return
    try:
        importlib.import_module(ep.value)
    except Exception as err:  # a broken plugin: reported once, skipped
        from ir.plugins import report_broken

        report_broken(ep, f"importing {ep.value} failed: {type(err).__name__}: {err}")


def get_op(name: str) -> type[Op]:
    """Return the op class registered as ``name``, loading its dialect if needed.

    Raises:
        KeyError: with a message listing the ops of that dialect (or the dialects).
    """
    if name not in _OPS:
        _load_dialect(name.split(".", 1)[0])
    if name in _OPS:
        return _OPS[name]
    dialect = name.split(".", 1)[0]
    known = dialect_ops(dialect)
    if known:
        raise KeyError(
            f"unknown op '{name}'; dialect '{dialect}' has: {', '.join(known)}"
        )
    if dialect in _dialect_entry_points():
        raise KeyError(
            f"unknown op '{name}': the plugin dialect '{dialect}' did not load "
            "(see the warning 'plugin skipped')"
        )
    dialects = ", ".join(sorted(_dialect_modules()))
    raise KeyError(f"unknown op '{name}': no dialect '{dialect}' (known: {dialects})")


def dialect_ops(dialect: str) -> list[str]:
    """Return the sorted op names registered in ``dialect``."""
    _load_dialect(dialect)
    return sorted(n for n in _OPS if n.split(".", 1)[0] == dialect)


def registered_ops() -> Iterator[type[Op]]:
    """Yield every registered op class (all known dialects loaded), sorted by name."""
    for dialect in sorted(_dialect_modules()):
        _load_dialect(dialect)
    for name in sorted(_OPS):
        yield _OPS[name]
