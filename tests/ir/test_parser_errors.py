"""Malformed ``.sfir`` text: every error is a ``ParseError`` with a message, a line, a
column and the offending line under a caret; fuzzed text never raises anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ir

_LIF = (
    "snn.lif(%fc) {tau = tensor<f32[]>[0.02], r = tensor<f32[]>[1], "
    "v_leak = tensor<f32[]>[0], v_threshold = tensor<f32[]>[1]}"
)
VALID = f"""\
sfir 1
graph @main {{dt = 0.001}} {{
  %x = io.input() {{shape = (3)}}
  %fc = nn.linear(%x) {{weight = tensor<f32[2,3]>[1, 0, 0, 0, 1, 0]}}
  %lif = {_LIF}
  %y = io.output(%lif) {{}}
}}
"""
WEIGHT = "tensor<f32[2,3]>[1, 0, 0, 0, 1, 0]"


def edit(old: str, new: str, text: str = VALID) -> str:
    """``text`` with the one occurrence of ``old`` replaced."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def parse_error(text: str, **kwargs: Any) -> ir.ParseError:
    with pytest.raises(ir.ParseError) as info:
        ir.parse(text, **kwargs)
    return info.value


def assert_error(
    err: ir.ParseError, text: str, line: int, column: int, *fragments: str
) -> None:
    """The error is at ``line:column``, shows that line and a caret, and says
    ``fragments``."""
    for fragment in fragments:
        assert fragment in err.detail
    assert (err.line, err.column) == (line, column)
    source = text.split("\n")[line - 1]
    caret = " " * (column - 1) + "^"
    assert str(err).startswith(f"<string>:{line}:{column}: {err.detail}")
    assert f"\n    {source}\n    {caret}" in str(err)


def test_valid_file_parses() -> None:
    g = ir.parse(VALID)
    assert g.nodes() == ["x", "fc", "lif", "y"]


# -- syntax ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "line", "column", "message"),
    [
        (
            "sfir 1\n",
            1,
            7,
            "unexpected end of file; expected one of 'graph', 'sidecar'",
        ),
        ("graph @main {dt", 2, 16, "unexpected end of file; expected '='"),
        ("{dt = 0.001} {\n", 2, 27, "expected one of '}', a node name like %x"),
        (
            "{shape = (3)",
            3,
            31,
            "unexpected end of file; expected one of ')', ',', '}'",
        ),
        (
            "tensor<f32[2,3]>[1, 0",
            4,
            33,
            "malformed tensor literal; expected e.g. tensor<f32[2]>[1, 2]",
        ),
        ("%lif = snn.lif(%fc) {", 5, 24, "expected one of '}', a name"),
        ("io.output(%lif) {}\n", 6, 26, "expected one of 'meta', '}', a node name"),
    ],
)
def test_truncated_file(end: str, line: int, column: int, message: str) -> None:
    text = VALID[: VALID.index(end) + len(end)]
    assert_error(parse_error(text), text, line, column, message)


def test_every_truncation_is_a_parse_error() -> None:
    for cut in range(len(VALID.rstrip())):
        text = VALID[:cut]
        err = parse_error(text)
        assert err.line is not None
        assert 1 <= err.line <= text.count("\n") + 1


def test_empty_file() -> None:
    err = parse_error("  \n// only a comment\n")
    assert err.detail == "empty file; expected the header 'sfir 1'"
    assert (err.line, err.column) == (1, 1)


def test_missing_header() -> None:
    text = VALID.removeprefix("sfir 1\n")
    assert_error(parse_error(text), text, 1, 1, "expected the header 'sfir 1' first")


@pytest.mark.parametrize("version", ["2", "0", "1.0"])
def test_unknown_format_version_names_both_versions(version: str) -> None:
    text = edit("sfir 1", f"sfir {version}")
    message = f"file is .sfir format version {version}; this spikeforge reads version 1"
    assert_error(parse_error(text), text, 1, 6, message)


