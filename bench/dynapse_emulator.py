"""Benchmark: the Dynap-SE2 analog emulator on a full chip, batched over chips.

One chip's worth of neurons (1024) with the chip's fan-in (64 CAM entries per neuron,
reference ``dynapse2.md`` §1), split into 16 input and 48 recurrent synapses drawn
without replacement from 128 input channels and the neurons, seeded random weight
currents (see ``chip_network``); default parameters with 10 % mismatch, one draw
per chip (``mismatch.draw_chips``); Poisson input at 20 Hz. Runs 1000 steps of 1 ms for
each configuration ``chips x batch`` (default 32 x 16 and 1 x 1), inference path
(no gradients, sparse recurrent delivery), and prints a markdown table of
neuron-steps per second (neurons x steps x batch x chips) and peak memory.

Peak memory is the rise of the process's peak resident set size (``ru_maxrss``)
over its value just before the run, measured in a fresh process per configuration
(``tracemalloc`` cannot see torch's allocations); it includes the output raster,
``C x B x T x N`` float32 (2 GiB at 32 x 16 x 1000 x 1024).

    python bench/dynapse_emulator.py [--steps 1000] [--configs 32x16,1x1] [--seed 0]
        [--threads 0 (all cores)]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import numpy as np
import torch

from backends.dynapse import DynapseEmulator, DynapseParams, chip_seeds, draw_chips

N_NEURONS = 1024
N_INPUTS = 128
FAN_IN_INPUT = 16
FAN_IN_REC = 48


def chip_network(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Input ``(128, 1024, 4)`` and recurrent ``(1024, 1024, 4)`` weight currents.

    Input synapses are AMPA, 4-12 nA; recurrent ones AMPA 2-6 nA (80 %) or GABA
    25-75 nA (20 %), which keeps the network near 35 Hz instead of running away.
    """
    rng = np.random.default_rng(seed)
    w_in = np.zeros((N_INPUTS, N_NEURONS, 4), np.float32)
    w_rec = np.zeros((N_NEURONS, N_NEURONS, 4), np.float32)
    for j in range(N_NEURONS):
        src = rng.choice(N_INPUTS, FAN_IN_INPUT, replace=False)
        w_in[src, j, 0] = rng.uniform(4e-9, 12e-9, FAN_IN_INPUT)
        src = rng.choice(N_NEURONS, FAN_IN_REC, replace=False)
        gaba = rng.random(FAN_IN_REC) < 0.2
        # SYNAPSE_TYPES order: AMPA = 0, GABA = 2
        w_rec[src, j, np.where(gaba, 2, 0)] = np.where(gaba, 50e-9, 4e-9) * (
            rng.uniform(0.5, 1.5, FAN_IN_REC)
        )
    return w_in, w_rec


def measure(chips: int, batch: int, steps: int, seed: int, threads: int) -> str:
    """Run one configuration; return its markdown table row."""
    if threads > 0:
        torch.set_num_threads(threads)
    w_in, w_rec = chip_network(seed)
    params = draw_chips(DynapseParams(), N_NEURONS, chip_seeds(seed, chips))
    emulator = DynapseEmulator(params, w_in, w_rec)
    rng = np.random.default_rng(seed + 1)
    raster = (rng.random((batch, steps, N_INPUTS)) < 0.02).astype(np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = emulator.run(raster)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB (Linux)
    rate = float(out.spikes.mean()) / 1e-3
    neuron_steps = chips * batch * steps * N_NEURONS
    return (
        f"| {chips} | {batch} | {steps} | {rate:.1f} | {elapsed:.2f} | "
        f"{neuron_steps / elapsed / 1e6:.1f} M | {peak / 2**10:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--configs", default="32x16,1x1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads; the inference "
        f"path runs on one); {N_NEURONS} neurons, fan-in {FAN_IN_INPUT} input + "
        f"{FAN_IN_REC} recurrent, 10 % mismatch"
    )
    print()
    print(
        "| chips | batch | steps | rate (Hz) | time (s) | neuron-steps/s | "
        "peak RSS rise (MiB) |"
    )
    print("|---|---|---|---|---|---|---|")
    ctx = multiprocessing.get_context("spawn")
    for config in args.configs.split(","):
        chips, batch = (int(v) for v in config.lower().split("x"))
        with ctx.Pool(1) as pool:
            row = pool.apply(
                measure, (chips, batch, args.steps, args.seed, args.threads)
            )
        print(row, flush=True)


if __name__ == "__main__":
    main()
