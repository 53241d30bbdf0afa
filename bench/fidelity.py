"""Float graph vs chip: the compile's fidelity check on every fixture network.

For each NIR fixture in ``tests/fixtures/nir/`` (files written by the frameworks'
own exporters; imported with the options their exporter ran with, ``IMPORT``) and the
examples' networks, compile for ``xylo-audio2`` and ``dynapse2`` with the default
pipelines and print what ``compiler.compile`` measures (``compiler.fidelity``): the
ideal chip against the float graph on the fixture's own input spikes (the
framework's seeded Bernoulli(0.3) raster; for the examples, seeded random spikes of
the graph's input), as output spike-count correlation, per-sample argmax agreement
and bin agreement after aligning the hop delay. A network that does not compile
shows the first line of its error.

    python bench/fidelity.py [--examples-only | --fixtures-only]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import compiler  # noqa: E402
import ir  # noqa: E402
from compiler.fidelity import Fidelity  # noqa: E402

TARGETS = ("xylo-audio2", "dynapse2")
FIXTURES = ROOT / "tests" / "fixtures" / "nir"


_DELAYED = {"reset": "subtract", "reset_delay": True}
_NOW = {"reset": "subtract", "reset_delay": False}
IMPORT: dict[str, dict[str, Any]] = {
    # What each file's exporter ran with, as a user passes it where the file does
    # not say (tests/frontends/test_nir_fixtures.py checks each reproduces the
    # framework's own spikes).
    "snntorch_leaky_mlp": _DELAYED,
    "snntorch_leaky_zero_mlp": {"reset": "zero"},
    "snntorch_leaky_nodelay_mlp": _NOW,
    "snntorch_synaptic_mlp": _DELAYED,
    "snntorch_synaptic_nodelay_mlp": _NOW,
    "snntorch_rleaky": _DELAYED,
    "snntorch_rleaky_nodelay": _NOW,
    "snntorch_rsynaptic": _DELAYED,
    "snntorch_rsynaptic_nodelay": _NOW,
    "norse_lif_mlp": {"convention": "norse"},
    "norse_lifbox_mlp": {"convention": "norse"},
    "norse_true_lif_mlp": {"convention": "norse"},
    "norse_true_lifbox_mlp": {"convention": "norse"},
    "sinabs_iaf_mlp": {"v_min": "none"},
    "sinabs_lif_mlp": {"convention": "sinabs", "v_min": "none"},
    "sinabs_iaf_vmin_mlp": {"v_min": "-threshold"},
    "sinabs_lif_vmin_mlp": {"convention": "sinabs", "v_min": -0.5},
    "rockpool_lif_mlp": {"convention": "rockpool"},
    "rockpool_lif_user": {"convention": "rockpool"},
    "rockpool_lif_rec": {"convention": "rockpool"},
}


def _networks(fixtures: bool, examples: bool) -> list[tuple[str, Any, Any]]:
    """(name, graph or the error that stopped its import, calibration or None)."""
    found: list[tuple[str, Any, Any]] = []
    if fixtures:
        from frontends.nir import from_nir

        for path in sorted(FIXTURES.glob("*.nir")):
            data = np.load(path.with_suffix(".npz"))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # exporter quirks: named elsewhere
                    graph: Any = from_nir(str(path), **IMPORT.get(path.stem, {}))
            except Exception as err:  # a row, not a crash
                graph = err
            found.append((path.stem, graph, data["input"]))
    if examples:
        tiny = ir.load(ROOT / "examples" / "tiny_rsnn.sfir")
        found.append(("examples/tiny_rsnn.sfir", tiny, None))
        found.append(("examples/xylo_digits.py MLP", *_xylo_digits()))
        found.append(("examples/dynapse_digits.py MLP", *_dynapse_digits()))
    return found


def _xylo_digits() -> tuple[Any, Any]:
    """The Xylo example's converted MLP (16 count channels, 8 classes, 32 steps) and
    its test digits held for the steps."""
    import torch

    from examples.xylo_digits import _train, digits_counts

    xtr, ytr, xte, _ = digits_counts(8, 0)
    model = _train(xtr, ytr, 64, 8, 15, 0)
    graph = compiler.run_pipeline(
        __import__("frontends.pytorch").pytorch.from_module(model, torch.zeros(1, 16)),
        "ann-to-snn{timesteps=32 readout=spike-train max-spikes=31},"
        "canonicalize,dce,infer-shapes",
        calibration=torch.tensor(xtr, dtype=torch.float32),
    )
    return graph, np.repeat(xte[:16, None].astype(np.float32), 32, axis=1)


def _dynapse_digits() -> tuple[Any, Any]:
    """The Dynap-SE2 example's converted MLP (64 Poisson channels, 100 steps) and
    its test spikes (default current scale: the example chooses its own)."""
    from examples.dynapse_digits import spiking_classifier

    digits = spiking_classifier(steps=100, epochs=15)
    return digits.snn, digits.test[:16]


def _cell(graph: Any, target: str, calibration: Any) -> tuple[str, float]:
    if isinstance(graph, Exception):
        return f"import: {_first_line(graph)}", 0.0
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the row says it
            inputs = {} if calibration is None else {"calibration": calibration}
            result = compiler.compile(graph, target=target, **inputs)
    except Exception as err:  # a row, not a crash
        return _first_line(err), time.perf_counter() - start
    fid = result.report.fidelity
    seconds = time.perf_counter() - start
    if fid is None:
        return result.report.fidelity_note, seconds
    return _row(fid), seconds


def _row(fid: Fidelity) -> str:
    corr = "n/a" if fid.count_correlation is None else f"{fid.count_correlation:.2f}"
    argmax = "n/a" if fid.argmax_agreement is None else f"{fid.argmax_agreement:.0%}"
    low = " LOW" if fid.problems() else ""
    return (
        f"r {corr}, argmax {argmax}, bins {fid.bin_agreement:.0%}, spikes "
        f"{fid.float_spikes}/{fid.chip_spikes}{low}"
    )


def _first_line(err: Exception) -> str:
    text = str(err).replace(str(FIXTURES) + "/", "").strip().splitlines()
    line = text[0] if text else type(err).__name__
    return (line[:100] + "...") if len(line) > 100 else line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--examples-only", action="store_true")
    group.add_argument("--fixtures-only", action="store_true")
    args = parser.parse_args()
    networks = _networks(not args.examples_only, not args.fixtures_only)
    print("| network | " + " | ".join(f"float vs {t}" for t in TARGETS) + " |")
    print("|---|" + "---|" * len(TARGETS))
    total = 0.0
    for name, graph, calibration in networks:
        cells = []
        for target in TARGETS:
            text, seconds = _cell(graph, target, calibration)
            total += seconds
            cells.append(text.replace("|", "/"))
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(
        f"\nr: output spike-count correlation; argmax: samples whose most active "
        f"output agrees; bins: equal (sample, step, neuron) bins after the hop delay; "
        f"spikes: float/chip; LOW: below compiler.fidelity.THRESHOLDS. "
        f"Compile time {total:.1f} s in all."
    )


if __name__ == "__main__":
    main()
