"""NIR files written by the real exporters, run by the interpreter, against the
framework's own simulation of the same network (``tests/fixtures/``).

Each fixture holds a ``.nir`` written by snnTorch, Norse, Sinabs or Rockpool and an
``.npz`` with the framework's output spikes (counts for Sinabs and Rockpool) and
output-layer membrane on a seeded input raster; ``tests/fixtures/README.md`` states
each framework's update and how it maps to the IR. Importing the file with the right
convention must reproduce every output spike count exactly. The IR spikes at
``v >= v_threshold`` while snnTorch and Norse spike at ``v > thr``; no fixture has a
membrane exactly at threshold, so the counts agree everywhere.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ir
from frontends.errors import FrontendError
from frontends.nir import ConventionWarning, NIRImportWarning, from_nir, from_nir_info

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nir"

V_ATOL = 1e-5
"""Membrane tolerance: the frameworks ran in float32, the interpreter runs in float64
(measured: at most 3.1e-6 apart, Rockpool's CubaLIF)."""

SUBTRACT_DELAYED = {"reset": "subtract", "reset_delay": True}
SUBTRACT_NOW = {"reset": "subtract", "reset_delay": False}

# name -> (from_nir keyword arguments, output node's IR membrane state matches v_out)
CASES: dict[str, tuple[dict[str, Any], bool]] = {
    # Detected (tau = r * 1e-4, v_leak = 0). The exporter writes neither the reset
    # mechanism nor reset_delay: snnTorch's defaults (subtract, reset_delay=True) are
    # assumed with a warning unless passed (test_snntorch_defaults_are_assumed_...).
    "snntorch_leaky_mlp": (SUBTRACT_DELAYED, False),
    # The non-default reset_mechanism="zero" has to be passed (reset_delay makes no
    # difference with zero reset).
    "snntorch_leaky_zero_mlp": ({"reset": "zero"}, False),
    # reset_delay=False: subtract in the same step, refire_offset = thr.
    "snntorch_leaky_nodelay_mlp": (SUBTRACT_NOW, True),
    "snntorch_synaptic_mlp": (SUBTRACT_DELAYED, False),
    "snntorch_synaptic_nodelay_mlp": (SUBTRACT_NOW, True),
    # The recurrent edge is 1.lif -> 1.w_rec (bias from t = 0).
    "snntorch_rleaky": (SUBTRACT_DELAYED, False),
    "snntorch_rleaky_nodelay": (SUBTRACT_NOW, True),
    "snntorch_rsynaptic": (SUBTRACT_DELAYED, False),
    # RSynaptic ignores reset_delay=False in snnTorch 1.0.0 (a warning says so); the
    # output Synaptic subtracts in the same step.
    "snntorch_rsynaptic_nodelay": (SUBTRACT_NOW, True),
    # Norse: tau = dt * tau_mem with r = 1 fits no detectable pattern (any framework
    # could write tau = 1e-5, r = 1), so the convention is passed.
    # Tau written as dt * tau (1e-5, Norse 1.1.0) is told apart from the true tau
    # (1e-2, Norse after May 2025) by the numbers: "norse_tau" is detected.
    "norse_lifbox_mlp": ({"convention": "norse"}, True),
    "norse_lif_mlp": ({"convention": "norse"}, True),
    "norse_true_lifbox_mlp": ({"convention": "norse"}, True),
    "norse_true_lif_mlp": ({"convention": "norse"}, True),
    # Detected: integrate-and-fire with r = 1 and no dt is Sinabs.
    # Detected: integrate-and-fire with r = 1 and no dt is Sinabs. The exporter does
    # not write min_v_mem: no floor is assumed with a warning unless v_min is passed.
    "sinabs_iaf_mlp": ({"v_min": "none"}, True),
    # LIF with r = 1 and tau = 10 or 8 could be any framework's (tau in seconds), so
    # the convention is passed.
    "sinabs_lif_mlp": ({"convention": "sinabs", "v_min": "none"}, True),
    # min_v_mem = -threshold (sinabs.from_nir's IF layers) and -0.5.
    "sinabs_iaf_vmin_mlp": ({"v_min": "-threshold"}, True),
    "sinabs_lif_vmin_mlp": ({"convention": "sinabs", "v_min": -0.5}, True),
    # Detected: Rockpool's r = tau exp(-dt/tau)/dt gives one dt for tau = 10 and 20 ms.
    "rockpool_lifneuron_mlp": ({}, True),
    # Every tau_mem is 20 ms, and a single (tau, r) pair fits Rockpool's formula for
    # some dt whatever it is, so detection cannot be certain: convention passed (dt is
    # still recovered from r).
    "rockpool_lif_mlp": ({"convention": "rockpool"}, True),
    # Rockpool's own to_nir (nir 1.0.4): Output [8, 1, 4] (sample zeros(8)), and
    # Input [1, 8] with Output [1, 1, 4] (its default sample zeros((1, 8))).
    "rockpool_lifneuron_user": ({}, True),
    "rockpool_lif_user": ({"convention": "rockpool"}, True),
}

LOSSY = {"rockpool_lif_rec": {"convention": "rockpool"}}
"""Fixtures whose file does not hold the network (Rockpool drops ``w_rec``): they
must import with a warning and are not expected to match."""

# name -> the NIRImportWarning messages (regexes) the import must give, every one
_ROCKPOOL_LOSS = r"writes v_leak = 0 whatever the neurons' bias"
_OUTPUT_TYPE = r"Rockpool 3\.1's to_nir \(with nir <= 1\.0\.4\) writes the export"
_INPUT_BATCH = r"leading 1s are the export sample's batch dim"
_NORSE_DT = r"Norse file with the true tau does not record the step.*pass dt="
WARNS: dict[str, tuple[str, ...]] = {
    # snnTorch 1.0.0's RSynaptic ignores reset_delay=False: the import says so.
    "snntorch_rsynaptic_nodelay": (r"'1\.lif'.*RSynaptic.*ignores",),
    "norse_true_lifbox_mlp": (_NORSE_DT,),
    "norse_true_lif_mlp": (_NORSE_DT,),
    "rockpool_lifneuron_mlp": (_ROCKPOOL_LOSS,),
    "rockpool_lif_mlp": (_ROCKPOOL_LOSS + r".*loses its w_rec",),
    "rockpool_lifneuron_user": (_ROCKPOOL_LOSS, r"declares type \(8, 1, 4\)"),
    "rockpool_lif_user": (
        _ROCKPOOL_LOSS,
        r"declares type \(1, 1, 4\) but its edge carries \(4,\): " + _OUTPUT_TYPE,
        r"declares shape \(1, 8\).*" + _INPUT_BATCH,
    ),
    "rockpool_lif_rec": (
        _ROCKPOOL_LOSS + r".*loses its w_rec",
        _OUTPUT_TYPE,
        _INPUT_BATCH,
    ),
}


def _import(path: Path, name: str, **kwargs: Any) -> tuple[ir.Graph, Any]:
    """``from_nir_info`` that checks the import's warnings are exactly WARNS[name]."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph, info = from_nir_info(path, **kwargs)
    messages = [str(w.message) for w in caught]
    kinds = (NIRImportWarning, ConventionWarning)
    assert all(issubclass(w.category, kinds) for w in caught), messages
    want = WARNS.get(name, ())
    assert len(messages) == len(want), messages
    for pattern in want:
        assert any(re.search(pattern, m) for m in messages), (pattern, messages)
    return graph, info


def _fixture_names() -> set[str]:
    return {p.stem for p in FIXTURES.glob("*.npz")}


def test_every_fixture_is_covered() -> None:
    assert _fixture_names() == set(CASES) | set(LOSSY)
    assert {p.stem for p in FIXTURES.glob("*.nir")} == set(CASES) | set(LOSSY)


def _run(name: str) -> tuple[ir.Graph, Any, Any, Any]:
    kwargs = CASES[name][0] if name in CASES else LOSSY[name]
    data = np.load(FIXTURES / f"{name}.npz")
    graph, _ = _import(FIXTURES / f"{name}.nir", name, **kwargs)
    assert graph.dt == pytest.approx(float(data["dt"]), rel=1e-9)
    x = data["input"].astype(np.float64)
    out, rec = ir.interpret(graph, x, record=True)
    return graph, data, out.numpy(), rec


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_output_spikes_match_exactly(name: str) -> None:
    """Every output spike count (2 x 40 x 4) equals the framework's, and so does
    every hidden-layer spike (2 x 40 x 12)."""
    graph, data, out, rec = _run(name)
    want = data["output"].astype(np.float64)
    assert out.shape == want.shape
    np.testing.assert_array_equal(out, want)
    assert want.sum() >= 40  # the network spikes, so the comparison means something
    hidden = next(n for n in graph.topo_order() if graph.op(n).name.startswith("snn."))
    np.testing.assert_array_equal(rec[hidden]["output"].numpy(), data["hidden"])


@pytest.mark.parametrize("name", sorted(n for n, (_, v) in CASES.items() if v))
def test_fixture_output_membrane_matches(name: str) -> None:
    """The output layer's membrane after reset equals the recorded ``v_out``.

    snnTorch with reset_delay=True is left out: it records the membrane before its
    one-step-late reset, and the IR's state after a subtraction of ``thr / beta`` is
    a different number. With reset_delay=False both are after the reset.
    """
    graph, data, _, rec = _run(name)
    (out_edge,) = graph.in_edges(graph.outputs()[0])
    v = rec[out_edge.src]["v"].numpy()
    np.testing.assert_allclose(v, data["v_out"], rtol=0, atol=V_ATOL)


def test_snntorch_zero_reset_membrane_before_reset() -> None:
    """With zero reset the IR membrane after reset is snnTorch's ``mem (1 - spk)``."""
    graph, data, _, rec = _run("snntorch_leaky_zero_mlp")
    (out_edge,) = graph.in_edges(graph.outputs()[0])
    v = rec[out_edge.src]["v"].numpy()
    want = data["v_out"] * (1 - data["output"])
    np.testing.assert_allclose(v, want, rtol=0, atol=V_ATOL)


def test_snntorch_subtract_membrane_is_the_delayed_reset() -> None:
    """After a spike the IR holds ``mem - thr / beta``; snnTorch's next ``mem`` is
    ``beta mem - thr + x``, so ``beta v_ir + x`` must give the recorded trace."""
    graph, data, _, rec = _run("snntorch_leaky_mlp")
    (out_edge,) = graph.in_edges(graph.outputs()[0])
    lif = graph.op(out_edge.src)
    beta = np.exp(-graph.dt / lif.tau.astype(np.float64))
    v = rec[out_edge.src]["v"].numpy()
    (in_edge,) = graph.in_edges(out_edge.src)
    x = rec[in_edge.src]["output"].numpy()
    np.testing.assert_allclose(
        beta * v[:, :-1] + x[:, 1:], data["v_out"][:, 1:], rtol=0, atol=V_ATOL
    )
    assert lif.reset == "subtract"
    np.testing.assert_allclose(lif.v_subtract, lif.v_threshold / beta, rtol=1e-6)


def test_rsynaptic_recurrence_leaves_the_neuron() -> None:
    graph = from_nir(FIXTURES / "snntorch_rsynaptic.nir", **SUBTRACT_DELAYED)
    recurrent = [(e.src, e.dst) for e in graph.edges() if e.recurrent]
    assert recurrent == [("1.lif", "1.w_rec")]


# -- Norse: dt * tau (1.1.0) or the true tau (other versions) -------------------------


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("norse_lif_mlp", "dt-scaled"),
        ("norse_lifbox_mlp", "dt-scaled"),
        ("norse_true_lif_mlp", "true"),
        ("norse_true_lifbox_mlp", "true"),
    ],
)
def test_norse_tau_mode_is_detected(name: str, mode: str) -> None:
    _, info = _import(FIXTURES / f"{name}.nir", name, convention="norse")
    assert (info.norse_tau, info.norse_tau_from) == (mode, "detected")
    assert (info.convention, info.dt, info.dt_from) == ("norse", 1e-3, "convention")
    assert info.resets == {"zero": 2}
    assert "norse_tau true (detected)" in info.describe() or mode != "true"


