"""The verifier's errors (each names its node) and shape inference against torch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import ir
from ir.ops import io, nn, snn

DT = 1e-3


def lif(**fields: object) -> snn.LIF:
    base: dict[str, object] = {"tau": 0.02, "r": 1.0, "v_leak": 0.0, "v_threshold": 1.0}
    base.update(fields)
    return snn.LIF(**base)


def single(
    op: ir.Op, shape: tuple[int, ...] = (3,), *, dt: float | None = DT
) -> ir.Graph:
    g = ir.Graph(dt=dt)
    g.add("x", io.Input(shape=shape))
    g.add("n", op, ["x"])
    g.add("y", io.Output(), ["n"])
    return g


def error(g: ir.Graph) -> ir.VerifyError:
    with pytest.raises(ir.VerifyError) as err:
        ir.verify(g)
    return err.value


def test_a_well_formed_graph_passes() -> None:
    g = single(lif())
    g.add("w", nn.Linear(weight=np.eye(3, dtype=np.float32)), ["n"])
    g.connect("w", "n", recurrent=True)
    assert ir.verify(g) is None


# -- structure -----------------------------------------------------------------------


def test_unknown_output_port() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(2,)))
    g.add("y", io.Output())
    g.connect("x", "y", src_port="spikes")
    err = error(g)
    assert err.node == "y"
    assert "output port 'spikes'" in err.detail
    assert "io.input has ports 'output'" in err.detail


def test_unknown_input_port() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(2,)))
    g.add("r", nn.ReLU(), ["x"])
    g.add("y", io.Output(), ["r"])
    g.add("x2", io.Input(shape=(2,)))
    g.connect("x2", "r", dst_port="bias")
    err = error(g)
    assert err.node == "r"
    assert "port 'bias'" in err.detail
    assert "nn.relu has ports 'input'" in err.detail


def test_edge_into_an_op_without_input_ports() -> None:
    g = ir.Graph()
    g.add("a", io.Input(shape=(2,)))
    g.add("b", io.Input(shape=(2,)), ["a"])
    g.add("y", io.Output(), ["b"])
    err = error(g)
    assert err.node == "b"
    assert "io.input has no such ports" in err.detail


def test_unconnected_port() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(2,)))
    g.add("l", lif())
    g.add("y", io.Output(), ["x"])
    err = error(g)
    assert err.node == "l"
    assert "input port 'input' is not connected" in err.detail


def test_recurrent_edge_between_stateless_ops() -> None:
    g = single(nn.ReLU(), dt=None)
    g.add("s", nn.Scale(scale=2.0), ["n"])
    g.connect("s", "n", recurrent=True)
    err = error(g)
    assert err.node == "n"
    assert "recurrent edge from 's' (nn.scale) to nn.relu" in err.detail
    assert "neither end has state" in err.detail


def test_recurrent_edge_leaving_a_stateful_op_is_legal_and_reads_the_last_step() -> (
    None
):
    # lif -> prev w_rec -> lif: the recurrent weight's bias acts from the first step.
    g = ir.Graph("g", dt=1e-3)
    g.add("x", io.Input(shape=(1,)))
    g.add("lif", snn.LIF(tau=0.01, r=1.0, v_leak=0.0, v_threshold=10.0), ["x"])
    g.add(
        "w_rec",
        nn.Affine(weight=np.ones((1, 1), np.float32), bias=np.ones(1, np.float32)),
    )
    g.connect("lif", "w_rec", recurrent=True)
    g.connect("w_rec", "lif")
    g.add("y", io.Output(), ["w_rec"])
    ir.verify(g)
    out = ir.interpret(g, torch.zeros(1, 3, 1))
    assert out[0, :, 0].tolist() == [1.0, 1.0, 1.0]  # W * no spike + b, from t = 0


@pytest.mark.parametrize("size", [2, 3])
def test_cycle_without_a_recurrent_edge_lists_the_cycle(size: int) -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(2,)))
    names = [f"c{i}" for i in range(size)]
    g.add(names[0], lif(), ["x"])
    for prev, name in itertools.pairwise(names):
        g.add(name, nn.ReLU(), [prev])
    g.connect(names[-1], names[0])
    g.add("y", io.Output(), [names[0]])
    err = error(g)
    message = str(err).split(" has no recurrent edge")[0]
    assert message.startswith("cycle ")
    path = message.removeprefix("cycle ").split(" -> ")
    assert path[0] == path[-1]
    assert sorted(path[:-1]) == names
    assert "prev %" in str(err)


def test_cycle_through_a_recurrent_edge_into_a_stateful_op_is_legal() -> None:
    g = single(lif())
    g.add("r", nn.ReLU(), ["n"])
    g.connect("r", "n", recurrent=True)
    ir.verify(g)


# -- dt ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        lif(),
        snn.IF(r=1.0, v_threshold=1.0),
        snn.LI(tau=0.02, r=1.0, v_leak=0.0),
        snn.Integrator(r=1.0),
        snn.CubaLIF(tau_syn=0.01, tau_mem=0.02, r=1.0, v_leak=0.0, v_threshold=1.0),
        snn.CubaLI(tau_syn=0.01, tau_mem=0.02, r=1.0, v_leak=0.0),
        snn.Delay(delay=0.0),
    ],
    ids=lambda op: op.name,
)
def test_snn_op_without_dt_names_the_node(op: ir.Op) -> None:
    err = error(single(op, dt=None))
    assert err.node == "n"
    assert f"{op.name} needs the graph's dt" in err.detail


def test_stateless_graph_needs_no_dt() -> None:
    ir.verify(single(snn.Threshold(threshold=0.5), dt=None))


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan"), float("inf")])
def test_dt_must_be_a_positive_number(dt: float) -> None:
    err = error(single(nn.ReLU(), dt=dt))
    assert "dt must be a positive number" in str(err)
    assert "@main" in str(err)


def test_delay_not_a_multiple_of_dt() -> None:
    err = error(single(snn.Delay(delay=[0.0, 0.0025, 0.003])))
    assert err.node == "n"
    assert "not a multiple of dt=0.001" in err.detail


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_delay_must_be_finite(value: float) -> None:
    err = error(single(snn.Delay(delay=[0.001, value, 0.002])))
    assert err.node == "n"
    assert "finite" in err.detail


def test_negative_delay() -> None:
    err = error(single(snn.Delay(delay=[0.001, -0.001, 0.0])))
    assert err.node == "n"
    assert "delay must be >= 0" in err.detail


# -- shapes --------------------------------------------------------------------------


def test_shape_mismatch_of_two_edges_into_one_port_names_both() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(3,)))
    g.add("fc_a", nn.Linear(weight=np.ones((2, 3), np.float32)), ["x"])
    g.add("fc_b", nn.Linear(weight=np.ones((4, 3), np.float32)), ["x"])
    g.add("y", io.Output(), ["fc_b", "fc_a"])
    err = error(g)
    assert err.node == "y"
    assert "'fc_a' gives (2,)" in err.detail
    assert "'fc_b' gives (4,)" in err.detail
    assert "port 'input'" in err.detail


def test_recurrent_edge_shape_must_match_its_port() -> None:
    g = single(lif())
    g.add("w", nn.Linear(weight=np.ones((2, 3), np.float32)), ["n"])
    g.connect("w", "n", recurrent=True)
    err = error(g)
    assert err.node == "n"
    assert (
        "edges into port 'input' disagree: 'x' gives (3,), 'w' gives (2,)" in err.detail
    )
    assert "(3,)" in err.detail


def test_port_fed_only_by_recurrent_edges() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(2,)))
    g.add("l", lif())
    g.connect("l", "l", recurrent=True)
    g.add("y", io.Output(), ["x", "l"])
    err = error(g)
    assert err.node == "l"
    assert "fed only by recurrent edges (l)" in err.detail


def test_stale_meta_shape() -> None:
    g = single(nn.Linear(weight=np.ones((2, 3), np.float32)), dt=None)
    g.meta("n")["shape"] = (2,)
    ir.verify(g)
    g.meta("n")["shape"] = (5,)
    err = error(g)
    assert err.node == "n"
    assert "meta shape (5,) disagrees with the inferred shape (2,)" in err.detail


def test_meta_shape_as_a_list_is_accepted() -> None:
    g = single(nn.ReLU(), (2, 3), dt=None)
    g.meta("n")["shape"] = [2, 3]
    ir.verify(g)


def test_graph_without_an_output() -> None:
    g = ir.Graph("net")
    g.add("x", io.Input(shape=(2,)))
    g.add("r", nn.ReLU(), ["x"])
    err = error(g)
    assert err.node is None
    assert "graph @net has no io.output node" in str(err)


def test_op_level_shape_error_names_the_node() -> None:
    err = error(single(nn.Linear(weight=np.ones((2, 4), np.float32)), dt=None))
    assert err.node == "n"
    assert err.detail.startswith("nn.linear: ")
    assert "must end in 4" in err.detail


def test_parameter_that_does_not_broadcast_to_the_layer() -> None:
    err = error(single(lif(v_threshold=[1.0, 2.0])))
    assert err.node == "n"
    assert "v_threshold of shape (2,) does not broadcast to layer shape (3,)" in str(
        err
    )


# -- op-level checks -----------------------------------------------------------------


def op_error(op: ir.Op, shape: tuple[int, ...] = (3,)) -> ir.VerifyError:
    err = error(single(op, shape))
    assert err.node == "n"
    assert err.detail.startswith(f"{op.name}: ")
    return err


@pytest.mark.parametrize("weight", [np.ones(3), np.ones((1, 2, 3))])
def test_linear_weight_must_be_2d(weight: np.ndarray) -> None:
    err = op_error(nn.Linear(weight=weight.astype(np.float32)))
    assert "weight must be 2-D" in err.detail


def test_affine_bias_shape() -> None:
    err = op_error(nn.Affine(weight=np.ones((2, 3)), bias=np.ones(3)))
    assert "bias shape (3,) must be (2,)" in err.detail


@pytest.mark.parametrize(
    ("tau", "neuron"),
    [([0.02, -0.01, 0.03], "(1,)"), ([0.02, 0.01, 0.0], "(2,)"), (-1.0, "()")],
)
def test_tau_must_be_positive_and_names_the_neuron(tau: object, neuron: str) -> None:
    err = op_error(lif(tau=tau))
    assert f"tau must be > 0; neuron {neuron}" in err.detail


def test_tau_error_names_a_2d_neuron_index() -> None:
    tau = np.full((2, 3), 0.02, np.float32)
    tau[1, 2] = -0.5
    err = op_error(lif(tau=tau), (2, 3))
    assert "neuron (1, 2) has -0.5" in err.detail


@pytest.mark.parametrize("field", ["tau_syn", "tau_mem"])
def test_cuba_time_constants_must_be_positive(field: str) -> None:
    fields = {"tau_syn": 0.01, "tau_mem": 0.02, field: [0.01, 0.01, 0.0]}
    err = op_error(snn.CubaLI(r=1.0, v_leak=0.0, **fields))
    assert f"{field} must be > 0; neuron (2,)" in err.detail


@pytest.mark.parametrize("theta", [0.0, -1.0, [1.0, 0.0, 1.0]])
def test_subtract_reset_needs_a_positive_threshold(theta: object) -> None:
    err = op_error(lif(v_threshold=theta, reset="subtract"))
    assert "v_threshold must be > 0" in err.detail


def test_zero_reset_allows_a_non_positive_threshold() -> None:
    ir.verify(single(lif(v_threshold=-0.5, reset="zero")))


def test_max_spikes_above_one_needs_subtract_reset() -> None:
    err = op_error(lif(max_spikes=2, reset="zero"))
    assert 'max_spikes > 1 needs reset = "subtract"' in err.detail
    ir.verify(single(lif(max_spikes=2, reset="subtract")))


def test_max_spikes_must_be_at_least_one() -> None:
    err = op_error(snn.IF(r=1.0, v_threshold=1.0, reset="subtract", max_spikes=0))
    assert "max_spikes must be >= 1, got 0" in err.detail


def test_unknown_reset_mode() -> None:
    err = op_error(lif(reset="clamp"))
    assert "reset must be one of subtract, zero, got 'clamp'" in err.detail


def test_nan_weight_names_field_and_index() -> None:
    weight = np.ones((2, 3), np.float32)
    weight[1, 2] = np.nan
    err = op_error(nn.Linear(weight=weight))
    assert "weight holds NaN at index (1, 2)" in err.detail


@pytest.mark.parametrize(
    "op",
    [
        nn.Affine(weight=np.ones((2, 3)), bias=[0.0, np.nan]),
        nn.Conv1d(weight=np.ones((2, 3, 1)), bias=[np.nan, 0.0]),
    ],
    ids=["affine", "conv1d"],
)
def test_nan_bias_names_the_field(op: ir.Op) -> None:
    shape = (3,) if op.name == "nn.affine" else (3, 4)
    err = op_error(op, shape)
    assert "bias holds NaN at index" in err.detail


def test_nan_neuron_parameter_names_field_and_neuron() -> None:
    err = op_error(lif(v_threshold=[1.0, 1.0, np.nan]))
    assert "v_threshold holds NaN at neuron (2,)" in err.detail


@pytest.mark.parametrize(
    ("op", "shape", "expected"),
    [
        (
            nn.Conv1d(weight=np.ones((4, 2, 3)), groups=3),
            (6, 5),
            "groups=3 must divide",
        ),
        (nn.Conv1d(weight=np.ones((2, 3))), (3, 5), "weight must be 3-D"),
        (nn.Conv1d(weight=np.ones((2, 3, 1)), stride=0), (3, 5), "stride and dilation"),
        (
            nn.Conv2d(weight=np.ones((2, 3, 1, 1)), padding=-1),
            (3, 4, 4),
            "padding >= 0",
        ),
        (nn.MaxPool2d(kernel_size=2, padding=2), (1, 4, 4), "at most half of kernel"),
        (nn.AvgPool2d(kernel_size=(2, 0)), (1, 4, 4), "kernel_size and stride"),
        (nn.Clip(threshold=[1.0, 0.0, 1.0]), (3,), "threshold must be > 0"),
        (nn.Clip(threshold=1.0, levels=-1), (3,), "levels must be >= 0"),
        (
            nn.BatchNorm(
                mean=np.zeros(3), var=[1, -1, 1], weight=np.ones(3), bias=np.zeros(3)
            ),
            (3,),
            "var and eps must be >= 0",
        ),
        (
            nn.BatchNorm(
                mean=np.zeros(3), var=np.ones(2), weight=np.ones(3), bias=np.zeros(3)
            ),
            (3,),
            "var has shape (2,); all must be (C,)",
        ),
        (nn.Scale(scale=np.ones(2)), (3,), "scale of shape (2,) does not broadcast"),
        (nn.Flatten(start_dim=1, end_dim=0), (2, 3), "out of range for rank 2"),
        (nn.Conv2d(weight=np.ones((1, 2, 3, 3))), (3, 4, 4), "weight expects 2"),
        (nn.Conv2d(weight=np.ones((1, 3, 5, 1))), (3, 4, 4), "does not fit"),
        (nn.MaxPool2d(kernel_size=3), (1, 2, 4), "does not fit"),
        (nn.AvgPool2d(kernel_size=2), (4, 4), "must be (C, H, W)"),
    ],
)
def test_op_checks(op: ir.Op, shape: tuple[int, ...], expected: str) -> None:
    err = op_error(op, shape)
    assert expected in err.detail


def test_input_shape_must_be_positive() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(3, 0)))
    g.add("y", io.Output(), ["x"])
    err = error(g)
    assert err.node == "x"
    assert "has a dimension <= 0" in err.detail


# -- shape inference against torch ---------------------------------------------------


def shape_or_error(op: ir.Op, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The inferred output shape, or None when verification rejects the layer."""
    g = single(op, shape, dt=None)
    try:
        ir.verify(g)
    except ir.VerifyError as err:
        node = err.node
    else:
        return g.shape("n")
    assert node == "n"
    return None


