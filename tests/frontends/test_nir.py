"""The NIR frontend: every node type against reference loops, conventions, round trip.

Reference loops are written out here from each framework's documented update, in
float64, and compared with the interpreter on the imported graph.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ir
from frontends.errors import FrontendError
from frontends.nir import (
    CONVENTIONS,
    ConventionWarning,
    NIRImportWarning,
    from_nir,
    to_nir,
    write_nir,
)

RNG_SEED = 0
T = 40


def _f32(*shape: int, scale: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _full(shape: int | tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, value, np.float32)


def _inputs(*shape: int, seed: int = 1, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, T, *shape)) * scale


def _run(graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    return ir.interpret(graph, torch.from_numpy(x)).numpy()


def _chain(*nodes: nir.NIRNode) -> nir.NIRGraph:
    return nir.NIRGraph.from_list(*nodes)


def _dense(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    y = x @ w.astype(np.float64).T
    return y if b is None else y + b


# -- reference neurons (float64, over time axis 1) ----------------------------------


def _leaky_loop(cur, a, gain, thr=None, reset="zero", v_leak=0.0, multi=False):
    """v = a v + gain*cur + (1 - a) v_leak; spike v >= thr; reset."""
    v = np.zeros_like(cur[:, 0])
    out = []
    for t in range(cur.shape[1]):
        v = a * v + gain * cur[:, t] + (1 - a) * v_leak
        if thr is None:
            out.append(v.copy())
            continue
        n = np.floor(v / thr).clip(0, None) if multi else (v >= thr).astype(float)
        v = v - n * thr if reset == "subtract" else v * (1 - n)
        out.append(n)
    return np.stack(out, 1)


def _snntorch_loop(cur, beta, thr, reset):
    """snnTorch (reset_delay=True): the reset uses the previous step's spike, after
    the decay: subtract ``mem = beta mem + I - thr s[t-1]``, zero ``mem = beta (1 -
    s[t-1]) mem + I``; spike ``mem > thr`` (the IR: ``>=``)."""
    v, s = np.zeros_like(cur[:, 0]), np.zeros_like(cur[:, 0])
    out = []
    for t in range(cur.shape[1]):
        if reset == "subtract":
            v = beta * v + cur[:, t] - thr * s
        else:
            v = beta * (1 - s) * v + cur[:, t]
        s = (v >= thr).astype(float)
        out.append(s)
    return np.stack(out, 1)


def _synapse_loop(x, b, gain):
    i = np.zeros_like(x[:, 0])
    out = []
    for t in range(x.shape[1]):
        i = b * i + gain * x[:, t]
        out.append(i.copy())
    return np.stack(out, 1)


# -- snnTorch -----------------------------------------------------------------------

DT_SNNTORCH = 1e-4


def _snntorch_lif(beta: np.ndarray, thr: float) -> nir.LIF:
    tau = (DT_SNNTORCH / (1 - beta)).astype(np.float32)
    return nir.LIF(
        tau=tau,
        r=(tau / DT_SNNTORCH).astype(np.float32),
        v_leak=np.zeros_like(tau),
        v_threshold=_full(tau.shape, thr),
    )


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_snntorch_leaky_is_detected_and_matches_its_loop(reset: str) -> None:
    w, b = _f32(4, 3, seed=2), _f32(4, seed=3)
    beta = np.array([0.5, 0.8, 0.9, 0.95])
    graph = _chain(nir.Affine(w, b), _snntorch_lif(beta, 1.0))
    if reset == "subtract":  # snnTorch's defaults, assumed with a warning
        with pytest.warns(ConventionWarning, match="reset_delay"):
            imported = from_nir(graph)
    else:
        imported = from_nir(graph, reset=reset)
    assert imported.dt == DT_SNNTORCH
    assert imported.op("lif").reset == reset  # snnTorch's default is subtract
    x = _inputs(3)
    beta32 = 1 - DT_SNNTORCH / imported_tau_nir(graph)
    want = _snntorch_loop(_dense(x, w, b), beta32, 1.0, reset)
    np.testing.assert_array_equal(_run(imported, x), want)
    assert want.sum() > 10  # the test exercises spikes and resets
    if reset == "subtract":  # the late subtraction of thr is thr / beta at once
        np.testing.assert_allclose(imported.op("lif").v_subtract, 1 / beta, rtol=1e-6)
        # an IR subtraction of thr itself would be snnTorch's reset_delay=False
        early = _leaky_loop(_dense(x, w, b), beta32, 1.0, thr=1.0, reset=reset)
        assert np.any(early != want)


def imported_tau_nir(graph: nir.NIRGraph) -> np.ndarray:
    return graph.nodes["lif"].tau.astype(np.float64)


def test_snntorch_synaptic_matches_its_loop() -> None:
    alpha, beta = np.array([0.6, 0.75, 0.9]), np.array([0.85, 0.9, 0.7])
    tau_syn = (DT_SNNTORCH / (1 - alpha)).astype(np.float32)
    tau_mem = (DT_SNNTORCH / (1 - beta)).astype(np.float32)
    w = _f32(3, 2, seed=4)
    node = nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        r=tau_mem / np.float32(DT_SNNTORCH),
        v_leak=_full(3, 0),
        v_threshold=_full(3, 1.0),
        w_in=tau_syn / np.float32(DT_SNNTORCH),
    )
    imported = from_nir(_chain(nir.Linear(w), node), reset="subtract", reset_delay=True)
    x = _inputs(2, scale=0.5)
    a = 1 - DT_SNNTORCH / tau_syn.astype(np.float64)
    bm = 1 - DT_SNNTORCH / tau_mem.astype(np.float64)
    syn = _synapse_loop(_dense(x, w), a, 1.0)  # syn = alpha syn + x
    want = _snntorch_loop(syn, bm, 1.0, "subtract")  # mem = beta mem + syn - s[t-1]
    np.testing.assert_array_equal(_run(imported, x), want)
    assert want.sum() > 10


def _rsynaptic(
    n: int, alpha: float, beta: float, v: np.ndarray, b: np.ndarray
) -> nir.NIRGraph:
    """snnTorch's RSynaptic export: {input, lif, w_rec, output}, lif -> w_rec -> lif."""
    tau_syn = np.float32(DT_SNNTORCH / (1 - alpha))
    tau_mem = np.float32(DT_SNNTORCH / (1 - beta))
    lif = nir.CubaLIF(
        tau_syn=_full(n, tau_syn),
        tau_mem=_full(n, tau_mem),
        r=_full(n, tau_mem / DT_SNNTORCH),
        v_leak=_full(n, 0),
        v_threshold=_full(n, 1.0),
        w_in=_full(n, tau_syn / DT_SNNTORCH),
    )
    nodes = {
        "input": nir.Input(np.array([n])),
        "lif": lif,
        "w_rec": nir.Affine(v, b),
        "output": nir.Output(np.array([n])),
    }
    edges = [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


@pytest.mark.parametrize("via_ports", [True, False])
def test_recurrent_subgraph_is_flattened_with_a_recurrent_edge(via_ports: bool) -> None:
    w, v = _f32(3, 2, seed=5), _f32(3, 3, seed=6, scale=0.8)
    b_rec = np.array([0.9, -0.2, 0.3], np.float32)
    sub = _rsynaptic(3, 0.7, 0.85, v, b_rec)
    into, out_of = ("rsyn.input", "rsyn.output") if via_ports else ("rsyn", "rsyn")
    top = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2])),
            "fc": nir.Linear(w),
            "rsyn": sub,
            "output": nir.Output(np.array([3])),
        },
        edges=[("input", "fc"), ("fc", into), (out_of, "output")],
        type_check=False,
    )
    imported = from_nir(top, reset="subtract", reset_delay=True)
    assert sorted(imported.nodes()) == [
        "fc",
        "input",
        "output",
        "rsyn.lif",
        "rsyn.w_rec",
    ]
    recurrent = [(e.src, e.dst) for e in imported.edges() if e.recurrent]
    assert recurrent == [("rsyn.lif", "rsyn.w_rec")]  # the spike side of the loop
    x = _inputs(2)
    alpha = 1 - DT_SNNTORCH / np.float64(np.float32(DT_SNNTORCH / (1 - 0.7)))
    beta = 1 - DT_SNNTORCH / np.float64(np.float32(DT_SNNTORCH / (1 - 0.85)))
    cur, syn, mem = _dense(x, w), np.zeros((2, 3)), np.zeros((2, 3))
    spk, want = np.zeros((2, 3)), []
    for t in range(T):  # syn = alpha syn + W x + V spk[t-1] + b_rec, from t = 0 on
        syn = alpha * syn + cur[:, t] + _dense(spk, v, b_rec)
        mem = beta * mem + syn - spk  # snnTorch's late subtraction of thr = 1
        spk = (mem >= 1.0).astype(float)
        want.append(spk)
    np.testing.assert_array_equal(_run(imported, x), np.stack(want, 1))


