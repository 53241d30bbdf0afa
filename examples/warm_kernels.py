"""Compile and cache the emulators' numba kernels (``make install`` runs this).

numba compiles a kernel on its first call and caches the machine code next to the
module (``__pycache__``), so the first run after an install would otherwise spend
tens of seconds compiling. This runs the two digits examples at toy sizes, which
calls every kernel the demo uses with the same argument types: the Xylo emulator at
batch 1 and batched, and the Dynap-SE2 emulator's inference and gradient passes.

    python examples/warm_kernels.py
"""

from __future__ import annotations

import time

try:  # run as a script (examples/ on the path) or imported as examples.*
    from dynapse_digits import run as run_dynapse
    from xylo_digits import run as run_xylo
except ImportError:  # pragma: no cover - imported through the package path
    from examples.dynapse_digits import run as run_dynapse
    from examples.xylo_digits import run as run_xylo


def main() -> None:
    """Run both examples at toy sizes; print how long it took."""
    start = time.perf_counter()
    run_xylo("xylo-audio2", 8, hidden=8, epochs=1)
    run_dynapse(hidden=8, steps=20, epochs=1, chips=2, retune_epochs=1, copies=2)
    print(f"emulator kernels compiled and cached ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
