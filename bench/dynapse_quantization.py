"""Benchmark: Dynap-SE2 weight quantization, ours against the grid-unaware baseline.

One core: 256 neurons with 64 fan-in connections each (a 64 x 256 matrix, all on one
core's 4 shared base currents, dynapse2.md §1). Seeded weight distributions:

* half-normal ``|N(0, 1)|``, like trained weights' magnitudes;
* uniform ``U(0, 1)``;
* log-normal ``exp(N(0, 1))``, heavy-tailed;
* sparse: half-normal with 90 % zeros (no connection).

For each, ``quantize_weights_baseline`` (binary ladder at the maximum, rounded masks,
bases snapped to the bias grid at export), the best continuous fit of
``quantize_weights`` before the grid (not deployable: it shows what the grid costs),
and ``quantize_weights`` itself. Prints a markdown table: relative RMS error over the
nonzero weights, max absolute error (weight units), connections dropped to mask 0,
the base currents, and the time (best of ``--repeat``).

    python bench/dynapse_quantization.py [--seed 0] [--repeat 3] [--i-scale 1e-8]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import harness
import numpy as np

from backends.dynapse.biasgen import BASE_WEIGHT
from backends.dynapse.weights import (
    QuantizedWeights,
    best_masks,
    fit_bases,
    initial_bases,
    quantize_weights,
    quantize_weights_baseline,
)

FAN_IN, NEURONS = 64, 256
T = TypeVar("T")

DISTRIBUTIONS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "half-normal": lambda rng: np.abs(rng.normal(0.0, 1.0, (FAN_IN, NEURONS))),
    "uniform": lambda rng: rng.uniform(0.0, 1.0, (FAN_IN, NEURONS)),
    "log-normal": lambda rng: rng.lognormal(0.0, 1.0, (FAN_IN, NEURONS)),
    "sparse (10 %)": lambda rng: (
        np.abs(rng.normal(0.0, 1.0, (FAN_IN, NEURONS)))
        * (rng.random((FAN_IN, NEURONS)) < 0.1)
    ),
}


def timed(call: Callable[[], T], repeat: int) -> tuple[T, float]:
    """The call's result and its best wall time over ``repeat`` runs, seconds."""
    times, result = harness.wall_times(call, repeat)
    return result, min(times)


def off_grid(W: np.ndarray, i_scale: float) -> tuple[float, float, int]:
    """Best continuous fit from ``initial_bases``: rel RMS, max error, dropped."""
    w = W[W != 0]
    lower, upper = BASE_WEIGHT.min_current / i_scale, BASE_WEIGHT.max_current / i_scale
    fits = [fit_bases(w, b, lower=lower, upper=upper) for b in initial_bases(w)]
    beta, masks, _ = min(fits, key=lambda fit: fit[2][-1])
    recon = best_masks(w, beta)[1]
    err = recon - w
    rel = float(np.linalg.norm(err) / np.linalg.norm(w))
    return rel, float(np.abs(err).max()), int(np.count_nonzero(masks == 0))


def row(name: str, method: str, q: QuantizedWeights, seconds: float) -> str:
    bases = ", ".join(f"{b * 1e9:.3g}" for b in q.bases)
    return (
        f"| {name} | {method} | {q.rel_rms_error:.4f} | {q.max_abs_error:.3f} | "
        f"{q.n_dropped} / {q.n_connections} | {bases} | {seconds * 1e3:.0f} |"
    )


def main() -> None:
    parser = harness.parser(__doc__, repeats=3)
    parser.add_argument("--i-scale", type=float, default=1e-8, help="A per unit weight")
    args = parser.parse_args()
    print(
        "| weights | method | rel RMS error | max abs error | dropped / connections "
        "| bases (nA) | time (ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    for k, (name, draw) in enumerate(DISTRIBUTIONS.items()):
        W = draw(np.random.default_rng(args.seed + k))
        baseline, t_base = timed(
            functools.partial(quantize_weights_baseline, W, i_scale=args.i_scale),
            args.repeats,
        )
        ours, t_ours = timed(
            functools.partial(quantize_weights, W, i_scale=args.i_scale), args.repeats
        )
        print(row(name, "baseline (ladder, rounded, snapped)", baseline, t_base))
        rel, max_err, dropped = off_grid(W, args.i_scale)
        print(
            f"| {name} | ours off the grid (continuous fit) | {rel:.4f} | {max_err:.3f} | "
            f"{dropped} / {ours.n_connections} | - | - |"
        )
        print(row(name, "**ours** (alternating + grid descent)", ours, t_ours))


if __name__ == "__main__":
    main()