def test_header_after_comments_and_blank_lines() -> None:
    text = "// generated\n\n   sfir 2\n"
    assert_error(parse_error(text), text, 3, 9, "format version 2")


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "message"),
    [
        ("%fc = nn", "%fc = = nn", 4, 9, "unexpected '='; expected an op name like"),
        ("%fc = nn", "%fc ? nn", 4, 7, "unexpected character '?'; expected '='"),
        ("(%x)", "(%x %x)", 4, 22, "unexpected '%x'; expected one of ')', ','"),
        ("@main", "main", 2, 7, "unexpected 'main'; expected a graph name like @main"),
        ("%y = ", "y = ", 6, 3, "unexpected 'y'; expected one of 'meta', '{', '}', a"),
        ("(%lif)", "(%lif#)", 6, 22, "unexpected character '#'"),
        (WEIGHT, "tensor<f32[2,3]]>[1]", 4, 33, "malformed tensor literal"),
        (WEIGHT, 'blob<f32[2 3]> "k"', 4, 33, "bad blob type: malformed shape [2 3]"),
        (
            WEIGHT,
            'blob<f32[2]]> "k"',
            4,
            33,
            "malformed blob literal; expected e.g. blob",
        ),
        (WEIGHT, "[1, 0]", 4, 33, "unexpected character '['"),
    ],
)
def test_bad_tokens(old: str, new: str, line: int, column: int, message: str) -> None:
    text = edit(old, new)
    assert_error(parse_error(text), text, line, column, message)


def test_malformed_strings() -> None:
    text = edit("%fc =", '%"f\tc" =')
    assert_error(parse_error(text), text, 4, 3, 'malformed string "f\tc"')
    text = edit("{shape = (3)}", '{shape = (3)} meta {s = "a\\qb"}')
    assert_error(parse_error(text), text, 3, 43, 'malformed string "a\\qb"')


def test_unknown_op_lists_the_ops_of_its_dialect() -> None:
    text = edit("nn.linear", "nn.lineer")
    err = parse_error(text)
    assert_error(err, text, 4, 9, "unknown op 'nn.lineer'; dialect 'nn' has: nn.add,")
    listed = err.detail.split("has: ")[1].split(", ")
    assert listed == ir.dialect_ops("nn")
    assert "nn.linear" in listed


def test_unknown_dialect_lists_the_dialects() -> None:
    text = edit("nn.linear", "xx.linear")
    message = "unknown op 'xx.linear': no dialect 'xx' (known: io, nn, snn"
    assert_error(parse_error(text), text, 4, 9, message)


# -- fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "message"),
    [
        (
            "{weight",
            "{weigth",
            4,
            24,
            "nn.linear has no field 'weigth'; its fields: weight",
        ),
        (
            "{tau =",
            "{tau_m =",
            5,
            24,
            "snn.lif has no field 'tau_m'; its fields: tau, r, v_leak, v_threshold, "
            "v_reset, reset, max_spikes, v_init",
        ),
        (
            "{}",
            "{bias = none}",
            6,
            25,
            "io.output has no field 'bias'; its fields: (none)",
        ),
    ],
)
def test_unknown_field_lists_the_valid_fields(
    old: str, new: str, line: int, column: int, message: str
) -> None:
    text = edit(old, new)
    assert_error(parse_error(text), text, line, column, message)


