"""Bad values and malformed files at the command line: one line, exit 1, the place.

Each case used to crash with an internal error (``EOFError``, ``TypeError``,
``IndexError``...), print ``torch.fx``'s traceback, or run on nonsense; the CLI runs
in-process here (``main``), so the cases stay fast.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import compiler
import ir
from compiler.cli import main
from tests.backends.dynapse.test_lower import chain
from tests.backends.xylo.snn_graphs import lif_graph

# dynapse2 builds of subtract-reset LIF chains: adapt-dynapse says what it
# changed (tests/backends/dynapse/test_adapt.py covers that); not the subject here.
pytestmark = pytest.mark.filterwarnings("ignore::compiler.errors.AdapterWarning")

EXAMPLE = Path(__file__).parents[2] / "examples" / "tiny_rsnn.sfir"


def fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI; return its one error line (after checking exit 1, no traceback)."""
    status = main(list(args))
    err = capsys.readouterr().err
    assert status == 1, err
    assert err.startswith("spikeforge: error: "), err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err.removeprefix("spikeforge: error: ").rstrip("\n")


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("builds")
    compiler.compile(chain(0), target="dynapse2", fidelity=False).config.save(
        root / "dynapse2"
    )
    compiler.compile(lif_graph(0), target="xylo-audio2").config.save(root / "xylo")
    return {"dynapse2": root / "dynapse2", "xylo": root / "xylo"}


# -- run -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (np.array([[["a"] * 4] * 3]), "holds <U1 values; expected numbers"),
        (np.ones((1, 0, 4), np.float32), "holds no values (shape (1, 0, 4))"),
        (np.full((1, 2, 4), np.nan, np.float32), "value nan at index (0, 0, 0) is not"),
        (np.ones((1, 2, 4), np.complex64), "holds complex values (complex64)"),
    ],
)
def test_run_names_the_input_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: np.ndarray, words: str
) -> None:
    path = tmp_path / "x.npy"
    np.save(path, data)
    message = fails(capsys, "run", str(EXAMPLE), "--input", str(path))
    assert message.startswith(f"{path}: {words}")


def test_run_an_empty_or_unreadable_input_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(b"")
    message = fails(capsys, "run", str(EXAMPLE), "--input", str(path))
    assert message == f"{path}: the file is empty, expected .npy or .npz"
    path.write_bytes(b"not numpy")
    message = fails(capsys, "run", str(EXAMPLE), "--input", str(path))
    assert message.startswith(f"{path}: not a readable .npy or .npz file")


@pytest.mark.parametrize("steps", ["0", "-5"])
def test_run_steps_below_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, steps: str
) -> None:
    np.save(tmp_path / "x.npy", np.ones((1, 1, 4), np.float32))
    message = fails(
        capsys,
        "run",
        str(EXAMPLE),
        "--input",
        str(tmp_path / "x.npy"),
        "--steps",
        steps,
    )
    assert message == f"--steps: must be >= 1, got {steps}"


def test_run_a_dynapse_build_on_bad_spikes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, builds: dict[str, Path]
) -> None:
    build = str(builds["dynapse2"])
    path = tmp_path / "x.npz"
    np.savez(path, a=np.ones((1, 3, 12)), b=np.ones((1, 3, 12)))
    assert fails(capsys, "run", build, "--input", str(path)) == (
        f"{path}: inputs do not match the build's graph: expected x; unknown a, b; "
        "missing x"
    )
    path = tmp_path / "x.npy"
    np.save(path, -np.ones((1, 3, 12), np.float32))
    assert fails(capsys, "run", build, "--input", str(path), "--raw") == (
        f"{path}: value -1.0 at index (0, 0, 0) is negative; spike counts are >= 0 "
        "(36 such value(s))"
    )
    np.save(path, np.full((1, 3, 12), 0.5, np.float32))
    assert "not a whole number" in fails(
        capsys, "run", build, "--input", str(path), "--raw"
    )
    # The graph's own I/O checks the same, naming the input file and the input.
    assert f"{path}: input 'x': value 0.5" in fails(
        capsys, "run", build, "--input", str(path)
    )


def test_run_a_build_whose_config_is_nested_too_deeply(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    np.save(tmp_path / "x.npy", np.ones((1, 2, 4), np.float32))
    message = fails(
        capsys, "run", str(tmp_path / "b"), "--input", str(tmp_path / "x.npy")
    )
    config = tmp_path / "b" / "config.json"
    assert message == f"{config}: JSON nested too deeply to be a configuration"


# -- yield -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "extra", "words"),
    [
        (
            [0, 1, 99],
            (),
            "labels[2] = 99 is not a class of the build's 4 outputs (0..3)",
        ),
        ([0, -1, 1], (), "labels[1] = -1 is not a class"),
        ([0.5, 1, 1], (), "labels[0] = 0.5 is not a class"),
        ([0, 1, 1], ("--tolerance", "nan"), "tolerance must be within 0..1, got nan"),
        ([0, 1, 1], ("--reference", "2.0"), "reference accuracy must be within 0..1"),
    ],
)
def test_yield_checks_labels_tolerance_and_reference(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    builds: dict[str, Path],
    labels: list[float],
    extra: tuple[str, ...],
    words: str,
) -> None:
    x = (np.random.default_rng(0).random((3, 20, 12)) < 0.3).astype(np.float32)
    np.savez(tmp_path / "t.npz", x=x, y=np.asarray(labels))
    message = fails(
        capsys, "yield", str(builds["dynapse2"]), "--data", str(tmp_path / "t.npz"),
        "--chips", "2", *extra,
    )  # fmt: skip
    assert words in message


