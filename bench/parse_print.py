"""Benchmark: print and parse a graph holding 1,000,000 weights, inline and sidecar.

Prints a table of the median of ``--repeat`` runs (seconds) and the file sizes. The
baseline measured in the same run is NumPy's own binary round trip of the same array
(``np.save`` + ``np.load`` of the 1000x1000 float32 matrix), the floor any text format
is compared against.

    python bench/parse_print.py [--repeat 3]
"""

from __future__ import annotations

import io
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
import numpy as np

import ir
from ir.ops import io as io_ops
from ir.ops import nn
from ir.serialize import sidecar_path


def graph_with_weights(n: int = 1000) -> ir.Graph:
    """x(n) -> linear(n x n, float32 N(0, 1) weights, seeded) -> y."""
    rng = np.random.default_rng(0)
    g = ir.Graph("bench")
    g.add("x", io_ops.Input(shape=(n,)))
    g.add("fc", nn.Linear(weight=rng.standard_normal((n, n), dtype=np.float32)), ["x"])
    g.add("y", io_ops.Output(), ["fc"])
    return g


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    return statistics.median(harness.wall_times(fn, repeat)[0])


def main() -> None:
    """Run the benchmark and print the table."""
    parser = harness.parser(__doc__, repeats=3, seed=None)
    args = parser.parse_args()
    g = graph_with_weights()
    weight = g.op("fc").weight

    def npy_roundtrip() -> None:
        buffer = io.BytesIO()
        np.save(buffer, weight)
        buffer.seek(0)
        np.load(buffer)

    text = ir.to_text(g)
    base = median_time(npy_roundtrip, args.repeats)
    rows = [("baseline: np.save + np.load (binary)", base, weight.nbytes)]
    t_print = median_time(lambda: ir.to_text(g), args.repeats)
    t_parse = median_time(lambda: ir.parse(text), args.repeats)
    assert ir.parse(text).is_equivalent(g)
    rows += [
        ("inline: print (ir.to_text)", t_print, len(text)),
        ("inline: parse (ir.parse)", t_parse, len(text)),
        ("inline: print + parse", t_print + t_parse, len(text)),
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sfir"
        t_save = median_time(lambda: ir.save(g, path), args.repeats)
        t_load = median_time(lambda: ir.load(path), args.repeats)
        assert ir.load(path).is_equivalent(g)
        size = path.stat().st_size + sidecar_path(path).stat().st_size
    rows += [
        ("sidecar: save (ir.save, .sfir + .npz)", t_save, size),
        ("sidecar: load (ir.load)", t_load, size),
        ("sidecar: save + load", t_save + t_load, size),
    ]
    print(f"1,000,000 float32 weights, median of {args.repeats} runs")
    print(f"| {'case':<40} | {'seconds':>8} | {'x baseline':>10} | {'bytes':>11} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 12}|{'-' * 13}|")
    for name, seconds, size in rows:
        print(
            f"| {name:<40} | {seconds:>8.3f} | {seconds / base:>10.1f} | {size:>11,} |"
        )


if __name__ == "__main__":
    main()