# -- exact convention: every neuron ---------------------------------------------------

DT = 1e-3


def _exact_reference(kind: str, node: nir.NIRNode, cur: np.ndarray) -> np.ndarray:
    p = {
        k: np.asarray(v, np.float64)
        for k, v in vars(node).items()
        if isinstance(v, np.ndarray)
    }
    if kind in ("I", "IF"):
        thr = p.get("v_threshold")
        return _leaky_loop(cur, 1.0, DT * p["r"], thr=thr, reset="zero")
    if kind.startswith("Cuba"):
        b = np.exp(-DT / p["tau_syn"])
        cur = _synapse_loop(cur, b, (1 - b) * p["w_in"])
    tau = p["tau_mem"] if kind.startswith("Cuba") else p["tau"]
    a = np.exp(-DT / tau)
    return _leaky_loop(
        cur,
        a,
        (1 - a) * p["r"],
        thr=p.get("v_threshold"),
        reset="zero",
        v_leak=p["v_leak"],
    )


def _neuron(kind: str) -> nir.NIRNode:
    n = 3
    tau, r = np.array([5e-3, 1e-2, 2e-2], np.float32), _full(n, 2.0)
    common = {"r": r, "v_leak": _full(n, 0.1)}
    thr = {"v_threshold": _full(n, 0.5), "v_reset": _full(n, 0.0)}
    cuba = {"tau_syn": _full(n, 4e-3), "tau_mem": tau, "w_in": _full(n, 1.5)}
    return {
        "I": lambda: nir.I(r=_full(n, 50.0)),
        "IF": lambda: nir.IF(r=_full(n, 50.0), **thr),
        "LI": lambda: nir.LI(tau=tau, **common),
        "LIF": lambda: nir.LIF(tau=tau, **common, **thr),
        "CubaLI": lambda: nir.CubaLI(**cuba, **common),
        "CubaLIF": lambda: nir.CubaLIF(**cuba, **common, **thr),
    }[kind]()


