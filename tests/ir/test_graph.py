"""``ir.Graph``: building, editing, reading, ordering and structural equality."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pytest

import ir
from ir.graph import natural_key
from ir.op import Shape
from ir.ops import io, nn, snn

DT = 1e-3


@dataclass(frozen=True, kw_only=True, eq=False)
class TwoPorts(ir.Op):
    """Test-only op with two input ports; deliberately not registered."""

    name = "test.two_ports"
    input_ports = ("lhs", "rhs")

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return inputs["lhs"]


def lif() -> snn.LIF:
    return snn.LIF(tau=0.02, r=1.0, v_leak=0.0, v_threshold=1.0)


def chain() -> ir.Graph:
    """``x -> fc -> l -> y`` with a 3 -> 2 linear layer."""
    g = ir.Graph("net", dt=DT)
    g.add("x", io.Input(shape=(3,)))
    g.add("fc", nn.Linear(weight=np.ones((2, 3), np.float32)), ["x"])
    g.add("l", lif(), ["fc"])
    g.add("y", io.Output(), ["l"])
    return g


def edge_tuples(g: ir.Graph) -> list[tuple[str, str]]:
    return [(e.src, e.dst) for e in g.edges()]


# -- building ------------------------------------------------------------------------


def test_add_returns_the_name_and_connects_inputs_in_order() -> None:
    g = ir.Graph()
    assert g.add("a", io.Input(shape=(2,))) == "a"
    g.add("b", io.Input(shape=(2,)))
    assert g.add("s", nn.Add(), ["b", "a"]) == "s"
    assert g.producers("s") == ["a", "b"]
    assert g.in_edges("s") == [ir.Edge("a", "s"), ir.Edge("b", "s")]
    assert g.nodes() == ["a", "b", "s"]


def test_edge_defaults() -> None:
    e = ir.Edge("a", "b")
    assert (e.src_port, e.dst_port, e.recurrent) == ("output", "input", False)


@pytest.mark.parametrize("name", ["", None, 3])
def test_node_names_must_be_non_empty_strings(name: object) -> None:
    with pytest.raises(ir.VerifyError, match="non-empty strings"):
        ir.Graph().add(name, nn.ReLU())  # type: ignore[arg-type]


def test_duplicate_node_error_names_the_node() -> None:
    g = chain()
    with pytest.raises(ir.VerifyError, match="already exists") as err:
        g.add("fc", nn.ReLU(), ["x"])
    assert err.value.node == "fc"
    assert "node 'fc'" in str(err.value)
    assert isinstance(g.op("fc"), nn.Linear)


@pytest.mark.parametrize("inputs", [["x", "ghost"], ["x", "x"]])
def test_a_failed_add_leaves_the_graph_unchanged(inputs: list[str]) -> None:
    g = chain()
    before = g.copy()
    with pytest.raises(ir.VerifyError):
        g.add("new", nn.Add(), inputs)
    assert "new" not in g
    assert g.is_equivalent(before)
    assert g.users("x") == ["fc"]


def test_missing_input_is_named() -> None:
    with pytest.raises(ir.VerifyError, match="no node named 'ghost'"):
        chain().add("new", nn.ReLU(), ["ghost"])


def test_connect_records_ports_and_the_recurrent_flag() -> None:
    g = chain()
    g.connect("l", "l", recurrent=True)
    g.add("t", TwoPorts(), [])
    g.connect("x", "t", dst_port="lhs")
    assert g.in_edges("l") == [
        ir.Edge("fc", "l"),
        ir.Edge("l", "l", "output", "input", recurrent=True),
    ]
    assert g.in_edges("t") == [ir.Edge("x", "t", dst_port="lhs")]


def test_duplicate_edge_error_names_the_node() -> None:
    g = chain()
    with pytest.raises(ir.VerifyError, match="duplicate edge fc -> l") as err:
        g.connect("fc", "l", recurrent=True)
    assert err.value.node == "l"


@pytest.mark.parametrize(("src", "dst"), [("ghost", "y"), ("x", "ghost")])
def test_connect_needs_both_nodes(src: str, dst: str) -> None:
    with pytest.raises(ir.VerifyError, match="no node named 'ghost'"):
        chain().connect(src, dst)


def test_disconnect_removes_only_that_edge() -> None:
    g = chain()
    g.connect("x", "y")
    g.disconnect("x", "y")
    assert edge_tuples(g) == [("x", "fc"), ("fc", "l"), ("l", "y")]
    with pytest.raises(ir.VerifyError, match="no edge x -> y") as err:
        g.disconnect("x", "y")
    assert err.value.node == "y"


def test_remove_drops_the_node_and_its_edges() -> None:
    g = chain()
    g.remove("fc")
    assert "fc" not in g
    assert g.users("x") == []
    assert g.producers("l") == []
    assert edge_tuples(g) == [("l", "y")]
    with pytest.raises(ir.VerifyError, match="no node named 'fc'"):
        g.remove("fc")


def test_replace_keeps_edges_and_meta_but_drops_the_shape() -> None:
    g = chain()
    g.meta("fc").update(shape=(2,), core=3)
    g.connect("l", "l", recurrent=True)
    edges = g.edges()
    assert g.shape("fc") == (2,)
    g.replace("fc", nn.Linear(weight=np.ones((2, 3), np.float32) * 2))
    assert g.meta("fc") == {"core": 3}
    assert g.edges() == edges
    assert g.op("fc").weight[0, 0] == 2.0
    with pytest.raises(ir.VerifyError, match="no node named 'ghost'"):
        g.replace("ghost", nn.ReLU())


def test_replace_invalidates_cached_shapes() -> None:
    g = chain()
    assert g.shape("y") == (2,)
    g.replace("fc", nn.Linear(weight=np.ones((5, 3), np.float32)))
    assert g.shape("y") == (5,)
    assert g.shapes()["l"] == (5,)


def test_edits_invalidate_cached_shapes() -> None:
    g = ir.Graph()
    g.add("a", io.Input(shape=(2,)))
    g.add("y", io.Output(), ["a"])
    assert g.shape("y") == (2,)
    g.remove("y")
    g.add("b", io.Input(shape=(4,)))
    g.add("y", io.Output(), ["b"])
    assert g.shape("y") == (4,)


def test_redirect_moves_every_user_keeping_ports_and_recurrence() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(2,)))
    g.add("old", nn.ReLU(), ["x"])
    g.add("new", nn.Scale(scale=2.0), ["x"])
    g.add("t", TwoPorts(), [])
    g.connect("old", "t", dst_port="rhs")
    g.connect("x", "t", dst_port="lhs")
    g.add("l", lif(), ["x"])
    g.connect("old", "l", recurrent=True)
    g.redirect("old", "new")
    assert g.users("old") == []
    assert g.users("new") == ["l", "t"]
    assert ir.Edge("new", "t", dst_port="rhs") in g.in_edges("t")
    assert ir.Edge("new", "l", recurrent=True) in g.in_edges("l")
    assert g.producers("old") == ["x"]


def test_redirect_onto_a_user_drops_the_edge_it_would_read_itself_by() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(2,)))
    g.add("a", nn.ReLU(), ["x"])
    g.add("b", nn.Scale(scale=2.0), ["a"])
    g.add("c", io.Output(), ["a"])
    g.redirect("a", "b")
    assert edge_tuples(g) == [("x", "a"), ("b", "c")]


def test_redirect_that_would_duplicate_an_edge_names_the_node() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(2,)))
    g.add("a", nn.ReLU(), ["x"])
    g.add("b", nn.ReLU(), ["x"])
    g.add("c", nn.Add(), ["a", "b"])
    with pytest.raises(ir.VerifyError, match="duplicate") as err:
        g.redirect("a", "b")
    assert err.value.node == "c"


def test_fresh_name() -> None:
    g = chain()
    assert g.fresh_name("bn") == "bn"
    assert g.fresh_name("fc") == "fc_1"
    g.add("fc_1", nn.ReLU(), ["fc"])
    assert g.fresh_name("fc") == "fc_2"
    assert g.fresh_name("fc_1") == "fc_1_1"


def test_copy_is_independent() -> None:
    g = chain()
    g.meta("fc")["core"] = 1
    c = g.copy()
    assert c.is_equivalent(g)
    assert (c.name, c.dt) == ("net", DT)
    c.meta("fc")["core"] = 2
    c.add("extra", nn.ReLU(), ["x"])
    c.connect("x", "y")
    c.disconnect("fc", "l")
    c.replace("l", snn.IF(r=1.0, v_threshold=1.0))
    c.dt = 2e-3
    assert g.meta("fc") == {"core": 1}
    assert "extra" not in g
    assert edge_tuples(g) == [("x", "fc"), ("fc", "l"), ("l", "y")]
    assert isinstance(g.op("l"), snn.LIF)
    assert g.dt == DT
    g.meta("x")["tag"] = "in"
    assert "tag" not in c.meta("x")


def test_copy_keeps_cached_shapes_valid_after_edits() -> None:
    g = chain()
    assert g.shape("y") == (2,)
    c = g.copy()
    c.replace("fc", nn.Linear(weight=np.ones((4, 3), np.float32)))
    assert c.shape("y") == (4,)
    assert g.shape("y") == (2,)


# -- reading -------------------------------------------------------------------------


def test_in_edges_sorted_by_port_then_natural_source_name() -> None:
    g = ir.Graph()
    for name in ["b10", "b2", "a", "c1"]:
        g.add(name, io.Input(shape=(1,)))
    g.add("t", TwoPorts(), [])
    g.connect("b10", "t", dst_port="lhs")
    g.connect("c1", "t", dst_port="rhs")
    g.connect("b2", "t", dst_port="lhs")
    g.connect("a", "t", dst_port="rhs")
    assert [(e.dst_port, e.src) for e in g.in_edges("t")] == [
        ("lhs", "b2"),
        ("lhs", "b10"),
        ("rhs", "a"),
        ("rhs", "c1"),
    ]
    assert g.producers("t") == ["b2", "b10", "a", "c1"]


def test_out_edges_and_users_sorted_by_natural_destination_name() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(1,)))
    for name in ["u10", "u2", "u1", "t"]:
        g.add(name, nn.ReLU(), ["x"])
    assert g.users("x") == ["t", "u1", "u2", "u10"]
    assert [e.dst for e in g.out_edges("x")] == ["t", "u1", "u2", "u10"]


def test_edges_are_in_canonical_order() -> None:
    g = ir.Graph()
    g.add("x2", io.Input(shape=(1,)))
    g.add("x10", io.Input(shape=(1,)))
    g.add("s10", nn.Add(), ["x10", "x2"])
    g.add("s2", nn.Add(), ["x10"])
    assert edge_tuples(g) == [("x10", "s2"), ("x2", "s10"), ("x10", "s10")]


def test_reading_an_unknown_node_raises() -> None:
    g = chain()
    for read in (g.op, g.meta, g.in_edges, g.out_edges, g.users, g.shape):
        with pytest.raises(ir.VerifyError, match="no node named 'ghost'"):
            read("ghost")


def test_container_protocol() -> None:
    g = chain()
    assert len(g) == 4
    assert "fc" in g
    assert "ghost" not in g
    assert list(g) == ["x", "fc", "l", "y"]
    assert repr(g) == "<Graph @net: 4 nodes, dt=0.001>"


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["fc10", "fc2", "fc1", "fc", "a10b2", "a10b10", "a9", "fc02"]
    assert sorted(names, key=natural_key) == [
        "a9",
        "a10b2",
        "a10b10",
        "fc",
        "fc1",
        "fc02",  # same number as fc2: ties break on the plain string
        "fc2",
        "fc10",
    ]


# -- ordering ------------------------------------------------------------------------


def build_branches(order: tuple[int, ...]) -> ir.Graph:
    """Two inputs feeding two branches and an output, added in ``order``."""
    steps = [
        lambda g: g.add("in10", io.Input(shape=(1,))),
        lambda g: g.add("in2", io.Input(shape=(1,))),
        lambda g: g.add("fc10", nn.ReLU()),
        lambda g: g.add("fc2", nn.ReLU()),
        lambda g: g.add("y", io.Output()),
    ]
    g = ir.Graph()
    for i in order:
        steps[i](g)
    for src, dst in [("in10", "fc10"), ("in2", "fc2"), ("fc10", "y"), ("fc2", "y")]:
        g.connect(src, dst)
    return g


def test_topo_order_is_natural_and_independent_of_insertion_order() -> None:
    expected = ["in2", "fc2", "in10", "fc10", "y"]
    for order in itertools.permutations(range(5)):
        g = build_branches(order)
        assert g.topo_order() == expected
        assert g.inputs() == ["in2", "in10"]
        assert g.outputs() == ["y"]


def test_topo_order_puts_producers_before_users_whatever_the_names() -> None:
    g = ir.Graph()
    g.add("z", io.Input(shape=(1,)))
    g.add("b", nn.ReLU(), ["z"])
    g.add("a", nn.ReLU(), ["b"])
    g.add("aa", io.Output(), ["a"])
    assert g.topo_order() == ["z", "b", "a", "aa"]


def test_topo_order_ignores_recurrent_edges() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(1,)))
    g.add("b", lif(), ["x"])
    g.add("a", nn.ReLU(), ["b"])
    g.connect("a", "b", recurrent=True)
    g.add("y", io.Output(), ["a"])
    assert g.topo_order() == ["x", "b", "a", "y"]


def test_topo_order_names_a_cycle_without_a_recurrent_edge() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(1,)))
    g.add("p", nn.ReLU(), ["x"])
    g.add("q", nn.ReLU(), ["p"])
    g.connect("q", "p")
    with pytest.raises(ir.VerifyError, match=r"cycle (p -> q -> p|q -> p -> q)"):
        g.topo_order()


def test_components_of_an_acyclic_graph_are_single_nodes_in_topo_order() -> None:
    g = chain()
    assert g.components() == [["x"], ["fc"], ["l"], ["y"]]


def test_components_group_a_cycle_in_topo_order() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(2,)))
    g.add("l", lif(), ["x"])
    g.add("w", nn.Linear(weight=np.eye(2, dtype=np.float32)), ["l"])
    g.add("m", lif(), ["w"])
    g.connect("m", "l", recurrent=True)
    g.add("self", lif(), ["m"])
    g.connect("self", "self", recurrent=True)
    g.add("y", io.Output(), ["self"])
    assert g.components() == [["x"], ["l", "w", "m"], ["self"], ["y"]]


def test_components_order_respects_recurrent_edges_between_components() -> None:
    # b_late is read by a_early (previous step), so it must be computed first even
    # though natural name order alone would put a_early first.
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(1,)))
    g.add("a_early", lif(), ["x"])
    g.add("b_late", nn.ReLU(), ["x"])
    g.connect("b_late", "a_early", recurrent=True)
    g.add("y", io.Output(), ["a_early"])
    assert g.topo_order() == ["x", "a_early", "b_late", "y"]
    assert g.components() == [["x"], ["b_late"], ["a_early"], ["y"]]


# -- structural equality -------------------------------------------------------------


def equivalent_after(edit) -> bool:
    g = chain()
    other = chain()
    edit(other)
    return g.is_equivalent(other) and other.is_equivalent(g)


def test_identical_graphs_are_equivalent() -> None:
    assert chain().is_equivalent(chain())
    assert equivalent_after(lambda g: g.meta("fc").update(_scratch=1))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda g: setattr(g, "name", "other"), id="graph name"),
        pytest.param(lambda g: setattr(g, "dt", 2e-3), id="dt"),
        pytest.param(lambda g: setattr(g, "dt", None), id="dt none"),
        pytest.param(
            lambda g: setattr(g, "dt", float(np.nextafter(DT, 1))), id="dt last bit"
        ),
        pytest.param(lambda g: g.add("extra", nn.ReLU(), ["x"]), id="extra node"),
        pytest.param(lambda g: g.connect("x", "y"), id="extra edge"),
        pytest.param(lambda g: g.disconnect("l", "y"), id="missing edge"),
        pytest.param(
            lambda g: (g.disconnect("fc", "l"), g.connect("fc", "l", recurrent=True)),
            id="recurrent flag",
        ),
        pytest.param(
            lambda g: (g.disconnect("fc", "l"), g.connect("fc", "l", dst_port="x")),
            id="dst port",
        ),
        pytest.param(
            lambda g: (g.disconnect("fc", "l"), g.connect("fc", "l", src_port="z")),
            id="src port",
        ),
        pytest.param(
            lambda g: g.replace("fc", nn.Linear(weight=np.ones((2, 3), np.float64))),
            id="weight dtype",
        ),
        pytest.param(
            lambda g: g.replace(
                "fc",
                nn.Linear(weight=np.array([[1, 1, 1], [1, 1, np.nextafter(1, 2)]])),
            ),
            id="weight last bit",
        ),
        pytest.param(
            lambda g: g.replace("l", g.op("l").replace(reset="subtract")),
            id="string field",
        ),
        pytest.param(
            lambda g: g.replace("l", snn.IF(r=1.0, v_threshold=1.0)), id="op type"
        ),
        pytest.param(lambda g: g.meta("fc").update(core=1), id="meta added"),
    ],
)
def test_any_difference_breaks_equivalence(edit) -> None:
    assert not equivalent_after(edit)


def test_equivalence_is_bitwise_on_floats() -> None:
    def scale_graph(value: float) -> ir.Graph:
        g = ir.Graph()
        g.add("x", io.Input(shape=(1,)))
        g.add("s", nn.Scale(scale=np.array(value, np.float32)), ["x"])
        return g

    assert not scale_graph(0.0).is_equivalent(scale_graph(-0.0))
    assert scale_graph(float("nan")).is_equivalent(scale_graph(float("nan")))
    a, b = chain(), chain()
    a.meta("fc")["gain"] = 0.0
    b.meta("fc")["gain"] = -0.0
    assert not a.is_equivalent(b)


def test_renamed_node_is_not_equivalent() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(1,)))
    g.add("y", io.Output(), ["x"])
    h = ir.Graph()
    h.add("x", io.Input(shape=(1,)))
    h.add("out", io.Output(), ["x"])
    assert not g.is_equivalent(h)
