"""The fast path for `double(props.X) <op> N` answers exactly what the CEL runtime answers."""

from __future__ import annotations

import cel
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse.conditions import compile_condition

SOURCES = [
    "double(props.price) >= 200.0",
    "double(props.quantity) < 3",
    "double(props.revenue) == 0.5",
    "double(props.cart_value) != 1e3",
    "double( props.price )>10",
]


@pytest.mark.parametrize("source", SOURCES)
@given(
    value=st.one_of(
        st.none(),
        st.integers(-(10**9), 10**9),
        st.floats(-1e9, 1e9, allow_nan=False),
        st.sampled_from([0, 3, 200, 200.0, 1000, 0.5]),
    )
)
def test_fast_comparison_agrees_with_cel(source: str, value: int | float | None) -> None:
    condition = compile_condition(source)
    assert condition._fast is not None, "this form takes the fast path"
    prop = source.split("props.")[1].split(")")[0].strip()
    variables = {"props": {} if value is None else {prop: value}}
    try:
        expected = cel.compile(source).execute(variables) is True
    except (ValueError, TypeError, RuntimeError, KeyError, OverflowError):
        expected = False
    assert condition.evaluate(variables) == expected


def test_other_conditions_go_to_cel() -> None:
    assert compile_condition("props.price >= 200.0")._fast is None
    assert compile_condition("double(props.other) >= 1.0")._fast is None
