"""Build folders read back: a malformed ``config.json`` or array file is the target's
own error naming the file, never a ``RecursionError``, ``KeyError`` or ``EOFError``;
every target's loader is property-tested for "its error with the file, or success"."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compiler
import ir
from backends import TargetError, get_target
from backends.dynapse.config import ConfigError as DynapseConfigError
from backends.jsonfile import json_field, read_json_object
from backends.xylo.config import ConfigError as XyloConfigError
from tests.backends.dynapse.test_lower import chain
from tests.backends.xylo.snn_graphs import lif_graph

# dynapse2 builds of subtract-reset LIF chains: adapt-dynapse says what it
# changed (tests/backends/dynapse/test_adapt.py covers that); not the subject here.
pytestmark = pytest.mark.filterwarnings("ignore::compiler.errors.AdapterWarning")

Loader = Callable[[Path], Any]
ERRORS = (XyloConfigError, DynapseConfigError, TargetError, ir.ParseError)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("builds")
    graphs = {"xylo-audio2": lif_graph(0), "dynapse2": chain(0), "reference": chain(0)}
    for target, graph in graphs.items():
        compiler.compile(graph, target=target, fidelity=False).config.save(
            root / target
        )
    return {target: root / target for target in graphs}


def copy(builds: dict[str, Path], target: str, into: Path) -> Path:
    folder = into / target
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(builds[target], folder)
    return folder


def load(target: str, folder: Path) -> Any:
    return get_target(target).load_config(folder)


def edit(folder: Path, **fields: Any) -> Path:
    file = folder / "config.json"
    meta = json.loads(file.read_text())
    for key, value in fields.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    file.write_text(json.dumps(meta))
    return file


@pytest.mark.parametrize("target", ["xylo-audio2", "dynapse2", "reference"])
def test_deeply_nested_json_is_the_targets_error(
    builds: dict[str, Path], tmp_path: Path, target: str
) -> None:
    folder = copy(builds, target, tmp_path)
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ERRORS, match=r"config\.json: JSON nested too deeply"):
        load(target, folder)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("dt", True, "dt: True must be a positive number"),
        ("weight_shift_in", True, "weight_shift_in: True is outside the safe range"),
        (
            "neuron_map",
            {"lif1:0": ["hidden", True]},
            "neuron_map['lif1:0']: ['hidden', ",
        ),
        ("neuron_map", {"lif1:0": [["hidden"], 0]}, "neuron_map['lif1:0']"),
    ],
)
def test_xylo_config_refuses_true_for_a_number(
    builds: dict[str, Path], tmp_path: Path, field: str, value: Any, words: str
) -> None:
    folder = copy(builds, "xylo-audio2", tmp_path)
    file = edit(folder, **{field: value})
    with pytest.raises(XyloConfigError) as info:
        load("xylo-audio2", folder)
    assert str(info.value).startswith(f"{file}: invalid xylo-audio2 configuration")
    assert words in str(info.value)


def test_xylo_registers_empty_or_a_single_array(
    builds: dict[str, Path], tmp_path: Path
) -> None:
    folder = copy(builds, "xylo-audio2", tmp_path)
    (folder / "registers.npz").write_bytes(b"")
    # The build records the registers' digest: an emptied file does not match it.
    with pytest.raises(XyloConfigError, match=r"registers\.npz does not match"):
        load("xylo-audio2", folder)
    # A build from before digests: the empty file itself is the error.
    meta = json.loads((folder / "config.json").read_text())
    del meta["arrays_sha256"]
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(XyloConfigError, match=r"registers\.npz: the file is empty"):
        load("xylo-audio2", folder)
    with open(folder / "registers.npz", "wb") as handle:
        np.save(handle, np.ones(3))
    with pytest.raises(XyloConfigError, match=r"registers\.npz: a single \.npy array"):
        load("xylo-audio2", folder)


@pytest.mark.parametrize(("graph", "words"), [(None, "missing field 'graph'"),
                                               (3, "field 'graph' must be a string")])  # fmt: skip
def test_reference_config_without_a_graph_name(
    builds: dict[str, Path], tmp_path: Path, graph: Any, words: str
) -> None:
    folder = copy(builds, "reference", tmp_path)
    file = edit(folder, graph=graph)
    with pytest.raises(TargetError) as info:
        load("reference", folder)
    assert str(info.value) == f"{file}: {words}" + (", got 3" if graph == 3 else "")


def test_json_field_never_takes_a_bool_for_a_number(tmp_path: Path) -> None:
    file = tmp_path / "c.json"
    file.write_text('{"dt": true, "n": 2}')
    meta = read_json_object(file, error=ValueError)
    with pytest.raises(
        ValueError, match="field 'dt' must be an integer or a number, got true"
    ):
        json_field(meta, "dt", (int, float), path=file, error=ValueError)
    assert json_field(meta, "n", int, path=file, error=ValueError) == 2
    file.write_text("[1]")
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        read_json_object(file, error=ValueError)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**66), 2**66)
    | st.floats(allow_nan=True)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(["xylo-audio2", "dynapse2", "reference"]),
    st.data(),
    _JSON,
)
def test_any_field_value_loads_or_is_the_targets_error_naming_the_file(
    builds: dict[str, Path], tmp_path: Path, target: str, data: Any, value: Any
) -> None:
    folder = copy(builds, target, tmp_path)
    meta = json.loads((folder / "config.json").read_text())
    key = data.draw(st.sampled_from(sorted(meta)))
    if isinstance(meta[key], dict) and meta[key] and data.draw(st.booleans()):
        inner = data.draw(st.sampled_from(sorted(meta[key])))
        meta[key][inner] = value  # one entry (a neuron, a core field) only
    elif isinstance(meta[key], list) and meta[key] and data.draw(st.booleans()):
        meta[key][data.draw(st.integers(0, len(meta[key]) - 1))] = value
    else:
        meta[key] = value
    (folder / "config.json").write_text(json.dumps(meta))
    try:
        load(target, folder)
        message = ""
    except ERRORS as err:
        message = str(err)
    assert not message or str(folder) in message, message
