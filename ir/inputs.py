"""The runtime input check: what ``interpret``, emulators and the CLI accept.

One function, :func:`check_input`, used for a graph's inputs and for a build's input
raster alike, so that both reject the same things with the same words.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

from ir.errors import InputError

__all__ = ["check_input", "check_steps"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def check_input(x: ArrayT, *, source: str, spikes: bool = False) -> ArrayT:
    """Return ``x`` unchanged if it is a usable input, else raise ``InputError``.

    A usable input holds real numbers (bool, integer or float; not complex, strings or
    objects), is not empty (at least one sample and one time step), and every value is
    finite. With ``spikes`` (a chip's input raster), values are also whole numbers
    >= 0 (event counts). The shape itself is the caller's to check.

    Args:
        x: a NumPy array or torch tensor ``(batch, time, *features)``.
        source: what holds it, for the message (a file name, ``input 'x'``).
        spikes: whether ``x`` holds event counts.

    Raises:
        InputError: naming ``source``, what is wrong, and the first element's index.
    """
    if isinstance(x, torch.Tensor):
        _check_tensor(x.detach(), source, spikes)
        return x
    if isinstance(x, np.ndarray):
        values = x
    else:
        raise InputError(f"expected an array, got {type(x).__name__}", source=source)
    kind = values.dtype.kind
    if kind == "c":
        raise InputError(f"holds complex values ({values.dtype})", source=source)
    if kind not in "biuf":
        raise InputError(
            f"holds {values.dtype} values; expected numbers (bool, int or float)",
            source=source,
        )
    if values.size == 0:
        raise InputError(
            f"holds no values (shape {tuple(values.shape)}); an input needs at least "
            "one sample and one time step",
            source=source,
        )
    if kind == "f":
        _first_bad(values, ~np.isfinite(values), "is not finite", source)
    if spikes:
        _first_bad(values, values < 0, "is negative; spike counts are >= 0", source)
        if kind == "f":
            _first_bad(
                values,
                values != np.round(values),
                "is not a whole number; spike counts are integers",
                source,
            )
    return x


def check_steps(steps: Any, *, source: str = "steps") -> int:
    """Return ``steps`` if it is a whole number >= 1, else raise ``InputError``."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise InputError(f"must be a whole number >= 1, got {steps!r}", source=source)
    if steps < 1:
        raise InputError(f"must be >= 1, got {steps}", source=source)
    return int(steps)


def _check_tensor(x: torch.Tensor, source: str, spikes: bool) -> None:
    """The same checks on a tensor, where it lives (no copy to the host)."""
    if x.is_complex():
        dtype = str(x.dtype).removeprefix("torch.")
        raise InputError(f"holds complex values ({dtype})", source=source)
    if x.numel() == 0:
        raise InputError(
            f"holds no values (shape {tuple(x.shape)}); an input needs at least "
            "one sample and one time step",
            source=source,
        )
    checks = []
    if x.is_floating_point():
        checks.append((~torch.isfinite(x), "is not finite"))
    if spikes and x.dtype != torch.bool:
        checks.append((x < 0, "is negative; spike counts are >= 0"))
        if x.is_floating_point():
            whole = "is not a whole number; spike counts are integers"
            checks.append((x != torch.round(x), whole))
    for bad, what in checks:
        if bool(bad.any()):
            index = tuple(int(i) for i in bad.nonzero()[0])
            _raise_bad(x[index].item(), index, what, int(bad.sum()), source)


def _first_bad(values: np.ndarray, bad: np.ndarray, what: str, source: str) -> None:
    flat = np.flatnonzero(bad)
    if not flat.size:
        return
    index = tuple(int(i) for i in np.unravel_index(int(flat[0]), values.shape))
    _raise_bad(values[index].item(), index, what, flat.size, source)


def _raise_bad(
    value: Any, index: tuple[int, ...], what: str, count: int, source: str
) -> None:
    raise InputError(
        f"value {value} at index {index} {what} ({count} such value(s))",
        source=source,
        index=index,
    )
