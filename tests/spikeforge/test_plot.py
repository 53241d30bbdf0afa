"""``spikeforge.plot``: rasters and membrane traces, from Python and ``run --plot``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import compiler
import ir
from compiler.cli import main
from spikeforge import plot
from tests.backends.dynapse.test_lower import chain
from tests.backends.xylo.snn_graphs import lif_graph

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def spikes(seed: int, shape: tuple[int, ...], p: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(shape) < p).astype(np.float32)


def nonzero(a: np.ndarray) -> set[tuple[int, int]]:
    return {(int(t), int(n)) for t, n in np.argwhere(a)}


def dots(fig: object, panel: int = 0) -> set[tuple[int, int]]:
    """The (time, neuron) of every dot a raster panel draws."""
    (collection,) = fig.axes[panel].collections  # type: ignore[attr-defined]
    return {(int(t), int(n)) for t, n in np.asarray(collection.get_offsets())}


def test_raster_draws_one_dot_per_step_with_events(tmp_path: Path) -> None:
    x = spikes(0, (3, 40, 2, 5))  # batch, time, features (2, 5): flattened
    x[1, 7, 1, 4] = 3  # counts above one are one dot
    fig = plot.raster(x, sample=1, path=tmp_path / "r.png")
    flat = x[1].reshape(40, 10)
    assert dots(fig) == nonzero(flat)
    assert (7, 9) in dots(fig)
    data = (tmp_path / "r.png").read_bytes()
    assert data.startswith(PNG)
    assert len(data) > 2000


def test_raster_takes_torch_tensors_and_panels_by_name() -> None:
    x, h = spikes(1, (30, 4)), spikes(2, (30, 6), 0.5)
    fig = plot.raster({"input": torch.from_numpy(x), "hidden": h}, dt=1e-3)
    assert len(fig.axes) == 2
    assert fig.axes[1].get_ylabel().startswith("hidden")
    assert dots(fig, 0) == nonzero(x)
    # dt: the time axis in ms
    assert fig.axes[1].get_xlabel() == "time (ms)"


def test_membrane_lines_hold_the_traces() -> None:
    v = np.cumsum(np.random.default_rng(3).normal(size=(2, 25, 12)), axis=1)
    fig = plot.membrane(v, sample=1, neurons=[0, 11], threshold=1.0)
    lines = fig.axes[0].lines
    np.testing.assert_allclose(lines[0].get_ydata(), v[1, :, 0])
    np.testing.assert_allclose(lines[1].get_ydata(), v[1, :, 11])
    assert len(lines) == 3  # two traces and the threshold
    assert len(plot.membrane(v).axes[0].lines) == 8  # max_neurons by default


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (np.zeros(10), "has shape (10,); expected (time, neurons)"),
        (np.zeros((2, 0, 3)), "no time steps or no neurons"),
        (np.full((5, 2), 0.5), "is not event counts: 0.5 at time 0, neuron 0"),
        (-np.ones((5, 2)), "is not event counts: -1 at time 0, neuron 0"),
        (np.array([["a"]]), "expected numbers"),
    ],
)
def test_raster_rejects_what_is_not_a_raster(data: np.ndarray, words: str) -> None:
    with pytest.raises(ValueError, match="'hidden'") as err:
        plot.raster({"hidden": data})
    assert words in str(err.value)


def test_bad_sample_and_neuron_name_the_limit() -> None:
    with pytest.raises(ValueError, match="sample 4 is outside the batch of 2"):
        plot.raster(spikes(0, (2, 5, 3)), sample=4)
    with pytest.raises(ValueError, match="has 3 neurons; neurons \\[7\\]"):
        plot.membrane(np.zeros((5, 3)), neurons=[0, 7])


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'spikeforge\[plot\]'"):
        plot.raster(np.zeros((3, 3)))


# -- spikeforge run --plot -------------------------------------------------------------


def test_run_plot_draws_input_hidden_and_output_of_a_graph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = lif_graph(0)
    ir.save(graph, tmp_path / "g.sfir")
    x = (np.random.default_rng(0).random((1, 30, 4)) < 0.4).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    png = tmp_path / "run.png"
    assert main(["run", str(tmp_path / "g.sfir"), "--input", str(tmp_path / "x.npy"),
                 "--plot", str(png), "--record"]) == 0  # fmt: skip
    assert f"wrote {png}" in capsys.readouterr().out
    assert png.read_bytes().startswith(PNG)


def test_run_graph_panels_follow_the_recording() -> None:
    from compiler.cli import _graph_panels

    graph = lif_graph(0)
    x = spikes(5, (1, 30, 4), 0.5)
    out, rec = ir.interpret(graph, x, record=True)
    rasters, membranes = _graph_panels(graph, rec, record=True)
    assert list(rasters) == ["x", "lif1", "lif2", "y"]
    assert list(membranes) == ["lif1 v", "lif2 v"]
    np.testing.assert_array_equal(rasters["lif1"], rec["lif1"]["output"])
    np.testing.assert_array_equal(rasters["y"], out)


@pytest.mark.filterwarnings("ignore::backends.dynapse.adapt.DynapseAdapterWarning")
@pytest.mark.parametrize("target", ["xylo-audio2", "dynapse2"])
def test_run_plot_draws_a_build_with_hidden_neurons_and_states(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = lif_graph(0) if target == "xylo-audio2" else chain(0)
    compiler.compile(graph, target=target, fidelity=False).config.save(tmp_path / "b")
    n_in = 4 if target == "xylo-audio2" else 12
    np.save(tmp_path / "x.npy", spikes(0, (1, 20, n_in), 0.4))
    png = tmp_path / "b.png"
    status = main(["run", str(tmp_path / "b"), "--input", str(tmp_path / "x.npy"),
                   "--plot", str(png), "--record"])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "records no hidden neurons" not in captured.err
    assert png.read_bytes().startswith(PNG)


def test_run_record_without_plot_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ir.save(lif_graph(0), tmp_path / "g.sfir")
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 4), np.float32))
    status = main(["run", str(tmp_path / "g.sfir"), "--input",
                   str(tmp_path / "x.npy"), "--record"])  # fmt: skip
    assert status == 1
    assert "--record: the recorded states are drawn with --plot" in (
        capsys.readouterr().err
    )
