"""``ir.lazy``: a package's names load their module on first use, and only then."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ir.lazy import lazy_attributes

ROOT = Path(__file__).resolve().parents[2]


def package(**options: object) -> types.ModuleType:
    """A stand-in package named ``ir`` (its submodules are real) with two exports."""
    module = types.ModuleType("ir")
    module.__all__ = ["Graph", "parse"]  # type: ignore[attr-defined]
    exports = {"Graph": "ir.graph", "parse": "ir.parser"}
    getattr_, dir_ = lazy_attributes(vars(module), exports, **options)  # type: ignore[arg-type]
    module.__getattr__ = getattr_  # type: ignore[method-assign]
    module.__dir__ = dir_  # type: ignore[method-assign]
    return module


def test_an_export_loads_its_module_and_is_then_a_plain_attribute() -> None:
    from ir.graph import Graph

    module = package()
    assert "Graph" not in vars(module)
    assert module.Graph is Graph
    assert vars(module)["Graph"] is Graph  # stored: the next lookup skips __getattr__


def test_submodules_any_some_or_none() -> None:
    import ir.serialize

    assert package().serialize is ir.serialize
    assert package(submodules=("serialize",)).serialize is ir.serialize
    with pytest.raises(AttributeError, match="module 'ir' has no attribute 'printer'"):
        _ = package(submodules=("serialize",)).printer
    with pytest.raises(
        AttributeError, match="module 'ir' has no attribute 'serialize'"
    ):
        _ = package(submodules=False).serialize


def test_unknown_names_and_dunder_probes_are_attribute_errors() -> None:
    module = package()
    with pytest.raises(AttributeError, match="module 'ir' has no attribute 'nope'"):
        _ = module.nope
    with pytest.raises(AttributeError, match="'__wrapped__'"):
        _ = module.__wrapped__
    assert not hasattr(module, "__path_hooks__")


def test_dir_lists_the_public_names_once() -> None:
    module = package()
    _ = module.Graph
    names = dir(module)
    assert {"Graph", "parse"} <= set(names)
    assert len(names) == len(set(names))


def test_import_ir_does_not_import_torch() -> None:
    code = (
        "import sys, ir, compiler, backends, backends.dynapse, spikeforge\n"
        "print('torch' in sys.modules)\n"
        "ir.IRError\n"
        "print('ir.errors' in sys.modules, 'torch' in sys.modules)\n"
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "False"]
