"""parse(to_text(g)) is g, byte for byte, for every registered op.

Two sets of graphs: hypothesis-generated ones (any field values, built from each op's
``fields_``, parsed without verification) and one hand-written, verified example per
op (parsed with verification and saved to disk).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ir
from backends.xylo.ops import XyloCore
from ir.op import DTYPES, FieldKind
from ir.ops import io, nn, snn
from ir.serialize import digest

OP_NAMES = [cls.name for cls in ir.registered_ops()]
DT = 1e-3

# -- strategies ------------------------------------------------------------------------

_CODES = {
    "float": ["f32", "f64"],
    "int": [c for c, d in DTYPES.items() if d.kind in "iu"],
    "any": list(DTYPES),
}
_F32 = np.finfo(np.float32)
_F64 = np.finfo(np.float64)
# Values hypothesis may not reach on its own in a short run.
_FLOAT_EDGES = {
    4: [np.inf, -np.inf, -0.0, float(_F32.smallest_subnormal), float(_F32.max), 1e-40],
    8: [np.inf, -np.inf, -0.0, float(_F64.smallest_subnormal), float(_F64.max), 1e-310],
}


def _elements(dtype: np.dtype) -> st.SearchStrategy[Any]:
    if dtype.kind == "f":
        edges = st.sampled_from(_FLOAT_EDGES[dtype.itemsize])
        # NaN is rejected by the verifier (see test_nan_*), so it need not round-trip.
        return st.floats(width=dtype.itemsize * 8, allow_nan=False) | edges
    if dtype.kind == "b":
        return st.booleans()
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max))


@st.composite
def arrays(draw: st.DrawFn, element: str = "any") -> np.ndarray:
    dtype = DTYPES[draw(st.sampled_from(_CODES[element]))]
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))


def field_values(kind: FieldKind) -> st.SearchStrategy[Any]:
    """Any value of a field kind; a kind with no strategy fails the test (KeyError)."""
    base = {
        "tensor": arrays(kind.element),
        "float": st.floats(allow_nan=False),
        "int": st.integers(),
        "bool": st.booleans(),
        "str": st.text(max_size=8),
        # Mostly 1 or 2 entries: pair fields (stride, kernel_size) reject other lengths.
        "ints": (
            st.lists(st.integers(), min_size=1, max_size=2)
            | st.lists(st.integers(), max_size=3)
        ).map(tuple),
    }[kind.kind]
    return st.none() | base if kind.optional else base


node_names = st.text(min_size=1, max_size=10) | st.sampled_from(
    [
        "layer3.1.conv2",
        "a b",
        'say "hi"',
        "back\\slash",
        "ünïcode.ß",
        "%x",
        "@g",
        "1",
        "x²",
        "٣",
    ]
)
graph_names = st.text(max_size=10) | st.sampled_from(["main", "my net", "résumé"])
dts = st.none() | st.floats(allow_nan=False)
_meta_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
)
meta_values = st.recursive(
    _meta_scalars | arrays(),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=5,
)
meta_dicts = st.dictionaries(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True), meta_values, max_size=3
)

# -- helpers ---------------------------------------------------------------------------


def single_op_graph(
    op: ir.Op,
    *,
    name: str = "op",
    in_shape: tuple[int, ...] = (3,),
    graph_name: str = "main",
    dt: float | None = DT,
    meta: dict[str, Any] | None = None,
) -> ir.Graph:
    """``x -> op -> y``: one io.input per input port, one io.output per output port."""
    g = ir.Graph(graph_name, dt=dt)
    g.add(name, op, meta=meta)
    for port in op.input_ports:
        src = g.add(f"x_{port}", io.Input(shape=in_shape))
        g.connect(src, name, dst_port=port)
    for port in op.output_ports:
        dst = g.add(f"y_{port}", io.Output())
        g.connect(name, dst, src_port=port)
    return g


def assert_round_trips(g: ir.Graph, *, verify_graph: bool = False) -> ir.Graph:
    text = ir.to_text(g)
    parsed = ir.parse(text, verify_graph=verify_graph)
    assert parsed.is_equivalent(g), text
    assert ir.to_text(parsed) == text
    return parsed


# -- every op, generated parameters ----------------------------------------------------


def test_op_names_cover_the_registry() -> None:
    assert OP_NAMES == sorted(cls.name for cls in ir.registered_ops())
    assert {"io.input", "io.output", "nn.linear", "snn.lif"} <= set(OP_NAMES)


@pytest.mark.parametrize("op_name", OP_NAMES)
@given(data=st.data())
def test_every_op_round_trips_byte_for_byte(op_name: str, data: st.DataObject) -> None:
    cls = ir.get_op(op_name)
    fields = {f: data.draw(field_values(k), label=f) for f, k in cls.fields_.items()}
    try:
        op = cls(**fields)
    except ir.VerifyError:
        reject()  # e.g. a pair field with 3 entries; an op never built fails the test
    name = data.draw(node_names.filter(lambda n: not n.startswith(("x_", "y_"))))
    g = single_op_graph(
        op,
        name=name,
        graph_name=data.draw(graph_names, label="graph name"),
        dt=data.draw(dts, label="dt"),
        meta=data.draw(meta_dicts, label="meta"),
    )
    assert_round_trips(g)


# -- every op, a verified example ------------------------------------------------------


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _pos(*shape: int, seed: int = 1) -> np.ndarray:
    return np.abs(_rand(*shape, seed=seed)) + np.float32(0.01)


def _scalar(value: float) -> np.ndarray:
    return np.array(value, np.float32)


EXAMPLES: dict[str, tuple[tuple[int, ...], ir.Op]] = {
    "io.input": ((), io.Input(shape=(2, 5))),
    "io.output": ((4,), io.Output()),
    "nn.add": ((4,), nn.Add()),
    "nn.affine": ((3,), nn.Affine(weight=_rand(2, 3), bias=_rand(2, seed=5))),
    "nn.avgpool2d": ((2, 4, 4), nn.AvgPool2d(kernel_size=(2, 2))),
    "nn.batchnorm": (
        (3, 5),
        nn.BatchNorm(
            mean=_rand(3), var=_pos(3), weight=_rand(3, seed=2), bias=_rand(3, seed=3)
        ),
    ),
    "nn.clip": ((4,), nn.Clip(threshold=_scalar(1.5), levels=8, shift=0.5)),
    "nn.conv1d": (
        (2, 8),
        nn.Conv1d(weight=_rand(4, 1, 3), bias=_rand(4), stride=2, padding=1, groups=2),
    ),
    "nn.conv2d": (
        (2, 6, 6),
        nn.Conv2d(weight=_rand(4, 2, 3, 3), stride=(1, 2), padding=(1, 0)),
    ),
    "nn.flatten": ((2, 3, 4), nn.Flatten(start_dim=1)),
    "nn.linear": ((3,), nn.Linear(weight=_rand(2, 3))),
    "nn.maxpool2d": (
        (1, 4, 4),
        nn.MaxPool2d(kernel_size=(2, 2), stride=(1, 1), padding=(1, 1)),
    ),
    "nn.relu": ((4,), nn.ReLU()),
    "nn.scale": ((2, 3), nn.Scale(scale=_rand(3))),
    "nn.sumpool2d": ((1, 4, 4), nn.SumPool2d(kernel_size=(2,))),
    "snn.cubali": (
        (3,),
        snn.CubaLI(
            tau_syn=_scalar(5e-3),
            tau_mem=_pos(3),
            r=_scalar(1.0),
            v_leak=_rand(3),
            w_in=_scalar(0.5),
        ),
    ),
    "snn.cubalif": (
        (3,),
        snn.CubaLIF(
            tau_syn=_scalar(5e-3),
            tau_mem=_scalar(2e-2),
            r=_scalar(1.0),
            v_leak=_scalar(0.0),
            v_threshold=_pos(3),
            v_reset=_scalar(-0.5),
            reset="zero",
            v_init=_rand(3),
        ),
    ),
    "snn.delay": ((3,), snn.Delay(delay=np.array([0.0, 1e-3, 2e-3], np.float32))),
    "snn.if": (
        (2, 2),
        snn.IF(
            r=_scalar(1000.0),
            v_threshold=_scalar(1.0),
            reset="subtract",
            max_spikes=3,
        ),
    ),
    "snn.integrator": ((3,), snn.Integrator(r=_scalar(1000.0), v_init=_rand(3))),
    "snn.li": (
        (3,),
        snn.LI(tau=_scalar(1e-2), r=_scalar(2.0), v_leak=_scalar(0.1)),
    ),
    "snn.lif": (
        (3,),
        snn.LIF(
            tau=_pos(3),
            r=_scalar(1.0),
            v_leak=_scalar(0.0),
            v_threshold=_scalar(1.0),
        ),
    ),
    "snn.threshold": ((3,), snn.Threshold(threshold=_rand(3))),
    "snn.rate_encode": ((3,), snn.RateEncode(gain=0.25, seed=7)),
    # The Xylo dialect arrives through the spikeforge.dialects entry point.
    "xylo.core": (
        (2,),
        XyloCore(
            variant="xylo-audio2",
            weights_in=np.array([[[5, -3], [0, 2], [7, 0]]] * 2, np.int8),
            weights_rec=np.zeros((3, 3, 2), np.int8),
            weights_out=np.array([[1, 0], [0, -2], [3, 3]], np.int8),
            dash_mem=np.array([1, 2, 3], np.uint8),
            dash_syn=np.array([1, 1, 4], np.uint8),
            dash_syn_2=np.array([2, 2, 2], np.uint8),
            dash_mem_out=np.array([1, 5], np.uint8),
            dash_syn_out=np.array([3, 1], np.uint8),
            threshold=np.array([10, 20, 30], np.int16),
            threshold_out=np.array([5, 50], np.int16),
            bias=np.array([0, -1, 2], np.int8),
            bias_out=np.array([1, 0], np.int8),
            aliases=np.array([-1, 0, -1], np.int32),
            weight_shift_in=2,
        ),
    ),
}


def example_graph(op_name: str) -> ir.Graph:
    in_shape, op = EXAMPLES[op_name]
    return single_op_graph(op, name="layer3.1." + op_name, in_shape=in_shape)


def test_examples_cover_every_registered_op() -> None:
    assert sorted(EXAMPLES) == OP_NAMES
    for op_name, (_, op) in EXAMPLES.items():
        assert op.name == op_name


@pytest.mark.parametrize("op_name", OP_NAMES)
def test_example_round_trips_with_verification(op_name: str) -> None:
    g = example_graph(op_name)
    ir.verify(g)
    assert_round_trips(g, verify_graph=True)


@pytest.mark.parametrize("op_name", OP_NAMES)
@pytest.mark.parametrize("inline_limit", [4096, 0])
def test_example_round_trips_through_files(
    op_name: str, inline_limit: int, tmp_path: Path
) -> None:
    g = example_graph(op_name)
    path = tmp_path / "model.sfir"
    ir.save(g, path, inline_limit=inline_limit)
    loaded = ir.load(path)
    assert loaded.is_equivalent(g)
    blobs: dict[str, np.ndarray] = {}
    sidecar = tmp_path / "model.sfir.npz"
    text = ir.to_text(
        g,
        sidecar=sidecar.name,
        blobs=blobs,
        inline_limit=inline_limit,
        sidecar_digest=lambda _: digest(sidecar.read_bytes()),
    )
    assert path.read_text(encoding="utf-8") == text
    assert sidecar.exists() == bool(blobs)


# -- exactness of numbers --------------------------------------------------------------


def _scale_graph(scale: np.ndarray) -> ir.Graph:
    return single_op_graph(nn.Scale(scale=scale), name="s")


@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6),
        elements=st.floats(width=32, allow_nan=False),
    )
)
def test_float32_weights_keep_their_bits(scale: np.ndarray) -> None:
    parsed = assert_round_trips(_scale_graph(scale))
    got = parsed.op("s").scale
    assert got.dtype == np.float32
    assert got.tobytes() == scale.tobytes()


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6),
        elements=st.floats(allow_nan=False),
    )
)
def test_float64_weights_keep_their_bits(scale: np.ndarray) -> None:
    parsed = assert_round_trips(_scale_graph(scale))
    got = parsed.op("s").scale
    assert got.dtype == np.float64
    assert got.tobytes() == scale.tobytes()


def test_special_floats_keep_their_bits() -> None:
    values = [np.inf, -np.inf, -0.0, 0.0, 1e-45, -1e-45, 1e-40, 3.4028235e38, -1.1]
    scale = np.array(values, np.float32)
    parsed = assert_round_trips(_scale_graph(scale))
    assert parsed.op("s").scale.tobytes() == scale.tobytes()
    text = ir.to_text(parsed)
    # Subnormals have fewer digits of precision, but still print with 6 or more.
    shown = "[inf, -inf, -0.0, 0.0, 1e-45, -1e-45, 1e-40, 3.4028235e+38, -1.1]"
    assert shown in text


@pytest.mark.parametrize("code", ["i8", "i16", "i32", "i64", "u8", "u16", "bool"])
def test_int_and_bool_arrays_keep_their_values(code: str) -> None:
    dtype = DTYPES[code]
    if dtype.kind == "b":
        arr = np.array([[True, False], [False, True]])
    else:
        info = np.iinfo(dtype)
        arr = np.array([[info.min, info.max], [0, 1]], dtype)
    g = single_op_graph(nn.ReLU(), meta={"table": arr, "tables": (arr, arr[0])})
    parsed = assert_round_trips(g)
    got = parsed.meta("op")["table"]
    assert got.dtype == dtype
    assert got.tobytes() == arr.tobytes()


# -- NaN is rejected at verify time ----------------------------------------------------


def test_nan_weight_fails_verify_naming_node_field_and_index() -> None:
    weight = _rand(2, 3)
    weight[1, 2] = np.nan
    g = single_op_graph(nn.Linear(weight=weight), name="fc1")
    with pytest.raises(ir.VerifyError) as info:
        ir.verify(g)
    assert info.value.node == "fc1"
    assert "weight" in str(info.value)
    assert "(1, 2)" in str(info.value)


def test_nan_neuron_parameter_fails_verify_naming_node_field_and_index() -> None:
    threshold = np.ones(4, np.float32)
    threshold[3] = np.nan
    lif = snn.LIF(
        tau=_scalar(0.02), r=_scalar(1), v_leak=_scalar(0), v_threshold=threshold
    )
    with pytest.raises(ir.VerifyError) as info:
        ir.verify(single_op_graph(lif, name="lif", in_shape=(4,)))
    assert info.value.node == "lif"
    assert "v_threshold" in str(info.value)
    assert "(3,)" in str(info.value)


def test_nan_in_text_fails_parse_at_the_node() -> None:
    text = ir.to_text(single_op_graph(nn.Linear(weight=_rand(2, 3)), name="fc1"))
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if "nn.linear" in line)
    lines[row] = lines[row].replace("tensor<f32[2,3]>[", "tensor<f32[2,3]>[nan, ")
    lines[row] = lines[row].rsplit(",", 1)[0] + "]}"
    with pytest.raises(ir.ParseError) as info:
        ir.parse("\n".join(lines))
    assert (info.value.line, info.value.column) == (row + 1, 3)
    assert "node 'fc1'" in str(info.value)
    assert "weight holds NaN at index (0, 0)" in str(info.value)


def _float_tensor(kind: FieldKind) -> bool:
    return kind.kind == "tensor" and kind.element == "float"


OPS_WITH_TENSORS = [
    name
    for name in OP_NAMES
    if any(_float_tensor(kind) for kind in ir.get_op(name).fields_.values())
]


@pytest.mark.parametrize("op_name", OPS_WITH_TENSORS)
def test_nan_in_any_float_parameter_fails_verify(op_name: str) -> None:
    _, op = EXAMPLES[op_name]
    tensors = [f for f, k in op.fields_.items() if _float_tensor(k)]
    assert any(getattr(op, f) is not None for f in tensors)
    for field in tensors:
        value = getattr(op, field)
        if value is None:
            continue
        poisoned = value.copy()
        poisoned.reshape(-1)[-1] = np.nan
        in_shape = EXAMPLES[op_name][0]
        g = single_op_graph(
            op.replace(**{field: poisoned}), name="n", in_shape=in_shape
        )
        with pytest.raises(ir.VerifyError, match=field) as info:
            ir.verify(g)
        assert info.value.node == "n"


# -- names, meta, edges, dt ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "layer3.1.conv2",
        "a b",
        'say "hi"',
        "tab\there",
        "ünïcode",
        "日本",
        "-x",
        "$",
        "0\n",  # a bare name but for the newline (hypothesis found it)
    ],
)
def test_names_that_need_quoting_round_trip(name: str) -> None:
    g = single_op_graph(nn.ReLU(), name=name, graph_name=name)
    parsed = assert_round_trips(g, verify_graph=True)
    assert name in parsed
    assert parsed.name == name


def test_bare_names_print_without_quotes() -> None:
    text = ir.to_text(single_op_graph(nn.ReLU(), name="layer3.1.conv2"))
    assert "%layer3.1.conv2 = nn.relu(%x_input)" in text
    text = ir.to_text(single_op_graph(nn.ReLU(), name="a b", graph_name="my net"))
    assert '%"a b" = nn.relu(%x_input)' in text
    assert 'graph @"my net" {' in text


@pytest.mark.parametrize(
    "value",
    [
        0,
        -(2**70),
        1.5,
        -0.0,
        float("inf"),
        'text with "quotes" and\nnewline',
        True,
        False,
        None,
        (),
        (1,),
        (1, (2.5, "x"), None),
        np.arange(6, dtype=np.int16).reshape(2, 3),
        (np.zeros(2, np.float32), np.ones((), np.bool_)),
    ],
)
def test_meta_values_round_trip(value: Any) -> None:
    g = single_op_graph(nn.ReLU(), meta={"info": value, "shape": (3,)})
    parsed = assert_round_trips(g, verify_graph=True)
    assert "info" in parsed.meta("op")


def test_meta_distinguishes_ints_bools_and_float_signs() -> None:
    # is_equivalent must not call 1 == True or 0.0 == -0.0 equal, even inside tuples.
    a = single_op_graph(nn.ReLU(), meta={"k": (1, 0.0)})
    assert not a.is_equivalent(single_op_graph(nn.ReLU(), meta={"k": (True, 0.0)}))
    assert not a.is_equivalent(single_op_graph(nn.ReLU(), meta={"k": (1, -0.0)}))
    assert a.is_equivalent(single_op_graph(nn.ReLU(), meta={"k": (1, 0.0)}))


def test_transient_meta_is_not_printed() -> None:
    g = single_op_graph(nn.ReLU(), meta={"_cache": object(), "kept": 1})
    text = ir.to_text(g)
    assert "_cache" not in text
    assert "meta {kept = 1}" in text
    assert ir.parse(text).meta("op") == {"kept": 1}


def _lif(shape: tuple[int, ...] = ()) -> snn.LIF:
    return snn.LIF(
        tau=np.full(shape, 0.02, np.float32),
        r=_scalar(1),
        v_leak=_scalar(0),
        v_threshold=_scalar(1),
    )


def test_recurrent_edges_round_trip() -> None:
    g = ir.Graph("rnn", dt=DT)
    g.add("x", io.Input(shape=(3,)))
    g.add("fc", nn.Linear(weight=_rand(3, 3)), ["x"])
    g.add("lif", _lif(), ["fc"])
    g.add("rec", nn.Linear(weight=_rand(3, 3, seed=4)), ["lif"])
    g.connect("rec", "lif", recurrent=True)
    g.add("self", _lif((3,)), ["lif"])
    g.connect("self", "self", recurrent=True)
    g.add("y", io.Output(), ["self"])
    ir.verify(g)
    parsed = assert_round_trips(g, verify_graph=True)
    recurrent = {(e.src, e.dst) for e in parsed.edges() if e.recurrent}
    assert recurrent == {("rec", "lif"), ("self", "self")}
    text = ir.to_text(g)
    assert "%lif = snn.lif(%fc, prev %rec)" in text
    assert "%self = snn.lif(%lif, prev %self)" in text


def test_recurrent_edge_may_name_a_node_defined_later() -> None:
    text = ir.to_text(single_op_graph(_lif(), name="lif"))
    text = text.replace("snn.lif(%x_input)", "snn.lif(%x_input, prev %back)")
    text = text.replace(
        "  %y_output",
        "  %back = nn.scale(%lif) {scale = tensor<f32[]>[0.5]}\n  %y_output",
    )
    parsed = ir.parse(text)
    assert [e.src for e in parsed.in_edges("lif")] == ["back", "x_input"]
    assert ir.to_text(ir.parse(ir.to_text(parsed))) == ir.to_text(parsed)


@pytest.mark.parametrize("dt", [None, 1e-3, 0.1, 1.0, 5e-324, 2.5])
def test_dt_round_trips(dt: float | None) -> None:
    g = single_op_graph(nn.ReLU(), dt=dt)
    parsed = assert_round_trips(g, verify_graph=True)
    assert parsed.dt == dt
    assert type(parsed.dt) is type(dt)
    expected = "none" if dt is None else repr(dt)
    assert f"graph @main {{dt = {expected}}} {{" in ir.to_text(g)


def test_integer_dt_in_text_reads_as_float() -> None:
    parsed = ir.parse(
        "sfir 1\ngraph @g {dt = 1} {\n  %y = io.output() {}\n}\n", verify_graph=False
    )
    assert parsed.dt == 1.0
    assert isinstance(parsed.dt, float)


def test_printer_is_canonical_regardless_of_insertion_order() -> None:
    g1 = ir.Graph()
    g1.add("x", io.Input(shape=(2,)))
    for name in ("fc10", "fc2", "fc1"):
        g1.add(name, nn.ReLU(), ["x"])
    g1.add("y", io.Output(), ["fc10", "fc2", "fc1"])
    g2 = ir.Graph()
    g2.add("y", io.Output())
    for name in ("fc1", "fc2", "fc10"):
        g2.add(name, nn.ReLU())
        g2.connect(name, "y")
    g2.add("x", io.Input(shape=(2,)))
    for name in ("fc2", "fc10", "fc1"):
        g2.connect("x", name)
    assert ir.to_text(g1) == ir.to_text(g2)
    assert "%y = io.output(%fc1, %fc2, %fc10) {}" in ir.to_text(g1)
    assert_round_trips(g1, verify_graph=True)


def test_text_form_reads_as_documented() -> None:
    g = single_op_graph(nn.Linear(weight=np.eye(2, 3, dtype=np.float32)), name="fc")
    assert ir.to_text(g) == (
        "sfir 1\n"
        "graph @main {dt = 0.001} {\n"
        "  %x_input = io.input() {shape = (3)}\n"
        "  %fc = nn.linear(%x_input) {weight = tensor<f32[2,3]>[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]}\n"
        "  %y_output = io.output(%fc) {}\n"
        "}\n"
    )


def test_comments_and_whitespace_are_ignored() -> None:
    text = (
        "// a comment before the header\n\n"
        "sfir 1 // version\n"
        "graph @main {dt = 0.001,} {   // trailing commas are allowed\n"
        "  %x = io.input() {shape = (3,)}\n"
        '  %y = io.output(\n    %x,\n  ) {} meta {note = "hi",}\n'
        "}\n"
    )
    parsed = ir.parse(text)
    assert ir.to_text(parsed) == (
        "sfir 1\n"
        "graph @main {dt = 0.001} {\n"
        "  %x = io.input() {shape = (3)}\n"
        '  %y = io.output(%x) {} meta {note = "hi"}\n'
        "}\n"
    )
