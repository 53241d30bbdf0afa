"""The ``spikeforge`` facade: one name to import, cheap to import, ``python -m``."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import spikeforge

ROOT = Path(__file__).resolve().parents[2]


def python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, *(["-c", code] if code else []), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_every_name_is_the_object_its_package_defines() -> None:
    from backends import get_target
    from compiler import compile, run_pipeline
    from frontends.nir import from_nir
    from frontends.pytorch import from_module
    from ir import interpret, load, save

    expected = {
        "compile": compile,
        "run_pipeline": run_pipeline,
        "load": load,
        "save": save,
        "interpret": interpret,
        "get_target": get_target,
        "from_module": from_module,
        "from_nir": from_nir,
    }
    assert set(spikeforge.__all__) == {*expected, "__version__"}
    for name, obj in expected.items():
        assert getattr(spikeforge, name) is obj, name
    assert set(spikeforge.__all__) <= set(dir(spikeforge))
    with pytest.raises(AttributeError, match="no attribute 'compiel'"):
        _ = spikeforge.compiel  # type: ignore[attr-defined]


def test_version_is_the_installed_distribution_version() -> None:
    try:
        expected = metadata.version("spikeforge")
    except metadata.PackageNotFoundError:
        expected = "0+unknown"
    assert spikeforge.__version__ == expected


def test_import_is_cheap_and_names_load_on_use() -> None:
    code = (
        "import sys, spikeforge\n"
        "print('torch' in sys.modules, 'numpy' in sys.modules)\n"
        "spikeforge.load\n"
        "print('ir.serialize' in sys.modules)\n"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True"]


def test_python_dash_m_spikeforge_is_the_cli() -> None:
    module = python("", "-m", "spikeforge", "--version")
    assert module.returncode == 0, module.stderr
    assert module.stdout.strip() == f"spikeforge {spikeforge.__version__}".replace(
        "0+unknown", "unknown (not installed)"
    )
    targets = python("", "-m", "spikeforge", "targets")
    assert targets.returncode == 0, targets.stderr
    assert "xylo-audio2" in targets.stdout


PACKAGES = (
    "spikeforge",
    "ir",
    "frontends",
    "compiler",
    "backends",
    "backends.xylo",
    "backends.dynapse",
)


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_resolve_and_are_documented(package: str) -> None:
    module = importlib.import_module(package)
    page = (ROOT / "docs" / "architecture.md").read_text()
    row = next(
        line for line in page.splitlines() if line.startswith(f"| `{package}` |")
    )
    documented = set(re.findall(r"`([A-Za-z_0-9]+)`", row.split("|")[2]))
    for name in module.__all__:
        getattr(module, name)  # raises if the name does not resolve
    assert set(module.__all__) <= documented, package
