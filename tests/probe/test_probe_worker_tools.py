"""The lab worker's round line with tool tests: checked before anything is measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.probe.worker import _parse_round


def test_a_round_line_names_its_tool_tests_and_their_targets_file() -> None:
    rnd = _parse_round(
        b'{"urls": ["https://x.com/"], "start_time": "2024-11-15T12:00:00Z", "report_id": "r",'
        b' "tools": ["tor", "openvpn"], "targets": "/lab/tools.toml"}'
    )
    assert rnd.tools == ["tor", "openvpn"] and rnd.targets == Path("/lab/tools.toml")
    assert rnd.urls == ["https://x.com/"] and rnd.start_time is not None
    plain = _parse_round(b'{"urls": []}')
    assert plain.tools == [] and plain.targets is None


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (b'{"urls": [], "tools": ["psiphon"], "targets": "t.toml"}', "tools must be a list of"),
        (b'{"urls": [], "tools": "tor", "targets": "t.toml"}', "tools must be a list of"),
        (b'{"urls": [], "tools": [["tor"]], "targets": "t.toml"}', "tools must be a list of"),
        (b'{"urls": [], "tools": ["tor"]}', "need a targets file"),
    ],
)
def test_a_bad_tool_round_is_refused_with_a_reason(line: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        _parse_round(line)
