"""Unit tests of ``ir/literals.py``: tensor literals, their types and their elements."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ir.literals import (
    dtype_code,
    format_tensor,
    format_type,
    parse_tensor_body,
    parse_type,
)
from ir.op import DTYPES


def _elements(text: str) -> list[str]:
    """The element texts of a printed tensor literal."""
    body = text[text.index(">[") + 2 : -1]
    return [p.strip() for p in body.split(",")] if body else []


def _parse(text: str) -> np.ndarray:
    dtype, shape, end = parse_type(text)
    return parse_tensor_body(text[end + 1 : -1], dtype, shape)


# -- types -----------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "dtype"), list(DTYPES.items()))
def test_dtype_code_names_every_supported_dtype(code: str, dtype: np.dtype) -> None:
    assert dtype_code(dtype) == code
    assert parse_type(f"tensor<{code}[2]>")[0] == dtype


def test_format_type_spells_shape_without_spaces() -> None:
    assert format_type("tensor", np.zeros((2, 3), np.float32)) == "tensor<f32[2,3]>"
    assert format_type("blob", np.zeros((), np.int8)) == "blob<i8[]>"
    assert format_type("tensor", np.zeros((4, 0), np.bool_)) == "tensor<bool[4,0]>"


def test_parse_type_returns_dtype_shape_and_prefix_length() -> None:
    text = "tensor< u16 [ 3 , 1 ] >[1, 2, 3]"
    dtype, shape, end = parse_type(text)
    assert (dtype, shape) == (np.dtype(np.uint16), (3, 1))
    assert text[end:] == "[1, 2, 3]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tensor<f16[2]>", "unknown dtype 'f16'; known: f32, f64, i8"),
        ("tensor<f32[2,,3]>", "malformed shape [2,,3]"),
        ("tensor<f32[2,]>", "malformed shape [2,]"),
        ("tensor[2]", "malformed tensor type; expected e.g. tensor<f32[2,3]>"),
        ("vector<f32[2]>", "malformed tensor type"),
    ],
)
def test_parse_type_rejects_bad_types(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[")):
        parse_type(text)


# -- float formatting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),  # the shortest form, not 0.100000001
        (1.0, "1.0"),
        (1 / 3, "0.33333334"),  # needs 8 digits
        (float(np.nextafter(np.float32(1), np.float32(2))), "1.0000001"),
        (-0.0, "-0.0"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        (1e-45, "1e-45"),  # the smallest subnormal
        (3.4028234663852886e38, "3.4028235e+38"),  # the largest float32
        (16777216.0, "1.6777216e+07"),
    ],
)
def test_float32_prints_its_shortest_exact_form(value: float, text: str) -> None:
    arr = np.array([value], np.float32)
    printed = format_tensor(arr)
    assert printed == f"tensor<f32[1]>[{text}]"
    assert _parse(printed).tobytes() == arr.tobytes()


def test_float32_uses_no_more_digits_than_needed() -> None:
    # 1.1f needs 2 digits; 9 digits would print 1.10000002.
    assert _elements(format_tensor(np.float32([1.1, 2.5e-8, 123456.7]))) == [
        "1.1",
        "2.5e-08",
        "123456.7",
    ]


@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5),
        elements=st.floats(width=32, allow_nan=False),
    )
)
def test_float32_format_parse_is_bit_exact(arr: np.ndarray) -> None:
    parsed = _parse(format_tensor(arr))
    assert parsed.dtype == np.float32
    assert parsed.shape == arr.shape
    assert parsed.tobytes() == arr.tobytes()


@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1))
def test_float32_element_is_the_shortest_that_round_trips(values: list[float]) -> None:
    arr = np.array(values, np.float32)
    for value, text in zip(arr.tolist(), _elements(format_tensor(arr)), strict=True):
        if value == 0 or not math.isfinite(value):
            continue
        with np.errstate(over="ignore"):  # a too-short candidate may overflow
            fewest = next(
                p
                for p in range(1, 10)
                if np.float32(float(f"{value:.{p}g}")) == np.float32(value)
            )
        mantissa = text.lstrip("-").split("e")[0].replace(".", "")
        assert len(mantissa.strip("0")) == fewest, (value, text)


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5),
        elements=st.floats(allow_nan=False),
    )
)
def test_float64_prints_repr_and_parses_bit_exact(arr: np.ndarray) -> None:
    printed = format_tensor(arr)
    assert _elements(printed) == [repr(v) for v in arr.reshape(-1).tolist()]
    assert _parse(printed).tobytes() == arr.tobytes()


def test_float64_keeps_digits_float32_would_drop() -> None:
    # The exact float64 widening of 0.1f: printed in full, not as 0.1.
    wide = float(np.float32(0.1))
    assert format_tensor(np.array([wide])) == "tensor<f64[1]>[0.10000000149011612]"
    assert _parse("tensor<f64[1]>[0.10000000149011612]")[0] == wide


def test_nan_is_spelled_out() -> None:
    # The IR rejects NaN parameters at verify time, but the literal can hold one.
    assert format_tensor(np.float32([np.nan])) == "tensor<f32[1]>[nan]"
    assert np.isnan(_parse("tensor<f32[1]>[nan]")[0])


# -- integers and booleans -------------------------------------------------------------


@pytest.mark.parametrize("code", ["i8", "i16", "i32", "i64", "u8", "u16"])
def test_integer_extremes_round_trip(code: str) -> None:
    info = np.iinfo(DTYPES[code])
    arr = np.array([info.min, 0, info.max], DTYPES[code])
    printed = format_tensor(arr)
    assert printed == f"tensor<{code}[3]>[{info.min}, 0, {info.max}]"
    assert _parse(printed).tobytes() == arr.tobytes()


def test_bool_prints_true_false() -> None:
    arr = np.array([[True, False], [False, True]])
    assert format_tensor(arr) == "tensor<bool[2,2]>[true, false, false, true]"
    assert np.array_equal(_parse(format_tensor(arr)), arr)


@pytest.mark.parametrize(
    ("code", "body", "message"),
    [
        ("i8", "127, 128", "element 1 = 128 is out of range for i8 [-128, 127]"),
        ("i8", "-129", "element 0 = -129 is out of range for i8 [-128, 127]"),
        ("u8", "-1", "element 0 = -1 is out of range for u8 [0, 255]"),
        ("u16", "65536", "element 0 = 65536 is out of range for u16 [0, 65535]"),
        (
            "i64",
            "9223372036854775808",
            "element 0 = 9223372036854775808 is out of range for i64",
        ),
    ],
)
def test_integer_out_of_range_is_an_error(code: str, body: str, message: str) -> None:
    count = len(body.split(","))
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[")):
        parse_tensor_body(body, DTYPES[code], (count,))


@pytest.mark.parametrize(
    ("code", "body", "message"),
    [
        ("i32", "1, 1.5", "element 1 is '1.5', not an integer"),
        ("i32", "0x10", "element 0 is '0x10', not an integer"),
        ("f32", "1, x", "element 1 is 'x', not a number"),
        ("f64", "1e, 2", "element 0 is '1e', not a number"),
        ("bool", "true, 1", "element 1 is '1'; expected true or false"),
        ("bool", "True", "element 0 is 'True'; expected true or false"),
    ],
)
def test_bad_element_is_named_by_index(code: str, body: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        parse_tensor_body(body, DTYPES[code], (len(body.split(",")),))


@pytest.mark.parametrize(
    ("shape", "body", "message"),
    [
        ((3,), "1, 2", "tensor of shape [3] needs 3 elements, got 2"),
        ((2, 2), "1, 2, 3, 4, 5", "tensor of shape [2, 2] needs 4 elements, got 5"),
        ((), "", "tensor of shape [] needs 1 elements, got 0"),
        ((0,), "1", "tensor of shape [0] needs 0 elements, got 1"),
    ],
)
def test_wrong_element_count_is_an_error(
    shape: tuple[int, ...], body: str, message: str
) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[")):
        parse_tensor_body(body, np.dtype(np.float32), shape)


def test_trailing_comma_leaves_an_empty_element() -> None:
    with pytest.raises(ValueError, match="element 1 is '', not a number"):
        parse_tensor_body("1,", np.dtype(np.float32), (2,))


def test_huge_declared_shape_is_a_count_error() -> None:
    # The element count must be computed exactly, not in a wrapping int64.
    with pytest.raises(ValueError, match="needs 18446744073709551616 elements, got 0"):
        parse_tensor_body("", np.dtype(np.float32), (2**32, 2**32))
    with pytest.raises(ValueError, match="got 0"):
        parse_tensor_body("", np.dtype(np.float32), (10**20,))


@pytest.mark.parametrize(
    ("code", "text"),
    [("f32", "1e39"), ("f32", "-3.5e38"), ("f64", "1e309")],
)
def test_float_out_of_range_is_an_error(code: str, text: str) -> None:
    with pytest.raises(
        ValueError, match=f"element 1 = {text} is out of range for {code}"
    ):
        parse_tensor_body(f"0, {text}", DTYPES[code], (2,))


@pytest.mark.parametrize("text", ["inf", "-inf", "+inf", "Infinity"])
def test_spelled_infinity_is_not_out_of_range(text: str) -> None:
    arr = parse_tensor_body(text, np.dtype(np.float32), (1,))
    assert np.isinf(arr[0])


def test_parsed_tensor_is_read_only_and_shaped() -> None:
    arr = parse_tensor_body("1, 2, 3, 4, 5, 6", np.dtype(np.int16), (2, 3))
    assert arr.shape == (2, 3)
    assert arr.dtype == np.int16
    assert not arr.flags.writeable
    assert arr.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_empty_and_zero_d_tensors() -> None:
    assert format_tensor(np.zeros((2, 0), np.float32)) == "tensor<f32[2,0]>[]"
    assert _parse("tensor<f32[2,0]>[]").shape == (2, 0)
    assert format_tensor(np.array(2.5, np.float32)) == "tensor<f32[]>[2.5]"
    zero_d = _parse("tensor<f32[]>[2.5]")
    assert zero_d.shape == ()
    assert zero_d[()] == 2.5
