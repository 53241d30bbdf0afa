"""The ``spikeforge`` command line, end to end in subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import compiler
import ir

# The dynapse2 pipeline adapts subtract resets and LIF synapses (adapt-dynapse) and
# warns; these tests are about other things (tests/backends/dynapse/test_adapt.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "tiny_rsnn.sfir"
SCRIPT = Path(sys.executable).with_name("spikeforge")


def spikeforge(
    *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    # The installed console script when there is one, else the module.
    command = (
        [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "compiler.cli"]
    )
    return subprocess.run(
        [*command, *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def test_version_and_help_list_the_registry() -> None:
    version = spikeforge("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("spikeforge 0.")
    help_text = spikeforge("--help").stdout
    assert f"passes:  {', '.join(compiler.available_passes())}" in help_text
    from backends import available_targets

    assert f"targets: {', '.join(available_targets())}" in help_text
    assert "reference" in available_targets()
    for command in ("opt", "run", "compile", "passes", "targets"):
        assert command in help_text


def test_opt_turns_a_file_into_another(tmp_path: Path) -> None:
    out = tmp_path / "out.sfir"
    done = spikeforge(
        "opt", str(EXAMPLE), "-p", "canonicalize,dce,infer-shapes", "-o", str(out),
        "--time-passes", "--print-ir-after-all",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "// ----- IR after dce -----" in done.stderr
    assert "canonicalize" in done.stderr
    assert "total" in done.stderr
    expected = compiler.run_pipeline(ir.load(EXAMPLE), "canonicalize,dce,infer-shapes")
    assert out.read_text() == ir.to_text(expected)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind


def test_opt_reads_stdin_and_writes_stdout() -> None:
    done = spikeforge("opt", "-", "-p", "dce", stdin=EXAMPLE.read_text())
    assert done.returncode == 0, done.stderr
    assert "%probe" not in done.stdout
    assert ir.parse(done.stdout).is_equivalent(
        compiler.run_pipeline(ir.load(EXAMPLE), "dce")
    )


def test_opt_writes_big_arrays_to_a_sidecar(tmp_path: Path) -> None:
    g = ir.Graph("big")
    g.add("x", ir.ops.io.Input(shape=(100,)))
    g.add("fc", ir.ops.nn.Linear(weight=np.ones((100, 100), np.float32)), ["x"])
    g.add("y", ir.ops.io.Output(), ["fc"])
    src = tmp_path / "big.sfir"
    src.write_text(ir.to_text(g))
    done = spikeforge(
        "opt", str(src), "-o", str(tmp_path / "out.sfir"), "--inline-limit", "1000"
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.sfir.npz").exists()
    assert 'blob<f32[100,100]> "fc.weight"' in (tmp_path / "out.sfir").read_text()
    assert ir.load(tmp_path / "out.sfir").is_equivalent(g)


def test_run_interprets_a_graph(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((2, 12, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    done = spikeforge(
        "run",
        str(EXAMPLE),
        "--input",
        str(tmp_path / "x.npy"),
        "-o",
        str(tmp_path / "y.npy"),
    )
    assert done.returncode == 0, done.stderr
    assert "output: shape (2, 12, 3)" in done.stdout
    expected = ir.interpret(ir.load(EXAMPLE), torch.from_numpy(x)).numpy()
    assert np.array_equal(np.load(tmp_path / "y.npy"), expected)
    held = spikeforge(
        "run", str(EXAMPLE), "--input", str(tmp_path / "x.npy"), "--steps", "5"
    )
    assert held.returncode == 1
    assert "input has 12 time steps; steps=5 needs 1 or 5" in held.stderr


def test_compile_then_run_the_build(tmp_path: Path) -> None:
    build = tmp_path / "build"
    done = spikeforge(
        "compile", str(EXAMPLE), "--target", "reference", "-o", str(build)
    )
    assert done.returncode == 0, done.stderr
    assert "target    reference" in done.stdout
    assert sorted(p.name for p in build.iterdir()) == ["config.json", "graph.sfir"]
    x = np.ones((1, 5, 4), np.float32)
    np.save(tmp_path / "x.npy", x)
    run = spikeforge(
        "run",
        str(build),
        "--input",
        str(tmp_path / "x.npy"),
        "-o",
        str(tmp_path / "y.npy"),
    )
    assert run.returncode == 0, run.stderr
    assert np.array_equal(
        np.load(tmp_path / "y.npy"), ir.interpret(ir.load(EXAMPLE), x).numpy()
    )


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ("opt", "-"),
            "sfir 1\ngraph @g {dt = none} {\n  %x = io.input() {shape = (2)\n}\n",
            "<stdin>:4:2: unexpected end of file; expected one of",
        ),
        (
            ("opt", "-", "-p", "canonicalise"),
            "",
            "unknown pass 'canonicalise'; available passes: ",
        ),
        (("opt", "does/not/exist.sfir"), None, "does/not/exist.sfir: no such file"),
        (
            ("compile", "-", "--target", "xylo-nope", "-o", "b"),
            "",
            "unknown target 'xylo-nope'",
        ),
        (
            ("run", "missing_dir_or_file", "--input", "x.npy"),
            None,
            "x.npy: no such file",
        ),
    ],
)
def test_bad_input_gives_one_error_and_no_traceback(
    args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    done = spikeforge(
        *args, stdin=stdin if stdin is None or stdin else EXAMPLE.read_text()
    )
    assert done.returncode == 1
    assert done.stderr.startswith("spikeforge: error: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback() -> None:
    done = spikeforge("--debug", "opt", "-", stdin="sfir 1\ngraph @g {\n")
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "ParseError" in done.stderr


def test_passes_and_targets_commands() -> None:
    passes = spikeforge("passes")
    assert passes.returncode == 0
    names = [
        line.split()[0]
        for line in passes.stdout.splitlines()
        if not line.startswith(" ")
    ]
    assert names == sorted(compiler.available_passes())
    targets = spikeforge("targets")
    assert "reference" in targets.stdout
    assert "pipeline: canonicalize,dce,infer-shapes" in targets.stdout


def test_import_a_pytorch_file_then_convert_it_with_opt(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 3),
    ).eval()
    torch.save(model, tmp_path / "cnn.pt")
    x = torch.rand(64, 1, 8, 8)
    np.save(tmp_path / "calib.npy", x.numpy())
    imported = spikeforge(
        "import", str(tmp_path / "cnn.pt"), "--input-shape", "1,8,8",
        "--trust-pickle", "-o", str(tmp_path / "cnn.sfir"),
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    pipeline = "fold-bn,ann-to-snn{timesteps=64 normalization=max}"
    done = spikeforge(
        "opt", str(tmp_path / "cnn.sfir"), "-p", pipeline,
        "--calibration", str(tmp_path / "calib.npy"), "-o", str(tmp_path / "snn.sfir"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    snn_graph = ir.load(tmp_path / "snn.sfir")
    ops = {snn_graph.op(n).name for n in snn_graph.nodes()}
    assert {"snn.if", "nn.sumpool2d", "snn.integrator"} <= ops
    assert "nn.batchnorm" not in ops
    y = ir.interpret(snn_graph, x[:8, None], steps=64)[:, -1]
    with torch.no_grad():
        assert (y.argmax(-1) == model(x[:8]).argmax(-1)).float().mean() >= 0.75
    missing = spikeforge("opt", str(tmp_path / "cnn.sfir"), "-p", pipeline)
    assert missing.returncode == 1
    assert "needs calibration data" in missing.stderr


NIR_FIXTURES = Path(__file__).parents[1] / "fixtures" / "nir"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("snntorch_leaky_nodelay_mlp", ["--reset", "subtract", "--no-reset-delay"]),
        ("sinabs_iaf_vmin_mlp", ["--v-min=-threshold"]),
        ("sinabs_lif_vmin_mlp", ["--convention", "sinabs", "--v-min", "-0.5"]),
    ],
)
def test_import_nir_with_the_exporters_variant(
    tmp_path: Path, name: str, options: list[str]
) -> None:
    """The variant options reproduce the framework's spikes; without them the
    import warns, naming the option."""
    data = np.load(NIR_FIXTURES / f"{name}.npz")
    out = tmp_path / "net.sfir"
    done = spikeforge("import", str(NIR_FIXTURES / f"{name}.nir"), "-o", str(out),
                      *options)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    got = ir.interpret(ir.load(out), data["input"].astype(np.float64)).numpy()
    np.testing.assert_array_equal(got, data["output"])
    bare = options[:2] if options[0] == "--convention" else []
    plain = spikeforge("import", str(NIR_FIXTURES / f"{name}.nir"), "-o", str(out),
                       *bare)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    wanted = "--no-reset-delay" if name.startswith("snntorch") else "--v-min"
    assert "spikeforge: warning: " in plain.stderr
    assert wanted in plain.stderr


def test_yield_on_the_dask_engine_prints_the_local_report(tmp_path: Path) -> None:
    from backends.dynapse.target import DYNAPSE2
    from tests.backends.dynapse.test_lower import chain

    # The test chain's float graph never fires on random spikes: fidelity warns.
    with pytest.warns(compiler.FidelityWarning, match="fires no output spike"):
        config = compiler.compile(chain(0), target="dynapse2").config
    rng = np.random.default_rng(0)
    x = (rng.random((12, 80, 12)) < rng.random((12, 1, 12)) * 0.4).astype(np.float32)
    y = DYNAPSE2.emulator(config, seed=None).run(x).sum(1).argmax(1)
    y[:4] = (y[:4] + 1) % 4  # some samples wrong on every chip
    config.save(tmp_path / "build")
    np.savez(tmp_path / "test.npz", x=x, y=y)
    common = ("yield", str(tmp_path / "build"), "--data", str(tmp_path / "test.npz"),
              "--chips", "5", "--batch", "2")  # fmt: skip
    local = spikeforge(*common)
    assert local.returncode == 0, local.stderr
    on_dask = spikeforge(*common, "--engine", "dask", "--dask-scheduler", "threads")
    assert on_dask.returncode == 0, on_dask.stderr
    assert on_dask.stdout == local.stdout
    assert "5th percentile" in local.stdout


def test_compile_retunes_with_calibration_and_labels(tmp_path: Path) -> None:
    from tests.backends.dynapse.test_retune import classifier, samples

    ir.save(classifier(), tmp_path / "snn.sfir")
    x, y = samples(16, seed=0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    pipeline = (
        "allocate-cores{target=dynapse2},quantize-dynapse{i-scale=1e-08},"
        "retune{epochs=1 batch=8}"
    )
    done = spikeforge(
        "compile", str(tmp_path / "snn.sfir"), "-t", "dynapse2", "-p", pipeline,
        "-o", str(tmp_path / "build"), "--calibration", str(tmp_path / "x.npy"),
        "--labels", str(tmp_path / "y.npy"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "robust acc" in done.stderr  # the progress bar
    assert "epoch 1/1" in done.stderr
    assert (tmp_path / "build" / "config.json").exists()
    np.savez(tmp_path / "test.npz", x=x, y=y)
    common = ("yield", str(tmp_path / "build"), "--data", str(tmp_path / "test.npz"),
              "--chips", "3")  # fmt: skip
    mild = spikeforge(*common, "--relative-std", "0")
    assert mild.returncode == 0, mild.stderr
    assert "minimum" in mild.stdout
    # No mismatch: every chip is the ideal chip, all within tolerance.
    assert "100.0% of chips" in mild.stdout
    np.save(tmp_path / "y.npy", y[:3])
    bad = spikeforge(
        "compile", str(tmp_path / "snn.sfir"), "-t", "dynapse2", "-p", pipeline,
        "-o", str(tmp_path / "b2"), "--calibration", str(tmp_path / "x.npy"),
        "--labels", str(tmp_path / "y.npy"),
    )  # fmt: skip
    assert bad.returncode == 1
    assert "16 calibration samples but 3 labels" in bad.stderr
    assert "Traceback" not in bad.stderr


NIR_FIXTURES = Path(__file__).parents[1] / "fixtures" / "nir"


def test_import_nir_says_what_it_used_and_warns(tmp_path: Path) -> None:
    out = tmp_path / "norse.sfir"
    done = spikeforge(
        "import", str(NIR_FIXTURES / "norse_true_lif_mlp.nir"), "--convention",
        "norse", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        "convention norse (given), norse_tau true (detected), dt 0.001 s "
        "(convention), reset zero x2 (convention)"
    ) in done.stderr
    assert "spikeforge: warning: " in done.stderr
    assert "does not record the step" in done.stderr
    assert ir.load(out).dt == 1e-3
    # the Norse 1.1.0 file read as true tau: collapsed time constants, said loudly
    done = spikeforge(
        "import", str(NIR_FIXTURES / "norse_lif_mlp.nir"), "--norse-tau", "true",
        "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "spikeforge: warning: " in done.stderr
    assert "collapse to no memory" in done.stderr
    assert "norse_tau true (given)" in done.stderr
    # Rockpool's own export: its quirks named, the detected dt shown
    done = spikeforge(
        "import", str(NIR_FIXTURES / "rockpool_lifneuron_user.nir"), "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "convention rockpool (detected), dt 0.001 s (detected)" in done.stderr
    assert "reset subtract x2 (convention)" in done.stderr
    assert "declares type (8, 1, 4)" in done.stderr


def test_import_norse_tau_is_refused_for_other_files(tmp_path: Path) -> None:
    done = spikeforge(
        "import", str(EXAMPLE), "--norse-tau", "true", "-o", str(tmp_path / "x.sfir")
    )
    assert done.returncode == 1
    assert "--norse-tau applies to .nir files only" in done.stderr
