"""OONI's HTTP comparison rules, one table row per rule."""

from __future__ import annotations

import pytest

from blockwatch.analysis.http_diff import (
    body_proportion,
    compare,
    headers_match,
    title_match,
    title_of,
)


def _diff(**kw):
    base = dict(
        probe_status=200,
        probe_headers={"Content-Type": "text/html", "X-Origin": "a"},
        probe_body="<title>Welcome Friends</title>" + "x" * 970,
        probe_body_length=1000,
        probe_truncated=False,
        control_status=200,
        control_headers={"Content-Type": "text/html", "X-Origin": "b"},
        control_body_length=1000,
        control_title="Welcome Friends",
    )
    base.update(kw)
    return compare(**base)


def test_the_same_page_does_not_differ():
    d = _diff()
    assert (d.body_length_match, d.status_code_match, d.headers_match) == (True, True, True)
    assert not d.differs


def test_a_different_status_always_differs():
    assert _diff(probe_status=403).differs


def test_a_5xx_at_the_control_gives_no_status_verdict():
    d = _diff(control_status=503, probe_status=200)
    assert d.status_code_match is None and not d.differs


def test_a_short_page_with_other_headers_and_title_differs():
    d = _diff(
        probe_body="<title>Access Denied</title>",
        probe_body_length=28,
        probe_headers={"Content-Type": "text/html"},
    )
    assert d.body_proportion == pytest.approx(0.028)
    assert (d.body_length_match, d.headers_match, d.title_match) == (False, False, False)
    assert d.differs


def test_a_matching_title_saves_a_page_of_another_size():
    d = _diff(probe_body_length=300, probe_headers={"Server": "x"})
    assert d.title_match is True and not d.differs


def test_a_truncated_probe_body_is_not_compared_by_size():
    assert _diff(probe_body_length=10, probe_truncated=True).body_length_match is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(0, 0, None), (0, 10, 0.0), (10, 0, 0.0), (7, 10, 0.7), (10, 10, 1.0)],
)
def test_body_proportion_is_the_smaller_over_the_larger(a, b, expected):
    assert body_proportion(a, b) == expected


@pytest.mark.parametrize(
    ("probe", "control", "expected"),
    [
        ({"Date": "1", "Server": "x"}, {"date": "2", "server": "y"}, True),  # same names
        ({"Date": "1", "X-Cache": "h"}, {"X-Cache": "m", "Vary": "*"}, True),  # uncommon shared
        ({"Date": "1", "Server": "x"}, {"Date": "1", "Vary": "*"}, False),  # only common ones
        ({}, {"Date": "1"}, False),
        ({"Date": "1"}, {}, None),
    ],
)
def test_headers_match_on_same_names_or_a_shared_uncommon_one(probe, control, expected):
    assert headers_match(probe, control) is expected


def test_titles_match_on_their_long_words_in_any_order():
    assert title_match("Friends Welcome to", "Welcome Friends") is True
    assert title_match("Welcome", "Welcome Friends") is False
    assert title_match("", "Welcome") is None
    assert title_of("<html><TITLE lang=en>  Hello World </TITLE>") == "Hello World"
