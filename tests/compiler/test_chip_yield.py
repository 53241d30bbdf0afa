"""The chip-population yield report (API and CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compiler
from backends.dynapse.target import DYNAPSE2
from compiler.chip_yield import YieldReport, chip_yield, histogram
from tests.backends.dynapse.test_lower import chain

# The dynapse2 pipeline adapts subtract resets and LIF synapses (adapt-dynapse) and
# warns; these tests are about other things (tests/backends/dynapse/test_adapt.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)


@pytest.fixture(scope="module")
def build() -> tuple[object, np.ndarray, np.ndarray]:
    with pytest.warns(compiler.FidelityWarning):  # the chain's float graph is silent
        config = compiler.compile(chain(0), target="dynapse2").config
    rng = np.random.default_rng(0)
    x = (rng.random((12, 80, 12)) < rng.random((12, 1, 12)) * 0.4).astype(np.float32)
    # Labels: the ideal chip's own decisions, so its accuracy is 1 by construction.
    ideal = DYNAPSE2.emulator(config, seed=None).run(x)
    return config, x, ideal.sum(1).argmax(1)


def test_each_chip_is_scored_as_if_run_alone(build) -> None:  # type: ignore[no-untyped-def]
    config, x, y = build
    report = chip_yield(DYNAPSE2, config, x, y, chips=5, seed=3, batch=2)
    assert report.seeds == (3, 4, 5, 6, 7)
    for seed, acc in zip(report.seeds, report.accuracy, strict=True):
        alone = DYNAPSE2.emulator(config, seed=seed).run(x)
        assert acc == np.mean(alone.sum(1).argmax(1) == y)
    assert report.reference_source == "ideal chip"
    assert report.reference == 1.0
    assert report.within == np.mean(report.accuracy >= 1.0 - 0.02 - 1e-12)
    assert report.minimum <= report.p5 <= report.mean
    again = chip_yield(DYNAPSE2, config, x, y, chips=5, seed=3, batch=32)
    np.testing.assert_array_equal(again.accuracy, report.accuracy)
    assert "5th percentile" in str(report)


class Board:
    """A stand-in chip without ``population``: a fixed per-seed label flip."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed

    def run(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((x.shape[0], 3, 2))
        wrong = (np.arange(x.shape[0]) < (self.seed or 0)).astype(int)
        out[np.arange(x.shape[0]), 0, wrong] = 1  # class 0, except the first `seed`
        return out


class Target:
    name = "board"

    def emulator(self, config: object, *, seed: int | None = 0) -> Board:
        return Board(seed)


def test_targets_without_populations_run_chip_by_chip() -> None:
    x = np.zeros((10, 3, 1))
    y = np.zeros(10, int)
    report = chip_yield(
        Target(), None, x, y, chips=4, seed=0, reference=0.9, tolerance=0.1
    )
    np.testing.assert_allclose(report.accuracy, [1.0, 0.9, 0.8, 0.7])
    assert report.reference_source == "float model"
    assert report.within == 0.75  # 1.0, 0.9 and 0.8 are within 0.1 of 0.9
    with pytest.raises(ValueError, match="10 inputs but 9 labels"):
        chip_yield(Target(), None, x, y[:9])


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_the_dask_engine_gives_the_local_accuracies(build, scheduler: str) -> None:  # type: ignore[no-untyped-def]
    config, x, y = build
    y = y.copy()
    y[:4] = (y[:4] + 1) % 4  # some samples wrong on every chip: accuracies differ
    local = chip_yield(DYNAPSE2, config, x, y, chips=4, seed=3, batch=2)
    on_dask = chip_yield(
        DYNAPSE2, config, x, y, chips=4, seed=3, batch=2,
        engine="dask", dask_scheduler=scheduler,
    )  # fmt: skip
    assert on_dask.seeds == local.seeds
    np.testing.assert_array_equal(on_dask.accuracy, local.accuracy)
    assert on_dask.accuracy.dtype == local.accuracy.dtype
    assert (on_dask.reference, on_dask.reference_source) == (
        local.reference,
        "ideal chip",
    )
    assert len(set(local.accuracy)) > 1  # the comparison is not trivially all equal


def test_the_dask_engine_runs_targets_without_populations() -> None:
    x = np.zeros((10, 3, 1))
    y = np.zeros(10, int)
    report = chip_yield(
        Target(), None, x, y, chips=5, seed=0, reference=0.9, batch=2,
        engine="dask", dask_scheduler="synchronous",
    )  # fmt: skip
    np.testing.assert_allclose(report.accuracy, [1.0, 0.9, 0.8, 0.7, 0.6])
    assert (report.reference, report.reference_source) == (0.9, "float model")


def test_engine_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.zeros((10, 3, 1))
    y = np.zeros(10, int)
    with pytest.raises(
        ValueError, match=r"unknown engine 'ray'; valid: \['local', 'dask'\]"
    ):
        chip_yield(Target(), None, x, y, engine="ray")
    with pytest.raises(ValueError, match="needs engine='dask'"):
        chip_yield(Target(), None, x, y, dask_scheduler="threads")
    monkeypatch.setitem(sys.modules, "dask", None)  # as if dask were not installed
    with pytest.raises(ImportError, match=r"pip install 'spikeforge\[distributed\]'"):
        chip_yield(Target(), None, x, y, engine="dask")


def test_histogram_and_cli(build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, x, y = build
    report = YieldReport((1, 2), np.array([0.5, 1.0]), 1.0, "ideal chip", 0.02)
    histogram([("a", report)], tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    config.save(tmp_path / "build")
    np.savez(tmp_path / "test.npz", x=x, y=y)
    done = subprocess.run(
        [sys.executable, "-m", "compiler.cli", "yield", str(tmp_path / "build"),
         "--data", str(tmp_path / "test.npz"), "--chips", "3",
         "--histogram", str(tmp_path / "yield.png")],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "5th percentile" in done.stdout
    assert (tmp_path / "yield.png").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "compiler.cli", "yield", str(tmp_path / "build"),
         "--data", str(tmp_path / "h.png")],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr


def test_a_digital_target_yields_the_same_accuracy_on_every_chip() -> None:
    from backends.xylo.lower import lower_to_config
    from backends.xylo.target import XYLO_AUDIO2
    from tests.backends.xylo.snn_graphs import cuba_graph, on_chip, raster

    config = lower_to_config(cuba_graph(1), "xylo-audio2")
    events = on_chip(raster(1, 5, steps=60, batch=6))  # integer event counts
    out = XYLO_AUDIO2.emulator(config).run(events)
    labels = out.sum(1).argmax(-1)
    labels[:2] = (labels[:2] + 1) % out.shape[-1]
    report = chip_yield(XYLO_AUDIO2, config, events, labels, chips=3)
    np.testing.assert_array_equal(report.accuracy, np.full(3, 4 / 6))
    assert report.reference == 4 / 6  # the ideal chip is every chip


def test_text_histogram_counts_every_chip() -> None:
    from compiler.chip_yield import histogram_text

    def report(values: list[float]) -> YieldReport:
        return YieldReport(tuple(range(len(values))), np.array(values), 0.9, "x", 0.02)

    text = histogram_text(
        [
            ("before", report([0.31, 0.5, 0.52])),
            ("after", report([0.85, 0.88, 0.9, 1.0])),
        ]
    )
    lines = text.splitlines()
    assert lines[0].split() == ["accuracy", "before", "after"]
    assert len(lines) == 11  # header + 10 bins from 30 % to 100 %
    counts = [
        int(tok) for line in lines[1:] for tok in line.split()[1:] if tok.isdigit()
    ]
    assert sum(counts) == 7  # every chip in one bin, 1.0 in the last
    assert lines[-1].split()[-1] == "1"  # 1.0 counts in the top bin (93-100 %)


def test_p5_interval_brackets_the_percentile_and_narrows_with_chips() -> None:
    rng = np.random.default_rng(0)

    def report(n: int) -> YieldReport:
        acc = np.clip(rng.normal(0.9, 0.03, n), 0, 1)
        return YieldReport(tuple(range(n)), acc, 0.95, "float model", 0.02)

    small, large = report(20), report(2000)
    for r in (small, large):
        low, high = r.p5_interval()
        assert low <= r.p5 <= high
        assert r.p5_interval() == (low, high)  # seeded
    width = [r.p5_interval()[1] - r.p5_interval()[0] for r in (small, large)]
    assert width[1] < width[0] / 3, width
    # The population's 5th percentile (0.9 - 1.645 * 0.03) lies in the large interval.
    low, high = large.p5_interval(0.99)
    assert low <= 0.9 - 1.645 * 0.03 <= high
    with pytest.raises(ValueError, match="confidence"):
        small.p5_interval(1.0)