def test_norse_tau_given_implies_the_norse_convention() -> None:
    name = "norse_true_lif_mlp"
    graph, info = _import(FIXTURES / f"{name}.nir", name, norse_tau="true")
    assert (info.convention, info.convention_from) == ("norse", "given")
    assert info.norse_tau_from == "given"
    data = np.load(FIXTURES / f"{name}.npz")
    out = ir.interpret(graph, data["input"].astype(np.float64)).numpy()
    np.testing.assert_array_equal(out, data["output"])


def test_true_tau_read_as_dt_scaled_is_wrong_so_detection_matters() -> None:
    """Forcing the other reading changes the network: the true-tau file read as
    dt * tau gives time constants of 10 s and loses most spikes (the silent failure
    detection prevents)."""
    name = "norse_true_lif_mlp"
    graph = from_nir(FIXTURES / f"{name}.nir", norse_tau="dt-scaled")
    data = np.load(FIXTURES / f"{name}.npz")
    out = ir.interpret(graph, data["input"].astype(np.float64)).numpy()
    assert out.sum() < data["output"].sum() / 4


def test_dt_scaled_tau_read_as_true_warns_that_it_collapses() -> None:
    with pytest.warns(NIRImportWarning, match=r"collapse to no memory.*'1'\.tau_mem"):
        graph = from_nir(FIXTURES / "norse_lif_mlp.nir", norse_tau="true", dt=1e-3)
    data = np.load(FIXTURES / "norse_lif_mlp.npz")
    out = ir.interpret(graph, data["input"].astype(np.float64)).numpy()
    assert not np.array_equal(out, data["output"])