@pytest.mark.parametrize("kind", ["I", "IF", "LI", "LIF", "CubaLI", "CubaLIF"])
def test_exact_convention_steps_each_neuron_exactly(kind: str) -> None:
    w = _f32(3, 2, seed=7)
    neuron = _neuron(kind)
    imported = from_nir(_chain(nir.Linear(w), neuron), dt=DT, convention="exact")
    assert imported.dt == DT
    x = _inputs(2)
    want = _exact_reference(kind, neuron, _dense(x, w))
    np.testing.assert_allclose(_run(imported, x), want, rtol=1e-5, atol=1e-6)


# -- stateless nodes ----------------------------------------------------------------


def test_stateless_nodes_match_torch() -> None:
    cw, cb = _f32(4, 2, 3, 3, seed=8), _f32(4, seed=9)
    c1w = _f32(2, 2, 3, seed=10)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2, 6, 6])),
            "conv": nir.Conv2d((6, 6), cw, 1, 1, 1, 1, cb),
            "sum": nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
            "avg": nir.AvgPool2d(np.array([3, 3]), np.array([1, 1]), np.array([1, 1])),
            "scale": nir.Scale(_f32(4, 3, 3, seed=11)),
            "flat": nir.Flatten(np.array([4, 3, 3]), start_dim=1),
            "conv1": nir.Conv1d(9, c1w[:, :, :], 1, "same", 1, 2, _f32(2, seed=12)),
            "thr": nir.Threshold(_full((2, 9), 0.1)),
            "output": nir.Output(np.array([2, 9])),
        },
        edges=[
            ("input", "conv"),
            ("conv", "sum"),
            ("sum", "avg"),
            ("avg", "scale"),
            ("scale", "flat"),
            ("flat", "conv1"),
            ("conv1", "thr"),
            ("thr", "output"),
        ],
        type_check=False,  # nir's inference ignores the grouped conv's groups
    )
    imported = from_nir(graph)
    x = _inputs(2, 6, 6)
    h = torch.from_numpy(x.reshape(-1, 2, 6, 6))
    h = F.conv2d(h, torch.from_numpy(cw).double(), torch.from_numpy(cb).double(), 1, 1)
    h = F.avg_pool2d(h, 2) * 4
    h = F.avg_pool2d(h, 3, 1, 1, count_include_pad=True)
    h = (h * torch.from_numpy(graph.nodes["scale"].scale).double()).flatten(2)
    c1 = torch.from_numpy(c1w).double()
    h = F.conv1d(
        h, c1, torch.from_numpy(graph.nodes["conv1"].bias).double(), 1, 1, 1, 2
    )
    want = (h >= 0.1).double().reshape(2, T, 2, 9).numpy()
    np.testing.assert_array_equal(_run(imported, x), want)