def test_missing_required_field_names_it() -> None:
    text = edit("{weight = " + WEIGHT + "}", "{}")
    assert_error(parse_error(text), text, 4, 9, "nn.linear needs field(s) weight")
    text = edit("{tau = tensor<f32[]>[0.02], r = tensor<f32[]>[1], ", "{")
    assert_error(parse_error(text), text, 5, 10, "snn.lif needs field(s) tau, r")


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "message"),
    [
        (WEIGHT, '"w"', 4, 33, "'weight': expected float tensor, got 'w'"),
        (WEIGHT, "none", 4, 33, "'weight': expected float tensor, got none"),
        (
            WEIGHT,
            "tensor<i32[2,3]>[1, 0, 0, 0, 1, 0]",
            4,
            33,
            "'weight': expected a float tensor, got dtype int32",
        ),
        ("(3)", "3.5", 3, 28, "'shape': expected a tuple of ints, got 3.5"),
        ("(3)", '("3")', 3, 28, "'shape': expected an int, got '3'"),
        ("(3)", "(true)", 3, 28, "'shape': expected an int, got True"),
        ("0.001", '"fast"', 2, 19, "'dt': expected a float, got 'fast'"),
        ("0.001", "true", 2, 19, "'dt': expected a float, got True"),
        ("0.001", "()", 2, 19, "'dt': expected a float, got ()"),
    ],
)
def test_wrong_value_type(
    old: str, new: str, line: int, column: int, message: str
) -> None:
    text = edit(old, new)
    assert_error(parse_error(text), text, line, column, message)


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("reset = 1}", "'reset': expected a string, got 1"),
        ("max_spikes = 1.5}", "'max_spikes': expected an int, got 1.5"),
        ("max_spikes = true}", "'max_spikes': expected an int, got True"),
    ],
)
def test_wrong_scalar_field_type(new: str, message: str) -> None:
    text = edit(
        "v_threshold = tensor<f32[]>[1]}", "v_threshold = tensor<f32[]>[1], " + new
    )
    err = parse_error(text)
    column = text.split("\n")[4].index(new.split(" = ")[1]) + 1
    assert_error(err, text, 5, column, message)


def test_duplicate_attribute() -> None:
    text = edit("{shape = (3)}", "{shape = (3), shape = (4)}")
    assert_error(parse_error(text), text, 3, 33, "attribute 'shape' given twice")
    text = edit("{dt = 0.001}", "{dt = 0.001, dt = 0.002}")
    assert_error(parse_error(text), text, 2, 26, "attribute 'dt' given twice")


def test_unknown_graph_attribute() -> None:
    text = edit("{dt = 0.001}", "{dt = 0.001, tick = 1}")
    assert_error(
        parse_error(text), text, 2, 26, "unknown graph attribute 'tick'; known: dt"
    )


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (
            "tensor<f32[2,3]>[1, 0, 0]",
            "bad tensor literal: tensor of shape [2, 3] needs 6",
        ),
        ("tensor<f32[2,3]>[1, 0, x, 0, 1, 0]", "element 2 is 'x', not a number"),
        (
            "tensor<f32[2,3]>[1, 0, 0, 0, 1, 1e39]",
            "element 5 = 1e39 is out of range for f32",
        ),
        (
            "tensor<f16[2,3]>[1, 0, 0, 0, 1, 0]",
            "bad tensor literal: unknown dtype 'f16'",
        ),
        ("tensor<f32[99999999999999999999]>[]", "needs 99999999999999999999 elements"),
    ],
)
def test_bad_tensor_literal(literal: str, message: str) -> None:
    text = edit(WEIGHT, literal)
    assert_error(parse_error(text), text, 4, 33, message)


def test_int_out_of_range_for_its_dtype() -> None:
    text = edit(
        "%y = io.output(%lif) {}",
        "%y = io.output(%lif) {} meta {t = tensor<i8[2]>[1, 128]}",
    )
    message = "bad tensor literal: element 1 = 128 is out of range for i8 [-128, 127]"
    assert_error(parse_error(text), text, 6, 37, message)


# -- structure -------------------------------------------------------------------------


def test_operands_to_an_op_without_inputs() -> None:
    text = edit("io.input()", "io.input(%fc)")
    assert_error(parse_error(text), text, 3, 17, "io.input takes no operands")


def test_op_without_its_operand_names_node_and_port() -> None:
    text = edit("nn.linear(%x)", "nn.linear()")
    message = "node 'fc': nn.linear: input port 'input' is not connected"
    assert_error(parse_error(text), text, 4, 3, message)


def test_operand_without_an_output() -> None:
    text = edit(
        "%y = io.output(%lif) {}\n",
        "%y = io.output(%lif) {}\n  %z = io.output(%y) {}\n",
    )
    assert_error(
        parse_error(text), text, 7, 18, "'%y' is io.output, which has no output"
    )