def _norse_lif(tau: np.ndarray) -> Any:
    import nir

    n = tau.size
    f32 = np.float32
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2])),
            "0": nir.Affine(weight=np.ones((n, 2), f32), bias=np.zeros(n, f32)),
            "1": nir.LIF(
                tau=tau.astype(f32),
                r=np.ones(n, f32),
                v_leak=np.zeros(n, f32),
                v_threshold=np.ones(n, f32),
            ),
            "output": nir.Output(np.array([n])),
        },
        edges=[("input", "0"), ("0", "1"), ("1", "output")],
        type_check=False,
    )


@pytest.mark.parametrize(
    "tau",
    [
        [5e-4, 5e-4],  # between 0.1 dt and dt: dt * (0.5 s) or a true 0.5 ms
        [1e-5, 2e-2],  # one neuron each way
    ],
)
def test_ambiguous_norse_taus_are_refused_naming_the_option(tau: list[float]) -> None:
    with pytest.raises(FrontendError, match=r"node '1'.*pass norse_tau='dt-scaled'"):
        from_nir(_norse_lif(np.array(tau)), convention="norse")
    # the explicit option resolves it
    graph = from_nir(_norse_lif(np.array(tau)), norse_tau="dt-scaled")
    assert graph.op("1").name == "snn.lif"