def test_yield_names_the_file_of_bad_inputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, builds: dict[str, Path]
) -> None:
    path = tmp_path / "t.npz"
    np.savez(path, x=np.full((2, 3, 12), np.inf), y=np.zeros(2))
    message = fails(capsys, "yield", str(builds["dynapse2"]), "--data", str(path))
    assert message.startswith(
        f"{path}['x']: value inf at index (0, 0, 0) is not finite"
    )


def test_yield_given_a_npy_instead_of_a_npz(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, builds: dict[str, Path]
) -> None:
    np.save(tmp_path / "t.npy", np.ones(3))
    path = tmp_path / "t.npy"
    assert fails(capsys, "yield", str(builds["dynapse2"]), "--data", str(path)) == (
        f"{path}: a single .npy array; expected an .npz with 'x', 'y'"
    )


# -- import ----------------------------------------------------------------------------


def mlp(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)
    )
    return model.to(dtype).eval()


@pytest.mark.parametrize("shape", ["0", "-1", "4,0"])
def test_import_refuses_dimensions_below_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, shape: str
) -> None:
    torch.save(mlp(), tmp_path / "m.pt")
    message = fails(
        capsys, "import", str(tmp_path / "m.pt"), "--input-shape", shape,
        "-o", str(tmp_path / "m.sfir"),
    )  # fmt: skip
    assert message == f"--input-shape '{shape}': every dimension must be >= 1"


@pytest.mark.filterwarnings("ignore::frontends.files.TrustedPickleWarning")
def test_import_with_the_wrong_shape_prints_no_fx_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    torch.save(mlp(), tmp_path / "m.pt")
    message = fails(
        capsys, "import", str(tmp_path / "m.pt"), "--input-shape", "5",
        "-o", str(tmp_path / "m.sfir"), "--trust-pickle",
    )  # fmt: skip
    assert message.startswith(
        "running Sequential on the example input of shape (1, 5) failed: RuntimeError: "
        "mat1 and mat2 shapes cannot be multiplied"
    )


@pytest.mark.filterwarnings("ignore::frontends.files.TrustedPickleWarning")
def test_import_an_embedding_prints_no_fx_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))
    torch.save(model.eval(), tmp_path / "e.pt")
    message = fails(
        capsys, "import", str(tmp_path / "e.pt"), "--input-shape", "3",
        "-o", str(tmp_path / "e.sfir"), "--trust-pickle",
    )  # fmt: skip
    assert message.startswith("running Sequential on the example input of shape (1, 3)")


@pytest.mark.filterwarnings("ignore::frontends.files.TrustedPickleWarning")
def test_import_a_float64_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    torch.save(mlp(torch.float64), tmp_path / "m.pt")
    out = tmp_path / "m.sfir"
    status = main(
        [
            *("import", str(tmp_path / "m.pt"), "--input-shape", "4"),
            "--trust-pickle",
            "-o",
            str(out),
        ]
    )
    assert status == 0, capsys.readouterr().err
    graph = ir.load(out)
    x = torch.randn(3, 1, 4, dtype=torch.float64)
    want = mlp(torch.float64)(x[:, 0])
    assert torch.equal(ir.interpret(graph, x)[:, 0], want.detach())


@pytest.mark.filterwarnings("ignore::frontends.files.TrustedPickleWarning")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_import_a_half_model_widens_it_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, dtype: torch.dtype
) -> None:
    torch.save(mlp(dtype), tmp_path / "m.pt")
    out = tmp_path / "m.sfir"
    with pytest.warns(UserWarning, match=f"parameters are {dtype}; .* widened"):
        status = main(
            [
                *("import", str(tmp_path / "m.pt"), "--input-shape", "4"),
                "--trust-pickle",
                "-o",
                str(out),
            ]
        )
    assert status == 0, capsys.readouterr().err
    weight = ir.load(out).op("0").params()["weight"]
    assert weight.dtype == np.float32
    assert np.array_equal(weight, mlp(dtype)[0].weight.detach().float().numpy())


def test_import_a_zip_with_code_that_is_not_torchscript(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "fake.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fake/code/__torch__.py", "x = 1")
    message = fails(
        capsys,
        "import",
        str(path),
        "--input-shape",
        "4",
        "-o",
        str(tmp_path / "f.sfir"),
    )
    assert message.startswith(f"{path}: has a code/ folder but is not a TorchScript")


# -- compile ---------------------------------------------------------------------------


def test_compile_refuses_a_plot_it_cannot_draw_before_writing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ir.save(lif_graph(0), tmp_path / "g.sfir")
    build = tmp_path / "build"
    message = fails(
        capsys, "compile", str(tmp_path / "g.sfir"), "-t", "xylo-audio2",
        "-o", str(build), "--plot-placement", str(tmp_path / "p.png"),
    )  # fmt: skip
    assert message.startswith("target 'xylo-audio2' declares no core model")
    assert not build.exists()
    assert not (tmp_path / "p.png").exists()
    assert json.dumps(message)  # one line, printable