def torch_shape(
    module: torch.nn.Module, shape: tuple[int, ...]
) -> tuple[int, ...] | None:
    try:
        with torch.no_grad():
            return tuple(module(torch.zeros(1, *shape)).shape[1:])
    except RuntimeError:
        return None


def assert_interpreted_shape(
    op: ir.Op, shape: tuple[int, ...], out: tuple[int, ...]
) -> None:
    y = ir.interpret(single(op, shape, dt=None), torch.zeros(1, 1, *shape))
    assert tuple(y.shape[2:]) == out


small = st.integers(1, 3)


@given(
    cin_per_group=small,
    cout_per_group=small,
    groups=small,
    k=st.integers(1, 4),
    stride=small,
    padding=st.integers(0, 3),
    dilation=small,
    length=st.integers(1, 12),
)
def test_conv1d_output_shape_matches_torch(
    cin_per_group: int,
    cout_per_group: int,
    groups: int,
    k: int,
    stride: int,
    padding: int,
    dilation: int,
    length: int,
) -> None:
    cin, cout = cin_per_group * groups, cout_per_group * groups
    module = torch.nn.Conv1d(
        cin, cout, k, stride, padding, dilation, groups, bias=False
    )
    op = nn.Conv1d(
        weight=module.weight.detach(),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    expected = torch_shape(module, (cin, length))
    assert shape_or_error(op, (cin, length)) == expected
    if expected is not None:
        assert_interpreted_shape(op, (cin, length), expected)


pairs = st.tuples(small, small)


@given(
    groups=st.integers(1, 2),
    k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=pairs,
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=pairs,
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
)
def test_conv2d_output_shape_matches_torch(
    groups: int,
    k: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    size: tuple[int, int],
) -> None:
    module = torch.nn.Conv2d(2, 2 * groups, k, stride, padding, dilation, groups, False)
    op = nn.Conv2d(
        weight=module.weight.detach(),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    expected = torch_shape(module, (2, *size))
    assert shape_or_error(op, (2, *size)) == expected
    if expected is not None:
        assert_interpreted_shape(op, (2, *size), expected)


@given(
    kind=st.sampled_from(["avg", "sum", "max"]),
    k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.none() | pairs,
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
)
def test_pool_output_shape_matches_torch(
    kind: str,
    k: tuple[int, int],
    stride: tuple[int, int] | None,
    padding: tuple[int, int],
    size: tuple[int, int],
) -> None:
    op_class = {"avg": nn.AvgPool2d, "sum": nn.SumPool2d, "max": nn.MaxPool2d}[kind]
    op = op_class(kernel_size=k, stride=stride, padding=padding)
    module = (
        torch.nn.MaxPool2d(k, stride, padding)
        if kind == "max"
        else torch.nn.AvgPool2d(k, stride, padding)
    )
    expected = torch_shape(module, (2, *size))
    assert shape_or_error(op, (2, *size)) == expected
    if expected is not None:
        assert_interpreted_shape(op, (2, *size), expected)


@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple),
    data=st.data(),
)
def test_flatten_output_shape_matches_torch(
    shape: tuple[int, ...], data: st.DataObject
) -> None:
    rank = len(shape)
    dims = st.integers(-rank, rank - 1)
    start, end = data.draw(dims), data.draw(dims)
    op = nn.Flatten(start_dim=start, end_dim=end)
    if (start % rank) > (end % rank):
        assert shape_or_error(op, shape) is None
        return
    expected = tuple(torch.zeros(shape).flatten(start, end).shape)
    assert shape_or_error(op, shape) == expected
    assert_interpreted_shape(op, shape, expected)