def test_norse_tau_with_another_convention_is_refused() -> None:
    with pytest.raises(FrontendError, match="norse_tau= is for convention 'norse'"):
        from_nir(_norse_lif(np.array([1e-2])), convention="exact", norse_tau="true")
    with pytest.raises(FrontendError, match="unknown norse_tau 'scaled'"):
        from_nir(_norse_lif(np.array([1e-2])), norse_tau="scaled")


# -- Rockpool: Output type quirk, lost w_rec ---------------------------------------------


def test_rockpool_recurrent_export_warns_that_w_rec_is_lost() -> None:
    """Rockpool 3.1's to_nir writes ``LIFTorch(has_rec=True)`` as a bare CubaLIF:
    the file cannot reproduce Rockpool (145 output spikes; without w_rec, 76), so
    the import must say so."""
    graph, data, out, _ = _run("rockpool_lif_rec")
    assert not any(e.recurrent for e in graph.edges())
    assert out.sum() < data["output"].sum()
    assert not np.array_equal(out, data["output"])


def _ports_graph(declared: list[int], n_in: list[int] | None = None) -> Any:
    import nir

    f32 = np.float32
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array(n_in or [3])),
            "0_LinearTorch": nir.Affine(
                weight=np.ones((4, 3), f32), bias=np.zeros(4, f32)
            ),
            "output": nir.Output(np.array(declared)),
        },
        edges=[("input", "0_LinearTorch"), ("0_LinearTorch", "output")],
        type_check=False,
    )


@pytest.mark.parametrize("declared", [[3, 1, 4], [1, 1, 4], [1, 1, 1], [2, 5, 4]])
def test_rockpool_output_type_quirk_is_tolerated(declared: list[int]) -> None:
    with pytest.warns(NIRImportWarning, match="using the edge's type"):
        graph = from_nir(_ports_graph(declared), convention="exact", dt=1e-3)
    assert graph.shape("output") == (4,)


@pytest.mark.parametrize("declared", [[5], [1, 4], [3, 1, 5], [1, 1, 1, 4]])
def test_other_output_type_mismatches_are_errors(declared: list[int]) -> None:
    with pytest.raises(FrontendError, match=r"node 'output' \(Output\) declares"):
        from_nir(_ports_graph(declared), convention="exact", dt=1e-3)


