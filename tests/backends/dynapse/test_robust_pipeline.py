"""``DynapseTarget.robust_pipeline``: replicate + retune + the readout refit, for a
population of mismatched chips (docs/robustness.md)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import compiler
import ir
from backends.dynapse import decode
from backends.dynapse.target import DYNAPSE2
from compiler.chip_yield import chip_yield
from compiler.pipeline import Pipeline
from tests.backends.dynapse.test_retune import classifier, samples

pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)

SIGMA = 0.3


def _build(pipeline: str, x: np.ndarray, y: np.ndarray) -> ir.Graph:
    # A fixed current scale: the two builds differ only by the robust passes.
    text = pipeline.replace("quantize-dynapse,", "quantize-dynapse{i-scale=1e-08},")
    return compiler.run_pipeline(classifier(), text, calibration=x, labels=y)


def test_robust_pipeline_lifts_the_held_out_population() -> None:
    x, y = samples(256, seed=1)
    test, y_test = samples(128, seed=2)
    text = DYNAPSE2.robust_pipeline(copies=2, relative_std=SIGMA, epochs=3)
    target = dataclasses.replace(DYNAPSE2, relative_std=SIGMA)
    reports = {}
    rows = {}
    for name, pipeline in (("default", DYNAPSE2.default_pipeline), ("robust", text)):
        graph = _build(pipeline, x, y)
        config = DYNAPSE2.lower(graph)
        config.check()
        rows[name] = DYNAPSE2.report(config, graph)["mismatch"]
        # Held-out chips: seeds 1..16, never drawn by retune or the refit.
        reports[name] = chip_yield(target, config, test, y_test, chips=16, seed=1)
    # The report says which build is retuned, and what the other leaves.
    assert rows["default"].startswith("not retuned"), rows
    assert "robust_pipeline()" in rows["default"], rows
    assert rows["robust"].startswith("retuned for mismatch (retune): epoch "), rows
    assert reports["robust"].p5 > reports["default"].p5 + 0.1, reports
    assert reports["robust"].mean > reports["default"].mean, reports


def test_output_copies_go_through_the_whole_robust_path() -> None:
    """Only the output neurons replicated (``copies=1 output_copies=4``): ``retune``,
    the split and the refit train and fit the 4 output copies, and the population
    beats the default compile and the same path without the output copies on
    held-out chips (mean 55.0 % against 47.7 % and 39.6 % when written)."""
    x, y = samples(256, seed=1)
    test, y_test = samples(128, seed=2)
    text = DYNAPSE2.robust_pipeline(
        copies=1, output_copies=4, relative_std=SIGMA, epochs=2, split=True
    )
    assert "replicate{copies=1 output-copies=4}" in text
    target = dataclasses.replace(DYNAPSE2, relative_std=SIGMA)
    reports = {}
    one = text.replace("copies=1 output-copies=4", "copies=1")
    for name, pipeline in (("one copy", one), ("robust", text)):
        graph = _build(pipeline, x, y)
        config = DYNAPSE2.lower(graph)
        config.check()
        reports[name] = chip_yield(target, config, test, y_test, chips=16, seed=1)
    plain = DYNAPSE2.lower(_build(DYNAPSE2.default_pipeline, x, y))
    assert config.output_copies == 4
    outputs = len(decode.output_columns(plain))
    assert len(config.neurons) == len(plain.neurons) + 3 * outputs
    default = chip_yield(target, plain, test, y_test, chips=16, seed=1)
    assert reports["robust"].mean > default.mean + 0.03, (reports, default)
    assert reports["robust"].mean > reports["one copy"].mean + 0.05, reports


def test_robust_pipeline_text() -> None:
    text = DYNAPSE2.robust_pipeline()
    names = [spec.name for spec in Pipeline.parse(text)]
    default = [spec.name for spec in Pipeline.parse(DYNAPSE2.default_pipeline)]
    assert names == [
        *default[: default.index("allocate-cores")],
        "replicate",
        *default[
            default.index("allocate-cores") : default.index("fit-readout-dynapse")
        ],
        "retune",
        "fit-readout-dynapse",
    ]
    assert "replicate{copies=4}" in text
    assert "retune{target=dynapse2 relative-std=0.1 epochs=8}" in text
    assert "relative-std=0.2" in DYNAPSE2.robust_pipeline(relative_std=0.2)
    assert "fit-readout-dynapse{chips=16 ridge=1 relative-std=0.1}" in text
    split = DYNAPSE2.robust_pipeline(split=True)
    assert split == text.replace(
        "fit-readout-dynapse", "split-dendrites,fit-readout-dynapse"
    )
    Pipeline.parse(split)
    restarts = DYNAPSE2.robust_pipeline(restarts=3)
    assert restarts == text.replace("epochs=8}", "epochs=8 restarts=3}")
    Pipeline.parse(restarts)
    for bad in ({"copies": 0}, {"restarts": 0}):
        with pytest.raises(ValueError, match="epochs and restarts must be >= 1"):
            DYNAPSE2.robust_pipeline(**bad)
    with pytest.raises(ValueError, match="fit_ridge > 0"):
        DYNAPSE2.robust_pipeline(fit_ridge=0.0)
    with pytest.raises(ValueError, match="relative_std must be >= 0"):
        DYNAPSE2.robust_pipeline(relative_std=-0.1)
    outputs = DYNAPSE2.robust_pipeline(output_copies=16)
    assert outputs == text.replace("copies=4}", "copies=4 output-copies=16}")
    Pipeline.parse(outputs)
    for bad_outputs in (2, 6):
        with pytest.raises(ValueError, match="output_copies must be 0"):
            DYNAPSE2.robust_pipeline(output_copies=bad_outputs)
