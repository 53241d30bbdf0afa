"""The path a user walks with a network from another framework, in the CLI alone:
``.nir`` from the real exporter -> ``spikeforge import`` -> ``spikeforge compile -t
xylo-audio2`` -> ``spikeforge run build/`` on the graph's own input, with no edits.

The chip's output is compared with the framework's own recorded output spikes
(tests/fixtures/nir/<name>.npz): the adapters approximate, so the check is on spike
counts per sample and output, against bounds below the measured agreement.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.compiler.test_cli import spikeforge

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nir"

# fixture -> (import options, minimum correlation of the per-sample, per-output spike
# counts of the chip with the framework's own)
CASES = {
    "snntorch_leaky_mlp": (["--reset", "subtract", "--reset-delay"], 0.95),
    "snntorch_rsynaptic": (["--reset", "subtract", "--reset-delay"], 0.5),
    "norse_lif_mlp": (["--convention", "norse"], 0.9),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_exporter_file_reaches_xylo_and_runs_on_its_own_input(
    name: str, tmp_path: Path
) -> None:
    options, min_corr = CASES[name]
    graph, build = tmp_path / "net.sfir", tmp_path / "build"
    done = spikeforge(
        "import", str(FIXTURES / f"{name}.nir"), "-o", str(graph), *options
    )
    assert done.returncode == 0, done.stderr
    assert "convention" in done.stderr  # says what it used
    done = spikeforge("compile", str(graph), "-t", "xylo-audio2", "-o", str(build))
    assert done.returncode == 0, done.stderr
    assert "spikeforge: warning: node" in done.stderr  # the adapters say what changed
    assert "fidelity  ideal chip vs float graph" in done.stdout
    data = np.load(FIXTURES / f"{name}.npz")
    np.save(tmp_path / "x.npy", data["input"])  # (2, 40, 8): the graph's own input
    out = tmp_path / "y.npy"
    done = spikeforge(
        "run", str(build), "--input", str(tmp_path / "x.npy"), "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    chip = np.load(out)
    want = data["output"]
    assert chip.shape == want.shape  # the graph's outputs only, aligned in time
    corr = np.corrcoef(chip.sum(1).ravel(), want.sum(1).ravel())[0, 1]
    assert corr >= min_corr, corr