def test_delay_shifts_by_whole_steps() -> None:
    delay = np.array([0.0, 2e-3, 5e-3], np.float32)
    imported = from_nir(_chain(nir.Delay(delay)), dt=DT)
    x = _inputs(3)
    want = np.zeros_like(x)
    for i, steps in enumerate([0, 2, 5]):
        want[:, steps:, i] = x[:, : T - steps, i]
    np.testing.assert_array_equal(_run(imported, x), want)


def test_scalar_parameters_broadcast_to_the_layer() -> None:
    lif = nir.LIF(
        tau=np.array(0.02),
        r=np.array(1.0),
        v_leak=np.array(0.0),
        v_threshold=np.array(1.0),
    )
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([3])),
            "fc": nir.Linear(_f32(4, 3)),
            "lif": lif,
            "output": nir.Output(np.array([4])),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
        type_check=False,
    )
    op = from_nir(graph, dt=DT, convention="exact", reset="zero").op("lif")
    for field in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        assert getattr(op, field).shape == (4,), field


def test_fan_in_edges_sum() -> None:
    w1, w2 = _f32(3, 2, seed=13), _f32(3, 2, seed=14)
    li = nir.LI(tau=_full(3, 0.01), r=_full(3, 1.0), v_leak=_full(3, 0.0))
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2])),
            "a": nir.Linear(w1),
            "b": nir.Linear(w2),
            "li": li,
            "output": nir.Output(np.array([3])),
        },
        edges=[
            ("input", "a"),
            ("input", "b"),
            ("a", "li"),
            ("b", "li"),
            ("li", "output"),
        ],
    )
    imported = from_nir(graph, dt=DT, convention="exact")
    x = _inputs(2)
    a = np.exp(-DT / 0.01)
    want = _leaky_loop(_dense(x, w1) + _dense(x, w2), a, 1 - a)
    np.testing.assert_allclose(_run(imported, x), want, rtol=1e-5, atol=1e-7)


# -- other conventions --------------------------------------------------------------


def test_sinabs_network_is_detected() -> None:
    cw = _f32(2, 1, 3, 3, seed=15, scale=0.7)
    fw = _f32(3, 8, seed=16)
    graph = _chain(
        nir.Input(np.array([1, 6, 6])),
        nir.Conv2d((6, 6), cw, 1, 0, 1, 1, np.zeros(2, np.float32)),
        nir.IF(r=_full((2, 4, 4), 1), v_threshold=_full((2, 4, 4), 1)),
        nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
        nir.Flatten(np.array([2, 2, 2]), start_dim=0),
        nir.Linear(fw),
        nir.IF(r=_full(3, 1), v_threshold=_full(3, 0.5)),
    )
    imported = from_nir(graph, v_min="none")
    assert imported.dt == 1.0
    assert imported.op("if").reset == "subtract"
    x = _inputs(1, 6, 6, scale=2.0)
    h = F.conv2d(
        torch.from_numpy(x.reshape(-1, 1, 6, 6)), torch.from_numpy(cw).double()
    )
    spikes = _leaky_loop(h.reshape(2, T, 2, 4, 4).numpy(), 1.0, 1.0, thr=1.0,
                         reset="subtract", multi=True)  # fmt: skip
    pooled = F.avg_pool2d(torch.from_numpy(spikes.reshape(-1, 2, 4, 4)), 2) * 4
    cur = _dense(pooled.reshape(2, T, 8).numpy(), fw)
    want = _leaky_loop(cur, 1.0, 1.0, thr=0.5, reset="subtract", multi=True)
    np.testing.assert_array_equal(_run(imported, x), want)
    assert want.max() > 1  # Sinabs' MultiSpike: several spikes in one step