def test_duplicate_node_name_points_at_the_second_definition() -> None:
    text = edit("%y = io.output", "%x = io.output")
    message = "duplicate node name '%x' (first defined at line 3)"
    assert_error(parse_error(text), text, 6, 3, message)


def test_duplicate_quoted_node_name() -> None:
    text = edit("%y = io.output", '%"x" = io.output')
    assert_error(parse_error(text), text, 6, 3, "duplicate node name '%x'")


def test_dangling_edge_points_at_the_operand() -> None:
    text = edit("io.output(%lif)", "io.output(%lfi)")
    assert_error(parse_error(text), text, 6, 18, "'%lfi' is not defined in graph @main")


def test_duplicate_edge() -> None:
    text = edit("nn.linear(%x)", "nn.linear(%x, %x)")
    assert_error(parse_error(text), text, 4, 23, "duplicate edge x -> fc")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("(%lif)", "(%lif#spikes)", "uses output port 'spikes', but snn.lif has ports"),
        (
            "(%lif)",
            "(bias = %lif)",
            "enters port 'bias', but io.output has ports 'input'",
        ),
    ],
)
def test_unknown_port(old: str, new: str, message: str) -> None:
    text = edit(old, new)
    assert_error(parse_error(text), text, 6, 3, "node 'y': edge from 'lif'", message)


def test_cycle_without_recurrent_edge_names_the_cycle() -> None:
    text = edit("snn.lif(%fc)", "snn.lif(%fc, %back)")
    text = edit("  %y =", "  %back = nn.relu(%lif) {}\n  %y =", text)
    err = parse_error(text)
    assert_error(err, text, 2, 1, "cycle lif -> back -> lif has no recurrent edge")
    # The same cycle, closed by a recurrent edge into the stateful op, is fine.
    ir.parse(edit("%fc, %back", "%fc, prev %back", text))


def test_recurrent_edge_between_stateless_ops() -> None:
    text = edit("nn.linear(%x)", "nn.linear(%x, prev %fc)")
    message = (
        "node 'fc': recurrent edge from 'fc' (nn.linear) to nn.linear: neither end "
        "has state"
    )
    assert_error(parse_error(text), text, 4, 3, message)


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("{dt = 0.001}", "{dt = -1}", 2, "dt must be a positive number, got -1.0"),
        ("{dt = 0.001}", "{}", 5, "node 'lif': snn.lif needs the graph's dt"),
        ("  %y = io.output(%lif) {}\n", "", 2, "graph @main has no io.output node"),
        ("[0.02]", "[-0.02]", 5, "node 'lif': snn.lif: tau must be > 0"),
        (
            "[1, 0, 0, 0, 1, 0]",
            "[1, 0, nan, 0, 1, 0]",
            4,
            "weight holds NaN at index (0, 2)",
        ),
    ],
)
def test_verify_errors_point_at_the_node_or_graph(
    old: str, new: str, line: int, message: str
) -> None:
    text = edit(old, new)
    column = 1 if line == 2 else 3
    assert_error(parse_error(text), text, line, column, message)


def test_verify_can_be_skipped() -> None:
    text = edit("{dt = 0.001}", "{}")
    assert ir.parse(text, verify_graph=False).dt is None


def test_source_name_is_in_the_message() -> None:
    text = edit("nn.linear", "nn.lineer")
    with pytest.raises(ir.ParseError) as info:
        ir.parse(text, source_name="model.sfir")
    assert info.value.source_name == "model.sfir"
    assert str(info.value).startswith("model.sfir:4:9: unknown op 'nn.lineer'")


# -- blobs -----------------------------------------------------------------------------

BLOB = 'blob<f32[2,3]> "fc.weight"'


def test_blob_without_a_sidecar() -> None:
    text = edit(WEIGHT, BLOB)
    message = "blob 'fc.weight' needs a sidecar file, but this file names none"
    assert_error(parse_error(text), text, 4, 48, message)


