"""`make demo`: import the bundled example, run a pipeline, print the IR and the
interpreter's output, then compile it for the reference target and run the emulator;
then digits end to end on Xylo (``examples/xylo_digits.py``): an MLP trained here,
converted to an SNN, compiled for xylo-audio2 (classes 0-7) and xylo-audio3 (all 10)
and run on the bit-exact emulator; then digits on Dynap-SE2
(``examples/dynapse_digits.py``): a spiking classifier compiled for ``dynapse2`` and
run on the ideal emulated chip and on 20 mismatched chips.

    python examples/demo.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from dynapse_digits import run as run_dynapse_digits
from xylo_digits import run as run_digits

import compiler
import ir

EXAMPLE = Path(__file__).with_name("tiny_rsnn.sfir")
PIPELINE = "canonicalize,dce,infer-shapes"


def main() -> None:
    """Run the demo."""
    graph = ir.load(EXAMPLE)
    print(f"== {EXAMPLE.name}: {len(graph)} nodes, dt = {graph.dt} s")
    print(ir.to_text(graph))

    snn = compiler.run_pipeline(graph, PIPELINE)
    print(f"== after {PIPELINE}: {len(snn)} nodes")
    print(ir.to_text(snn))

    # Seeded input spikes: 2 samples, 30 steps of 1 ms, 4 channels at ~30% rate.
    generator = torch.Generator().manual_seed(0)
    spikes = torch.bernoulli(torch.full((2, 30, 4), 0.3), generator=generator)
    before = ir.interpret(graph, spikes)
    out, recording = ir.interpret(snn, spikes, record=True)
    diff = (out - before).abs().max().item()
    print("== interpreter output (readout membrane, sample 0, every 5th step):")
    for t in range(0, spikes.shape[1], 5):
        values = " ".join(f"{v:+.4f}" for v in out[0, t].tolist())
        print(f"  t={t:2d} ms  {values}")
    spike_count = int(recording["lif"]["output"].sum().item())
    print(
        f"   hidden spikes: {spike_count}; max |before - after pipeline| = {diff:.2e}"
    )

    result = compiler.compile(graph, target="reference")
    with tempfile.TemporaryDirectory() as folder:
        result.config.save(folder)
        emulated = result.emulator(seed=0).run(spikes)
        files = sorted(p.name for p in Path(folder).iterdir())
    print("== compile(target='reference'):")
    print(result.report)
    print(f"   config files: {', '.join(files)}")
    print(f"   emulator matches interpreter: {bool(torch.equal(emulated, out))}")

    print("== digits on Xylo: train an MLP, ann-to-snn, compile, run the emulator")
    results = [run_digits("xylo-audio2", 8), run_digits("xylo-audio3", 10)]
    print(results[0].report)
    print(
        f"   {'target':<12} {'classes':>7} {'test':>5} {'ANN':>7} {'SNN':>7} {'chip':>7}"
    )
    for r in results:
        print(
            f"   {r.target:<12} {r.classes:>7} {r.n_test:>5} {r.ann:>7.2%} "
            f"{r.snn:>7.2%} {r.chip:>7.2%}"
        )

    print(
        "== digits on Dynap-SE2: ann-to-snn, compile for dynapse2, ideal and mismatched chips"
    )
    dyn = run_dynapse_digits()
    print(dyn.report)
    print(
        f"   {dyn.n_test} test digits: ANN {dyn.ann:.2%}, float SNN {dyn.snn:.2%}, ideal "
        f"chip {dyn.chip:.2%}; 20 mismatched chips: mean {dyn.chips_mean:.2%}, min "
        f"{dyn.chips_min:.2%}"
    )
    y = dyn.chip_yield
    print(
        f"   yield over {len(y.seeds)} chips: mean {y.mean:.2%}, 5th percentile "
        f"{y.p5:.2%}, min {y.minimum:.2%}; {y.within:.0%} of chips within "
        f"{y.tolerance:.0%} of the float SNN"
    )
    w = dyn.replicated_yield
    if w is not None:
        print(
            f"   replicate{{copies={dyn.copies}}} (idle neurons, readout refit, no "
            f"training): mean {w.mean:.2%}, 5th percentile {w.p5:.2%}, min {w.minimum:.2%}; "
            f"{w.within:.0%} of chips within {w.tolerance:.0%} of the float SNN"
        )
    r = dyn.retuned_yield
    if r is not None:
        print(
            f"   after retune ({dyn.retune_seconds:.0f} s): mean {r.mean:.2%}, 5th "
            f"percentile {r.p5:.2%}, min {r.minimum:.2%}; {r.within:.0%} of chips "
            f"within {r.tolerance:.0%} of the float SNN"
        )


if __name__ == "__main__":
    main()
