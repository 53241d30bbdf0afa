"""Benchmark: ``retune`` time side by side with an older spikeforge (issue 15's goal).

The bench network of ``bench/retune.py`` (digits MLP 64-64-10 as an IF SNN on
dynapse2, ``retune{relative-std=--mismatch epochs=--epochs}`` on every training digit
at 100 steps, one torch thread), retuned by this checkout and, with ``--baseline
DIR``, by the checkout in ``DIR`` (e.g. a ``git worktree`` of the commit a goal was
set at), alternately, each run in its own process, ``--repeats`` times each. Each
run also reports its result on ``--chips`` held-out chips at ``--mismatch`` (mean
and 5th percentile; its own yield report), so a faster retune shows it is not a
worse one. This machine's timings swing by 2-5x: compare the ratio of the medians,
measured in the same run, rather than seconds across runs.

    python bench/retune_speed.py [--baseline DIR] [--repeats 2] [--epochs 10]
        [--mismatch 0.2] [--chips 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import harness

ROOT = Path(__file__).resolve().parents[1]

# NOTE: the child runs against the checkout on PYTHONPATH, old or new, so it uses only
# names that every version since the retune pass landed has.
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1] + "/examples")
import dataclasses
import torch
torch.set_num_threads(1)
import compiler
from backends.dynapse.calibrate import choose_i_scale
from backends.dynapse.target import DYNAPSE2
from compiler.chip_yield import chip_yield
from examples.dynapse_digits import spikes, spiking_classifier
mismatch, epochs, chips = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
digits = spiking_classifier(hidden=64, seed=0)
steps = digits.test.shape[1]
i_scale, _ = choose_i_scale(digits.snn, spikes(digits.xtr[:200], steps, 2))
compiled = compiler.run_pipeline(
    digits.snn,
    f"allocate-cores{{target=dynapse2}},quantize-dynapse{{i-scale={i_scale!r}}}",
)
train = spikes(digits.xtr, 100, 7)
start = time.perf_counter()
retuned = compiler.run_pipeline(
    compiled,
    f"retune{{relative-std={mismatch} epochs={epochs} quiet=true}}",
    calibration=train,
    labels=digits.ytr,
)
seconds = time.perf_counter() - start
result = {"seconds": seconds}
if chips:
    target = dataclasses.replace(DYNAPSE2, relative_std=mismatch)
    r = chip_yield(
        target, DYNAPSE2.lower(retuned), digits.test, digits.yte, chips=chips, seed=1
    )
    result.update(mean=r.mean, p5=r.p5)
print(json.dumps(result))
"""


def run(root: Path, args: argparse.Namespace) -> dict[str, float]:
    """One retune (and its yield) by the checkout at ``root``, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    argv = [str(root), str(args.mismatch), str(args.epochs), str(args.chips)]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"retune at {root} failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = harness.parser(__doc__, repeats=2, seed=None)
    parser.add_argument("--baseline", type=Path, help="an older checkout to compare")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--mismatch", type=float, default=0.2)
    parser.add_argument("--chips", type=int, default=20)
    args = parser.parse_args()
    roots = [("this checkout", ROOT)]
    if args.baseline is not None:
        if not (args.baseline / "backends" / "dynapse").is_dir():
            raise SystemExit(f"--baseline {args.baseline}: not a spikeforge checkout")
        roots.append((f"baseline ({args.baseline})", args.baseline.resolve()))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in roots}
    for k in range(max(args.repeats, 1)):
        for name, root in roots if k % 2 == 0 else roots[::-1]:
            runs[name].append(run(root, args))
            print(f"run {k + 1}, {name}: {runs[name][-1]}", flush=True)
    print(
        f"\nretune of the bench network, {args.epochs} epochs at sigma "
        f"{args.mismatch:.0%}; {args.chips} held-out chips\n"
    )
    print("| code | retune s (median) | runs | mean | 5th pct |")
    print("|---|---:|---|---:|---:|")
    medians = {}
    for name, results in runs.items():
        seconds = [r["seconds"] for r in results]
        medians[name] = statistics.median(seconds)
        last = results[-1]
        accuracy = f" {last['mean']:.2%} | {last['p5']:.2%} |" if args.chips else " | |"
        listed = ", ".join(f"{s:.0f}" for s in seconds)
        print(f"| {name} | {medians[name]:.1f} | {listed} |{accuracy}")
    if len(medians) == 2:
        here, there = medians.values()
        print(f"\nspeed-up (baseline / this checkout): {there / here:.2f}x")


if __name__ == "__main__":
    main()
