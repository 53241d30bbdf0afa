"""Parameter checks shared by the dialects; each names the field and the element."""

from __future__ import annotations

import numpy as np

from ir.errors import VerifyError
from ir.op import Shape

__all__ = [
    "check_broadcast",
    "check_finite",
    "check_no_nan",
    "check_nonnegative",
    "check_positive",
]


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _refuse(arr: np.ndarray, bad: np.ndarray, message: str, **words: str) -> None:
    """Raise where the mask ``bad`` first holds in ``arr``: ``message`` is a
    ``str.format`` template of ``where`` (the index), ``value``, ``count`` (how many
    elements are bad) and ``words``."""
    flat = np.flatnonzero(bad)
    if flat.size:
        where = _index(int(flat[0]), arr.shape)
        value = arr.reshape(-1)[flat[0]]
        raise VerifyError(
            message.format(where=where, value=value, count=flat.size, **words)
        )


def check_no_nan(field: str, arr: np.ndarray | None, *, element: str = "index") -> None:
    """Raise if ``arr`` holds NaN, naming the first one (``element`` says what it is).

    NaN in a parameter is rejected rather than round-tripped: it can only come from a
    broken export, and it silently poisons every value downstream.
    """
    if arr is not None and arr.dtype.kind == "f":
        message = "{field} holds NaN at {element} {where} ({count} NaN value(s) in all)"
        _refuse(arr, np.isnan(arr), message, field=field, element=element)


def check_finite(field: str, arr: np.ndarray | None, *, element: str = "index") -> None:
    """Raise if ``arr`` holds NaN or an infinity, naming the first one.

    For weights and biases: an infinite weight turns every sum it enters into inf or
    NaN, and a later pass would be blamed for it.
    """
    check_no_nan(field, arr, element=element)
    if arr is not None and arr.dtype.kind == "f":
        message = (
            "{field} holds {value} at {element} {where} ({count} infinite value(s) "
            "in all); weights must be finite"
        )
        _refuse(arr, np.isinf(arr), message, field=field, element=element)


def check_positive(field: str, arr: np.ndarray) -> None:
    """Raise unless every element of ``arr`` is > 0, naming the first neuron that is not."""
    message = "{field} must be > 0; neuron {where} has {value}"
    _refuse(arr, ~(arr > 0), message, field=field)


def check_nonnegative(field: str, arr: np.ndarray) -> None:
    """Raise unless every element of ``arr`` is >= 0, naming the first neuron that is not."""
    message = "{field} must be >= 0; neuron {where} has {value}"
    _refuse(arr, ~(arr >= 0), message, field=field)


def check_broadcast(field: str, arr: np.ndarray, shape: Shape, *, what: str) -> None:
    """Raise unless ``arr`` broadcasts to ``shape`` (NumPy rules) without growing it."""
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise VerifyError(
            f"{field} of shape {arr.shape} does not broadcast to {what} {shape}"
        )