def _rockpool_cubalif(tau_mem: np.ndarray, tau_syn: float, dt: float) -> nir.CubaLIF:
    n = tau_mem.shape[0]
    return nir.CubaLIF(
        tau_syn=_full(n, tau_syn),
        tau_mem=tau_mem.astype(np.float32),
        r=(tau_mem * np.exp(-dt / tau_mem) / dt).astype(np.float32),
        v_leak=_full(n, 0.0),
        v_threshold=_full(n, 1.0),
    )


def test_rockpool_is_detected_and_its_dt_recovered() -> None:
    dt, w = 2e-3, _f32(3, 2, seed=17, scale=2.0)
    tau_mem = np.array([0.01, 0.02, 0.05])
    graph = _chain(nir.Linear(w), _rockpool_cubalif(tau_mem, 0.004, dt))
    with pytest.warns(NIRImportWarning, match="loses its w_rec"):
        imported = from_nir(graph)
    assert imported.dt == pytest.approx(dt, rel=1e-5)
    x = _inputs(2)
    # LIFTorch: isyn = b (isyn + x); vmem = a vmem + isyn; floor(v / thr) spikes;
    # subtract
    b = np.exp(-dt / np.float64(np.float32(0.004)))
    syn = _synapse_loop(_dense(x, w), b, b)
    tau32 = tau_mem.astype(np.float32).astype(np.float64)
    want = _leaky_loop(syn, np.exp(-dt / tau32), 1.0, thr=1.0, reset="subtract",
                       multi=True)  # fmt: skip
    np.testing.assert_allclose(_run(imported, x), want)
    assert want.sum() > 10


def test_norse_cubalif_matches_norse_1_1() -> None:
    w, dt = _f32(3, 2, seed=18), 1e-3
    tau_m, tau_s = 1 / 100, 1 / 200
    node = nir.CubaLIF(  # norse #411: to_nir writes dt * tau
        tau_syn=_full(3, dt * tau_s),
        tau_mem=_full(3, dt * tau_m),
        r=_full(3, 1),
        v_leak=_full(3, 0.1),
        v_threshold=_full(3, 0.3),
        v_reset=_full(3, -0.05),
        w_in=_full(3, 1),
    )
    imported = from_nir(_chain(nir.Linear(w), node), convention="norse")
    assert imported.dt == dt
    x = _inputs(2, scale=3.0)
    cur = _dense(x, w)
    tm = np.float64(np.float32(dt * tau_m)) / dt
    ts = np.float64(np.float32(dt * tau_s)) / dt
    v_reset = np.float64(np.float32(-0.05))
    v_leak = np.float64(np.float32(0.1))
    v, i, want = np.full((2, 3), v_leak), np.zeros((2, 3)), []
    for t in range(T):  # norse 1.1.0 lif_feed_forward_step
        j = i + cur[:, t]  # the input jumps into the current first
        v = v + dt / tm * ((v_leak - v) + j)
        i = j - dt / ts * j
        z = (v >= 0.3).astype(float)
        v = (1 - z) * v + z * v_reset
        want.append(z)
    got = _run(imported, x)
    np.testing.assert_array_equal(got, np.stack(want, 1))
    assert np.sum(want) > 5
    assert imported.op("cubalif").v_init == pytest.approx(0.1)  # starts at v_leak


# -- round trip ---------------------------------------------------------------------