def test_input_batch_dim_is_dropped_only_before_dense_layers() -> None:
    with pytest.warns(NIRImportWarning, match=r"importing the input as \(3,\)"):
        graph = from_nir(_ports_graph([4], n_in=[1, 3]), convention="exact")
    assert graph.shape("input") == (3,)
    # (2, 3) is not a batch dim: kept, and the dense layer maps the last axis
    graph = from_nir(_ports_graph([2, 4], n_in=[2, 3]), convention="exact")
    assert graph.shape("input") == (2, 3)


# -- nested sub-graphs written by an older nir ----------------------------------------


def test_nested_subgraph_that_nir_cannot_type_check_is_read(tmp_path: Path) -> None:
    """nir >= 1.0.8 type-checks nested graphs even with ``type_check=False``; a
    sub-graph with a bogus ``Output`` type (as older exporters wrote) fails there,
    while our flattened graph is valid."""
    import nir

    n, f32 = 4, np.float32
    lif = nir.CubaLIF(
        tau_mem=np.full(n, 0.02, f32),
        tau_syn=np.full(n, 0.005, f32),
        r=np.ones(n, f32),
        v_leak=np.zeros(n, f32),
        v_threshold=np.ones(n, f32),
        w_in=np.ones(n, f32),
    )
    sub = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([n])),
            "lif": lif,
            "w_rec": nir.Linear(weight=np.eye(n, dtype=f32) * 0.1),
            "output": nir.Output(np.array([1, n])),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        type_check=False,
    )
    top = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([3])),
            "fc": nir.Linear(weight=np.ones((n, 3), f32)),
            "rec": sub,
            "output": nir.Output(np.array([n])),
        },
        edges=[("input", "fc"), ("fc", "rec"), ("rec", "output")],
        type_check=False,
    )
    path = tmp_path / "nested.nir"
    nir.write(path, top)
    with pytest.raises(ValueError, match="type mismatch"):
        nir.read(path, type_check=False)
    graph = from_nir(path, convention="exact", dt=1e-3)
    assert set(graph.nodes()) == {"input", "fc", "rec.lif", "rec.w_rec", "output"}
    assert [(e.src, e.dst) for e in graph.edges() if e.recurrent] == [
        ("rec.lif", "rec.w_rec")
    ]


# -- the NIR paper's single-neuron files (neuromorphs/NIR paper/01_lif) ---------------

PAPER = FIXTURES / "paper"


def _paper_run(name: str, graph: ir.Graph) -> tuple[Any, Any, Any]:
    data = np.load(PAPER / f"{name}.npz")
    out, rec = ir.interpret(graph, data["input"].astype(np.float64), record=True)
    (lif,) = [n for n in graph.nodes() if graph.op(n).name == "snn.lif"]
    return data, out.numpy(), rec[lif]["v"].numpy()


def test_paper_norse_lif_true_tau_matches_norse_at_its_dt() -> None:
    """Norse (2023) wrote the true tau (2.5 ms); the paper ran it at dt = 1e-4 and
    got 4 spikes. The file does not hold dt: without dt= the import says so."""
    graph, info = from_nir_info(PAPER / "lif_norse.nir", convention="norse", dt=1e-4)
    assert (info.norse_tau, info.dt) == ("true", 1e-4)
    data, out, v = _paper_run("lif_norse", graph)
    np.testing.assert_array_equal(out, data["output"])
    assert out.sum() == 4
    np.testing.assert_allclose(v, data["v"], rtol=0, atol=V_ATOL)
    with pytest.warns(NIRImportWarning, match="assumed Norse's default dt = 0.001"):
        from_nir(PAPER / "lif_norse.nir", convention="norse")


