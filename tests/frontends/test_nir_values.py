"""NIR values the IR cannot hold exactly: complex parameters, fractional shapes.

Before, a complex weight lost its imaginary part with only a NumPy warning and an
Input shape ``[8.5]`` became 8; now each is a ``FrontendError`` naming the file and
the node. The reader is property-tested for "its error with the place, or success".
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from frontends.errors import FrontendError
from frontends.nir import from_nir


def write(path: Path, shape: Any, weight: np.ndarray, bias: Any = None) -> Path:
    fc: Any = nir.Linear(weight=np.ones((2, 8)))
    if bias is not None:
        fc = nir.Affine(weight=np.ones((2, 8)), bias=np.zeros(2))
        fc.bias = bias
    fc.weight = weight  # set after construction: nir checks shapes on init only
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([8])),
            "fc": fc,
            "out": nir.Output(output_type=np.array([2])),
        },
        edges=[("in", "fc"), ("fc", "out")],
        type_check=False,
    )
    graph.nodes["in"].input_type = {"input": np.asarray(shape)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # h5py on odd dtypes is not under test
        nir.write(path, graph)
    return path


def test_complex_weights_are_an_error_not_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "c.nir", [8], np.full((2, 8), 1 + 2j, np.complex64))
    with pytest.raises(FrontendError) as info:
        from_nir(path)
    assert str(info.value) == (
        f"{path}: node 'fc' (Linear): bad parameters: complex values (complex64); "
        "parameters must be real"
    )


def test_a_fractional_input_shape_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s.nir", [8.5], np.ones((2, 8)))
    with pytest.raises(FrontendError) as info:
        from_nir(path)
    assert str(info.value) == (
        f"{path}: node 'in' (Input): bad parameters: input shape [8.5] must hold "
        "whole numbers"
    )


def test_whole_float_shapes_still_import(tmp_path: Path) -> None:
    graph = from_nir(write(tmp_path / "ok.nir", [8.0], np.ones((2, 8))))
    assert graph.shape("in") == (8,)


_SHAPES = st.one_of(
    st.lists(st.integers(-2, 9), min_size=1, max_size=2),
    st.lists(st.floats(-3, 12) | st.just(float("nan")), min_size=1, max_size=2),
)
_WEIGHTS = hnp.arrays(
    st.sampled_from(["float32", "float64", "int16", "complex128", "bool"]),
    st.sampled_from([(2, 8), (8, 2), (2,), (0, 8)]),
)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_SHAPES, _WEIGHTS, st.booleans())
def test_the_reader_imports_or_names_file_and_node(
    tmp_path: Path, shape: list[Any], weight: np.ndarray, affine: bool
) -> None:
    path = write(tmp_path / "p.nir", shape, weight, np.zeros(2) if affine else None)
    try:
        graph = from_nir(path)
    except FrontendError as err:
        message = str(err)
        assert message.startswith(f"{path}: ")
        assert "node '" in message or "NIR graph" in message, message
    else:
        assert graph.shape("in") == tuple(int(d) for d in shape)
        assert weight.dtype.kind != "c"