def _ir_graph() -> ir.Graph:
    from ir.ops import io, nn, snn

    g = ir.Graph("net", dt=DT)
    g.add("x", io.Input(shape=(2, 5)))
    g.add("conv", nn.Conv1d(weight=_f32(3, 2, 2), padding=1), ["x"])
    g.add("flat", nn.Flatten(), ["conv"])
    g.add("fc", nn.Affine(weight=_f32(4, 18, seed=3), bias=_f32(4, seed=4)), ["flat"])
    g.add("skip", nn.Linear(weight=_f32(4, 18, seed=5)), ["flat"])
    g.add("sum", nn.Add(), ["fc", "skip"])
    g.add(
        "lif",
        snn.LIF(tau=0.02, r=2.0, v_leak=0.0, v_threshold=0.5, reset="subtract",
                max_spikes=3, v_init=0.25, v_subtract=0.6),
        ["sum"],
    )  # fmt: skip
    g.add("rec", nn.Linear(weight=_f32(4, 4, seed=6)), ["lif"])
    g.connect("rec", "lif", recurrent=True)
    g.add("li", snn.CubaLI(tau_syn=0.005, tau_mem=0.01, r=1.0, v_leak=0.0), ["lif"])
    g.add("y", io.Output(), ["li"])
    return g


def test_write_read_roundtrip_is_equivalent(tmp_path: Path) -> None:
    x = _inputs(2)
    x = np.stack([x, x[..., ::-1]], 2)[:, :, :, :1].repeat(5, -1)  # (2, T, 2, 5)
    original = from_nir(to_nir(_ir_graph()))  # full-shaped parameters
    path = tmp_path / "net.nir"
    write_nir(original, path)
    assert [p.name for p in tmp_path.iterdir()] == ["net.nir"]  # no temp file left
    back = from_nir(nir.read(path))  # nir's own type checks accept the file
    assert back.is_equivalent(original)
    again = from_nir(path)
    assert again.is_equivalent(original)
    np.testing.assert_array_equal(_run(again, x), _run(_ir_graph(), x))


def test_roundtrip_keeps_the_floor_and_the_refire_offset(tmp_path: Path) -> None:
    from ir.ops import io, snn

    g = ir.Graph("floors", dt=DT)
    g.add("x", io.Input(shape=(3,)))
    g.add(
        "lif",
        snn.LIF(tau=_full(3, 0.02), r=_full(3, 20.0), v_leak=_full(3, 0),
                v_threshold=_full(3, 0.5), reset="subtract",
                refire_offset=_full(3, 0.5), v_min=_full(3, -0.2)),
        ["x"],
    )  # fmt: skip
    g.add(
        "if",
        snn.IF(r=_full(3, 1 / DT), v_threshold=_full(3, 1.0), reset="subtract",
               max_spikes=4, v_min=np.array([-1.0, -0.5, 0.0], np.float32)),
        ["lif"],
    )  # fmt: skip
    g.add("y", io.Output(), ["if"])
    path = tmp_path / "floors.nir"
    write_nir(g, path)
    back = from_nir(path)
    assert back.is_equivalent(from_nir(to_nir(g)))  # full-shaped parameters
    assert back.op("lif").refire_offset is not None
    np.testing.assert_array_equal(back.op("if").v_min, g.op("if").v_min)
    x = _inputs(3, scale=3.0)
    np.testing.assert_array_equal(_run(back, x), _run(g, x))


def _snntorch_same_step_loop(cur, beta, thr):
    """snnTorch 1.0.0 Leaky with reset_delay=False, line by line: the delayed reset
    is computed from the stored mem, subtracted in the state function, spike on the
    result, then ``mem -= (spk - reset) thr`` ("avoid double reset")."""
    mem = np.zeros_like(cur[:, 0])
    out = []
    for t in range(cur.shape[1]):
        reset = (mem - thr > 0).astype(float)
        mem = beta * mem + cur[:, t] - reset * thr
        spk = (mem - thr > 0).astype(float)
        mem = mem - (spk - reset) * thr
        out.append(spk)
    return np.stack(out, 1)


