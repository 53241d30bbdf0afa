"""The catalog: what ``spikeforge passes``/``targets`` print, read without imports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from compiler import Pass, PipelineError, catalog
from compiler.pipeline import Pipeline
from compiler.registry import available_passes


def test_the_catalog_is_up_to_date() -> None:
    expected = catalog._to_json(*catalog._built_in_live())
    assert catalog.CATALOG_PATH.read_text(encoding="utf-8") == expected, (
        f"{catalog.CATALOG_PATH} is out of date: run 'python -m compiler.catalog'"
    )


def test_the_catalog_lists_what_the_registry_has() -> None:
    infos = catalog.pass_infos()
    assert list(infos) == list(available_passes())
    ann = {o.name: o for o in infos["ann-to-snn"].options}
    assert ann["normalization"].default == "percentile"
    assert ann["normalization"].choices == ("max", "percentile", "none")
    assert ann["timesteps"].help == "steps the readout averages over (T)."
    # Inherited options take their help from the base class's docstring.
    retune = {o.name: o for o in infos["retune"].options}
    assert retune["batch"].help == "samples per step."
    targets = catalog.target_infos()
    assert targets["xylo-audio2"].passes == (
        "adapt-xylo",
        "allocate-xylo",
        "quantize-xylo",
    )


def test_option_help_reads_the_options_section() -> None:
    doc = """Summary line.

    Body text that mentions ``x``.

    Options:
        alpha: the first
            option, continued.
        beta, gamma: shared ``help``.

    Inputs:
        calibration: not an option.
    """
    assert catalog.option_help(doc) == {
        "alpha": "the first option, continued.",
        "beta": "shared help.",
        "gamma": "shared help.",
    }
    assert catalog.option_help("Options: none.") == {}
    # Text after "Options:" that goes on at the same indent stays in the section.
    inline = "Summary.\n\nOptions: ``target`` and those\nof the base class.\n"
    assert catalog._sections(inline)[0] == "Summary."
    assert catalog.option_help(None) == {}


@dataclass(frozen=True)
class _Sample(Pass):
    """A sample pass.

    More about it.

    Options:
        mode: how.
        sizes: how big.
    """

    name = "sample"
    inputs = ("calibration",)

    mode: Literal["fast", "exact"] = "fast"
    sizes: tuple[int, ...] = field(default_factory=lambda: (1, 2))
    limit: float | None = None

    def run(self, graph: Any, /, **inputs: Any) -> Any:
        return graph


def test_describe_pass_gives_kind_default_choices_and_help() -> None:
    info = catalog.describe_pass(_Sample)
    assert info.summary == "A sample pass."
    assert info.description == "A sample pass.\n\nMore about it."
    assert info.inputs == ("calibration",)
    mode, sizes, limit = info.options
    assert mode == catalog.OptionInfo(
        "mode", "str: fast | exact", "fast", ("fast", "exact"), "how."
    )
    assert sizes == catalog.OptionInfo("sizes", "int list", "1,2", (), "how big.")
    assert limit == catalog.OptionInfo("limit", "float or none", "none", (), "")


def test_a_literal_option_refuses_other_values() -> None:
    spec = Pipeline.parse("sample{mode=exact}", passes={"sample": _Sample})
    assert spec.specs[0].create() == _Sample(mode="exact")
    with pytest.raises(
        PipelineError,
        match=r"option 'mode': expected str: fast \| exact, got 'slow'",
    ):
        Pipeline.parse("sample{mode=slow}", passes={"sample": _Sample})


def test_a_name_the_file_lacks_is_described_from_its_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.loads(catalog.CATALOG_PATH.read_text(encoding="utf-8"))
    del data["passes"]["dce"]
    data["passes"]["fold-bn"]["summary"] = "stale"
    stale = tmp_path / "catalog.json"
    stale.write_text(json.dumps(data))
    monkeypatch.setattr(catalog, "CATALOG_PATH", stale)
    infos = catalog.pass_infos()
    # A missing name: everything is described from the classes again.
    assert infos["dce"].summary.startswith("Remove nodes")
    assert infos["fold-bn"].summary != "stale"
    stale.write_text("{not json")
    assert list(catalog.pass_infos()) == list(available_passes())
