"""The runtime input check (``ir.check_input``) and ``interpret``'s use of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ir
from ir.inputs import check_steps
from ir.ops import io, nn


def linear_graph() -> ir.Graph:
    g = ir.Graph("lin", dt=1e-3)
    g.add("x", io.Input(shape=(3,)))
    g.add("fc", nn.Linear(weight=np.eye(2, 3, dtype=np.float32)), ["x"])
    g.add("y", io.Output(), ["fc"])
    return g


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (np.full((1, 4, 3), np.nan, np.float32), "value nan at index (0, 0, 0) is not"),
        (np.array([[[0, 1, np.inf]]]), "value inf at index (0, 0, 2) is not finite"),
        (np.ones((1, 2, 3), np.complex64), "holds complex values (complex64)"),
        (torch.ones((1, 2, 3), dtype=torch.complex64), "holds complex values"),
        (np.full((1, 2, 3), "a"), "holds <U1 values; expected numbers"),
        (np.ones((1, 0, 3), np.float32), "holds no values (shape (1, 0, 3))"),
        (np.ones((0, 2, 3), np.float32), "holds no values (shape (0, 2, 3))"),
    ],
)
def test_interpret_rejects_what_no_graph_can_run(value: object, words: str) -> None:
    with pytest.raises(ir.InputError) as info:
        ir.interpret(linear_graph(), value)
    assert str(info.value).startswith("input 'x': ")
    assert words in str(info.value)


def test_nan_input_no_longer_gives_zeros_silently() -> None:
    x = np.zeros((1, 3, 3), np.float32)
    x[0, 2, 1] = np.nan
    with pytest.raises(ir.InputError) as info:
        ir.interpret(linear_graph(), x)
    assert info.value.index == (0, 2, 1)


def test_signed_real_inputs_are_a_graphs_to_take() -> None:
    # A graph's io.input is a real tensor (images, currents): negative values are
    # meaningful there; only a chip's raster must hold counts (spikes=True).
    x = -np.ones((1, 2, 3), np.float32)
    assert torch.equal(ir.interpret(linear_graph(), x), torch.full((1, 2, 2), -1.0))
    with pytest.raises(ir.InputError, match=r"is negative; spike counts are >= 0"):
        ir.check_input(x, source="x.npy", spikes=True)
    with pytest.raises(ir.InputError, match=r"0\.5 at index .* not a whole number"):
        ir.check_input(np.full((1, 1, 1), 0.5), source="x.npy", spikes=True)


@pytest.mark.parametrize("steps", [0, -5, True, 2.0])
def test_steps_below_one_or_not_whole_are_refused(steps: object) -> None:
    with pytest.raises(ir.InputError, match="steps: must be"):
        ir.interpret(linear_graph(), np.ones((1, 1, 3), np.float32), steps=steps)  # type: ignore[arg-type]
    assert check_steps(3) == 3


_DTYPES = st.sampled_from(
    ["bool", "int8", "int64", "uint8", "float16", "float32", "float64", "complex64"]
)


@given(
    hnp.arrays(
        _DTYPES,
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4),
    ),
    st.booleans(),
)
def test_check_input_is_its_error_with_a_place_or_the_input(
    x: np.ndarray, spikes: bool
) -> None:
    try:
        out = ir.check_input(x, source="data.npy", spikes=spikes)
    except ir.InputError as err:
        error = err
    else:
        error = None
    try:  # a tensor gets the same answer, checked where it lives
        ir.check_input(torch.from_numpy(x), source="data.npy", spikes=spikes)
    except ir.InputError as err:
        assert error is not None
        assert (str(err), err.index) == (str(error), error.index)  # noqa: PT017
    else:
        assert error is None
    if error is not None:
        assert str(error).startswith("data.npy: ")
        if error.index is not None:
            assert len(error.index) == x.ndim
            assert f"at index {error.index}" in str(error)
        return
    assert out is x
    assert x.size
    assert x.dtype.kind in "biuf"
    if x.dtype.kind == "f":
        assert np.isfinite(x).all()
    if spikes:
        assert (x >= 0).all()


@given(
    hnp.arrays(
        st.sampled_from(["float32", "float64", "int32", "complex128"]),
        st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(2, 4)),
    ),
    st.one_of(st.none(), st.integers(-2, 4)),
)
def test_interpret_succeeds_or_names_the_input(
    x: np.ndarray, steps: int | None
) -> None:
    try:
        y = ir.interpret(linear_graph(), x, steps=steps)
    except ir.InputError as err:
        place = err.source
    except ir.VerifyError as err:  # shape or length mismatch, naming the node
        place = f"node {err.node}"
    else:
        place = "" if torch.isfinite(y).all() else "non-finite output"
    assert place in ("", "input 'x'", "steps", "node x")
