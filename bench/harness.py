"""What the benchmarks share: their common command-line options and wall-clock timing.

Each benchmark is a script (``python bench/NAME.py``); Python puts its folder first
on ``sys.path``, so they import this module as ``harness``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["parser", "wall_times"]


def parser(
    doc: str | None, *, repeats: int, seed: int | None = 0, threads: int | None = None
) -> argparse.ArgumentParser:
    """An argument parser described by the first line of ``doc``, with the options
    every benchmark spells the same way: ``--repeats`` (also ``--repeat``) timed runs
    per row, ``--seed`` for the generated data (``seed=None``: none) and, when
    ``threads`` is given, ``--threads`` with that default (0: the library's own)."""
    out = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    out.add_argument(
        "--repeats",
        "--repeat",
        dest="repeats",
        type=int,
        default=repeats,
        help=f"timed runs per row (default {repeats})",
    )
    if seed is not None:
        out.add_argument("--seed", type=int, default=seed)
    if threads is not None:
        out.add_argument(
            "--threads",
            type=int,
            default=threads,
            help=f"threads for the engines (default {threads}; 0: the library's own)",
        )
    return out


def wall_times(call: Callable[[], T], repeats: int) -> tuple[list[float], T]:
    """Seconds of each of ``repeats`` (at least one) separate calls, and the last
    call's value."""
    times = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - start)
    return times, value
