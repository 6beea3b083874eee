"""The API's JSON writer copes with everything the store may hold."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from blockwatch.web.render import dumps


def test_a_measurement_nested_deeper_than_orjson_writes_is_still_served_as_json() -> None:
    deep: list = []
    node = deep
    for _ in range(600):  # the store accepts what orjson reads (1024 levels)
        node.append([])
        node = node[0]
    data = {"raw": {"nested": deep}, "at": datetime(2024, 2, 17, 12, tzinfo=UTC)}
    out = orjson.loads(dumps(data))
    assert out["at"] == "2024-02-17T12:00:00Z"
    assert out["raw"]["nested"] == deep


def test_naive_times_are_written_as_utc_with_z() -> None:
    assert orjson.loads(dumps({"t": datetime(2024, 2, 17, 12)})) == {"t": "2024-02-17T12:00:00Z"}
