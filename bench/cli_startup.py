"""Benchmark: start-up time of the ``spikeforge`` command line.

Runs each command ``--repeat`` times in a fresh interpreter (``python -m spikeforge
...``, as the console script does) and prints the median wall time, and whether the
run imported PyTorch or NumPy. The baseline measured in the same run is the bare
interpreter (``python -c pass``), the floor of any Python command line.

    python bench/cli_startup.py [--repeat 9] [--command "passes ann-to-snn"]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["--help", "--version", "passes", "targets", "compile --help"]

# Prints which heavy modules the command imported (after the command's own output).
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['spikeforge', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('spikeforge', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = [m for m in ('torch', 'numpy', 'networkx', 'lark') if m in sys.modules]\n"
    "print('IMPORTED', ','.join(heavy) or '-', file=sys.stderr)\n"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def median_seconds(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=_env(), check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def imported(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("IMPORTED ")]
    return lines[-1].split(" ", 1)[1] if lines else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument(
        "--command", action="append", help="a command line to time (default: all)"
    )
    args = parser.parse_args()
    commands = args.command or COMMANDS
    base = median_seconds([sys.executable, "-c", "pass"], args.repeat)
    print(f"median of {args.repeat} runs, {os.cpu_count()} CPUs, {sys.executable}")
    print(f"{'command':<34} {'seconds':>8} {'over python':>12}  imports")
    print(f"{'python -c pass (baseline)':<34} {base:>8.3f} {'':>12}  -")
    for command in commands:
        words = shlex.split(command)
        seconds = median_seconds(
            [sys.executable, "-m", "spikeforge", *words], args.repeat
        )
        label = f"spikeforge {command}"
        print(f"{label:<34} {seconds:>8.3f} {seconds - base:>12.3f}  {imported(words)}")


if __name__ == "__main__":
    main()
