"""Benchmark: core allocation on synthetic networks of known structure, with baselines.

Networks (about 64 synapses into each neuron, seeded):

* ``cnn``: 4 layers of 16 channels of ``s x s`` maps, neuron ids channel-major (as a
  framework lays out a conv layer); a neuron reads a 3x3 patch of 7 channels of the
  layer below (63 synapses).
* ``recurrent``: a random sparse recurrent net with assembly structure (assemblies of
  256 neurons, 90% of a neuron's 64 inputs from its own assembly, the rest uniform),
  neuron ids in random order.
* ``small-world``: a Watts-Strogatz ring, each neuron reading its 32 neighbours on
  either side, 5% of inputs rewired to random neurons, neuron ids in random order.

Random id order stands for networks whose neuron numbering says nothing about their
structure (the structure is there, the order does not show it); the CNN keeps the
natural channel-major order, where index order is already good.

Hardware: 256 neurons per core, 4 cores per chip, chips on a square mesh just large
enough, 64 fan-in entries (fan-out and tags unlimited: the random long-range synapses
would exceed Dynap-SE2's 4 SRAM entries). Methods: ``allocate`` (METIS + repair +
refinement), the index-order greedy baseline (Rockpool's) and random placement, all in
the same run. Traffic: spikes per inference between cores (connectivity metric, every
neuron spiking once). Peak memory: the process's peak RSS, each size in a fresh process.

Notes on the choice of METIS (``pymetis``): on the 100k ``recurrent`` net into 391
cores, Mt-KaHyPar (``mtkahypar``, connectivity objective) took 94 s; METIS 4 s.

    python bench/allocation.py [--sizes 10000,100000,1000000] [--nets cnn,recurrent,small-world]
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import time

import numpy as np

from compiler.allocation import (
    CoreModel,
    Network,
    allocate,
    allocate_in_order,
    allocate_random,
)

FAN_IN = 64


def cnn(n: int, seed: int) -> Network:
    layers, channels, reach = 4, 16, 7
    side = max(4, round(math.sqrt(n / (layers * channels))))
    per_layer = channels * side * side
    ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    src, dst = [], []
    for layer in range(1, layers):
        for c in range(channels):
            out = (layer * per_layer + c * side * side + ys * side + xs).ravel()
            for j in range(reach):
                ci = (c + j) % channels
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        iy, ix = ys + dy, xs + dx
                        ok = ((iy >= 0) & (iy < side) & (ix >= 0) & (ix < side)).ravel()
                        inp = (
                            (layer - 1) * per_layer + ci * side * side + iy * side + ix
                        )
                        src.append(inp.ravel()[ok])
                        dst.append(out[ok])
    total = layers * per_layer
    return Network.build(total, np.concatenate(src), np.concatenate(dst))


def recurrent(n: int, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    assembly = 256
    n = (n // assembly) * assembly
    dst = np.repeat(np.arange(n), FAN_IN)
    local = rng.random(dst.size) < 0.9
    base = (dst // assembly) * assembly
    src = np.where(
        local, base + rng.integers(0, assembly, dst.size), rng.integers(0, n, dst.size)
    )
    ids = rng.permutation(n)
    return Network.build(n, ids[src], ids[dst])


def small_world(n: int, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    dst = np.repeat(np.arange(n), FAN_IN)
    k = np.tile(np.arange(FAN_IN), n)
    # Ring lattice: the 32 neighbours on each side; 5% rewired to random neurons.
    step = np.where(k < FAN_IN // 2, k - FAN_IN // 2, k - FAN_IN // 2 + 1)
    src = (dst + step) % n
    src = np.where(rng.random(dst.size) < 0.05, rng.integers(0, n, dst.size), src)
    ids = rng.permutation(n)
    return Network.build(n, ids[src], ids[dst])


NETS = {"cnn": cnn, "recurrent": recurrent, "small-world": small_world}


def model_for(n: int) -> CoreModel:
    chips = max(1, -(-n // (256 * 4)))
    side = math.ceil(math.sqrt(chips))
    return CoreModel(
        neurons_per_core=256,
        cores_per_chip=4,
        chips=side * side,
        mesh=(side, side),
        fan_in=FAN_IN,
    )


def one(net_name: str, n: int, seed: int) -> None:
    """Run one (network, size) and print its table rows (in a fresh process)."""
    start = time.perf_counter()
    net = NETS[net_name](n, seed)
    built = time.perf_counter() - start
    model = model_for(net.n)
    ours = allocate(net, model, seed=seed)
    # Peak RSS of the process so far: the network and our allocation (the baselines'
    # reports come after).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    base = allocate_in_order(net, model)
    rand = allocate_random(net, model, seed=seed)
    ref = base.report.traffic.inter_core
    for alloc in (ours, base, rand):
        r = alloc.report
        t = r.traffic
        print(
            f"| {net_name} | {net.n:,} | {net.src.size:,} | {r.method} | "
            f"{r.cores_used:,} / {r.cores_lower_bound:,} | {t.inter_core:,.0f} | "
            f"{t.inter_core / ref:.3f} | {t.inter_chip:,.0f} | {t.spike_hops:,.0f} | "
            f"{t.busiest_link:,.0f} | {r.seconds:.1f} |"
            + (
                f" {peak:.2f} (build {built:.1f} s) |"
                if r.method == "partition"
                else " |"
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--nets", default="cnn,recurrent,small-world")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--one", nargs=2, metavar=("NET", "SIZE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        one(args.one[0], int(args.one[1]), args.seed)
        return
    print(
        "| network | neurons | synapses | method | cores / lower bound | inter-core "
        "spikes | x index-order | inter-chip | spike-hops | busiest link | time (s) | "
        "peak RSS (GiB) |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        for name in args.nets.split(","):
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    name,
                    str(size),
                    "--seed",
                    str(args.seed),
                ],
                check=True,
            )


if __name__ == "__main__":
    main()