def test_delay_longer_than_the_limit_is_rejected_without_warnings() -> None:
    for delay, dt in ((1e38, 1e-3), (1.0, 1e-320), (2000.0, 1e-3)):
        g = ir.Graph("g", dt=dt)
        g.add("x", io.Input(shape=(1,)))
        g.add("d", snn.Delay(delay=np.float32(delay)), ["x"])
        g.add("y", io.Output(), ["d"])
        with pytest.raises(ir.VerifyError, match=r"node 'd': snn.delay: delay"):
            ir.verify(g)


def test_natural_order_accepts_non_decimal_digits() -> None:
    g = ir.Graph("g")
    g.add("x²", io.Input(shape=(1,)))
    g.add("x٣", io.Output(), ["x²"])
    assert g.topo_order() == ["x²", "x٣"]


def test_v_subtract_needs_subtract_reset_and_a_positive_value() -> None:
    base = {"tau": 0.01, "r": 10.0, "v_leak": 0.0, "v_threshold": 1.0}
    for fields, message in (
        (
            {"reset": "zero", "v_subtract": 0.5},
            'v_subtract applies only with reset = "subtract"',
        ),
        (
            {"reset": "subtract", "v_subtract": np.array([0.5, -1.0], np.float32)},
            r"v_subtract must be > 0; neuron \(1,\)",
        ),
    ):
        g = ir.Graph("g", dt=1e-3)
        g.add("x", io.Input(shape=(2,)))
        g.add("lif", snn.LIF(**base, **fields), ["x"])
        g.add("y", io.Output(), ["lif"])
        with pytest.raises(ir.VerifyError, match=message):
            ir.verify(g)


