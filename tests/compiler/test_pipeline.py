"""Pipeline strings: parsing, printing, option conversion, errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler import Pass, Pipeline, PipelineError, available_passes
from compiler.pass_base import OptionKind
from ir import Graph


@dataclass(frozen=True)
class TimestepsPass(Pass):
    """A pass with one option of each kind (fixture)."""

    name = "with-options"
    timesteps: int = 32
    percentile: float = 99.9
    per_channel: bool = False
    mode: str = "max"
    shape: tuple[int, ...] = (2, 2)
    path: str | None = None

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        return graph.copy()


@dataclass(frozen=True)
class PlainPass(Pass):
    """No options (fixture)."""

    name = "plain"

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        return graph.copy()


TABLE: dict[str, type[Pass]] = {"with-options": TimestepsPass, "plain": PlainPass}


def parse(text: str) -> Pipeline:
    return Pipeline.parse(text, passes=TABLE)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain",
        "plain,plain",
        "with-options{timesteps=8}",
        "with-options{timesteps=8 percentile=99.5 per-channel=true mode=rate}",
        "plain,with-options{shape=3,4,5},plain",
        'with-options{path="a b,c{}"}',
        "with-options{path=none}",
        "with-options{percentile=99.90}",
    ],
)
def test_print_of_parse_is_identity(text: str) -> None:
    assert str(parse(text)) == text


def test_options_convert_to_typed_fields() -> None:
    spec = parse(
        'with-options{timesteps=8 per-channel=true shape=3,4 path="x y"}'
    ).specs[0]
    p = spec.create()
    assert isinstance(p, TimestepsPass)
    assert (p.timesteps, p.per_channel, p.shape, p.path) == (8, True, (3, 4), "x y")
    assert p.percentile == 99.9  # default kept


def test_spec_prints_non_default_options_and_reparses() -> None:
    p = TimestepsPass(timesteps=4, mode="a b", shape=(1,))
    text = p.spec()
    assert text == 'with-options{timesteps=4 mode="a b" shape=1}'
    assert parse(text).specs[0].create() == p
    assert PlainPass().spec() == "plain"
    assert str(Pipeline.of([PlainPass(), p])) == f"plain,{text}"


@given(
    timesteps=st.integers(-(10**9), 10**9),
    percentile=st.floats(allow_nan=False, allow_infinity=False),
    per_channel=st.booleans(),
    shape=st.lists(st.integers(0, 999), min_size=1, max_size=4).map(tuple),
    mode=st.text(min_size=1, max_size=12),
)
def test_instance_spec_round_trips(
    timesteps: int,
    percentile: float,
    per_channel: bool,
    shape: tuple[int, ...],
    mode: str,
) -> None:
    p = TimestepsPass(timesteps, percentile, per_channel, mode, shape)
    again = parse(p.spec()).specs[0].create()
    assert again == p
    assert str(parse(p.spec())) == p.spec()


def test_unknown_pass_lists_the_valid_ones() -> None:
    with pytest.raises(
        PipelineError,
        match=r"unknown pass 'plian'; available passes: plain, with-options",
    ):
        parse("plain,plian")


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(PipelineError) as err:
        parse("with-options{timestep=3}")
    message = str(err.value)
    assert "has no option 'timestep'" in message
    assert "timesteps (int)" in message
    assert "per-channel (bool)" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "with-options{timesteps=many}",
            "option 'timesteps': expected int, got 'many'",
        ),
        ("with-options{per-channel=yes}", "expected true or false, got 'yes'"),
        ("with-options{timesteps=1,2}", "expected one int, got 2 values"),
        ("with-options{shape=1,x}", "expected int list, got 'x'"),
    ],
)
def test_bad_option_values_say_what_was_expected(text: str, fragment: str) -> None:
    with pytest.raises(
        PipelineError, match=fragment.replace("(", r"\(").replace(")", r"\)")
    ):
        parse(text)


def test_an_option_given_twice_is_refused() -> None:
    """The later value does not silently win over the earlier one."""
    with pytest.raises(
        PipelineError, match=r"pass 'with-options', option 'per-channel' is given twice"
    ):
        parse("with-options{per-channel=true timesteps=4 per-channel=false}")
    assert parse("with-options{timesteps=4},with-options{timesteps=5}")


@pytest.mark.parametrize(
    "text", ["plain,", ",plain", "plain{", "plain{x}", "plain,,plain", "Plain"]
)
def test_syntax_errors_name_the_column(text: str) -> None:
    with pytest.raises(PipelineError, match=r"column \d+"):
        parse(text)


def test_default_registry_is_used_without_a_table() -> None:
    assert (
        str(Pipeline.parse("canonicalize,dce,infer-shapes"))
        == "canonicalize,dce,infer-shapes"
    )
    with pytest.raises(PipelineError, match=r"available passes: .*canonicalize, dce"):
        Pipeline.parse("nope")
    assert {"canonicalize", "dce", "infer-shapes"} <= set(available_passes())


def test_option_kind_rejects_unsupported_annotations() -> None:
    with pytest.raises(TypeError):
        OptionKind.of(dict)
    with pytest.raises(TypeError):
        OptionKind.of(int | str)