def test_paper_rockpool_lif_imports_despite_its_output_type() -> None:
    """Rockpool's file types its Output [1, 1, 1] for a (1,) edge; dt = 1e-4 is
    recovered from r, and the 4 spikes and the membrane are Rockpool's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph, info = from_nir_info(PAPER / "lif_rockpool.nir", convention="rockpool")
    messages = " | ".join(str(w.message) for w in caught)
    assert "declares type (1, 1, 1) but its edge carries (1,)" in messages
    assert _ROCKPOOL_LOSS.replace("\\", "") in messages
    assert len(caught) == 2
    assert (info.dt, info.dt_from) == (pytest.approx(1e-4, rel=1e-9), "recovered")
    data, out, v = _paper_run("lif_rockpool", graph)
    np.testing.assert_array_equal(out, data["output"])
    assert out.sum() == 4
    np.testing.assert_allclose(v, data["v"], rtol=0, atol=V_ATOL)


def test_import_file_passes_norse_tau_on() -> None:
    from frontends.files import import_file

    path = FIXTURES / "norse_lif_mlp.nir"
    graph = import_file(path, norse_tau="dt-scaled")
    np.testing.assert_array_equal(
        graph.op("1").tau_mem, from_nir(path, convention="norse").op("1").tau_mem
    )
    with pytest.raises(FrontendError, match="norse_tau= is for convention 'norse'"):
        import_file(path, convention="sinabs", norse_tau="true")


def _graph(name: str, **kwargs: Any) -> ir.Graph:
    return _import(FIXTURES / f"{name}.nir", name, **kwargs)[0]


def _matches(graph: ir.Graph, name: str) -> int:
    data = np.load(FIXTURES / f"{name}.npz")
    out = ir.interpret(graph, data["input"].astype(np.float64)).numpy()
    return int((out == data["output"]).sum())


@pytest.mark.parametrize(
    "name", ["snntorch_leaky_nodelay_mlp", "snntorch_synaptic_nodelay_mlp"]
)
def test_snntorch_same_step_reset_needs_its_option_and_refire_offset(
    name: str,
) -> None:
    """reset_delay=False matters: imported with the default (delayed) reset, or
    without the "avoid double reset" offset, many bins differ."""
    graph = _graph(name, **SUBTRACT_NOW)
    assert _matches(graph, name) == 320
    neuron = graph.op(graph.in_edges(graph.outputs()[0])[0].src)
    assert neuron.v_subtract is None
    np.testing.assert_array_equal(neuron.refire_offset, neuron.v_threshold)
    assert _matches(_graph(name, **SUBTRACT_DELAYED), name) < 300
    for node in graph.nodes():
        op = graph.op(node)
        if getattr(op, "refire_offset", None) is not None:
            graph.replace(node, op.replace(refire_offset=None))
    assert _matches(graph, name) < 300


def test_snntorch_defaults_are_assumed_with_a_warning() -> None:
    """With nothing passed, snnTorch's defaults are used and the warning names the
    options; the result equals the explicit import."""
    name = "snntorch_leaky_mlp"
    with pytest.warns(ConventionWarning, match=r"reset_delay=True.*reset_delay=False"):
        graph = from_nir(FIXTURES / f"{name}.nir")
    assert _matches(graph, name) == 320
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_nir(FIXTURES / f"{name}.nir", reset="zero")  # zero: nothing to assume
    with pytest.warns(ConventionWarning, match="reset_delay=False"):
        from_nir(FIXTURES / f"{name}.nir", reset="subtract")


def test_sinabs_floor_is_needed_and_assumed_absent_with_a_warning() -> None:
    name = "sinabs_iaf_vmin_mlp"
    with pytest.warns(ConventionWarning, match=r"min_v_mem.*v_min='-threshold'"):
        graph = from_nir(FIXTURES / f"{name}.nir")
    assert all(getattr(graph.op(n), "v_min", None) is None for n in graph.nodes())
    assert _matches(graph, name) < 300  # the clamp matters in this fixture
    floor = _graph(name, v_min="-threshold")
    neuron = floor.op(floor.in_edges(floor.outputs()[0])[0].src)
    np.testing.assert_array_equal(neuron.v_min, -neuron.v_threshold)
    assert _matches(floor, name) == 320
    assert _matches(_graph(name, v_min=-1.0), name) == 320


def test_reset_delay_and_v_min_arguments_are_checked() -> None:
    path = FIXTURES / "sinabs_iaf_mlp.nir"
    with pytest.raises(FrontendError, match="reset_delay applies to convention"):
        from_nir(path, reset_delay=False, v_min="none")
    with pytest.raises(FrontendError, match="unknown v_min 'low'"):
        from_nir(path, v_min="low")
    with pytest.raises(FrontendError, match="v_min must be finite"):
        from_nir(path, v_min=float("nan"))
    with pytest.raises(FrontendError, match=r"node '1'.*v_min must be <"):
        from_nir(path, v_min=2.0)