def test_blob_with_a_sidecar_but_no_blobs() -> None:
    text = edit("sfir 1\n", 'sfir 1\nsidecar "m.npz"\n', edit(WEIGHT, BLOB))
    message = "blob 'fc.weight' needs its sidecar 'm.npz'; read the file with ir.load"
    assert_error(parse_error(text), text, 5, 48, message)


def test_blob_missing_from_the_blobs() -> None:
    text = edit(WEIGHT, BLOB)
    err = parse_error(text, blobs={"other": np.zeros((2, 3), np.float32)})
    assert_error(err, text, 4, 48, "blob 'fc.weight' is missing from the blobs given")


@pytest.mark.parametrize(
    ("arr", "message"),
    [
        (
            np.zeros((2, 3)),
            "is float64[2, 3] in the sidecar, but the text declares float32",
        ),
        (np.zeros((3, 2), np.float32), "is float32[3, 2] in the sidecar, but the text"),
    ],
)
def test_blob_of_the_wrong_dtype_or_shape(arr: np.ndarray, message: str) -> None:
    text = edit(WEIGHT, BLOB)
    err = parse_error(text, blobs={"fc.weight": arr})
    assert_error(err, text, 4, 48, message)


def test_blob_is_resolved_from_a_mapping() -> None:
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    g = ir.parse(edit(WEIGHT, BLOB), blobs={"fc.weight": weight})
    assert g.op("fc").weight.tobytes() == weight.tobytes()  # type: ignore[attr-defined]


def _write(tmp_path: Path, text: str, **arrays: np.ndarray) -> Path:
    path = tmp_path / "m.sfir"
    path.write_text(text, encoding="utf-8")
    if arrays:
        np.savez(tmp_path / "m.npz", **arrays)
    return path


def test_load_blob_key_missing_from_the_npz(tmp_path: Path) -> None:
    text = edit("sfir 1\n", 'sfir 1\nsidecar "m.npz"\n', edit(WEIGHT, BLOB))
    path = _write(tmp_path, text, other=np.zeros(3))
    with pytest.raises(ir.ParseError) as info:
        ir.load(path)
    assert (info.value.line, info.value.column) == (5, 48)
    assert info.value.detail == "blob 'fc.weight' is missing from sidecar 'm.npz'"
    assert str(info.value).startswith(f"{path}:5:48:")


def test_load_without_the_sidecar_file(tmp_path: Path) -> None:
    text = edit("sfir 1\n", 'sfir 1\nsidecar "gone.npz"\n', edit(WEIGHT, BLOB))
    with pytest.raises(ir.ParseError) as info:
        ir.load(_write(tmp_path, text))
    assert (info.value.line, info.value.column) == (5, 48)
    assert info.value.detail.startswith("cannot read sidecar 'gone.npz': ")
    assert "gone.npz" in info.value.detail.split(": ", 1)[1]


def test_load_blob_without_a_sidecar_line(tmp_path: Path) -> None:
    path = _write(tmp_path, edit(WEIGHT, BLOB), **{"fc.weight": np.zeros((2, 3))})
    with pytest.raises(ir.ParseError) as info:
        ir.load(path)
    assert info.value.detail == (
        "blob 'fc.weight' needs a sidecar file, but this file names none"
    )


def test_load_blob_of_the_wrong_dtype(tmp_path: Path) -> None:
    text = edit("sfir 1\n", 'sfir 1\nsidecar "m.npz"\n', edit(WEIGHT, BLOB))
    path = _write(tmp_path, text, **{"fc.weight": np.zeros((2, 3), np.int8)})
    with pytest.raises(ir.ParseError) as info:
        ir.load(path)
    assert "blob 'fc.weight' is int8[2, 3] in the sidecar" in info.value.detail


# -- fuzz ------------------------------------------------------------------------------

