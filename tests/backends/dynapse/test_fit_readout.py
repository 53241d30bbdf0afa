"""``fit-readout-dynapse``: the last layer refitted at compile time on emulated chips
(``backends/dynapse/calibrate.py`` ``fit_readout``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compiler
import ir
from backends.dynapse.calibrate import fit_readout
from backends.dynapse.passes.fit_readout_dynapse import FIT_CHIP_SEED
from backends.dynapse.target import DYNAPSE2
from compiler.errors import PassError, PipelineError
from tests.backends.dynapse.test_calibrate_readout import agreement
from tests.backends.dynapse.test_retune import classifier, compiled, samples

pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)


@pytest.fixture(scope="module")
def weak() -> ir.Graph:
    """Too small a current scale: the ideal chip misreads the classifier."""
    return compiled(4e-09)


def test_refit_on_the_ideal_chip_lifts_held_out_accuracy(weak: ir.Graph) -> None:
    x, y = samples(300, seed=6)
    test, y_test = samples(256, seed=9)
    before = agreement(weak, test, y_test, seed=None)
    fitted = compiler.run_pipeline(weak, "fit-readout-dynapse", calibration=x, labels=y)
    meta = fitted.meta("o")
    history = meta["readout_fit_accuracy"]
    # Iterate 0 is the compiled graph, measured by emulating the last layer alone on
    # the recorded hidden spikes: it must be what the whole chip does.
    assert history[0] == pytest.approx(agreement(weak, x, y, seed=None), abs=1e-6)
    assert history[meta["readout_fit_chosen"]] == history.max()
    assert meta["readout_fit"] == "labels"
    assert meta["readout_fit_chips"] == 0
    after = agreement(fitted, test, y_test, seed=None)
    assert before < 0.8
    assert after > before + 0.1, (before, after)
    # Only the last layer's weights change, and the result still lowers.
    assert np.array_equal(fitted.op("fc1").weight, weak.op("fc1").weight)
    assert not np.array_equal(fitted.op("fc2").weight, weak.op("fc2").weight)
    DYNAPSE2.lower(fitted).check()


def test_refit_on_mismatched_chips_pools_them(weak: ir.Graph) -> None:
    x, y = samples(256, seed=6)
    seeds = [FIT_CHIP_SEED, FIT_CHIP_SEED + 1]
    fitted, fit = fit_readout(weak, x, y, chips=seeds, relative_std=0.3, iterations=2)
    # Iterate 0: the mean over the two chips as each whole chip measures it.
    each = [agreement(weak, x, y, seed=s, relative_std=0.3) for s in seeds]
    assert fit.accuracy[0] == pytest.approx(np.mean(each), abs=1e-6)
    assert fit.chips == 2
    assert fit.samples == 512
    assert fit.accuracy[fit.chosen] == max(fit.accuracy)
    again = compiler.run_pipeline(
        weak,
        "fit-readout-dynapse{chips=2 relative-std=0.3 iterations=2}",
        calibration=x,
        labels=y,
    )
    assert np.array_equal(again.op("fc2").weight, fitted.op("fc2").weight)


def test_without_labels_the_float_counts_are_the_targets(weak: ir.Graph) -> None:
    x, _ = samples(256, seed=6)
    test, _ = samples(256, seed=9)
    want = ir.interpret(weak, torch.from_numpy(test)).numpy().sum(1).argmax(1)
    fitted = compiler.run_pipeline(
        weak, "fit-readout-dynapse{iterations=2}", calibration=x
    )
    assert fitted.meta("o")["readout_fit"] == "float counts"
    assert agreement(fitted, test, want, seed=None) > agreement(
        weak, test, want, seed=None
    )


def test_too_little_data_leaves_the_graph_and_the_report_says_so(
    weak: ir.Graph,
) -> None:
    x, y = samples(40, seed=6)
    same = compiler.run_pipeline(weak, "fit-readout-dynapse", calibration=x, labels=y)
    assert np.array_equal(same.op("fc2").weight, weak.op("fc2").weight)
    assert (
        same.meta("o")["readout_fit"]
        == "skipped: 40 calibration samples, fewer than 256"
    )
    none = compiler.run_pipeline(weak, "fit-readout-dynapse")
    assert none.meta("o")["readout_fit"] == "skipped: no calibration data"
    row = DYNAPSE2.report(DYNAPSE2.lower(none), graph=none)["readout fit o"]
    assert "pass --calibration" in row
    assert "--labels" in row


def test_compile_refits_by_default_with_calibration_data() -> None:
    x, y = samples(256, seed=6)
    result = compiler.compile(
        classifier(),
        target="dynapse2",
        pipeline=DYNAPSE2.default_pipeline.replace(
            "quantize-dynapse", "quantize-dynapse{i-scale=4e-09}"
        ),
        calibration=x,
        labels=y,
        fidelity=False,
        energy=False,
    )
    assert "fit-readout-dynapse" in DYNAPSE2.default_pipeline
    row = result.report.resources["readout fit o"]
    assert row.startswith("last layer refit to labels on the ideal chip")


def test_bad_options_and_labels(weak: ir.Graph) -> None:
    with pytest.raises(PipelineError, match="chips must be >= 0"):
        compiler.run_pipeline(weak, "fit-readout-dynapse{chips=-1}")
    x, y = samples(256, seed=6)
    with pytest.raises(PassError, match="256 calibration samples but 10 labels"):
        compiler.run_pipeline(weak, "fit-readout-dynapse", calibration=x, labels=y[:10])
