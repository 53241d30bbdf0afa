"""Named limits on what a ``.sfir`` file may ask for, and malformed files around it.

Each case failed late before (out of memory, ``OverflowError``, ``RecursionError``,
``EOFError``) or not at all; now each is a ``ParseError`` with the file position.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ir
from ir.parser import MAX_NESTING
from ir.verifier import MAX_ELEMENTS, MAX_INT_FIELD

HEAD = "sfir 1\ngraph @g {dt = 0.001} {\n  %x = io.input() {shape = SHAPE}\n"
TAIL = "  %y = io.output(%n) {}\n}\n"
LIF = (
    "  %n = snn.lif(%x) {tau = tensor<f32[]>[0.02], r = tensor<f32[]>[1], "
    "v_leak = tensor<f32[]>[0], v_threshold = tensor<f32[]>[1], max_spikes = SPIKES}\n"
)
CONV = (
    "  %n = nn.conv2d(%x) {weight = tensor<f32[1,1,1,1]>[1], bias = none, "
    "stride = (1, 1), padding = PAD, dilation = (1, 1), groups = 1}\n"
)


def text(shape: str = "(4)", body: str = LIF, spikes: str = "1", pad: str = "") -> str:
    body = body.replace("SPIKES", spikes).replace("PAD", pad)
    return HEAD.replace("SHAPE", shape) + body + TAIL


def parse_error(source: str) -> ir.ParseError:
    with pytest.raises(ir.ParseError) as info:
        ir.parse(source, source_name="m.sfir")
    assert info.value.line is not None
    assert info.value.column is not None
    assert "\n" in str(info.value)  # the source line and the caret follow
    return info.value


def test_a_shape_beyond_the_int_limit_names_the_field_and_limit() -> None:
    err = parse_error(text(shape="(99999999999999999999)"))
    assert (err.line, err.column) == (3, 3)
    assert err.detail == (
        "node 'x': io.input: field 'shape': 99999999999999999999 is beyond the limit "
        f"MAX_INT_FIELD = {MAX_INT_FIELD} (magnitude)"
    )


def test_max_spikes_beyond_the_int_limit() -> None:
    err = parse_error(text(spikes="100000000000000000000000"))
    assert err.line == 4
    assert "field 'max_spikes': 100000000000000000000000 is beyond" in err.detail


def test_huge_padding_is_bounded_by_the_output_size() -> None:
    err = parse_error(text(shape="(1, 2, 2)", body=CONV, pad="(100000, 100000)"))
    assert err.line == 4
    assert err.detail.startswith(
        "node 'n': nn.conv2d: output shape (1, 200002, 200002)"
    )
    assert f"beyond the limit MAX_ELEMENTS = {MAX_ELEMENTS}" in err.detail


def test_empty_weights_are_refused() -> None:
    body = "  %n = nn.linear(%x) {weight = tensor<f32[0,4]>[]}\n"
    err = parse_error(text(body=body))
    assert err.line == 4
    assert "field 'weight': the tensor is empty (shape (0, 4))" in err.detail


def test_infinite_weights_are_refused_where_they_are() -> None:
    body = "  %n = nn.linear(%x) {weight = tensor<f32[1,4]>[1, 2, -inf, 4]}\n"
    err = parse_error(text(body=body))
    assert err.line == 4
    assert "weight holds -inf at index (0, 2)" in err.detail


def test_tuples_nested_deeply_are_a_parse_error() -> None:
    deep = "(" * 3000 + "4" + ")" * 3000
    err = parse_error(text(shape=deep))
    assert (err.line, err.column) == (3, 28 + MAX_NESTING)
    assert f"MAX_NESTING = {MAX_NESTING}" in err.detail


def test_an_integer_over_the_digit_limit_is_a_parse_error() -> None:
    err = parse_error(text(spikes="9" * 5000))
    assert err.line == 4
    assert err.detail.startswith("bad number: ")


def test_empty_or_wrong_sidecar_is_a_parse_error(tmp_path: Path) -> None:
    g = ir.Graph("big", dt=1e-3)
    g.add("x", ir.ops.io.Input(shape=(3,)))
    g.add("fc", ir.ops.nn.Linear(weight=np.ones((2, 3), np.float32)), ["x"])
    g.add("y", ir.ops.io.Output(), ["fc"])
    ir.save(g, tmp_path / "m.sfir", inline_limit=1)
    sidecar = next(p for p in tmp_path.iterdir() if p.suffix == ".npz")
    sidecar.write_bytes(b"")
    # The text records the sidecar's digest: an emptied sidecar does not match it.
    with pytest.raises(ir.ParseError, match="does not match"):
        ir.load(tmp_path / "m.sfir")
    # A file from before digests: the empty sidecar itself is the error.
    text = (tmp_path / "m.sfir").read_text()
    (tmp_path / "m.sfir").write_text(re.sub(r' sha256 "[0-9a-f]+"', "", text))
    with pytest.raises(ir.ParseError, match="the file is empty") as info:
        ir.load(tmp_path / "m.sfir")
    assert info.value.line is not None
    np.save(sidecar.with_suffix(".tmp.npy"), np.ones(3))
    sidecar.write_bytes(sidecar.with_suffix(".tmp.npy").read_bytes())
    with pytest.raises(ir.ParseError, match=r"not an \.npz archive"):
        ir.load(tmp_path / "m.sfir")


_VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(0, 40).map(lambda n: "(" * n + "4" + ")" * n),
    st.sampled_from(["inf", "-inf", "nan", "1e23", "0", "-1", "()", "(0, 2)"]),
    st.integers(4295, 4400).map(lambda n: "7" * n),
)


@given(_VALUES, _VALUES, _VALUES)
def test_any_value_in_any_int_field_parses_or_is_a_located_error(
    shape: str, spikes: str, pad: str
) -> None:
    for source in (text(shape=shape, spikes=spikes), text("(1, 2, 2)", CONV, pad=pad)):
        try:
            graph = ir.parse(source, source_name="m.sfir")
        except ir.ParseError as err:
            error: ir.ParseError | None = err
        else:
            error = None
        if error is not None:
            assert str(error).startswith("m.sfir:")
            assert error.column is not None
            continue
        for name in graph.nodes():
            assert np.prod(graph.shape(name)) <= MAX_ELEMENTS
