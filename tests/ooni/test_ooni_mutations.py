"""Property: random mutations of real measurements never crash the parser or the verdict.

Whatever the input, ``parse_measurement`` + ``analyze`` return a Verdict or raise one of
our own errors (a BlockwatchError subclass); never a TypeError, KeyError, ...
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockwatch.analysis.fingerprints import FingerprintTable
from blockwatch.analysis.records import OUTCOMES, Verdict
from blockwatch.analysis.verdict import analyze
from blockwatch.errors import BlockwatchError
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.ooni.reader import decode_document

SEEDS = [
    "qa/dnsBlockingBOGON.json",
    "qa/throttlingWithHTTP.json",
    "qa/redirectWithConsistentDNSAndThenNXDOMAIN.json",
    "qa/cloudflareCAPTCHAWithHTTP.json",
    "qa/ghostDNSBlockingWithHTTP.json",
    "fastpath/web_connectivity_ir_fp.json",
    "fastpath/bug_352.json",
    "fastpath/web_connectivity_b64_hdr.json",
    "fastpath/signal_022.json",
]

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just({"format": "base64", "data": "%%%"}),
    st.just([["Location", {"format": "base64", "data": "aGk="}]]),
)


@pytest.fixture(scope="module")
def seeds(ooni_data: Path) -> list[dict[str, Any]]:
    return [orjson.loads((ooni_data / s).read_bytes()) for s in SEEDS]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside the document (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value[:4]):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate(doc: Any, path: tuple, action: str, junk: Any) -> Any:
    doc = copy.deepcopy(doc)  # a private copy to damage
    if not path:
        return junk
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    if action == "delete" and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = junk
    return doc


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_measurements_yield_a_verdict_or_our_own_error(seeds, data):
    table = FingerprintTable.default()
    doc = data.draw(st.sampled_from(seeds))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete"]))
        doc = _mutate(doc, path, action, data.draw(JUNK))
    try:
        verdict = analyze(parse_measurement(doc, "mutant", 1), table)
    except BlockwatchError:
        return
    assert isinstance(verdict, Verdict) and verdict.outcome in OUTCOMES
    assert 0.0 <= verdict.confidence <= 1.0


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_random_bytes_decode_to_a_document_or_a_malformed_measurement(raw):
    item = decode_document(raw, "bytes", 1)
    assert isinstance(item, BlockwatchError) or isinstance(item.doc, dict)
