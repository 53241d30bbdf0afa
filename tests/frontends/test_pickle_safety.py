"""Importing ``.pt`` files runs no code from them by default (issue 14, item 1)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import ir
from frontends.errors import FrontendError
from frontends.files import TrustedPickleWarning, import_file


def spikeforge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compiler.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


class Payload:
    """Unpickling this runs ``exec``: it writes the file ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        code = f"import pathlib; pathlib.Path({str(self.target)!r}).write_text('x')"
        return (exec, (code,))


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(6, 5)
        self.fc2 = torch.nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def net() -> Net:
    torch.manual_seed(0)
    return Net().eval()


def booby_trapped(tmp_path: Path) -> tuple[Path, Path]:
    """A real model carrying a payload, and the file the payload would write."""
    model = net()
    marker = tmp_path / "pwned.txt"
    model.payload = Payload(marker)  # type: ignore[assignment]
    torch.save(model, tmp_path / "model.pt")
    return tmp_path / "model.pt", marker


def same_as(graph: ir.Graph, model: torch.nn.Module) -> bool:
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x)
    return torch.allclose(ir.interpret(graph, x[:, None])[:, 0], expected, atol=1e-5)


def test_a_pickled_module_is_refused_and_its_code_does_not_run(
    tmp_path: Path,
) -> None:
    path, marker = booby_trapped(tmp_path)
    with pytest.raises(FrontendError, match="--trust-pickle") as info:
        import_file(path, input_shape=(6,))
    assert "runs code named by the file" in str(info.value)
    assert not marker.exists()


def test_the_cli_refuses_it_too(tmp_path: Path) -> None:
    path, marker = booby_trapped(tmp_path)
    out = tmp_path / "model.sfir"
    done = spikeforge("import", str(path), "--input-shape", "6", "-o", str(out))
    assert done.returncode == 1
    assert done.stderr.startswith("spikeforge: error: ")
    assert "--trust-pickle" in done.stderr
    assert not marker.exists()
    assert not out.exists()


def test_trusted_runs_it_with_a_warning(tmp_path: Path) -> None:
    path, marker = booby_trapped(tmp_path)
    with pytest.warns(TrustedPickleWarning, match="--trust-pickle"):
        graph = import_file(path, input_shape=(6,), trusted=True)
    assert marker.exists()  # what trusting a file means
    assert same_as(graph, net())


def test_a_state_dict_loads_into_a_named_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.save(net().state_dict(), tmp_path / "weights.pt")
    graph = import_file(tmp_path / "weights.pt", input_shape=(6,), model_class=Net)
    assert same_as(graph, net())
    # By name, as the CLI gives it, from a module in the current folder.
    (tmp_path / "mymodels.py").write_text(
        textwrap.dedent(
            """
            import torch

            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = torch.nn.Linear(6, 5)
                    self.fc2 = torch.nn.Linear(5, 2)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "net.sfir"
    done = spikeforge(
        "import", "weights.pt", "--model-class", "mymodels:Net",
        "--input-shape", "6", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert same_as(ir.load(out), net())


def test_a_state_dict_that_does_not_fit_the_class(tmp_path: Path) -> None:
    state = net().state_dict()
    del state["fc2.bias"]
    torch.save(state, tmp_path / "weights.pt")
    with pytest.raises(FrontendError, match=r"does not fit Net: .*fc2\.bias"):
        import_file(tmp_path / "weights.pt", input_shape=(6,), model_class=Net)
    with pytest.raises(FrontendError, match=r"expected 'package\.module:Class'"):
        import_file(tmp_path / "weights.pt", input_shape=(6,), model_class="Net")
    with pytest.raises(FrontendError, match="cannot import"):
        import_file(
            tmp_path / "weights.pt", input_shape=(6,), model_class="no_such_mod:Net"
        )