def test_snntorch_reset_delay_false_matches_its_loop() -> None:
    w, b = _f32(4, 3, seed=2, scale=2.0), _f32(4, seed=3)
    beta = np.array([0.5, 0.8, 0.9, 0.95])
    graph = _chain(nir.Affine(w, b), _snntorch_lif(beta, 1.0))
    imported = from_nir(graph, reset="subtract", reset_delay=False)
    lif = imported.op("lif")
    assert lif.v_subtract is None
    np.testing.assert_array_equal(lif.refire_offset, lif.v_threshold)
    x = _inputs(3)
    beta32 = 1 - DT_SNNTORCH / imported_tau_nir(graph)
    cur = _dense(x, w, b)
    want = _snntorch_same_step_loop(cur, beta32, 1.0)
    np.testing.assert_array_equal(_run(imported, x), want)
    assert want.sum() > 10
    # the input is strong enough that the "double reset" rule changes spikes
    plain = _leaky_loop(cur, beta32, 1.0, thr=1.0, reset="subtract")
    assert np.any(plain != want)


def test_snntorch_delayed_zero_reset_of_synaptic_warns_it_is_not_exact() -> None:
    tau = _full(3, DT_SNNTORCH / (1 - 0.8))
    node = nir.CubaLIF(
        tau_syn=tau,
        tau_mem=tau,
        r=tau / np.float32(DT_SNNTORCH),
        v_leak=_full(3, 0),
        v_threshold=_full(3, 1.0),
        w_in=tau / np.float32(DT_SNNTORCH),
    )
    graph = _chain(nir.Linear(_f32(3, 2)), node)
    with pytest.warns(ConventionWarning, match="zeroes the whole next step"):
        from_nir(graph, reset="zero")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same-step zero reset: exact, nothing to say
        from_nir(graph, reset="zero", reset_delay=False)


def test_to_nir_refuses_ops_without_a_nir_node() -> None:
    from ir.ops import io, nn

    g = ir.Graph()
    g.add("x", io.Input(shape=(3,)))
    g.add("relu", nn.ReLU(), ["x"])
    g.add("y", io.Output(), ["relu"])
    with pytest.raises(FrontendError, match=r"node 'relu': nn\.relu"):
        to_nir(g)


# -- detection and ambiguity --------------------------------------------------------


def _plain_lif() -> nir.NIRGraph:
    return _chain(
        nir.Linear(_f32(3, 2)),
        nir.LIF(
            tau=_full(3, 0.02),
            r=_full(3, 1.0),
            v_leak=_full(3, 0.0),
            v_threshold=_full(3, 1.0),
        ),
    )


def test_ambiguous_discretization_asks_for_convention() -> None:
    with pytest.raises(FrontendError, match=r"node 'lif'.*tau=0\.02.*convention="):
        from_nir(_plain_lif())
    with pytest.raises(FrontendError, match=r"node 'lif'.*dt="):
        from_nir(_plain_lif(), convention="exact")
    graph = from_nir(_plain_lif(), convention="exact", dt=DT)
    assert graph.op("lif").reset == "zero"  # the NIR spec's reset
    assert (
        from_nir(_plain_lif(), convention="exact", dt=DT, reset="subtract")
        .op("lif")
        .reset
        == "subtract"
    )


def test_bad_arguments_are_named() -> None:
    with pytest.raises(FrontendError, match="unknown convention 'brian'"):
        from_nir(_plain_lif(), convention="brian")
    with pytest.raises(FrontendError, match="unknown reset"):
        from_nir(_plain_lif(), convention="exact", dt=DT, reset="hard")
    assert set(CONVENTIONS) == {"exact", "snntorch", "rockpool", "sinabs", "norse"}
    assert all(name == conv.name for name, conv in CONVENTIONS.items())