FUZZ_BASE = """\
// a file that uses most of the syntax
sfir 1
graph @"fuzz net" {dt = 0.001} {
  %x = io.input() {shape = (2, 5, 5)}
  %"conv.1" = nn.conv2d(%x) {weight = tensor<f32[2,2,3,3]>[\
1, 0, 0, 0, 1, 0, 0, 0, 1, -0.5, 0.25, 1e-3, 0, 0, 0, 0, 0, 0, \
1, 2, 3, 4, 5, 6, 7, 8, 9, -0, 2, 1, 1, 1, 1, 1, 1, 1], \
bias = none, stride = (1, 1), padding = (1, 1), dilation = (1,), groups = 1}
  %pool = nn.sumpool2d(%"conv.1") {kernel_size = (5, 5), stride = none}
  %flat = nn.flatten(%pool) {start_dim = 0, end_dim = -1}
  %fc = nn.affine(%flat) {weight = blob<f32[2,2]> "fc.weight", \
bias = tensor<f32[2]>[0, 1]}
  %lif = snn.lif(%fc, prev %rec) {tau = tensor<f32[]>[0.02], r = tensor<f32[]>[1], \
v_leak = tensor<f32[]>[0], v_threshold = tensor<f32[2]>[1, inf], reset = "subtract", \
max_spikes = 2}
  %rec = nn.linear(%lif) {weight = tensor<f32[2,2]>[0.5, 0, 0, 0.5]} meta {\
note = "recurrent", tags = (1, 2.5, "x", none, true), table = tensor<i8[2]>[-128, 127]}
  %d = snn.delay(%lif) {delay = tensor<f32[]>[0.002]}
  %y = io.output(input = %d#output, ) {}
}
"""
FUZZ_BLOBS = {"fc.weight": np.array([[1, 0], [0, 1]], np.float32)}
_PIECES = [*'%@#{}()[]<>=,."\\-+0123456789eE\n\t ', "nan", "inf", "prev ", "tensor"]
_PIECES += ["blob", "meta", "none", "true", "sfir", "graph", "//", "%x", "io.input"]
pieces = st.sampled_from(_PIECES) | st.characters()


def _parse_or_error(text: str) -> ir.Graph | ir.ParseError:
    try:
        return ir.parse(text, blobs=FUZZ_BLOBS)
    except ir.ParseError as err:
        return err


def _check_parse(text: str) -> None:
    """Parse ``text``: a graph that prints stably, or a positioned ``ParseError``."""
    result = _parse_or_error(text)
    if isinstance(result, ir.ParseError):
        assert str(result).startswith("<string>")
        if result.line is not None:
            assert 1 <= result.line <= text.count("\n") + 1
        return
    printed = ir.to_text(result)
    assert ir.to_text(ir.parse(printed)) == printed


def test_fuzz_base_is_valid() -> None:
    g = ir.parse(FUZZ_BASE, blobs=FUZZ_BLOBS)
    assert len(g) == 9
    _check_parse(FUZZ_BASE)


@st.composite
def mutations(draw: st.DrawFn) -> str:
    text = FUZZ_BASE
    # Positions uniform over the file (st.integers favours small ones: the header).
    rnd = draw(st.randoms(use_true_random=False))
    for _ in range(draw(st.integers(1, 4))):
        at = rnd.randint(0, len(text))
        action = draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        if action == "truncate":
            text = text[:at]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif action == "insert":
            text = text[:at] + draw(pieces) + text[at:]
        else:
            text = text[:at] + draw(pieces) + text[at + 1 :]
    return text


@given(mutations())
def test_fuzz_mutated_file_parses_or_raises_parse_error(text: str) -> None:
    _check_parse(text)


@given(st.text())
def test_fuzz_random_text_parses_or_raises_parse_error(text: str) -> None:
    _check_parse(text)
    _check_parse("sfir 1\n" + text)


@given(st.lists(pieces | st.sampled_from(FUZZ_BASE.split()), max_size=40))
def test_fuzz_random_tokens_parse_or_raise_parse_error(tokens: list[str]) -> None:
    _check_parse("sfir 1\ngraph @g {dt = 0.001} {\n" + " ".join(tokens))
