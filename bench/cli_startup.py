"""Benchmark: start-up time of the ``spikeforge`` command line.

Runs each command ``--repeat`` times in a fresh interpreter (``python -m spikeforge
...``, as the console script does) and prints the median wall time, the median CPU
time (user + system: on a busy machine the steadier figure) and which of PyTorch,
NumPy, networkx and lark the run imported. The baseline measured in the same run is
the bare interpreter (``python -c pass``), the floor of any Python command line.

    python bench/cli_startup.py [--repeat 9] [--command "passes ann-to-snn"]
    python bench/cli_startup.py --checkout ../old --module compiler.cli  # before
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
COMMANDS = ["--help", "--version", "passes", "targets", "compile --help"]

# Prints which heavy modules the command imported (after the command's own output).
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['spikeforge', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('MODULE', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = [m for m in ('torch', 'numpy', 'networkx', 'lark') if m in sys.modules]\n"
    "print('IMPORTED', ','.join(heavy) or '-', file=sys.stderr)\n"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(CHECKOUT), env.get("PYTHONPATH", "")) if p
    )
    return env


def median_seconds(argv: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of ``argv``."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=_env(), cwd=CHECKOUT, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def imported(args: list[str], module: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.replace("MODULE", module), *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=CHECKOUT,  # python -m puts the working folder first on the path
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
    parser.add_argument(
        "--module",
        default="spikeforge",
        help="the module run as the CLI (compiler.cli for checkouts before "
        "the spikeforge package)",
    )
    parser.add_argument(
        "--checkout", type=Path, help="time the spikeforge in this folder instead"
    )
    args = parser.parse_args()
    if args.checkout is not None:
        global CHECKOUT
        CHECKOUT = args.checkout.resolve()
    commands = args.command or COMMANDS
    base, base_cpu = median_seconds([sys.executable, "-c", "pass"], args.repeat)
    print(f"median of {args.repeat} runs, {os.cpu_count()} CPUs, {sys.executable}")
    print(
        f"{'command':<34} {'wall s':>7} {'cpu s':>7} {'cpu over python':>16}  imports"
    )
    print(
        f"{'python -c pass (baseline)':<34} {base:>7.3f} {base_cpu:>7.3f} {'':>16}  -"
    )
    for command in commands:
        words = shlex.split(command)
        argv = [sys.executable, "-m", args.module, *words]
        wall, cpu = median_seconds(argv, args.repeat)
        label = f"spikeforge {command}"
        print(
            f"{label:<34} {wall:>7.3f} {cpu:>7.3f} {cpu - base_cpu:>16.3f}  "
            f"{imported(words, args.module)}"
        )


if __name__ == "__main__":
    main()
