"""Benchmark: the Dynap-SE2 analog emulator on a full chip, side by side with DynapSim.

One chip's worth of neurons (1024) with the chip's fan-in (64 CAM entries per neuron,
reference ``dynapse2.md`` §1), split into 16 input and 48 recurrent synapses drawn
without replacement from 128 input channels and the neurons, seeded random weight
currents (see ``chip_network``); default parameters with 10 % mismatch, one draw
per chip (``mismatch.draw_chips``); Poisson input at 20 Hz, 1000 steps of 1 ms, for
each workload ``chips x inputs`` (default 8x16, 1x16, 1x1), inference path.

Timed, interleaved, ``--repeats`` times each (the median is reported; the first run of
each is a warm-up, so jax's compilation is excluded):

* **ours**, ``mode="dynapsim"`` (Rockpool 3.1's released model, reference §2.4) and the
  default ``mode="dynapse2"``;
* **DynapSim** (Rockpool 3.1, jax), when ``rockpool`` and ``jax`` import: one
  ``DynapSim`` module per chip (its own mismatched per-neuron currents, exported by
  the same mapping as ``backends.dynapse.dynapsim``), evolved on the batch of inputs
  (input weights applied first, as DynapSim takes weighted input), ``w_rec`` the
  signed recurrent weights in units of ``Iscale``.

Printed: neuron-steps per second (neurons x steps x inputs x chips), the ratio
DynapSim time / ours (``dynapsim`` mode), whether every chip's and input's output
spike count agrees (and the fraction of equal per-neuron counts), and peak memory:
the rise of the peak resident set size over its value before the run, in a fresh
process per engine and workload (``ru_maxrss``; it includes the float32 output
raster, ``C x B x T x N``).

``--retune-step``: instead, one training step of ``retune`` (``backends.dynapse.
retune``: per-connection log-magnitude weights and per-field trims, 8 mismatched chips
x 32 samples x 100 steps, the readout's net synaptic current, cross-entropy, forward
and backward) on a 64-64-10 network like ``bench/retune.py``'s (random weights, 20 %
inhibitory; Poisson input at 30 Hz), the fast engine against the torch reference
engine (``engine="reference"``), interleaved, median of ``--repeats``; torch on one
thread.

    python bench/dynapse_emulator.py [--steps 1000] [--configs 8x16,1x16,1x1]
        [--repeats 3] [--seed 0] [--threads 0 (all CPUs)] [--no-reference]
        [--retune-step]
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import harness
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.dynapse import DynapseEmulator, DynapseParams, chip_seeds, draw_chips
from backends.dynapse.dynapsim import DYNAPSIM_CONSTANTS, DYNAPSIM_CURRENTS

N_NEURONS = 1024
N_INPUTS = 128
FAN_IN_INPUT = 16
FAN_IN_REC = 48
I_SCALE = 1e-8


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


def _workload(
    chips: int, batch: int, steps: int, seed: int
) -> tuple[DynapseParams, np.ndarray, np.ndarray, np.ndarray]:
    w_in, w_rec = chip_network(seed)
    params = draw_chips(DynapseParams(), N_NEURONS, chip_seeds(seed, chips))
    rng = np.random.default_rng(seed + 1)
    raster = (rng.random((batch, steps, N_INPUTS)) < 0.02).astype(np.float32)
    return params, w_in, w_rec, raster


class _Ours:
    def __init__(self, params: DynapseParams, w_in: Any, w_rec: Any, mode: str) -> None:
        self.emulator = DynapseEmulator(params, w_in, w_rec, mode=mode)  # type: ignore[arg-type]

    def run(self, raster: np.ndarray) -> np.ndarray:
        return self.emulator.run(raster).spikes.numpy()  # (C, B, T, N)


class _DynapSim:
    """One Rockpool ``DynapSim`` per chip (module docstring)."""

    def __init__(self, params: DynapseParams, w_in: np.ndarray, w_rec: np.ndarray):
        logging.disable(logging.WARNING)
        warnings.simplefilter("ignore")
        import jax.numpy as jnp
        from rockpool.devices.dynapse import DynapSim

        self.jnp = jnp

        # Signed weights in units of Iscale: AMPA + NMDA - GABA - SHUNT (dynapsim.py).
        def signed(w: np.ndarray) -> np.ndarray:
            return (w[..., 0] + w[..., 1] - w[..., 2] - w[..., 3]) / I_SCALE

        self.w_in = signed(w_in).astype(np.float32)
        chips = int(np.shape(params.ispkthr)[0])
        self.modules = []
        for c in range(chips):
            kwargs: dict[str, Any] = {}
            for table in (DYNAPSIM_CURRENTS, DYNAPSIM_CONSTANTS):
                for name, targets in table.items():
                    value = np.asarray(getattr(params, targets[0]), np.float64)
                    value = value[c] if value.ndim == 2 else value
                    kwargs[name] = np.broadcast_to(value, (N_NEURONS,)).copy()
            self.modules.append(
                DynapSim(
                    (N_NEURONS, N_NEURONS),
                    has_rec=True,
                    w_rec=signed(w_rec),
                    Iscale=I_SCALE,
                    dt=1e-3,
                    **kwargs,
                )
            )

    def run(self, raster: np.ndarray) -> np.ndarray:
        drive = self.jnp.asarray(raster @ self.w_in)  # (B, T, N): weighted input
        out = []
        for module in self.modules:
            spikes, _, _ = module.evolve(drive, record=False)
            out.append(np.asarray(spikes).reshape(raster.shape[0], raster.shape[1], -1))
        return np.stack(out)


def _engine(name: str, params: DynapseParams, w_in: Any, w_rec: Any) -> Any:
    if name == "dynapsim-rockpool":
        return _DynapSim(params, w_in, w_rec)
    return _Ours(params, w_in, w_rec, name)


def timings(
    chips: int, batch: int, steps: int, seed: int, repeats: int, names: list[str]
) -> dict[str, Any]:
    """Interleaved repeats of every engine on one workload (in a fresh process)."""
    params, w_in, w_rec, raster = _workload(chips, batch, steps, seed)
    engines = {name: _engine(name, params, w_in, w_rec) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    spikes: dict[str, np.ndarray] = {}
    for name, engine in engines.items():
        spikes[name] = engine.run(raster)  # warm-up (jit)
    for _ in range(repeats):
        for name, engine in engines.items():
            start = time.perf_counter()
            engine.run(raster)
            times[name].append(time.perf_counter() - start)
    counts = {name: s.sum(axis=2) for name, s in spikes.items()}  # (C, B, N)
    return {
        "median": {name: statistics.median(v) for name, v in times.items()},
        "rate": {name: float(s.mean()) / 1e-3 for name, s in spikes.items()},
        "counts": counts,
    }


def peak_memory(chips: int, batch: int, steps: int, seed: int, name: str) -> float:
    """Peak RSS rise of one run, MiB (in a fresh process)."""
    params, w_in, w_rec, raster = _workload(chips, batch, steps, seed)
    engine = _engine(name, params, w_in, w_rec)
    engine.run(raster[:, :2])  # imports and compilation are not the run's memory
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine.run(raster)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**10


def retune_step(repeats: int, seed: int) -> None:
    """Time one retune step per engine (module docstring)."""
    # NOTE: torch on one thread: its per-op thread pool made the reference engine's
    # step up to 30x slower whenever other processes held the (2) cores.
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    n_in, hidden, out, chips, batch, steps = 64, 64, 10, 8, 32, 100
    n = hidden + out
    src = np.concatenate(
        [np.repeat(np.arange(n_in), hidden), np.repeat(np.arange(hidden), out)]
    )
    dst = np.concatenate(
        [np.tile(np.arange(hidden), n_in), hidden + np.tile(np.arange(out), hidden)]
    )
    kind = np.where(rng.random(src.size) < 0.2, 2, 0)  # GABA or AMPA
    first = n_in * hidden  # connections into the hidden layer come from the input
    log_w = torch.tensor(np.log(rng.uniform(1.0, 8.0, src.size)), requires_grad=True)
    trims = {
        f: torch.zeros((), dtype=torch.float64, requires_grad=True)
        for f in ("ispkthr", "igain_mem", "igain_ampa", "igain_gaba")
    }
    x = torch.tensor((rng.random((batch, steps, n_in)) < 0.03).astype(np.float32))
    labels = torch.as_tensor(rng.integers(0, out, chips * batch))

    rates: list[float] = []

    def step(engine: str, k: int) -> float:
        start = time.perf_counter()
        current = torch.exp(log_w).float() * 1e-9
        w_in = torch.zeros(n_in, n, 4).index_put(
            (
                torch.as_tensor(src[:first]),
                torch.as_tensor(dst[:first]),
                torch.as_tensor(kind[:first]),
            ),
            current[:first],
        )
        w_rec = torch.zeros(n, n, 4).index_put(
            (
                torch.as_tensor(src[first:]),
                torch.as_tensor(dst[first:]),
                torch.as_tensor(kind[first:]),
            ),
            current[first:],
        )
        base = DynapseParams()
        nominal = base.replace(
            **{f: getattr(base, f) * torch.exp(v) for f, v in trims.items()}
        )
        params = draw_chips(nominal, n, chip_seeds(k, chips))
        run = DynapseEmulator(params, w_in, w_rec, engine=engine).run(x, record=True)  # type: ignore[arg-type]
        assert run.isyn is not None
        net = (run.isyn[..., hidden:, 0] - run.isyn[..., hidden:, 2]).mean(dim=2)
        logits = net.reshape(-1, out) / 1e-10
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        rates.append(float(run.spikes[..., :hidden].detach().mean()) / 1e-3)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {"fast": [], "reference": []}
    for name in times:
        step(name, 0)  # warm-up (compilation)
    for k in range(repeats):
        for name, values in times.items():
            values.append(step(name, k + 1))
    fast, ref = (statistics.median(times[name]) for name in ("fast", "reference"))
    print(
        f"retune step ({n} neurons, {chips} chips x {batch} samples x {steps} steps, "
        f"median of {repeats}; hidden neurons at {statistics.mean(rates):.0f} Hz): "
        f"fast {fast:.3f} s, reference {ref:.3f} s, **{ref / fast:.1f}x**"
    )


def _has_rockpool() -> bool:
    try:
        logging.disable(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import jax  # noqa: F401
            from rockpool.devices.dynapse import DynapSim  # noqa: F401
    except Exception:  # any import failure: the comparison is skipped
        return False
    finally:
        logging.disable(logging.NOTSET)
    return True


def _in_process(fn: Any, *args: Any) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def main() -> None:
    parser = harness.parser(__doc__, repeats=3, threads=0)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--configs", default="8x16,1x16,1x1")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--retune-step", action="store_true")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.retune_step:
        retune_step(args.repeats, args.seed)
        return
    reference = not args.no_reference and _has_rockpool()
    names = ["dynapsim", "dynapse2"] + (["dynapsim-rockpool"] if reference else [])
    print(
        f"{N_NEURONS} neurons, fan-in {FAN_IN_INPUT} input + {FAN_IN_REC} recurrent, "
        f"10 % mismatch, {args.steps} steps; median of {args.repeats} interleaved "
        f"repeats; DynapSim (rockpool + jax): {'yes' if reference else 'not importable'}"
    )
    print()
    print(
        "| chips x inputs | ours, dynapsim mode | ours, dynapse2 mode | DynapSim | "
        "ratio | spike counts agree | peak RSS rise, ours / DynapSim (MiB) |"
    )
    print("|---|---:|---:|---:|---:|---|---:|")
    for config in args.configs.split(","):
        chips, batch = (int(v) for v in config.lower().split("x"))
        work = (chips, batch, args.steps, args.seed)
        got = _in_process(timings, *work, args.repeats, names)
        memory = {name: _in_process(peak_memory, *work, name) for name in names}
        neuron_steps = chips * batch * args.steps * N_NEURONS

        def rate(name: str, got: Any = got, neuron_steps: int = neuron_steps) -> str:
            return f"{neuron_steps / got['median'][name] / 1e6:.3g} M/s"

        row = f"| {chips} x {batch} | {rate('dynapsim')} | {rate('dynapse2')} | "
        if reference:
            ours, theirs = got["counts"]["dynapsim"], got["counts"]["dynapsim-rockpool"]
            agree = "yes" if np.array_equal(ours, theirs) else "no"
            agree += f" ({np.mean(ours == theirs):.2%} of neurons equal)"
            ratio = got["median"]["dynapsim-rockpool"] / got["median"]["dynapsim"]
            row += f"{rate('dynapsim-rockpool')} | **{ratio:.1f}x** | {agree} | "
            row += f"{memory['dynapsim']:.0f} / {memory['dynapsim-rockpool']:.0f} |"
        else:
            row += f"- | - | - | {memory['dynapsim']:.0f} / - |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
