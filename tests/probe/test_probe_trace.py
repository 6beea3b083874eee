"""The trace experiment's pure parts: when a resolver lies, the sentence, stopping a trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.errors import InputError
from blockwatch.net.trace import SILENCE, TIME_EXCEEDED, HopReply
from blockwatch.probe.trace import _resolver_lie, hops, sentence, system_resolver


@pytest.mark.parametrize(
    ("rcode", "answers", "truth", "lies"),
    [
        ("NOERROR", ["10.66.0.16"], ["10.66.0.16"], False),
        ("NOERROR", ["10.66.0.16"], None, False),  # private addresses are honest answers
        ("NXDOMAIN", [], ["10.66.0.16"], True),
        ("NOERROR", ["127.0.0.1"], None, True),
        ("NOERROR", ["10.66.255.66"], ["10.66.0.16"], True),
        ("no_answer", [], ["10.66.0.16"], False),  # silence is traced, not called a lie
    ],
)
def test_when_a_resolver_lies(
    rcode: str, answers: list[str], truth: list[str] | None, lies: bool
) -> None:
    assert (_resolver_lie(rcode, answers, truth) is not None) is lies


def test_the_sentence_names_the_hop_its_address_and_its_as() -> None:
    hit = {
        "method": "tls",
        "kind": "reset",
        "hop": 3,
        "address": "10.0.3.1",
        "after": "10.0.2.1",
        "asn": "AS17557",
    }
    assert (
        sentence(hit)
        == "the reset is injected at hop 3 (10.0.3.1) on the TLS packet, inside AS17557"
    )
    silent = {**hit, "kind": "silence", "address": None, "asn": None}
    assert (
        sentence(silent)
        == "the packets are dropped at hop 3 (just after 10.0.2.1) on the TLS packet"
    )


def test_a_trace_stops_at_its_end_or_after_three_silent_hops() -> None:
    def probe(ttl: int) -> HopReply:
        return HopReply(ttl, TIME_EXCEEDED if ttl < 3 else SILENCE)

    assert [r.ttl for r in hops(probe, 16, ("reached",))] == [1, 2, 3, 4, 5]
    assert [r.ttl for r in hops(lambda t: HopReply(t, "reached"), 16, ("reached",))] == [1]


def test_the_system_resolver_is_the_first_ipv4_nameserver(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# x\nnameserver ::1\nnameserver 10.66.61.5\nnameserver 1.1.1.1\n")
    assert system_resolver(conf) == "10.66.61.5"
    conf.write_text("search lan\n")
    with pytest.raises(InputError):
        system_resolver(conf)


def test_the_summary_says_when_the_resolver_was_silent_and_nothing_could_be_traced() -> None:
    from blockwatch.probe.trace import summary

    resolver = {"address": "10.0.0.1", "lies": False, "rcode": "no_answer"}
    keys = {"resolver": resolver, "tamperings": [], "address": None}
    assert summary(keys) == (
        "the resolver 10.0.0.1 did not answer; no address to trace (give --dns-server or --address)"
    )
    keys = {"resolver": {**resolver, "rcode": "NOERROR"}, "tamperings": [], "address": "10.0.0.2"}
    assert summary(keys) == "no tampering found on the path"
