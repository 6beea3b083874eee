"""Whatever JSON a stranger sends, request validation answers or raises ControlError only."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from blockwatch.control.helper import validate
from blockwatch.errors import ControlError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
requests = st.fixed_dictionaries(
    {},
    optional={
        "http_request": st.text(max_size=40) | st.just("http://a.test/") | json_values,
        "http_request_headers": json_values,
        "tcp_connect": st.lists(st.text(max_size=25) | st.just("[::1]:80"), max_size=20)
        | json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(payload=requests | json_values)
def test_any_json_is_validated_or_refused_with_a_control_error(payload: Any) -> None:
    try:
        url, headers, endpoints = validate(payload, max_endpoints=16)
    except ControlError:
        return
    assert url.startswith(("http://", "https://")) and len(endpoints) <= 16
    assert all(isinstance(v, str) and "\n" not in v for v in headers.values())
