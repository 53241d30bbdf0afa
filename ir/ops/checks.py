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


def check_no_nan(field: str, arr: np.ndarray | None, *, element: str = "index") -> None:
    """Raise if ``arr`` holds NaN, naming the first one (``element`` says what it is).

    NaN in a parameter is rejected rather than round-tripped: it can only come from a
    broken export, and it silently poisons every value downstream.
    """
    if arr is None or arr.dtype.kind != "f":
        return
    bad = np.flatnonzero(np.isnan(arr))
    if bad.size:
        raise VerifyError(
            f"{field} holds NaN at {element} {_index(int(bad[0]), arr.shape)} "
            f"({bad.size} NaN value(s) in all)"
        )


def check_finite(field: str, arr: np.ndarray | None, *, element: str = "index") -> None:
    """Raise if ``arr`` holds NaN or an infinity, naming the first one.

    For weights and biases: an infinite weight turns every sum it enters into inf or
    NaN, and a later pass would be blamed for it.
    """
    check_no_nan(field, arr, element=element)
    if arr is None or arr.dtype.kind != "f":
        return
    bad = np.flatnonzero(np.isinf(arr))
    if bad.size:
        raise VerifyError(
            f"{field} holds {arr.reshape(-1)[bad[0]]} at {element} "
            f"{_index(int(bad[0]), arr.shape)} ({bad.size} infinite value(s) in all); "
            "weights must be finite"
        )


def check_positive(field: str, arr: np.ndarray) -> None:
    """Raise unless every element of ``arr`` is > 0, naming the first neuron that is not."""
    bad = np.flatnonzero(~(arr > 0))
    if bad.size:
        value = arr.reshape(-1)[bad[0]]
        raise VerifyError(
            f"{field} must be > 0; neuron {_index(int(bad[0]), arr.shape)} has {value}"
        )


def check_nonnegative(field: str, arr: np.ndarray) -> None:
    """Raise unless every element of ``arr`` is >= 0, naming the first neuron that is not."""
    bad = np.flatnonzero(~(arr >= 0))
    if bad.size:
        value = arr.reshape(-1)[bad[0]]
        raise VerifyError(
            f"{field} must be >= 0; neuron {_index(int(bad[0]), arr.shape)} has {value}"
        )


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
