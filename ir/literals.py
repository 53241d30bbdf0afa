"""Text form of tensors: ``tensor<f32[2,3]>[1, 0.5, ...]`` and sidecar references.

A tensor literal is one token: a dtype code, a shape, then the elements flat in C
order. Floats print in the shortest decimal form that parses back to the identical
bits (float32: NumPy's shortest round-tripping form, checked against this module's
parser, else the exact float64 repr of the widened value); ``inf``/``-inf``/``nan`` are spelled
out. Integers print as integers, booleans as ``true``/``false``.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ir.op import DTYPES

__all__ = [
    "ELIDED",
    "dtype_code",
    "format_tensor",
    "format_type",
    "parse_tensor_body",
    "parse_type",
]

_CODES = {dt: code for code, dt in DTYPES.items()}
_TYPE = re.compile(r"^(?:tensor|blob)<\s*([a-z0-9]+)\s*\[([0-9,\s]*)\]\s*>")


def dtype_code(dtype: np.dtype[Any]) -> str:
    """The text code of a supported dtype (``f32``, ``i8``, ...)."""
    return _CODES[np.dtype(dtype)]


ELIDED = "__elided__"
"""The blob key of a tensor the printer elided (``to_text(elide_larger_than=...)``);
never a real key (those are ``node.field``), and the parser refuses it."""


def format_type(kind: str, arr: np.ndarray) -> str:
    """``tensor<f32[2,3]>`` or ``blob<...>`` for ``arr``."""
    return f"{kind}<{dtype_code(arr.dtype)}[{','.join(str(d) for d in arr.shape)}]>"


def format_tensor(arr: np.ndarray) -> str:
    """The full literal for ``arr`` (type and elements)."""
    return f"{format_type('tensor', arr)}[{', '.join(_format_elements(arr))}]"


def _format_elements(arr: np.ndarray) -> list[str]:
    flat = arr.reshape(-1)
    if flat.dtype == np.bool_:
        return ["true" if v else "false" for v in flat.tolist()]
    if flat.dtype.kind in "iu":
        return [str(v) for v in flat.tolist()]
    if flat.dtype == np.float64:
        return [repr(v) for v in flat.tolist()]
    return _format_float32(flat)


def _format_float32(flat: np.ndarray) -> list[str]:
    # NumPy's string cast prints each float32 in its shortest round-tripping form
    # (Dragon4, in C: about twice as fast as formatting in Python). Our parser reads
    # through float64, so check that path and fall back, per element, to the exact
    # float64 repr of the widened value where double rounding would differ.
    out: list[str] = flat.astype(str).tolist()
    bits = flat.view(np.uint32)
    for i in np.flatnonzero(~_roundtrips(out, bits)).tolist():
        out[i] = repr(float(flat[i]))
    return out


def _roundtrips(texts: list[str], bits: np.ndarray) -> np.ndarray:
    parsed = np.array(texts).astype(np.float64).astype(np.float32)
    nan = np.isnan(parsed)
    return (parsed.view(np.uint32) == bits) | (nan & np.isnan(bits.view(np.float32)))


def parse_type(text: str) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """Parse the ``tensor<f32[2,3]>`` prefix of ``text``.

    Returns:
        dtype, shape and the length of the prefix.

    Raises:
        ValueError: unknown dtype code or malformed shape.
    """
    m = _TYPE.match(text)
    if m is None:
        raise ValueError("malformed tensor type; expected e.g. tensor<f32[2,3]>")
    code, dims = m.group(1), m.group(2).strip()
    if code not in DTYPES:
        raise ValueError(f"unknown dtype '{code}'; known: {', '.join(DTYPES)}")
    parts = [d.strip() for d in dims.split(",")] if dims else []
    if any(not p.isdecimal() for p in parts):  # empty, or digits with a space
        raise ValueError(f"malformed shape [{dims}]")
    return DTYPES[code], tuple(int(p) for p in parts), m.end()


def parse_tensor_body(
    body: str, dtype: np.dtype[Any], shape: tuple[int, ...]
) -> np.ndarray:
    """Parse the elements between ``[`` and ``]`` into a read-only array.

    Raises:
        ValueError: wrong count, a bad element (named by index) or an integer out of
            the dtype's range.
    """
    text = body.strip()
    parts = [p.strip() for p in text.split(",")] if text else []
    count = math.prod(shape)  # exact: an int64 product could wrap
    if len(parts) != count:
        raise ValueError(
            f"tensor of shape {list(shape)} needs {count} elements, got {len(parts)}"
        )
    if dtype == np.bool_:
        bad = [i for i, p in enumerate(parts) if p not in ("true", "false")]
        if bad:
            raise ValueError(
                f"element {bad[0]} is {parts[bad[0]]!r}; expected true or false"
            )
        arr = np.array([p == "true" for p in parts], dtype=np.bool_)
    elif dtype.kind in "iu":
        arr = _parse_ints(parts, dtype)
    else:
        arr = _parse_floats(parts, dtype)
    arr = arr.reshape(shape)
    arr.flags.writeable = False
    return arr


def _parse_floats(parts: list[str], dtype: np.dtype[Any]) -> np.ndarray:
    try:
        wide = np.array(parts).astype(np.float64) if parts else np.zeros(0)
    except ValueError:
        bad = next(i for i, p in enumerate(parts) if not _is_float(p))
        raise ValueError(f"element {bad} is {parts[bad]!r}, not a number") from None
    with np.errstate(over="ignore"):
        arr = wide.astype(dtype)
    # A finite literal that rounds to infinity is out of range, as an integer would be.
    for i in np.flatnonzero(np.isinf(arr)).tolist():
        if parts[i].lstrip("+-").lower() not in ("inf", "infinity"):
            raise ValueError(
                f"element {i} = {parts[i]} is out of range for {dtype_code(dtype)}"
            )
    return arr


def _parse_ints(parts: list[str], dtype: np.dtype[Any]) -> np.ndarray:
    for i, p in enumerate(parts):
        if not re.fullmatch(r"[+-]?\d+", p):
            raise ValueError(f"element {i} is {p!r}, not an integer")
    values = [int(p) for p in parts]
    info = np.iinfo(dtype)
    for i, v in enumerate(values):
        if not info.min <= v <= info.max:
            raise ValueError(
                f"element {i} = {v} is out of range for {dtype_code(dtype)} "
                f"[{info.min}, {info.max}]"
            )
    return np.array(values, dtype=dtype)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
