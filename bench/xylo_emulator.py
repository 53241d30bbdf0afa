"""Benchmark: the bit-exact Xylo emulator on a full XyloAudio 2 network.

16 inputs, 1000 hidden neurons (two synapses, recurrent fan-out 32 per source, as the
recurrent weight RAM's average), 8 outputs; seeded random int8 weights, dashes 2..5
and thresholds chosen so hidden neurons fire at a moderate rate; random input counts.
Runs 1000 time steps at batch 1 and batch 64 and prints a markdown table of
neuron-steps per second (hidden + output neurons x steps x batch) and peak traced
memory (``tracemalloc``, measured in a second run so it does not slow the first).

    python bench/xylo_emulator.py [--steps 1000] [--batches 1,64] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from backends.xylo import XyloConfig, XyloEmulator


def audio2_network(seed: int) -> XyloConfig:
    """A valid full-size xylo-audio2 configuration with moderate activity."""
    rng = np.random.default_rng(seed)
    nhid, fanout = 1000, 32
    w_rec = np.zeros((nhid, nhid, 2), np.int64)
    for src in range(nhid):
        targets = rng.choice(nhid, fanout, replace=False)
        w_rec[src, targets] = rng.integers(-60, 61, (fanout, 2))
    return XyloConfig.from_registers(
        "xylo-audio2",
        weights_in=rng.integers(-30, 61, (16, nhid, 2)),
        weights_rec=w_rec,
        weights_out=rng.integers(-20, 31, (nhid, 8)),
        dash_mem=rng.integers(3, 6, nhid),
        dash_syn=rng.integers(2, 5, nhid),
        dash_syn_2=rng.integers(2, 5, nhid),
        dash_mem_out=np.full(8, 4),
        dash_syn_out=np.full(8, 3),
        threshold=rng.integers(6000, 12000, nhid),
        threshold_out=np.full(8, 8000),
        bias=rng.integers(-2, 3, nhid),
        dt=1e-3,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = audio2_network(args.seed)
    emulator = XyloEmulator(config)
    rng = np.random.default_rng(args.seed + 1)
    print(
        "| batch | steps | hidden rate (spikes/neuron/step, sample 0) | output rate | "
        "time (s) | neuron-steps/s | peak memory (MiB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for batch in (int(b) for b in args.batches.split(",")):
        raster = rng.poisson(0.3, (batch, args.steps, 16)).astype(np.int64)
        start = time.perf_counter()
        out = emulator.run(raster)
        elapsed = time.perf_counter() - start
        _, states = emulator.run(raster[:1, : min(args.steps, 200)], record=True)
        tracemalloc.start()
        emulator.run(raster)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        neuron_steps = batch * args.steps * (emulator.n_hidden + emulator.n_out)
        print(
            f"| {batch} | {args.steps} | {states['Spikes'].mean():.3f} | "
            f"{out.mean():.3f} | {elapsed:.2f} | {neuron_steps / elapsed / 1e6:.1f} M | "
            f"{peak / 2**20:.1f} |"
        )


if __name__ == "__main__":
    main()