def test_v_min_and_refire_offset_are_checked() -> None:
    base = {"tau": 0.01, "r": 10.0, "v_leak": 0.0, "v_threshold": 1.0}
    for fields, message in (
        (
            {"reset": "subtract", "v_min": np.array([-1.0, 1.5], np.float32)},
            r"node 'lif': .*v_min must be < v_threshold; neuron \(1,\): v_min = 1.5",
        ),
        (
            {"reset": "zero", "v_reset": -0.5, "v_min": -0.2},
            r"v_min must be <= v_reset",
        ),
        (
            {"reset": "zero", "refire_offset": 1.0},
            r'refire_offset needs reset = "subtract" and max_spikes = 1',
        ),
        (
            {"reset": "subtract", "max_spikes": 2, "refire_offset": 1.0},
            r"refire_offset needs .* max_spikes = 2",
        ),
        (
            {"reset": "subtract", "refire_offset": np.array([1.0, -1.0], np.float32)},
            r"refire_offset must be >= 0; neuron \(1,\)",
        ),
    ):
        g = ir.Graph("g", dt=1e-3)
        g.add("x", io.Input(shape=(2,)))
        g.add("lif", snn.LIF(**base, **fields), ["x"])
        g.add("y", io.Output(), ["lif"])
        with pytest.raises(ir.VerifyError, match=message):
            ir.verify(g)
