"""``compiler.energy``: published figures x counted events, user figures, markers."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
import ir
from backends.energy import NO_FIGURE, Activity, EnergyModel, Published
from backends.xylo.config import XyloConfig
from backends.xylo.emulator import XyloEmulator
from compiler.cli import main
from compiler.energy import dense_macs, estimate, parse_figures
from tests.backends.dynapse.test_lower import chain
from tests.backends.xylo.snn_graphs import lif_graph

MODEL = EnergyModel(
    chip="test chip",
    per_event={
        "synaptic_event": Published(2e-12, "paper A, table 1"),
        "spike": Published(None, f"{NO_FIGURE}: nobody measured it"),
    },
    static_power=Published(1e-4, "paper B, p. 3"),
)


def activity(synaptic: float, spikes: float, seconds: float = 0.1) -> Activity:
    return Activity(
        events={"synaptic_event": synaptic, "spike": spikes},
        seconds=seconds,
        steps=100,
    )


def test_estimate_scales_with_the_event_counts() -> None:
    one = estimate(MODEL, activity(1000, 10), target="t", ann_macs=50)
    two = estimate(MODEL, activity(2000, 20), target="t", ann_macs=50)
    static = 1e-4 * 0.1
    assert one.known == pytest.approx(1000 * 2e-12 + static)
    assert two.known - static == pytest.approx(2 * (one.known - static))
    assert one.ann_joules == pytest.approx(50 * 0.23e-12)


def test_a_missing_figure_is_a_marker_not_a_number() -> None:
    result = estimate(MODEL, activity(1000, 10), target="t", ann_macs=50)
    assert result.missing == ("spike",)
    assert result.total is None
    rows = result.rows()
    assert rows["spike"] == f"10 x {NO_FIGURE}"
    assert rows["total"].startswith(">= ")
    assert "lower bound" in rows["total"]
    assert "--energy-figure" in rows["total"]
    assert rows["source spike"].startswith(NO_FIGURE)


def test_user_figures_replace_the_published_ones() -> None:
    result = estimate(
        MODEL,
        activity(1000, 10),
        target="t",
        ann_macs=50,
        figures={"spike": 5e-11, "static_power": 0.0, "ann_mac": 1e-12},
    )
    assert result.missing == ()
    assert result.total == pytest.approx(1000 * 2e-12 + 10 * 5e-11)
    assert result.ann_joules == pytest.approx(50e-12)
    assert result.rows()["source spike"] == "user-supplied"
    # a kind the model does not price is added when supplied
    extra = estimate(
        MODEL,
        Activity(events={"neuron_update": 300.0}, seconds=0.0),
        target="t",
        ann_macs=0,
        figures={"neuron_update": 1e-12},
    )
    assert [t.kind for t in extra.terms][-2:] == ["neuron_update", "static_power"]


@pytest.mark.parametrize(
    ("items", "words"),
    [
        (["synaptic_event"], "expected KIND=VALUE"),
        (["spike=lots"], "'lots' is not a number"),
        (["joules=1"], "unknown energy figure joules; known: synaptic_event (J)"),
        (["spike=-1"], "spike=-1.0: must be a finite number >= 0 (J)"),
        (["static_power=nan"], "static_power=nan: must be a finite number >= 0 (W)"),
    ],
)
def test_bad_figures_name_the_item(items: list[str], words: str) -> None:
    with pytest.raises(ValueError, match="energy") as err:
        parse_figures(items)
    assert words in str(err.value)


def test_dense_macs_counts_each_weight_once_per_pass() -> None:
    graph = lif_graph(0)  # 4 -> 8 -> 3 linear layers
    assert dense_macs(graph) == 4 * 8 + 8 * 3


def count_synaptic_events(config: XyloConfig, raster: np.ndarray) -> float:
    """An independent count: every event, every nonzero weight it reaches."""
    _, states = XyloEmulator(config).run(raster, record=True)
    total = 0
    for b in range(raster.shape[0]):
        for t in range(raster.shape[1]):
            for i in range(raster.shape[2]):
                n = int(min(raster[b, t, i], 15))
                total += n * int(np.count_nonzero(config.weights_in[i]))
            for j in range(config.n_hidden):
                n = int(states["Spikes"][b, t, j])
                total += n * int(np.count_nonzero(config.weights_rec[j]))
                total += n * int(np.count_nonzero(config.weights_out[j]))
    return total / raster.shape[0]


def test_xylo_compile_reports_counted_events_and_missing_figures() -> None:
    result = compiler.compile(lif_graph(0), target="xylo-audio2", fidelity=False)
    energy = result.report.energy
    assert energy is not None
    spikes = np.random.default_rng(0).random((8, 100, 4)) < 0.15  # fidelity's probe
    raster = np.pad(spikes.astype(np.int64), ((0, 0), (0, 0), (0, 12)))
    expected = count_synaptic_events(result.config, raster)
    terms = {t.kind: t for t in energy.terms}
    assert terms["synaptic_event"].count == pytest.approx(expected)
    assert terms["synaptic_event"].joules is None  # SynSense publishes none
    assert energy.total is None
    # the idle power is published: static energy = P x steps x dt
    assert energy.known == pytest.approx(219e-6 * 100 * 1e-3)
    # a network with state: its ANN may run once or densely every step
    assert energy.ann_macs == dense_macs(lif_graph(0))
    assert energy.ann_steps == 100
    rows = energy.rows()
    assert rows["ANN, dense every step"].startswith(f"{56 * 100:,} MACs x 230 fJ")
    text = str(result.report)
    assert f"synaptic event                         {expected:,.0f} x {NO_FIGURE}" in (
        text
    )


def test_user_figures_complete_the_xylo_estimate() -> None:
    figures = {"synaptic_event": 1e-11, "neuron_update": 2e-12}
    result = compiler.compile(
        lif_graph(0), target="xylo-audio2", fidelity=False, energy=figures
    )
    energy = result.report.energy
    assert energy is not None
    counts = {t.kind: t.count for t in energy.terms}
    assert energy.total == pytest.approx(
        counts["synaptic_event"] * 1e-11
        + counts["neuron_update"] * 2e-12
        + 219e-6 * 0.1
    )
    off = compiler.compile(lif_graph(0), target="xylo-audio2", energy=False)
    assert off.report.energy is None
    with pytest.raises(ValueError, match="unknown energy figure photons"):
        compiler.compile(lif_graph(0), target="xylo-audio2", energy={"photons": 1.0})


@pytest.mark.filterwarnings("ignore::backends.dynapse.adapt.DynapseAdapterWarning")
def test_dynapse_prices_spikes_and_synaptic_events() -> None:
    result = compiler.compile(chain(0), target="dynapse2", fidelity=False)
    energy = result.report.energy
    assert energy is not None
    terms = {t.kind: t for t in energy.terms}
    assert terms["spike"].figure.approximate  # a DYNAP-SE proxy
    assert energy.known == pytest.approx(
        terms["spike"].count * 883e-12 + terms["synaptic_event"].count * 324e-12
    )
    assert energy.missing == ("static_power",)


def test_reference_target_says_why_there_is_no_estimate() -> None:
    result = compiler.compile(lif_graph(0), target="reference")
    assert result.report.energy is None
    assert "declares no energy figures" in result.report.energy_note


def test_cli_compile_takes_energy_figures(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    ir.save(lif_graph(0), root / "g.sfir")
    status = main(["compile", str(root / "g.sfir"), "-t", "xylo-audio2", "-o",
                   str(root / "b"), "--no-fidelity", "--energy-figure",
                   "synaptic_event=1e-11", "--energy-figure", "neuron_update=0"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    assert "source synaptic event                  user-supplied" in out
    assert "lower bound" not in out
    status = main(["compile", str(root / "g.sfir"), "-t", "xylo-audio2", "-o",
                   str(root / "c"), "--energy-figure", "spike"])  # fmt: skip
    assert status == 1
    assert "expected KIND=VALUE" in capsys.readouterr().err
    assert not (root / "c").exists()


def test_nothing_priced_is_not_a_zero() -> None:
    model = EnergyModel(
        chip="unknown chip",
        per_event={"spike": Published(None, NO_FIGURE)},
        static_power=Published(None, NO_FIGURE),
    )
    result = estimate(model, activity(10, 10), target="t", ann_macs=5)
    assert result.total is None
    assert result.rows()["total"].startswith(f"{NO_FIGURE} for any term")
    assert "ANN / SNN energy" not in result.rows()
