"""Importing model files by extension, in-process and through ``spikeforge import``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ir
from frontends.errors import FrontendError
from frontends.files import TrustedPickleWarning, import_file, load_torch_module


def mlp() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(12, 8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(8, 3),
    ).eval()


class Custom(torch.nn.Module):
    """A model class that a reader of the pickle cannot import."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def same_as_model(
    graph: ir.Graph, model: torch.nn.Module, shape: tuple[int, ...]
) -> bool:
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x)
    got = ir.interpret(graph, x[:, None])[:, 0]
    return torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_whole_pickled_module(tmp_path: Path) -> None:
    model = mlp()
    torch.save(model, tmp_path / "mlp.pt")
    with pytest.warns(TrustedPickleWarning, match="ran code named by the file"):
        graph = import_file(tmp_path / "mlp.pt", input_shape=(3, 4), trusted=True)
    assert graph.name == "mlp"
    assert same_as_model(graph, model, (3, 4))


# Making the TorchScript fixtures needs torch.jit.script, deprecated in recent torch.
scripting = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


@scripting
def test_torchscript_sequential_is_rebuilt(tmp_path: Path) -> None:
    model = mlp()
    torch.jit.script(model).save(str(tmp_path / "mlp_script.pt"))
    rebuilt = load_torch_module(tmp_path / "mlp_script.pt")
    x = torch.randn(2, 3, 4)
    assert torch.equal(rebuilt(x), model(x))
    graph = import_file(tmp_path / "mlp_script.pt", input_shape=(3, 4))
    assert same_as_model(graph, model, (3, 4))


def test_state_dict_says_what_is_needed(tmp_path: Path) -> None:
    torch.save(mlp().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(
        FrontendError, match=r"holds a state_dict .* --model-class pkg\.module:Net"
    ):
        import_file(tmp_path / "weights.pt", input_shape=(12,))


@scripting
def test_other_torchscript_and_unimportable_classes_are_refused(tmp_path: Path) -> None:
    torch.jit.script(Custom()).save(str(tmp_path / "custom_script.pt"))
    with pytest.raises(
        FrontendError, match="TorchScript module 'Custom' cannot be traced"
    ):
        import_file(tmp_path / "custom_script.pt", input_shape=(4,))
    # A class defined in a script's __main__ (or a notebook) cannot be imported by
    # whoever reads the pickle.
    script = (
        "import sys, torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.fc = torch.nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
        "torch.save(Net().eval(), sys.argv[1])\n"
    )
    made = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "custom.pt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    with (
        pytest.raises(FrontendError, match="class definitions to be importable"),
        pytest.warns(TrustedPickleWarning),
    ):
        import_file(tmp_path / "custom.pt", input_shape=(4,), trusted=True)


def test_missing_shape_unknown_type_and_missing_file(tmp_path: Path) -> None:
    torch.save(mlp(), tmp_path / "mlp.pt")
    with pytest.raises(FrontendError, match="needs the shape of one input sample"):
        import_file(tmp_path / "mlp.pt")
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(FrontendError, match=r"unknown model file type '\.onnx'"):
        import_file(tmp_path / "model.onnx")
    with pytest.raises(FrontendError, match="no such file"):
        import_file(tmp_path / "absent.nir")


def test_cli_import_writes_sfir(tmp_path: Path) -> None:
    model = mlp()
    torch.save(model, tmp_path / "mlp.pt")
    out = tmp_path / "mlp.sfir"
    command = [sys.executable, "-m", "compiler.cli", "import", str(tmp_path / "mlp.pt")]
    done = subprocess.run(
        [*command, "--input-shape", "3,4", "--trust-pickle", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert same_as_model(ir.load(out), model, (3, 4))
    bad = subprocess.run(
        [*command, "-o", str(out)], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("spikeforge: error: ")
    assert "--input-shape" in bad.stderr