def test_cycle_is_cut_after_the_last_neuron_before_its_entry() -> None:
    """input -> a -> lif1 -> b -> lif2 -> c -> lif1: the cut is lif2 -> c (the last
    edge out of a neuron on the walk from lif1, the node nearest the input)."""

    def lif() -> nir.LIF:
        return nir.LIF(
            tau=_full(2, 0.01),
            r=_full(2, 1.0),
            v_leak=_full(2, 0.0),
            v_threshold=_full(2, 1.0),
        )

    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2])),
            "a": nir.Linear(_f32(2, 2)),
            "lif1": lif(),
            "b": nir.Linear(_f32(2, 2, seed=1)),
            "lif2": lif(),
            "c": nir.Affine(_f32(2, 2, seed=2), _f32(2, seed=3)),
            "output": nir.Output(np.array([2])),
        },
        edges=[
            ("input", "a"),
            ("a", "lif1"),
            ("lif1", "b"),
            ("b", "lif2"),
            ("lif2", "c"),
            ("c", "lif1"),
            ("lif2", "output"),
        ],
        type_check=False,
    )
    imported = from_nir(graph, convention="exact", dt=DT)
    assert [(e.src, e.dst) for e in imported.edges() if e.recurrent] == [("lif2", "c")]


def test_cycle_without_state_is_refused() -> None:
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2])),
            "a": nir.Linear(_f32(2, 2)),
            "b": nir.Linear(_f32(2, 2, seed=1)),
            "output": nir.Output(np.array([2])),
        },
        edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")],
        type_check=False,
    )
    with pytest.raises(FrontendError, match=r"cycle .*a.*b.* no stateful node"):
        from_nir(graph)


# -- bad input ----------------------------------------------------------------------


@pytest.fixture
def nir_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.nir"
    nir.write(path, _plain_lif())
    return path


def test_truncated_and_corrupt_files(nir_file: Path, tmp_path: Path) -> None:
    data = nir_file.read_bytes()
    truncated = tmp_path / "truncated.nir"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.nir"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    for path in (truncated, garbage):
        with pytest.raises(FrontendError, match=str(path.name)) as info:
            from_nir(path, convention="exact", dt=DT)
        assert "corrupt or truncated" in str(info.value)
    with pytest.raises(FrontendError, match="no such file"):
        from_nir(tmp_path / "missing.nir")


def test_unknown_node_type_in_file(nir_file: Path) -> None:
    with h5py.File(nir_file, "r+") as f:
        del f["node/nodes/lif/type"]
        f["node/nodes/lif"].create_dataset(
            "type", data="Izhikevich", dtype=h5py.string_dtype()
        )
    with pytest.raises(
        FrontendError, match=r"model\.nir: node 'lif' has unknown NIR type 'Izhikevich'"
    ):
        from_nir(nir_file)


def test_missing_field_in_file(nir_file: Path) -> None:
    with h5py.File(nir_file, "r+") as f:
        del f["node/nodes/lif/tau"]
    with pytest.raises(
        FrontendError, match=r"model\.nir: node 'lif' \(LIF\) lacks .*tau"
    ):
        from_nir(nir_file, convention="exact", dt=DT)


def test_edge_to_missing_node(nir_file: Path) -> None:
    with h5py.File(nir_file, "r+") as f:
        edges = f["node/edges"][()]
        edges[-1, 1] = b"nowhere"
        del f["node/edges"]
        f["node"].create_dataset("edges", data=edges)
    with pytest.raises(
        FrontendError, match=r"model\.nir: edge .*no node named 'nowhere'"
    ):
        from_nir(nir_file, convention="exact", dt=DT)


def test_shape_mismatch_names_the_node() -> None:
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([3])),
            "fc1": nir.Linear(_f32(4, 3)),
            "fc2": nir.Linear(_f32(2, 5)),
            "output": nir.Output(np.array([2])),
        },
        edges=[("input", "fc1"), ("fc1", "fc2"), ("fc2", "output")],
        type_check=False,
    )
    with pytest.raises(FrontendError, match=r"NIR graph: node 'fc2'.*must end in 5"):
        from_nir(graph)
    conv = nir.Conv2d((5, 5), _f32(1, 1, 3, 3), 1, 0, 1, 1, np.zeros(1, np.float32))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([1, 6, 6])), "conv": conv,
               "output": nir.Output(np.array([1, 4, 4]))},
        edges=[("input", "conv"), ("conv", "output")],
        type_check=False,
    )  # fmt: skip
    with pytest.raises(FrontendError, match=r"node 'conv'.*declares input shape"):
        from_nir(graph)
